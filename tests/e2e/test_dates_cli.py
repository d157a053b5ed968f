"""End to end through the CLI, in subprocesses: train -> translate -> evaluate, and bad input."""

import json
import shutil
from pathlib import Path

import pytest

from .conftest import REPO, attnkit


def test_training_writes_a_complete_run_folder(tiny_run):
    for name in (
        "config.yaml",
        "model.safetensors",
        "src_vocab.json",
        "tgt_vocab.json",
        "metrics.jsonl",
        "data/train.jsonl",
        "data/dev.jsonl",
        "data/test.jsonl",
        "trainer_state.json",
        "last.safetensors",
    ):
        assert (tiny_run / name).is_file(), name
    assert not list(tiny_run.rglob("*.tmp")), "temporary files left behind"
    metrics = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert metrics and all("dev_exact_match" in m and m["tgt_tokens_per_s"] > 0 for m in metrics)


def test_the_reduced_task_is_learned(tiny_run):
    proc = attnkit("evaluate", "--model", str(tiny_run), "--json", "--by-locale")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)
    assert metrics["n"] == 300
    assert metrics["exact_match"] >= 0.9, metrics
    assert metrics["alignment_accuracy"] >= 0.8, metrics
    assert set(metrics["by_locale"]) == {"de_DE", "en_US"}


def test_translate_prints_iso_dates(tiny_run):
    proc = attnkit("translate", "--model", str(tiny_run), "--locale", "de_DE", "3. Mai 1979")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "1979-05-03\n"


