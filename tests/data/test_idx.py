"""IDX files: round trips for every dtype and rank, gzip or plain, and one-line errors naming the
file and the problem."""

import gzip

import numpy as np
import pytest

from attnkit.data.idx import IDXError, read_idx, write_idx
from attnkit.errors import InputError

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (2, 1, 3, 2), (0, 3)])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_round_trip_keeps_dtype_shape_and_values(tmp_path, dtype, shape, name):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    array = (rng.integers(info.min, info.max, shape, endpoint=True) if info else rng.normal(size=shape)).astype(dtype)
    path = write_idx(tmp_path / name, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative and back.shape == shape
    np.testing.assert_array_equal(back, array)
    back[...] = 0  # writable


def test_the_bytes_are_big_endian_as_the_format_says(tmp_path):
    path = write_idx(tmp_path / "a", np.array([[1, 258]], dtype=np.int16))
    assert path.read_bytes() == bytes([0, 0, 0x0B, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 1, 2])


def test_gzip_is_told_by_its_magic_not_by_the_name(tmp_path):
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    plain = write_idx(tmp_path / "plain.gz", array, compress=False)
    packed = write_idx(tmp_path / "packed.idx", array, compress=True)
    np.testing.assert_array_equal(read_idx(plain), array)
    np.testing.assert_array_equal(read_idx(packed), array)
    assert write_idx(tmp_path / "again.idx", array, compress=True).read_bytes() == packed.read_bytes()


def _idx_bytes(tmp_path, array) -> bytes:
    return write_idx(tmp_path / "src.idx", array).read_bytes()


@pytest.mark.parametrize("gz", [False, True])
def test_a_file_one_byte_short_is_truncated_with_the_counts(tmp_path, gz):
    data = _idx_bytes(tmp_path, np.zeros((2, 3), dtype=np.int32))[:-1]  # 12 + 24 bytes, less one
    path = tmp_path / "short"
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(IDXError, match=rf"^{path}: truncated IDX data: .*need 36 bytes, found 35$"):
        read_idx(path)


def test_a_truncated_header_says_so(tmp_path):
    path = tmp_path / "h"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 1]))
    with pytest.raises(IDXError, match="truncated IDX header: 3 dimensions need 16 bytes, found 8"):
        read_idx(path)


def test_trailing_bytes_are_an_error(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(_idx_bytes(tmp_path, np.zeros(4, dtype=np.uint8)) + b"\x00\x00")
    with pytest.raises(IDXError, match=rf"^{path}: 2 trailing bytes after the IDX data: .*need 12 bytes, found 14$"):
        read_idx(path)


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n", b"\x00\x01\x08\x01", b"", b"\x00"])
def test_a_wrong_magic_is_not_an_idx_file(tmp_path, data):
    path = tmp_path / "x.png"
    path.write_bytes(data)
    with pytest.raises(IDXError, match=rf"^{path}: not an IDX file"):
        read_idx(path)


def test_an_unknown_type_code_is_named(tmp_path):
    path = tmp_path / "t"
    path.write_bytes(bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 7]))
    with pytest.raises(IDXError, match=r"unknown IDX type code 0x0A \(known: 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E\)"):
        read_idx(path)


@pytest.mark.parametrize("damage", ["cut", "flip"])
def test_corrupt_gzip_is_an_error(tmp_path, damage):
    packed = bytearray(gzip.compress(_idx_bytes(tmp_path, np.arange(100, dtype=np.uint8))))
    if damage == "cut":
        packed = packed[: len(packed) // 2]
    else:
        packed[-6] ^= 0xFF  # the CRC
    path = tmp_path / "bad.gz"
    path.write_bytes(bytes(packed))
    with pytest.raises(IDXError, match=rf"^{path}: corrupt gzip data") as err:
        read_idx(path)
    assert isinstance(err.value, InputError) and "\n" not in str(err.value)


def test_write_refuses_a_dtype_idx_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="dtype int64 has no IDX type code; use one of uint8"):
        write_idx(tmp_path / "a", np.zeros(3, dtype=np.int64))
    assert list(tmp_path.iterdir()) == []
