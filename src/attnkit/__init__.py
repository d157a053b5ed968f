"""attnkit: attention mechanisms of deep learning, end to end.

``__version__`` is the one place the version is written: ``pyproject.toml`` reads it from here
(``[tool.setuptools.dynamic]``), and every run folder records it (``run.json``, see
:mod:`attnkit.training.run_record`).
"""

__version__ = "0.3.0"

__all__ = ["__version__"]
