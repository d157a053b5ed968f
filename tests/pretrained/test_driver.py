"""``attnkit import-hf`` / ``export-hf`` refuse what they cannot do in one line (exit 2), write
nothing partial and leave existing folders untouched; sharded checkpoints and overwriting work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from attnkit.cli import main
from attnkit.pretrained import EXPORTERS, IMPORTERS, ConversionError, Converted
from attnkit.pretrained.checkpoint import read_checkpoint
from attnkit.pretrained.convert import import_hf
from attnkit.training import load_run

from .conftest import SENTENCES, hf_model


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line_error(capsys, code: int, argv: list[str]) -> str:
    assert main(argv) == code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def _siblings(out: Path) -> list[str]:
    """Files beside `out` (temporary folders left behind would show here)."""
    return sorted(p.name for p in out.parent.iterdir()) if out.parent.exists() else []


def test_a_pytorch_bin_only_folder_is_refused_with_how_to_convert_it(tmp_path, capsys):
    src = tmp_path / "ckpt"
    src.mkdir()
    (src / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (src / "pytorch_model.bin").write_bytes(b"\x80\x04 a pickle that must never be loaded")
    out = tmp_path / "runs" / "run"
    line = _one_line_error(capsys, 2, ["import-hf", str(src), "--out", str(out)])
    assert "pytorch_model.bin" in line and "safe_serialization=True" in line and "never unpickles" in line
    assert not out.parent.exists()


def test_unknown_model_type_lists_the_supported_ones(tmp_path, capsys):
    src = tmp_path / "ckpt"
    src.mkdir()
    (src / "config.json").write_text(json.dumps({"model_type": "llama"}))
    out = tmp_path / "run"
    line = _one_line_error(capsys, 2, ["import-hf", str(src), "--out", str(out)])
    assert "'llama'" in line and all(name in line for name in ("bert", "roberta", "gpt2"))
    assert not out.exists()


def test_missing_folder_config_or_weights_name_the_file(tmp_path, capsys, checkpoints):
    out = tmp_path / "run"
    line = _one_line_error(capsys, 2, ["import-hf", str(tmp_path / "nowhere"), "--out", str(out)])
    assert "nowhere not found" in line
    src = tmp_path / "ckpt"
    shutil.copytree(checkpoints["bert"], src)
    (src / "config.json").unlink()
    assert "config.json not found" in _one_line_error(capsys, 2, ["import-hf", str(src), "--out", str(out)])
    shutil.copy(checkpoints["bert"] / "config.json", src)
    (src / "model.safetensors").unlink()
    assert "model.safetensors not found" in _one_line_error(capsys, 2, ["import-hf", str(src), "--out", str(out)])
    assert not out.exists() and _siblings(out) == ["ckpt"]


def test_a_checkpoint_without_a_tokenizer_or_with_a_weight_missing_is_refused(tmp_path, capsys, checkpoints):
    from safetensors.torch import load_file, save_file

    src = tmp_path / "ckpt"
    shutil.copytree(checkpoints["bert"], src)
    (src / "tokenizer.json").unlink()
    out = tmp_path / "run"
    assert "no tokenizer file" in _one_line_error(capsys, 2, ["import-hf", str(src), "--out", str(out)])
    shutil.copy(checkpoints["bert"] / "tokenizer.json", src)
    weights = load_file(str(src / "model.safetensors"))
    del weights["encoder.layer.1.attention.self.key.bias"]
    save_file(weights, str(src / "model.safetensors"))
    line = _one_line_error(capsys, 2, ["import-hf", str(src), "--out", str(out)])
    assert "encoder.layer.1.attention.self.key.bias not found" in line
    assert not out.exists() and _siblings(out) == ["ckpt"]


def test_an_existing_folder_is_untouched_unless_overwrite(tmp_path, capsys, checkpoints):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    line = _one_line_error(capsys, 2, ["import-hf", str(checkpoints["bert"]), "--out", str(out)])
    assert "not empty" in line and "--overwrite" in line
    assert _snapshot(out) == {"notes.txt": b"mine"}
    assert main(["import-hf", str(checkpoints["bert"]), "--out", str(out), "--overwrite"]) == 0
    capsys.readouterr()
    assert not (out / "notes.txt").exists() and load_run(out).config.model.arch == "bert"
    assert _siblings(out) == ["run"]  # no temporary or old folder left beside it
    empty = tmp_path / "empty"
    empty.mkdir()
    assert import_hf(checkpoints["gpt2"], empty) == empty and (empty / "config.yaml").is_file()


def test_export_refuses_an_existing_folder_and_a_family_without_counterpart(tmp_path, capsys, imported):
    out = tmp_path / "hf"
    out.mkdir()
    (out / "x").write_text("keep")
    assert "not empty" in _one_line_error(capsys, 2, ["export-hf", str(imported["bert"]), "--out", str(out)])
    assert _snapshot(out) == {"x": b"keep"}
    entry = EXPORTERS.entry("bert")
    EXPORTERS.unregister("bert")
    try:
        line = _one_line_error(capsys, 2, ["export-hf", str(imported["bert"]), "--out", str(tmp_path / "new")])
    finally:
        EXPORTERS.register("bert", entry.obj, entry.description, entry.reference)
    assert "model.arch=bert has no Hugging Face counterpart" in line and "gpt2" in line
    assert not (tmp_path / "new").exists()
    missing = ["export-hf", str(tmp_path / "nowhere"), "--out", str(tmp_path / "new")]
    assert "not found" in _one_line_error(capsys, 1, missing)


class _BadImporter:
    """A converter whose config does not load (a bug): the driver must fail loudly, writing nothing."""

    description = "test"

    def convert(self, ckpt):
        good = IMPORTERS.get("bert").convert(ckpt)
        return Converted({"data": good.config["data"], "model": {**good.config["model"], "d_model": 30}}, good.weights)


def test_a_converter_with_a_bad_config_or_weights_fails_loudly_and_writes_nothing(tmp_path, checkpoints):
    src = tmp_path / "ckpt"
    shutil.copytree(checkpoints["bert"], src)
    config = json.loads((src / "config.json").read_text())
    (src / "config.json").write_text(json.dumps({**config, "model_type": "test-bad"}))
    IMPORTERS.register("test-bad", _BadImporter(), "test")
    try:
        with pytest.raises(ConversionError, match="invalid run config: model.d_model=30 must be divisible"):
            import_hf(src, tmp_path / "run")
    finally:
        IMPORTERS.unregister("test-bad")
    assert not (tmp_path / "run").exists() and _siblings(tmp_path / "run") == ["ckpt"]


def test_a_sharded_checkpoint_is_read_from_its_index(tmp_path, checkpoints):
    import torch

    ref = hf_model(checkpoints["bert-mlm"])
    ref.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    shutil.copy(checkpoints["bert-mlm"] / "tokenizer.json", tmp_path / "sharded")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    assert len(list((tmp_path / "sharded").glob("model-*.safetensors"))) > 1
    ckpt = read_checkpoint(tmp_path / "sharded")
    assert ckpt.weights.keys() == read_checkpoint(checkpoints["bert-mlm"]).weights.keys()
    run = load_run(import_hf(tmp_path / "sharded", tmp_path / "run"))
    ids = torch.tensor([run.task.tokenizer.encode(SENTENCES[0]).ids])
    with torch.no_grad():
        torch.testing.assert_close(run.model(ids).logits, ref(ids).logits, rtol=0, atol=1e-5)


def test_evaluate_says_the_run_has_no_evaluation_data(imported, capsys):
    line = _one_line_error(capsys, 1, ["evaluate", "--model", str(imported["bert"])])
    assert "has no evaluation data" in line and "attnkit predict" in line


def test_list_shows_the_new_tasks_and_families(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("pretrained-encoder", "pretrained-lm", "  bert ", "  gpt2 ", "  roberta "))
    assert main(["list", "importers"]) == 0
    assert "GPT2LMHeadModel" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kind", "field", "value", "message"),
    [
        ("bert", "position_embedding_type", "relative_key", "absolute positions only"),
        ("bert", "hidden_act", "mish", "activation 'mish' is not supported"),
        ("gpt2", "scale_attn_by_inverse_layer_idx", True, "scale_attn_by_inverse_layer_idx=True is not supported"),
    ],
)
def test_config_options_attnkit_cannot_represent_are_refused(
    kind, field, value, message, tmp_path, checkpoints, capsys
):
    src = tmp_path / "ckpt"
    shutil.copytree(checkpoints[kind], src)
    config = json.loads((src / "config.json").read_text())
    (src / "config.json").write_text(json.dumps({**config, field: value}))
    assert message in _one_line_error(capsys, 2, ["import-hf", str(src), "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def test_an_untied_output_layer_is_refused(tmp_path, checkpoints, capsys):
    from safetensors.torch import load_file, save_file

    src = tmp_path / "ckpt"
    shutil.copytree(checkpoints["gpt2"], src)
    weights = load_file(str(src / "model.safetensors"))
    weights["lm_head.weight"] = weights["transformer.wte.weight"] + 1
    save_file(weights, str(src / "model.safetensors"))
    line = _one_line_error(capsys, 2, ["import-hf", str(src), "--out", str(tmp_path / "run")])
    assert "lm_head.weight differs from the token embeddings" in line
