"""Masked-language-model pretraining (``data.task: mlm``) [Devlin19] Sec. 3.1, Task #1.

Unlabelled text (:mod:`attnkit.data.unlabelled`: the Greek New Testament or a SWORD Bible, with
the dev and test text of the downstream task's split left out) becomes sequences of words; each
training step masks them by the rule of :mod:`attnkit.data.masking` (15 % of the words
selected; of those 80 % become ``<mask>``, 10 % a random word, 10 % stay), seeded per (run
seed, epoch, example), and the model is trained to give the original word at the selected
positions only. The model is a sequence labeller (:class:`~attnkit.models.specs.TaggingSpec`)
with one target, ``word``, of the vocabulary's size, so that the tagging families and their
reusable encoder pretrain as they are; a later run fine-tunes from it with ``train.init_from``
and ``data.vocab_from`` (the tagging and Bible-sections tasks).

Words come with their characters (for encoders with a character path). A word replaced by
``<mask>`` is read as the single character ``<mask>``, so that the model cannot spell the hidden
word out (nor count its letters); a word replaced by a random word is spelled as that word.

The run folder holds ``vocab/words.txt`` and ``vocab/chars.txt`` (ids 0 ``<pad>``, 1 ``<unk>``,
2 ``<mask>``), ``data/{train,dev,test}.jsonl`` (the sequences with the reference of their first
verse) and ``corpus.json`` (the source, what was left out, the counts).

Metrics on dev (masked with a fixed epoch, so every validation masks the same positions):
masked-word accuracy, the mean cross-entropy at the selected positions (``mlm_loss``, nats, the
primary metric) and its exponential, the perplexity.

Differences from the paper:
    words, not WordPiece subwords, so whole-word masking changes nothing here (the rule supports
    it for subword tokens); no next-sentence prediction (dropped by RoBERTa [Liu19] without loss);
    a sequence is one verse, or consecutive verses of a chapter with ``pack``; each word is
    selected independently with probability 0.15 (as Hugging Face's masking collator) rather than
    exactly 15 % of each sequence.

References:
    [Devlin19] J. Devlin, M.-W. Chang, K. Lee, K. Toutanova. BERT: Pre-training of Deep
    Bidirectional Transformers for Language Understanding. NAACL 2019. arXiv:1810.04805.
    [Liu19] Y. Liu et al. RoBERTa: A Robustly Optimized BERT Pretraining Approach. 2019.
    arXiv:1907.11692.
"""

from __future__ import annotations

import json
import math
import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..capabilities import InputKind, TaskCapabilities
from ..data import sblgnt, unlabelled
from ..data.bible_sections import tokenize
from ..data.masking import TO_MASK, TO_RANDOM, MaskingRule, mask_batch
from ..data.vocab import MASK, TAGGING_SPECIALS, Vocab
from ..errors import ConfigError, InputError
from ..io import atomic_path, atomic_write_text
from ..models.specs import TaggingSpec
from ..predictions import LABEL
from ..schema import check_positive, plain_dict
from .base import LossContext, PrimaryMetric
from .self_attention import SelfAttentionPrediction

__all__ = ["PretrainConfig", "MaskedLMTask", "MLMBatch", "FilledText", "reuse_vocab", "VOCAB_FILES"]

#: the vocabulary files of a pretraining run, relative to its folder (ids 0 <pad>, 1 <unk>, 2 <mask>)
VOCAB_FILES = ("vocab/words.txt", "vocab/chars.txt")

_SOURCES = ("sblgnt", "sword")
_SBLGNT_KEYS = ("split", "dev_books", "test_books", "table")  # keys of the tagging split
_SWORD_KEYS = ("module", "max_verses", "max_words")  # keys of the Bible-sections split
_DEV_EPOCH = 1_000_003  # the epoch dev and test are masked with: never a training epoch in practice


