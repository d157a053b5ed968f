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
from .protocols import HasLayerMaps

__all__ = ["ForcedAttention", "forced_weights"]


class ForcedAttention(NamedTuple):
    src_tokens: list[str]  # source tokens as the model saw them
    tgt_tokens: list[str]  # target tokens of the reference (no </s>)
    weights: Tensor  # (L, Nh, To, Tk), To = len(tgt_tokens), Tk = len(src_tokens); L = Nh = 1 for RNNs


def forced_weights(
    model: nn.Module, pairs: Sequence[tuple[Sequence[int], Sequence[int]]], *, batch_size: int = 64
) -> list[Tensor]:
    """Cross-attention of `model` on each (source ids, target ids) pair, the target fed by teacher
    forcing.

    Args:
        model: a trained sequence-to-sequence model (RNN with attention, or Transformer).
        pairs: (source ids, target ids without ``</s>``) pairs.
        batch_size: pairs per forward pass.

    Returns:
        Per pair, in order, the weights (L, Nh, To, Tk) with To = len(target ids) and Tk =
        len(source ids) (the ``</s>`` row dropped), float32 on the CPU: every decoder layer's
        per-head weights for models with ``attention_maps`` (the Transformer), else the single
        alignment of the model's forward pass as (1, 1, To, Tk).

    Raises:
        ValueError: if the model has no attention (its forward returns no weights).
    """
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
