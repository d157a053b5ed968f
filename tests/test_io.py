"""Atomic writes leave either the old file or the new one, never a partial or temporary file."""

import os
import stat

import pytest

from attnkit.io import atomic_path, atomic_write_text


def test_atomic_write_replaces_and_uses_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_tune_allocator_is_idempotent_and_can_be_switched_off(monkeypatch):
    import platform

    from attnkit import machine

    monkeypatch.setattr(machine, "_tuned", False)
    monkeypatch.setenv("ATTNKIT_KEEP_MALLOC", "1")
    assert machine.tune_allocator() is False
    monkeypatch.delenv("ATTNKIT_KEEP_MALLOC")
    expected = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert machine.tune_allocator() is expected and machine.tune_allocator() is expected
