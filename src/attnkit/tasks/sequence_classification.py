"""What the long-sequence classification tasks (``listops``, ``bible-chapters``) share: a sequence
read as a document of one sentence (so every :class:`~attnkit.models.specs.DocumentSpec` family
takes it: ``encoder-classifier`` with any attention kernel, ``han``), batched forward passes in
length order, accuracy per bucket of a per-example key, and the prediction picture of a long
sequence (its tokens in lines, each token shaded by its pooling weight, kind ``document``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from ..data.bible_sections import DocumentBatch
from .bible_sections import DocumentPrediction

__all__ = [
    "LINE_TOKENS",
    "collate_sequences",
    "length_batches",
    "forward_sequences",
    "accuracy_buckets",
    "lined_prediction",
]

LINE_TOKENS = 24  # tokens per line of a prediction's picture (the document view shows 24 a line)

Item = tuple[list[int], int]  # (token ids, label)


def collate_sequences(items: Sequence[Item], pad_id: int) -> DocumentBatch:
    """Each sequence as a document of one sentence: tokens (B, 1, T) padded with `pad_id`,
    sentence lengths (B, 1), one sentence each (B,), labels (B,)."""
    t = max(len(ids) for ids, _ in items)
    tokens = torch.full((len(items), 1, t), pad_id, dtype=torch.long)  # (B, 1, T)
    for b, (ids, _) in enumerate(items):
        tokens[b, 0, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    lengths = torch.tensor([[len(ids)] for ids, _ in items], dtype=torch.long)  # (B, 1)
    labels = torch.tensor([y for _, y in items], dtype=torch.long)  # (B,)
    return DocumentBatch(tokens, lengths, torch.ones(len(items), dtype=torch.long), labels)


def length_batches(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Indices of `lengths` in batches, shortest first, each of at most `max_tokens` padded
    tokens (batch size x its longest length; a longer sequence alone is a batch)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[i] <= max_tokens:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


@torch.no_grad()
def forward_sequences(
    model: nn.Module, sequences: Sequence[list[int]], pad_id: int, max_tokens: int = 8192
) -> tuple[list[Tensor], list[Tensor]]:
    """Class probabilities (C,) and pooling weights (T,) of each id sequence, in the given order,
    in batches of at most `max_tokens` padded tokens (:func:`length_batches`), so that dense
    attention's (B, Nh, T, T) scores stay small on long inputs."""
    device = next(model.parameters()).device
    probs: list[Any] = [None] * len(sequences)
    weights: list[Any] = [None] * len(sequences)
    for idx in length_batches([len(s) for s in sequences], max_tokens):
        batch = collate_sequences([(sequences[i], 0) for i in idx], pad_id)
        out = model(batch.tokens.to(device), batch.sentence_lengths.to(device), batch.n_sentences.to(device))
        p = torch.softmax(out.logits.float(), dim=-1).cpu()
        for k, i in enumerate(idx):
            probs[i] = p[k]
            weights[i] = out.word_weights[k, 0, : len(sequences[i])].float().cpu()
    return probs, weights


def accuracy_buckets(right: Sequence[bool], keys: Sequence[int], name: str) -> list[dict[str, Any]]:
    """Accuracy per distinct key, in key order: ``[{name: key, "n": count, "accuracy": share}]``."""
    n, hits = Counter(keys), Counter(k for k, r in zip(keys, right) if r)
    return [{name: k, "n": n[k], "accuracy": hits[k] / n[k]} for k in sorted(n)]


def lined_prediction(tokens: Sequence[str], p: Tensor, weights: Tensor, classes: Sequence[str]) -> DocumentPrediction:
    """A prediction of kind ``document`` for a long sequence: its tokens in lines of
    :data:`LINE_TOKENS` (the view's "sentences"), word weights (S, LINE_TOKENS) the pooling
    weights (T,) in those lines, each line's weight the sum of its tokens'."""
    k = int(p.argmax())
    lines = [list(tokens[i : i + LINE_TOKENS]) for i in range(0, len(tokens), LINE_TOKENS)]
    grid = torch.zeros(len(lines), LINE_TOKENS)  # (S, W)
    grid.view(-1)[: len(tokens)] = weights
    return DocumentPrediction(classes[k], float(p[k]), p.tolist(), lines, grid, grid.sum(-1))
