"""One set of study flags (issue 31): ``--budget`` (steps or minutes) and ``--seeds`` for every
study, the old ``--minutes``/``--canvas-minutes``/``--epochs``/``--seed`` as deprecated aliases
with a one-line warning, and no "±" in a report of one seed."""

from __future__ import annotations

import pytest

from attnkit.cli import main
from attnkit.errors import ConfigError
from attnkit.studies import han, length, vision
from attnkit.studies.budget import Budget


@pytest.mark.parametrize(
    "text, budget",
    [
        ("5000", Budget(steps=5000)),
        ("5000steps", Budget(steps=5000)),
        ("1 step", Budget(steps=1)),
        ("30min", Budget(minutes=30.0)),
        ("1.5min", Budget(minutes=1.5)),
        ("2m", Budget(minutes=2.0)),
    ],
)
def test_budgets_parse(text, budget):
    assert Budget.parse(text) == budget
    assert Budget.parse(budget.flag()) == budget


@pytest.mark.parametrize("text", ["", "0", "-3", "2.5", "nan", "inf", "10h", "0min", "min"])
def test_bad_budgets_are_refused(text):
    with pytest.raises(ConfigError):
        Budget.parse(text)


def test_a_budget_sets_steps_or_minutes():
    assert Budget(steps=300).overrides() == ["train.max_steps=300", "train.max_minutes=0"]
    assert Budget(minutes=2.0).overrides() == ["train.max_minutes=2.0"]
    cfg = vision.vision_config("fashion", "cnn", 1, Budget(steps=300))
    assert cfg.train.max_steps == 300 and cfg.train.max_minutes == 0
    cfg = vision.vision_config("fashion", "cnn", 1, 2.5)  # minutes, as before
    assert cfg.train.max_minutes == 2.5


def _fake_vision(calls):
    def run_vision_study(out, **kwargs):
        calls.append(kwargs)
        seeds = kwargs["seeds"]
        runs = {"n_seeds": len(seeds), "test_accuracy_mean": 0.9, "test_accuracy_sd": 0.01, "parameters": 10}
        runs.update(label="CNN", train_images_per_s=1.0, inference_images_per_s=2.0, steps_mean=5)
        return {
            "machine": {"cpu": "cpu", "threads": 1, "torch": "2"},
            "seeds": list(seeds),
            "budget": {d: b.record() for d, b in kwargs["budget"].items()},
            "summary": {"fashion": {"cnn": runs}},
        }

    return run_vision_study


def test_vision_takes_budget_and_seeds_and_reports_one_seed_without_a_spread(tmp_path, monkeypatch, capsys):
    calls: list[dict] = []
    monkeypatch.setattr(vision, "run_vision_study", _fake_vision(calls))
    monkeypatch.setattr("attnkit.cli.study._render_vision", lambda out: [])
    out = tmp_path / "v"
    args = ["study", "vision", "--out", str(out), "--data", "fashion", "--variants", "cnn"]
    assert main([*args, "--budget", "300", "--canvas-budget", "2min", "--seeds", "7"]) == 0
    assert calls[-1]["seeds"] == [7]
    assert calls[-1]["budget"] == {"fashion": Budget(steps=300), "canvas": Budget(minutes=2.0)}
    report = (out / "report.md").read_text()
    assert "±" not in report and "| test accuracy |" in report and "| 90.00 % |" in report
    assert "trained for 300 steps" in report and "--budget 300 --canvas-budget 2min" in report
    # several seeds: mean ± sd
    assert main([*args, "--seeds", "1", "2"]) == 0
    report = (out / "report.md").read_text()
    assert "(mean ± sd)" in report and "90.00 ± 1.00 %" in report and "trained for 1 min of wall-clock" in report


def test_the_old_flags_still_work_with_a_warning(tmp_path, monkeypatch, capsys):
    calls: list[dict] = []
    monkeypatch.setattr(vision, "run_vision_study", _fake_vision(calls))
    monkeypatch.setattr("attnkit.cli.study._render_vision", lambda out: [])
    args = ["study", "vision", "--out", str(tmp_path / "v"), "--data", "fashion", "--variants", "cnn"]
    capsys.readouterr()
    assert main([*args, "--minutes", "3", "--canvas-minutes", "4", "--seed", "9"]) == 0
    err = capsys.readouterr().err
    assert "--minutes is deprecated; use --budget 3min" in err
    assert "--canvas-minutes is deprecated; use --canvas-budget 4min" in err
    assert "--seed is deprecated for studies; use --seeds 9" in err
    assert calls[-1]["budget"] == {"fashion": Budget(minutes=3.0), "canvas": Budget(minutes=4.0)}
    assert calls[-1]["seeds"] == [9]
    # both spellings at once: a usage error
    assert main([*args, "--minutes", "3", "--budget", "3min"]) == 2
    assert "give --budget only" in capsys.readouterr().err


def test_studies_of_one_seed_refuse_several(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(han, "run_han_study", lambda *a, **k: pytest.fail("ran"))
    assert main(["study", "han", "--out", str(tmp_path / "h"), "--seeds", "1", "2"]) == 2
    assert "study han trains one seed" in capsys.readouterr().err
    monkeypatch.setattr(length, "run_study", lambda *a, **k: pytest.fail("ran"))
    assert main(["study", "length", "--out", str(tmp_path / "l"), "--seeds", "1", "2"]) == 2
    assert "study length trains one seed" in capsys.readouterr().err


def test_han_passes_the_budget_and_seed_on(tmp_path, monkeypatch, capsys):
    seen = {}

    def run_han_study(out, **kwargs):
        seen.update(kwargs)
        raise han.StudyError("stop here")

    monkeypatch.setattr(han, "run_han_study", run_han_study)
    assert main(["study", "han", "--out", str(tmp_path / "h"), "--budget", "20min", "--seeds", "4"]) == 1
    assert seen["budget"] == Budget(minutes=20.0) and seen["seed"] == 4 and seen["epochs"] == 10
    assert "--seeds 4 --budget 20min" in seen["command"]
