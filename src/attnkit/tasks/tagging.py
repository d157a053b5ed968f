"""Sequence labelling: one tag per word, for one or more targets (part of speech, morphology,
features), on the Greek New Testament (``greek-tagging``) or on the user's CoNLL-U files
(``tagging``).

Data. ``greek-tagging`` reads the SBLGNT token table of the ``bible-alignments`` wheel
(:mod:`attnkit.data.sblgnt`; ``pip install --no-deps bible-alignments``): 7,939 verses, tagged
with 11 parts of speech (``pos``) and 1,066 morphology codes (``morph``); ``data.targets`` is
``pos``, ``morph`` or ``both`` (two heads). ``data.split: verse`` draws dev and test verses at
random (seeded); ``data.split: book`` holds out whole books (``data.dev_books``,
``data.test_books``; by default 2 Corinthians and 1 Peter for dev, Mark, Hebrews and James for
test), so that a model meets an author's vocabulary it never saw. ``tagging`` reads three
CoNLL-U files (:mod:`attnkit.data.conllu`) with ``data.targets`` among ``upos``, ``xpos``,
``feats`` (one head each).

Run folder: ``data/{train,dev,test}.jsonl`` (one sentence a line: words and tags),
``vocab/words.txt`` and ``vocab/chars.txt`` (:class:`~attnkit.data.vocab.Vocab` files whose
specials are ``<pad> <unk> <mask>`` at ids 0-2; built from the training words, or copied from
another run with ``data.vocab_from: RUN``, e.g. a masked-language-model pretraining run),
``labels.json`` (the tags of each target: those of the training data by frequency, then those
only in dev or test, alphabetically) and ``dataset.json``.

The model is any family building for :class:`~attnkit.models.specs.TaggingSpec`. The loss is
the summed cross-entropy over the real words (padding ignored), summed over the targets;
metrics (:func:`attnkit.evaluation.tagging.tagging_metrics`) per target: accuracy, accuracy on
words whose form never occurs in training, per-tag precision / recall / F1, macro-F1 and the
confusion matrix (of the first target with at most 64 tags: ``attnkit evaluate --confusion-plot``).
The primary metric ``accuracy`` is the mean of the targets' accuracies.
"""

from __future__ import annotations

import json
import shutil
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..capabilities import InputKind, InputOption, TaskCapabilities
from ..data.conllu import FIELDS, read_conllu
from ..data.sblgnt import DEFAULT_DEV_BOOKS, DEFAULT_TEST_BOOKS, book_split, read_sblgnt, verse_split
from ..data.vocab import TAGGING_SPECIALS, Vocab
from ..errors import ConfigError, DataError, InputError
from ..evaluation.tagging import MAX_CONFUSION_TAGS, tagging_metrics
from ..io import atomic_write_text
from ..models.specs import TaggingSpec
from ..models.tagging_io import TaggingBatch
from .base import LossContext, PrimaryMetric
from .classification import check_split_fractions
from .tagging_prediction import TaggingPrediction, tagging_prediction

__all__ = ["GreekTaggingConfig", "ConlluTaggingConfig", "TaggedSentence", "GreekTaggingTask", "ConlluTaggingTask"]

IGNORE = -100  # the label of padding positions (cross-entropy skips them)
GREEK_TARGETS = {"pos": ("pos",), "morph": ("morph",), "both": ("pos", "morph")}
WORDS, CHARS = "vocab/words.txt", "vocab/chars.txt"
LAYER = InputOption(
    "layer",
    "-1",
    (),
    "the self-attention layer whose most-attended words are printed and drawn (negative: from the last)",
)


