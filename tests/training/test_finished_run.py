"""A finished run stays finished (issue 26): the stop decision is part of the saved state, so
``--resume`` of a run that stopped early (patience, the metric's best possible value) or reached
its budget changes nothing, and a kill that lands just after the last checkpoint resumes to the
same run as the uninterrupted one."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest
import torch

from attnkit.config import TrainConfig
from attnkit.models import Seq2Seq
from attnkit.tasks.base import PrimaryMetric
from attnkit.training import Trainer

from ..helpers import ID_PAIRS, items

CFG = TrainConfig(max_steps=60, batch_size=32, lr=0.01, lr_min=0.001, eval_every=10, patience=2, seed=7, threads=1)


def _trainer(run_dir, validate, cfg=CFG, metric=None):
    torch.manual_seed(0)
    model = Seq2Seq(12, 12, attention="bahdanau", emb_dim=8, hidden_dim=16, dropout=0.1)
    g = torch.Generator().manual_seed(0)
    src = [torch.randint(4, 12, (5,), generator=g).tolist() for _ in range(128)]
    trainer = Trainer(model, cfg, run_dir, ID_PAIRS, items(src, [s[::-1] for s in src]), validate, progress=False)
    if metric is not None:
        trainer.metric = metric
    return trainer


def _digests(run_dir):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run_dir.iterdir()) if p.is_file()}


def _scores(values):
    it = iter(values)
    return lambda model: {"score": next(it)}


@pytest.mark.parametrize(
    ("scores", "metric", "reason", "steps"),
    [
        ([0.5, 0.7, 0.6, 0.6, 0.9, 0.9], None, "patience", 40),
        ([0.5, 1.0, 0.2, 0.2, 0.2, 0.2], PrimaryMetric("score", best_possible=1.0), "best possible value", 20),
        ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], None, "max_steps", 60),
    ],
)
def test_resume_of_a_finished_run_changes_nothing(tmp_path, caplog, scores, metric, reason, steps):
    run = tmp_path / "run"
    run.mkdir()
    first = _trainer(run, _scores(scores), metric=metric).fit()
    assert first.steps == steps
    state = json.loads((run / "trainer_state.json").read_text())
    assert state["extra"]["finished"] == reason
    before = _digests(run)
    again = _trainer(run, _scores([0.99] * 10), metric=metric)
    with caplog.at_level("WARNING"):
        result = again.fit(resume=True)
    assert result.steps == steps and result.best_step == first.best_step and result.best_score == first.best_score
    assert _digests(run) == before  # no weights, metrics or state rewritten
    assert f"finished at step {steps} ({reason})" in caplog.text


def test_a_run_stopped_by_a_signal_is_not_finished(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    calls = []

    def crash_on_second(model):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return {"score": 0.5}

    with pytest.raises(RuntimeError):
        _trainer(run, crash_on_second, cfg=replace(CFG, patience=100)).fit()
    assert json.loads((run / "trainer_state.json").read_text())["extra"]["finished"] == ""
    assert _trainer(run, _scores([0.5] * 10), cfg=replace(CFG, patience=100)).fit(resume=True).steps == 60


def test_a_kill_between_the_last_saves_two_renames_is_repaired_by_the_resume(tmp_path, caplog):
    # found by tests/training/test_kill_anywhere.py: last.safetensors renamed (it embeds the state,
    # "finished" included), trainer_state.json not yet: the resume said "finished" and left the
    # folder without its readable state and with the temporary file
    run = tmp_path / "run"
    run.mkdir()
    _trainer(run, _scores([0.5, 0.7, 0.6, 0.6, 0.9, 0.9])).fit()
    before = _digests(run)
    (run / "trainer_state.json").unlink()
    (run / ".trainer_state.json.cut.tmp").write_text("{")
    result = _trainer(run, _scores([0.99] * 10)).fit(resume=True)
    assert result.steps == 40
    assert _digests(run) == before  # trainer_state.json as it was, the temporary file gone
