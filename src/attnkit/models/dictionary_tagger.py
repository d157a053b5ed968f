"""The dictionary baseline of sequence labelling, a model family (``model.arch: tagger-dictionary``)
fitted by counting.

Each word gets, for each target, the tag it has most often in the training data; a word never
seen in training (or seen only as ``<unk>``) gets the tag most frequent among the training
words that end with its longest suffix seen in training, of at most ``model.max_suffix``
characters; a word none of whose suffixes was seen gets the most frequent tag of all. Counts
are over word occurrences (tokens), and ties go to the tag that is more frequent in the
training data (the lower tag id: a tagging task numbers its tags by training frequency).

This is the usual baseline of tagging papers (e.g. the unknown-word suffix model of [Brants00]
without its interpolation and its trigram context). The model has no parameters: the family
declares ``counts`` (:class:`~attnkit.capabilities.ModelCapabilities`), and ``attnkit train``
calls :meth:`DictionaryTagger.fit` on the training batches once
(:mod:`attnkit.training.counting`). What it learned is three buffers saved in
``model.safetensors`` like any weights.

References:
    [Brants00] T. Brants. TnT -- a statistical part-of-speech tagger. ANLP 2000.
    doi:10.3115/974147.974178.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import torch
from torch import Tensor, nn

from ..capabilities import ModelCapabilities
from ..errors import ConfigError
from .family import FAMILIES
from .specs import ModelSpec, TaggingSpec
from .tagging_io import TaggerOutput, TaggingBatch

__all__ = ["DictionaryTagger", "DictionaryTaggerConfig", "DictionaryTaggerFamily"]

_FIRST_WORD = 3  # word ids 0-2 are <pad> <unk> <mask>: never a dictionary entry


@dataclass(frozen=True)
class DictionaryTaggerConfig:
    """``model.arch: tagger-dictionary``.

    Attributes:
        max_suffix: the longest suffix looked up for an unseen word, in characters (1-8).
    """

    arch: str = "tagger-dictionary"
    max_suffix: int = 6

    def check(self) -> None:
        if not 1 <= self.max_suffix <= 8:
            raise ConfigError(f"model.max_suffix must lie in 1..8 characters, got {self.max_suffix}")


class DictionaryTagger(nn.Module):
    """Most frequent tag per word, longest seen suffix for unseen words.

    Buffers (int64; -1 = no entry): ``word_tags`` (V, n_targets), the tag of each word id;
    ``suffix_codes`` (S,), sorted codes of the seen suffixes (a suffix's character ids read as a
    number in base ``char_vocab_size``, which is exact: the family refuses sizes that would
    overflow 63 bits); ``suffix_tags`` (S, n_targets); ``default_tags`` (n_targets,). S is known
    only after fitting, so loading weights takes the saved S.

    Args:
        spec: the task's spec (vocabulary sizes, targets).
        max_suffix: longest suffix, characters.
    """

    def __init__(self, spec: TaggingSpec, *, max_suffix: int = 6) -> None:
        super().__init__()
        self.targets = tuple(name for name, _ in spec.targets)
        self.n_labels = tuple(n for _, n in spec.targets)
        self.base, self.max_suffix = spec.char_vocab_size, max_suffix
        n = len(self.targets)
        self.word_tags: Tensor
        self.suffix_codes: Tensor
        self.suffix_tags: Tensor
        self.default_tags: Tensor
        self.register_buffer("word_tags", torch.full((spec.vocab_size, n), -1, dtype=torch.long))
        self.register_buffer("suffix_codes", torch.zeros(0, dtype=torch.long))
        self.register_buffer("suffix_tags", torch.zeros(0, n, dtype=torch.long))
        self.register_buffer("default_tags", torch.zeros(n, dtype=torch.long))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ("suffix_codes", "suffix_tags"):  # their length is the fitted number of suffixes
            saved = state_dict.get(prefix + name)
            if saved is not None and saved.dim() == getattr(self, name).dim():
                setattr(self, name, torch.empty_like(saved, device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _suffix_codes(self, chars: Tensor) -> Tensor:
        """(N, K) codes of each word's suffixes of 1..K characters, -1 where the word is shorter.

        Args:
            chars: (N, L) character ids, 0 = padding after the word.
        """
        length = (chars != 0).sum(-1)  # (N,)
        codes = torch.zeros(chars.shape[0], dtype=torch.long, device=chars.device)
        out = []
        for k in range(1, self.max_suffix + 1):
            at = (length - k).clamp(min=0)  # the k-th character from the end
            codes = codes + chars.gather(1, at[:, None])[:, 0] * self.base ** (k - 1)
            out.append(torch.where(length >= k, codes, torch.full_like(codes, -1)))
        return torch.stack(out, dim=-1)

    def forward(self, words: Tensor, chars: Tensor, mask: Tensor) -> TaggerOutput:
        """Tags as one-hot scores.

        Args:
            words: (B, T) word ids; chars: (B, T, L) character ids; mask: (B, T) True on words.

        Returns:
            :class:`TaggerOutput` whose logits per target (B, T, n) are 0 at the chosen tag and the
            dtype's minimum elsewhere (softmax: probability 1); ``hidden`` (B, T, 0); no attention.
        """
        b, t = words.shape
        tags = self.word_tags[words]  # (B, T, n_targets)
        unseen = tags[..., 0] < 0
        if unseen.any():
            tags = tags.clone()
            tags[unseen] = self._suffix_tags(chars[unseen])
        logits = {}
        for i, (name, n) in enumerate(zip(self.targets, self.n_labels)):
            scores = torch.full((b, t, n), torch.finfo(torch.float32).min, device=words.device)
            logits[name] = scores.scatter(-1, tags[..., i : i + 1], 0.0)
        return TaggerOutput(logits, torch.zeros(b, t, 0, device=words.device))

    def _suffix_tags(self, chars: Tensor) -> Tensor:
        """(N, n_targets) tags of the longest seen suffix of each word, else the default tags."""
        out = self.default_tags.expand(chars.shape[0], -1).clone()
        if not len(self.suffix_codes):
            return out
        codes = self._suffix_codes(chars)  # (N, K)
        found = torch.zeros(chars.shape[0], dtype=torch.bool, device=chars.device)
        for k in range(self.max_suffix - 1, -1, -1):  # longest first
            at = torch.searchsorted(self.suffix_codes, codes[:, k].contiguous()).clamp(max=len(self.suffix_codes) - 1)
            hit = (self.suffix_codes[at] == codes[:, k]) & (codes[:, k] >= 0) & ~found
            out[hit] = self.suffix_tags[at[hit]]
            found |= hit
        return out

    @torch.no_grad()
    def fit(self, batches: Iterable[TaggingBatch]) -> None:
        """Count the tags of every word and suffix in `batches` and keep the most frequent ones.

        Args:
            batches: the training batches (:class:`~attnkit.models.tagging_io.TaggingBatch`,
                labels per target in the model's target order).
        """
        words, suffixes, labels = [], [], []
        for batch in batches:
            real = batch.mask & (batch.labels[self.targets[0]] >= 0)
            words.append(batch.words[real].cpu())
            suffixes.append(self._suffix_codes(batch.chars[real]).cpu())
            labels.append(torch.stack([batch.labels[name][real] for name in self.targets], -1).cpu())
        w, s, y = torch.cat(words).numpy(), torch.cat(suffixes).numpy(), torch.cat(labels).numpy()
        n = len(self.targets)
        word_tags = np.full((self.word_tags.shape[0], n), -1, dtype=np.int64)
        keep = w >= _FIRST_WORD
        codes = np.unique(s[s >= 0])
        suffix_tags = np.zeros((len(codes), n), dtype=np.int64)
        default = np.zeros(n, dtype=np.int64)
        for i, n_tags in enumerate(self.n_labels):
            default[i] = int(np.bincount(y[:, i], minlength=n_tags).argmax())  # ties: the lower id
            keys, tags = _most_frequent(w[keep], y[keep, i], n_tags)
            word_tags[keys, i] = tags
            rows, cols = np.nonzero(s >= 0)
            keys, tags = _most_frequent(np.searchsorted(codes, s[rows, cols]), y[rows, i], n_tags)
            suffix_tags[keys, i] = tags
        dev = self.word_tags.device
        self.word_tags = torch.from_numpy(word_tags).to(dev)
        self.suffix_codes = torch.from_numpy(codes).to(dev)
        self.suffix_tags = torch.from_numpy(suffix_tags).to(dev)
        self.default_tags = torch.from_numpy(default).to(dev)


def _most_frequent(keys: np.ndarray, tags: np.ndarray, n_tags: int) -> tuple[np.ndarray, np.ndarray]:
    """For each distinct key, its most frequent tag (ties: the lower tag id)."""
    pair, counts = np.unique(keys * n_tags + tags, return_counts=True)
    k, t = pair // n_tags, pair % n_tags
    order = np.lexsort((t, -counts, k))  # by key, then count descending, then tag ascending
    k, t = k[order], t[order]
    first = np.ones(len(k), dtype=bool)
    first[1:] = k[1:] != k[:-1]
    return k[first], t[first]


class DictionaryTaggerFamily:
    """``model.arch: tagger-dictionary``: :class:`DictionaryTagger` for a
    :class:`~attnkit.models.specs.TaggingSpec`, fitted by counting."""

    name = "tagger-dictionary"
    config_class = DictionaryTaggerConfig
    spec_class = TaggingSpec

    @classmethod
    def build(cls, cfg: DictionaryTaggerConfig, spec: ModelSpec) -> DictionaryTagger:
        """Raises ConfigError when the suffix codes would overflow 63 bits (lower model.max_suffix)."""
        assert isinstance(spec, TaggingSpec)
        if spec.char_vocab_size**cfg.max_suffix >= 2**63:
            raise ConfigError(
                f"model.max_suffix={cfg.max_suffix} is too long for {spec.char_vocab_size} characters; lower it"
            )
        return DictionaryTagger(spec, max_suffix=cfg.max_suffix)

    @classmethod
    def label(cls, cfg: Any) -> str:
        return f"dictionary (suffixes <= {cfg.max_suffix})"

    @classmethod
    def capabilities(cls, cfg: Any, spec: ModelSpec | None = None) -> ModelCapabilities:
        return ModelCapabilities(attention=False, counts=True, normaliser="")


FAMILIES.register(
    "tagger-dictionary",
    DictionaryTaggerFamily,
    "sequence labelling baseline: most frequent tag per word, longest seen suffix for unseen words (counted)",
    "[Brants00]",
)
