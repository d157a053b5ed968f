"""What a sequence-to-sequence task makes of decoded ids: :class:`Translation` (the prediction,
with its tokens, score, alignment weights and n-best list), and the per-layer maps of a
teacher-forced pass over given ids (:func:`layer_maps`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple, Sequence, cast

import torch
from torch import Tensor, nn

from ..data import Vocab
from ..predictions import TEXT_ALIGNMENT
from .options import PRECISIONS
from .protocols import HasLayerMaps

__all__ = ["Translation", "LayerMaps", "layer_maps", "PRECISIONS"]


@dataclass(frozen=True, eq=False)
class Translation:
    """One output of a sequence-to-sequence task for one source: the prediction of kind
    :data:`attnkit.predictions.TEXT_ALIGNMENT`.

    With an n-best list (``n_best > 1``), the translation itself is its best hypothesis and
    ``nbest`` holds every hypothesis (the best first, each a Translation with an empty ``nbest``).
    """

    kind: ClassVar[str] = TEXT_ALIGNMENT

    output: str  # detokenised hypothesis
    src_tokens: list[str]  # source tokens as the model saw them (locale tag first)
    out_tokens: list[str]  # output tokens, then "</s>"
    weights: Tensor | None  # (To, Tk) = (len(out_tokens), len(src_tokens)), or per head (Nh, To, Tk)
    n_unknown: int  # source tokens that mapped to <unk>
    score: float = 0.0  # sum of log-probabilities of the output tokens and </s> (natural log)
    nbest: tuple["Translation", ...] = ()  # the n-best list, best first, when more than one was asked
    src_ids: tuple[int, ...] = ()  # the source ids decoded
    out_ids: tuple[int, ...] = ()  # the output ids (without </s>)


class LayerMaps(NamedTuple):
    """Per-layer, per-head weights of one output, for pictures."""

    cross: Tensor  # (L, Nh, To, Tk): output tokens attending to source tokens
    decoder_self: Tensor  # (L, Nh, To, To)
    encoder_self: Tensor  # (L, Nh, Tk, Tk)


@torch.no_grad()
def layer_maps(model: nn.Module, src_ids: Sequence[int], out_ids: Sequence[int]) -> LayerMaps:
    """Every layer's and head's attention of one teacher-forced pass over an output (for models
    with ``attention_maps``, e.g. the Transformer).

    Args:
        model: the model.
        src_ids: the source's ids (Tk).
        out_ids: the output's ids without ``</s>``; the pass feeds ``<s>`` and them, so there are
            To = len(out_ids) + 1 rows, row t the step that produced output token t (the last
            one ``</s>``).

    Raises:
        ValueError: if the model has no per-layer attention maps (RNN models: use the
            translation's own ``weights``).
    """
    if not hasattr(model, "attention_maps"):
        raise ValueError("this model has a single attention per step; plot translation.weights instead")
    device = next(model.parameters()).device
    src = torch.tensor([list(src_ids)], device=device)
    tgt_in = torch.tensor([[Vocab.bos_id, *out_ids]], device=device)
    maps = cast(HasLayerMaps, model).attention_maps(src, torch.tensor([src.shape[1]], device=device), tgt_in)

    def stack(per_layer: list[Tensor]) -> Tensor:
        return torch.stack([w[0] for w in per_layer]).float().cpu()  # (L, Nh, Tq, Tk)

    return LayerMaps(stack(maps.cross), stack(maps.decoder_self), stack(maps.encoder_self))
