"""Token vocabularies with reserved special tokens, stored as JSON (never pickled)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from ..io import atomic_write_text

__all__ = ["Vocab", "PAD", "UNK", "BOS", "EOS", "MASK", "SPECIALS", "TAGGING_SPECIALS"]

PAD, UNK, BOS, EOS, MASK = "<pad>", "<unk>", "<s>", "</s>", "<mask>"
SPECIALS = (PAD, UNK, BOS, EOS)
TAGGING_SPECIALS = (PAD, UNK, MASK)  # words and characters of sequence labelling and masked-LM pretraining


class Vocab:
    """A fixed mapping between tokens and ids; ids 0-3 are ``<pad> <unk> <s> </s>``, or the
    `specials` given (which start with ``<pad> <unk>``: the words of sequence labelling use
    :data:`TAGGING_SPECIALS`, ``<pad> <unk> <mask>`` at ids 0-2).

    Tokens never seen when the vocabulary was built map to ``<unk>`` (id 1).

    Args:
        tokens: the non-special tokens, in id order (ids start after the specials).
        specials: the special tokens, ids 0, 1, ...

    Raises:
        ValueError: if `tokens` repeats a token or contains a special token, or `specials` does
            not start with ``<pad> <unk>``.
    """

    def __init__(self, tokens: Sequence[str], *, specials: Sequence[str] = SPECIALS) -> None:
        if tuple(specials[:2]) != (PAD, UNK):
            raise ValueError(f"special tokens must start with {PAD} {UNK}, got {list(specials)[:2]}")
        self.specials = tuple(specials)
        itos = list(specials) + list(tokens)
        if len(set(itos)) != len(itos):
            raise ValueError("vocabulary tokens must be unique and must not repeat special tokens")
        self.itos = itos
        self.stoi = {tok: i for i, tok in enumerate(itos)}

    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    @classmethod
    def build(
        cls,
        sequences: Iterable[Iterable[str]],
        *,
        min_freq: int = 1,
        reserved: Sequence[str] = (),
        specials: Sequence[str] = SPECIALS,
    ) -> "Vocab":
        """Vocabulary of every token occurring at least `min_freq` times, most frequent first.

        Args:
            sequences: tokenised sentences.
            min_freq: minimum count to get an id; rarer tokens become ``<unk>``.
            reserved: tokens that always get an id, after the specials (e.g. locale tags).
            specials: the special tokens (see the class).
        """
        counts = Counter(tok for seq in sequences for tok in seq)
        kept = [
            t
            for t, c in sorted(counts.items(), key=lambda tc: (-tc[1], tc[0]))
            if c >= min_freq and t not in reserved and t not in specials
        ]
        return cls(list(reserved) + kept, specials=specials)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of `tokens`; unknown tokens give ``unk_id``."""
        return [self.stoi.get(t, self.unk_id) for t in tokens]

    def decode(self, ids: Iterable[int], *, strip_specials: bool = True) -> list[str]:
        """Tokens of `ids`, stopping at ``</s>``; specials dropped when `strip_specials`."""
        out = []
        eos = self.eos_id if EOS in self.specials else None  # the tagging specials have no </s>
        skipped = (self.pad_id, self.bos_id) if BOS in self.specials else (self.pad_id,)
        for i in ids:
            if i == eos:
                break
            if strip_specials and i in skipped:
                continue
            out.append(self.itos[i])
        return out

    def unknown(self, tokens: Iterable[str]) -> list[str]:
        """The tokens of `tokens` that are not in the vocabulary, in order, without repeats."""
        return list(dict.fromkeys(t for t in tokens if t not in self.stoi))

    def save(self, path: str | Path) -> None:
        """Write the tokens as JSON (atomically); specials other than the default are written too."""
        data: dict = {"tokens": self.itos[len(self.specials) :]}
        if self.specials != SPECIALS:
            data["specials"] = list(self.specials)
        atomic_write_text(path, json.dumps(data, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        """Read a vocabulary written by :meth:`save`.

        Raises:
            ValueError: if the file is not a vocabulary file.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(data["tokens"], specials=data.get("specials", SPECIALS))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError) as err:
            raise ValueError(f"{path} is not a valid vocabulary file ({err})") from None
