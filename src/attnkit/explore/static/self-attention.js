// attnkit explore: the drawer of a self-attention prediction (kind "self-attention", served as
// /views/self-attention.js; the JSON is attnkit.viz.head_view.self_attention_page_json).
// - the head view [Vig19]: the tokens twice, queries on the left and keys on the right, a line from
//   each query to each key it attends to, opacity = weight, one colour per head (every head of the
//   layer, or the ones picked); hovering a token keeps only its lines;
// - the chosen map as a heatmap, and the layers x heads grid of thumbnails (a click picks one);
// - a select between raw attention and each explanation the prediction carries (rollout, ...);
// - export: the head view as PNG, as SVG (generated here for the current layer and heads) and
//   the prediction's JSON as the page holds it.
// Everything is drawn on <canvas>, lines batched by colour and opacity, so that 512 and 1,024
// tokens stay responsive. Lines under view.min_weight are not drawn (invisible at that opacity).
"use strict";

(() => {
  // attnkit.viz.head_view.HEAD_COLOURS, cycled
  const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939"];
  const EXPLANATION = "#1b2430", GENERATED = "#8c564b", BUCKETS = 24, SVG_LINES = 20000;
  const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const colourOf = (h) => COLOURS[h % COLOURS.length];
  const LOW = [247, 251, 255], HIGH = [8, 48, 107];
  const blue = (v) => { const t = Math.max(0, Math.min(1, v)); return [0, 1, 2].map((i) => Math.round(LOW[i] + (HIGH[i] - LOW[i]) * t)); };
  const display = (t) => { t = String(t); t = t === " " ? "\u2423" : t; return t.length > 16 ? t.slice(0, 15) + "…" : t; };
  const esc = (s) => String(s).replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]);
  const frames = () => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)));

  // ---- geometry and lines ----------------------------------------------------------------
  function geometry(tokens) {
    const n = tokens.length, row = n > 256 ? 10 : n > 64 ? 13 : 18, font = Math.max(8, row - 4);
    const chars = Math.min(16, Math.max(1, ...tokens.map((t) => display(t).length)));
    const label = 10 + Math.ceil(chars * font * 0.62), gap = n > 64 ? 220 : 160, top = 6;
    return { n, row, font, label, gap, top, x0: label + 4, x1: label + gap - 4, width: 2 * label + gap, height: top * 2 + n * row,
      y: (i) => top + (i + 0.5) * row };
  }

  // One head's (T*T) map if the page holds it: from a whole layer, or a head sent alone.
  function mapOf(v, l, h) {
    const n = v.tokens.length, layer = v.layers[String(l)];
    if (layer) return layer.data.subarray(h * n * n, (h + 1) * n * n);
    const one = (v.heads || {})[`${l}:${h}`];
    return one ? one.data : null;
  }
  const held = (v, l) => !!v.layers[String(l)] || Object.keys(v.heads || {}).some((k) => k.startsWith(`${l}:`));

  // The maps the head view draws: [{data: (T*T) Float32Array, colour, head}], from the selection.
  function maps(st) {
    const v = st.view;
    if (st.sel.map !== "attention") return [{ data: v.explanations[st.sel.map].data, colour: EXPLANATION, head: null }];
    return st.sel.heads.map((h) => ({ data: mapOf(v, st.sel.layer, h), colour: colourOf(h), head: h })).filter((m) => m.data);
  }

  // Every drawn line of `ms`, batched: per map, one Path2D per opacity bucket. `only`: {side, i}
  // keeps the lines of one query ("q") or one key ("k"). Returns the number of lines.
  function strokeLines(ctx, g, ms, minW, only, scale) {
    ctx.lineWidth = g.n > 64 ? 0.7 : 1.3;
    let count = 0;
    const n = g.n;
    for (const m of ms) {
      const paths = Array.from({ length: BUCKETS }, () => null), d = m.data;
      const rows = only && only.side === "q" ? [only.i] : null;
      for (let i = rows ? only.i : 0; i < (rows ? only.i + 1 : n); i++) {
        const off = i * n, yi = g.y(i);
        for (let j = 0; j < n; j++) {
          if (only && only.side === "k" && j !== only.i) continue;
          const w = d[off + j] * scale;
          if (!(w >= minW)) continue;
          const b = Math.min(BUCKETS - 1, Math.floor(w * BUCKETS));
          const p = paths[b] || (paths[b] = new Path2D());
          p.moveTo(g.x0, yi); p.lineTo(g.x1, g.y(j)); count++;
        }
      }
      const [R, G, B] = rgb(m.colour);
      paths.forEach((p, b) => { if (p) { ctx.strokeStyle = `rgba(${R},${G},${B},${(b + 0.5) / BUCKETS})`; ctx.stroke(p); } });
    }
    return count;
  }

  // The labels of both columns; a language model's generated tokens (from prompt_length on) in brown.
  function labels(ctx, g, tokens, mark, promptLength = tokens.length) {
    ctx.font = `${g.font}px ui-monospace, monospace`; ctx.textBaseline = "middle";
    tokens.forEach((t, i) => {
      const hot = mark && mark.i === i, ink = i >= promptLength ? GENERATED : "#1b2430";
      ctx.fillStyle = hot && mark.side === "q" ? "#c0392b" : ink;
      ctx.textAlign = "right"; ctx.fillText(display(t), g.label, g.y(i));
      ctx.fillStyle = hot && mark.side === "k" ? "#c0392b" : ink;
      ctx.textAlign = "left"; ctx.fillText(display(t), g.label + g.gap, g.y(i));
    });
  }

  // A map that is not a probability (an explanation above 1) is drawn scaled to its max.
  function scaleOf(ms) {
    let max = 0;
    for (const m of ms) for (let i = 0; i < m.data.length; i++) if (m.data[i] > max) max = m.data[i];
    return max > 1 ? 1 / max : 1;
  }

  // The head view: labels, then the lines, heaviest first, into st.base (an offscreen canvas
  // copied to st.canvas after each slice): the first slice (FIRST_MS) is drawn at once, the rest in
  // slices of SLICE_MS a frame, so that a 512-token layer of 12 heads shows its strongest lines
  // at once and the page stays responsive while the faint ones follow. A new selection stops an
  // unfinished drawing.
  const FIRST_MS = 120, SLICE_MS = 30, CHUNK = 500;
  function drawHeadView(st, onDone) {
    const g = st.g, canvas = st.canvas, ms = maps(st), n = g.n, minW = st.view.min_weight;
    canvas.width = g.width; canvas.height = g.height;
    const base = st.base = document.createElement("canvas"); base.width = g.width; base.height = g.height;
    const bctx = base.getContext("2d", { willReadFrequently: true });
    bctx.fillStyle = "#fff"; bctx.fillRect(0, 0, g.width, g.height);
    labels(bctx, g, st.view.tokens, null, st.view.prompt_length);
    st.scale = scaleOf(ms);
    const jobs = [];
    let total = 0;
    const perMap = ms.map((m) => {
      const buckets = Array.from({ length: BUCKETS }, () => []), d = m.data;
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
        const w = d[i * n + j] * st.scale;
        if (w >= minW) { buckets[Math.min(BUCKETS - 1, Math.floor(w * BUCKETS))].push(i, j); total++; }
      }
      return buckets;
    });
    for (let b = BUCKETS - 1; b >= 0; b--) ms.forEach((m, k) => { if (perMap[k][b].length) jobs.push({ colour: rgb(m.colour), b, pairs: perMap[k][b] }); });
    st.lines = total;
    const gen = st.gen = (st.gen || 0) + 1;
    let k = 0, q = 0, drawn = 0;
    bctx.lineWidth = n > 64 ? 0.7 : 1.3;
    const slice = (ms_) => {
      const t0 = performance.now();
      while (k < jobs.length && performance.now() - t0 < ms_) {
        const job = jobs[k], p = new Path2D(), end = Math.min(job.pairs.length, q + 2 * CHUNK);
        for (; q < end; q += 2) { p.moveTo(g.x0, g.y(job.pairs[q])); p.lineTo(g.x1, g.y(job.pairs[q + 1])); drawn++; }
        bctx.strokeStyle = `rgba(${job.colour[0]},${job.colour[1]},${job.colour[2]},${(job.b + 0.5) / BUCKETS})`;
        bctx.stroke(p);
        bctx.getImageData(0, 0, 1, 1); // the canvas defers its drawing: rasterise this chunk now, so that the slice is timed
        if (q >= job.pairs.length) { k++; q = 0; }
      }
      if (!st.mark) { const c = canvas.getContext("2d"); c.drawImage(base, 0, 0); }
      canvas.dataset.drawn = drawn;
      if (k < jobs.length) requestAnimationFrame(() => { if (st.gen === gen) slice(SLICE_MS); });
      else { canvas.dataset.complete = "1"; if (onDone) onDone(); }
    };
    Object.assign(canvas.dataset, { lines: total, drawn: 0, complete: "", layer: st.sel.layer, heads: st.sel.heads.join(","),
      map: st.sel.map, hover: "" });
    slice(FIRST_MS);
  }

  function hover(st, mark) {
    const canvas = st.canvas, ctx = canvas.getContext("2d"), g = st.g;
    st.mark = mark;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, g.width, g.height);
    if (!mark) { ctx.drawImage(st.base, 0, 0); canvas.dataset.hover = ""; st.readout.textContent = "\u00a0"; return; }
    ctx.globalAlpha = 0.12; ctx.drawImage(st.base, 0, 0); ctx.globalAlpha = 1;
    const ms = maps(st), n = g.n;
    canvas.dataset.hoverLines = strokeLines(ctx, g, ms, st.view.min_weight, mark, st.scale);
    labels(ctx, g, st.view.tokens, mark, st.view.prompt_length);
    canvas.dataset.hover = `${mark.side}${mark.i}`;
    // the strongest partner of the hovered token, over the drawn maps
    let best = -1, at = -1;
    for (const m of ms) for (let k = 0; k < n; k++) {
      const w = mark.side === "q" ? m.data[mark.i * n + k] : m.data[k * n + mark.i];
      if (w > best) { best = w; at = k; }
    }
    const tok = st.view.tokens;
    st.readout.textContent = at < 0 ? "\u00a0" : mark.side === "q"
      ? `"${tok[mark.i]}" (${mark.i}) attends most to "${tok[at]}" (${at}): ${best.toPrecision(3)}`
      : `"${tok[mark.i]}" (${mark.i}) is attended to most by "${tok[at]}" (${at}): ${best.toPrecision(3)}`;
  }

  // ---- the heatmap and the grid ------------------------------------------------------------
  function shownMatrix(st) { // (T, T): the explanation, the one head, or the mean of the heads picked
    const ms = maps(st), n = st.view.tokens.length;
    if (!ms.length) return null;
    if (ms.length === 1) return { shape: [n, n], data: ms[0].data };
    const out = new Float32Array(n * n);
    for (const m of ms) for (let i = 0; i < n * n; i++) out[i] += m.data[i] / ms.length;
    return { shape: [n, n], data: out };
  }

  function thumbOf(data, n, t) { // attnkit.viz.head_view.thumbnails of one map
    if (t >= n) return data;
    const starts = Array.from({ length: t + 1 }, (_, i) => i < t ? Math.floor((i * n) / t) : n);
    const out = new Float32Array(t * t);
    for (let a = 0; a < t; a++) {
      for (let i = starts[a]; i < starts[a + 1]; i++) for (let b = 0; b < t; b++) {
        let s = 0; for (let j = starts[b]; j < starts[b + 1]; j++) s += data[i * n + j];
        out[a * t + b] += s;
      }
      for (let b = 0; b < t; b++) out[a * t + b] /= starts[a + 1] - starts[a];
    }
    return out;
  }

  function drawThumb(canvas, data, t) {
    canvas.width = t; canvas.height = t;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(t, t);
    for (let i = 0; i < t * t; i++) { const [R, G, B] = blue(data[i]); img.data[4 * i] = R; img.data[4 * i + 1] = G; img.data[4 * i + 2] = B; img.data[4 * i + 3] = 255; }
    ctx.putImageData(img, 0, 0);
  }

  function drawGrid(st, grid, pick) {
    const v = st.view, L = v.n_layers, nh = v.n_heads, n = v.tokens.length;
    const t = v.thumbs ? v.thumbs.shape[2] : Math.min(n, 64);
    grid.replaceChildren();
    grid.style.gridTemplateColumns = `auto repeat(${nh}, minmax(0, 72px))`;
    grid.append(st.el("span", { class: "hdr", text: "" }));
    for (let h = 0; h < nh; h++) grid.append(st.el("span", { class: "hdr", text: `head ${h}` }));
    for (let l = 0; l < L; l++) {
      grid.append(st.el("span", { class: "hdr", text: `L${l}` }));
      for (let h = 0; h < nh; h++) {
        const whole = mapOf(v, l, h);
        const c = st.el("canvas", { class: "thumb", "data-layer": l, "data-head": h, "data-whole": whole ? "1" : "0",
          title: `layer ${l}, head ${h}${whole ? "" : " (block means; a click asks for it)"}` });
        const data = v.thumbs ? v.thumbs.data.subarray((l * nh + h) * t * t, (l * nh + h + 1) * t * t) : thumbOf(whole, n, t);
        drawThumb(c, data, t);
        if (st.sel.map === "attention" && l === st.sel.layer && st.sel.heads.length === 1 && st.sel.heads[0] === h) c.classList.add("selected");
        c.addEventListener("click", () => pick(l, h));
        grid.append(c);
      }
    }
  }

  // ---- exports ---------------------------------------------------------------------------------
  function offer(st, kind, href, name) {
    Object.assign(st.link, { href, download: name, textContent: `download ${name}` });
    st.link.dataset.kind = kind; st.link.hidden = false;
  }

  // The head view as SVG: the labels, and the heaviest SVG_LINES lines of the current selection.
  function headViewSVG(st) {
    const g = st.g, v = st.view, n = g.n, ms = maps(st), found = [];
    ms.forEach((m, k) => { for (let i = 0; i < n * n; i++) { const w = m.data[i] * st.scale; if (w >= v.min_weight) found.push([w, k, i]); } });
    found.sort((a, b) => b[0] - a[0]);
    const kept = found.slice(0, SVG_LINES);
    const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${g.width}" height="${g.height}" font-family="monospace" font-size="${g.font}">`,
      `<rect width="100%" height="100%" fill="#fff"/>`,
      `<g stroke-width="${g.n > 64 ? 0.7 : 1.3}">`];
    for (const [w, k, idx] of kept) {
      const i = Math.floor(idx / n), j = idx % n;
      parts.push(`<line x1="${g.x0}" y1="${g.y(i)}" x2="${g.x1}" y2="${g.y(j)}" stroke="${ms[k].colour}" stroke-opacity="${w.toFixed(4)}"/>`);
    }
    parts.push("</g>");
    v.tokens.forEach((tok, i) => {
      const ink = i >= v.prompt_length ? GENERATED : "#1b2430";
      parts.push(`<text x="${g.label}" y="${g.y(i)}" text-anchor="end" dominant-baseline="middle" fill="${ink}">${esc(display(tok))}</text>`);
      parts.push(`<text x="${g.label + g.gap}" y="${g.y(i)}" dominant-baseline="middle" fill="${ink}">${esc(display(tok))}</text>`);
    });
    parts.push("</svg>");
    return { svg: parts.join("\n"), lines: kept.length, of: found.length };
  }

  const plain = (m) => m && { shape: m.shape, data: Array.from(m.data) }; // as attnkit predict --json writes a matrix
  function predictionJSON(st) {
    const v = st.view, layers = {}, heads = {};
    for (const [l, m] of Object.entries(v.layers)) layers[l] = plain(m);
    for (const [k, m] of Object.entries(v.heads || {})) heads[k] = plain(m);
    const explanations = {};
    for (const [k, m] of Object.entries(v.explanations || {})) explanations[k] = plain(m);
    return { run: st.ctx.key, input: st.ctx.panel.result ? st.ctx.panel.result.input : null, options: st.ctx.options,
      output: st.ctx.panel.result ? st.ctx.panel.result.output : null, kind: "self-attention", tokens: v.tokens, causal: v.causal,
      prompt_length: v.prompt_length, n_layers: v.n_layers, n_heads: v.n_heads, layers, heads, explanations,
      shown: { layer: st.sel.layer, heads: st.sel.heads, map: st.sel.map } };
  }

  // ---- the drawer ------------------------------------------------------------------------------
  window.attnkitViews = window.attnkitViews || {};
  window.attnkitViews["self-attention"] = (box, view, ctx) => {
    const t0 = performance.now(), el = ctx.el, panel = ctx.panel;
    delete box.dataset.paintedMs; delete box.dataset.completeMs;
    const names = Object.keys(view.explanations || {});
    const kept = panel.selfAttention || {}; // the selection survives a new answer (another layer asked for)
    const all = Array.from({ length: view.n_heads }, (_, h) => h);
    const sel = {
      layer: kept.layer != null && kept.layer < view.n_layers ? kept.layer : view.layer,
      heads: kept.heads ? kept.heads.filter((h) => h < view.n_heads) : all,
      map: kept.map && (kept.map === "attention" || names.includes(kept.map)) ? kept.map : "attention",
    };
    if (!held(view, sel.layer)) sel.layer = view.layer;
    panel.selfAttention = sel;
    const st = { view, sel, ctx, el, g: geometry(view.tokens), canvas: el("canvas", { class: "head-view" }) };
    st.readout = el("div", { class: "note sa-readout", text: "\u00a0" });
    st.link = el("a", { class: "export-link", hidden: "" });

    const layerSel = el("select", { class: "sa-layer" });
    for (let l = 0; l < view.n_layers; l++) layerSel.append(el("option", { value: l, text: `layer ${l}` + (held(view, l) ? "" : " ·") }));
    const mapSel = el("select", { class: "sa-map" }, el("option", { value: "attention", text: "raw attention" }),
      ...names.map((k) => el("option", { value: k, text: k })));
    const swatches = el("span", { class: "sa-heads" });
    const allBtn = el("button", { type: "button", class: "sa-all", text: "all heads" });
    all.forEach((h) => {
      const b = el("button", { type: "button", class: "sa-head", "data-head": h, text: String(h), title: `head ${h}: click to show or hide, double-click for it alone` });
      b.style.borderColor = colourOf(h); // CSSOM: the page's CSP allows no inline style attribute
      swatches.append(b);
    });
    const heat = el("canvas", { class: "heatmap sa-heatmap" }), grid = el("div", { class: "grid sa-grid" });
    const note = el("div", { class: "note sa-note" });

    const sync = () => {
      layerSel.value = sel.layer; mapSel.value = sel.map;
      const raw = sel.map === "attention";
      layerSel.disabled = !raw; allBtn.disabled = !raw;
      swatches.querySelectorAll(".sa-head").forEach((b) => {
        const on = raw && sel.heads.includes(Number(b.dataset.head));
        b.classList.toggle("on", on); b.classList.toggle("absent", raw && !mapOf(view, sel.layer, Number(b.dataset.head)));
        b.setAttribute("aria-pressed", String(on)); b.disabled = !raw;
        b.style.background = on ? colourOf(Number(b.dataset.head)) : "#fff"; b.style.color = on ? "#fff" : "#1b2430";
      });
      const whole = Object.keys(view.layers).length, missing = sel.heads.filter((h) => !mapOf(view, sel.layer, h));
      note.textContent = `${view.tokens.length} tokens · ${view.n_layers} layers × ${view.n_heads} heads` +
        (raw ? ` · layer ${sel.layer}, ${sel.heads.length === view.n_heads ? "all heads" : "heads " + sel.heads.join(", ")}` : ` · ${sel.map}`) +
        ` · ${st.lines} lines (weights ≥ ${view.min_weight})` + (st.canvas.dataset.complete ? "" : ", drawing the fainter ones…") + (view.causal ? " · causal" : "") +
        (view.prompt_length < view.tokens.length ? ` · tokens from ${view.prompt_length} on generated (brown)` : "") +
        (whole < view.n_layers ? ` · ${whole} of ${view.n_layers} layers held whole (· in the list: asked for when chosen; thumbnails are block means)` : "") +
        (raw && missing.length ? ` · heads ${missing.join(", ")} of this layer not held: double-click one to ask for it` : "");
    };
    const redraw = () => {
      const t = [performance.now()];
      drawHeadView(st, () => { box.dataset.completeMs = (performance.now() - t[0]).toFixed(1); sync(); }); t.push(performance.now());
      const M = shownMatrix(st);
      heat.hidden = !M;
      if (M) ctx.drawMatrix(heat, M, view.tokens, view.tokens);
      t.push(performance.now());
      drawGrid(st, grid, pick); t.push(performance.now());
      sync();
      box.dataset.phases = `lines ${(t[1] - t[0]).toFixed(0)} ms, heatmap ${(t[2] - t[1]).toFixed(0)} ms, grid ${(t[3] - t[2]).toFixed(0)} ms`;
      box.dataset.layer = sel.layer; box.dataset.map = sel.map; box.dataset.heads = sel.heads.join(",");
    };
    const ask = (l, h) => { sel.layer = l; note.textContent = `asking for layer ${l}${h == null ? "" : ", head " + h}…`;
      ctx.again({ focus: h == null ? { layer: l } : { layer: l, head: h } }); };
    const pick = (l, h) => {
      sel.map = "attention"; sel.heads = [h];
      if (!mapOf(view, l, h)) return ask(l, h);
      sel.layer = l; redraw();
    };
    layerSel.addEventListener("change", () => {
      const l = Number(layerSel.value);
      if (!held(view, l)) return ask(l, null);
      sel.layer = l; redraw();
    });
    mapSel.addEventListener("change", () => { sel.map = mapSel.value; redraw(); });
    allBtn.addEventListener("click", () => { sel.heads = all.slice(); redraw(); });
    swatches.addEventListener("click", (e) => {
      const b = e.target.closest(".sa-head"); if (!b) return;
      const h = Number(b.dataset.head);
      sel.heads = sel.heads.includes(h) ? sel.heads.filter((x) => x !== h) : [...sel.heads, h].sort((a, c) => a - c);
      redraw();
    });
    swatches.addEventListener("dblclick", (e) => { const b = e.target.closest(".sa-head"); if (b) pick(sel.layer, Number(b.dataset.head)); });
    st.canvas.addEventListener("mousemove", (e) => {
      const rect = st.canvas.getBoundingClientRect(), g = st.g;
      const x = (e.clientX - rect.left) * (st.canvas.width / rect.width), y = (e.clientY - rect.top) * (st.canvas.height / rect.height);
      const i = Math.floor((y - g.top) / g.row);
      const mark = i >= 0 && i < g.n ? { side: x < g.width / 2 ? "q" : "k", i } : null;
      const key = mark ? `${mark.side}${mark.i}` : "";
      if (key !== st.canvas.dataset.hover) hover(st, mark);
    });
    st.canvas.addEventListener("mouseleave", () => hover(st, null));

    const exports = el("div", { class: "exports" }, "export: ",
      el("button", { type: "button", class: "export-png", text: "PNG", onclick: () => offer(st, "png", st.canvas.toDataURL("image/png"), `${ctx.key}-head-view.png`) }),
      el("button", { type: "button", class: "export-svg", text: "SVG", onclick: () => {
        const { svg, lines, of } = headViewSVG(st);
        offer(st, "svg", URL.createObjectURL(new Blob([svg], { type: "image/svg+xml" })), `${ctx.key}-head-view.svg`);
        st.link.dataset.lines = lines; st.link.dataset.of = of;
      } }),
      el("button", { type: "button", class: "export-json", text: "JSON", onclick: () => offer(st, "json",
        URL.createObjectURL(new Blob([JSON.stringify(predictionJSON(st))], { type: "application/json" })), `${ctx.key}-self-attention.json`) }),
      st.link);
    box.append(el("div", { class: "view sa-controls" }, el("label", {}, "map ", mapSel), el("label", {}, "", layerSel), allBtn, swatches),
      note, el("div", { class: "sa-figures" }, el("div", { class: "matrix-wrap sa-lines" }, st.canvas), el("div", { class: "matrix-wrap" }, heat)),
      ...(ctx.legend ? [ctx.legend(0, 1, "heatmap: weight (colours stop at 1)")] : []),
      st.readout, exports, el("div", { class: "note", text: "layers × heads (a click shows one head of a layer)" }), grid);
    box.classList.add("self-attention");
    redraw();
    st.ctx.panel.exportSelfAttention = { svg: () => headViewSVG(st), json: () => predictionJSON(st) };
    const drawn = performance.now() - t0;
    frames().then(() => { box.dataset.drawMs = drawn.toFixed(1); box.dataset.paintedMs = (performance.now() - t0).toFixed(1); });
  };
})();
