"""Data-parallel training under torchrun: two ranks follow the loss trajectory of one process with
the same global batch, and only rank 0 writes."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from attnkit.training import distributed

from ..tasks.test_translation import write_corpus

# Token batches of 1-4 sentences on the toy corpus: some global batches have a single sentence,
# so rank 1's share is empty at those steps. No dropout: its masks are drawn per rank.
CONFIG = """
data: {{task: translation, corpus: {corpus}, vocab_size: 60, max_source_len: 40, n_dev: 10}}
model: {{arch: rnn, attention: bahdanau, emb_dim: 16, hidden_dim: 16, attn_dim: 16, dropout: 0.0}}
train: {{max_steps: 30, batch_tokens: 24, lr: 0.01, eval_every: 15, patience: 5, threads: 1}}
"""


def _train(config, out, nproc):
    launcher = [] if nproc == 1 else ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    env = {
        **os.environ,
        "ATTNKIT_LOSS_LOG": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONFAULTHANDLER": "1",
    }  # a rank that aborts dumps its Python stack
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run(
        [sys.executable, *launcher, "-m", "attnkit.cli", "train", str(config), "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _files(run):
    return sorted(str(p.relative_to(run)) for p in run.rglob("*"))


# Known defect under investigation (2026-12-07): in two of three full-suite runs on a loaded machine,
# rank 1 aborted (SIGABRT, "terminate called without an active exception", gloo) after the last
# validation, with a barrier before destroy_process_group already in place. Not reproduced since: 8
# runs alone under a CPU hog and one full-suite run with this test included all passed. The ranks now
# dump their Python stacks on SIGABRT (PYTHONFAULTHANDLER). Run with `pytest -m slow` until it is fixed.
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_ranks_follow_the_single_process_trajectory(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    config = tmp_path / "cfg.yaml"
    config.write_text(CONFIG.format(corpus=corpus), encoding="utf-8")
    one, two = tmp_path / "one", tmp_path / "two"
    _train(config, one, 1)
    proc = _train(config, two, 2)

    losses = [[json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()] for run in (one, two)]
    assert [r["step"] for r in losses[1]] == list(range(1, 31))  # one line per step: rank 0 alone writes
    assert [(r["n_tokens"], r["n_examples"]) for r in losses[0]] == [
        (r["n_tokens"], r["n_examples"]) for r in losses[1]
    ]  # same global batches
    assert any(r["n_examples"] == 1 for r in losses[1])  # rank 1 had nothing to do at some steps
    diff = max(abs(a["loss"] - b["loss"]) for a, b in zip(*losses))
    assert diff < 1e-5, diff

    a, b = load_file(str(one / "last.safetensors")), load_file(str(two / "last.safetensors"))
    for name, tensor in a.items():
        if name.startswith(("model.", "optim.")):
            torch.testing.assert_close(b[name], tensor, rtol=0, atol=1e-4, msg=name)
    assert "rng.torch.rank1" in b  # rank 1's random state travels to rank 0's checkpoint

    # rank 1 wrote nothing: the same files, each validation logged once, one summary line printed
    assert _files(one) == _files(two)
    steps = [json.loads(line)["step"] for line in (two / "metrics.jsonl").read_text().splitlines()]
    assert steps == [15, 30]
    assert proc.stdout.count("best dev score") == 1


def test_a_single_process_is_not_distributed(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with distributed.distributed_session() as ctx:
        assert not ctx.enabled and ctx.is_main and ctx.world_size == 1
        assert distributed.broadcast_json({"score": 0.5}, ctx) == {"score": 0.5}
        assert [t.item() for t in distributed.all_gather_tensor(torch.tensor(3), ctx)] == [3]
    assert not torch.distributed.is_initialized()
