// attnkit explore: the page. Uses only the JSON API of this server (/api/runs...).
// Matrices are drawn on <canvas> from one typed array each (no DOM element per cell), so a
// 500-token passage stays responsive. Weights are probabilities; colours are fixed to [0, 1].
"use strict";

const explore = (() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const el = (tag, attrs = {}, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    for (const kid of kids) e.append(kid);
    return e;
  };
  const state = { runs: [], limits: {}, panels: new Map(), timings: [], renders: 0, requests: [] };

  // ---- matrices ------------------------------------------------------------------------
  // The API sends every matrix as {shape, dtype: "float32", base64} (little-endian float32, row-major);
  // readMatrices turns each, anywhere in an answer, into {shape, data: Float32Array} once, as it arrives.
  function fromBase64(m) {
    const bytes = atob(m.base64), n = bytes.length, buf = new Uint8Array(n);
    for (let i = 0; i < n; i++) buf[i] = bytes.charCodeAt(i);
    return { shape: m.shape, data: new Float32Array(buf.buffer) };
  }
  function readMatrices(v) {
    if (Array.isArray(v)) { for (let i = 0; i < v.length; i++) v[i] = readMatrices(v[i]); return v; }
    if (!v || typeof v !== "object") return v;
    if (typeof v.base64 === "string" && Array.isArray(v.shape)) return fromBase64(v);
    for (const k of Object.keys(v)) v[k] = readMatrices(v[k]);
    return v;
  }
  // {shape, data} -> {shape, data: Float32Array}; slicing and head means on it.
  const asMatrix = (m) => m.data instanceof Float32Array ? m : { shape: m.shape, data: Float32Array.from(m.data) };
  function slice(m, index) { // first dimension
    const size = m.shape.slice(1).reduce((a, b) => a * b, 1);
    return { shape: m.shape.slice(1), data: m.data.subarray(index * size, (index + 1) * size) };
  }
  function headMean(m) { // (Nh, R, C) -> (R, C)
    const [nh, r, c] = m.shape, out = new Float32Array(r * c);
    for (let h = 0; h < nh; h++) { const off = h * r * c; for (let i = 0; i < r * c; i++) out[i] += m.data[off + i]; }
    for (let i = 0; i < r * c; i++) out[i] /= nh;
    return { shape: [r, c], data: out };
  }
  const pickHead = (m, head) => m.shape.length === 2 ? m : head === "mean" ? headMean(m) : slice(m, Number(head));

  // ---- colours: linear from white to dark blue, probabilities in [0, 1] ----------------
  const LOW = [247, 251, 255], HIGH = [8, 48, 107];
  function colour(v) {
    const t = Math.max(0, Math.min(1, v));
    return [0, 1, 2].map((i) => Math.round(LOW[i] + (HIGH[i] - LOW[i]) * t));
  }

  // What the colours show: the weights, or each row divided by its maximum ("rows scaled"), which
  // makes a long row's spread-out weights visible; the numbers (hover, JSON) stay the weights.
  function shown(M, rowScale) {
    if (!rowScale) return M.data;
    const [rows, cols] = M.shape, out = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      let max = 0; for (let c = 0; c < cols; c++) max = Math.max(max, M.data[r * cols + c]);
      for (let c = 0; c < cols; c++) out[r * cols + c] = max > 0 ? M.data[r * cols + c] / max : 0;
    }
    return out;
  }

  // ---- drawing ----------------------------------------------------------------------------
  // Draw matrix M (R, C) with row and column labels; returns the geometry for hit-testing.
  function layout(rows, cols, rowLabels, colLabels, maxWidth) {
    const cell = Math.max(2, Math.min(22, Math.floor((maxWidth - 60) / cols)));
    const labels = cell >= 8;
    const chars = (ls) => Math.min(14, Math.max(1, ...ls.map((s) => String(s).length)));
    const left = labels ? 10 + 7 * chars(rowLabels) : 4, top = labels ? 10 + 7 * chars(colLabels) : 4;
    return { cell, labels, left, top, width: left + cols * cell + 4, height: top + rows * cell + 4, rows, cols };
  }

  function draw(canvas, M, rowLabels, colLabels, opts = {}) {
    const [rows, cols] = M.shape;
    const g = layout(rows, cols, rowLabels, colLabels, opts.maxWidth || 640);
    canvas.width = g.width; canvas.height = g.height;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, g.width, g.height);
    // the cells' pixels are made once per matrix and scaling; a hover only redraws labels and outlines
    const cached = canvas._cells;
    let img;
    if (cached && cached.M === M && cached.rowScale === !!opts.rowScale && cached.cell === g.cell) img = cached.img;
    else {
      img = ctx.createImageData(cols * g.cell, rows * g.cell);
      const px = img.data, w = cols * g.cell, values = shown(M, opts.rowScale);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
        const [R, G, B] = colour(values[r * cols + c]);
        for (let y = 0; y < g.cell; y++) {
          let o = ((r * g.cell + y) * w + c * g.cell) * 4;
          for (let x = 0; x < g.cell; x++, o += 4) { px[o] = R; px[o + 1] = G; px[o + 2] = B; px[o + 3] = 255; }
        }
      }
      canvas._cells = { M, rowScale: !!opts.rowScale, cell: g.cell, img };
    }
    ctx.putImageData(img, g.left, g.top);
    if (g.labels) {
      ctx.fillStyle = "#1b2430"; ctx.font = "11px monospace"; ctx.textBaseline = "middle";
      ctx.textAlign = "right";
      rowLabels.forEach((s, r) => ctx.fillText(shortLabel(s), g.left - 4, g.top + (r + 0.5) * g.cell));
      ctx.save(); ctx.textAlign = "left";
      colLabels.forEach((s, c) => {
        ctx.save(); ctx.translate(g.left + (c + 0.5) * g.cell, g.top - 4); ctx.rotate(-Math.PI / 2);
        ctx.fillText(shortLabel(s), 0, 0); ctx.restore();
      });
      ctx.restore();
    }
    if (opts.gold) { // gold links: (row, start, end) spans of columns
      ctx.strokeStyle = "#e69500"; ctx.lineWidth = Math.max(1, g.cell / 8);
      for (const [r, s, e] of opts.gold) if (r < rows) ctx.strokeRect(g.left + s * g.cell, g.top + r * g.cell, (e - s) * g.cell, g.cell);
    }
    if (opts.row != null) { ctx.strokeStyle = "#c0392b"; ctx.lineWidth = 1.5; ctx.strokeRect(g.left - 0.5, g.top + opts.row * g.cell, cols * g.cell + 1, g.cell); }
    if (opts.col != null) { ctx.strokeStyle = "#c0392b"; ctx.lineWidth = 1.5; ctx.strokeRect(g.left + opts.col * g.cell, g.top - 0.5, g.cell, rows * g.cell + 1); }
    Object.assign(canvas.dataset, { left: g.left, top: g.top, cell: g.cell, rows, cols });
    return g;
  }
  const shortLabel = (s) => { s = String(s); return s.length > 14 ? s.slice(0, 13) + "…" : s; };

  function hit(canvas, event) {
    const d = canvas.dataset, rect = canvas.getBoundingClientRect();
    const x = (event.clientX - rect.left) * (canvas.width / rect.width), y = (event.clientY - rect.top) * (canvas.height / rect.height);
    const c = Math.floor((x - d.left) / d.cell), r = Math.floor((y - d.top) / d.cell);
    return r >= 0 && c >= 0 && r < +d.rows && c < +d.cols ? { r, c } : null;
  }

  // ---- exports ------------------------------------------------------------------------------
  function offer(panel, kind, href, name) {
    const link = $(".export-link", panel.root);
    link.href = href; link.download = name; link.dataset.kind = kind; link.textContent = `download ${name}`;
    link.hidden = false;
  }
  function exportPNG(panel) {
    offer(panel, "png", panel.canvas.toDataURL("image/png"), `${panel.key}-attention.png`);
  }
  function exportSVG(panel) {
    const v = panel.view, M = v.matrix, [rows, cols] = M.shape, g = layout(rows, cols, v.rowLabels, v.colLabels, 640);
    const esc = (s) => String(s).replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]);
    const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${g.width}" height="${g.height}" font-family="monospace" font-size="11">`,
      `<rect width="100%" height="100%" fill="#fff"/>`];
    if (rows * cols <= 40000) {
      const values = shown(M, v.rowScale);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
        const [R, G, B] = colour(values[r * cols + c]);
        parts.push(`<rect x="${g.left + c * g.cell}" y="${g.top + r * g.cell}" width="${g.cell}" height="${g.cell}" fill="rgb(${R},${G},${B})"/>`);
      }
    } else { // too many cells for vector shapes: the raster, with vector labels
      parts.push(`<image x="0" y="0" width="${g.width}" height="${g.height}" href="${panel.canvas.toDataURL("image/png")}"/>`);
    }
    if (g.labels) {
      v.rowLabels.forEach((s, r) => parts.push(`<text x="${g.left - 4}" y="${g.top + (r + 0.5) * g.cell}" text-anchor="end" dominant-baseline="middle">${esc(shortLabel(s))}</text>`));
      v.colLabels.forEach((s, c) => { const x = g.left + (c + 0.5) * g.cell, y = g.top - 4;
        parts.push(`<text transform="translate(${x},${y}) rotate(-90)" dominant-baseline="middle">${esc(shortLabel(s))}</text>`); });
    }
    for (const [r, s, e] of v.gold || []) parts.push(`<rect x="${g.left + s * g.cell}" y="${g.top + r * g.cell}" width="${(e - s) * g.cell}" height="${g.cell}" fill="none" stroke="#e69500"/>`);
    parts.push("</svg>");
    offer(panel, "svg", URL.createObjectURL(new Blob([parts.join("\n")], { type: "image/svg+xml" })), `${panel.key}-attention.svg`);
  }
  function exportJSON(panel) {
    const v = panel.view, [rows, cols] = v.matrix.shape, weights = [];
    for (let r = 0; r < rows; r++) weights.push(Array.from(v.matrix.data.subarray(r * cols, (r + 1) * cols)));
    const body = { run: panel.key, input: panel.result.input, options: panel.result.options, hypothesis: v.hypothesis,
      output: v.output, kind: v.kind, layer: v.layer, head: v.head, rows_scaled: v.rowScale, rows: v.rowLabels, columns: v.colLabels,
      gold: v.gold || null, weights };
    offer(panel, "json", URL.createObjectURL(new Blob([JSON.stringify(body)], { type: "application/json" })), `${panel.key}-attention.json`);
  }

  // ---- one panel per run --------------------------------------------------------------------
  function makePanel(run) {
    const root = el("section", { class: "panel", "data-run": run.key });
    const panel = { key: run.key, run, root, view: null, result: null, pic: {}, lastBody: null,
      sel: { hyp: 0, kind: "alignment", layer: -1, head: "mean" } };
    root.append(el("h2", {}, run.label + " ", el("span", { class: "meta", text: `${run.task} · ${run.arch} · ${run.key}` +
      (run.best != null ? ` · dev ${run.metric} ${run.best.toFixed(3)}` : "") })),
      el("div", { class: "error", role: "alert" }), el("div", { class: "body" }));
    panel.canvas = el("canvas", { class: "heatmap" });
    panel.canvas.addEventListener("mousemove", (e) => { const h = hit(panel.canvas, e); if (h) hover(panel, h.r, null); });
    panel.canvas.addEventListener("mouseleave", () => hover(panel, null, null));
    return panel;
  }

  function renderResult(panel, result, keep = false) {
    panel.result = result;
    // the layer x head maps of each hypothesis, fetched when first shown (the greedy one's at once)
    result.layersByHyp = { ...(result.layersByHyp || {}), ...(result.layers ? { 0: result.layers } : {}) };
    const body = $(".body", panel.root);
    body.replaceChildren();
    if (result.kind !== "seq2seq") return renderGeneric(panel, body, result);
    const hyps = el("div", { class: "hyps" });
    result.hypotheses.forEach((h, i) => hyps.append(el("button", { type: "button", class: "hyp", "data-index": i,
      onclick: () => { panel.sel.hyp = i; refresh(panel); ensureLayers(panel); } },
      el("span", { class: "name", text: `${h.name}: ` }), el("span", { class: "output", text: h.output }),
      el("span", { class: "score", text: h.score == null ? "" : `log p ${h.score.toFixed(3)}` }))));
    const view = el("div", { class: "view" });
    const kind = el("select", { class: "kind", onchange: () => { panel.sel.kind = kind.value; refresh(panel); ensureLayers(panel); } });
    kind.append(el("option", { value: "alignment", text: "alignment (as decoded)" }));
    if (result.layers) for (const [k, t] of [["cross", "cross-attention"], ["encoder_self", "encoder self-attention"], ["decoder_self", "decoder self-attention"]])
      kind.append(el("option", { value: k, text: t }));
    const nLayers = result.layers ? result.layers.cross.shape[0] : 0;
    const layer = el("select", { class: "layer", onchange: () => { panel.sel.layer = Number(layer.value); refresh(panel); } });
    for (let l = 0; l < nLayers; l++) layer.append(el("option", { value: l, text: `layer ${l}` }));
    const nh = panel.run.n_heads;
    const head = el("select", { class: "head", onchange: () => { panel.sel.head = head.value; refresh(panel); } });
    head.append(el("option", { value: "mean", text: "mean of heads" }));
    for (let h = 0; h < nh; h++) head.append(el("option", { value: h, text: `head ${h}` }));
    const scale = el("input", { type: "checkbox", class: "row-scale", onchange: () => { panel.sel.rowScale = scale.checked; refresh(panel); } });
    view.append(el("label", {}, "map ", kind), el("label", {}, "", layer), el("label", {}, "", head),
      el("label", { title: "colour each row relative to its largest weight" }, scale, " rows scaled to their max"));
    if (!nLayers) layer.hidden = true;
    if (nh < 2) head.hidden = true;
    const notes = [];
    if (result.n_unknown) notes.push(`${result.n_unknown} source token(s) read as <unk>`);
    if (result.layers_note) notes.push(result.layers_note);
    if (result.gold && result.gold_hypothesis) notes.push(`orange boxes on "${result.gold_hypothesis}" (the test example's target, teacher-forced): gold word links, every piece of each linked word pair`);
    else if (result.gold) notes.push("orange boxes: gold links (where each output should look)");
    body.append(hyps, view, el("div", { class: "tokens src-tokens" }), el("div", { class: "tokens out-tokens" }),
      el("div", { class: "matrix-wrap" }, panel.canvas), el("div", { class: "heatmap-legend" }),
      el("div", { class: "note", text: notes.join(" · ") }),
      el("div", { class: "exports" }, "export: ",
        el("button", { type: "button", class: "export-png", text: "PNG", onclick: () => exportPNG(panel) }),
        el("button", { type: "button", class: "export-svg", text: "SVG", onclick: () => exportSVG(panel) }),
        el("button", { type: "button", class: "export-json", text: "JSON", onclick: () => exportJSON(panel) }),
        el("a", { class: "export-link", hidden: "" })),
      el("div", { class: "grid" }));
    // gold word links belong to the reference's words: show that hypothesis first
    const goldHyp = result.gold_hypothesis ? Math.max(0, result.hypotheses.findIndex((h) => h.name === result.gold_hypothesis)) : 0;
    if (!keep) panel.sel = { hyp: goldHyp, kind: "alignment", layer: nLayers - 1, head: "mean", rowScale: panel.sel.rowScale || false };
    if (panel.sel.layer < 0 || panel.sel.layer >= nLayers) panel.sel.layer = nLayers - 1;
    refresh(panel);
  }

  // The matrix, labels and gold links that the panel's selection shows.
  function currentView(panel, kindOverride) {
    const res = panel.result, s = panel.sel, hyp = res.hypotheses[s.hyp], src = res.src_tokens, out = hyp.out_tokens;
    const gold = !res.gold_hypothesis || hyp.name === res.gold_hypothesis ? res.gold : null; // links of one hypothesis' words only
    if ((kindOverride || s.kind) === "alignment") {
      if (!hyp.weights) return null;
      return { kind: "alignment", layer: null, head: hyp.weights.shape.length === 3 ? s.head : null, hypothesis: hyp.name,
        output: hyp.output, rowLabels: out, colLabels: src, gold,
        matrix: pickHead(asMatrix(hyp.weights), s.head) };
    }
    const layers = res.layersByHyp[s.hyp];
    if (!layers) return currentView(panel, "alignment"); // still loading: the decoded alignment meanwhile
    const maps = asMatrix(layers[s.kind]);
    const labels = { cross: [out, src], encoder_self: [src, src], decoder_self: [out, out] }[s.kind];
    return { kind: s.kind, layer: s.layer, head: s.head, hypothesis: hyp.name, output: hyp.output,
      rowLabels: labels[0], colLabels: labels[1], gold: s.kind === "cross" ? gold : null,
      matrix: pickHead(slice(maps, s.layer), s.head) };
  }

  function refresh(panel) {
    const res = panel.result, s = panel.sel;
    panel.root.querySelectorAll(".hyp").forEach((b, i) => b.classList.toggle("selected", i === s.hyp));
    const kind = $(".kind", panel.root), layer = $(".layer", panel.root), head = $(".head", panel.root);
    kind.value = s.kind;
    layer.value = s.layer; layer.hidden = s.kind === "alignment" || !res.layers;
    head.value = s.head;
    const v = currentView(panel);
    if (v) v.rowScale = !!s.rowScale;
    $(".row-scale", panel.root).checked = !!s.rowScale;
    panel.view = v;
    $(".matrix-wrap", panel.root).hidden = !v;
    if (!v) { panel.canvas.width = 0; $(".heatmap-legend", panel.root).replaceChildren();
      $(".note", panel.root).textContent = "this model has no attention"; return; }
    const width = Math.max(300, panel.root.clientWidth - 30);
    draw(panel.canvas, v.matrix, v.rowLabels, v.colLabels, { gold: v.gold, maxWidth: width, rowScale: v.rowScale });
    $(".heatmap-legend", panel.root).replaceChildren(exploreViews.legend(colour, 0, 1,
      v.rowScale ? "weight / the largest of its row" : "attention weight"));
    panel.canvas.dataset.kind = v.kind; panel.canvas.dataset.head = v.head == null ? "" : v.head;
    panel.canvas.dataset.layer = v.layer == null ? "" : v.layer;
    const names = { encoder_self: ["source (keys)", "source (queries)"], decoder_self: ["output (keys)", "output (queries)"] }[v.kind]
      || ["source", "output"];
    tokens($(".src-tokens", panel.root), names[0], v.colLabels, "src", panel);
    tokens($(".out-tokens", panel.root), names[1], v.rowLabels, "out", panel);
    drawGrid(panel);
  }

  // Fetch the layer x head maps of the selected hypothesis if the view needs them and they are missing.
  async function ensureLayers(panel) {
    const res = panel.result, i = panel.sel.hyp;
    if (!res || !res.layers || panel.sel.kind === "alignment" || res.layersByHyp[i]) return;
    panel.root.dataset.layers = "loading";
    try {
      const response = await fetch(`/api/runs/${encodeURIComponent(panel.key)}/layers`, { method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ input: res.input, options: res.options, out_tokens: res.hypotheses[i].out_tokens }) });
      const maps = readMatrices(await response.json());
      if (!response.ok) throw new Error(maps.error || response.statusText);
      if (maps.layers) res.layersByHyp[i] = maps.layers;
      else $(".note", panel.root).textContent = maps.layers_note || "";
      if (panel.result === res) refresh(panel);
    } catch (err) { $(".note", panel.root).textContent = `layer maps: ${err.message || err}`; }
    panel.root.dataset.layers = "done";
  }

  function tokens(box, label, toks, side, panel) {
    box.replaceChildren(el("span", { class: "label", text: label }));
    toks.forEach((t, i) => box.append(el("span", { class: "tok", "data-i": i, text: t,
      onmouseenter: () => side === "out" ? hover(panel, i, null) : hover(panel, null, i), onmouseleave: () => hover(panel, null, null) })));
  }

  // Hover row r (an output token): light up the columns it attends to; hover column c (a source
  // token): light up the rows that attend to it. The strongest one gets the class "top".
  function hover(panel, r, c) {
    const v = panel.view; if (!v) return;
    const [rows, cols] = v.matrix.shape, M = v.matrix.data;
    const src = panel.root.querySelectorAll(".src-tokens .tok"), out = panel.root.querySelectorAll(".out-tokens .tok");
    const paint = (spans, values) => {
      let best = -1, top = -1;
      spans.forEach((sp, i) => { const w = values ? values[i] : 0; sp.style.background = values ? `rgba(8,48,107,${Math.min(1, w) * 0.85})` : "";
        sp.style.color = values && w > 0.45 ? "#fff" : ""; sp.classList.remove("top", "hover"); if (values && w > best) { best = w; top = i; } });
      if (top >= 0) spans[top].classList.add("top");
    };
    if (r != null) {
      paint(src, Array.from(M.subarray(r * cols, (r + 1) * cols))); paint(out, null); out[r] && out[r].classList.add("hover");
    } else if (c != null) {
      const col = []; for (let i = 0; i < rows; i++) col.push(M[i * cols + c]);
      paint(out, col); paint(src, null); src[c] && src[c].classList.add("hover");
    } else { paint(src, null); paint(out, null); }
    draw(panel.canvas, v.matrix, v.rowLabels, v.colLabels, { gold: v.gold, row: r, col: c, rowScale: v.rowScale,
      maxWidth: Math.max(300, panel.root.clientWidth - 30) });
  }

  // Thumbnails of every layer x head (and the mean) of the chosen map; a click enlarges one.
  function drawGrid(panel) {
    const grid = $(".grid", panel.root), res = panel.result, s = panel.sel;
    grid.replaceChildren();
    const layers = res.layersByHyp[s.hyp];
    if (!layers || s.kind === "alignment") return;
    const maps = asMatrix(layers[s.kind]), [L, nh] = maps.shape;
    grid.style.gridTemplateColumns = `auto repeat(${nh + 1}, minmax(0, 120px))`;
    grid.append(el("span", { class: "hdr", text: "" }), el("span", { class: "hdr", text: "mean" }));
    for (let h = 0; h < nh; h++) grid.append(el("span", { class: "hdr", text: `head ${h}` }));
    for (let l = 0; l < L; l++) {
      grid.append(el("span", { class: "hdr", text: `L${l}` }));
      for (const h of ["mean", ...Array.from({ length: nh }, (_, i) => String(i))]) {
        const c = el("canvas", { class: "thumb", "data-layer": l, "data-head": h, title: `layer ${l}, ${h === "mean" ? "mean of heads" : "head " + h}` });
        const M = pickHead(slice(maps, l), h), [rows, cols] = M.shape;
        const cell = Math.max(1, Math.floor(96 / Math.max(rows, cols)));
        drawCells(c, M, cell);
        if (l === s.layer && h === String(s.head)) c.classList.add("selected");
        c.addEventListener("click", () => { panel.sel.layer = l; panel.sel.head = h; refresh(panel); panel.canvas.scrollIntoView({ block: "nearest" }); });
        grid.append(c);
      }
    }
  }
  function drawCells(canvas, M, cell) {
    const [rows, cols] = M.shape; canvas.width = cols * cell; canvas.height = rows * cell;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(canvas.width, canvas.height), px = img.data;
    for (let y = 0; y < canvas.height; y++) for (let x = 0; x < canvas.width; x++) {
      const [R, G, B] = colour(M.data[Math.floor(y / cell) * cols + Math.floor(x / cell)]), o = (y * canvas.width + x) * 4;
      px[o] = R; px[o + 1] = G; px[o + 2] = B; px[o + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  // ---- views of the other predictions, by kind ---------------------------------------------
  // kind -> (box, view, ctx) => draws `view` (the JSON of the kind's view, attnkit.viz.views) into
  // `box`. A kind registered outside attnkit brings its own drawer: the answer names its script
  // (GET /views/KIND.js), which the page loads once; it adds itself here:
  //   attnkitViews["my-kind"] = (box, view, ctx) => { ... };
  // ctx: {key, el, drawMatrix(canvas, {shape, data}, rowLabels, colLabels), legend(min, max, label) (the
  // colour scale of drawMatrix's colours), again(changes), options}.
  // Kinds without a drawer (a document, a caption, a label...) get every 2-D array of their view
  // drawn as a heatmap.
  const views = window.attnkitViews = window.attnkitViews || {};
  views["image-overlay"] = (box, view, ctx) => exploreViews.renderOverlay(box, view, ctx.panel.pic,
    (cell) => ctx.again({ options: { ...ctx.options, query: cell.join(",") } }), ctx.key);
  views["graph-neighbourhood"] = (box, view, ctx) => exploreViews.renderNeighbourhood(box, view, ctx.panel.pic,
    (name) => { $("#input").value = name; ctx.again({ input: name }); }, ctx.key);
  views["document"] = (box, view) => exploreViews.renderDocument(box, view);
  views["spoken-word"] = views["spectrogram-alignment"] = (box, view, ctx) => {
    ctx.panel.speech = exploreSpeech.renderSpeech(box, view, ctx.key);
  };

  const scripts = {}; // kind -> the promise of its script, loaded once
  function loadScript(kind, src) {
    if (!scripts[kind]) scripts[kind] = new Promise((ok, fail) => {
      document.head.append(el("script", { src, onload: ok, onerror: () => fail(new Error(`could not load ${src}`)) }));
    });
    return scripts[kind];
  }

  // Every 2-D {shape, data} array in `value`, with its path: [[path, matrix], ...]
  function matrices(value, path, out = []) {
    if (value && value.shape && value.data) { if (value.shape.length === 2) out.push([path, value]); }
    else if (Array.isArray(value)) value.forEach((x, i) => matrices(x, `${path}[${i}]`, out));
    else if (value && typeof value === "object") Object.entries(value).forEach(([k, x]) => matrices(x, path ? `${path}.${k}` : k, out));
    return out;
  }

  // Heatmaps of 2-D arrays; rows and columns labelled by lists of names as long as they are.
  function drawMatrices(body, mats, names) {
    for (const [path, m] of mats) {
      const c = el("canvas", { class: "heatmap" }), M = asMatrix(m);
      let max = 0; for (const x of M.data) max = Math.max(max, x); // maps over images are not probabilities: scaled to their max
      const scaled = { shape: M.shape, data: M.data.map((x) => max > 0 ? x / max : 0) };
      const rowLabels = names.find((n) => n.length === M.shape[0]) || [];
      const colLabels = names.find((n) => n !== rowLabels && n.length === M.shape[1]) ||
        (rowLabels.length ? Array.from({ length: M.shape[1] }, (_, i) => `h${i}`) : []);
      draw(c, scaled, rowLabels.length ? rowLabels : Array(M.shape[0]).fill(""), colLabels.length ? colLabels : Array(M.shape[1]).fill(""),
        { maxWidth: rowLabels.length ? 360 : 280 });
      body.append(el("div", { class: "note", text: path + (max > 1 || max < 0.999 ? ` (scaled to its max ${max.toPrecision(3)})` : "") }), c,
        exploreViews.legend(colour, 0, max, path));
    }
  }
  const nameLists = (obj) => Object.values(obj || {}).filter((v) => Array.isArray(v) && v.length && v.every((x) => typeof x === "string"));

  // Tasks other than sequence-to-sequence: the output, the view of the prediction's kind, and its
  // other fields (2-D arrays drawn, the rest as JSON).
  function renderGeneric(panel, body, result) {
    if (!views[result.kind] && result.script && result.script.startsWith("/views/")) { // its drawer first
      loadScript(result.kind, result.script).then(() => { if (panel.result === result) renderResult(panel, result, true); },
        (err) => { $(".error", panel.root).textContent = String(err.message || err); });
      return;
    }
    body.dataset.kind = result.kind;
    body.append(el("div", { class: "hyps" }, el("span", { class: "tok out-output", text: result.output })));
    const fields = result.fields || {}, plainList = (v) => v && v.data ? Array.from(v.data) : Array.isArray(v) ? v : null;
    const classes = exploreViews.renderClasses(body, result.classes, plainList(fields.probabilities), result.output,
      typeof fields.probability === "number" ? fields.probability : null);
    const shownFields = classes.childElementCount ? new Set(["probability", "probabilities"]) : new Set();
    const view = result.view || {}, drawer = views[result.kind];
    const ctx = { key: panel.key, panel, el, drawMatrix: (canvas, m, rows, cols) => draw(canvas, asMatrix(m), rows, cols),
      legend: (min, max, label) => exploreViews.legend(colour, min, max, label),
      again: (changes) => again(panel, changes), options: panel.lastBody ? panel.lastBody.options : {} };
    if (drawer) drawer(body, view, ctx);
    else drawMatrices(body, matrices(view, ""), nameLists(view));
    const rest = {}, names = [...nameLists(fields), ...nameLists(view)];
    for (const [name, value] of Object.entries(fields)) {
      if (shownFields.has(name)) continue;
      const mats = matrices(value, name);
      if (mats.length) drawMatrices(body, mats, names); else rest[name] = value;
    }
    if (Object.keys(rest).length) body.append(el("div", { class: "fields", text: JSON.stringify(rest, null, 1).slice(0, 4000) }));
    if (!body.querySelector(".exports")) body.append(genericExports(panel, body, result)); // a drawer may bring its own
    panel.view = null;
  }

  // PNG, SVG and JSON of any view: the view's first canvas as PNG and as SVG (the picture as an
  // image in it), and the answer's JSON (matrices as {shape, data}, as attnkit predict --json).
  function genericExports(panel, body, result) {
    const link = el("a", { class: "export-link", hidden: "" });
    const give = (kind, href, name) => { Object.assign(link, { href, download: name, textContent: `download ${name}` });
      link.dataset.kind = kind; link.hidden = false; };
    const canvas = () => body.querySelector("canvas");
    const plain = (v) => v instanceof Float32Array ? Array.from(v) : Array.isArray(v) ? v.map(plain)
      : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])) : v;
    const name = `${panel.key}-${result.kind}`;
    return el("div", { class: "exports" }, "export: ",
      el("button", { type: "button", class: "export-png", text: "PNG", onclick: () => { const c = canvas();
        if (c) give("png", c.toDataURL("image/png"), `${name}.png`); } }),
      el("button", { type: "button", class: "export-svg", text: "SVG", onclick: () => { const c = canvas(); if (!c) return;
        const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${c.width}" height="${c.height}">` +
          `<image width="${c.width}" height="${c.height}" href="${c.toDataURL("image/png")}"/></svg>`;
        give("svg", URL.createObjectURL(new Blob([svg], { type: "image/svg+xml" })), `${name}.svg`); } }),
      el("button", { type: "button", class: "export-json", text: "JSON", onclick: () => {
        const out = { run: panel.key, input: result.input, options: result.options, kind: result.kind, output: result.output,
          view: plain(result.view), fields: plain(result.fields) };
        give("json", URL.createObjectURL(new Blob([JSON.stringify(out)], { type: "application/json" })), `${name}.json`); } }),
      link);
  }

  // ---- controls ---------------------------------------------------------------------------
  function selectedRuns() { return state.runs.filter((r) => $(`#runs input[value="${r.key}"]`).checked); }

  function syncControls() {
    const runs = selectedRuns(), options = $("#options");
    options.replaceChildren();
    const choices = {}, defaults = {};
    for (const r of runs) { Object.assign(defaults, r.options); for (const [k, vs] of Object.entries(r.choices)) choices[k] = [...new Set([...(choices[k] || []), ...vs])]; }
    for (const [k, v] of Object.entries(defaults)) {
      const input = choices[k] ? el("select", { "data-option": k }) : el("input", { "data-option": k, value: v });
      if (choices[k]) for (const c of choices[k]) input.append(el("option", { value: c, text: c }));
      input.value = v; options.append(el("label", {}, k, input));
    }
    // per-task controls, from what the runs declare: a text box for text tasks, uploads for image
    // and audio tasks, beam and n-best only for tasks that decode, test examples where there are some
    $("#image-label").hidden = !runs.some((r) => r.input === "image");
    $("#audio-label").hidden = !runs.some((r) => r.input === "audio");
    $("#input-label").hidden = runs.length > 0 && !runs.some((r) => r.input === "text");
    const decodes = runs.some((r) => r.decodes);
    $("#beam").disabled = $("#nbest").disabled = !decodes;
    $("#beam-label").hidden = $("#nbest-label").hidden = !decodes;
    $("#examples-label").hidden = !runs.some((r) => r.examples > 0);
    const panels = $("#panels");
    panels.replaceChildren(...runs.map((r) => { if (!state.panels.has(r.key)) state.panels.set(r.key, makePanel(r)); return state.panels.get(r.key).root; }));
  }

  async function loadExamples() {
    const first = selectedRuns().find((r) => r.examples > 0), box = $("#examples");
    box.replaceChildren(el("option", { value: "", text: "(type your own)" }));
    if (!first) return;
    const res = await fetch(`/api/runs/${encodeURIComponent(first.key)}/examples?n=30`).then((r) => r.json());
    for (const e of res.examples || []) box.append(el("option", { value: JSON.stringify(e), text: `${e.text}${e.locale ? "  [" + e.locale + "]" : ""}` }));
  }

  function readFile(file) {
    return new Promise((ok, fail) => { const fr = new FileReader(); fr.onload = () => ok(fr.result); fr.onerror = fail; fr.readAsDataURL(file); });
  }

  // POST one predict request for a panel (logged in state.requests, the image left out); the answer,
  // or null after showing its error in the panel.
  async function request(panel, body) {
    $(".error", panel.root).textContent = "";
    state.requests.push({ run: panel.key, input: body.input, options: body.options, image: body.image ? body.image.length : null,
      audio: body.audio ? body.audio.length : null });
    panel.lastBody = body;
    try {
      const response = await fetch(`/api/runs/${encodeURIComponent(panel.key)}/predict`, { method: "POST",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      const res = readMatrices(await response.json());
      if (!response.ok) throw new Error(res.error || response.statusText);
      return res;
    } catch (err) {
      $(".error", panel.root).textContent = String(err.message || err); $(".body", panel.root).replaceChildren();
      panel.result = null; panel.view = null; return null;
    }
  }

  // A new request for one panel: its last body with `changes` (a query pixel, a new centre node).
  async function again(panel, changes) {
    if (!panel.lastBody) return;
    const res = await request(panel, { ...panel.lastBody, ...changes });
    if (res) renderResult(panel, res);
    panel.root.dataset.answers = Number(panel.root.dataset.answers || 0) + 1;
  }

  async function submit(event) {
    if (event) event.preventDefault();
    const runs = selectedRuns();
    if (!runs.length) { $("#status").textContent = "choose at least one run"; return; }
    const options = {};
    document.querySelectorAll("#options [data-option]").forEach((i) => { options[i.dataset.option] = i.value; });
    const beam = Number($("#beam").value) || 1, nbest = Math.min(Number($("#nbest").value) || 1, beam);
    const file = $("#image").files && $("#image").files[0];
    const image = file ? await readFile(file) : null;
    const wav = $("#audio").files && $("#audio").files[0];
    const audio = wav ? await readFile(wav) : null;
    $("#status").textContent = "…";
    await Promise.all(runs.map(async (run) => {
      const panel = state.panels.get(run.key), t0 = performance.now();
      const own = {}; // the run's own options; an empty one (e.g. no query pixel) is left out
      for (const k of Object.keys(run.options)) if (k in options && options[k] !== "") own[k] = options[k];
      const body = run.input === "image" ? { image, options: own } : run.input === "audio" ? { audio, options: own } : { input: $("#input").value, options: own,
        ...(run.decodes ? { beam_size: beam, n_best: nbest, layers: false } : {}) };
      const res = await request(panel, body);
      if (!res) return;
      const t1 = performance.now();
      renderResult(panel, res);
      await new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok))); // painted
      const t2 = performance.now();
      const timing = { run: run.key, server_ms: res.elapsed_ms, request_ms: t1 - t0, render_ms: t2 - t1, total_ms: t2 - t0,
        cells: res.hypotheses ? res.hypotheses[0].out_tokens.length * res.src_tokens.length : null };
      if (run.layer_maps && res.kind === "seq2seq") { // then the layer x head maps, without holding up the heatmap
        panel.root.dataset.layers = "loading";
        try {
          const response = await fetch(`/api/runs/${encodeURIComponent(run.key)}/layers`, { method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ input: body.input, options: own, out_tokens: res.hypotheses[0].out_tokens }) });
          const maps = readMatrices(await response.json());
          if (!response.ok) throw new Error(maps.error || response.statusText);
          if (panel.result === res) renderResult(panel, { ...res, layers: maps.layers, layers_note: maps.layers_note }, true);
          await new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)));
          timing.layers_ms = performance.now() - t0; timing.layers_server_ms = maps.elapsed_ms;
        } catch (err) { $(".note", panel.root).textContent = `layer maps: ${err.message || err}`; }
        panel.root.dataset.layers = "done";
      }
      state.timings.push(timing);
    }));
    state.renders += 1;
    for (const run of runs) { const p = state.panels.get(run.key); p.root.dataset.answers = Number(p.root.dataset.answers || 0) + 1; }
    document.body.dataset.renders = state.renders;
    $("#status").textContent = `done (${state.renders})`;
  }

  async function start() {
    const res = await fetch("/api/runs").then((r) => r.json());
    state.runs = res.runs; state.limits = res.limits;
    const box = $("#runs");
    res.runs.forEach((r, i) => box.append(el("label", {}, el("input", { type: "checkbox", value: r.key, ...(i === 0 ? { checked: "" } : {}),
      onchange: () => { syncControls(); loadExamples(); } }), `${r.label} (${r.key})`)));
    $("#input").maxLength = res.limits.max_input_chars;
    $("#examples").addEventListener("change", () => {
      if (!$("#examples").value) return;
      const e = JSON.parse($("#examples").value); $("#input").value = e.text;
      const loc = document.querySelector('#options [data-option="locale"]'); if (loc && e.locale) loc.value = e.locale;
    });
    $("#controls").addEventListener("submit", submit);
    syncControls(); await loadExamples();
    const params = new URLSearchParams(location.search); // ?runs=a,b&input=...&locale=...
    if (params.get("runs")) { const want = params.get("runs").split(","); box.querySelectorAll("input").forEach((c) => { c.checked = want.includes(c.value); }); syncControls(); }
    if (params.get("input")) $("#input").value = params.get("input");
    for (const [k, v] of params) { const o = document.querySelector(`#options [data-option="${k}"]`); if (o) o.value = v; }
    document.body.dataset.ready = "1";
    if (params.get("go")) submit();
  }

  return { start, submit, state, views, view: (key) => state.panels.get(key) && state.panels.get(key).view,
    // set a panel's view: {hyp, kind, layer (negative: from the last), head}
    select: (key, sel) => {
      const p = state.panels.get(key); Object.assign(p.sel, sel);
      if (p.sel.layer < 0 && p.result && p.result.layers) p.sel.layer += p.result.layers.cross.shape[0];
      refresh(p);
    } };
})();

window.explore = explore;
window.addEventListener("DOMContentLoaded", () => explore.start().catch((err) => {
  document.getElementById("status").textContent = `could not load the runs: ${err}`;
}));
