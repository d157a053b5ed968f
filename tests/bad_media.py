"""A corpus of bad media files made in the test (issue 26): decompression bombs, truncated and
empty files, WAVs holding NaN or infinity, at 1 Hz, or longer than any task takes."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width: int, height: int, *, rows: int | None = None) -> bytes:
    """A grey PNG that declares `width` x `height` pixels; only its first `rows` rows (default:
    all) are in the data, so a huge one is a few hundred bytes (a decompression bomb when whole)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    n = height if rows is None else rows
    data = zlib.compress(b"".join(b"\0" + bytes(width) for _ in range(n)), 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def wav(samples: np.ndarray, rate: int, *, subtype: str = "FLOAT") -> bytes:
    import io

    import soundfile

    out = io.BytesIO()
    soundfile.write(out, samples, rate, subtype=subtype, format="WAV")
    return out.getvalue()


def bad_images() -> dict[str, bytes]:
    good = png(28, 28)
    return {
        "bomb-20000.png": png(20000, 20000, rows=1),  # Pillow's own bomb limit
        "bomb-9000.png": png(9000, 9000, rows=1),  # below Pillow's limit, above attnkit's
        "truncated.png": good[: len(good) // 2],
        "empty.png": b"",
        "text.png": b"not an image at all\n",
        "header-only.png": good[:33],
    }


def bad_wavs() -> dict[str, bytes]:
    tone = np.sin(np.linspace(0, 200, 16000)).astype(np.float32) * 0.1
    nan, inf = tone.copy(), tone.copy()
    nan[100] = np.nan
    inf[200] = np.inf
    long = wav(np.zeros(1000 * 700, dtype=np.int16), 1000, subtype="PCM_16")  # 700 s at 1 kHz, 1.4 MB
    good = wav(tone, 16000)
    return {
        "nan.wav": wav(nan, 16000),
        "inf.wav": wav(inf, 16000),
        "one-hertz.wav": wav(np.zeros(600, dtype=np.float32), 1),
        "long.wav": long,
        "truncated.wav": good[:30],
        "empty.wav": b"",
        "text.wav": b"RIFF but not really\n",
    }


def write(folder: Path, files: dict[str, bytes]) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, data in files.items():
        (folder / name).write_bytes(data)
        out[name] = folder / name
    return out
