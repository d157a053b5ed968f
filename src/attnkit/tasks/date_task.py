"""The date task as a sequence-to-sequence task: locale tag + characters -> ISO characters.

The source of an example is the locale tag token (``<de_DE>``) followed by the characters of the
human-readable date, as multilingual NMT prefixes a language tag [Johnson17]; the target is the
ten characters of ``YYYY-MM-DD``. Characters never seen in training map to ``<unk>``.

References:
    [Johnson17] M. Johnson et al. Google's Multilingual Neural Machine Translation System:
    Enabling Zero-Shot Translation. TACL 2017. arXiv:1611.04558.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..config import ConfigError
from ..data import Vocab
from . import dates
from .dates import DateExample

__all__ = ["DateTask", "InputError", "locale_tag"]

SPLITS = ("train", "dev", "test")


class InputError(ValueError):
    """A source sentence the model cannot take (empty, too long, unknown locale)."""


def locale_tag(locale: str) -> str:
    """The source token that names a locale, e.g. ``<de_DE>``."""
    return f"<{locale}>"


@dataclass
class DateTask:
    """Vocabularies and the rules that turn dates into token ids and back.

    Args:
        src_vocab: locale tags and source characters.
        tgt_vocab: target characters (digits and '-').
        locales: the locales the model was trained on.
        max_source_len: longest accepted source text, in characters (without the tag).
    """

    src_vocab: Vocab
    tgt_vocab: Vocab
    locales: tuple[str, ...]
    max_source_len: int

    name = "dates"
    src_offset = 1  # source position of the first character (position 0 is the locale tag)
    max_target_len = 10  # characters of YYYY-MM-DD

    @staticmethod
    def check_config(data_cfg) -> None:
        """Task-specific config checks, run when a config is loaded.

        Raises:
            attnkit.config.ConfigError: for a locale the generator does not know.
        """
        for name in data_cfg._TRANSLATION_ONLY:
            if getattr(data_cfg, name) != getattr(type(data_cfg), name):
                raise ConfigError(f"data.{name} does not apply to data.task=dates; remove it")
        for loc in data_cfg.locales:
            try:
                dates.check_locale(loc)
            except ValueError as err:
                raise ConfigError(f"data.locales: {err}") from None

    @classmethod
    def build(cls, data_cfg, run_dir: str | Path) -> tuple["DateTask", dict[str, list[DateExample]]]:
        """Generate the seeded splits, build vocabularies from train, save both under `run_dir`.

        Raises:
            attnkit.config.ConfigError: for an unknown locale, more examples than there are
                distinct dates, or dates longer than ``max_source_len``.
        """
        try:
            for loc in data_cfg.locales:
                dates.check_locale(loc)
            splits = dates.make_splits(data_cfg.n_train, data_cfg.n_dev, data_cfg.n_test,
                                       data_cfg.seed, locales=tuple(data_cfg.locales))
        except ValueError as err:
            raise ConfigError(f"data: {err}") from None
        longest = max(len(e.text) for split in splits.values() for e in split)
        if longest > data_cfg.max_source_len:
            raise ConfigError(f"a generated date is {longest} characters long, over "
                              f"data.max_source_len={data_cfg.max_source_len}; raise it")
        src_vocab = Vocab.build((list(e.text) for e in splits["train"]),
                                reserved=[locale_tag(loc) for loc in data_cfg.locales])
        tgt_vocab = Vocab.build(list(e.target) for e in splits["train"])
        task = cls(src_vocab, tgt_vocab, tuple(data_cfg.locales), data_cfg.max_source_len)
        run_dir = Path(run_dir)
        (run_dir / "data").mkdir(parents=True, exist_ok=True)
        for split, examples in splits.items():
            dates.save_jsonl(examples, run_dir / "data" / f"{split}.jsonl")
        task.save(run_dir)
        return task, splits

    def save(self, run_dir: str | Path) -> None:
        self.src_vocab.save(Path(run_dir) / "src_vocab.json")
        self.tgt_vocab.save(Path(run_dir) / "tgt_vocab.json")

    @classmethod
    def load(cls, data_cfg, run_dir: str | Path) -> "DateTask":
        """Rebuild the task from a run folder's vocabularies and its config."""
        run_dir = Path(run_dir)
        return cls(Vocab.load(run_dir / "src_vocab.json"), Vocab.load(run_dir / "tgt_vocab.json"),
                   tuple(data_cfg.locales), data_cfg.max_source_len)

    @staticmethod
    def load_split(run_dir: str | Path, split: str) -> list[DateExample]:
        """Examples of a saved split ("train", "dev" or "test")."""
        return dates.load_jsonl(Path(run_dir) / "data" / f"{split}.jsonl")

    def source_tokens(self, text: str, locale: str) -> list[str]:
        """Tokens of a source: the locale tag, then one token per character.

        Raises:
            InputError: for an empty text, a text over `max_source_len` characters, or a locale
                the model was not trained on.
        """
        if locale not in self.locales:
            raise InputError(f"unknown locale {locale!r}; this model knows: {', '.join(self.locales)}")
        if not text.strip():
            raise InputError("empty input; give a date such as '3. Mai 1979'")
        if len(text) > self.max_source_len:
            raise InputError(f"input is {len(text)} characters long; this model takes at most "
                             f"{self.max_source_len}")
        return [locale_tag(locale), *text]

    def encode_source(self, text: str, locale: str) -> list[int]:
        return self.src_vocab.encode(self.source_tokens(text, locale))

    def encode_target(self, target: str) -> list[int]:
        return self.tgt_vocab.encode(target)

    def decode_target(self, ids: Sequence[int]) -> str:
        return "".join(self.tgt_vocab.decode(ids))

    def gold_alignment(self, example: DateExample) -> list[tuple[int, int, int]]:
        """Where each output digit should look: (output position, source start, source end).

        Output positions 0-3 are the year digits, 5-6 the month, 8-9 the day; the spans are
        the example's field spans shifted by the locale tag.
        """
        fields = ((range(0, 4), example.year_span), (range(5, 7), example.month_span),
                  (range(8, 10), example.day_span))
        return [(t, start + self.src_offset, end + self.src_offset)
                for positions, (start, end) in fields for t in positions]

    def pairs(self, examples: Sequence[DateExample]) -> tuple[list[list[int]], list[list[int]]]:
        """Source and target ids of `examples`."""
        return ([self.encode_source(e.text, e.locale) for e in examples],
                [self.encode_target(e.target) for e in examples])
