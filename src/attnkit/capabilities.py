"""What a run can do, declared: the capabilities of a task, of a model family's model, and of the
two together.

A task declares :class:`TaskCapabilities` (its ``capabilities`` property: the kind of raw input
it takes, the input options with their choices, whether it decodes sequences, which gold
alignments it has, ...); a model family declares :class:`ModelCapabilities` for the model it
builds from a config (``Family.capabilities(cfg)``: whether it decodes step by step, whether it
attends at all, whether it has per-layer maps, how many heads). :func:`attnkit.training.load_run`
checks the declarations against the objects once, when a run loads, and keeps the result as
:class:`RunCapabilities` on the run. The CLI, the explorer and the studies ask these
declarations; none of them probes a task, a model or a prediction with ``hasattr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Mapping

__all__ = ["InputKind", "GoldKind", "InputOption", "TaskCapabilities", "ModelCapabilities", "RunCapabilities"]


class InputKind(str, Enum):
    """The raw input a task's ``predict`` takes."""

    TEXT = "text"  # a line of text, or a name (a graph node)
    IMAGE = "image"  # the path of an image file
    AUDIO = "audio"  # the path of a WAV file


class GoldKind(str, Enum):
    """The gold alignments a task can show beside a prediction of one of its test examples."""

    NONE = "none"
    SPANS = "spans"  # per output position, the gold source span (``task.gold_alignment(example)``)
    WORD_LINKS = "word-links"  # (source word, target word) links on the example (``example.gold``)


@dataclass(frozen=True)
class InputOption:
    """An option that travels with a raw input (e.g. a date's ``locale``), never through decoding.

    Attributes:
        name: the option's key (``--option NAME=VALUE``, the explorer's ``options``).
        default: its value when not given.
        choices: the valid values; empty: any string.
        help: one line for people.
    """

    name: str
    default: str = ""
    choices: tuple[str, ...] = ()
    help: str = ""


@dataclass(frozen=True)
class TaskCapabilities:
    """What a task can do with raw input.

    Attributes:
        input: the kind of raw input ``predict`` takes.
        options: the input options its inputs take.
        decodes: True for sequence outputs decoded by :mod:`attnkit.decoding` (greedy, beam,
            n-best and forced decoding on token ids; the task tokenises before and after).
        gold: the gold alignments of its test examples.
        classes: the class names of a classifier (confusion matrices), else empty.
        alignment_choice: True when the run keeps a chosen alignment layer / head / method
            (``attnkit align`` saves it into the run folder).
        max_source_len: the longest input it takes, in its own tokens (None: no limit declared).
        max_seconds: the longest recording it takes, seconds (an audio task; None: no limit
            declared); checked from the file's header before it is decoded
            (:func:`attnkit.data.audio.check_audio`), by the CLI and the explorer.
        pixel_pipeline: True for an image task that states its pixel pipeline as Hugging Face's
            ``ViTImageProcessor`` (``image_processing()``), so its ViT runs export with
            ``attnkit export-hf``.
    """

    input: InputKind = InputKind.TEXT
    options: tuple[InputOption, ...] = ()
    decodes: bool = False
    gold: GoldKind = GoldKind.NONE
    classes: tuple[str, ...] = ()
    alignment_choice: bool = False
    max_source_len: int | None = None
    max_seconds: float | None = None
    pixel_pipeline: bool = False

    @property
    def option_defaults(self) -> dict[str, str]:
        """Option name -> default value."""
        return {o.name: o.default for o in self.options}

    def option_choices(self) -> dict[str, list[str]]:
        """Option name -> its valid values, for the options that have a fixed set."""
        return {o.name: list(o.choices) for o in self.options if o.choices}


@dataclass(frozen=True)
class ModelCapabilities:
    """What a model built by a family can do.

    Attributes:
        decodes: True when the model decodes step by step (``encode`` / ``init_state`` /
            ``step``; :mod:`attnkit.decoding` runs it).
        attention: False for a model built without attention (the fixed-context-vector RNN, an
            MLP): no alignment, no coverage penalty.
        layer_maps: True when the model returns every layer's and head's attention for a
            teacher-forced pass (``attention_maps``), e.g. the Transformer.
        n_heads: heads of its attention (1 for single-head mechanisms).
        parts: named sub-modules the pictures may show (e.g. ``"stn"`` for a spatial transformer).
        normaliser: the alignment function of its attention (``"softmax"``, ``"sparsemax"``, ...),
            for reports that compare mechanisms; ``""`` where it is fixed by the mechanism or
            there is no attention.
        explains: True when the explanations of :data:`attnkit.models.explain.EXPLANATIONS`
            (rollout, flow, norm, ALTI, gradient-weighted) can be computed for it: the forced
            decoding of a :class:`~attnkit.models.transformer.TransformerSeq2Seq`, the class token
            of a Vision Transformer, the tokens of an imported BERT or GPT-2.
        attention_kernel: the kernel of its self-attention, a name of
            :data:`attnkit.functional.efficient.ATTENTION_KERNELS` (``model.attention_kernel``):
            ``"dense"``, or an efficient kernel whose maps are the dense maps it implies (zero
            outside a sliding window; linear attention's normalised phi(q)·phi(k)), returned for
            inputs up to :data:`attnkit.functional.kernels.MAX_WEIGHT_ENTRIES` entries.
        counts: True for a model fitted by counting, not by gradient descent (the dictionary
            tagger): ``attnkit train`` hands its ``fit(batches)`` every training batch once
            (:mod:`attnkit.training.counting`), validates once and saves it; no optimiser, no steps.
    """

    decodes: bool = False
    attention: bool = True
    layer_maps: bool = False
    n_heads: int = 1
    parts: tuple[str, ...] = ()
    normaliser: str = "softmax"
    explains: bool = False
    counts: bool = False
    attention_kernel: str = "dense"


@dataclass(frozen=True)
class RunCapabilities:
    """A task's and its model's declarations together, as checked when the run loaded."""

    task: TaskCapabilities = field(default_factory=TaskCapabilities)
    model: ModelCapabilities = field(default_factory=ModelCapabilities)

    @property
    def decodes(self) -> bool:
        """Greedy and beam search, n-best lists and forced decoding are available."""
        return self.task.decodes and self.model.decodes

    @property
    def layer_maps(self) -> bool:
        """Every layer's and head's attention for a decoded (or given) output."""
        return self.decodes and self.model.layer_maps

    @property
    def coverage(self) -> bool:
        """Beam search may use the coverage penalty (it needs attention weights)."""
        return self.decodes and self.model.attention

    def to_json(self) -> Mapping[str, object]:
        """Plain JSON values, for the explorer's page and ``attnkit predict --json``."""
        return {
            "input": self.task.input.value,
            "decodes": self.decodes,
            "layer_maps": self.layer_maps,
            "attention": self.model.attention,
            "n_heads": self.model.n_heads,
            "gold": self.task.gold.value,
            "options": self.task.option_defaults,
            "choices": self.task.option_choices(),
            "max_source_len": self.task.max_source_len,
            "max_seconds": self.task.max_seconds,
        }
