"""Every user mistake is a one-line error (issue 26): commands on a run of another task, a model
too large for memory, a full or read-only disk while saving a checkpoint, Ctrl-C at any point
after the command starts."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from safetensors import SafetensorError

from attnkit.capabilities import InputKind, ModelCapabilities, RunCapabilities, TaskCapabilities
from attnkit.cli import align_cmd, main, translate
from attnkit.config import load_config
from attnkit.training import checkpoint

REPO = Path(__file__).resolve().parents[2]
DATES = str(REPO / "configs" / "dates-bahdanau.yaml")
TINY = [
    "data.n_train=100",
    "data.n_dev=10",
    "data.n_test=10",
    "data.locales=[en_US]",
    "train.max_steps=4",
    "train.eval_every=2",
    "train.batch_size=16",
    "train.threads=1",
    "model.emb_dim=8",
    "model.hidden_dim=8",
    "model.attn_dim=8",
]


def _last_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "Traceback" not in err, err
    return err.splitlines()[-1]


def _sets(overrides):
    return [a for s in overrides for a in ("--set", s)]


@pytest.mark.parametrize(
    "caps",
    [
        TaskCapabilities(InputKind.IMAGE, classes=("a", "b")),
        TaskCapabilities(InputKind.TEXT, classes=("a", "b")),  # a graph's nodes: text, no decoding
        TaskCapabilities(InputKind.AUDIO, decodes=True),
    ],
)
def test_translate_and_align_on_a_run_of_another_task_are_one_line(tmp_path, monkeypatch, capsys, caps):
    fake = SimpleNamespace(path=tmp_path / "run", capabilities=RunCapabilities(caps, ModelCapabilities()))
    monkeypatch.setattr(translate, "load_run", lambda *a, **k: fake)
    monkeypatch.setattr(align_cmd, "load_run", lambda *a, **k: fake)
    assert main(["translate", "--model", str(fake.path), "hello"]) == 2
    assert "translates text" in _last_line(capsys)
    src = tmp_path / "src.txt"
    src.write_text("a b\n")
    assert main(["align", "--model", str(fake.path), "--input", str(src), "--output", str(tmp_path / "o")]) == 2
    assert "translates text" in _last_line(capsys)
    assert not (tmp_path / "o").exists()


def test_a_model_too_large_for_memory_names_the_key(tmp_path, capsys):
    start = time.perf_counter()
    args = ["train", DATES, "--out", str(tmp_path / "run"), *_sets([*TINY, "model.hidden_dim=10000000"])]
    assert main(args) == 2
    line = _last_line(capsys)
    assert "model.hidden_dim" in line and "lower" in line and time.perf_counter() - start < 30
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EROFS, "Read-only file system"),
        SafetensorError("Error while serializing: IoError(Os { code: 28, kind: StorageFull })"),
    ],
)
def test_a_full_disk_while_saving_a_checkpoint_is_one_line(tmp_path, monkeypatch, capsys, failure):
    calls = []
    real = checkpoint.save_file

    def save_file(tensors, path, metadata=None):
        calls.append(path)
        if len(calls) >= 3:  # the first best model and state are written; then the disk is full
            raise failure
        return real(tensors, path, metadata=metadata)

    monkeypatch.setattr(checkpoint, "save_file", save_file)
    run = tmp_path / "run"
    assert main(["-q", "train", DATES, "--out", str(run), "--no-progress", *_sets(TINY)]) == 1
    line = _last_line(capsys)
    assert ".safetensors" in line and "previous" in line and "intact" in line, line
    assert not list(run.glob(".*.tmp"))
    monkeypatch.setattr(checkpoint, "save_file", real)
    assert main(["-q", "train", "--resume", str(run), "--no-progress"]) == 0  # the previous state resumes


def test_keyboard_interrupt_while_parsing_is_exit_130(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("attnkit.cli.build_parser", interrupted)
    assert main(["list"]) == 130
    assert _last_line(capsys) == "attnkit: interrupted"


def test_ctrl_c_during_imports_is_one_line_exit_130(tmp_path):
    # a module that sleeps while it is imported, imported by attnkit's CLI before anything else
    slow = tmp_path / "slowimport"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(
        "import sys, time\n"
        "class Finder:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'attnkit.machine':  # the first import after attnkit.cli starts\n"
        "            sys.stderr.write('importing\\n'); sys.stderr.flush(); time.sleep(30)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Finder())\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{slow}{os.pathsep}{REPO / 'src'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "attnkit.cli", "list"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    assert proc.stderr is not None
    assert proc.stderr.readline() == b"importing\n"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err.decode()
    assert err.decode().strip().splitlines() == ["attnkit: interrupted"]


def test_max_len_beyond_a_transformers_positions_is_a_usage_error(tiny_runs, capsys):
    run = str(tiny_runs["transformer"])
    assert main(["translate", "--model", run, "--max-len", "100", "--beam", "2", "3 May 1979"]) == 2
    line = _last_line(capsys)
    assert line.startswith("attnkit translate: error: --max-len") and "position table" in line, line
    assert main(["translate", "--model", run, "--max-len", "5", "3 May 1979"]) == 0


def test_seed_beyond_64_bits_is_a_usage_error(capsys):
    assert main(["train", DATES, "--seed", str(2**70)]) == 2
    assert "--seed" in _last_line(capsys)
    assert load_config(DATES, ["train.seed=12"]).train.seed == 12
