// attnkit explore: pictures of non-sequence predictions, drawn on <canvas> from the API's arrays.
// - overlay: an image's attention over the picture itself (grey picture, the heat map stretched over
//   it with alpha, bilinear, like attnkit.viz.image.plot_image_attention); a click on the picture
//   picks a non-local block's query pixel; a spatial transformer's input with its sampling frame
//   beside its rectified output (attnkit.viz.image.sampling_outline);
// - neighbourhood: a graph node in the centre, its neighbours on a circle, edges shaded and sized
//   by attention (one head or the mean), the top k of a large neighbourhood and the count of the
//   rest (like attnkit.viz.graph.plot_neighbourhood); a click on a neighbour recentres on it.
"use strict";

const exploreViews = (() => {
  const el = (tag, attrs = {}, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null) continue; // an attribute left out
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    for (const kid of kids) e.append(kid);
    return e;
  };
  const clamp01 = (t) => Math.max(0, Math.min(1, t));
  // styles set through the CSSOM: the page's Content-Security-Policy refuses style attributes
  const styled = (e, css) => { Object.assign(e.style, css); return e; };
  // matplotlib's "jet" (its segment data: piecewise linear in t), t in [0, 1] -> [R, G, B] 0..255
  const JET = [[[0, 0], [0.35, 0], [0.66, 1], [0.89, 1], [1, 0.5]],
    [[0, 0], [0.125, 0], [0.375, 1], [0.64, 1], [0.91, 0], [1, 0]],
    [[0, 0.5], [0.11, 1], [0.34, 1], [0.65, 0], [1, 0]]];
  const piecewise = (points, t) => {
    for (let i = 1; i < points.length; i++) {
      const [x0, y0] = points[i - 1], [x1, y1] = points[i];
      if (t <= x1) return y0 + (y1 - y0) * (t - x0) / (x1 - x0);
    }
    return points[points.length - 1][1];
  };
  const jet = (t) => JET.map((points) => Math.round(255 * piecewise(points, clamp01(t))));
  // the page's weight scale for edges: light blue to dark blue
  const LOW = [198, 219, 239], HIGH = [8, 48, 107];
  const blue = (t) => [0, 1, 2].map((i) => Math.round(LOW[i] + (HIGH[i] - LOW[i]) * clamp01(t)));

  // {shape: [H, W], data} -> an offscreen canvas of H x W pixels
  function pixels(m, colourOf) {
    const [h, w] = m.shape, c = document.createElement("canvas");
    c.width = w; c.height = h;
    const ctx = c.getContext("2d"), img = ctx.createImageData(w, h);
    for (let i = 0; i < h * w; i++) {
      const [R, G, B] = colourOf(m.data[i]);
      img.data.set([R, G, B, 255], 4 * i);
    }
    ctx.putImageData(img, 0, 0);
    return c;
  }
  const grey = (v) => { const g = Math.round(255 * clamp01(v)); return [g, g, g]; };
  const scaleFor = (h, w) => Math.max(1, Math.floor(252 / Math.max(h, w)));

  // A link that downloads `canvas` as PNG (its pixels when clicked).
  const pngLink = (canvas, name) => el("a", { class: "picture-png", href: "#", download: name, text: "PNG",
    onclick: (event) => { event.currentTarget.href = canvas.toDataURL("image/png"); } });

  // ---- images ------------------------------------------------------------------------------
  // The picture in grey, map `m` ({name, heat, max}) over it with opacity `alpha`; the query cell
  // of a non-local map marked with a cross. Returns the canvas' geometry (also in its dataset).
  function drawOverlay(canvas, overlay, m, alpha = 0.5) {
    const [H, W] = overlay.image.shape, s = scaleFor(H, W);
    canvas.width = W * s; canvas.height = H * s;
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false; // the picture's pixels as they are
    ctx.drawImage(pixels(overlay.image, grey), 0, 0, W * s, H * s);
    if (m && m.heat) {
      const max = Math.max(m.max, 1e-12);
      ctx.imageSmoothingEnabled = true; ctx.imageSmoothingQuality = "low"; // bilinear, over the whole picture
      ctx.globalAlpha = alpha;
      ctx.drawImage(pixels(m.heat, (v) => jet(v / max)), 0, 0, W * s, H * s);
      ctx.globalAlpha = 1;
      const q = overlay.query;
      if (m.query && q && q.cell) {
        const [h, w] = q.grid, x = (q.cell[1] + 0.5) * W * s / w, y = (q.cell[0] + 0.5) * H * s / h, r = 6;
        for (const [colour, width] of [["#fff", 4], ["#000", 2]]) {
          ctx.strokeStyle = colour; ctx.lineWidth = width; ctx.beginPath();
          ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r); ctx.moveTo(x + r, y - r); ctx.lineTo(x - r, y + r); ctx.stroke();
        }
      }
    }
    Object.assign(canvas.dataset, { scale: s, height: H, width: W, map: m ? m.name : "" });
    return { scale: s, H, W };
  }

  // The map cell (row, col) of `grid` [h, w] under a click on the overlay canvas.
  function cellAt(canvas, event, grid) {
    const rect = canvas.getBoundingClientRect(), d = canvas.dataset;
    const x = (event.clientX - rect.left) * canvas.width / rect.width, y = (event.clientY - rect.top) * canvas.height / rect.height;
    const px = x / d.scale, py = y / d.scale; // picture pixels
    const [h, w] = grid, r = Math.floor(py * h / d.height), c = Math.floor(px * w / d.width);
    return r >= 0 && c >= 0 && r < h && c < w ? [r, c] : null;
  }

  // A spatial transformer's input with the region its output samples (red), and the output.
  function drawTransformer(input, output, overlay) {
    const [H, W] = overlay.image.shape, s = scaleFor(H, W), stn = overlay.stn;
    input.width = W * s; input.height = H * s;
    let ctx = input.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(pixels(overlay.image, grey), 0, 0, W * s, H * s);
    ctx.strokeStyle = "#d62728"; ctx.lineWidth = 2; ctx.beginPath();
    stn.outline.forEach(([x, y], i) => { const X = (x + 0.5) * s, Y = (y + 0.5) * s; if (i) ctx.lineTo(X, Y); else ctx.moveTo(X, Y); });
    ctx.closePath(); ctx.stroke();
    const [h, w] = stn.rectified.shape, t = scaleFor(h, w);
    output.width = w * t; output.height = h * t;
    ctx = output.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(pixels(stn.rectified, grey), 0, 0, w * t, h * t);
    input.dataset.scale = s;
  }

  // The overlay block of a panel: a map chooser (by name), the canvas, the transformer's pair.
  // `sel.map` is the chosen name (kept across requests; the query map's name changes with its
  // query, so "the query map" is remembered by sel.queryMap); `onQuery([r, c])` asks for a new query.
  function renderOverlay(box, overlay, sel, onQuery, name = "overlay") {
    const maps = overlay.maps;
    let chosen = maps.find((m) => m.name === sel.map) || (sel.queryMap && maps.find((m) => m.query)) || maps[0];
    const canvas = el("canvas", { class: "overlay" });
    const caption = el("div", { class: "note overlay-caption" });
    const show = () => {
      sel.map = chosen ? chosen.name : null; sel.queryMap = !!(chosen && chosen.query);
      drawOverlay(canvas, overlay, chosen);
      caption.textContent = !chosen ? "this model has no attention map over the image" :
        `${chosen.name}: colours from 0 to its max ${chosen.max.toPrecision(3)} (jet), over the picture as the model saw it` +
        (chosen.query ? "; click the picture to choose the query pixel" : "");
      canvas.classList.toggle("queryable", !!(chosen && chosen.query));
      if (scale) scale.replaceChildren(...(chosen ? [legend(jet, 0, chosen.max, `${chosen.name} (jet, 0 to its max)`)] : []));
    };
    const select = el("select", { class: "overlay-map", onchange: () => { chosen = maps[Number(select.value)]; show(); } });
    maps.forEach((m, i) => select.append(el("option", { value: i, text: m.name })));
    if (chosen) select.value = maps.indexOf(chosen);
    const readout = el("div", { class: "note overlay-readout", text: "\u00a0" });
    canvas.addEventListener("mousemove", (event) => { // the weight under the pointer, in the map's own grid
      if (!chosen || !chosen.heat) return;
      const cell = cellAt(canvas, event, chosen.heat.shape);
      if (!cell) return;
      const [h, w] = chosen.heat.shape;
      readout.textContent = `cell (${cell[0]}, ${cell[1]}) of ${h} x ${w}: weight ${chosen.heat.data[cell[0] * w + cell[1]].toPrecision(3)}`;
    });
    canvas.addEventListener("click", (event) => {
      if (!overlay.query || !chosen || !chosen.query) return;
      const cell = cellAt(canvas, event, overlay.query.grid);
      if (cell) onQuery(cell);
    });
    const scale = el("div", { class: "overlay-legend" });
    const figure = el("div", { class: "figure" }, el("div", { class: "view" }, el("label", { hidden: maps.length ? null : "" }, "map ", select)),
      canvas, scale, readout, caption, pngLink(canvas, `${name}-overlay.png`));
    const row = el("div", { class: "figures" }, figure);
    if (overlay.stn) {
      const input = el("canvas", { class: "stn-input" }), output = el("canvas", { class: "stn-output" });
      drawTransformer(input, output, overlay);
      row.append(el("div", { class: "figure" }, el("div", { class: "note", text: "spatial transformer: input, the region it samples" }), input),
        el("div", { class: "figure" }, el("div", { class: "note", text: "its rectified output" }), output));
    }
    box.append(row);
    show();
    return canvas;
  }

  // ---- graphs --------------------------------------------------------------------------------
  // (K, Nh) -> K weights: one head's column or the mean of the heads
  function edgeWeights(m, head) {
    const [k, nh] = m.shape, out = new Float32Array(k);
    for (let j = 0; j < k; j++) {
      if (head === "mean") { let s = 0; for (let h = 0; h < nh; h++) s += m.data[j * nh + h]; out[j] = s / nh; }
      else out[j] = m.data[j * nh + Number(head)];
    }
    return out;
  }

  const short = (s, n = 18) => (s.length > n ? s.slice(0, n - 1) + "…" : s);

  // Draw the neighbourhood; returns the drawn neighbours [{name, index, weight, x, y, r}] (canvas pixels).
  function drawNeighbourhood(canvas, nb, weights, top) {
    const size = 560, cx = 340, cy = size / 2 + 6, R = 200;
    canvas.width = 2 * cx; canvas.height = size + 24;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    const k = nb.neighbours.length;
    const order = Array.from({ length: k }, (_, j) => j).sort((a, b) => (weights[b] - weights[a]) || (a - b)).slice(0, top);
    let max = 1e-12; for (const w of weights) max = Math.max(max, w);
    const drawn = order.map((j, rank) => {
      const angle = 2 * Math.PI * rank / Math.max(order.length, 1) - Math.PI / 2;
      return { name: nb.neighbours[j], index: j, weight: weights[j], cls: nb.classes[j], x: cx + R * Math.cos(angle), y: cy + R * Math.sin(angle), r: 8, angle };
    });
    for (const d of [...drawn].reverse()) { // the strongest edges last, on top
      const [Rc, G, B] = blue(d.weight / max);
      ctx.strokeStyle = `rgb(${Rc},${G},${B})`; ctx.lineWidth = 0.8 + 5 * d.weight / max;
      ctx.beginPath(); ctx.moveTo(cx, cy); ctx.lineTo(d.x, d.y); ctx.stroke();
    }
    ctx.font = "11px system-ui, sans-serif"; ctx.textBaseline = "middle";
    for (const d of drawn) {
      const self = d.index === nb.self;
      ctx.fillStyle = self ? "#e69500" : "#5b6775"; ctx.beginPath(); ctx.arc(d.x, d.y, d.r, 0, 2 * Math.PI); ctx.fill();
      const right = Math.cos(d.angle) >= -0.01, lx = d.x + (right ? 1 : -1) * (d.r + 4);
      ctx.textAlign = Math.abs(Math.cos(d.angle)) < 0.2 ? "center" : right ? "left" : "right";
      const ly = Math.abs(Math.cos(d.angle)) < 0.2 ? d.y + (Math.sin(d.angle) < 0 ? -18 : 18) : d.y;
      ctx.fillStyle = "#1b2430";
      ctx.fillText(`${short(d.name)}${self ? " (self)" : ""}`, Math.abs(Math.cos(d.angle)) < 0.2 ? d.x : lx, ly - 6);
      ctx.fillStyle = "#5b6775";
      ctx.fillText(`${d.weight.toFixed(3)} · ${short(d.cls, 14)}`, Math.abs(Math.cos(d.angle)) < 0.2 ? d.x : lx, ly + 7);
    }
    ctx.fillStyle = "#c0392b"; ctx.beginPath(); ctx.arc(cx, cy, 13, 0, 2 * Math.PI); ctx.fill();
    ctx.textAlign = "center"; ctx.font = "bold 13px system-ui, sans-serif";
    const label = `${nb.node} → ${nb.class}`, lw = ctx.measureText(label).width + 8;
    ctx.fillStyle = "rgba(255,255,255,0.85)"; ctx.fillRect(cx - lw / 2, cy + 18, lw, 17);
    ctx.fillStyle = "#1b2430"; ctx.fillText(label, cx, cy + 26);
    ctx.font = "12px system-ui, sans-serif"; ctx.fillStyle = "#5b6775";
    const rest = k - drawn.length;
    ctx.fillText(rest > 0 ? `the ${drawn.length} most attended of ${k} incoming edges (${rest} more not drawn)` : `${k} incoming edges`,
      cx, size + 12);
    Object.assign(canvas.dataset, { shown: drawn.length, total: k, rest, node: nb.node });
    return drawn;
  }

  // The neighbourhood block: layer, head (or mean) and top-k choosers and the canvas; a click on a
  // neighbour calls onRecentre(name). `sel` keeps {layer, head, top} across requests.
  function renderNeighbourhood(box, nb, sel, onRecentre, name = "graph") {
    const canvas = el("canvas", { class: "neighbourhood" });
    if (!nb.layers.length) {
      box.append(el("div", { class: "note", text: "this model has no attention over the edges; the neighbours are drawn alike" }));
    }
    const nh = nb.layers.length ? nb.layers[0].shape[1] : 1;
    if (sel.layer == null || sel.layer >= nb.layers.length) sel.layer = Math.max(0, nb.layers.length - 1);
    if (sel.head !== "mean" && !(Number(sel.head) < nh)) sel.head = "mean";
    sel.top = sel.top || 16;
    const layer = el("select", { class: "nb-layer" }), head = el("select", { class: "nb-head" });
    nb.layers.forEach((_, l) => layer.append(el("option", { value: l, text: `layer ${l}` })));
    head.append(el("option", { value: "mean", text: "mean of heads" }));
    for (let h = 0; h < nh; h++) head.append(el("option", { value: String(h), text: `head ${h}` }));
    const top = el("input", { class: "nb-top", type: "number", min: 1, max: 200, value: sel.top });
    let drawn = [];
    const show = () => {
      const weights = nb.layers.length ? edgeWeights(nb.layers[sel.layer], sel.head) : new Float32Array(nb.neighbours.length).fill(1 / Math.max(1, nb.neighbours.length));
      drawn = drawNeighbourhood(canvas, nb, weights, sel.top);
      canvas._drawn = drawn;
    };
    layer.value = sel.layer; head.value = sel.head;
    layer.addEventListener("change", () => { sel.layer = Number(layer.value); show(); });
    head.addEventListener("change", () => { sel.head = head.value; show(); });
    top.addEventListener("change", () => { sel.top = Math.max(1, Math.min(200, Number(top.value) || 16)); show(); });
    canvas.addEventListener("click", (event) => {
      const rect = canvas.getBoundingClientRect();
      const x = (event.clientX - rect.left) * canvas.width / rect.width, y = (event.clientY - rect.top) * canvas.height / rect.height;
      const hit = drawn.find((d) => (d.x - x) ** 2 + (d.y - y) ** 2 <= (d.r + 4) ** 2);
      if (hit && hit.name !== nb.node) onRecentre(hit.name);
    });
    canvas.addEventListener("mousemove", (event) => {
      const rect = canvas.getBoundingClientRect();
      const x = (event.clientX - rect.left) * canvas.width / rect.width, y = (event.clientY - rect.top) * canvas.height / rect.height;
      canvas.style.cursor = drawn.some((d) => (d.x - x) ** 2 + (d.y - y) ** 2 <= (d.r + 4) ** 2 && d.name !== nb.node) ? "pointer" : "";
    });
    box.append(el("div", { class: "view" }, ...(nb.layers.length ? [layer, head] : []), el("label", {}, "top ", top)), canvas,
      ...(nb.layers.length ? [legend(blue, 0, 1, "edge weight / the largest shown")] : []),
      el("div", { class: "note", text: "edges j → node shaded and sized by attention; click a neighbour to make it the centre" }),
      pngLink(canvas, `${name}-neighbourhood.png`));
    show();
    return canvas;
  }

  // ---- colour scales, class names, documents ------------------------------------------------
  // A colour scale: a bar from `min` to `max` in `colourOf(t)` (t in [0, 1]), its ends and middle
  // written under it, and what the colours measure. Its dataset holds min, max and the label.
  function legend(colourOf, min, max, label) {
    const bar = el("canvas", { class: "legend-bar", width: 160, height: 10 });
    const ctx = bar.getContext("2d");
    for (let x = 0; x < bar.width; x++) {
      const [R, G, B] = colourOf(x / (bar.width - 1));
      ctx.fillStyle = `rgb(${R},${G},${B})`; ctx.fillRect(x, 0, 1, bar.height);
    }
    const fmt = (v) => (Math.abs(v) >= 1e3 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(1) : String(+v.toPrecision(3)));
    const ends = el("div", { class: "legend-ends" }, el("span", { text: fmt(min) }), el("span", { text: fmt((min + max) / 2) }),
      el("span", { text: fmt(max) }));
    return el("div", { class: "legend", "data-min": min, "data-max": max, "data-label": label, title: label },
      el("div", { class: "legend-scale" }, bar, ends), el("span", { class: "legend-label", text: label }));
  }

  // A classifier's answer: the classes by probability (the top `top`), each with its name, a bar
  // and its probability; `probs` may be null (only the predicted class's probability known).
  function renderClasses(box, names, probs, output, probability, top = 5) {
    const list = el("div", { class: "classes" });
    if (probs && names && probs.length === names.length) {
      const order = Array.from(probs, (_, i) => i).sort((a, b) => probs[b] - probs[a]).slice(0, top);
      for (const i of order) {
        const p = probs[i], row = el("div", { class: "class-row" + (names[i] === output ? " predicted" : ""), "data-class": names[i],
          "data-probability": p }, el("span", { class: "class-name", text: names[i] }),
          el("span", { class: "class-bar" }, styled(el("span", { class: "class-fill" }), { width: `${(100 * clamp01(p)).toFixed(1)}%` })),
          el("span", { class: "class-p", text: `${(100 * p).toFixed(1)}%` }));
        list.append(row);
      }
      if (probs.length > top) list.append(el("div", { class: "note", text: `the ${top} most probable of ${probs.length} classes` }));
    } else if (probability != null) {
      list.append(el("div", { class: "class-row predicted", "data-class": output, "data-probability": probability },
        el("span", { class: "class-name", text: output }),
        el("span", { class: "class-bar" }, styled(el("span", { class: "class-fill" }), { width: `${(100 * clamp01(probability)).toFixed(1)}%` })),
        el("span", { class: "class-p", text: `${(100 * probability).toFixed(1)}%` })));
    }
    if (list.childElementCount) box.append(list);
    return list;
  }

  // A document [Yang16] Fig. 5: per sentence its weight (red) and its words shaded by their weight
  // (blue), the words written in their cells; long sentences wrap inside the panel.
  const REDS = [[255, 245, 240], [165, 15, 21]], BLUES = [[247, 251, 255], [8, 48, 107]];
  const ramp = ([lo, hi]) => (t) => [0, 1, 2].map((i) => Math.round(lo[i] + (hi[i] - lo[i]) * clamp01(t)));
  function renderDocument(box, doc) {
    const words = doc.word_weights, sents = doc.sentence_weights, nw = words ? words.shape[1] : 0;
    const red = ramp(REDS), blueish = ramp(BLUES);
    const page = el("div", { class: "document" });
    doc.sentences.forEach((sentence, s) => {
      const ws = sents ? sents.data[s] : 0, [r, g, b] = red(ws);
      const line = el("div", { class: "doc-sentence", "data-index": s },
        styled(el("span", { class: "doc-weight", title: `sentence ${s}: weight ${ws.toPrecision(3)}`, text: ws.toFixed(2) }),
          { background: `rgb(${r},${g},${b})`, color: ws > 0.5 ? "#fff" : "" }));
      sentence.forEach((word, i) => {
        const w = words ? words.data[s * nw + i] : 0, [R, G, B] = blueish(w);
        line.append(styled(el("span", { class: "doc-word", "data-weight": w, title: `weight ${w.toPrecision(3)}`, text: word }),
          { background: `rgb(${R},${G},${B})`, color: w > 0.5 ? "#fff" : "" }));
      });
      page.append(line);
    });
    box.append(el("div", { class: "legends" }, legend(red, 0, 1, "sentence weight"), legend(blueish, 0, 1, "word weight (within its sentence)")),
      page);
    return page;
  }

  return { jet, drawOverlay, renderOverlay, renderNeighbourhood, edgeWeights, legend, renderClasses, renderDocument };
})();

window.exploreViews = exploreViews;
