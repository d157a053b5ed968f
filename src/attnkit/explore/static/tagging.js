// attnkit explore: the drawer of a tagged sentence (kind "tagging", served as /views/tagging.js;
// the JSON is attnkit.viz.tagging.tagging_json): a table of the words with their tags (and the
// probability of each, and whether the word was unseen in training), and, for a model with
// self-attention, the word each word attended to most and the heatmap of one layer's map (the
// mean of its heads or one head; rows: the word tagged, columns: the words attended to).
"use strict";

(() => {
  window.attnkitViews = window.attnkitViews || {};
  window.attnkitViews.tagging = (box, view, ctx) => {
    const el = ctx.el, words = view.words, n = words.length, targets = Object.keys(view.tags);
    const W = view.weights ? { shape: view.weights.shape, data: Float32Array.from(view.weights.data) } : null;
    const [L, H] = W ? W.shape : [0, 0];
    const sel = { layer: W ? ((view.layer % L) + L) % L : 0, head: "mean" };
    const map = () => { // (T, T) of the selected layer and head(s)
      const out = new Float32Array(n * n), size = n * n;
      const heads = sel.head === "mean" ? [...Array(H).keys()] : [Number(sel.head)];
      for (const h of heads) {
        const off = (sel.layer * H + h) * size;
        for (let i = 0; i < size; i++) out[i] += W.data[off + i] / heads.length;
      }
      return { shape: [n, n], data: out };
    };
    const table = el("table", { class: "tagging-table" });
    const heat = el("canvas", { class: "heatmap tagging-heatmap" });
    const fill = () => {
      const m = W ? map() : null;
      table.replaceChildren(el("tr", {}, el("th", { text: "word" }), ...targets.map((t) => el("th", { text: t })),
        ...(m ? [el("th", { text: "attends most to" })] : [])));
      words.forEach((w, i) => {
        let best = -1;
        if (m) for (let j = 0; j < n; j++) if (j !== i && (best < 0 || m.data[i * n + j] > m.data[i * n + best])) best = j;
        const p = (t) => view.probabilities[t] ? ` (${view.probabilities[t][i].toFixed(2)})` : "";
        table.append(el("tr", { class: view.unseen[i] ? "unseen" : "" },
          el("td", { text: w + (view.unseen[i] ? " *" : "") }), ...targets.map((t) => el("td", { text: view.tags[t][i] + p(t) })),
          ...(m ? [el("td", { text: best >= 0 ? `${words[best]} (${m.data[i * n + best].toFixed(2)})` : "" })] : [])));
      });
      if (m) ctx.drawMatrix(heat, m, words.map((w, i) => `${w} ${targets.map((t) => view.tags[t][i]).join("/")}`), words);
    };
    const controls = el("div", { class: "view" });
    if (W) {
      const layerSel = el("select", { class: "tagging-layer", onchange: () => { sel.layer = Number(layerSel.value); fill(); } });
      for (let l = 0; l < L; l++) layerSel.append(el("option", { value: l, text: `layer ${l}` }));
      layerSel.value = sel.layer;
      const headSel = el("select", { class: "tagging-head", onchange: () => { sel.head = headSel.value; fill(); } },
        el("option", { value: "mean", text: "mean of heads" }), ...[...Array(H).keys()].map((h) => el("option", { value: h, text: `head ${h}` })));
      controls.append(el("label", {}, "layer ", layerSel), " ", el("label", {}, "heads ", headSel));
    }
    box.append(el("div", { class: "note", text: `${n} words · * unseen in training` + (W ? ` · ${L} layers × ${H} heads` : " · no self-attention") }),
      controls, table);
    if (W) box.append(heat);
    fill();
  };
})();
