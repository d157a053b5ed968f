"""The runs an explorer serves: each loaded once, named by a short key, never by a path.

Run folders are named on the command line only; a request names a run by its key (the folder's
name, made unique), so no request can make the server read a file of its choosing.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..models.specs import ImageSpec, SpeechSeq2SeqSpec
from ..models.speech import SpeechSpec
from ..training import Run, load_run

__all__ = ["RunRegistry", "Served", "run_keys", "UnknownRun", "input_kind", "best_metric"]

_KEY = re.compile(r"[^A-Za-z0-9._-]+")


class UnknownRun(KeyError):
    """A request named a run key the explorer does not serve."""


def run_keys(paths: Sequence[str | Path]) -> list[str]:
    """A short unique key per run folder: its name (characters outside ``A-Za-z0-9._-`` made
    ``-``), then ``-2``, ``-3``... for repeated names, in order."""
    keys: list[str] = []
    for path in paths:
        base = _KEY.sub("-", Path(path).resolve().name).strip("-") or "run"
        key, n = base, 2
        while key in keys:
            key, n = f"{base}-{n}", n + 1
        keys.append(key)
    return keys


@dataclass
class Served:
    """One served run: the loaded run, its key, a lock that serialises its predictions (a model
    is not shared between threads mid-forward), and the test examples read when first asked."""

    key: str
    run: Run
    lock: threading.Lock = field(default_factory=threading.Lock)
    _examples: list | None = None

    def examples(self) -> list:
        """The run's saved test examples that carry a text (empty for tasks without them)."""
        if self._examples is None:
            try:
                examples = list(self.run.task.load_split(self.run.path, "test"))
            except (OSError, ValueError, AttributeError):
                examples = []
            self._examples = [e for e in examples if isinstance(getattr(e, "text", None), str)]
        return self._examples

    def gold(self, text: str, locale: str) -> list[list[int]] | None:
        """Gold links (output position, source start, source end) for an input that is one of
        the run's test examples, where the task has them (``gold_alignment``); else None."""
        align = getattr(self.run.task, "gold_alignment", None)
        if align is None:
            return None
        for example in self.examples():
            if example.text == text and getattr(example, "locale", "") == locale:
                return [list(map(int, link)) for link in align(example)]
        return None

    def gold_words(self, text: str) -> Any:
        """The test example whose source is `text` and that has gold word links (an
        :class:`attnkit.tasks.aligned_translation.AlignedExample`, ``gold`` a set of (source
        word, target word) pairs), or None."""
        for example in self.examples():
            if example.text == text and getattr(example, "gold", None) is not None:
                return example
        return None

    def metadata(self) -> dict[str, Any]:
        """What the page needs to know about the run (plain JSON values)."""
        run, task, model = self.run, self.run.task, self.run.model
        cfg = run.config.model
        options = dict(getattr(task, "predict_options", {}) or {})
        choices = {}
        if "locale" in options and getattr(task, "locales", None):
            choices["locale"] = list(task.locales)
        return {
            "key": self.key,
            "label": run.label,
            "folder": run.path.name,
            "task": task.name,
            "arch": getattr(cfg, "arch", ""),
            "input": input_kind(task),
            "decodes": hasattr(model, "step") and hasattr(task, "source_tokens"),
            "attention": bool(getattr(model, "uses_attention", True)),
            "layer_maps": hasattr(model, "attention_maps"),
            "n_heads": int(getattr(cfg, "n_heads", 1) or 1),
            "max_source_len": getattr(task, "max_source_len", None),
            "options": options,
            "choices": choices,
            "metric": task.metric.name,
            "best": best_metric(run.path, task.metric),
            "gold": hasattr(task, "gold_alignment") or any(getattr(e, "gold", None) is not None
                                                            for e in self.examples()),
            "examples": len(self.examples()),
        }


def input_kind(task) -> str:
    """``"image"`` for tasks whose models take images (their inputs are image files, so the page
    uploads one), ``"audio"`` for tasks whose models take speech frames (a WAV file is uploaded),
    else ``"text"`` (a line of text, or a name such as a graph node's)."""
    spec = task.spec
    if isinstance(spec, ImageSpec):
        return "image"
    return "audio" if isinstance(spec, (SpeechSpec, SpeechSeq2SeqSpec)) else "text"


def best_metric(run_dir: Path, metric) -> float | None:
    """The best validation value of the primary metric in ``metrics.jsonl`` (None if none)."""
    best = None
    try:
        lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        try:
            value = json.loads(line).get(f"dev_{metric.name}")
        except (ValueError, AttributeError):
            continue
        if isinstance(value, (int, float)) and (best is None or metric.better(value, best)):
            best = float(value)
    return best


class RunRegistry:
    """The runs an explorer serves, by key, in command-line order.

    Args:
        runs: key -> loaded :class:`~attnkit.training.Run`.
    """

    def __init__(self, runs: Mapping[str, Run]) -> None:
        if not runs:
            raise ValueError("no runs to explore; name at least one run folder")
        self._served = {key: Served(key, run) for key, run in runs.items()}

    @classmethod
    def load(cls, paths: Sequence[str | Path], *, device: str = "cpu") -> "RunRegistry":
        """Load run folders (:func:`~attnkit.training.load_run`) under :func:`run_keys`.

        Raises:
            attnkit.training.RunError: for a missing or unusable folder.
            ValueError: for no folders.
        """
        return cls({key: load_run(path, device=device) for key, path in zip(run_keys(paths), paths)})

    def keys(self) -> list[str]:
        return list(self._served)

    def __getitem__(self, key: str) -> Served:
        try:
            return self._served[key]
        except KeyError:
            raise UnknownRun(key) from None

    def __len__(self) -> int:
        return len(self._served)
