// attnkit explore: a recording's attention over time, drawn on one <canvas> from the API's arrays
// (the "speech" view of a predict answer), like attnkit.viz.speech:
// - the log-mel spectrogram on top (time in seconds on the x axis, mel filters upwards, magma);
// - a spoken word (plot_frame_attention): the pooling weight of each encoder position as bars
//   under it, and the last layer's self-attention between positions (rows = query positions);
// - a spoken date (plot_spectrogram_alignment): one row per output token, its alignment weights
//   over time (white 0 to black 1).
// Hovering a row (on the canvas, or an output token above it) highlights it: its outline, and its
// weights drawn as a line over the spectrogram.
"use strict";

const exploreSpeech = (() => {
  const el = (tag, attrs = {}, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null) continue;
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    for (const kid of kids) e.append(kid);
    return e;
  };
  const clamp01 = (t) => Math.max(0, Math.min(1, t));
  // matplotlib's "magma", sampled at 0, 1/4, 1/2, 3/4 and 1, linear between
  const MAGMA = [[0, 0, 4], [81, 18, 124], [183, 55, 121], [252, 137, 97], [252, 253, 191]];
  const magma = (t) => {
    const x = clamp01(t) * (MAGMA.length - 1), i = Math.min(MAGMA.length - 2, Math.floor(x)), f = x - i;
    return MAGMA[i].map((c, k) => Math.round(c + (MAGMA[i + 1][k] - c) * f));
  };
  const viridisish = (t) => { // dark blue to yellow (the picture's viridis), t in [0, 1]
    const a = [68, 1, 84], m = [33, 145, 140], b = [253, 231, 37], u = clamp01(t);
    return u < 0.5 ? a.map((c, k) => Math.round(c + (m[k] - c) * u * 2)) : m.map((c, k) => Math.round(c + (b[k] - c) * (u - 0.5) * 2));
  };
  const greys = (t) => { const g = Math.round(255 * (1 - clamp01(t))); return [g, g, g]; };
  const row = (m, r) => m.data.slice(r * m.shape[1], (r + 1) * m.shape[1]);
  const maxOf = (xs) => xs.reduce((a, b) => Math.max(a, b), 0);
  const display = (t) => t === " " ? "\u2423" : t;

  // The geometry of the picture: x of a time in seconds, and the bands from the top.
  function geometry(sp, width) {
    const left = 48, right = 8, top = 6, spec = 110, gap = 8;
    const rows = sp.weights ? sp.weights.shape[0] : sp.self ? sp.self.shape[0] : 0;
    const positions = sp.weights ? sp.weights.shape[1] : sp.pool ? sp.pool.shape[0] : 0;
    const span = Math.max(sp.seconds, positions * sp.position_seconds);
    const plot = width - left - right, x = (s) => left + (s / span) * plot;
    let y = top + spec + gap;
    const pool = sp.pool ? { top: y, height: 50 } : null;
    if (pool) y += pool.height + gap;
    const rowHeight = sp.weights ? 14 : rows ? Math.max(2, Math.min(8, Math.floor(160 / rows))) : 0;
    const grid = rows ? { top: y, height: rows * rowHeight, rowHeight, rows } : null;
    if (grid) y += grid.height;
    return { left, right, top, spec, plot, span, x, pool, grid, positions, height: y + 30, width };
  }

  function drawSpectrogram(ctx, sp, g) {
    const [T, M] = sp.frames.shape, f = sp.frames.data;
    let lo = Infinity, hi = -Infinity;
    for (const v of f) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const off = document.createElement("canvas"); off.width = T; off.height = M;
    const octx = off.getContext("2d"), img = octx.createImageData(T, M);
    for (let t = 0; t < T; t++) for (let m = 0; m < M; m++) { // lowest filter at the bottom
      const [R, G, B] = magma(hi > lo ? (f[t * M + m] - lo) / (hi - lo) : 0);
      img.data.set([R, G, B, 255], 4 * ((M - 1 - m) * T + t));
    }
    octx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, g.x(0), g.top, g.x(T * sp.frame_seconds) - g.x(0), g.spec);
  }

  // Row `r`'s weights over time (the hovered output token or query position), a line over the spectrogram.
  function drawTrace(ctx, sp, g, weights) {
    const peak = maxOf(weights) || 1;
    ctx.strokeStyle = "#4de1ff"; ctx.lineWidth = 2; ctx.beginPath();
    weights.forEach((w, j) => {
      const x = g.x((j + 0.5) * sp.position_seconds), y = g.top + g.spec - (w / peak) * (g.spec - 4);
      if (j === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }

  function draw(canvas, sp, hovered = null) {
    const g = geometry(sp, canvas.width);
    canvas.height = g.height;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    drawSpectrogram(ctx, sp, g);
    ctx.fillStyle = "#5b6775"; ctx.font = "11px ui-monospace, monospace"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
    ctx.fillText("mel", g.left - 4, g.top + g.spec / 2);
    const w = sp.position_seconds;
    if (g.pool) {
      const pool = sp.pool.data, peak = maxOf(pool) * 1.1 || 1;
      ctx.fillStyle = "#1f77b4";
      pool.forEach((p, j) => { const h = (p / peak) * g.pool.height; ctx.fillRect(g.x(j * w), g.pool.top + g.pool.height - h, Math.max(1, g.x(w) - g.x(0) - 1), h); });
      ctx.fillStyle = "#5b6775"; ctx.fillText("pool", g.left - 4, g.pool.top + g.pool.height / 2);
    }
    if (g.grid) {
      const m = sp.weights || sp.self, colour = sp.weights ? greys : viridisish;
      const peak = sp.weights ? 1 : maxOf(m.data) || 1; // alignments are probabilities in [0, 1]; self-attention up to its max
      for (let r = 0; r < g.grid.rows; r++) for (let j = 0; j < m.shape[1]; j++) {
        const [R, G, B] = colour(m.data[r * m.shape[1] + j] / peak);
        ctx.fillStyle = `rgb(${R},${G},${B})`;
        ctx.fillRect(g.x(j * w), g.grid.top + r * g.grid.rowHeight, Math.ceil(g.x(w) - g.x(0)), g.grid.rowHeight);
      }
      ctx.fillStyle = "#1b2430";
      if (sp.tokens) sp.tokens.forEach((t, r) => ctx.fillText(display(t), g.left - 4, g.grid.top + (r + 0.5) * g.grid.rowHeight));
      else ctx.fillText("query", g.left - 4, g.grid.top + g.grid.height / 2);
      if (hovered != null) {
        ctx.strokeStyle = "#e69500"; ctx.lineWidth = 2;
        ctx.strokeRect(g.left - 1, g.grid.top + hovered * g.grid.rowHeight, g.plot + 2, g.grid.rowHeight);
        drawTrace(ctx, sp, g, Array.from(row(m, hovered)));
      }
    }
    // the time axis, in seconds
    const axis = g.height - 24, step = [0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5].find((s) => g.span / s <= 8) || 10;
    ctx.strokeStyle = "#5b6775"; ctx.lineWidth = 1; ctx.beginPath(); ctx.moveTo(g.left, axis); ctx.lineTo(g.left + g.plot, axis); ctx.stroke();
    ctx.textAlign = "center"; ctx.textBaseline = "top"; ctx.fillStyle = "#5b6775";
    for (let s = 0; s <= g.span + 1e-9; s += step) {
      ctx.beginPath(); ctx.moveTo(g.x(s), axis); ctx.lineTo(g.x(s), axis + 4); ctx.stroke();
      ctx.fillText(s.toFixed(step < 0.1 ? 2 : step < 1 ? 1 : 0), g.x(s), axis + 5);
    }
    ctx.textAlign = "right"; ctx.fillText("time (s)", g.left + g.plot, axis + 14);
    Object.assign(canvas.dataset, { row: hovered == null ? "" : String(hovered), rowsTop: g.grid ? g.grid.top : "",
      rowHeight: g.grid ? g.grid.rowHeight : "", rows: g.grid ? g.grid.rows : 0, left: g.left, seconds: g.span });
    return g;
  }

  // The speech view of a predict answer into `box`; returns its canvas.
  function renderSpeech(box, sp, name = "speech") {
    const canvas = el("canvas", { class: "speech" });
    canvas.width = Math.max(420, Math.min(900, 48 + 8 + Math.round(sp.seconds * 400)));
    const tokens = el("div", { class: "tokens speech-tokens" });
    const readout = el("div", { class: "note speech-readout", text: "\u00a0" });
    let g = null;
    const hover = (r) => {
      g = draw(canvas, sp, r);
      tokens.querySelectorAll(".tok").forEach((t, i) => t.classList.toggle("hover", i === r));
      const m = sp.weights || sp.self;
      if (r == null || !m) { readout.textContent = "\u00a0"; return; }
      const ws = Array.from(row(m, r)), j = ws.indexOf(maxOf(ws));
      readout.textContent = `${sp.tokens ? `output ${r} "${sp.tokens[r]}"` : `query position ${r} (${(r * sp.position_seconds).toFixed(2)} s)`}: ` +
        `strongest at ${((j + 0.5) * sp.position_seconds).toFixed(2)} s (weight ${ws[j].toPrecision(3)})`;
    };
    if (sp.tokens) {
      tokens.append(el("span", { class: "label", text: "output" }));
      sp.tokens.forEach((t, r) => tokens.append(el("span", { class: "tok out", "data-index": r, text: display(t),
        onmouseenter: () => hover(r), onmouseleave: () => hover(null) })));
    }
    canvas.addEventListener("mousemove", (event) => {
      if (!g || !g.grid) return;
      const rect = canvas.getBoundingClientRect(), y = (event.clientY - rect.top) * (canvas.height / rect.height);
      const r = Math.floor((y - g.grid.top) / g.grid.rowHeight);
      const inside = r >= 0 && r < g.grid.rows;
      if ((inside ? String(r) : "") !== canvas.dataset.row) hover(inside ? r : null);
    });
    canvas.addEventListener("mouseleave", () => hover(null));
    const caption = sp.weights
      ? "spectrogram (time in seconds); under it each output token's alignment over time (white 0, black 1); hover a token"
      : "spectrogram (time in seconds); under it the attention pooling weight of each encoder position" +
        (sp.self ? ", then the last layer's self-attention (rows: query positions, scaled to its max); hover a row" : "");
    const png = el("a", { class: "picture-png", href: "#", download: `${name}-speech.png`, text: "PNG",
      onclick: (event) => { event.currentTarget.href = canvas.toDataURL("image/png"); } });
    // per-head alignments (Nh, To, Tk): a select between their mean (sp.weights, as sent) and each head
    let heads = null;
    if (sp.heads && sp.weights) {
      const mean = sp.weights, [nh, rows, cols] = sp.heads.shape;
      heads = el("select", { class: "speech-head", onchange: () => {
        const h = heads.value;
        sp.weights = h === "mean" ? mean : { shape: [rows, cols], data: sp.heads.data.subarray(Number(h) * rows * cols, (Number(h) + 1) * rows * cols) };
        canvas.dataset.head = h; g = draw(canvas, sp, null);
      } }, el("option", { value: "mean", text: "mean of heads" }));
      for (let h = 0; h < nh; h++) heads.append(el("option", { value: h, text: `head ${h}` }));
      canvas.dataset.head = "mean";
    }
    const legends = el("div", { class: "legends" });
    if (window.exploreViews) { // colour scales: the spectrogram's, and the alignment's or the self-attention's
      legends.append(exploreViews.legend(magma, 0, 1, "log-mel energy (the recording's min to max)"));
      if (sp.weights) legends.append(exploreViews.legend(greys, 0, 1, "alignment weight"));
      else if (sp.self) legends.append(exploreViews.legend(viridisish, 0, maxOf(sp.self.data) || 1, "self-attention weight"));
    }
    box.append(el("div", { class: "figure" }, ...(heads ? [el("label", { class: "note" }, "alignment ", heads)] : []), tokens, canvas, legends,
      readout, el("div", { class: "note", text: caption }), png));
    g = draw(canvas, sp, null);
    return canvas;
  }

  return { renderSpeech, draw, magma };
})();

window.exploreSpeech = exploreSpeech;
