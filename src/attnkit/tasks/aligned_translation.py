"""Translation on a corpus with word alignments: AER on the gold, and guided alignment training.

``data.task: aligned-translation`` is :class:`~attnkit.tasks.TranslationTask` (same corpus
folder, subwords, models, decoding and BLEU/chrF) on a folder from ``attnkit data alignments``,
plus two things:

- evaluation also force-decodes each example that has gold links (``{dev,test}.gold.pharaoh``)
  and scores the attention's word alignment by AER, precision and recall
  (:func:`attnkit.evaluation.word_alignment.links_from_weights`, argmax per target word, source
  pieces summed; the Transformer's layer ``align_layer`` and head ``align_head``, or the choice
  that ``attnkit evaluate --split dev --choose`` made on the dev gold and kept in the run folder's
  ``alignment.json``);
- ``reverse: true`` trains the other direction (English → Greek) on the same folder, links
  flipped, for symmetrised attention alignments (``attnkit align --reverse RUN2``);
- with ``guided_weight`` > 0, guided alignment training [Garg19] Sec. 4: one cross-attention head
  (``guided_layer``, ``guided_head``) of the Transformer, or the RNN's single attention, is pulled
  towards the statistical aligner's links of the training verses (``{split}.{guide}.pharaoh``,
  eflomal by default; never the gold): loss = CE + lambda * sum_t sum_j -G^p_{t,j} log A_{t,j},
  with G^p the row-normalised link matrix spread to subword pieces
  (:func:`~attnkit.evaluation.word_alignment.piece_link_matrix`). Both terms are summed over
  target tokens and divided by their number, as the trainer does, so lambda weighs the per-token
  means as in the paper's L = L_t + lambda L_a.

Differences from the paper: [Garg19] supervise the head when the decoder's input is the target
word being aligned; here row t of the attention is the step that *predicts* target token t (the
convention of every attention in attnkit, and the one alignments are read with), so training and
extraction agree. Unaligned target pieces contribute nothing (rows of G^p are all zero), as in
fairseq's implementation. Sampled hard attention (REINFORCE) is not supported with guidance.

References:
    [Garg19] S. Garg, S. Peitz, U. Nallasamy, M. Paulik. Jointly Learning to Align and Translate
    with Transformer Models. EMNLP 2019. arXiv:1909.02074.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..capabilities import GoldKind, InputKind, TaskCapabilities
from ..data import Vocab, collate
from ..decoding import DecodeOptions
from ..errors import ConfigError
from ..evaluation.alignment import alignment_error_rate, read_pharaoh, write_pharaoh
from ..evaluation.word_alignment import AlignmentChoice, choice_links, piece_link_matrix, piece_words
from ..io import atomic_write_text
from ..losses import linear_cross_entropy
from .base import LossContext
from .seq2seq import TeacherForcedBatch
from .translation import SPLITS, TranslationConfig, TranslationExample, TranslationTask

__all__ = ["AlignedTranslationConfig", "AlignedTranslationTask", "AlignedExample", "AlignedBatch", "CHOICE_FILE"]

log = logging.getLogger(__name__)

CHOICE_FILE = "alignment.json"  # in a run folder: the alignment choice made on the dev gold


@dataclass(frozen=True)
class AlignedTranslationConfig(TranslationConfig):
    """``data.task: aligned-translation``: a translation corpus with gold and statistical word links."""

    task: str = "aligned-translation"
    max_source_len: int = 192  # subword tokens: Greek verses run to 60 words
    guide: str = "eflomal"  # links that guide training: {split}.<guide>.pharaoh in the corpus folder
    guided_weight: float = 0.0  # lambda of [Garg19]; 0 = no guided alignment (0.05 in the paper)
    guided_layer: int = -2  # decoder layer of the supervised head (negative: from the end; penultimate in the paper)
    guided_head: int = 0  # the supervised head
    align_layer: int = -1  # layer whose attention the dev/test AER reads (the guided layer when guided)
    align_head: str = "mean"  # head whose attention the AER reads: "mean" or an index as a string, e.g. "0"
    reverse: bool = False  # train target -> source (English -> Greek): sides swapped, links flipped

    def check(self) -> None:
        super().check()
        if self.guided_weight < 0:
            raise ConfigError(
                f"data.guided_weight must be >= 0 (0 turns guided alignment off), got {self.guided_weight}"
            )
        if self.guided_head < 0:
            raise ConfigError(f"data.guided_head must be a head index >= 0, got {self.guided_head}")
        if self.align_head != "mean" and not self.align_head.isdigit():
            raise ConfigError(f"data.align_head must be 'mean' or a head index, got {self.align_head!r}")
        if "/" in self.guide or not self.guide or self.guide == "gold":
            raise ConfigError(
                f"data.guide: {self.guide!r} is not a link file name; give the aligner's name, e.g. "
                "eflomal for {split}.eflomal.pharaoh (never the gold)"
            )


@dataclass(frozen=True)
class AlignedExample(TranslationExample):
    """A translation example with the aligner's links (guide) and, on dev/test, the gold links."""

    guide: frozenset = frozenset()  # (source word, target word) links of the statistical aligner
    gold: frozenset | None = None  # gold sure links, None where there is no gold


