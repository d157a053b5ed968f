"""Translation through the CLI on a toy parallel corpus: train, evaluate (BLEU), translate."""

import json

from ..tasks.test_translation import write_corpus
from .conftest import attnkit


def test_train_evaluate_translate(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        f"""
data: {{task: translation, corpus: {corpus}, vocab_size: 60, max_source_len: 40, n_dev: 40}}
model: {{arch: rnn, attention: luong-general, emb_dim: 32, hidden_dim: 32}}
train: {{max_steps: 300, batch_tokens: 400, lr: 0.01, eval_every: 150, threads: 1}}
""",
        encoding="utf-8",
    )
    run = tmp_path / "run"
    proc = attnkit("train", str(cfg), "--out", str(run), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    proc = attnkit("evaluate", "--model", str(run), "--json")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)
    assert metrics["bleu"] > 50 and metrics["n"] == 40
    assert [b["words"] for b in metrics["by_length"]] == ["1-10", "11-20", "21-30", "31-40", "41-60", "61+"]
    proc = attnkit("evaluate", "--model", str(run), "--beam", "3")
    assert proc.returncode == 0 and "BLEU by source length" in proc.stdout and "tok:13a" in proc.stdout
    proc = attnkit(
        "translate",
        "--model",
        str(run),
        "--beam",
        "3",
        "Tres cuatro.",
        "Uno.",
        "--attention-plot",
        str(tmp_path / "a.png"),
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and lines[1] == "One."
    assert (tmp_path / "a-1.png").is_file()
    proc = attnkit(
        "translate",
        "--model",
        str(run),
        "--beam",
        "3",
        "--beam-stop",
        "exact",
        "--precision",
        "bf16",
        "Tres cuatro.",
        "Uno.",
    )
    assert proc.returncode == 0 and proc.stdout.splitlines()[1] == "One.", proc.stderr
    proc = attnkit("translate", "--model", str(run), "--precision", "fp16", "Uno.")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    proc = attnkit("translate", "--model", str(run), "")
    assert proc.returncode == 0 and proc.stdout == "\n", proc.stderr  # a blank input is a blank output
