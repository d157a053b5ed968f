"""Tied weights (one tensor under two names, as with ``model.tie_embeddings``) are saved and
loaded: safetensors refuses shared storage, so the checkpoint writes a copy under the second name."""

from __future__ import annotations

import torch
from safetensors.torch import load_file
from torch import nn

from attnkit.training.checkpoint import save_weights


class _Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(7, 4)
        self.generator = nn.Linear(4, 7, bias=False)
        self.generator.weight = self.embedding.weight


def test_tied_weights_are_saved_and_load_tied_again(tmp_path):
    torch.manual_seed(0)
    model = _Tied()
    save_weights(model, tmp_path / "model.safetensors")
    saved = load_file(str(tmp_path / "model.safetensors"))
    assert sorted(saved) == ["embedding.weight", "generator.weight"]
    assert torch.equal(saved["embedding.weight"], model.embedding.weight.detach())
    assert torch.equal(saved["generator.weight"], model.embedding.weight.detach())
    fresh = _Tied()
    fresh.load_state_dict(saved)
    assert fresh.generator.weight is fresh.embedding.weight
    assert torch.equal(fresh.embedding.weight, model.embedding.weight)
