"""Explanations beyond raw attention for every stack of :class:`~attnkit.models.transformer.EncoderLayer`
(the text Transformer's encoder, the Vision Transformer, imported BERT / GPT-2 / ViT / Marian) and for
the encoder-decoder :class:`~attnkit.models.transformer.TransformerSeq2Seq`, selectable by name in
:data:`EXPLANATIONS`: ``attention``, ``rollout``, ``flow``, ``norm``, ``alti``, ``grad``.

The layers are re-run here from their own modules and parameters (the attention module, the
sublayers' LayerNorms, the feed-forward network; see :func:`encoder_trace`), which gives exactly the
forward pass of :meth:`EncoderLayer.forward` and keeps what each method needs: every block's
input, attention weights (with gradients for ``grad``) and value vectors through the output
projection. The layers' own code is not changed.

Two shapes of use:

- self-attention, :func:`explain` on :class:`EncoderInputs` (any stack: make the inputs with
  :func:`transformer_encoder_inputs`, :func:`vit_encoder_inputs`, or by hand from a model's layers,
  embedding output and mask): maps (B, T, T), row i the position explained, column j the input;
- source attribution of an encoder-decoder, :func:`explain_translation`: maps (B, To, Tk), row t
  the step that predicts target token t (teacher forcing), column j the source token.

Each returns an :class:`Explanation`: ``layers`` (B, L, Tq, Tk) per layer (attention, norm, alti,
grad), ``heads`` (B, L, Nh, Tq, Tk) per head (attention, norm), ``total`` (B, Tq, Tk) over all
layers (rollout, flow, alti, grad). Padded positions are exactly 0.

The rule of each method (the formulas are in :mod:`attnkit.functional.explain`):

- ``attention``: the raw weights; for the encoder-decoder, each decoder layer's cross-attention.
- ``rollout`` [Abnar20]: self-attention: R = A_L ... A_1 with A = rownorm(0.5 W + 0.5 I), W the
  head mean. Encoder-decoder: [Chefer21b] Sec. 3's rules (Eqs. 6-10) with Ā the head mean of the
  raw weights instead of the gradient-weighted map: R^{ss} ← R^{ss} + Ā R^{ss} per encoder layer;
  per decoder layer R^{qq} ← R^{qq} + Ā R^{qq} and R^{qs} ← R^{qs} + Ā R^{qs} (self-attention),
  then R^{qs} ← R^{qs} + (R̄^{qq})^T Ā R̄^{ss} (cross-attention, Eq. 10); ``total`` = R^{qs}.
- ``flow`` [Abnar20]: max-flow in the layered graph of residual-augmented weights; for the
  encoder-decoder the graph goes on through every decoder layer: its self-attention (0.5 W + 0.5 I),
  then its cross-attention, whose output node t receives 0.5 from its own residual node and
  0.5 W^x[t, j] from encoder output token j. Costly: see :func:`attnkit.functional.attention_flow`.
- ``norm`` [Kobayashi20]: ‖α f(x)‖ per head and ‖sum_h α^h f^h(x)‖ per layer (cross-attention
  for the encoder-decoder).
- ``alti`` [Ferrando22]: per layer the contributions of the attention block (attention, residual,
  LayerNorm for post-LN), composed by matrix products. Encoder-decoder: ALTI+ [Ferrando22b]:
  each decoder token's contributions over [source tokens; target prefix tokens], updated by the
  self-attention block (C^s mixes the rows) and by the cross-attention block (row t becomes
  c_res M_t + sum_j c_j [R^{enc}_j; 0]), starting from [0; I]; ``total`` is the source part.
- ``grad`` [Chefer21b]: Ā = E_h[(∇A ⊙ A)^+] and the rules of ``rollout`` with that Ā
  (self-attention: R = I, R ← R + Ā R). The scalar: :attr:`EncoderInputs.target` (a class logit),
  for the encoder-decoder the log-probability of target token t, one backward pass per t.

Differences from the papers:
    ALTI and ALTI+ leave the feed-forward sublayer out as the papers do, and the encoder's final
    LayerNorm (pre-LN models) which acts per token. ALTI+'s cross-attention block is decomposed
    as in the authors' description (residual as one input of the block); the authors' code for
    fairseq is not followed line by line. For ``flow`` on the encoder-decoder the graph is our
    extension (the paper defines flow on one self-attention stack). ``rollout`` of the
    encoder-decoder is Chefer's rules with the raw head mean (our choice: [Abnar20] define
    rollout on one self-attention stack), not Abnar's 0.5 W + 0.5 I. The cross-attention rule
    keeps the paper's transpose, (R̄^{qq})^T, so with a causal decoder row t also takes in the
    cross-attention of the later target positions that attend to t. ``grad`` of the
    encoder-decoder explains each target token by its own backward pass (row t from log p(y_t)),
    which the paper does for one output at a time.

References:
    [Abnar20] S. Abnar, W. Zuidema. Quantifying Attention Flow in Transformers. ACL 2020.
    arXiv:2005.00928.
    [Kobayashi20] G. Kobayashi, T. Kuribayashi, S. Yokoi, K. Inui. Attention is Not Only a Weight:
    Analyzing Transformers with Vector Norms. EMNLP 2020. arXiv:2004.10102.
    [Ferrando22] J. Ferrando, G. I. Gállego, M. R. Costa-jussà. Measuring the Mixing of Contextual
    Information in the Transformer. EMNLP 2022. arXiv:2203.04212.
    [Ferrando22b] J. Ferrando, G. I. Gállego, B. Alastruey, C. Escolano, M. R. Costa-jussà. Towards
    Opening the Black Box of Neural Machine Translation: Source and Target Contributions and
    the Model's Inner Workings. EMNLP 2022. arXiv:2205.11631.
    [Chefer21b] H. Chefer, S. Gur, L. Wolf. Generic Attention-model Explainability for Interpreting
    Bi-Modal and Encoder-Decoder Transformers. ICCV 2021. arXiv:2103.15679.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence, cast

import numpy as np
import torch
from torch import Tensor, nn

from ..functional import explain as fx
from ..functional import padding_mask
from ..nn.multihead import KVCache, MultiHeadAttention
from ..registry import Registry
from .transformer import EncoderLayer, TransformerSeq2Seq, _DecoderLayer, _Sublayer
from .vit import VisionTransformer

__all__ = [
    "EXPLANATIONS",
    "Explainer",
    "Explanation",
    "EncoderInputs",
    "Block",
    "explain",
    "explain_translation",
    "self_attention_explanations",
    "encoder_trace",
    "transformer_encoder_inputs",
    "vit_encoder_inputs",
    "image_explanation",
]


class EncoderInputs(NamedTuple):
    """What any stack of :class:`EncoderLayer` needs to be explained.

    Attributes:
        layers: the encoder layers, first first.
        x: the first layer's input (the embedding output, positions added), (B, T, D).
        mask: (B, T) bool, True = real token; None = no padding. Causal layers mask themselves.
        final_norm: the LayerNorm after the last layer (pre-LN models), or None.
        bias: additive score bias of every layer (ALiBi), broadcastable to (B, Nh, T, T), or None.
        target: for ``grad``: the final hidden states (B, T, D) (after `final_norm`) -> (B,) the
            scalar to explain per example (e.g. a class logit); None where there is none.
    """

    layers: Sequence[EncoderLayer]
    x: Tensor
    mask: Tensor | None = None
    final_norm: nn.Module | None = None
    bias: Tensor | None = None
    target: Callable[[Tensor], Tensor] | None = None


class Explanation(NamedTuple):
    """One explanation's maps (Tq = Tk = T for self-attention; To, Tk for source attribution)."""

    layers: Tensor | None  # (B, L, Tq, Tk) per layer, or None
    heads: Tensor | None  # (B, L, Nh, Tq, Tk) per head, or None
    total: Tensor | None  # (B, Tq, Tk) aggregated over the layers, or None


