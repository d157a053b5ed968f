"""One frozen set of decoding options, validated once.

:class:`DecodeOptions` is what every decoder of :mod:`attnkit.decoding` takes, and what the
CLI's decoding flags, the explorer's request and the tasks' ``predict`` / ``evaluate`` pass on.
Each field's metadata holds its command-line flag and its help, so the CLI and the explorer
build their flags and request fields from the fields: adding a decoding option is a new field
here plus its use in the decoder.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..schema import short_repr

__all__ = [
    "DecodeOptions",
    "DecodeOptionError",
    "STOP_RULES",
    "LENGTH_NORMS",
    "PRECISIONS",
    "KV_CACHES",
    "COMPILE_MODES",
    "QUANTIZATIONS",
    "option_fields",
    "MAX_BEAM",
    "MAX_LEN",
    "MAX_BATCH_SIZE",
    "MAX_BATCH_TOKENS",
    "MAX_PENALTY",
    "check_max_len",
]

STOP_RULES = ("heuristic", "exact", "current")  # when beam search ends a sentence; see beam_search
LENGTH_NORMS = ("gnmt", "power")  # how beam search divides a score by the length; see length_penalty
PRECISIONS = ("fp32", "bf16")
KV_CACHES = ("grow", "static")  # the Transformer's self-attention buffers: grown by doubling, or sized once
COMPILE_MODES = ("off", "default", "reduce-overhead")  # torch.compile of the model's decoder step, and its mode
QUANTIZATIONS = ("none", "int8")  # dynamic int8 quantisation of the linear layers (CPU)

# Upper bounds, so that one request cannot ask for unbounded work: beams cost time and memory
# linearly (a beam of 100000 took 27 s and 2.1 GB for one date), attnkit's tasks gain nothing
# past about 16, and 1024 still lets the tests enumerate small output spaces exactly (beams of 750);
# outputs past 4096 tokens are longer than any task's
# target; the GNMT penalties are used in [0, 1] [Wu16] Sec. 7, so 10 is already far outside.
MAX_BEAM = 1024
MAX_LEN = 4096
MAX_BATCH_SIZE = 65536
MAX_BATCH_TOKENS = 10_000_000
MAX_PENALTY = 10.0


class DecodeOptionError(ValueError):
    """A decoding option out of range or unknown; the message is one line naming it and the fix.

    Attributes:
        field: the name of the :class:`DecodeOptions` field at fault (None: not one field), so
            that a front end can name its own spelling of it (the CLI's flag).
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _opt(
    default: Any,
    flag: str,
    help: str,
    *,
    choices: tuple[str, ...] = (),
    metavar: str | None = None,
    beam: bool = False,
    serve: bool = True,
) -> Any:
    return field(
        default=default,
        metadata={"flag": flag, "help": help, "choices": choices, "metavar": metavar, "beam": beam, "serve": serve},
    )


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode: greedy (``beam_size=1``) or beam search, and how to batch.

    Attributes:
        beam_size: 1 <= k <= :data:`MAX_BEAM` (1024) live hypotheses per sentence; 1 is greedy decoding.
        n_best: 1 <= n_best <= beam_size hypotheses kept per sentence, best first.
        alpha: length-penalty exponent in [0, :data:`MAX_PENALTY`] (beam search only).
        length_norm: the length penalty alpha is the exponent of, one of :data:`LENGTH_NORMS`:
            ``"gnmt"`` ((5 + |Y|) / 6) ** alpha [Wu16] Eq. 14, or ``"power"`` |Y| ** alpha
            (Hugging Face's ``length_penalty``, fairseq's ``lenpen``).
        beta: GNMT coverage-penalty weight in [0, :data:`MAX_PENALTY`] [Wu16] Eq. 14 (beam search
            only; needs attention).
        stop: when beam search ends a sentence, one of :data:`STOP_RULES`.
        max_len: maximum output tokens (without ``</s>``), at most :data:`MAX_LEN` (4096); None:
            the task's limit for the source.
        precision: ``"fp32"``, or ``"bf16"`` for bfloat16 autocast.
        batch_size: at most this many sentences per batch (1 to :data:`MAX_BATCH_SIZE`).
        batch_tokens: and at most this many source tokens per batch, padding and beams included
            (1 to :data:`MAX_BATCH_TOKENS`); None: no such limit.
        check_every: greedy decoding looks for ended outputs (and drops their rows) every this
            many steps, 1 to :data:`MAX_LEN`: each look is a host synchronisation, which stalls a
            GPU's queue. Ended rows decode padding in between; the outputs, scores and attention
            are those of 1. Beam search ignores it (it ranks finished hypotheses every step).
        kv_cache: one of :data:`KV_CACHES`: ``"grow"`` starts a Transformer's self-attention
            key/value buffers at the source length + 8 positions and doubles them when full;
            ``"static"`` sizes them once for the whole output (no reallocation inside the step
            loop). The same outputs; models without such buffers (RNNs) ignore it.
        compile_step: one of :data:`COMPILE_MODES`: ``"off"``, or ``torch.compile`` of the model's
            decoder step in that mode (dynamic shapes; the first batches pay the compilation,
            minutes on a CPU). The same outputs up to float rounding (attention within 1e-6).
        quantize: one of :data:`QUANTIZATIONS`: ``"none"``, or ``"int8"``, dynamic int8
            quantisation of a copy of the model's linear layers (weights int8, activations
            quantised per batch; CPU only, fp32 precision only). Approximate: outputs may change.

    ``serve`` in a field's metadata is False for the options a web request may not set (the
    explorer): compiling and quantising cost seconds to minutes per request.

    Raises:
        DecodeOptionError: on construction, for any value out of range (one line naming the
            field, the value and the valid range).
    """

    beam_size: int = _opt(1, "--beam", f"beam size, 1 to {MAX_BEAM}; 1 = greedy decoding", metavar="K")
    n_best: int = _opt(
        1, "--n-best", "hypotheses kept per input, best first (<= the beam size)", metavar="N", beam=True
    )
    alpha: float = _opt(0.6, "--alpha", f"length-penalty exponent for beam search, 0 to {MAX_PENALTY:g}", beam=True)
    length_norm: str = _opt(
        "gnmt",
        "--length-norm",
        "beam scores are divided by ((5 + length) / 6) ** alpha (gnmt) or length ** alpha (power, as "
        "Hugging Face's length_penalty)",
        choices=LENGTH_NORMS,
        beam=True,
    )
    beta: float = _opt(
        0.0,
        "--coverage-penalty",
        f"GNMT coverage-penalty weight for beam search, 0 to {MAX_PENALTY:g}",
        metavar="BETA",
        beam=True,
    )
    stop: str = _opt(
        "heuristic",
        "--beam-stop",
        "end a sentence's beam when its best live hypothesis, scored at "
        "its next length (heuristic), at the maximum length (exact) or at its current length (current, as "
        "Hugging Face's early_stopping=False), cannot beat the best finished one",
        choices=STOP_RULES,
        beam=True,
    )
    max_len: int | None = _opt(
        None, "--max-len", f"at most this many output tokens, up to {MAX_LEN} (default: the task's limit)", metavar="N"
    )
    precision: str = _opt(
        "fp32",
        "--precision",
        "bf16: decode under bfloat16 autocast, faster on CPUs with AMX/AVX512-BF16",
        choices=PRECISIONS,
    )
    batch_size: int = _opt(512, "--batch-size", "at most this many inputs per batch", metavar="N")
    batch_tokens: int | None = _opt(
        8000, "--batch-tokens", "and at most this many source tokens per batch, padding and beams included", metavar="N"
    )
    check_every: int = _opt(
        1,
        "--check-every",
        "greedy decoding looks for ended outputs every N steps (fewer host synchronisations; the same outputs)",
        metavar="N",
    )
    kv_cache: str = _opt(
        "grow",
        "--kv-cache",
        "static: size the Transformer's key/value buffers once for the whole output instead of growing them "
        "(the same outputs)",
        choices=KV_CACHES,
    )
    compile_step: str = _opt(
        "off",
        "--compile",
        "torch.compile the model's decoder step in this mode (slow first batches; the same outputs)",
        choices=COMPILE_MODES,
        serve=False,
    )
    quantize: str = _opt(
        "none",
        "--quantize",
        "int8: dynamic int8 quantisation of the linear layers, CPU and fp32 only (approximate: outputs may change)",
        choices=QUANTIZATIONS,
        serve=False,
    )

    def __post_init__(self) -> None:
        _check_int(self, "beam_size", 1, MAX_BEAM)
        _check_int(self, "n_best", 1, MAX_BEAM)
        if self.n_best > self.beam_size:
            raise DecodeOptionError(
                f"n_best ({self.n_best}) must be <= beam_size ({self.beam_size}); "
                f"raise the beam size or ask for fewer hypotheses",
                "n_best",
            )
        _check_float(self, "alpha")
        _check_float(self, "beta")
        if self.length_norm not in LENGTH_NORMS:
            raise DecodeOptionError(
                f"length_norm must be one of {', '.join(LENGTH_NORMS)}, got {self.length_norm!r}", "length_norm"
            )
        if self.stop not in STOP_RULES:
            raise DecodeOptionError(f"stop must be one of {', '.join(STOP_RULES)}, got {self.stop!r}", "stop")
        if self.precision not in PRECISIONS:
            raise DecodeOptionError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}", "precision"
            )
        if self.max_len is not None:
            _check_int(self, "max_len", 1, MAX_LEN)
        _check_int(self, "batch_size", 1, MAX_BATCH_SIZE)
        if self.batch_tokens is not None:
            _check_int(self, "batch_tokens", 1, MAX_BATCH_TOKENS)
        _check_int(self, "check_every", 1, MAX_LEN)
        for name, valid in (("kv_cache", KV_CACHES), ("compile_step", COMPILE_MODES), ("quantize", QUANTIZATIONS)):
            if getattr(self, name) not in valid:
                raise DecodeOptionError(f"{name} must be one of {', '.join(valid)}, got {getattr(self, name)!r}", name)
        if self.quantize != "none" and self.precision != "fp32":
            raise DecodeOptionError(
                f"quantize={self.quantize} decodes in float32 around int8 weights; pass precision fp32", "quantize"
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "DecodeOptions":
        """Options from a mapping of field names (unknown names: :class:`DecodeOptionError`
        listing the valid ones)."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise DecodeOptionError(f"unknown decoding option {unknown[0]!r}; valid: {', '.join(names)}", unknown[0])
        return cls(**values)

    def replace(self, **changes: Any) -> "DecodeOptions":
        """A copy with `changes` (validated again)."""
        return dataclasses.replace(self, **changes)

    def changed(self) -> dict[str, Any]:
        """The fields that differ from the defaults (for logs and reports)."""
        default = DecodeOptions()
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        }


