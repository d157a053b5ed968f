"""Teacher-forced attention on given outputs (force decoding): what alignment extraction needs.

To align a sentence with its reference translation, the decoder is fed the reference (teacher
forcing) instead of its own output, and the cross-attention of every step is kept: row t holds the
weights of the step that predicts target token t, given the reference tokens before it. Works on
token ids; the task tokenises (:meth:`attnkit.tasks.seq2seq.Seq2SeqTask.forced_attention`).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence, cast

import torch
from torch import Tensor, nn

from ..data import collate, to_device
from ..models.explain import EXPLANATIONS, explain_translation
from ..models.transformer import TransformerSeq2Seq
from .protocols import HasLayerMaps

__all__ = ["ForcedAttention", "forced_weights", "explained_weights"]


class ForcedAttention(NamedTuple):
    src_tokens: list[str]  # source tokens as the model saw them
    tgt_tokens: list[str]  # target tokens of the reference (no </s>)
    weights: Tensor  # (L, Nh, To, Tk), To = len(tgt_tokens), Tk = len(src_tokens); L = Nh = 1 for RNNs


def forced_weights(
    model: nn.Module,
    pairs: Sequence[tuple[Sequence[int], Sequence[int]]],
    *,
    batch_size: int = 64,
    explain: str | None = None,
) -> list[Tensor]:
    """Cross-attention of `model` on each (source ids, target ids) pair, the target fed by teacher
    forcing; or, with `explain`, an explanation's map of each target token over the source.

    Args:
        model: a trained sequence-to-sequence model (RNN with attention, or Transformer).
        pairs: (source ids, target ids without ``</s>``) pairs.
        batch_size: pairs per forward pass.
        explain: a name in :data:`attnkit.models.explain.EXPLANATIONS` (the model must be a
            :class:`~attnkit.models.transformer.TransformerSeq2Seq`), or None for the raw weights.

    Returns:
        Per pair, in order, the weights (L, Nh, To, Tk) with To = len(target ids) and Tk =
        len(source ids) (the ``</s>`` row dropped), float32 on the CPU: every decoder layer's
        per-head weights for models with ``attention_maps`` (the Transformer), else the single
        alignment of the model's forward pass as (1, 1, To, Tk). With `explain`: see
        :func:`explained_weights`.

    Raises:
        ValueError: if the model has no attention (its forward returns no weights), or `explain`
            is unknown or asked of a model that is not a TransformerSeq2Seq.
    """
    if explain is not None:
        return explained_weights(model, pairs, explain, batch_size=batch_size)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[Tensor] = []
    try:
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            batch = to_device(collate([list(s) for s, _ in chunk], [list(t) for _, t in chunk]), device)
            with torch.no_grad():
                if hasattr(model, "attention_maps"):
                    maps = cast(HasLayerMaps, model).attention_maps(batch.src, batch.src_lengths, batch.tgt_in)
                    weights = torch.stack(maps.cross, dim=1)  # (B, L, Nh, Tq, Tk)
                else:
                    single = model(batch.src, batch.src_lengths, batch.tgt_in).weights
                    if single is None:
                        raise ValueError("this model has no attention, so no alignment can be read from it (n/a)")
                    weights = single[:, None, None]  # (B, 1, 1, Tq, Tk)
            for b, (src, tgt) in enumerate(chunk):
                out.append(weights[b, :, :, : len(tgt), : len(src)].float().cpu())
    finally:
        model.train(was_training)
    return out


def explained_weights(
    model: nn.Module, pairs: Sequence[tuple[Sequence[int], Sequence[int]]], name: str, *, batch_size: int = 16
) -> list[Tensor]:
    """Explanation `name` of each target token over the source, on each (source ids, target ids)
    pair (teacher forcing; :func:`attnkit.models.explain.explain_translation`), in the layout of
    :func:`forced_weights` so that alignments are read from it the same way.

    Returns:
        Per pair (L', Nh', To, Tk) float32 on the CPU: ``attention`` as :func:`forced_weights`
        (every decoder layer and head); the other explanations have one "head" and, as layers,
        their per-decoder-layer maps (norm, ALTI, grad) followed by their aggregate over all
        layers (rollout, flow, ALTI, grad), so layer -1 is the aggregate where there is one.
        Rows of every map but ``attention`` are divided by their sum (0 rows stay 0), so that
        thresholds read shares of the source.

    Raises:
        ValueError: for an unknown `name`, or a model that is not a TransformerSeq2Seq.
    """
    EXPLANATIONS.get(name)
    if not isinstance(model, TransformerSeq2Seq):
        raise ValueError(
            f"explanations ({name}) need a Transformer encoder-decoder, got {type(model).__name__}; "
            "leave out --explain to read its attention"
        )
    device = next(model.parameters()).device
    out: list[Tensor] = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        batch = to_device(collate([list(s) for s, _ in chunk], [list(t) for _, t in chunk]), device)
        exp = explain_translation(name, model, batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out)
        if name == "attention":
            maps = cast(Tensor, exp.heads)  # (B, L, Nh, To, Tk)
        else:
            parts = [] if exp.layers is None else [exp.layers]
            parts += [] if exp.total is None else [exp.total[:, None]]
            maps = torch.cat(parts, dim=1)[:, :, None]  # (B, L', 1, To, Tk)
            maps = maps / maps.sum(-1, keepdim=True).clamp_min(torch.finfo(maps.dtype).tiny)
        for b, (src, tgt) in enumerate(chunk):
            out.append(maps[b, :, :, : len(tgt), : len(src)].detach().float().cpu())
    return out