@dataclass(frozen=True)
class PretrainConfig:
    """``data.task: mlm``: the unlabelled text, what is left out of it, the masking rule.

    Attributes:
        source: ``sblgnt`` (the Greek NT) or ``sword`` (a SWORD Bible, ``module``).
        module: the SWORD module (``sword`` only), e.g. ``engWEB2015eb``, ``spaRV1909eb``.
        split: ``verse`` or ``book``: the greek-tagging split whose dev and test verses are left
            out (``sblgnt`` only); with `seed`, `dev_fraction` and `test_fraction` (verse split)
            or `dev_books` and `test_books` (book split), the values of that task's ``data:``.
        seed, dev_fraction, test_fraction: the downstream task's split seed and fractions (the
            greek-tagging verse split, or the bible-sections split with ``sword``).
        dev_books, test_books: the greek-tagging book split's held-out books (``sblgnt``).
        table: a token table of the SBLGNT layout (``sblgnt``); "" = the installed wheel's.
        max_verses, max_words: the bible-sections caps (``sword``; they decide which chapters
            count, hence the split); the pretraining text itself is not capped by them.
        max_len: words per training sequence (longer verses are cut into pieces).
        pack: join consecutive verses of a chapter up to `max_len` words.
        eval_fraction: share of the sequences held out for the MLM's own dev, and as much for test.
        min_freq: occurrences in the training sequences a word needs to get an id.
        max_word_len: characters read per word.
        select, replace_mask, replace_random: the masking rule (:class:`MaskingRule`).
    """

    task: str = "mlm"
    source: str = "sblgnt"
    module: str = "engWEB2015eb"
    split: str = "verse"
    seed: int = 1234
    dev_fraction: float = 0.1
    test_fraction: float = 0.1
    dev_books: tuple[str, ...] = sblgnt.DEFAULT_DEV_BOOKS
    test_books: tuple[str, ...] = sblgnt.DEFAULT_TEST_BOOKS
    table: str = ""
    max_verses: int = 64
    max_words: int = 50
    max_len: int = 64
    pack: bool = False
    eval_fraction: float = 0.02
    min_freq: int = 2
    max_word_len: int = 24
    select: float = 0.15
    replace_mask: float = 0.8
    replace_random: float = 0.1

    @property
    def rule(self) -> MaskingRule:
        return MaskingRule(self.select, self.replace_mask, self.replace_random)

    def check(self) -> None:
        """Raises ConfigError naming the first key out of range or of no effect for the source."""
        if self.source not in _SOURCES:
            raise ConfigError(f"data.source: unknown {self.source!r}; choose one of: {', '.join(_SOURCES)}")
        if self.split not in ("verse", "book"):
            raise ConfigError(f"data.split: unknown {self.split!r}; choose one of: verse, book")
        foreign = _SWORD_KEYS if self.source == "sblgnt" else _SBLGNT_KEYS
        defaults = PretrainConfig.__dataclass_fields__
        for key in foreign:
            if key in defaults and getattr(self, key) != defaults[key].default:
                raise ConfigError(f"data.{key} does not apply to data.source={self.source}; remove it")
        if not (
            0 < self.dev_fraction < 1 and 0 < self.test_fraction < 1 and self.dev_fraction + self.test_fraction < 1
        ):
            raise ConfigError(
                "data.dev_fraction and data.test_fraction must lie in (0, 1) with a sum below 1, "
                f"got {self.dev_fraction} and {self.test_fraction}"
            )
        if not 0 < self.eval_fraction < 0.5:
            raise ConfigError(f"data.eval_fraction must lie in (0, 0.5), got {self.eval_fraction}")
        check_positive(self, "max_verses", "max_words", "max_len", "min_freq", "max_word_len", section="data")
        self.rule.check()


class MLMBatch(NamedTuple):
    """A padded batch of word sequences, before masking (the loss masks them)."""

    words: Tensor  # (B, T) int64 word ids, 0 = padding
    chars: Tensor  # (B, T, L) int64 character ids, 0 = padding
    mask: Tensor  # (B, T) bool, True = a real word
    examples: Tensor  # (B,) int64: each row's index in its split (seeds its masking)


@dataclass
class FilledText:
    """A masked sequence with its predicted words (``attnkit evaluate``; no attention kept)."""

    kind: ClassVar[str] = LABEL
    output: str


def _spelling(vocab: Vocab, chars: Vocab, max_word_len: int) -> Tensor:
    """(V, L) character ids of every word id (specials spelled as the single character ``<mask>``
    for ``<mask>``, nothing for the others)."""
    table = torch.zeros(len(vocab), max_word_len, dtype=torch.long)
    for i, word in enumerate(vocab.itos):
        if i < len(TAGGING_SPECIALS):
            continue
        ids = chars.encode(list(word)[:max_word_len])
        table[i, : len(ids)] = torch.tensor(ids)
    table[vocab.stoi[MASK], 0] = chars.stoi[MASK]
    return table