@dataclass(frozen=True)
class GreekTaggingConfig:
    """``data.task: greek-tagging``.

    Attributes:
        targets: ``pos``, ``morph`` or ``both`` (two heads, in that order).
        split: ``verse`` (seeded random verses for dev and test) or ``book`` (whole books held out).
        seed: seed of the verse split.
        dev_fraction, test_fraction: shares of the verses for dev and test (verse split).
        dev_books, test_books: OSIS names of the books held out (book split), e.g. ``Mark``, ``1Pet``.
        table: a token table of the SBLGNT layout; "" = the installed wheel's.
        max_len: positions the model places, in words; 0 = the longest sentence of the splits.
        max_word_len: characters read per word (longer words are cut at the end).
        min_count: training occurrences a word needs to get its own id (rarer: ``<unk>``).
        vocab_from: a run folder whose ``vocab/words.txt`` and ``vocab/chars.txt`` are used
            instead of building them (fine-tuning from a pretrained run); "" = build.
    """

    task: str = "greek-tagging"
    targets: str = "both"
    split: str = "verse"
    seed: int = 1234
    dev_fraction: float = 0.1
    test_fraction: float = 0.1
    dev_books: tuple[str, ...] = DEFAULT_DEV_BOOKS
    test_books: tuple[str, ...] = DEFAULT_TEST_BOOKS
    table: str = ""
    max_len: int = 0
    max_word_len: int = 24
    min_count: int = 1
    vocab_from: str = ""

    def check(self) -> None:
        if self.targets not in GREEK_TARGETS:
            raise ConfigError(f"data.targets must be one of {', '.join(GREEK_TARGETS)}, got {self.targets!r}")
        if self.split not in ("verse", "book"):
            raise ConfigError(f"data.split must be verse or book, got {self.split!r}")
        check_split_fractions(self)
        if self.split == "verse" and (self.dev_books, self.test_books) != (DEFAULT_DEV_BOOKS, DEFAULT_TEST_BOOKS):
            raise ConfigError(
                "data.dev_books and data.test_books are used by the book split only; set data.split: book"
            )
        if self.split == "book" and (self.dev_fraction, self.test_fraction) != (0.1, 0.1):
            raise ConfigError("data.dev_fraction and data.test_fraction are used by the verse split only")
        _check_sizes(self)


@dataclass(frozen=True)
class ConlluTaggingConfig:
    """``data.task: tagging``: the user's CoNLL-U files.

    Attributes:
        train, dev, test: paths of the three CoNLL-U files.
        targets: columns to predict, among ``upos``, ``xpos`` and ``feats`` (one head each).
        max_len, max_word_len, min_count, vocab_from: as for ``greek-tagging``.
    """

    task: str = "tagging"
    train: str = ""
    dev: str = ""
    test: str = ""
    targets: tuple[str, ...] = ("upos",)
    max_len: int = 0
    max_word_len: int = 24
    min_count: int = 1
    vocab_from: str = ""

    def check(self) -> None:
        missing = [name for name in ("train", "dev", "test") if not getattr(self, name)]
        if missing:
            raise ConfigError(f"data.{missing[0]} is required: the path of a CoNLL-U file")
        bad = [t for t in self.targets if t not in FIELDS]
        if bad or not self.targets or len(set(self.targets)) != len(self.targets):
            raise ConfigError(
                f"data.targets must name distinct columns among {', '.join(FIELDS)}, got {list(self.targets)}"
            )
        _check_sizes(self)


def _check_sizes(cfg: Any) -> None:
    if cfg.max_len < 0 or cfg.max_word_len < 1 or cfg.min_count < 1:
        raise ConfigError("data.max_len must be >= 0, data.max_word_len and data.min_count >= 1")


@dataclass(frozen=True)
class TaggedSentence:
    """A sentence with its gold tags: ``tags[target][i]`` is word i's tag for that target."""

    ref: str
    words: tuple[str, ...]
    tags: Mapping[str, tuple[str, ...]]


class TaggingItem(NamedTuple):
    words: list[int]  # word ids, (T,)
    chars: list[list[int]]  # character ids of each word, (T, <= L)
    labels: tuple[list[int], ...]  # per target, tag ids (T,)


