"""Read and write IDX files, the array format of MNIST and Fashion-MNIST, gzip-compressed or plain.

An IDX file is a 4-byte magic number, then the size of each dimension, then the data, all
big-endian [LeCun98] (format described on http://yann.lecun.com/exdb/mnist/):

- bytes 0-1: zero; byte 2: the element type (0x08 unsigned byte, 0x09 signed byte, 0x0B 16-bit
  integer, 0x0C 32-bit integer, 0x0D 32-bit float, 0x0E 64-bit float); byte 3: the number of
  dimensions;
- one 32-bit big-endian integer per dimension;
- the elements in C order (last index fastest), big-endian.

A compressed file is recognised by the gzip magic bytes, not by its name.

References:
    [LeCun98] Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-Based Learning Applied to
    Document Recognition. Proceedings of the IEEE 86(11), 1998. DOI:10.1109/5.726791.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import atomic_path

__all__ = ["IDXError", "read_idx", "write_idx", "IDX_TYPES"]

# IDX type code -> big-endian numpy dtype.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in IDX_TYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


class IDXError(InputError):
    """A file that is not a well-formed IDX file; the message names the file and the problem."""


def _decompress(path: Path, raw: bytes) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise IDXError(f"{path}: corrupt gzip data ({err}); re-download or reinstall the file") from None


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in the IDX file at `path` (gzip-compressed or plain).

    Args:
        path: the file.

    Returns:
        A writable array in native byte order, of the file's dtype (uint8, int8, int16, int32,
        float32 or float64) and shape (its dimensions, in order).

    Raises:
        IDXError: if the file is not an IDX file (bad magic), has an unknown type code, holds
            fewer bytes than its dimensions call for (truncated) or more (trailing bytes), or is
            corrupt gzip.
        OSError: if the file cannot be read.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        raw = _decompress(path, raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IDXError(
            f"{path}: not an IDX file (magic {raw[:4].hex() or 'missing'}, expected 0000 + type byte + rank byte)"
        )
    code, ndim = raw[2], raw[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise IDXError(f"{path}: unknown IDX type code 0x{code:02X} (known: {known})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes, found {len(raw)}")
    dims = struct.unpack(f">{ndim}i", raw[4:header])
    if any(d < 0 for d in dims):
        raise IDXError(f"{path}: negative dimension in IDX header {dims}")
    dtype = IDX_TYPES[code]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) < expected:
        raise IDXError(
            f"{path}: truncated IDX data: dimensions {dims} of {dtype.itemsize}-byte elements "
            f"need {expected} bytes, found {len(raw)}"
        )
    if len(raw) > expected:
        raise IDXError(
            f"{path}: {len(raw) - expected} trailing bytes after the IDX data: dimensions {dims} "
            f"need {expected} bytes, found {len(raw)}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))  # a native, writable copy (one pass)


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write `array` to `path` as an IDX file, atomically.

    Args:
        path: the file to write.
        array: any shape with at most 255 dimensions, each below 2**31; dtype uint8, int8,
            int16, int32, float32 or float64.
        compress: gzip the file; by default when `path` ends in ``.gz``. The gzip header holds
            no timestamp, so the same array gives the same bytes.

    Returns:
        The path written.

    Raises:
        ValueError: if the dtype has no IDX type code, or the shape does not fit the header.
    """
    path, array = Path(path), np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        raise ValueError(
            f"dtype {array.dtype} has no IDX type code; use one of uint8, int8, int16, int32, float32, float64"
        )
    if array.ndim > 255 or any(d >= 2**31 for d in array.shape):
        raise ValueError(f"shape {array.shape} does not fit an IDX header (at most 255 dimensions, each < 2**31)")
    code = _CODES[native]
    data = (
        bytes([0, 0, code, array.ndim])
        + struct.pack(f">{array.ndim}i", *array.shape)
        + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    )
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
