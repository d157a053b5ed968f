"""A user's recordings: a folder of sound files and a TSV that names them, one per line, with a
label (classification) or a transcript (sequence to sequence).

The TSV has no header; each non-blank line is ``FILE<TAB>LABEL`` (optionally ``<TAB>SPEAKER``) or
``FILE<TAB>TRANSCRIPT``, FILE relative to the audio folder. A file is read with libsndfile
(:func:`attnkit.data.audio.read_audio`: WAV, FLAC, OGG/Vorbis, ... any rate from 1 to 192 kHz,
mixed down to mono and resampled) and becomes normalised log-mel frames
(:func:`attnkit.data.audio.features_of_file`). A missing or unreadable file, a recording over the
length limit, or a malformed line is one :class:`~attnkit.errors.ConfigError` naming the TSV, the
line and the file.

:func:`save_recordings` keeps a split's frames in one safetensors file (the frames of all
recordings one after the other, their lengths, and the TSV fields as JSON metadata), so a run
folder holds its data; :func:`load_recordings` reads it back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from ..errors import ConfigError, InputError
from ..io import atomic_path
from .audio import FeatureConfig, features_of_file
from .user_files import read_tsv

__all__ = ["Recording", "read_recordings", "save_recordings", "load_recordings"]


class Recording(NamedTuple):
    """One recording: its file (as the TSV names it), its label or transcript, its speaker ("" if
    not given), the TSV line, and its frames, float32 (T, n_mels)."""

    file: str
    target: str
    speaker: str
    line: int
    frames: np.ndarray


def read_recordings(
    audio_dir: str, tsv: str, columns: Sequence[str], features: FeatureConfig, *, max_seconds: float, optional: int = 0
) -> list[Recording]:
    """The recordings a TSV names, read from `audio_dir`.

    Args:
        audio_dir: the folder the TSV's file names are relative to.
        tsv: the TSV.
        columns: its columns (``["file", "label", "speaker"]``, ``["file", "transcript"]``); the
            second is the target, a third the speaker.
        features: how sound becomes frames.
        max_seconds: the longest recording taken, seconds.
        optional: trailing columns a line may leave out.

    Raises:
        attnkit.errors.ConfigError: one line, ``TSV:LINE: ...``, for a malformed line, a file
            named twice, or a recording that cannot be read or is too long.
    """
    rows = read_tsv(tsv, columns, optional=optional, last_takes_rest=len(columns) == 2)
    seen: dict[str, int] = {}
    out = []
    for row in rows:
        name, target, *rest = row.fields
        if name in seen:
            raise ConfigError(f"{tsv}:{row.line}: {name} is named twice (first on line {seen[name]})")
        seen[name] = row.line
        try:
            frames = features_of_file(Path(audio_dir) / name, features, max_seconds=max_seconds)
        except InputError as err:
            raise ConfigError(f"{tsv}:{row.line}: {str(err).splitlines()[0]}") from None
        out.append(Recording(name, target, rest[0] if rest else "", row.line, frames))
    return out


def save_recordings(path: str | Path, recordings: Sequence[Recording]) -> None:
    """Write `recordings` into one safetensors file, atomically."""
    from safetensors.numpy import save

    n_mels = recordings[0].frames.shape[1] if recordings else 0
    frames = np.concatenate([r.frames for r in recordings]) if recordings else np.zeros((0, n_mels), np.float32)
    lengths = np.array([len(r.frames) for r in recordings], dtype=np.int64)
    rows = [[r.file, r.target, r.speaker, r.line] for r in recordings]
    data = save(
        {"frames": np.ascontiguousarray(frames, dtype=np.float32), "lengths": lengths},
        metadata={"rows": json.dumps(rows, ensure_ascii=False)},
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def load_recordings(path: str | Path) -> list[Recording]:
    """The recordings :func:`save_recordings` wrote to `path`, in order."""
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as fh:
        rows = json.loads((fh.metadata() or {})["rows"])
        frames, lengths = fh.get_tensor("frames"), fh.get_tensor("lengths")
    starts = np.concatenate([[0], np.cumsum(lengths)])
    return [
        Recording(file, target, speaker, int(line), frames[starts[i] : starts[i + 1]])
        for i, (file, target, speaker, line) in enumerate(rows)
    ]