def test_translate_reads_stdin_one_line_per_input_in_order(tiny_run, tmp_path):
    lines = ["May 3, 1979", "December 24, 2001", "July 4, 1976", "January 1, 2049"]
    proc = attnkit(
        "translate",
        "--model",
        str(tiny_run),
        "--locale",
        "en_US",
        "--attention-plot",
        str(tmp_path / "a.png"),
        stdin="\n".join(lines) + "\n",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["1979-05-03", "2001-12-24", "1976-07-04", "2049-01-01"]
    for i in range(1, 5):
        assert (tmp_path / f"a-{i}.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("text, message", [("3. Mai 1979 " * 10, "at most 64")])
def test_bad_inputs_fail_in_one_line(tiny_run, text, message):
    proc = attnkit("translate", "--model", str(tiny_run), "--locale", "de_DE", text)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_bad_line_in_stdin_stops_before_anything_is_printed(tiny_run):
    stdin = "May 3, 1979\n" + "3. Mai 1979 " * 10 + "\nJuly 4, 1976\n"
    proc = attnkit("translate", "--model", str(tiny_run), "--locale", "en_US", stdin=stdin)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "input 2:" in proc.stderr and "at most 64" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_lines_stay_blank_outputs(tiny_run, blank):
    stdin = f"May 3, 1979\n{blank}\nJuly 4, 1976\n"
    proc = attnkit("translate", "--model", str(tiny_run), "--locale", "en_US", stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "1979-05-03\n\n1976-07-04\n"
    proc = attnkit("translate", "--model", str(tiny_run), "--locale", "de_DE", blank)
    assert proc.returncode == 0 and proc.stdout == "\n"


def test_unknown_locale(tiny_run):
    proc = attnkit("translate", "--model", str(tiny_run), "--locale", "xx_XX", "3 May 1979")
    assert proc.returncode == 1
    assert "unknown locale 'xx_XX'; this model knows: de_DE, en_US" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unseen_characters_are_read_as_unk_with_a_warning(tiny_run):
    proc = attnkit("translate", "--model", str(tiny_run), "--locale", "en_US", "May 3, 1979 ☃")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 1
    assert "read as <unk>: '☃'" in proc.stderr


def test_missing_and_corrupt_run_folders(tiny_run, tmp_path):
    proc = attnkit("translate", "--model", str(tmp_path / "nope"), "3 May 1979")
    assert proc.returncode == 1 and "not found" in proc.stderr and "Traceback" not in proc.stderr
    broken = tmp_path / "broken"
    shutil.copytree(tiny_run, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    proc = attnkit("evaluate", "--model", str(broken))
    assert proc.returncode == 1 and "model.safetensors" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    (broken / "config.yaml").write_text("model: {attention: bahdanau, heads: 3}\n")
    proc = attnkit("evaluate", "--model", str(broken))
    assert proc.returncode == 1 and "unknown config key 'model.heads'" in proc.stderr


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.attention=luong-foo", "unknown attention 'luong-foo'; choose one of: none, bahdanau"),
        ("model.heads=4", "unknown config key 'model.heads'"),
        ("train.max_steps=many", "train.max_steps must be an integer"),
        ("data.task=poems", "unknown task 'poems'; choose one of: dates"),
        ("data.locales=[xx_XX]", "unknown locale 'xx_XX'; choose one of: en_US"),
    ],
)
def test_bad_configs_are_usage_errors(tmp_path, override, message):
    proc = attnkit(
        "train", str(REPO / "configs" / "dates-bahdanau.yaml"), "--out", str(tmp_path / "run"), "--set", override
    )
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_an_existing_run_is_not_overwritten(tiny_run):
    before = (tiny_run / "model.safetensors").read_bytes()
    proc = attnkit("train", str(REPO / "configs" / "dates-bahdanau.yaml"), "--out", str(tiny_run))
    assert proc.returncode == 1 and "already holds a run" in proc.stderr and "--resume" in proc.stderr
    assert (tiny_run / "model.safetensors").read_bytes() == before


def test_resume_of_a_finished_run_is_a_no_op(tiny_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    proc = attnkit("train", "--resume", str(copy))
    assert proc.returncode == 0, proc.stderr
    assert (copy / "model.safetensors").read_bytes() == (tiny_run / "model.safetensors").read_bytes()


def test_unknown_key_in_a_config_file(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model:\n  attention: bahdanau\n  hiden_dim: 64\n")
    proc = attnkit("train", str(cfg), "--out", str(tmp_path / "run"))
    assert proc.returncode == 2
    assert "unknown config key 'model.hiden_dim' for model.arch=rnn; valid keys here: arch, attention" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_config_file(tmp_path):
    proc = attnkit("train", str(tmp_path / "none.yaml"))
    assert proc.returncode == 2 and "not found" in proc.stderr and "Traceback" not in proc.stderr


def test_usage_errors_exit_2():
    assert attnkit("translate").returncode == 2  # --model missing
    assert attnkit("frobnicate").returncode == 2


def test_list_names_every_registry():
    proc = attnkit("list")
    assert proc.returncode == 0, proc.stderr
    for name in ("scaled_dot", "softmax", "bahdanau", "luong-concat", "transformer", "rope", "alibi", "dates"):
        assert f"  {name} " in proc.stdout
    only = attnkit("list", "positional")
    assert "rope" in only.stdout and "bahdanau" not in only.stdout
    assert attnkit("list", "nothing").returncode == 2


@pytest.fixture(scope="module")
def tiny_transformer_run(tmp_path_factory) -> Path:
    """A 2-head Transformer run after a few steps: enough for its maps to differ by head."""
    out = tmp_path_factory.mktemp("runs") / "transformer"
    sets = [
        "data.n_train=500",
        "data.n_dev=50",
        "data.n_test=50",
        "data.locales=[de_DE, en_US]",
        "train.max_steps=5",
        "train.eval_every=5",
        "train.warmup_steps=1",
        "train.threads=1",
        "model.d_model=16",
        "model.d_ff=32",
        "model.n_heads=2",
        "model.enc_layers=1",
        "model.dec_layers=1",
    ]
    proc = attnkit(
        "train",
        str(REPO / "configs" / "dates-transformer.yaml"),
        "--out",
        str(out),
        *[arg for s in sets for arg in ("--set", s)],
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_attention_plot_of_a_transformer_draws_the_heads_named(tiny_transformer_run, tmp_path):
    pngs = {}
    for heads in ("mean", "0", "1"):
        proc = attnkit(
            "translate",
            "--model",
            str(tiny_transformer_run),
            "--locale",
            "de_DE",
            "3. Mai 1979",
            "--attention-plot",
            str(tmp_path / f"{heads}.png"),
            *(["--attention-heads", heads] if heads != "mean" else []),
        )
        assert proc.returncode == 0, proc.stderr
        pngs[heads] = (tmp_path / f"{heads}.png").read_bytes()
        assert pngs[heads].startswith(b"\x89PNG")
    assert len(set(pngs.values())) == 3  # the mean and each head are different pictures
    proc = attnkit(
        "translate",
        "--model",
        str(tiny_transformer_run),
        "3 May 1979",
        "--attention-plot",
        str(tmp_path / "x.png"),
        "--attention-heads",
        "2",
    )
    assert proc.returncode == 2 and "head 2 is out of range: these weights have 2 heads" in proc.stderr
    assert proc.stdout == "" and not (tmp_path / "x.png").exists()