class AlignedBatch(NamedTuple):
    """:class:`attnkit.data.Batch`'s fields plus the guided-alignment target."""

    src: Tensor  # (B, Tk)
    src_lengths: Tensor  # (B,)
    tgt_in: Tensor  # (B, Tq)
    tgt_out: Tensor  # (B, Tq)
    n_tokens: int
    guide: Tensor | None  # (B, Tq, Tk) row-normalised links, row t for tgt_out[:, t]; None without guidance


@dataclass
class AlignedTranslationTask(TranslationTask):
    """:class:`TranslationTask` with AER on gold links and guided alignment training (module docstring)."""

    guided_weight: float = 0.0
    guided_layer: int = -2
    guided_head: int = 0
    choice: AlignmentChoice = field(default_factory=AlignmentChoice)  # how the AER reads the attention
    reverse: bool = False

    name = "aligned-translation"
    config_class = AlignedTranslationConfig
    default_family = "transformer"

    @property
    def capabilities(self) -> TaskCapabilities:
        """Translation with gold word links on its test examples (``example.gold``) and a kept
        alignment layer / head (:attr:`choice`, :meth:`save_choice`)."""
        return TaskCapabilities(
            InputKind.TEXT,
            decodes=True,
            gold=GoldKind.WORD_LINKS,
            alignment_choice=True,
            max_source_len=self.max_source_len,
        )

    def _configure(self, cfg: AlignedTranslationConfig) -> "AlignedTranslationTask":
        self.guided_weight, self.guided_layer, self.guided_head = cfg.guided_weight, cfg.guided_layer, cfg.guided_head
        self.reverse = cfg.reverse
        if cfg.guided_weight > 0:
            self.choice = AlignmentChoice(cfg.guided_layer, cfg.guided_head)
        else:
            self.choice = AlignmentChoice(cfg.align_layer, _head(cfg.align_head))
        return self

    @staticmethod
    def read_corpora(data_cfg):
        """The corpus splits, sides swapped when ``data.reverse``."""
        corpora = TranslationTask.read_corpora(data_cfg)
        if data_cfg.reverse:
            corpora = {s: dataclasses.replace(c, src=c.tgt, tgt=c.src) for s, c in corpora.items()}
        return corpora

    @classmethod
    def build(cls, data_cfg, run_dir: str | Path):
        """As :meth:`TranslationTask.build`, plus the guide links of every split and the gold of
        dev and test, read from the corpus folder and saved in the run folder's ``data/``.

        Raises:
            attnkit.errors.ConfigError: if a link file is missing or its line count differs from
                its split's.
        """
        task, corpora = super().build(data_cfg, run_dir)
        task._configure(data_cfg)
        corpus, data = Path(data_cfg.corpus), Path(run_dir) / "data"
        splits: dict[str, list[AlignedExample]] = {}
        for split in SPLITS:
            examples = corpora[split]
            n, cut = len(examples), split == "dev"  # dev keeps its first data.n_dev pairs
            guide = _read_links(
                corpus / f"{split}.{data_cfg.guide}.pharaoh", n, required=data_cfg.guided_weight > 0, prefix=cut
            )
            gold = (
                _read_links(corpus / f"{split}.gold.pharaoh", n, required=False, prefix=cut)
                if split != "train"
                else None
            )
            if data_cfg.reverse:
                guide, gold = _flip(guide), _flip(gold)
            if guide is not None:
                write_pharaoh(data / f"{split}.guide.pharaoh", guide)
            if gold is not None:
                write_pharaoh(data / f"{split}.gold.pharaoh", gold)
            splits[split] = _attach(examples, guide, gold)
        return task, splits

    @classmethod
    def load(cls, data_cfg, run_dir: str | Path) -> "AlignedTranslationTask":
        """The task of a run folder; the alignment choice saved by :meth:`save_choice` wins over the config's."""
        task = super().load(data_cfg, run_dir)._configure(data_cfg)
        path = Path(run_dir) / CHOICE_FILE
        if path.is_file():
            try:
                task.choice = AlignmentChoice.from_dict(json.loads(path.read_text(encoding="utf-8"))["choice"])
            except (ValueError, KeyError, TypeError) as err:
                raise ConfigError(
                    f"{path}: not an alignment choice ({err}); delete it or rerun "
                    "`attnkit evaluate --split dev --choose`"
                ) from None
        return task

    def save_choice(self, run_dir: str | Path, choice: AlignmentChoice, score: dict) -> None:
        """Keep `choice` (made on the dev gold, with its `score`) in the run folder for later runs."""
        self.choice = choice
        atomic_write_text(
            Path(run_dir) / CHOICE_FILE, json.dumps({"choice": choice.as_dict(), "dev": score}, indent=2) + "\n"
        )

    @staticmethod
    def load_split(run_dir: str | Path, split: str) -> list[AlignedExample]:
        """A run folder's saved split with its guide and gold links (where saved)."""
        examples = TranslationTask.load_split(run_dir, split)
        data = Path(run_dir) / "data"
        guide = _read_links(data / f"{split}.guide.pharaoh", len(examples), required=False)
        gold = _read_links(data / f"{split}.gold.pharaoh", len(examples), required=False)
        return _attach(examples, guide, gold)

    # --- training ----------------------------------------------------------------------------
    def encode(self, examples: Sequence[AlignedExample]) -> list[tuple]:
        """Items (source ids, target ids, guide): the guide is (links, source piece words, target
        piece words), or None without guidance; pairs over ``max_source_len`` are left out."""
        items, dropped = [], 0
        for e in examples:
            src_pieces, tgt_pieces = self.src_subwords.encode(e.text), self.tgt_subwords.encode(e.target)
            if len(src_pieces) > self.max_source_len or len(tgt_pieces) > self.max_source_len:
                dropped += 1
                continue
            guide = None
            if self.guided_weight > 0:
                guide = (tuple(sorted(e.guide)), tuple(piece_words(src_pieces)), tuple(piece_words(tgt_pieces)))
            items.append((self.src_vocab.encode(src_pieces), self.encode_target(e.target), guide))
        if dropped:
            log.info(
                "left out %d of %d training pairs longer than %d subword tokens (data.max_source_len)",
                dropped,
                len(examples),
                self.max_source_len,
            )
        return items

    def collate(self, items: Sequence[tuple]) -> AlignedBatch:
        batch = collate([s for s, _, _ in items], [t for _, t, _ in items])
        if all(g is None for _, _, g in items):
            return AlignedBatch(*batch, None)
        guide = torch.zeros(len(items), batch.tgt_out.shape[1], batch.src.shape[1])
        for b, (_, _, g) in enumerate(items):
            if g is not None:
                links, src_words, tgt_words = g
                guide[b, : len(tgt_words), : len(src_words)] = piece_link_matrix(set(links), src_words, tgt_words)
        return AlignedBatch(*batch, guide)

    def loss(self, model: nn.Module, batch: TeacherForcedBatch, ctx: LossContext) -> Tensor:
        """The translation loss, plus lambda times the guided alignment cross-entropy (module docstring).

        Raises:
            ValueError: for a model that samples hard attention, or has no attention, when guided.
        """
        if self.guided_weight <= 0:
            return super().loss(model, batch, ctx)
        guide = batch.guide if isinstance(batch, AlignedBatch) else None
        if guide is None:
            raise ValueError("guided alignment needs batches with guide links (AlignedTranslationTask.collate)")
        generator = getattr(model, "generator", None)
        fused = generator if isinstance(generator, nn.Linear) else None
        kwargs = {"align_layer": self.guided_layer} if hasattr(model, "attention_maps") else {}
        out = model(batch.src, batch.src_lengths, batch.tgt_in, project=fused is None, **kwargs)
        if getattr(out, "log_prob", None) is not None or out.weights is None:
            raise ValueError(
                "guided alignment needs a model with soft attention (not sampled hard attention, not none)"
            )
        smoothing = ctx.train.label_smoothing
        if fused is not None:
            ce = linear_cross_entropy(
                out[0].flatten(0, 1),
                fused.weight,
                fused.bias,
                batch.tgt_out.flatten(),
                ignore_index=Vocab.pad_id,
                label_smoothing=smoothing,
            )
        else:
            ce = F.cross_entropy(
                out[0].float().flatten(0, 1),
                batch.tgt_out.flatten(),
                ignore_index=Vocab.pad_id,
                reduction="sum",
                label_smoothing=smoothing,
            )
        weights = out.weights if out.weights.dim() == 3 else out.weights[:, self.guided_head]  # (B, Tq, Tk)
        tiny = torch.finfo(weights.dtype).tiny
        align = -(guide.to(weights.dtype) * weights.clamp_min(tiny).log()).sum()  # [Garg19] L_a, summed
        return ce + self.guided_weight * align

    # --- evaluation --------------------------------------------------------------------------
    def alignments(
        self, model: nn.Module, examples: Sequence[TranslationExample], choice: AlignmentChoice | None = None
    ) -> list[set[tuple[int, int]]]:
        """Word links (source word, target word) of the model's attention on each example's
        reference (force decoding), read by `choice` (default: the task's)."""
        choice = choice or self.choice
        forced = self.forced_attention(model, [(e.text, e.target) for e in examples])
        return [
            choice_links(
                f.weights,
                f.src_tokens,
                f.tgt_tokens,
                choice,
                n_src_words=len(e.text.split()),
                n_tgt_words=len(e.target.split()),
            )
            for f, e in zip(forced, examples)
        ]

    def evaluate(
        self, model: nn.Module, examples: Sequence[TranslationExample], *, decode: DecodeOptions | None = None
    ):
        """BLEU/chrF as :meth:`TranslationTask.evaluate`, plus AER, precision and recall of the
        attention's alignment where the examples have gold links (and the model has attention)."""
        metrics, translations = super().evaluate(model, examples, decode=decode)
        golden = [(e, gold) for e in examples if (gold := getattr(e, "gold", None)) is not None]  # AlignedExamples
        if golden and getattr(model, "uses_attention", True):
            score = alignment_error_rate(self.alignments(model, [e for e, _ in golden]), [gold for _, gold in golden])
            metrics.update(
                {
                    "aer": score.aer,
                    "align_precision": score.precision,
                    "align_recall": score.recall,
                    "align_n": score.n_sentences,
                    "align_choice": self.choice.label(),
                }
            )
        return metrics, translations

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        lines = super().report(metrics, detailed=detailed)
        if "aer" in metrics:
            lines[3:3] = [
                f"{'AER:':<16}{metrics['aer']:.4f}  (precision {metrics['align_precision']:.4f}, recall "
                f"{metrics['align_recall']:.4f}, {metrics['align_n']} gold verses, "
                f"{metrics['align_choice']})"
            ]
        return lines


