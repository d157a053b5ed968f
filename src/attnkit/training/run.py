"""A run folder: its config, the task's files, weights and metrics; rebuilding a model from it.

Every run, whatever its task and model family, has the same layout: ``config.yaml`` (the
resolved config), ``model.safetensors`` (best weights), ``metrics.jsonl`` (one line per
validation), the task's own files (vocabularies or subword models, ``data/{train,dev,test}.*``),
``plots/``, and for resuming ``last.safetensors`` + ``trainer_state.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from ..capabilities import InputKind, InputOption, ModelCapabilities, RunCapabilities, TaskCapabilities
from ..config import ConfigError, RunConfig, family_of, load_config, task_of
from ..models.families import CaptionSpec, ImageSpec, SpeechSeq2SeqSpec
from ..models.speech import SpeechSpec
from .checkpoint import CheckpointError, load_weights

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
    path: Path
    config: RunConfig
    task: object
    model: nn.Module
    capabilities: RunCapabilities = field(default_factory=RunCapabilities)

    @property
    def label(self) -> str:
        return model_label(self.config)


def run_capabilities(cfg: RunConfig, task, model: nn.Module) -> RunCapabilities:
    """What the run can do: the task's declared ``capabilities`` and its family's
    ``capabilities(cfg)``; for a plug-in that declares nothing, what its objects show (the
    default of attnkit 0.1 plug-ins, read here once so that nothing above asks again)."""
    declared = getattr(task, "capabilities", None)
    family = family_of(cfg)
    model_caps = family.capabilities(cfg.model) if hasattr(family, "capabilities") else ModelCapabilities(
        decodes=hasattr(model, "step"), attention=bool(getattr(model, "uses_attention", True)),
        layer_maps=hasattr(model, "attention_maps"), n_heads=int(getattr(cfg.model, "n_heads", 1) or 1))
    if not isinstance(declared, TaskCapabilities):
        spec = task.spec
        kind = (InputKind.IMAGE if isinstance(spec, (ImageSpec, CaptionSpec)) else
                InputKind.AUDIO if isinstance(spec, (SpeechSpec, SpeechSeq2SeqSpec)) else InputKind.TEXT)
        options = tuple(InputOption(k, v, tuple(getattr(task, "locales", ())) if k == "locale" else ())
                        for k, v in (getattr(task, "predict_options", None) or {}).items())
        declared = TaskCapabilities(input=kind, options=options, decodes=hasattr(model, "step"),
                                    classes=tuple(getattr(task, "classes", ())),
                                    max_source_len=getattr(task, "max_source_len", None))
    return RunCapabilities(declared, model_caps)


def load_run(path: str | Path, *, device: str = "cpu") -> Run:
    """Load a trained run for prediction or evaluation (model in eval mode, on `device`).

    Run folders written by attnkit 0.1 load too (their configs are converted on reading);
    the HAN study folders of 0.1 (``han-config.json``) are not runs and are refused with a
    one-line message saying how to make one.

    Raises:
        RunError: if the folder, its config, the task's files or the weights are missing or corrupt.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"run folder {path} not found; train one with `attnkit train CONFIG --out DIR`")
    if (path / "han-config.json").is_file() and not (path / "config.yaml").is_file():
        raise RunError(f"{path} is a HAN study folder of attnkit 0.1, not a run; make a run with "
                       "`attnkit train configs/bible-sections-han.yaml --out DIR` (or `attnkit study han`)")
    try:
        cfg = load_config(path / "config.yaml", legacy=True)
        task = task_of(cfg).load(cfg.data, path)
        model = build_model(cfg, task)
        load_weights(model, path / "model.safetensors")
    except (ConfigError, CheckpointError, ValueError, OSError) as err:
        raise RunError(f"run folder {path} is unusable: {err}") from None
    return Run(path, cfg, task, model.to(device).eval(), run_capabilities(cfg, task, model))
