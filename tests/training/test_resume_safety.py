"""Resume safety (issue 26): ``attnkit train --resume`` checks the whole saved state (the trainer's
counters, the model's keys and shapes, the optimiser, the schedule, the random state) before it
touches anything in the run folder; a tampered state or another model's ``last.safetensors`` is
one line and leaves every file as it was; a folder killed before its first checkpoint resumes
from the start; ``--overwrite`` leaves no temporary files behind."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from attnkit.cli import main
from attnkit.config import load_config, task_of
from attnkit.training.checkpoint import save_state
from attnkit.training.pipeline import train_run
from attnkit.training.run import build_model
from attnkit.training.trainer import lr_factor, param_groups

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "dates-bahdanau.yaml"
TINY = [
    "data.n_train=200",
    "data.n_dev=20",
    "data.n_test=20",
    "data.locales=[de_DE, en_US]",
    "train.max_steps=5",
    "train.eval_every=5",
    "train.batch_size=32",
    "train.threads=1",
    "model.emb_dim=8",
    "model.hidden_dim=12",
    "model.attn_dim=12",
]
STATE_KEY = "attnkit.trainer_state"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("resume") / "run"
    train_run(load_config(CONFIG, TINY), run, progress=False)
    return run


def _copy(finished_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    return run


def _digests(run: Path) -> dict[str, str]:
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest() for p in run.rglob("*") if p.is_file()}


def _rewrite_state(run: Path, edit_meta=None, edit_tensors=None) -> None:
    """Rewrite last.safetensors (and its readable copy) with the state changed by the edits."""
    path = run / "last.safetensors"
    with safe_open(str(path), framework="pt") as fh:
        meta = json.loads(fh.metadata()[STATE_KEY])
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    meta["extra"]["finished"] = ""  # a run that may go on
    if edit_meta:
        edit_meta(meta)
    if edit_tensors:
        edit_tensors(tensors)
    save_file(tensors, str(path), metadata={STATE_KEY: json.dumps(meta)})
    (run / "trainer_state.json").write_text(json.dumps(meta, indent=1))


def _set(*keys, value):
    def edit(meta):
        target = meta
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


def _resize(tensors):
    key = next(k for k in tensors if k.startswith("optim.") and tensors[k].dim() > 1)
    tensors[key] = torch.zeros(3, 3)


TAMPERED = {
    "step as text": (_set("extra", "step", value="5"), None, "step must be a whole number"),
    "negative step": (_set("extra", "step", value=-1), None, "step must be a whole number"),
    "huge step": (_set("extra", "step", value=10**30), None, "the schedule is at step"),
    "no history": (_set("extra", "history", value="lots"), None, "history must be a list"),
    "seconds nan": (_set("extra", "seconds", value=float("nan")), None, "seconds must be finite"),
    "unknown finish": (_set("extra", "finished", value="maybe"), None, "finished must be one of"),
    "lr as text": (lambda m: m["param_groups"][0].update(lr="fast"), None, "optimiser setting lr"),
    "one group too many": (lambda m: m["param_groups"].append(m["param_groups"][0]), None, "param_groups"),
    "scheduler gone": (_set("scheduler", value=None), None, "schedule"),
    "optimiser shape": (None, _resize, "optimiser tensor"),
    "rng": (None, lambda t: t.update({"rng.torch": torch.zeros(3, dtype=torch.uint8)}), "random state"),
    "weight dropped": (None, lambda t: t.pop(next(k for k in t if k.startswith("model."))), "Missing key"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_tampered_state_is_one_line_and_changes_nothing(finished_run, tmp_path, capsys, case):
    edit_meta, edit_tensors, words = TAMPERED[case]
    run = _copy(finished_run, tmp_path)
    _rewrite_state(run, edit_meta, edit_tensors)
    before = _digests(run)
    assert main(["-q", "train", "--resume", str(run), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "last.safetensors cannot be resumed" in err and words in err, err
    assert _digests(run) == before  # metrics.jsonl above all


def test_another_models_last_state_is_one_line(finished_run, tmp_path, capsys):
    run = _copy(finished_run, tmp_path)
    cfg = load_config(CONFIG, [*TINY, "model.hidden_dim=16"])
    other = build_model(cfg, task_of(cfg).load(cfg.data, run))
    optimizer = torch.optim.Adam(param_groups(other, cfg.train.lr), lr=cfg.train.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg.train))
    extra = {"finished": "", "step": 0, "epoch": 0, "index": 0, "best": 0.0, "best_step": 0, "bad": 0}
    save_state(run, other, optimizer, scheduler, {**extra, "seconds": 0.0, "history": []}, {})
    before = _digests(run)
    assert main(["-q", "train", "--resume", str(run), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "another model's weights" in err and "other shapes" in err, err
    assert _digests(run) == before


def test_a_folder_killed_before_its_first_checkpoint_resumes_from_the_start(finished_run, tmp_path, capsys):
    run = _copy(finished_run, tmp_path)
    for name in ("trainer_state.json", "last.safetensors", "model.safetensors"):
        (run / name).unlink()
    (run / "metrics.jsonl").write_text('{"step": 5, "loss": 1.0, "score": 0.1}\n')  # a validation, no checkpoint
    (run / ".last.safetensors.x1y2.tmp").write_bytes(b"half a save")
    assert main(["train", str(CONFIG), "--out", str(run), "--no-progress"]) == 1  # a run is there: --resume it
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    state = json.loads((run / "trainer_state.json").read_text())
    assert state["extra"]["step"] == 5 and state["extra"]["finished"] == "max_steps"
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [5]
    assert (run / "model.safetensors").is_file() and not list(run.glob(".*.tmp"))


def test_overwrite_leaves_no_temporary_files(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    (run / ".last.safetensors.x1y2.tmp").write_bytes(b"half a save")
    (run / ".metrics.jsonl.abc.tmp").write_bytes(b"")
    sets = [arg for s in TINY for arg in ("--set", s)]
    assert main(["train", str(CONFIG), "--out", str(run), "--overwrite", "--no-progress", *sets]) == 0
    assert not list(run.glob(".*.tmp"))


def test_a_valid_state_still_resumes(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    _rewrite_state(run, _set("extra", "step", value=5))
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
