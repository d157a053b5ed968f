"""kill -9 anywhere (issue 26): a training run killed by SIGKILL during any of its atomic writes
(after the temporary file is written, before it is renamed) or at a random instant, then continued
as a user would (``attnkit train --resume RUN``, or the same ``train`` command when the kill came
before the run folder had its config), ends with exactly the files of the uninterrupted run: the
same best and last weights, the same optimiser and random state, the same validation records. On
the dates task (RNN), Fashion-MNIST (CNN) and the karate club (GAT, which stops early when
validation reaches the metric's best possible value). Slow: ``pytest -m slow``.

The kill is made inside the child: a wrapper counts ``os.replace`` calls (every atomic write of
attnkit ends in one, :func:`attnkit.io.atomic_path`) and sends itself SIGKILL at the chosen one.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

WRAPPER = r"""
import os, signal, sys
count_file, kill_at = os.environ["KILL_COUNT_FILE"], int(os.environ.get("KILL_AT", "0"))
real_replace, calls = os.replace, [0]
def replace(src, dst, *args, **kwargs):
    calls[0] += 1
    with open(count_file, "a") as fh:
        fh.write(f"{dst}\n")
    if calls[0] == kill_at:  # the temporary file is written, the rename not done: kill -9 here
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst, *args, **kwargs)
os.replace = replace
from attnkit.cli import main
sys.exit(main(sys.argv[1:]))
"""

CONFIGS = {
    "dates": """
data: {task: dates, n_train: 400, n_dev: 40, n_test: 40, locales: [en_US, de_DE]}
model: {arch: rnn, attention: bahdanau, emb_dim: 8, hidden_dim: 16, attn_dim: 8, dropout: 0.1}
train: {max_steps: 40, batch_size: 32, eval_every: 20, patience: 100, threads: 1, seed: 3}
""",
    "fashion": """
data: {task: fashion-mnist, dev_size: 200}
model: {arch: cnn, attention: none, channels: [4, 8]}
train: {max_steps: 30, batch_size: 32, eval_every: 15, patience: 100, threads: 1, seed: 3}
""",
    "karate": """
data: {task: karate-club, seed: 1234}
model: {arch: gat, hidden_dim: 8, n_heads: 4, layers: 2, dropout: 0.2}
train: {batch_size: 20, lr: 0.01, lr_min: 0.01, schedule: constant, eval_every: 5, max_steps: 100, patience: 5,
        seed: 1234, threads: 1}
""",
}


def _env(count_file: Path, kill_at: int = 0) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KILL_COUNT_FILE": str(count_file), "KILL_AT": str(kill_at)}
    env.pop("WORLD_SIZE", None)
    return env


def _attnkit(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True, env=env, timeout=300)


def _train(config: Path, run: Path) -> list[str]:
    return ["train", str(config), "--out", str(run), "--no-progress"]


def _continue(config: Path, run: Path, env: dict[str, str]) -> None:
    """What a user does after the kill: resume a run folder that has its config, else train again."""
    args = ["train", "--resume", str(run), "--no-progress"] if (run / "config.yaml").is_file() else _train(config, run)
    done = _attnkit(args, env)
    assert done.returncode == 0, f"{args}: {done.stderr[-2000:]}"


def _same_run(straight: Path, run: Path) -> None:
    for name in ("model.safetensors", "last.safetensors"):
        a, b = load_file(str(straight / name)), load_file(str(run / name))
        assert a.keys() == b.keys(), name
        for key, tensor in a.items():  # weights, Adam moments, random states
            assert torch.equal(tensor, b[key]), f"{run.name}: {name}: {key}"
    rows = [
        [(r["step"], r["loss"], r["score"]) for r in map(json.loads, (path / "metrics.jsonl").read_text().splitlines())]
        for path in (straight, run)
    ]
    assert rows[0] == rows[1], run.name
    state = [json.loads((path / "trainer_state.json").read_text())["extra"] for path in (straight, run)]
    assert state[0]["step"] == state[1]["step"] and state[0]["finished"] == state[1]["finished"]
    assert not list(run.glob(".*.tmp")), run.name


@pytest.mark.timeout(3000)
@pytest.mark.parametrize("task", list(CONFIGS))
def test_kill_during_every_atomic_write_and_at_random_instants_then_continue(tmp_path, task):
    if task == "fashion" and not Path("/usr/share/datasets/fashion-mnist").exists():
        pytest.skip("needs the Fashion-MNIST images: apt-get install dataset-fashion-mnist")
    config = tmp_path / f"{task}.yaml"
    config.write_text(CONFIGS[task], encoding="utf-8")
    straight, counted = tmp_path / "straight", tmp_path / "straight.writes"
    start = time.perf_counter()
    done = _attnkit(_train(config, straight), _env(counted))
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-2000:]
    writes = counted.read_text().splitlines()
    assert any(w.endswith("trainer_state.json") for w in writes)
    if task == "karate":  # the early stop is part of the comparison
        assert json.loads((straight / "trainer_state.json").read_text())["extra"]["finished"] != "max_steps"

    for n in range(1, len(writes) + 1):  # every atomic write of the uninterrupted run
        run = tmp_path / f"write-{n}"
        killed = _attnkit(_train(config, run), _env(tmp_path / f"write-{n}.writes", kill_at=n))
        assert killed.returncode == -signal.SIGKILL, f"write {n} ({writes[n - 1]}): {killed.stderr[-2000:]}"
        _continue(config, run, _env(tmp_path / f"write-{n}.resume"))
        _same_run(straight, run)

    rng = random.Random(task)
    for k in range(3):  # random instants over the run's duration (imports and data building included)
        run = tmp_path / f"instant-{k}"
        proc = subprocess.Popen(
            [sys.executable, "-c", WRAPPER, *_train(config, run)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_env(tmp_path / f"instant-{k}.writes"),
        )
        time.sleep(rng.uniform(0.2, 1.0) * seconds)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if run.exists():
            _continue(config, run, _env(tmp_path / f"instant-{k}.resume"))
            _same_run(straight, run)
