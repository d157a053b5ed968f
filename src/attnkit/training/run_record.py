"""Which attnkit wrote a run folder (``run.json``), and reading a run's config accordingly.

:func:`attnkit.training.pipeline.train_run` writes ``run.json`` into every run folder it makes,
right after ``config.yaml``::

    {"format": "attnkit.run/1", "attnkit_version": "0.2.0"}

Versions and legacy folders. attnkit records its version from 0.2.0 on, the release in which
every task and model family owns its config section. A run folder without ``run.json`` was
written before 0.2.0: by attnkit 0.1, whose ``data:`` and ``model:`` sections held every field of
every task and architecture, or by the plug-in code before the version was recorded. Such a
folder is a *legacy* folder and its config is read with the 0.1 conversion
(``config_from_dict(..., legacy=True)``: foreign fields holding the 0.1 defaults are dropped),
which leaves a newer config unchanged. A folder with a record is read strictly, like a config
file a person wrote. "attnkit 0.1 run folders" in the rest of attnkit means exactly this: no
``run.json``.

Loading never requires the record, and never refuses a folder for the version in it; when a
recorded version differs from the running one and the config does not load, the error says
which version wrote it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .. import __version__
from ..config import ConfigError, RunConfig, load_config
from ..io import atomic_write_text

__all__ = [
    "RUN_RECORD",
    "RECORD_FORMAT",
    "RunRecord",
    "write_run_record",
    "read_run_record",
    "is_legacy",
    "load_run_config",
]

RUN_RECORD = "run.json"
RECORD_FORMAT = "attnkit.run/1"


@dataclass(frozen=True)
class RunRecord:
    """What ``run.json`` says.

    Attributes:
        attnkit_version: the attnkit version that made the run folder, e.g. "0.2.0".
    """

    attnkit_version: str


def write_run_record(run_dir: str | Path, version: str = __version__) -> None:
    """Write ``run.json`` (format and `version`, default the running attnkit's) atomically."""
    text = json.dumps({"format": RECORD_FORMAT, "attnkit_version": version}, indent=1) + "\n"
    atomic_write_text(Path(run_dir) / RUN_RECORD, text)


def read_run_record(run_dir: str | Path) -> RunRecord | None:
    """The record of `run_dir`, or None when it has none (a folder written before attnkit 0.2.0).

    Raises:
        attnkit.errors.ConfigError: if ``run.json`` is there but is not a record of this format.
    """
    path = Path(run_dir) / RUN_RECORD
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(
            f"{path} is not a readable run record ({err}); delete it to load the run as one "
            "written before attnkit 0.2.0"
        ) from None
    version = raw.get("attnkit_version") if isinstance(raw, dict) else None
    if not isinstance(version, str) or not version:
        raise ConfigError(
            f"{path} has no attnkit_version string; expected "
            f'{{"format": "{RECORD_FORMAT}", "attnkit_version": "X.Y.Z"}}'
        )
    return RunRecord(version)


def is_legacy(record: RunRecord | None) -> bool:
    """Whether a run folder with this record was written before attnkit 0.2.0 (it has none)."""
    return record is None


def load_run_config(run_dir: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    """The config of the run folder `run_dir`: strict when the folder has a record, with the 0.1
    conversion when it has none (see the module docstring); `overrides` (``section.key=value``)
    applied after it.

    Raises:
        attnkit.errors.ConfigError: for a missing or invalid ``config.yaml`` or ``run.json``, an
            invalid override, or overrides on a folder of attnkit 0.1.
    """
    record = read_run_record(run_dir)
    if overrides and is_legacy(record):
        raise ConfigError(
            f"{run_dir} was written by attnkit 0.1, whose config is read as it was written; "
            "resume it without --set, or train a new run"
        )
    try:
        return load_config(Path(run_dir) / "config.yaml", overrides, legacy=is_legacy(record))
    except ConfigError as err:
        if record is not None and record.attnkit_version != __version__:
            raise ConfigError(
                f"{err} (the run was written by attnkit {record.attnkit_version}; this is attnkit {__version__})"
            ) from None
        raise
