"""Teacher-forced attention on given translations (force decoding): what alignment extraction needs.

To align a sentence with its reference translation, the decoder is fed the reference (teacher
forcing) instead of its own output, and the cross-attention of every step is kept: row t holds the
weights of the step that predicts target token t, given the reference tokens before it.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
from torch import Tensor, nn

from ..data import collate, to_device

__all__ = ["ForcedAttention", "forced_attention"]


class ForcedAttention(NamedTuple):
    src_tokens: list[str]  # source tokens as the model saw them
    tgt_tokens: list[str]  # target tokens of the reference (no </s>)
    weights: Tensor  # (L, Nh, To, Tk), To = len(tgt_tokens), Tk = len(src_tokens); L = Nh = 1 for RNNs


def forced_attention(model: nn.Module, task, pairs: Sequence[tuple[str, str]], *, batch_size: int = 64
                     ) -> list[ForcedAttention]:
    """Cross-attention of `model` on each (source, target) pair, the target fed by teacher forcing.

    Args:
        model: a trained sequence-to-sequence model (RNN with attention, or Transformer).
        task: its task (``source_tokens``, ``src_vocab``, ``tgt_vocab`` and ``encode_target``).
        pairs: (source text, target text) pairs.
        batch_size: sentences per forward pass.

    Returns:
        One :class:`ForcedAttention` per pair, in order: every decoder layer's per-head weights
        for models with ``attention_maps`` (the Transformer), else the single alignment of the
        model's forward pass as (1, 1, To, Tk). The ``</s>`` row is dropped.

    Raises:
        ValueError: if the model has no attention (its forward returns no weights).
        attnkit.errors.InputError: for a source the task rejects.
    """
    src_tokens = [task.source_tokens(s, "") for s, _ in pairs]
    src_ids = [task.src_vocab.encode(t) for t in src_tokens]
    tgt_ids = [task.encode_target(t) for _, t in pairs]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[ForcedAttention] = []
    try:
        for start in range(0, len(pairs), batch_size):
            rows = range(start, min(start + batch_size, len(pairs)))
            batch = to_device(collate([src_ids[i] for i in rows], [tgt_ids[i] for i in rows]), device)
            with torch.no_grad():
                if hasattr(model, "attention_maps"):
                    maps = model.attention_maps(batch.src, batch.src_lengths, batch.tgt_in)
                    weights = torch.stack(maps.cross, dim=1)  # (B, L, Nh, Tq, Tk)
                else:
                    single = model(batch.src, batch.src_lengths, batch.tgt_in).weights
                    if single is None:
                        raise ValueError("this model has no attention, so no alignment can be read from it (n/a)")
                    weights = single[:, None, None]  # (B, 1, 1, Tq, Tk)
            for b, i in enumerate(rows):
                tk, to = len(src_ids[i]), len(tgt_ids[i])
                out.append(ForcedAttention(src_tokens[i], [task.tgt_vocab.itos[t] for t in tgt_ids[i]],
                                           weights[b, :, :, :to, :tk].float().cpu()))
    finally:
        model.train(was_training)
    return out