@dataclass
class MaskedLMTask:
    """Masked-language-model pretraining as a task plug-in (:class:`attnkit.tasks.base.Task`) for
    the sequence-labelling families (:class:`~attnkit.models.specs.TaggingSpec`, one target ``word``)."""

    vocab: Vocab
    chars: Vocab
    config: PretrainConfig

    name = "mlm"
    config_class = PretrainConfig
    default_family = "tagger-transformer"
    metric = PrimaryMetric("mlm_loss", higher_is_better=False)
    loss_unit = "words"
    spec_class = TaggingSpec

    def __post_init__(self) -> None:
        self.spelling = _spelling(self.vocab, self.chars, self.config.max_word_len)  # (V, L)
        self.mask_id = self.vocab.stoi[MASK]

    @property
    def capabilities(self) -> TaskCapabilities:
        """A line of text in (``<mask>`` where a word is hidden), its filled-in words out."""
        return TaskCapabilities(InputKind.TEXT)

    @property
    def spec(self) -> TaggingSpec:
        return TaggingSpec(
            len(self.vocab),
            len(self.chars),
            (("word", len(self.vocab)),),
            self.config.max_len,
            self.config.max_word_len,
            self.vocab.pad_id,
        )

    # --- data and the run folder ---------------------------------------------------------------
    @classmethod
    def build(cls, cfg: PretrainConfig, run_dir: str | Path, *, units=None) -> tuple["MaskedLMTask", dict[str, list]]:
        """Read the source (leaving the downstream dev and test text out), make the sequences, hold
        out ``eval_fraction`` of them for dev and for test, build the word and character
        vocabularies of the training sequences, and write them into `run_dir`.

        Args:
            units: (units, held) instead of reading the source (tests).

        Raises:
            attnkit.errors.ConfigError: for a source that cannot be read or split (a DataError for
                a missing package names its install command).
        """
        try:
            if units is None:
                units = _read_units(cfg)
        except ConfigError:
            raise
        except (ValueError, RuntimeError) as err:  # SwordError is a RuntimeError
            raise ConfigError(f"data.source={cfg.source}: {err}") from None
        found, held = units
        seqs = unlabelled.sequences(found, max_len=cfg.max_len, pack=cfg.pack)
        if len(seqs) < 10:
            raise ConfigError(f"data.source={cfg.source} leaves {len(seqs)} sequences to pretrain on; need >= 10")
        order = list(range(len(seqs)))
        random.Random(cfg.seed + 1).shuffle(order)
        n_eval = max(1, round(len(seqs) * cfg.eval_fraction))
        where = {i: "dev" if k < n_eval else "test" if k < 2 * n_eval else "train" for k, i in enumerate(order)}
        splits: dict[str, list] = {"train": [], "dev": [], "test": []}
        for i, seq in enumerate(seqs):
            splits[where[i]].append(seq)
        train_words = [words for _, words in splits["train"]]
        vocab = Vocab.build(train_words, min_freq=cfg.min_freq, specials=TAGGING_SPECIALS)
        chars = Vocab.build(
            (list(w) for w in vocab.itos[len(TAGGING_SPECIALS) :]), min_freq=1, specials=TAGGING_SPECIALS
        )
        run_dir = Path(run_dir)
        (run_dir / "vocab").mkdir(parents=True, exist_ok=True)
        vocab.save(run_dir / "vocab" / "words.txt")
        chars.save(run_dir / "vocab" / "chars.txt")
        for name, rows in splits.items():
            _write(rows, run_dir / "data" / f"{name}.jsonl")
        meta = {
            "config": plain_dict(cfg),
            "units": len(found),
            "left_out": {"dev": sorted(held.dev), "test": sorted(held.test)},
            "sequences": {k: len(v) for k, v in splits.items()},
            "words": {k: sum(len(w) for _, w in v) for k, v in splits.items()},
            "vocab": len(vocab),
            "chars": len(chars),
        }
        atomic_write_text(run_dir / "corpus.json", json.dumps(meta, ensure_ascii=False, indent=1))
        return cls(vocab, chars, cfg), splits

    @classmethod
    def load(cls, cfg: PretrainConfig, run_dir: str | Path) -> "MaskedLMTask":
        run_dir = Path(run_dir)
        return cls(Vocab.load(run_dir / "vocab" / "words.txt"), Vocab.load(run_dir / "vocab" / "chars.txt"), cfg)

    @classmethod
    def load_split(cls, run_dir: str | Path, split: str) -> list:
        path = Path(run_dir) / "data" / f"{split}.jsonl"
        return [tuple((d["ref"], tuple(d["words"]))) for d in map(json.loads, path.read_text("utf-8").splitlines())]

    # --- training ------------------------------------------------------------------------------
    def encode(self, examples: Sequence[tuple[str, tuple[str, ...]]]) -> list[tuple[int, list[int]]]:
        """(index in the split, word ids) per sequence."""
        return [(i, self.vocab.encode(words)) for i, (_, words) in enumerate(examples)]

    @staticmethod
    def lengths(item: tuple[int, list[int]]) -> tuple[int, int]:
        return len(item[1]), len(item[1])

    @staticmethod
    def loss_weight(item: tuple[int, list[int]]) -> int:
        return len(item[1])

    def collate(self, items: Sequence[tuple[int, list[int]]]) -> MLMBatch:
        t = max(len(ids) for _, ids in items)
        words = torch.zeros(len(items), t, dtype=torch.long)
        for b, (_, ids) in enumerate(items):
            words[b, : len(ids)] = torch.tensor(ids)
        mask = words != self.vocab.pad_id
        return MLMBatch(words, self.spelling[words], mask, torch.tensor([i for i, _ in items]))

    def _masked(self, batch: MLMBatch, seed: int, epoch: int) -> tuple[Tensor, Tensor, Tensor]:
        """(words (B, T), chars (B, T, L), action (B, T) int8) after the masking rule."""
        inputs, action = mask_batch(
            batch.words,
            batch.mask,
            self.config.rule,
            seed=seed,
            epoch=epoch,
            examples=batch.examples.tolist(),
            mask_id=self.mask_id,
            random_ids=(len(TAGGING_SPECIALS), len(self.vocab)),
            protected=(self.vocab.unk_id,),
        )
        spelling = self.spelling.to(inputs.device)
        changed = (action == TO_MASK) | (action == TO_RANDOM)
        chars = torch.where(changed.unsqueeze(-1), spelling[inputs], batch.chars)  # masked: the one char <mask>
        return inputs, chars, action

    def loss(self, model: nn.Module, batch: MLMBatch, ctx: LossContext) -> Tensor:
        """Cross-entropy of the original words at the selected positions [Devlin19] Sec. 3.1,
        scaled so that the trainer's division by the batch's real words gives their mean:
        sum over the selected * (real words / selected words)."""
        inputs, chars, action = self._masked(batch, ctx.train.seed, ctx.epoch)
        selected = action != 0
        logits = model(inputs, chars, batch.mask).logits["word"]  # (B, T, V)
        n_sel = int(selected.sum())
        if n_sel == 0:
            return logits.sum() * 0.0
        total = F.cross_entropy(logits[selected].float(), batch.words[selected], reduction="sum")
        return total * (int(batch.mask.sum()) / n_sel)

    # --- evaluation and prediction -------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, model: nn.Module, examples: Sequence, *, decode: Any = None) -> tuple[dict[str, Any], list]:
        """Masked-word accuracy, ``mlm_loss`` (mean cross-entropy at the selected positions, nats)
        and perplexity, with every example masked as in epoch :data:`_DEV_EPOCH` of seed
        ``data.seed`` (the same positions at every validation).

        Raises:
            ValueError: for no examples (`decode` is ignored).
        """
        if not examples:
            raise ValueError("no examples to evaluate")
        device = next(model.parameters()).device
        items = self.encode(examples)
        total, correct, n = 0.0, 0, 0
        preds: list[FilledText] = []
        for start in range(0, len(items), 64):
            batch = self.collate(items[start : start + 64])
            batch = MLMBatch(*(x.to(device) for x in batch))
            inputs, chars, action = self._masked(batch, self.config.seed, _DEV_EPOCH)
            logits = model(inputs, chars, batch.mask).logits["word"].float()
            selected = action != 0
            total += float(F.cross_entropy(logits[selected], batch.words[selected], reduction="sum"))
            guess = logits.argmax(-1)
            correct += int((guess[selected] == batch.words[selected]).sum())
            n += int(selected.sum())
            for b in range(len(inputs)):
                words = [
                    f"[{self.vocab.itos[int(guess[b, j])]}]" if selected[b, j] else self.vocab.itos[int(inputs[b, j])]
                    for j in range(int(batch.mask[b].sum()))
                ]
                preds.append(FilledText(" ".join(words)))
        loss = total / max(n, 1)
        metrics = {
            "mlm_loss": loss,
            "perplexity": math.exp(min(loss, 50.0)),
            "masked_accuracy": correct / max(n, 1),
            "n_masked": n,
            "n": len(examples),
        }
        return metrics, preds

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        return [
            f"masked-word accuracy: {metrics['masked_accuracy']:.2%} over {metrics['n_masked']} masked words",
            f"MLM loss: {metrics['mlm_loss']:.4f} nats (perplexity {metrics['perplexity']:.1f})",
        ]

    @torch.no_grad()
    def predict(
        self, model: nn.Module, inputs: Sequence[str], *, options: Mapping[str, str] = {}, decode: Any = None
    ) -> list[SelfAttentionPrediction]:
        """Fill in the words written ``<mask>`` (or ``[MASK]``) in each line, with every layer's
        and head's self-attention (kind ``self-attention``); a line without one gets every word
        predicted from itself.

        Raises:
            attnkit.errors.InputError: for an option (there are none), or an empty or over-long line.
        """
        if options:
            raise InputError(f"task {self.name} takes no options, got {', '.join(options)}")
        device = next(model.parameters()).device
        out = []
        for k, line in enumerate(inputs, 1):
            words = [MASK if w in (MASK, "[MASK]") else w for w in _tokens(line, self.config.source)]
            if not words or len(words) > self.config.max_len:
                raise InputError(f"input {k} has {len(words)} words; give 1 to {self.config.max_len}")
            ids = torch.tensor([self.vocab.encode(words)], device=device)
            mask = torch.ones_like(ids, dtype=torch.bool)
            result = model(ids, self.spelling.to(device)[ids], mask)
            guess = result.logits["word"][0].argmax(-1).tolist()
            hidden = [j for j, w in enumerate(words) if w == MASK] or range(len(words))
            filled = [f"[{self.vocab.itos[guess[j]]}]" if j in hidden else w for j, w in enumerate(words)]
            weights = (
                torch.stack([a[0] for a in result.attention]).float().cpu().numpy()
                if result.attention
                else (np.zeros((0, 1, len(words), len(words)), dtype=np.float32))
            )
            out.append(SelfAttentionPrediction(" ".join(filled), words, weights, prompt_length=len(words)))
        return out


