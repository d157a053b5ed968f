"""Distance: a synthetic long-range dependency whose distance is controlled (``data.task: distance``).

The sequences of :mod:`attnkit.data.distance`: T tokens, the class decided by a value token and a
query token exactly d positions apart (d from ``data.distances``), every other token a distractor.
Each sequence is given to the document families (``han``, ``encoder-classifier``,
``rnn-classifier``) as a document of one sentence of T words. Evaluation reports the accuracy of
every distance (``accuracy_by_distance``, keys the distances as strings) beside the overall
accuracy, which is the primary metric.

Run folder: ``dataset.json`` holds the config and the sha256 of every split; the splits are
regenerated from the config and its seed (train seed, seed + 1 for dev, seed + 2 for test) and
checked against those sums when a run loads.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor, nn

from ..capabilities import InputKind, TaskCapabilities
from ..data.bible_sections import DocumentBatch
from ..data.distance import DistanceExample, digest, generate, token_names
from ..errors import ConfigError, InputError
from ..evaluation import classification_metrics
from ..io import atomic_write_text
from ..models.specs import DocumentSpec
from ..schema import check_positive
from .base import PrimaryMetric
from .bible_sections import DocumentPrediction, document_loss
from .classification import classification_report

__all__ = ["DistanceConfig", "DistanceTask"]

PAD, UNK = "<pad>", "<unk>"
SPLIT_SEEDS = {"train": 0, "dev": 1, "test": 2}


@dataclass(frozen=True)
class DistanceConfig:
    """``data.task: distance``: the sequences (:mod:`attnkit.data.distance`).

    Attributes:
        distances: the distances d between value and query, tokens, each in [1, length - 1].
        length: T, tokens per sequence; 0 = max(distances) + 1.
        n_classes: C values, queries and classes, >= 2 (C = 2: the class is the XOR of two bits).
        noise_tokens: N distractor types, >= 1.
        train_size, dev_size, test_size: sequences per split (distances in equal shares).
        seed: seed of the train split (dev: seed + 1, test: seed + 2).
    """

    task: str = "distance"
    distances: tuple[int, ...] = (1, 4, 16, 64, 256)
    length: int = 0
    n_classes: int = 2
    noise_tokens: int = 32
    train_size: int = 20000
    dev_size: int = 1000
    test_size: int = 5000
    seed: int = 1234

    @property
    def seq_length(self) -> int:
        return self.length or max(self.distances) + 1

    def check(self) -> None:
        check_positive(self, "train_size", "dev_size", "test_size", "noise_tokens", section="data")
        if self.n_classes < 2:
            raise ConfigError(f"data.n_classes must be >= 2, got {self.n_classes}")
        if not self.distances or self.length < 0:
            raise ConfigError("data.distances must list at least one distance and data.length be >= 0 (0 = auto)")
        bad = [d for d in self.distances if not 1 <= d <= self.seq_length - 1]
        if bad:
            raise ConfigError(
                f"data.distances {bad} do not fit sequences of data.length={self.seq_length} tokens "
                f"(each must be in [1, {self.seq_length - 1}]); raise data.length or set it to 0 (auto)"
            )


@dataclass
class DistanceTask:
    """The distance task as a task plug-in (:class:`attnkit.tasks.base.Task`) for the document
    families; items are :class:`~attnkit.data.distance.DistanceExample` s, batches
    :class:`~attnkit.data.bible_sections.DocumentBatch` es of one sentence each."""

    config: DistanceConfig

    name = "distance"
    config_class = DistanceConfig
    default_family = "rnn-classifier"
    metric = PrimaryMetric("accuracy", higher_is_better=True, best_possible=1.0, tie_break="macro_f1")
    loss_unit = "sequences"
    spec_class = DocumentSpec

    def __post_init__(self) -> None:
        self.vocab = [PAD, UNK, *token_names(self.config.n_classes, self.config.noise_tokens)]
        self.ids = {tok: i for i, tok in enumerate(self.vocab)}

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in range(self.config.n_classes)]

    @property
    def capabilities(self) -> TaskCapabilities:
        """A line of space-separated tokens in, one of the classes out."""
        return TaskCapabilities(InputKind.TEXT, classes=tuple(self.classes))

    @property
    def spec(self) -> DocumentSpec:
        return DocumentSpec(len(self.vocab), self.config.n_classes, 0)

    # --- data and the run folder -------------------------------------------------------------
    @staticmethod
    def _generate(cfg: DistanceConfig, split: str) -> list[DistanceExample]:
        return generate(
            getattr(cfg, f"{split}_size"),
            distances=cfg.distances,
            length=cfg.seq_length,
            n_classes=cfg.n_classes,
            noise_tokens=cfg.noise_tokens,
            seed=cfg.seed + SPLIT_SEEDS[split],
        )

    @classmethod
    def build(cls, cfg: DistanceConfig, run_dir: str | Path) -> tuple["DistanceTask", dict[str, list]]:
        """Generate the splits and write ``dataset.json`` (config, sha256 per split) into `run_dir`."""
        splits = {split: cls._generate(cfg, split) for split in SPLIT_SEEDS}
        info = {"config": asdict(cfg), "sha256": {split: digest(ex) for split, ex in splits.items()}}
        atomic_write_text(Path(run_dir) / "dataset.json", json.dumps(info, indent=1))
        return cls(cfg), splits

    @classmethod
    def load(cls, cfg: DistanceConfig, run_dir: str | Path) -> "DistanceTask":
        return cls(cfg)

    @classmethod
    def load_split(cls, run_dir: str | Path, split: str) -> list[DistanceExample]:
        """The split regenerated from the run's config, checked against its recorded sha256.

        Raises:
            attnkit.errors.ConfigError: if the regenerated split differs from the run's.
        """
        info = json.loads((Path(run_dir) / "dataset.json").read_text(encoding="utf-8"))
        raw: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in info["config"].items()}
        examples = cls._generate(DistanceConfig(**raw), split)
        if digest(examples) != info["sha256"][split]:
            raise ConfigError(f"{run_dir}: the regenerated {split} split differs from the one this run was trained on")
        return examples

    # --- training ------------------------------------------------------------------------------
    @staticmethod
    def encode(examples: Sequence[DistanceExample]) -> list[DistanceExample]:
        return list(examples)

    @staticmethod
    def lengths(item: DistanceExample) -> tuple[int, int]:
        return len(item.tokens), 1

    @staticmethod
    def loss_weight(item: DistanceExample) -> int:
        return 1

    def collate(self, items: Sequence[DistanceExample]) -> DocumentBatch:
        """One sentence per document: tokens (B, 1, T) padded with 0, lengths (B, 1), 1 sentence each."""
        width = max(len(it.tokens) for it in items)
        tokens = torch.zeros(len(items), 1, width, dtype=torch.long)
        for b, it in enumerate(items):
            tokens[b, 0, : len(it.tokens)] = torch.tensor([self.ids.get(t, 1) for t in it.tokens])
        return DocumentBatch(
            tokens,
            torch.tensor([[len(it.tokens)] for it in items], dtype=torch.long),
            torch.ones(len(items), dtype=torch.long),
            torch.tensor([it.label for it in items], dtype=torch.long),
        )

    loss = staticmethod(document_loss)

    # --- evaluation and prediction -------------------------------------------------------------
    @torch.no_grad()
    def _run(self, model: nn.Module, items: Sequence[DistanceExample], batch_size: int = 64):
        device = next(model.parameters()).device
        probs, weights = [], []
        for start in range(0, len(items), batch_size):
            batch = self.collate(items[start : start + batch_size])
            out = model(*(x.to(device) for x in batch[:3]))
            probs.append(torch.softmax(out.logits.float(), dim=-1).cpu())
            weights.extend(out.word_weights[:, :1].float().cpu())
        return torch.cat(probs), weights

    def evaluate(
        self, model: nn.Module, examples: Sequence[DistanceExample], *, decode: Any = None
    ) -> tuple[dict[str, Any], list[DocumentPrediction]]:
        """Accuracy, macro-F1, per-class accuracy, the confusion matrix and ``accuracy_by_distance``
        ({"d": accuracy}), and one prediction per sequence.

        Raises:
            ValueError: for no examples (`decode` is ignored).
        """
        probs, weights = self._run(model, examples)
        predicted = probs.argmax(-1).tolist()
        metrics = classification_metrics(predicted, [e.label for e in examples], len(self.classes))
        metrics["classes"] = self.classes
        by_distance: dict[str, list[bool]] = {}
        for e, p in zip(examples, predicted):
            by_distance.setdefault(str(e.distance), []).append(p == e.label)
        metrics["accuracy_by_distance"] = {
            d: sum(hits) / len(hits) for d, hits in sorted(by_distance.items(), key=lambda kv: int(kv[0]))
        }
        preds = [self._prediction(e.tokens, p, w) for e, p, w in zip(examples, probs, weights)]
        return metrics, preds

    def _prediction(self, tokens: Sequence[str], p: Tensor, word_weights: Tensor) -> DocumentPrediction:
        k = int(p.argmax())
        return DocumentPrediction(self.classes[k], float(p[k]), p.tolist(), [list(tokens)], word_weights, torch.ones(1))

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        lines = classification_report(metrics, "sequences", detailed=detailed)
        for d, acc in metrics.get("accuracy_by_distance", {}).items():
            lines.append(f"  {'distance ' + d + ':':<16}{acc:.2%}")
        return lines

    def predict(
        self, model: nn.Module, inputs: Sequence[str], *, options: Mapping[str, str] = {}, decode: Any = None
    ) -> list[DocumentPrediction]:
        """The class of each input line of space-separated tokens (``n3 v2 n0 q5``: distractors,
        one value, the query last), with the model's weights over the tokens.

        Raises:
            attnkit.errors.InputError: for an option (there are none), an empty line or an unknown token.
        """
        if options:
            raise InputError(f"task {self.name} takes no options, got {', '.join(options)}")
        items = []
        for i, line in enumerate(inputs, 1):
            tokens = tuple(line.split())
            unknown = sorted({t for t in tokens if t not in self.ids or t in (PAD, UNK)})
            if not tokens or unknown:
                raise InputError(
                    f"input {i}: give space-separated tokens v0..v{self.config.n_classes - 1}, "
                    f"q0..q{self.config.n_classes - 1}, n0..n{self.config.noise_tokens - 1}"
                    + (f"; unknown: {' '.join(unknown[:5])}" if unknown else "")
                )
            items.append(DistanceExample(tokens, 0, 0))
        if not items:
            raise InputError("no input lines")
        probs, weights = self._run(model, items)
        return [self._prediction(it.tokens, p, w) for it, p, w in zip(items, probs, weights)]
