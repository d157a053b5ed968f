"""The demo on a reduced budget: both runs, the comparison, the heatmaps and the summary."""

import json

from .conftest import REPO, attnkit


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


def test_compare_writes_a_table_and_a_heatmap_grid(tmp_path):
    out = tmp_path / "cmp"
    sets = ["data.n_train=1500", "data.n_dev=100", "data.n_test=100", "train.max_steps=40", "train.eval_every=20"]
    configs = [str(REPO / "configs" / f"dates-{name}.yaml") for name in ("bahdanau", "sparsemax", "none")]
    proc = attnkit("compare", *configs, "--out", str(out), *[a for s in sets for a in ("--set", s)])
    assert proc.returncode == 0, proc.stderr
    report = (out / "comparison.md").read_text()
    assert "| dates-sparsemax | bahdanau | sparsemax |" in report and "| dates-none | none |" in report
    rows = json.loads((out / "comparison.json").read_text())
    assert [r["run"] for r in rows] == ["dates-bahdanau", "dates-sparsemax", "dates-none"]
    assert rows[2]["alignment_accuracy"] is None and 0 <= rows[1]["zero_weight_share"] <= 1
    assert (out / "alignments.png").read_bytes().startswith(b"\x89PNG")


def test_compare_refuses_configs_with_different_data(tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text((REPO / "configs" / "dates-none.yaml").read_text().replace("n_train: 40000", "n_train: 100"))
    proc = attnkit("compare", str(REPO / "configs" / "dates-bahdanau.yaml"), str(other), "--out", str(tmp_path / "c"))
    assert proc.returncode == 2 and "describe different data" in proc.stderr and "Traceback" not in proc.stderr
