"""The task plug-in interface: what every task (text, images, speech, graphs...) provides.

A task is a class registered by name in :data:`attnkit.tasks.TASKS`; ``data.task`` in a run
config selects it and the rest of the ``data:`` section is loaded strictly into its
``config_class``. The trainer, the run folder, ``attnkit train / evaluate / predict / compare``
and the studies talk to a task only through :class:`Task`, and to its model only through the
model's forward and the decoding API; nothing outside the plug-in branches on a task's name.
``docs/architecture.md`` shows the smallest complete task.

A task object holds what was learned from the training data (vocabularies, subword models,
class names); it is made by :meth:`Task.build` when a run starts and re-made from the run
folder by :meth:`Task.load`. Examples are whatever the task likes (dataclasses); *items* are
examples encoded for the model (token ids, tensors), and a *batch* is what :meth:`Task.collate`
makes of a list of items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Protocol, Sequence, TypeVar, runtime_checkable

from torch import Tensor, nn

from ..capabilities import TaskCapabilities
from ..predictions import Prediction

if TYPE_CHECKING:
    from ..decoding.options import DecodeOptions

_Score = TypeVar("_Score", float, tuple[float, float])  # a value, or a :meth:`PrimaryMetric.key` tuple

__all__ = [
    "PrimaryMetric",
    "LossContext",
    "Task",
    "Prediction",
    "SpanGoldTask",
    "AlignmentChoiceTask",
    "TextDecodingTask",
]


@dataclass(frozen=True)
class PrimaryMetric:
    """The metric that picks the best checkpoint and drives early stopping.

    Attributes:
        name: a key of the metrics :meth:`Task.evaluate` returns (e.g. ``"exact_match"``, ``"bleu"``).
        higher_is_better: False for losses and error rates.
        best_possible: the metric's best value, if it has one (1.0 for an accuracy, 100 for
            BLEU); training stops as soon as validation reaches it. None: never stop for that.
        tie_break: another metric (same direction) that decides between equal values of this
            one, e.g. macro-F1 between two equal accuracies on a small dev set; None: the first
            of equal values is kept.
    """

    name: str
    higher_is_better: bool = True
    best_possible: float | None = None
    tie_break: str | None = None

    def key(self, metrics: dict) -> tuple[float, float]:
        """(value, tie-break value) of a metrics dict, for :meth:`better`."""
        return (metrics[self.name], metrics.get(self.tie_break, 0.0) if self.tie_break else 0.0)

    def better(self, new: _Score, old: _Score) -> bool:
        """True if `new` beats `old` (strictly); values or :meth:`key` tuples."""
        return new > old if self.higher_is_better else new < old

    def reached_best(self, value: float) -> bool:
        if self.best_possible is None:
            return False
        return value >= self.best_possible if self.higher_is_better else value <= self.best_possible


@dataclass
class LossContext:
    """What a task's loss may use besides the model and the batch.

    Attributes:
        train: the run's ``train:`` section (:class:`attnkit.config.TrainConfig`: label
            smoothing, REINFORCE weights, ...).
        state: rank-local values that persist across steps and are saved with the trainer state
            for resuming (e.g. the REINFORCE reward baseline). JSON-serialisable values only.
        epoch: the pass over the training items the batch belongs to (0 first; restored on
            resume), for losses that draw per-epoch randomness per item (masked-LM masking).
    """

    train: Any
    state: dict[str, Any] = field(default_factory=dict)
    epoch: int = 0


@runtime_checkable
class Task(Protocol):
    """The interface of a task plug-in.

    Class attributes:
        name: the ``data.task`` value that selects it.
        config_class: frozen dataclass of the ``data:`` section (first field ``task``), with a
            ``check()`` raising :class:`~attnkit.errors.ConfigError`.
        default_family: ``model.arch`` used when a config gives none.
        metric: the primary metric (best checkpoint, early stopping).
        loss_unit: what the loss is averaged over, for logs (``"target tokens"``, ``"documents"``).
        spec_class: the :class:`~attnkit.models.specs.ModelSpec` subclass :attr:`spec` returns;
            a config pairs the task only with families that build for it.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    default_family: ClassVar[str]
    metric: ClassVar[PrimaryMetric]
    loss_unit: ClassVar[str]
    spec_class: ClassVar[type]

    # --- data and the run folder -------------------------------------------------------------
    @classmethod
    def build(cls, cfg: Any, run_dir: Path) -> tuple["Task", dict[str, list]]:
        """Make the splits (``"train"``, ``"dev"``, ``"test"``) from the config, learn what is
        learned from train (vocabularies...), and write both into `run_dir` so that
        :meth:`load` and :meth:`load_split` can read them back.

        Raises:
            attnkit.errors.ConfigError: for data that cannot be built from this config.
        """

    @classmethod
    def load(cls, cfg: Any, run_dir: Path) -> "Task":
        """The task as :meth:`build` saved it in `run_dir`."""

    @classmethod
    def load_split(cls, run_dir: Path, split: str) -> list:
        """The examples of a saved split."""

    @property
    def spec(self) -> Any:
        """The :class:`attnkit.models.specs.ModelSpec` a model family builds for."""

    @property
    def capabilities(self) -> TaskCapabilities:
        """What the task can do with raw input (:class:`attnkit.capabilities.TaskCapabilities`):
        the kind of input, its options, decoding, gold alignments, class names. Read once when a
        run loads (:func:`attnkit.training.load_run`); a task that declares nothing gets the
        defaults (text input, no options, no decoding). The methods a declaration promises
        (``gold_alignment`` for span gold, ``choice`` / ``save_choice`` for an alignment choice,
        ``source_tokens`` for a decoding text task) are then called directly."""

    # --- training ------------------------------------------------------------------------------
    def encode(self, examples: Sequence) -> list:
        """Training items of `examples` (what :meth:`collate` takes)."""

    def lengths(self, item: Any) -> tuple[int, int]:
        """(input size, output size) of an item, for token-budget batches (``train.batch_tokens``)."""

    def loss_weight(self, item: Any) -> int:
        """How many units of the loss an item contributes (target tokens, 1 per document); the
        loss of a step is the sum over its items divided by the sum of their weights."""

    def collate(self, items: Sequence) -> Any:
        """A batch (tensors on the CPU) of `items`; the trainer moves it to the model's device."""

    def loss(self, model: nn.Module, batch: Any, ctx: LossContext) -> Tensor:
        """The *summed* training loss of `batch` (a float32 scalar); the trainer divides it by
        the batch's total :meth:`loss_weight` and runs it under autocast when asked."""

    # --- evaluation and prediction -------------------------------------------------------------
    def evaluate(
        self, model: nn.Module, examples: Sequence, *, decode: "DecodeOptions | None" = None
    ) -> tuple[dict[str, Any], list]:
        """Score `model` (in eval mode) on `examples`: the metrics (``metric.name`` among them;
        plain numbers, strings and lists, JSON-serialisable) and one prediction per example.
        `decode`: the decoding options of a task that decodes (non-decoding tasks take None)."""

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        """Lines that present :meth:`evaluate`'s metrics to a person; `detailed` adds the finer
        breakdowns a task has (per class, per locale...)."""

    def predict(
        self,
        model: nn.Module,
        inputs: Sequence[str],
        *,
        options: Mapping[str, str] = {},
        decode: "DecodeOptions | None" = None,
    ) -> list[Prediction]:
        """Predictions for raw user inputs (a line of text, an image path, a node id...), in order,
        each carrying its attention and its ``kind`` (:mod:`attnkit.predictions`), drawn by the
        views registry (:data:`attnkit.viz.views.VIEWS`). `options` are the input options the
        task declares (``capabilities.options``); `decode` the decoding options of a task that
        decodes.

        Raises:
            attnkit.errors.InputError: for an input the task cannot take, or an unknown option;
                checked for every input before any prediction is made.
        """


# --- the methods a declaration promises (checked when a run loads; call sites cast to these) ------
class SpanGoldTask(Protocol):
    """A task declaring ``gold=GoldKind.SPANS``."""

    def gold_alignment(self, example: Any) -> list[tuple[int, int, int]]:
        """Per output position of `example`'s target, (position, source start, source end)."""


class AlignmentChoiceTask(Protocol):
    """A task declaring ``alignment_choice=True``: the kept choice and how to keep a new one."""

    choice: Any  # attnkit.evaluation.word_alignment.AlignmentChoice

    def save_choice(self, run_dir: Path, choice: Any, score: dict) -> None:
        """Keep `choice` (with its dev `score`) in the run folder."""


class TextDecodingTask(Protocol):
    """A task declaring ``decodes=True`` with text input: it tokenises a line before decoding."""

    def source_tokens(self, text: str, locale: str = "") -> list[str]:
        """The source tokens of a line, as the model reads them."""