def _head(text: str) -> str | int:
    return "mean" if text == "mean" else int(text)


def _read_links(path: Path, n: int, *, required: bool, prefix: bool = False) -> list[set[tuple[int, int]]] | None:
    """The links of `path`'s first `n` lines (all its lines must be `n`, or >= n with `prefix`)."""
    if not path.is_file():
        if required:
            raise ConfigError(
                f"data.guide: {path} not found; run `attnkit data alignments` (it writes the eflomal "
                "links) or set data.guided_weight: 0"
            )
        return None
    try:
        links = read_pharaoh(path)
    except ValueError as err:
        raise ConfigError(f"data.corpus: {err}") from None
    if len(links) != n and not (prefix and len(links) > n):
        raise ConfigError(
            f"data.corpus: {path} has {len(links)} lines but its split has {n} sentence pairs; "
            "rebuild the corpus with `attnkit data alignments --force`"
        )
    return links[:n]


def _flip(alignments):
    return None if alignments is None else [{(j, i) for i, j in links} for links in alignments]


def _attach(examples: Sequence[TranslationExample], guide, gold) -> list[AlignedExample]:
    return [
        AlignedExample(
            e.text,
            e.target,
            e.locale,
            frozenset(guide[k]) if guide is not None else frozenset(),
            frozenset(gold[k]) if gold is not None else None,
        )
        for k, e in enumerate(examples)
    ]