def _device(model: nn.Module) -> torch.device:
    """Where `model` is (a counting model has buffers and no parameters)."""
    tensor = next(iter([*model.parameters(), *model.buffers()]), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def clean_words(line: str) -> list[str]:
    """The words of a line typed by a user: split at white space, NFC, punctuation at either end
    of a word removed (the tagged data has none), words of punctuation alone dropped."""
    words = []
    for raw in unicodedata.normalize("NFC", line).split():
        start, end = 0, len(raw)
        while start < end and unicodedata.category(raw[start]).startswith("P"):
            start += 1
        while end > start and unicodedata.category(raw[end - 1]).startswith("P"):
            end -= 1
        if raw[start:end]:
            words.append(raw[start:end])
    return words


class _TaggingTask:
    """What both tagging tasks share (:class:`attnkit.tasks.base.Task`), once their splits are made."""

    name: str
    config_class: type
    default_family = "tagger-dictionary"
    metric = PrimaryMetric("accuracy", higher_is_better=True, best_possible=1.0)
    loss_unit = "words"
    spec_class = TaggingSpec

    def __init__(
        self, cfg: Any, words: Vocab, chars: Vocab, labels: dict[str, list[str]], max_len: int, seen: set[str]
    ):
        self.config, self.words, self.chars, self.labels = cfg, words, chars, labels
        self.targets = tuple(labels)
        self.max_len, self.seen = max_len, seen
        self.tag_ids = {t: {tag: i for i, tag in enumerate(tags)} for t, tags in labels.items()}

    @property
    def spec(self) -> TaggingSpec:
        targets = tuple((t, len(self.labels[t])) for t in self.targets)
        return TaggingSpec(len(self.words), len(self.chars), targets, self.max_len, self.config.max_word_len)

    @property
    def capabilities(self) -> TaskCapabilities:
        """A line of words in; the classes of the confusion matrix are the first target's tags when
        it has at most 64."""
        first = self.labels[self.targets[0]]
        return TaskCapabilities(
            InputKind.TEXT,
            classes=tuple(first) if len(first) <= MAX_CONFUSION_TAGS else (),
            max_source_len=self.max_len,
        )

    # --- data and the run folder -------------------------------------------------------------
    @classmethod
    def _make_splits(cls, cfg: Any) -> tuple[dict[str, list[TaggedSentence]], tuple[str, ...]]:
        raise NotImplementedError

    @classmethod
    def build(cls, cfg: Any, run_dir: str | Path) -> tuple["_TaggingTask", dict[str, list[TaggedSentence]]]:
        """Make the splits, the vocabularies (or copy them from ``data.vocab_from``) and the tag
        lists, and write them into `run_dir`.

        Raises:
            attnkit.errors.DataError: for data that cannot be read (one line naming file and line),
                or a ``data.vocab_from`` run without vocabulary files.
            attnkit.errors.ConfigError: for a sentence longer than ``data.max_len``.
        """
        run_dir = Path(run_dir)
        splits, targets = cls._make_splits(cfg)
        longest = max(len(s.words) for part in splits.values() for s in part)
        if cfg.max_len and longest > cfg.max_len:
            raise ConfigError(f"a sentence has {longest} words, more than data.max_len={cfg.max_len}; raise it (or 0)")
        if cfg.vocab_from:
            words, chars = _vocab_from(Path(cfg.vocab_from), run_dir)
        else:
            train_words = [s.words for s in splits["train"]]
            words = Vocab.build(train_words, min_freq=cfg.min_count, specials=TAGGING_SPECIALS)
            chars = Vocab.build((w for s in train_words for w in s), specials=TAGGING_SPECIALS)
            (run_dir / "vocab").mkdir(parents=True, exist_ok=True)
            words.save(run_dir / WORDS)
            chars.save(run_dir / CHARS)
        labels = {}
        for t in targets:
            counts = Counter(tag for s in splits["train"] for tag in s.tags[t])
            known = sorted(counts, key=lambda tag: (-counts[tag], tag))
            rest = sorted({tag for part in ("dev", "test") for s in splits[part] for tag in s.tags[t]} - set(counts))
            labels[t] = known + rest
        for split, part in splits.items():
            lines = (json.dumps({"ref": s.ref, "words": s.words, "tags": s.tags}, ensure_ascii=False) for s in part)
            atomic_write_text(run_dir / "data" / f"{split}.jsonl", "\n".join(lines) + "\n")
        atomic_write_text(run_dir / "labels.json", json.dumps(labels, ensure_ascii=False))
        max_len = int(cfg.max_len or longest)
        info = {
            "config": asdict(cfg),
            "max_len": max_len,
            "splits": {k: {"sentences": len(v), "words": sum(len(s.words) for s in v)} for k, v in splits.items()},
        }
        atomic_write_text(run_dir / "dataset.json", json.dumps(info, indent=1))
        seen = {w for s in splits["train"] for w in s.words}
        return cls(cfg, words, chars, labels, max_len, seen), splits

    @classmethod
    def load(cls, cfg: Any, run_dir: str | Path) -> "_TaggingTask":
        run_dir = Path(run_dir)
        labels = json.loads((run_dir / "labels.json").read_text(encoding="utf-8"))
        info = json.loads((run_dir / "dataset.json").read_text(encoding="utf-8"))
        seen = {w for s in cls.load_split(run_dir, "train") for w in s.words}
        words, chars = Vocab.load(run_dir / WORDS), Vocab.load(run_dir / CHARS)
        return cls(cfg, words, chars, labels, int(info["max_len"]), seen)

    @classmethod
    def load_split(cls, run_dir: str | Path, split: str) -> list[TaggedSentence]:
        lines = (Path(run_dir) / "data" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        out = []
        for line in lines:
            if line:
                row = json.loads(line)
                out.append(
                    TaggedSentence(row["ref"], tuple(row["words"]), {t: tuple(v) for t, v in row["tags"].items()})
                )
        return out

    # --- training ------------------------------------------------------------------------------
    def _chars(self, word: str) -> list[int]:
        return self.chars.encode(word[: self.config.max_word_len])

    def encode(self, examples: Sequence[TaggedSentence]) -> list[TaggingItem]:
        return [
            TaggingItem(
                self.words.encode(s.words),
                [self._chars(w) for w in s.words],
                tuple([self.tag_ids[t][tag] for tag in s.tags[t]] for t in self.targets),
            )
            for s in examples
        ]

    @staticmethod
    def lengths(item: TaggingItem) -> tuple[int, int]:
        return len(item.words), len(item.words)

    @staticmethod
    def loss_weight(item: TaggingItem) -> int:
        return len(item.words)

    def collate(self, items: Sequence[TaggingItem]) -> TaggingBatch:
        """Padded ids: words (B, T), chars (B, T, L) with L = ``data.max_word_len``, mask (B, T)
        True on real words, labels per target (B, T) with -100 on padding."""
        b, t, length = len(items), max(len(it.words) for it in items), self.config.max_word_len
        words = torch.zeros(b, t, dtype=torch.long)
        chars = torch.zeros(b, t, length, dtype=torch.long)
        labels = {name: torch.full((b, t), IGNORE, dtype=torch.long) for name in self.targets}
        for i, it in enumerate(items):
            n = len(it.words)
            words[i, :n] = torch.tensor(it.words)
            for j, ids in enumerate(it.chars):
                chars[i, j, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            for name, ids in zip(self.targets, it.labels):
                labels[name][i, :n] = torch.tensor(ids)
        return TaggingBatch(words, chars, words != 0, labels)

    @staticmethod
    def loss(model: nn.Module, batch: TaggingBatch, ctx: LossContext) -> Tensor:
        """Cross-entropy summed over the real words (padding ignored) and over the targets."""
        out = model(batch.words, batch.chars, batch.mask)
        smoothing = float(getattr(ctx.train, "label_smoothing", 0.0))
        return sum(
            (
                F.cross_entropy(
                    out.logits[name].float().flatten(0, 1),
                    gold.flatten(),
                    ignore_index=IGNORE,
                    reduction="sum",
                    label_smoothing=smoothing,
                )
                for name, gold in batch.labels.items()
            ),
            torch.zeros((), device=batch.words.device),
        )

    # --- evaluation and prediction -------------------------------------------------------------
    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, examples: Sequence[TaggedSentence], *, batch_size: int = 64, decode: Any = None
    ) -> tuple[dict[str, Any], list[TaggingPrediction]]:
        """Per target (keys ``TARGET_accuracy``, ``TARGET_unseen_accuracy``, ``TARGET_macro_f1``,
        ``TARGET_per_tag``), the mean ``accuracy`` over targets, ``n`` words, ``n_unseen`` and the
        first target's ``confusion`` with its ``classes`` where it has at most 64 tags; and one
        prediction (no attention) per sentence.

        Raises:
            ValueError: for no examples.
        """
        if not examples:
            raise ValueError("no examples to evaluate")
        device = _device(model)
        predicted: dict[str, list[int]] = {t: [] for t in self.targets}
        gold: dict[str, list[int]] = {t: [] for t in self.targets}
        unseen: list[bool] = []
        preds = []
        for start in range(0, len(examples), batch_size):
            chunk = examples[start : start + batch_size]
            batch = self.collate(self.encode(chunk))
            out = model(batch.words.to(device), batch.chars.to(device), batch.mask.to(device))
            best = {t: out.logits[t].argmax(-1).cpu() for t in self.targets}
            for i, s in enumerate(chunk):
                n = len(s.words)
                for t in self.targets:
                    predicted[t] += best[t][i, :n].tolist()
                    gold[t] += batch.labels[t][i, :n].tolist()
                unseen += [w not in self.seen for w in s.words]
                tags = {t: [self.labels[t][k] for k in best[t][i, :n].tolist()] for t in self.targets}
                preds.append(tagging_prediction(list(s.words), tags, [w not in self.seen for w in s.words]))
        metrics: dict[str, Any] = {}
        for t in self.targets:
            m = tagging_metrics(predicted[t], gold[t], unseen, self.labels[t])
            for key in ("accuracy", "unseen_accuracy", "macro_f1", "per_tag"):
                metrics[f"{t}_{key}"] = m[key]
            if "confusion" in m and "confusion" not in metrics:
                metrics["confusion"], metrics["classes"] = m["confusion"], list(self.labels[t])
            metrics["n"], metrics["n_unseen"] = m["n"], m["n_unseen"]
        metrics["accuracy"] = sum(metrics[f"{t}_accuracy"] for t in self.targets) / len(self.targets)
        metrics["targets"] = list(self.targets)
        return metrics, preds

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        """Words, accuracy (all and unseen words) and macro-F1 per target; with `detailed` each
        tag's precision, recall and F1 (the 30 most frequent tags of a target with more)."""
        n, n_unseen = metrics["n"], metrics["n_unseen"]
        lines = [f"{'words:':<22}{n} ({n_unseen} unseen in training, {n_unseen / n:.1%})"]
        for t in metrics["targets"]:
            unseen = metrics[f"{t}_unseen_accuracy"]
            lines.append(
                f"{t + ' accuracy:':<22}{metrics[f'{t}_accuracy']:.2%}   unseen words: "
                f"{'n/a' if unseen is None else f'{unseen:.2%}'}   macro-F1: {metrics[f'{t}_macro_f1']:.3f}"
            )
        if len(metrics["targets"]) > 1:
            lines.append(f"{'mean accuracy:':<22}{metrics['accuracy']:.2%}")
        if detailed:
            for t in metrics["targets"]:
                per_tag = sorted(metrics[f"{t}_per_tag"].items(), key=lambda kv: -kv[1]["n"])
                lines.append(f"{t}: tag, words, precision, recall, F1")
                for tag, m in per_tag[:30]:
                    lines.append(f"  {tag:<14}{m['n']:>7}   {m['precision']:.3f}  {m['recall']:.3f}  {m['f1']:.3f}")
        return lines

    @torch.no_grad()
    def predict(
        self, model: nn.Module, inputs: Sequence[str], *, options: Mapping[str, str] = {}, decode: Any = None
    ) -> list[TaggingPrediction]:
        """The tags of each word of each line (:func:`clean_words`), with the self-attention the
        model used. Option ``layer=N``: the layer whose most-attended words are printed and drawn.

        Raises:
            attnkit.errors.InputError: for an unknown option or a layer the model does not have, a
                line without words or with more than the run's longest sentence; every line is
                checked first.
        """
        unknown = set(options) - {"layer"}
        if unknown:
            raise InputError(f"unknown option {', '.join(sorted(unknown))} for task {self.name}; it takes layer=N")
        try:
            layer = int(options.get("layer", "-1"))
        except ValueError:
            raise InputError(f"option layer={options['layer'][:20]!r} must be a whole number, e.g. layer=-1") from None
        lines = [clean_words(line) for line in inputs]
        for line, words in zip(inputs, lines):
            if not words:
                raise InputError(f"no words in {line[:40]!r}")
            if len(words) > self.max_len:
                raise InputError(f"{len(words)} words; this run tags sentences of at most {self.max_len} words")
        device = _device(model)
        preds = []
        for words in lines:
            batch = self.collate([self._encode_words(words)])
            out = model(batch.words.to(device), batch.chars.to(device), batch.mask.to(device))
            tags, probs = {}, {}
            for t in self.targets:
                p = torch.softmax(out.logits[t][0].float(), dim=-1).cpu()
                best = p.argmax(-1)
                tags[t] = [self.labels[t][k] for k in best.tolist()]
                probs[t] = p.gather(-1, best[:, None])[:, 0].tolist()
            weights = [a[0].float().cpu().numpy() for a in out.attention]
            if weights and not -len(weights) <= layer < len(weights):
                raise InputError(f"option layer={layer}: this model has {len(weights)} self-attention layers")
            preds.append(tagging_prediction(words, tags, [w not in self.seen for w in words], probs, weights, layer))
        return preds

    def _encode_words(self, words: Sequence[str]) -> TaggingItem:
        """An item of words without gold tags (labels: -100, ignored)."""
        labels = tuple([IGNORE] * len(words) for _ in self.targets)
        return TaggingItem(self.words.encode(words), [self._chars(w) for w in words], labels)


def _vocab_from(source: Path, run_dir: Path) -> tuple[Vocab, Vocab]:
    """The word and character vocabularies of run `source`, copied into `run_dir`."""
    missing = [name for name in (WORDS, CHARS) if not (source / name).is_file()]
    if missing:
        raise DataError(
            f"data.vocab_from={source}: no {', '.join(missing)} there; give a run folder of a tagging or "
            "pretraining run (or leave data.vocab_from empty to build the vocabularies)"
        )
    try:
        words, chars = Vocab.load(source / WORDS), Vocab.load(source / CHARS)
    except ValueError as err:
        raise DataError(f"data.vocab_from={source}: {err}") from None
    if words.specials != TAGGING_SPECIALS or chars.specials != TAGGING_SPECIALS:
        raise DataError(f"data.vocab_from={source}: its vocabularies do not reserve <pad> <unk> <mask> at ids 0-2")
    (run_dir / "vocab").mkdir(parents=True, exist_ok=True)
    for name in (WORDS, CHARS):
        shutil.copyfile(source / name, run_dir / name)
    return words, chars


class GreekTaggingTask(_TaggingTask):
    """Part of speech and morphology of the Greek New Testament (SBLGNT), see the module."""

    name = "greek-tagging"
    config_class = GreekTaggingConfig

    @classmethod
    def _make_splits(cls, cfg: GreekTaggingConfig) -> tuple[dict[str, list[TaggedSentence]], tuple[str, ...]]:
        verses = read_sblgnt(cfg.table or None)
        if cfg.split == "book":
            parts = book_split(verses, dev_books=cfg.dev_books, test_books=cfg.test_books)
        else:
            try:
                parts = verse_split(
                    verses, seed=cfg.seed, dev_fraction=cfg.dev_fraction, test_fraction=cfg.test_fraction
                )
            except ValueError as err:
                raise DataError(str(err)) from None
        targets = GREEK_TARGETS[cfg.targets]
        splits = {
            name: [TaggedSentence(v.ref, v.words, {t: getattr(v, t) for t in targets}) for v in part]
            for name, part in parts.items()
        }
        return splits, targets


class ConlluTaggingTask(_TaggingTask):
    """Tagging of the user's CoNLL-U files (UPOS, XPOS, FEATS), see the module."""

    name = "tagging"
    config_class = ConlluTaggingConfig

    @classmethod
    def _make_splits(cls, cfg: ConlluTaggingConfig) -> tuple[dict[str, list[TaggedSentence]], tuple[str, ...]]:
        splits = {}
        for name in ("train", "dev", "test"):
            sentences = read_conllu(getattr(cfg, name))
            splits[name] = [TaggedSentence(s.ref, s.words, {t: getattr(s, t) for t in cfg.targets}) for s in sentences]
        return splits, tuple(cfg.targets)