def _tokens(line: str, source: str) -> list[str]:
    """A user's line as the corpus is tokenised: the Greek NT by white space (NFC), a SWORD Bible
    by :func:`attnkit.data.bible_sections.tokenize` (keeping ``<mask>`` / ``[MASK]``)."""
    if source == "sblgnt":
        return unicodedata.normalize("NFC", line).split()
    out: list[str] = []
    for piece in line.split():
        out.extend([piece] if piece in (MASK, "[MASK]") else tokenize(piece))
    return out


def reuse_vocab(source: str | Path, run_dir: str | Path) -> Vocab:
    """The word vocabulary of the run `source` (``data.vocab_from``), with its vocabulary files
    copied byte for byte into `run_dir` (so ``train.init_from`` sees the same files).

    Raises:
        attnkit.errors.ConfigError: one line, when `source` has no readable ``vocab/words.txt``.
    """
    source, run_dir = Path(source), Path(run_dir)
    words = source / VOCAB_FILES[0]
    if not words.is_file():
        raise ConfigError(
            f"data.vocab_from={source}: no {VOCAB_FILES[0]} there; give the folder of a pretraining run "
            "(`attnkit train configs/pretrain-*.yaml --out DIR`)"
        )
    try:
        vocab = Vocab.load(words)
    except ValueError as err:
        raise ConfigError(f"data.vocab_from={source}: {err}") from None
    for name in VOCAB_FILES:
        if (source / name).is_file():
            with atomic_path(run_dir / name) as tmp:
                tmp.write_bytes((source / name).read_bytes())
    return vocab


def _read_units(cfg: PretrainConfig):
    if cfg.source == "sblgnt":
        return unlabelled.sblgnt_units(
            split=cfg.split,
            seed=cfg.seed,
            dev_fraction=cfg.dev_fraction,
            test_fraction=cfg.test_fraction,
            dev_books=cfg.dev_books,
            test_books=cfg.test_books,
            read=(lambda: sblgnt.read_sblgnt(cfg.table)) if cfg.table else None,
        )
    return unlabelled.sword_units(cfg)


def _write(rows: Sequence[tuple[str, tuple[str, ...]]], path: Path) -> None:
    text = "".join(json.dumps({"ref": ref, "words": list(words)}, ensure_ascii=False) + "\n" for ref, words in rows)
    atomic_write_text(path, text)
