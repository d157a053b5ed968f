"""A run killed with SIGKILL mid-training resumes from its last saved state to exactly the
parameters of an uninterrupted run (token batches, one thread, CPU); so does a run that died in
the middle of saving its state."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from attnkit.config import TrainConfig
from attnkit.models import Seq2Seq
from attnkit.training import Trainer, checkpoint

from ..helpers import ID_PAIRS, items
from ..tasks.test_translation import write_corpus

MAX_STEPS = 200
CONFIG = """
data: {{task: translation, corpus: {corpus}, vocab_size: 60, max_source_len: 40, n_dev: 10}}
model: {{arch: rnn, attention: bahdanau, emb_dim: 16, hidden_dim: 16, attn_dim: 16, dropout: 0.1}}
train: {{max_steps: {max_steps}, batch_tokens: 24, lr: 0.01, eval_every: 10, patience: 1000, threads: 1}}
"""


def _command(*args):
    return [sys.executable, "-m", "attnkit.cli", "train", *args, "--no-progress"]


def _env():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    return env


def _saved_step(run):
    try:
        return json.loads((run / "trainer_state.json").read_text())["extra"]["step"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def _metrics(run):
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["loss"], r["score"]) for r in map(json.loads, lines)]


@pytest.mark.timeout(120)
def test_sigkill_then_resume_gives_the_uninterrupted_parameters(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    config = tmp_path / "cfg.yaml"
    config.write_text(CONFIG.format(corpus=corpus, max_steps=MAX_STEPS), encoding="utf-8")
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    done = subprocess.run(
        _command(str(config), "--out", str(straight)), capture_output=True, text=True, env=_env(), timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]

    proc = subprocess.Popen(
        _command(str(config), "--out", str(killed)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env()
    )
    try:
        while _saved_step(killed) < MAX_STEPS // 2 and proc.poll() is None:
            time.sleep(0.005)
        time.sleep(0.03)  # somewhere in the next steps, maybe in a validation or a save
        os.kill(proc.pid, signal.SIGKILL)  # no handler runs: whatever was on disk stays as it was
    finally:
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, stderr.decode()[-3000:]
    assert MAX_STEPS // 2 <= _saved_step(killed) < MAX_STEPS

    resumed = subprocess.run(_command("--resume", str(killed)), capture_output=True, text=True, env=_env(), timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for name in ("last.safetensors", "model.safetensors"):
        a, b = load_file(str(straight / name)), load_file(str(killed / name))
        assert a.keys() == b.keys(), name
        for key, tensor in a.items():  # weights, Adam moments and random state
            assert torch.equal(tensor, b[key]), f"{name}: {key}"
    assert _metrics(killed) == _metrics(straight)  # validations redone after the kill are logged once
    assert not list(killed.glob(".*.tmp"))


def _reverse_trainer(run_dir):
    torch.manual_seed(0)
    model = Seq2Seq(12, 12, attention="bahdanau", emb_dim=8, hidden_dim=16, dropout=0.1)
    g = torch.Generator().manual_seed(0)
    src = [
        torch.randint(4, 12, (int(torch.randint(2, 9, (1,), generator=g)),), generator=g).tolist() for _ in range(200)
    ]
    cfg = TrainConfig(max_steps=40, batch_tokens=40, lr=0.01, eval_every=10, patience=100, seed=3, threads=1)
    run_dir.mkdir(exist_ok=True)
    return Trainer(
        model, cfg, run_dir, ID_PAIRS, items(src, [s[::-1] for s in src]), lambda m: {"score": 0.0}, progress=False
    )


class _Died(BaseException):
    pass


@pytest.mark.timeout(60)
@pytest.mark.parametrize("dies_in", ["tensors", "json"])
def test_death_in_the_middle_of_a_save_leaves_a_consistent_state(tmp_path, monkeypatch, dies_in):
    straight = _reverse_trainer(tmp_path / "straight")
    straight.fit()

    saves = []
    real_save_file, real_write_text = checkpoint.save_file, checkpoint.atomic_write_text

    def save_file(tensors, path, metadata=None):
        if ".last.safetensors." in path:  # the temporary file of a state save
            saves.append(path)
        if dies_in == "tensors" and len(saves) == 2:  # the state of step 20, while writing the tensors
            raise _Died
        real_save_file(tensors, path, metadata=metadata)

    def write_text(path, text):
        if dies_in == "json" and len(saves) == 2:  # step 20: tensors renamed, the JSON copy not yet
            raise _Died
        real_write_text(path, text)

    monkeypatch.setattr(checkpoint, "save_file", save_file)
    monkeypatch.setattr(checkpoint, "atomic_write_text", write_text)
    run = tmp_path / "crashed"
    with pytest.raises(_Died):
        _reverse_trainer(run).fit()
    monkeypatch.undo()
    (run / ".last.safetensors.left-by-a-kill.tmp").write_bytes(b"partial")  # SIGKILL leaves these
    assert _saved_step(run) == 10  # trainer_state.json is still the state of step 10 ...
    metrics = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics == [10, 20]  # ... while the validation of step 20 was logged

    resumed = _reverse_trainer(run)
    assert resumed.fit(resume=True).steps == 40
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    metrics = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics == [10, 20, 30, 40]
    assert not list(run.glob(".*.tmp"))
