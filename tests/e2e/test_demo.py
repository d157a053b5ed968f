"""The demo on a reduced budget: both runs, the comparison, the heatmaps and the summary."""

import json

from .conftest import attnkit


def test_demo_writes_both_runs_heatmaps_and_summary(tmp_path):
    out = tmp_path / "demo"
    proc = attnkit("demo", "--out", str(out), "--set", "data.n_train=2000", "--set", "data.n_test=300",
                   "--set", "data.n_dev=200", "--set", "train.max_steps=60", "--set", "train.eval_every=30",
                   "--transformer")
    assert proc.returncode == 0, proc.stderr
    assert "bahdanau" in proc.stdout and "none" in proc.stdout and "dev exact" in proc.stdout
    for name in ("bahdanau", "none"):
        assert (out / name / "model.safetensors").is_file()
        assert (out / name / "config.yaml").read_text().count(f"attention: {name}") == 1
    assert "arch: transformer" in (out / "transformer" / "config.yaml").read_text()
    assert "n_train: 2000" in (out / "transformer" / "config.yaml").read_text()  # same data
    plots = sorted((out / "bahdanau" / "plots").glob("*.png"))
    assert len(plots) >= 5 and all(p.read_bytes().startswith(b"\x89PNG") for p in plots)
    summary = json.loads((out / "summary.json").read_text())
    assert [m["model"] for m in summary["models"]] == ["bahdanau", "none", "transformer"]
    assert summary["models"][1]["test_alignment_accuracy"] is None
    assert all(0 <= m["test_exact_match"] <= 1 and m["n_test"] == 300 for m in summary["models"])
    assert not list(out.rglob("*.tmp"))