def check_max_len(options: DecodeOptions, limit: int) -> None:
    """Refuse ``options.max_len`` above `limit`, the most output tokens a model can place (its
    position table holds the start token and `limit` outputs).

    Raises:
        DecodeOptionError: one line naming max_len, the value and the model's limit.
    """
    if options.max_len is not None and options.max_len > limit:
        raise DecodeOptionError(
            f"max_len must be at most {limit} for this model (the outputs its position table holds), "
            f"got {options.max_len}",
            "max_len",
        )


def option_fields() -> tuple[dataclasses.Field, ...]:
    """The fields of :class:`DecodeOptions`, each with ``metadata`` {flag, help, choices, metavar,
    beam (True: only meaningful with a beam), serve (False: not for a web request)}."""
    return dataclasses.fields(DecodeOptions)


def _check_int(options: DecodeOptions, name: str, low: int, high: int) -> None:
    value = getattr(options, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise DecodeOptionError(f"{name} must be an integer >= {low}, got {short_repr(value)}", name)
    if value > high:
        raise DecodeOptionError(f"{name} must be an integer <= {high}, got {short_repr(value)}", name)


def _check_float(options: DecodeOptions, name: str) -> None:
    value = getattr(options, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise DecodeOptionError(f"{name} must be a finite number >= 0, got {short_repr(value)}", name)
    if value > MAX_PENALTY:
        raise DecodeOptionError(f"{name} must be at most {MAX_PENALTY:g}, got {short_repr(value)}", name)
