"""A run folder: its config, the task's files, weights and metrics; rebuilding a model from it.

Every run, whatever its task and model family, has the same layout: ``config.yaml`` (the
resolved config), ``run.json`` (the attnkit version that made it; none before 0.2.0),
``model.safetensors`` (best weights), ``metrics.jsonl`` (one line per
validation), the task's own files (vocabularies or subword models, ``data/{train,dev,test}.*``),
``plots/``, and for resuming ``last.safetensors`` + ``trainer_state.json``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from torch import nn

from ..capabilities import GoldKind, InputKind, ModelCapabilities, RunCapabilities, TaskCapabilities
from ..config import ConfigError, RunConfig, family_of, task_of
from ..decoding.options import DecodeOptionError, DecodeOptions
from ..tasks.base import Task
from .checkpoint import CheckpointError, load_weights
from .run_record import load_run_config

__all__ = ["Run", "RunError", "build_model", "load_run", "model_label", "run_capabilities"]


class RunError(ValueError):
    """A run folder that is missing or incomplete or corrupt."""


def build_model(cfg: RunConfig, task) -> nn.Module:
    """The model the config's family builds for the task's :class:`~attnkit.models.ModelSpec`."""
    return family_of(cfg).build(cfg.model, task.spec)


def model_label(cfg: RunConfig) -> str:
    """A short name of the configured model, from its family (an RNN's attention, else the family)."""
    return family_of(cfg).label(cfg.model)


@dataclass
class Run:
    """A loaded run: its folder, config, task, model (eval mode) and what the two can do.

    Attributes:
        capabilities: the task's and the model family's declarations, checked against the
            objects when the run loaded (:func:`run_capabilities`); the CLI, the explorer and
            the studies read them instead of probing the task or the model.
    """

    path: Path
    config: RunConfig
    task: Task
    model: nn.Module
    capabilities: RunCapabilities

    @property
    def label(self) -> str:
        return model_label(self.config)

    def predict(
        self,
        inputs: str | os.PathLike | Sequence[str | os.PathLike],
        *,
        options: Mapping[str, Any] | None = None,
        decode: DecodeOptions | None = None,
        **decode_kwargs: Any,
    ) -> list[Any]:
        """Predictions for raw inputs, as ``attnkit predict`` makes them: one per input, in order,
        each the task's typed prediction carrying its attention and its ``kind``
        (:mod:`attnkit.predictions`; a :class:`attnkit.decoding.Translation` for the tasks that
        decode, with its n-best list in ``nbest`` when ``n_best`` > 1).

        Example::

            run = attnkit.load_run("runs/demo/bahdanau")
            best = run.predict("3. Mai 1979", options={"locale": "de_DE"}, beam_size=5, n_best=3)[0]
            best.output, [(h.output, h.score) for h in best.nbest], best.weights.shape  # (To, Tk)

        Args:
            inputs: the inputs the task takes (a line of text, an image or WAV file's path, a node
                id); one string or path is one input.
            options: the input options the task declares (``run.capabilities.task.options``,
                e.g. ``{"locale": "de_DE"}``), the same for every input; values are turned into
                strings, as ``--option KEY=VALUE`` gives them.
            decode: how to decode (:class:`attnkit.decoding.DecodeOptions`, the object the CLI's
                decoding flags build); None: the task's defaults (greedy).
            **decode_kwargs: :class:`~attnkit.decoding.DecodeOptions` fields that replace those of
                `decode` (``beam_size``, ``n_best``, ``alpha``, ``length_norm``, ``beta``, ``stop``,
                ``max_len``, ``precision``, ``batch_size``, ``batch_tokens``); ``n_best`` alone
                widens the beam to ``n_best``.

        Returns:
            One prediction per input, in order.

        Raises:
            attnkit.decoding.DecodeOptionError: (a ValueError, one line) for a decoding option
                that is unknown or out of range, any decoding option for a run that does not
                decode (a classifier), or a coverage penalty for a model without attention.
            attnkit.errors.InputError: (a ValueError, one line) for an input or input option the
                task rejects; every input is checked before any is predicted.
        """
        texts = [os.fspath(inputs)] if isinstance(inputs, (str, os.PathLike)) else [os.fspath(x) for x in inputs]
        opts = {str(k): str(v) for k, v in (options or {}).items()}
        decoding = self.decode_options(decode, **decode_kwargs)
        # decode= only when asked: a task that does not decode (or a plug-in of attnkit 0.1) takes no such keyword
        return list(self.task.predict(self.model, texts, options=opts, **({"decode": decoding} if decoding else {})))

    def decode_options(self, decode: DecodeOptions | None = None, **changes: Any) -> DecodeOptions | None:
        """`decode` with `changes` (:class:`~attnkit.decoding.DecodeOptions` fields) applied and
        checked against what the run can do; None when neither is given. ``n_best`` given
        without ``beam_size`` widens the beam to ``n_best`` (an n-best list needs that many beams).

        Raises:
            attnkit.decoding.DecodeOptionError: one line naming the option: unknown or out of
                range, any option for a run that does not decode, a coverage penalty without
                attention.
        """
        if decode is None and not changes:
            return None
        names = {f.name for f in dataclasses.fields(DecodeOptions)}
        unknown = sorted(set(changes) - names)
        if unknown:
            declared = {option.name for option in self.capabilities.task.options}
            if unknown[0] in declared:
                raise DecodeOptionError(
                    f"{unknown[0]} is an input option of task {self.config.data.task}, not a decoding option; "
                    f"pass options={{{unknown[0]!r}: ...}}",
                    unknown[0],
                )
            raise DecodeOptionError(
                f"unknown decoding option {unknown[0]!r}; valid: {', '.join(sorted(names))}", unknown[0]
            )
        base = decode or DecodeOptions()
        if not isinstance(base, DecodeOptions):
            raise DecodeOptionError(f"decode must be an attnkit.decoding.DecodeOptions, got {type(base).__name__}")
        if "n_best" in changes and "beam_size" not in changes and isinstance(changes["n_best"], int):
            changes = {**changes, "beam_size": max(base.beam_size, changes["n_best"])}
        options = base.replace(**changes) if changes else base
        if not self.capabilities.decodes:
            asked = sorted(options.changed()) or sorted(changes) or ["decode"]
            raise DecodeOptionError(
                f"run {self.path} (task {self.config.data.task}) does not decode, so it takes no decoding options "
                f"({', '.join(asked)}); leave them out",
                asked[0],
            )
        if options.beta > 0 and not self.capabilities.coverage:
            raise DecodeOptionError(f"run {self.path} has no attention, so no coverage penalty (beta)", "beta")
        return options


# the methods each declaration promises, checked when a run loads
_DECODER = ("encode", "init_state", "step")
_PARTS = ("stn",)  # sub-modules a picture may show, read off models whose family declares nothing


def _declared(cfg: RunConfig, task: Any, model: nn.Module) -> RunCapabilities:
    """The declarations of the task and of the config's model family; the one place where a
    plug-in that declares nothing gets defaults.

    A task without ``capabilities`` gets :class:`TaskCapabilities` (), a text task that
    decodes nothing. A family without a ``capabilities(cfg)`` classmethod gets capabilities
    read off the model it built (a step-by-step decoder, layer maps, ``uses_attention``,
    ``cfg.n_heads``, a spatial transformer ``stn``), so that families written before declarations
    keep working.
    """
    task_caps = task.capabilities if hasattr(task, "capabilities") else TaskCapabilities()
    family = family_of(cfg)
    if hasattr(family, "capabilities"):
        model_caps = family.capabilities(cfg.model, task.spec)
    else:
        model_caps = ModelCapabilities(
            decodes=all(hasattr(model, name) for name in _DECODER),
            attention=bool(getattr(model, "uses_attention", True)),
            layer_maps=hasattr(model, "attention_maps"),
            n_heads=int(getattr(cfg.model, "n_heads", 1) or 1),
            parts=tuple(name for name in _PARTS if isinstance(getattr(model, name, None), nn.Module)),
        )
    if not isinstance(task_caps, TaskCapabilities) or not isinstance(model_caps, ModelCapabilities):
        raise RunError(
            f"task {cfg.data.task} or family {cfg.model.arch} declares capabilities of the wrong type "
            f"({type(task_caps).__name__}, {type(model_caps).__name__}); return "
            "attnkit.capabilities.TaskCapabilities / ModelCapabilities"
        )
    return RunCapabilities(task_caps, model_caps)


def run_capabilities(cfg: RunConfig, task: Any, model: nn.Module) -> RunCapabilities:
    """The run's capabilities, declared by its task and family and checked against the objects.

    Raises:
        RunError: naming the first declaration the task or the model does not keep (e.g. a family
            that declares a step-by-step decoder for a model without ``step``).
    """
    caps = _declared(cfg, task, model)
    who_task, who_model = f"task {cfg.data.task}", f"model.arch={cfg.model.arch}"
    promises: list[tuple[bool, Any, str, str, tuple[str, ...]]] = [
        (caps.model.decodes, model, who_model, "decodes", _DECODER),
        (caps.model.layer_maps, model, who_model, "layer_maps", ("attention_maps",)),
        (caps.model.counts, model, who_model, "counts", ("fit",)),
        (caps.task.decodes and caps.task.input is InputKind.TEXT, task, who_task, "decodes", ("source_tokens",)),
        (caps.task.gold is GoldKind.SPANS, task, who_task, "gold=spans", ("gold_alignment",)),
        (caps.task.alignment_choice, task, who_task, "alignment_choice", ("choice", "save_choice")),
        (caps.task.pixel_pipeline, task, who_task, "pixel_pipeline", ("image_processing",)),
        *((name in caps.model.parts, model, who_model, f"part {name}", (name,)) for name in caps.model.parts),
    ]
    for declared, obj, who, what, needs in promises:
        missing = [name for name in needs if not hasattr(obj, name)]
        if declared and missing:
            raise RunError(
                f"{who} declares {what} but has no {', '.join(missing)}; fix its capabilities or add the method"
            )
    for option in caps.task.options:
        if option.choices and option.default and option.default not in option.choices:
            raise RunError(
                f"{who_task} declares option {option.name} with default {option.default!r} outside its "
                f"choices {', '.join(option.choices)}"
            )
    return caps


def load_run(path: str | Path, *, device: str = "cpu") -> Run:
    """Load a trained run for prediction or evaluation (model in eval mode, on `device`).

    Run folders written by attnkit 0.1 (before 0.2.0, without ``run.json``) load too: their
    configs are converted on reading (:mod:`attnkit.training.run_record`); the HAN study folders
    of 0.1 (``han-config.json``) are not runs and are refused with a
    one-line message saying how to make one.

    Raises:
        RunError: if the folder, its config, the task's files or the weights are missing or corrupt,
            or the task or model family declare a capability their objects lack
            (:func:`run_capabilities`).
    """
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"run folder {path} not found; train one with `attnkit train CONFIG --out DIR`")
    if (path / "han-config.json").is_file() and not (path / "config.yaml").is_file():
        raise RunError(
            f"{path} is a HAN study folder of attnkit 0.1, not a run; make a run with "
            "`attnkit train configs/bible-sections-han.yaml --out DIR` (or `attnkit study han`)"
        )
    try:
        cfg = load_run_config(path)
        task = task_of(cfg).load(cfg.data, path)
        model = build_model(cfg, task)
        load_weights(model, path / "model.safetensors")
    except (ConfigError, CheckpointError, ValueError, OSError) as err:
        raise RunError(f"run folder {path} is unusable: {err}") from None
    caps = run_capabilities(cfg, task, model)
    return Run(path, cfg, task, model.to(device).eval(), caps)