class Block(NamedTuple):
    """One attention block as run: what the explanations read."""

    residual: Tensor  # (B, Tq, D) the block's input, added back by the residual connection
    weights: Tensor  # (B, Nh, Tq, Tk) attention weights
    transformed: Tensor  # (B, Nh, Tk, D) f^h(x_j) = (x_j W_V^h + b_V^h) W_O^h
    output: Tensor  # (B, Tq, D) after the residual (and the LayerNorm of post-LN blocks)
    attention: MultiHeadAttention
    sublayer: _Sublayer


@dataclass(frozen=True)
class Explainer:
    """One registered explanation: its self-attention and encoder-decoder forms.

    Attributes:
        encoder: ``(inputs: EncoderInputs, rows) -> Explanation`` over (B, T, T).
        seq2seq: ``(trace: _Seq2SeqTrace, rows) -> Explanation`` over (B, To, Tk).
        per_layer: the explanation has ``layers`` maps (a layer to choose).
        aggregated: the explanation has a ``total`` map over all layers.
    """

    encoder: Callable[..., Explanation]
    seq2seq: Callable[..., Explanation]
    per_layer: bool
    aggregated: bool


EXPLANATIONS: Registry[Explainer] = Registry("explanation")


# --- running the layers ----------------------------------------------------------------------
def _transformed(attention: MultiHeadAttention, values: Tensor) -> Tensor:
    """f^h(x_j): values (B, Nkv, Tk, Dh) of every head through its slice of W^O, (B, Nh, Tk, D)."""
    values = values.repeat_interleave(attention.n_heads // attention.num_kv_heads, dim=1)  # (B, Nh, Tk, Dh)
    w_o = attention.out_proj.weight.view(attention.d_model, attention.n_heads, attention.head_dim)  # (D, Nh, Dh)
    return torch.einsum("bhkd,ehd->bhke", values, w_o)


def _block(
    attention: MultiHeadAttention,
    sublayer: _Sublayer,
    x: Tensor,
    *,
    mask: Tensor | None,
    bias: Tensor | None = None,
    memory: KVCache | None = None,
) -> Block:
    """One residual attention sublayer, as :class:`_Sublayer` runs it (self-attention without
    `memory`, cross-attention over `memory`)."""
    h = sublayer.norm(x) if sublayer.norm_first else x
    out = attention(h, mask=mask, bias=bias, memory=memory, need_weights=True)
    y = x + out.output
    values = (memory if memory is not None else attention.project_memory(h)).values
    assert out.weights is not None
    output = y if sublayer.norm_first else sublayer.norm(y)
    return Block(x, out.weights, _transformed(attention, values), output, attention, sublayer)


def encoder_trace(inputs: EncoderInputs) -> tuple[list[Block], Tensor]:
    """Run the layers of `inputs` (in the caller's grad mode), keeping every attention block.

    Returns:
        The self-attention blocks, first layer first, and the last layer's output (B, T, D)
        (before `final_norm`), equal to running ``layer(x, mask, bias, need_weights)`` in turn.
    """
    x, blocks = inputs.x, []
    for layer in inputs.layers:
        block = _block(layer.self_attn, layer.sub1, x, mask=inputs.mask, bias=inputs.bias)
        x, _ = layer.sub2(block.output, lambda h, layer=layer: (layer.ff(h), None))
        blocks.append(block)
    return blocks, x


class _Seq2SeqTrace(NamedTuple):
    encoder: list[Block]
    decoder_self: list[Block]
    cross: list[Block]
    src_mask: Tensor  # (B, Tk)
    tgt_mask: Tensor  # (B, To)
    logprobs: Tensor  # (B, To, V)
    tgt_out: Tensor  # (B, To)


def _seq2seq_trace(model: TransformerSeq2Seq, src: Tensor, src_lengths: Tensor, tgt_in: Tensor, tgt_out: Tensor):
    inputs = transformer_encoder_inputs(model, src, src_lengths)
    enc_blocks, x = encoder_trace(inputs)
    memory = model.enc_norm(x)
    src_mask = cast(Tensor, inputs.mask)
    y = model._embed(model.tgt_embedding, tgt_in, 0)
    self_bias = model._alibi(tgt_in.shape[1], tgt_in.shape[1], tgt_in.device)
    self_blocks, cross_blocks = [], []
    for layer in model.decoder:
        layer = cast(_DecoderLayer, layer)
        b1 = _block(layer.self_attn, layer.sub1, y, mask=None, bias=self_bias)  # causal by the module
        kv = layer.cross_attn.project_memory(memory)
        b2 = _block(layer.cross_attn, layer.sub2, b1.output, mask=src_mask, memory=kv)
        y, _ = layer.sub3(b2.output, lambda h, layer=layer: (layer.ff(h), None))
        self_blocks.append(b1)
        cross_blocks.append(b2)
    logprobs = torch.log_softmax(model.generator(model.dec_norm(y)), dim=-1)
    tgt_mask = tgt_out.ne(cast(int, model.tgt_embedding.padding_idx))
    return _Seq2SeqTrace(enc_blocks, self_blocks, cross_blocks, src_mask, tgt_mask, logprobs, tgt_out)


# --- adapters ----------------------------------------------------------------------------------
def _eval_mode(model: nn.Module, fn: Callable[[], Tensor]) -> Tensor:
    """`fn()` with `model` in eval mode (no embedding dropout), its mode restored after."""
    was = model.training
    model.eval()
    try:
        return fn()
    finally:
        model.train(was)


def transformer_encoder_inputs(model: TransformerSeq2Seq, src: Tensor, src_lengths: Tensor) -> EncoderInputs:
    """The encoder of a :class:`TransformerSeq2Seq` on src (B, Tk) of lengths (B,), no target."""
    mask = padding_mask(src_lengths.to(src.device), src.shape[1])
    x = _eval_mode(model, lambda: model._embed(model.src_embedding, src, 0))
    bias = model._alibi(src.shape[1], src.shape[1], src.device)
    return EncoderInputs(list(cast(Sequence[EncoderLayer], model.encoder)), x, mask, model.enc_norm, bias)


def vit_encoder_inputs(
    model: VisionTransformer, images: Tensor, *, target_class: Tensor | None = None
) -> EncoderInputs:
    """The encoder of a :class:`VisionTransformer` on images (B, C, H, W); the target of ``grad``
    is the logit of `target_class` (B,) (default: the predicted class). Token 0 is the class
    token, then the patches row-major."""

    def embed() -> Tensor:
        x = model.patch_embedding(images).flatten(2).transpose(1, 2)  # (B, N, D)
        x = torch.cat([model.class_token.expand(x.shape[0], -1, -1), x], dim=1)  # (B, T, D)
        return model.dropout(x + model.positions)

    x = _eval_mode(model, embed)
    if target_class is None:
        with torch.no_grad():
            target_class = _eval_mode(model, lambda: model(images).logits).argmax(-1)
    rows = torch.arange(x.shape[0], device=x.device)
    chosen = target_class.to(x.device)
    head = model.head
    return EncoderInputs(
        list(cast(Sequence[EncoderLayer], model.layers)),
        x,
        None,
        model.norm,
        None,
        # h is already layer-normed (final_norm); a head-less ViT has no class logit to explain
        None if head is None else (lambda h: head(h[:, 0])[rows, chosen]),
    )


# --- self-attention forms ----------------------------------------------------------------------
def _heads(blocks: Sequence[Block], mask: Tensor | None, key_mask: Tensor | None = None) -> Tensor:
    stacked = torch.stack([b.weights for b in blocks], dim=1)  # (B, L, Nh, Tq, Tk)
    return fx.masked_rows(stacked, mask, mask if key_mask is None else key_mask)


def _enc_attention(inputs: EncoderInputs, rows=None) -> Explanation:
    heads = _heads(encoder_trace(inputs)[0], inputs.mask)
    return Explanation(heads.mean(2), heads, None)


def _enc_rollout(inputs: EncoderInputs, rows=None) -> Explanation:
    blocks, _ = encoder_trace(inputs)
    maps = [fx.residual_augmented(b.weights.mean(1), inputs.mask) for b in blocks]
    return Explanation(None, None, fx.compose(maps))


def _enc_flow(inputs: EncoderInputs, rows=None) -> Explanation:
    blocks, _ = encoder_trace(inputs)
    return Explanation(None, None, fx.attention_flow([b.weights.mean(1) for b in blocks], inputs.mask, rows=rows))


def _enc_norm(inputs: EncoderInputs, rows=None) -> Explanation:
    blocks, _ = encoder_trace(inputs)
    heads = torch.stack([fx.value_norms(b.weights, b.transformed) for b in blocks], dim=1)
    layers = torch.stack([fx.value_norms(b.weights, b.transformed, per_head=False) for b in blocks], dim=1)
    mask = inputs.mask
    return Explanation(fx.masked_rows(layers, mask, mask), fx.masked_rows(heads, mask, mask), None)


def _alti_block(block: Block, query_mask: Tensor | None, key_mask: Tensor | None, cross: bool) -> Tensor:
    ln = None
    if not block.sublayer.norm_first:
        norm = block.sublayer.norm
        ln = (norm.weight, norm.bias, norm.eps)
    return fx.alti_contributions(
        block.weights,
        block.transformed,
        block.residual,
        residual_column=cross,
        output_bias=block.attention.out_proj.bias,
        layer_norm=ln,
        query_mask=query_mask,
        key_mask=key_mask,
    )


def _enc_alti(inputs: EncoderInputs, rows=None) -> Explanation:
    blocks, _ = encoder_trace(inputs)
    layers = [_alti_block(b, inputs.mask, inputs.mask, False) for b in blocks]
    return Explanation(torch.stack(layers, dim=1), None, fx.masked_rows(fx.compose(layers), inputs.mask, inputs.mask))


def _enc_grad(inputs: EncoderInputs, rows=None) -> Explanation:
    if inputs.target is None:
        raise ValueError("grad explains a scalar: give EncoderInputs.target, e.g. lambda h: classifier(h[:, 0])[:, c]")
    with torch.enable_grad():
        x = inputs.x.detach().requires_grad_(True)
        blocks, out = encoder_trace(inputs._replace(x=x))
        final = inputs.final_norm(out) if inputs.final_norm is not None else out
        weights = [b.weights for b in blocks]
        grads = torch.autograd.grad(inputs.target(final).sum(), weights, allow_unused=True)
    abars = [fx.grad_weighted(w.detach(), _zero_if_none(g, w)) for w, g in zip(weights, grads)]
    b, t = x.shape[:2]
    relevance = torch.eye(t, dtype=x.dtype, device=x.device).expand(b, t, t)
    for abar in abars:
        relevance = fx.relevance_self_update(relevance, abar)
    mask = inputs.mask
    return Explanation(fx.masked_rows(torch.stack(abars, 1), mask, mask), None, fx.masked_rows(relevance, mask, mask))


def _zero_if_none(grad: Tensor | None, like: Tensor) -> Tensor:
    return torch.zeros_like(like) if grad is None else grad


# --- encoder-decoder forms ---------------------------------------------------------------------
def _s2s_attention(trace: _Seq2SeqTrace, rows=None) -> Explanation:
    heads = _heads(trace.cross, trace.tgt_mask, trace.src_mask)
    return Explanation(heads.mean(2), heads, None)


def _s2s_norm(trace: _Seq2SeqTrace, rows=None) -> Explanation:
    heads = torch.stack([fx.value_norms(b.weights, b.transformed) for b in trace.cross], dim=1)
    layers = torch.stack([fx.value_norms(b.weights, b.transformed, per_head=False) for b in trace.cross], dim=1)
    q, k = trace.tgt_mask, trace.src_mask
    return Explanation(fx.masked_rows(layers, q, k), fx.masked_rows(heads, q, k), None)


def _chefer(trace: _Seq2SeqTrace, enc: Sequence[Tensor], dec: Sequence[Tensor], cross: Sequence[Tensor]) -> Tensor:
    """[Chefer21b] Sec. 3's encoder-decoder rules over per-layer maps Ā, -> R^{qs} (B, To, Tk)."""
    b, tk, to = trace.src_mask.shape[0], trace.src_mask.shape[1], trace.tgt_mask.shape[1]
    like = enc[0]
    r_ss = torch.eye(tk, dtype=like.dtype, device=like.device).expand(b, tk, tk)
    for abar in enc:
        r_ss = fx.relevance_self_update(r_ss, abar)  # Eq. 6
    r_qq = torch.eye(to, dtype=like.dtype, device=like.device).expand(b, to, to)
    r_qs = like.new_zeros(b, to, tk)
    for a_self, a_cross in zip(dec, cross):
        r_qs = fx.relevance_self_update(r_qs, a_self)  # Eq. 7
        r_qq = fx.relevance_self_update(r_qq, a_self)  # Eq. 6
        r_qs = fx.relevance_cross_update(r_qs, r_qq, r_ss, a_cross)  # Eq. 10
    return r_qs


def _s2s_rollout(trace: _Seq2SeqTrace, rows=None) -> Explanation:
    mean = [[b.weights.mean(1) for b in blocks] for blocks in (trace.encoder, trace.decoder_self, trace.cross)]
    total = _chefer(trace, *mean)
    return Explanation(None, None, fx.masked_rows(total, trace.tgt_mask, trace.src_mask))


def _s2s_grad(trace: _Seq2SeqTrace, rows=None) -> Explanation:
    blocks = [*trace.encoder, *trace.decoder_self, *trace.cross]
    weights = [b.weights for b in blocks]
    le, ld = len(trace.encoder), len(trace.cross)
    to = trace.tgt_out.shape[1]
    total = trace.logprobs.new_zeros(trace.tgt_out.shape[0], to, trace.src_mask.shape[1])
    layers = trace.logprobs.new_zeros(trace.tgt_out.shape[0], ld, to, trace.src_mask.shape[1])
    picked = trace.logprobs.gather(-1, trace.tgt_out[..., None])[..., 0]  # (B, To) log p(y_t)
    for t in range(to):  # one backward pass per target token; the sentences of the batch are independent
        grads = torch.autograd.grad(picked[:, t].sum(), weights, retain_graph=t < to - 1, allow_unused=True)
        abars = [fx.grad_weighted(w.detach(), _zero_if_none(g, w)) for w, g in zip(weights, grads)]
        r_qs = _chefer(trace, abars[:le], abars[le : le + ld], abars[le + ld :])
        total[:, t] = r_qs[:, t]
        layers[:, :, t] = torch.stack([a[:, t] for a in abars[le + ld :]], dim=1)
    q, k = trace.tgt_mask, trace.src_mask
    return Explanation(fx.masked_rows(layers, q, k), None, fx.masked_rows(total, q, k))


def _s2s_alti(trace: _Seq2SeqTrace, rows=None) -> Explanation:
    q, k = trace.tgt_mask, trace.src_mask
    enc = fx.compose([_alti_block(b, k, k, False) for b in trace.encoder])  # (B, Tk, Tk)
    b, to, tk = q.shape[0], q.shape[1], k.shape[1]
    prefix = torch.eye(to, dtype=enc.dtype, device=enc.device).expand(b, to, to)
    mixed = torch.cat([enc.new_zeros(b, to, tk), prefix], dim=-1)  # (B, To, Tk + To): [source; target prefix]
    layers = []
    for self_block, cross_block in zip(trace.decoder_self, trace.cross):
        mixed = _alti_block(self_block, q, q, False) @ mixed  # self-attention block
        c = _alti_block(cross_block, q, k, True)  # (B, To, Tk + 1): source tokens, then the residual
        layers.append(c[..., :tk])
        source = torch.cat([c[..., :tk] @ enc, enc.new_zeros(b, to, to)], dim=-1)
        mixed = c[..., tk:] * mixed + source
    return Explanation(torch.stack(layers, dim=1), None, fx.masked_rows(mixed[..., :tk], q, k))


def _s2s_flow(trace: _Seq2SeqTrace, rows=None) -> Explanation:
    b, tk, to = trace.src_mask.shape[0], trace.src_mask.shape[1], trace.tgt_mask.shape[1]
    out = torch.zeros(b, to, tk, dtype=torch.float64)
    for s in range(b):
        src = np.flatnonzero(trace.src_mask[s].cpu().numpy())
        tgt = np.flatnonzero(trace.tgt_mask[s].cpu().numpy())
        asked = [t for t in (range(to) if rows is None else rows) if t in set(tgt.tolist())]
        n_nodes, edges, top = _s2s_graph(trace, s, src, tgt)
        fx.check_flow_work(len(asked) * len(src), len(edges[0]))
        flows = fx.layered_max_flow(
            n_nodes, edges, range(len(src)), [top + int(np.searchsorted(tgt, t)) for t in asked]
        )
        out[s, torch.as_tensor(asked, dtype=torch.long)[:, None], torch.as_tensor(src)[None, :]] = torch.from_numpy(
            flows
        )
    return Explanation(None, None, out.to(trace.logprobs.dtype).to(trace.logprobs.device))


def _s2s_graph(trace: _Seq2SeqTrace, s: int, src: np.ndarray, tgt: np.ndarray):
    """Nodes and edges of sentence `s`'s encoder-decoder flow graph; returns (nodes, edges, first
    node of the last decoder boundary)."""
    ns, nt = len(src), len(tgt)
    tails, heads, caps = [], [], []

    def connect(first_tail: int, first_head: int, matrix: np.ndarray) -> None:
        i, j = np.meshgrid(np.arange(matrix.shape[0]), np.arange(matrix.shape[1]), indexing="ij")
        tails.append(first_tail + j.ravel())
        heads.append(first_head + i.ravel())
        caps.append(matrix.ravel())

    def fused(block: Block, rows_: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return block.weights[s].detach().double().mean(0).cpu().numpy()[np.ix_(rows_, cols)]

    def augmented(block: Block, idx: np.ndarray) -> np.ndarray:
        a = 0.5 * fused(block, idx, idx) + 0.5 * np.eye(len(idx))
        return a / a.sum(-1, keepdims=True)

    for layer, block in enumerate(trace.encoder):
        connect(layer * ns, (layer + 1) * ns, augmented(block, src))
    enc_top = len(trace.encoder) * ns
    node = (len(trace.encoder) + 1) * ns  # the decoder's input nodes
    for self_block, cross_block in zip(trace.decoder_self, trace.cross):
        mid, nxt = node + nt, node + 2 * nt
        connect(node, mid, augmented(self_block, tgt))
        connect(mid, nxt, 0.5 * np.eye(nt))
        connect(enc_top, nxt, 0.5 * fused(cross_block, tgt, src))
        node = nxt
    edges = (np.concatenate(tails), np.concatenate(heads), np.concatenate(caps))
    return node + nt, edges, node


# --- entry points --------------------------------------------------------------------------------
def _check_rows(name: str, rows: Sequence[int] | None) -> None:
    if rows is not None and name != "flow":
        raise ValueError(f"rows= chooses the positions of flow only; {name} computes every row, leave rows out")


def explain(name: str, inputs: EncoderInputs, *, rows: Sequence[int] | None = None) -> Explanation:
    """Explanation `name` of a stack of self-attention layers.

    Args:
        name: one of :data:`EXPLANATIONS` (``attention``, ``rollout``, ``flow``, ``norm``,
            ``alti``, ``grad``).
        inputs: the layers and their input (:class:`EncoderInputs`); ``grad`` needs its `target`.
        rows: ``flow`` only: the positions to explain (others are 0); needed for long inputs
            (:data:`attnkit.functional.explain.FLOW_MAX_WORK`: a full map up to about 70 tokens
            with 6 layers, one row up to about 300).

    Returns:
        :class:`Explanation` with maps over (T, T): rows the positions explained, columns inputs.

    Raises:
        ValueError: for an unknown name, ``grad`` without a target, ``flow`` too costly
            (:func:`attnkit.functional.explain.check_flow_work`), or `rows` for another method.
    """
    explainer = EXPLANATIONS.get(name)
    _check_rows(name, rows)
    layers = list(inputs.layers)
    modes = [m.training for m in layers]
    for m in layers:
        m.eval()
    try:
        with torch.no_grad():
            return explainer.encoder(inputs, rows)
    finally:
        for m, mode in zip(layers, modes):
            m.train(mode)


def explain_translation(
    name: str,
    model: TransformerSeq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    tgt_in: Tensor,
    tgt_out: Tensor,
    *,
    rows: Sequence[int] | None = None,
) -> Explanation:
    """Explanation `name` of each target token's source: teacher forcing on the given targets.

    Args:
        name: one of :data:`EXPLANATIONS`.
        model: a :class:`TransformerSeq2Seq` (put in eval mode for the call).
        src: source ids (B, Tk), padded; src_lengths (B,).
        tgt_in: decoder inputs (B, To) (``<s>`` then the target); tgt_out: the tokens they
            predict (B, To) (the target then ``</s>``), padding = the embedding's padding index.
        rows: ``flow`` only: the target positions to explain (the cost bound of
            :func:`attnkit.functional.explain.check_flow_work` applies per sentence: a (To, Tk) =
            (40, 50) pair with 6 + 6 layers takes about 16 s on one CPU core).

    Returns:
        :class:`Explanation` with maps over (To, Tk); ``layers`` are per decoder layer.

    Raises:
        ValueError: for an unknown name, ``flow`` too costly without `rows`, or `rows` for
            another method.
    """
    explainer = EXPLANATIONS.get(name)
    _check_rows(name, rows)
    was = model.training
    model.eval()
    try:
        with torch.set_grad_enabled(name == "grad"):
            return explainer.seq2seq(_seq2seq_trace(model, src, src_lengths, tgt_in, tgt_out), rows)
    finally:
        model.train(was)


def self_attention_explanations(
    inputs: EncoderInputs, names: Sequence[str], *, rows: Sequence[int] | None = None
) -> dict[str, np.ndarray]:
    """One (T, T) map per explanation of one sequence, for ``SelfAttentionPrediction.explanations``.

    The map is the explanation's aggregate over all layers where it has one (rollout, flow, alti,
    grad), else its last layer's map (attention: head mean; norm: ‖sum_h α^h f^h(x)‖).

    Args:
        inputs: :class:`EncoderInputs` of one sequence (B = 1); ``grad`` needs its `target`.
        names: names in :data:`EXPLANATIONS`.
        rows: for ``flow``: the positions to explain (long inputs need them).

    Returns:
        name -> float32 array (T, T), rows the positions explained, columns the inputs.

    Raises:
        ValueError: for B != 1, an unknown name, ``grad`` without a target, or ``flow`` too costly.
    """
    if inputs.x.shape[0] != 1:
        raise ValueError(f"one sequence at a time: x must be (1, T, D), got {tuple(inputs.x.shape)}")
    out = {}
    for name in names:
        exp = explain(name, inputs, rows=rows if name == "flow" else None)
        chosen = exp.total if exp.total is not None else cast(Tensor, exp.layers)[:, -1]
        out[name] = chosen[0].detach().float().cpu().numpy()
    return out


for _name, _enc, _s2s, _layers, _total, _what, _ref in (
    ("attention", _enc_attention, _s2s_attention, True, False, "raw attention weights per layer and head", ""),
    ("rollout", _enc_rollout, _s2s_rollout, False, True, "attention rollout over the layers", "[Abnar20], [Chefer21b]"),
    ("flow", _enc_flow, _s2s_flow, False, True, "attention flow: max-flow through the layers", "[Abnar20]"),
    ("norm", _enc_norm, _s2s_norm, True, False, "norm of the weighted value vectors ‖α f(x)‖", "[Kobayashi20]"),
    ("alti", _enc_alti, _s2s_alti, True, True, "ALTI (ALTI+ for encoder-decoders)", "[Ferrando22], [Ferrando22b]"),
    ("grad", _enc_grad, _s2s_grad, True, True, "gradient-weighted attention E_h[(∇A ⊙ A)^+]", "[Chefer21b]"),
):
    EXPLANATIONS.register(_name, Explainer(_enc, _s2s, _layers, _total), _what, _ref)


def image_explanation(model: VisionTransformer, images: Tensor, name: str) -> Tensor:
    """Explanation `name` of a Vision Transformer's class token over the patches of one image:
    the class token's row of :func:`self_attention_explanations` (only that row is computed for
    ``flow``), without its own column, as the patch grid (h, w) (``grad``: the predicted class's
    logit).

    Raises:
        ValueError: for B != 1, an unknown name, or ``grad`` on a model without a head.
    """
    inputs = vit_encoder_inputs(model, images)
    with torch.enable_grad():
        (row,) = self_attention_explanations(inputs, [name], rows=[0] if name == "flow" else None).values()
    return torch.from_numpy(row[0, 1:]).view(*model.patch_grid)  # (h, w)
