"""`attnkit study length` end to end on a toy corpus: trains, resumes nothing twice, reports."""

import json

from attnkit.cli import main

from ..tasks.test_translation import write_corpus


def _config(path, corpus, attention):
    attn_dim = ", attn_dim: 16" if attention != "none" else ""
    path.write_text(
        f"""
data: {{task: translation, corpus: {corpus}, vocab_size: 60, max_source_len: 40, n_dev: 20}}
model: {{arch: rnn, attention: {attention}, emb_dim: 16, hidden_dim: 16{attn_dim}}}
train: {{max_steps: 60, batch_tokens: 300, lr: 0.01, eval_every: 30, threads: 1}}
""",
        encoding="utf-8",
    )
    return str(path)


def test_study_trains_evaluates_and_writes_the_report(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "corpus", n_train=200, n_dev=20, n_test=30)
    configs = [_config(tmp_path / f"bible-{a}.yaml", corpus, a) for a in ("none", "bahdanau")]
    out, report = tmp_path / "study", tmp_path / "docs" / "length.md"
    report.parent.mkdir()  # attnkit makes no folder outside the study's own (issue 26)
    args = [
        "study",
        "length",
        *configs,
        "--budget",
        "5min",
        "--out",
        str(out),
        "--report",
        str(report),
        "--beams",
        "1,2",
        "--no-progress",
        "--threads",
        "1",
    ]
    assert main(args) == 0
    text = report.read_text()
    assert "| none |" in text and "| bahdanau |" in text and "1-10 (30)" in text
    for png in ("length-bleu-by-length.png", "length-curves.png", "length-example1-bahdanau.png"):
        assert (report.parent / png).is_file(), png
    assert not (report.parent / "length-example1-none.png").exists()  # no attention, no heatmap
    study = json.loads((out / "study.json").read_text())
    assert study["bahdanau"]["train"]["steps"] == 60
    assert set(study["bahdanau"]["eval"]["beams"]) == {"1", "2"}
    # Running again trains and decodes nothing: done.json and eval.json are reused.
    stamp = (out / "bahdanau" / "eval.json").stat().st_mtime
    assert main(args) == 0
    assert (out / "bahdanau" / "eval.json").stat().st_mtime == stamp


def test_study_rejects_configs_with_different_data(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "corpus", n_train=120)
    a = _config(tmp_path / "a.yaml", corpus, "none")
    b = _config(tmp_path / "b.yaml", corpus, "bahdanau")
    (tmp_path / "b.yaml").write_text((tmp_path / "b.yaml").read_text().replace("vocab_size: 60", "vocab_size: 70"))
    assert main(["study", "length", a, b, "--out", str(tmp_path / "s"), "--no-progress"]) == 2
    assert "different data" in capsys.readouterr().err
