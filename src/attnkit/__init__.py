"""attnkit: attention mechanisms of deep learning, end to end.

``__version__`` is the one place the version is written: ``pyproject.toml`` reads it from here
(``[tool.setuptools.dynamic]``), and every run folder records it (``run.json``, see
:mod:`attnkit.training.run_record`).

The Python API in short::

    import attnkit

    run = attnkit.load_run("runs/demo/bahdanau")          # a trained run folder
    [pred] = run.predict("3. Mai 1979", options={"locale": "de_DE"}, beam_size=5, n_best=3)
    pred.output, [h.output for h in pred.nbest], pred.weights  # (To, Tk) attention
    attnkit.notebook.show(run, "3. Mai 1979", options={"locale": "de_DE"})  # the explorer's view, inline

``load_run``, ``Run``, ``DecodeOptions`` and ``notebook`` are imported on first use, so that
``import attnkit`` stays fast (no torch until they are asked for).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.3.0"

__all__ = ["__version__"]  # and, imported on first use: load_run, Run, DecodeOptions, notebook (_LAZY)

# name -> (module, attribute; None: the module itself), imported on first use (PEP 562); the modules
# sit in higher layers, so they are named here as strings, never imported by this package's import
_LAZY: dict[str, tuple[str, str | None]] = {
    "load_run": ("attnkit.training.run", "load_run"),
    "Run": ("attnkit.training.run", "Run"),
    "DecodeOptions": ("attnkit.decoding.options", "DecodeOptions"),
    "notebook": ("attnkit.notebook", None),
}


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'attnkit' has no attribute {name!r}") from None
    value = importlib.import_module(module)
    return value if attribute is None else getattr(value, attribute)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
