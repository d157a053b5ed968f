"""The demo on a reduced budget: both runs, the comparison, the heatmaps and the summary."""

import json

import pytest

from attnkit.training import load_run

from .conftest import REPO, attnkit


def test_demo_writes_both_runs_heatmaps_and_summary(tmp_path):
    out = tmp_path / "demo"
    proc = attnkit(
        "demo",
        "--out",
        str(out),
        "--set",
        "data.n_train=2000",
        "--set",
        "data.n_test=300",
        "--set",
        "data.n_dev=200",
        "--set",
        "train.max_steps=60",
        "--set",
        "train.eval_every=30",
        "--transformer",
    )
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
    assert not list(out.rglob("*.tmp"))
    table = proc.stdout.split("dev exact", 1)[1].split("\n\n", 1)[0]  # the first table printed
    printed = {line.split()[0]: line.split()[1:4] for line in table.splitlines()[1:4]}
    for row in summary["models"]:
        name = row["model"]
        exact, aligned, by_length, _ = _recompute_on_the_test_split(out / name)
        assert row["n_test"] == 300
        assert row["test_exact_match"] == pytest.approx(exact)
        assert (aligned is None) == (name == "none")
        assert row["test_alignment_accuracy"] == (None if aligned is None else pytest.approx(aligned))
        assert summary["test_exact_match_by_length"][name] == by_length  # same counts, same divisions
        # the table printed is the summary's, and the dev curve is the run's metrics.jsonl
        align = "n/a" if aligned is None else f"{aligned:.2%}"
        assert printed[name] == [f"{row['dev_exact_match']:.2%}", f"{exact:.2%}", align]
        history = [json.loads(line) for line in (out / name / "metrics.jsonl").read_text().splitlines()]
        assert summary["dev_curves"][name] == {str(r["step"]): r["dev_exact_match"] for r in history}
        # model.safetensors is the checkpoint of the first validation with the best score
        best = max(history, key=lambda r: r["score"])
        assert row["dev_exact_match"] == pytest.approx(best["dev_exact_match"])


def _recompute_on_the_test_split(run_dir):
    """Exact match, alignment accuracy, exact match by source length and the share of exactly-zero
    weights of the run's saved model on its saved test split, written out here: a digit of the
    output YYYY-MM-DD (positions 0-3, 5-6, 8-9) is aligned when its most-attended source character
    lies in the gold span of its field (the source tokens are the locale tag, then the characters)."""
    run = load_run(run_dir)
    examples = [json.loads(line) for line in (run_dir / "data" / "test.jsonl").read_text().splitlines()]
    got = run.task.translate(run.model, [(e["text"], e["locale"]) for e in examples])
    right = [t.output == e["target"] for t, e in zip(got, examples)]
    hits = total = zeros = entries = 0
    for t, e in zip(got, examples):
        if t.weights is None:
            continue
        zeros, entries = zeros + int((t.weights == 0).sum()), entries + t.weights.numel()
        assert t.src_tokens[1:] == list(e["text"])
        weights = t.weights.mean(0) if t.weights.dim() == 3 else t.weights  # heads: their mean, as reported
        most = weights.argmax(-1).tolist()  # most-attended source token per output token
        for positions, (lo, hi) in (
            (range(0, 4), e["year_span"]),
            (range(5, 7), e["month_span"]),
            (range(8, 10), e["day_span"]),
        ):
            for p in positions:
                total += 1
                hits += p < len(most) and lo + 1 <= most[p] < hi + 1
    by_length = {}
    for lo, hi in ((1, 10), (11, 20), (21, 30), (31, 64)):
        inside = [r for r, e in zip(right, examples) if lo <= len(e["text"]) <= hi]
        by_length[f"{lo}-{hi}"] = {"exact_match": sum(inside) / len(inside) if inside else 0.0, "n": len(inside)}
    assert sum(b["n"] for b in by_length.values()) == len(examples)  # the buckets cover every test date
    return (
        sum(right) / len(right),
        (hits / total if total else None),
        by_length,
        (zeros / entries if entries else None),
    )


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
    assert rows[2]["alignment_accuracy"] is None and rows[2]["zero_weight_share"] is None
    for row in rows:
        exact, aligned, _, zero_share = _recompute_on_the_test_split(out / row["run"])
        assert row["exact_match"] == pytest.approx(exact) and row["n_test"] == 100
        assert row["alignment_accuracy"] == (None if aligned is None else pytest.approx(aligned))
        assert row["zero_weight_share"] == (None if zero_share is None else pytest.approx(zero_share))
    assert rows[0]["zero_weight_share"] == 0.0  # softmax weights are never exactly 0 ...
    assert rows[1]["zero_weight_share"] > 0.3  # ... sparsemax gives exact zeros [Martins16]
    assert (out / "alignments.png").read_bytes().startswith(b"\x89PNG")


def test_compare_refuses_configs_with_different_data(tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text((REPO / "configs" / "dates-none.yaml").read_text().replace("n_train: 40000", "n_train: 100"))
    proc = attnkit("compare", str(REPO / "configs" / "dates-bahdanau.yaml"), str(other), "--out", str(tmp_path / "c"))
    assert proc.returncode == 2 and "describe different data" in proc.stderr and "Traceback" not in proc.stderr
