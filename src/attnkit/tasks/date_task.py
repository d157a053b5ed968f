"""The date task as a sequence-to-sequence task: locale tag + characters -> ISO characters.

The source of an example is the locale tag token (``<de_DE>``) followed by the characters of the
human-readable date, as multilingual NMT prefixes a language tag [Johnson17]; the target is the
ten characters of ``YYYY-MM-DD``. Characters never seen in training map to ``<unk>``.

References:
    [Johnson17] M. Johnson et al. Google's Multilingual Neural Machine Translation System:
    Enabling Zero-Shot Translation. TACL 2017. arXiv:1611.04558.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from torch import nn

from ..capabilities import GoldKind, InputKind, InputOption, TaskCapabilities
from ..data import Vocab, dates
from ..data.dates import DateExample
from ..decoding import DecodeOptions
from ..errors import ConfigError, InputError
from ..evaluation import evaluate_examples, exact_match
from ..schema import check_positive
from .base import PrimaryMetric
from .seq2seq import Seq2SeqTask

__all__ = ["DateTask", "DatesConfig", "locale_tag", "DEFAULT_LOCALES", "MAX_DATE_EXAMPLES", "check_date_sizes"]

SPLITS = ("train", "dev", "test")
DEFAULT_LOCALES = ("en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "pt_BR", "nl_NL", "ru_RU", "zh_CN", "ja_JP")

#: the most examples (train + dev + test) a date config may ask for; the generator makes at most
#: :func:`attnkit.data.dates.distinct_texts` of its locales (about 18 million for all eleven, 400,000
#: for zh_CN alone), and ten million already take hours to draw and gigabytes to hold
MAX_DATE_EXAMPLES = 10_000_000


def check_date_sizes(cfg: Any, locales: Sequence[str], maximum: int = MAX_DATE_EXAMPLES) -> None:
    """Refuse ``data.n_train + n_dev + n_test`` beyond what the date generator can make for
    `locales` (distinct texts, none in two splits) or beyond `maximum` (default
    :data:`MAX_DATE_EXAMPLES`).

    Raises:
        ConfigError: one line naming the largest split, the limit and the fix.
    """
    sizes = {name: getattr(cfg, name) for name in ("n_train", "n_dev", "n_test")}
    total = sum(sizes.values())
    if total <= min(100_000, maximum):  # far below what any one locale makes (400,000): skip counting the formats
        return
    try:
        limit = min(dates.distinct_texts(locales), maximum)
    except ValueError:
        return  # the locales' own check names the problem
    if total > limit:
        largest = max(sizes, key=lambda k: sizes[k])
        raise ConfigError(
            f"data.{largest}={sizes[largest]:,}: the splits ask for {total:,} dates, but the generator makes at most "
            f"{limit:,} distinct texts for {len(locales)} locale(s) (at most {maximum:,}); ask for fewer"
        )


@dataclass(frozen=True)
class DatesConfig:
    """``data.task: dates``: sizes of the generated splits and their locales."""

    task: str = "dates"
    n_train: int = 40000
    n_dev: int = 1000
    n_test: int = 2000
    locales: tuple[str, ...] = DEFAULT_LOCALES
    max_source_len: int = 64  # characters, excluding the locale tag
    seed: int = 1234

    def check(self) -> None:
        """Raises ConfigError for a size below 1 or a locale the generator does not know."""
        check_positive(self, "n_train", "n_dev", "n_test", "max_source_len", section="data")
        if not self.locales:
            raise ConfigError("data.locales must name at least one locale")
        for loc in self.locales:
            try:
                dates.check_locale(loc)
            except ValueError as err:
                raise ConfigError(f"data.locales: {err}") from None
        check_date_sizes(self, self.locales)


def locale_tag(locale: str) -> str:
    """The source token that names a locale, e.g. ``<de_DE>``."""
    return f"<{locale}>"


@dataclass
class DateTask(Seq2SeqTask):
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
    config_class = DatesConfig
    default_family = "rnn"
    metric = PrimaryMetric("exact_match", higher_is_better=True, best_possible=1.0)
    src_offset = 1  # source position of the first character (position 0 is the locale tag)
    max_target_len = 10  # characters of YYYY-MM-DD
    predict_options = {"locale": "en_US"}

    @property
    def capabilities(self) -> TaskCapabilities:
        """Text in (a date, option ``locale``: one of the run's locales), decoded; gold: the source
        span of each output character (:meth:`gold_alignment`)."""
        locale = InputOption("locale", "en_US", tuple(self.locales), "the locale the date is written in")
        return TaskCapabilities(
            InputKind.TEXT, (locale,), decodes=True, gold=GoldKind.SPANS, max_source_len=self.max_source_len
        )

    @classmethod
    def build(cls, data_cfg: DatesConfig, run_dir: str | Path) -> tuple["DateTask", dict[str, list[DateExample]]]:
        """Generate the seeded splits, build vocabularies from train, save both under `run_dir`.

        Raises:
            attnkit.errors.ConfigError: for an unknown locale, more examples than there are
                distinct dates, or dates longer than ``max_source_len``.
        """
        try:
            for loc in data_cfg.locales:
                dates.check_locale(loc)
            splits = dates.make_splits(
                data_cfg.n_train, data_cfg.n_dev, data_cfg.n_test, data_cfg.seed, locales=tuple(data_cfg.locales)
            )
        except ValueError as err:
            raise ConfigError(f"data: {err}") from None
        longest = max(len(e.text) for split in splits.values() for e in split)
        if longest > data_cfg.max_source_len:
            raise ConfigError(
                f"a generated date is {longest} characters long, over "
                f"data.max_source_len={data_cfg.max_source_len}; raise it"
            )
        src_vocab = Vocab.build(
            (list(e.text) for e in splits["train"]), reserved=[locale_tag(loc) for loc in data_cfg.locales]
        )
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
        return cls(
            Vocab.load(run_dir / "src_vocab.json"),
            Vocab.load(run_dir / "tgt_vocab.json"),
            tuple(data_cfg.locales),
            data_cfg.max_source_len,
        )

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
            raise InputError(f"input is {len(text)} characters long; this model takes at most {self.max_source_len}")
        return [locale_tag(locale), *text]

    def encode_target(self, target: str) -> list[int]:
        return self.tgt_vocab.encode(target)

    def decode_target(self, ids: Sequence[int]) -> str:
        return "".join(self.tgt_vocab.decode(ids))

    def gold_alignment(self, example: DateExample) -> list[tuple[int, int, int]]:
        """Where each output digit should look: (output position, source start, source end).

        Output positions 0-3 are the year digits, 5-6 the month, 8-9 the day; the spans are
        the example's field spans shifted by the locale tag.
        """
        fields = ((range(0, 4), example.year_span), (range(5, 7), example.month_span), (range(8, 10), example.day_span))
        return [
            (t, start + self.src_offset, end + self.src_offset) for positions, (start, end) in fields for t in positions
        ]

    def evaluate(
        self, model: nn.Module, examples: Sequence[DateExample], *, decode: DecodeOptions | None = None
    ) -> tuple[dict[str, Any], list]:
        """Exact match, alignment accuracy and the share of zero weights
        (:func:`attnkit.evaluation.evaluate_examples`), and exact match per locale."""
        scores, translations = evaluate_examples(model, self, examples, decode=decode)
        by_locale: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
        for ex, tr in zip(examples, translations):
            by_locale[ex.locale][0].append(tr.output)
            by_locale[ex.locale][1].append(ex.target)
        metrics: dict[str, Any] = {**scores, "by_locale": {k: exact_match(*v) for k, v in sorted(by_locale.items())}}
        return metrics, translations

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        """The metrics as lines; `detailed` adds exact match per locale."""
        lines = [f"{'examples:':<20}{metrics['n']}", f"{'exact match:':<20}{metrics['exact_match']:.2%}"]
        if "alignment_accuracy" in metrics:
            lines += [
                f"{'alignment accuracy:':<20}{metrics['alignment_accuracy']:.2%} "
                f"({metrics['n_aligned']} output digits whose most-attended source character lies "
                "in the gold year/month/day span)",
                f"{'zero weights:':<20}{metrics['zero_weight_share']:.2%} of all alignment weights are exactly 0",
            ]
        else:
            lines.append(f"{'alignment accuracy:':<20}n/a (the model has no attention)")
        if detailed:
            lines += [f"  {loc}: {acc:.2%}" for loc, acc in metrics.get("by_locale", {}).items()]
        return lines
