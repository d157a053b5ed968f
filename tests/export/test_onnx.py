"""ONNX export: onnxruntime gives PyTorch's outputs, attention included, at sizes other than the traced one.

The reference is the PyTorch model itself through its public API (``model(images,
need_weights=True)``, ``encode`` and ``attention_maps``, ``model(words, chars, mask)``), a path
that shares no code with the graph wrappers or the exporter; the ONNX side is onnxruntime
running the written ``model.onnx``. The graphs are traced at batch 2 (length 7); every
comparison is at other sizes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from attnkit.cli import main
from attnkit.errors import ConfigError
from attnkit.export.onnx import METADATA_FILE, MODEL_FILE, onnx_graph, write_onnx
from attnkit.models import FAMILIES, ImageSpec, Seq2SeqSpec
from attnkit.models.specs import DocumentSpec, TaggingSpec
from attnkit.training import load_run

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed: pip install 'attnkit[onnx]'")
pytest.importorskip("onnxscript", reason="onnxscript is not installed: pip install 'attnkit[onnx]'")

REPO = Path(__file__).resolve().parents[2]
TOL = 1e-5
IMAGE = ImageSpec(1, 16, 16, 5)


def _session(folder: Path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"])


def _assert_same(session, inputs: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    """onnxruntime's outputs on `inputs` equal `expected` (PyTorch's), output by output, within TOL."""
    names = [o.name for o in session.get_outputs()]
    assert names == list(expected)
    got = session.run(names, {k: v.numpy() for k, v in inputs.items()})
    for name, ours, theirs in zip(names, expected.values(), got):
        assert theirs.shape == tuple(ours.shape), name
        np.testing.assert_allclose(theirs, ours.detach().numpy(), rtol=0, atol=TOL, err_msg=name)


def _image_expected(model, images: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        out = model(images, need_weights=True)
    expected = {"logits": out.logits}
    expected.update({f"channel_weights_{i}": w for i, w in enumerate(out.channel_weights)})
    expected.update({f"spatial_weights_{i}": w for i, w in enumerate(out.spatial_weights)})
    for name in ("pixel_weights", "theta", "rectified"):
        if getattr(out, name) is not None:
            expected[name] = getattr(out, name)
    expected.update({f"attention_{i}": w for i, w in enumerate(out.layer_weights)})
    return expected


IMAGE_MODELS = [
    pytest.param("cnn", {"attention": "cbam", "stn": True, "channels": (4, 8)}, id="cnn-cbam-stn"),
    pytest.param("vit", {"patch_size": 4, "d_model": 16, "n_heads": 2, "layers": 2, "d_ff": 32}, id="vit"),
    *(
        pytest.param("cnn", {"attention": a, "channels": (4, 8)}, id=f"cnn-{a}", marks=pytest.mark.slow)
        for a in ("none", "se", "eca", "nonlocal")
    ),
    pytest.param(
        "cnn",
        {"attention": "nonlocal", "nonlocal_heads": 2, "channels": (4, 8)},
        id="cnn-nonlocal-2heads",
        marks=pytest.mark.slow,
    ),
]


@pytest.mark.parametrize("arch, options", IMAGE_MODELS)
def test_image_classifiers_give_pytorchs_logits_and_attention_at_other_batch_sizes(tmp_path, arch, options):
    family = FAMILIES.get(arch)
    model = family.build(family.config_class(**options), IMAGE).eval()
    folder = write_onnx(onnx_graph(model), tmp_path / "onnx")
    session = _session(folder)
    assert [i.name for i in session.get_inputs()] == ["images"]
    g = torch.Generator().manual_seed(1)
    for batch in (1, 3, 6):
        images = torch.randn(batch, 1, 16, 16, generator=g)
        expected = _image_expected(model, images)
        assert len(expected) > 1 or options.get("attention") == "none"  # the attention is there, not only the logits
        _assert_same(session, {"images": images}, expected)


def _encoder_expected(model, src: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        annotations = model.encode(src, lengths).annotations
        maps = model.attention_maps(src, lengths, torch.ones_like(src[:, :1])).encoder_self  # any target
    return {"annotations": annotations, **{f"attention_{i}": w for i, w in enumerate(maps)}}


def _sources(g: torch.Generator, vocab: int, batch: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.randint(1, length + 1, (batch,), generator=g)
    lengths[-1] = length
    src = torch.randint(4, vocab, (batch, length), generator=g)
    src[torch.arange(length)[None, :] >= lengths[:, None]] = 0  # <pad> after each source
    return src, lengths


SIZES = ((1, 12), (3, 4), (5, 20))  # (batch, length); traced at (2, 7)


@pytest.mark.slow
@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "alibi", "none"])
def test_transformer_encoders_follow_the_input_length(tmp_path, positional):
    """RoPE is covered by the CLI test below; these are the other position kinds."""
    family = FAMILIES.get("transformer")
    cfg = family.config_class(d_model=16, n_heads=2, enc_layers=2, d_ff=32, positional=positional)
    model = family.build(cfg, Seq2SeqSpec(src_vocab_size=30, tgt_vocab_size=30, max_len=40)).eval()
    session = _session(write_onnx(onnx_graph(model), tmp_path / "onnx"))
    g = torch.Generator().manual_seed(2)
    for batch, length in SIZES:
        src, lengths = _sources(g, 30, batch, length)
        _assert_same(session, {"src": src, "src_lengths": lengths}, _encoder_expected(model, src, lengths))


@pytest.mark.slow
@pytest.mark.parametrize("char_dim", [0, 8])
def test_transformer_taggers_give_every_targets_logits_and_the_attention(tmp_path, char_dim):
    family = FAMILIES.get("tagger-transformer")
    cfg = family.config_class(
        word_dim=8, char_dim=char_dim, char_encoder="cnn", char_emb=6, d_model=16, n_heads=2, layers=2, d_ff=32,
        positional="rope", dropout=0.0, word_dropout=0.0,
    )  # fmt: skip
    spec = TaggingSpec(vocab_size=40, char_vocab_size=20, targets=(("pos", 5), ("morph", 7)), max_len=30)
    model = family.build(cfg, spec).eval()
    session = _session(write_onnx(onnx_graph(model), tmp_path / "onnx"))
    g = torch.Generator().manual_seed(3)
    for batch, length, letters in ((1, 12, 4), (3, 5, 9), (4, 20, 6)):
        mask = torch.arange(length)[None, :] < torch.randint(1, length + 1, (batch,), generator=g)[:, None]
        mask[0] = True
        words = torch.randint(3, 40, (batch, length), generator=g) * mask
        chars = torch.randint(1, 20, (batch, length, letters), generator=g) * mask[..., None]
        inputs = {"words": words, **({"chars": chars} if char_dim else {}), "mask": mask}
        with torch.no_grad():
            out = model(words, chars if char_dim else None, mask)
        expected = {f"logits_{k}": v for k, v in out.logits.items()}
        expected.update({f"attention_{i}": w for i, w in enumerate(out.attention)})
        _assert_same(session, inputs, expected)


@pytest.fixture(scope="module")
def dates_run(tmp_path_factory) -> Path:
    """configs/dates-transformer.yaml (RoPE, pre-LN), narrowed, after two training steps, through the CLI."""
    run = tmp_path_factory.mktemp("onnx") / "dates"
    sets = [
        "data.n_train=64", "data.n_dev=8", "data.n_test=8", "train.max_steps=2", "train.eval_every=2",
        "train.batch_size=16", "train.threads=1", "model.d_model=16", "model.d_ff=32", "model.n_heads=2",
    ]  # fmt: skip
    argv = ["-q", "train", str(REPO / "configs" / "dates-transformer.yaml"), "--out", str(run), "--no-progress"]
    assert main([*argv, *(a for s in sets for a in ("--set", s))]) == 0
    return run


def test_the_cli_exports_a_rope_transformer_encoder_with_dynamic_batch_and_length(dates_run, capsys):
    capsys.readouterr()
    assert main(["-q", "export", str(dates_run), "--format", "onnx"]) == 0
    folder = dates_run / "export" / "onnx"
    assert capsys.readouterr().out.strip() == str(folder)
    assert sorted(p.name for p in folder.iterdir()) == [METADATA_FILE, MODEL_FILE, "src_vocab.json"]
    assert (folder / "src_vocab.json").read_bytes() == (dates_run / "src_vocab.json").read_bytes()
    meta = json.loads((folder / METADATA_FILE).read_text())
    assert (meta["format"], meta["task"], meta["family"], meta["opset"]) == ("onnx", "dates", "transformer", 20)
    assert [i["name"] for i in meta["inputs"]] == ["src", "src_lengths"]
    assert meta["inputs"][0]["shape"] == ["batch", "length"]
    assert [o["name"] for o in meta["outputs"]] == ["annotations", "attention_0", "attention_1"]
    assert meta["outputs"][1]["shape"] == ["batch", 2, "length", "length"]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no staging left behind
    run = load_run(dates_run)
    session = _session(folder)
    g = torch.Generator().manual_seed(4)
    vocab = run.model.src_embedding.num_embeddings
    for batch, length in SIZES:
        src, lengths = _sources(g, vocab, batch, length)
        _assert_same(session, {"src": src, "src_lengths": lengths}, _encoder_expected(run.model, src, lengths))


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_models_that_do_not_export_are_refused_in_one_line():
    rnn = FAMILIES.get("rnn")
    model = rnn.build(rnn.config_class(), Seq2SeqSpec(src_vocab_size=10, tgt_vocab_size=10, max_len=20))
    with pytest.raises(ConfigError) as err:
        onnx_graph(model, arch="model.arch=rnn")
    assert "model.arch=rnn models do not export to ONNX" in _one_line(err)
    doc = FAMILIES.get("encoder-classifier")
    model = doc.build(doc.config_class(d_model=16, n_heads=2, d_ff=32), DocumentSpec(vocab_size=20, n_classes=3))
    with pytest.raises(ConfigError) as err:
        onnx_graph(model)
    assert "do not export to ONNX: flattening a document" in _one_line(err)
    tagger = FAMILIES.get("tagger-transformer")
    cfg = tagger.config_class(char_encoder="bilstm", d_model=16, n_heads=2)
    model = tagger.build(cfg, TaggingSpec(vocab_size=20, char_vocab_size=10, targets=(("pos", 3),), max_len=10))
    with pytest.raises(ConfigError) as err:
        onnx_graph(model)
    assert "character BiLSTM does not export" in _one_line(err)
    transformer = FAMILIES.get("transformer")
    cfg = transformer.config_class(d_model=16, n_heads=2, attention_kernel="performer", attention_num_features=8)
    model = transformer.build(cfg, Seq2SeqSpec(src_vocab_size=10, tgt_vocab_size=10, max_len=20))
    with pytest.raises(ConfigError) as err:
        onnx_graph(model)
    assert "the performer attention kernel does not export to ONNX" in _one_line(err)


def test_nothing_is_written_when_the_export_fails_and_a_foreign_folder_is_kept(tmp_path, monkeypatch):
    import attnkit.export.onnx as onnx_export

    family = FAMILIES.get("cnn")
    graph = onnx_graph(family.build(family.config_class(channels=(4,)), IMAGE).eval())
    foreign = tmp_path / "mine"
    foreign.mkdir()
    with pytest.raises(ConfigError, match="is not an attnkit export"):
        write_onnx(graph, foreign)

    def half_written(graph, path, opset):
        path.write_bytes(b"partial")
        raise ConfigError("torch.onnx could not export this model: stopped half way")

    monkeypatch.setattr(onnx_export, "_export", half_written)
    with pytest.raises(ConfigError, match="half way"):
        write_onnx(graph, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # neither the folder nor its staging


def test_ctranslate2_flags_are_refused_for_onnx(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--format", "onnx", "--align-layer", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "attnkit export: error: --align-layer applies to --format ctranslate2 only; leave it out for onnx"


@pytest.mark.slow
def test_an_image_run_exports_with_its_class_names_and_pixel_pipeline(tmp_path):
    from attnkit.data.fashion_mnist import FASHION_MNIST_DIR
    from attnkit.export.onnx import export_onnx

    if not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("needs Fashion-MNIST: sudo apt-get install dataset-fashion-mnist")
    sets = [
        "data.dev_size=20", "data.train_size=40", "data.test_size=20", "train.max_steps=1", "train.eval_every=1",
        "train.batch_size=8", "train.threads=1", "model.channels=[4,8]",
    ]  # fmt: skip
    argv = [
        "-q",
        "train",
        str(REPO / "configs" / "fashion-cnn-cbam.yaml"),
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
    ]
    assert main([*argv, *(a for s in sets for a in ("--set", s))]) == 0
    run = load_run(tmp_path / "run")
    folder = export_onnx(run)
    assert folder == tmp_path / "run" / "export" / "onnx"
    meta = json.loads((folder / METADATA_FILE).read_text())
    assert meta["classes"] == list(run.capabilities.task.classes) and len(meta["classes"]) == 10
    assert meta["pixel_pipeline"]["image_mean"] == [run.task.mean] and meta["pixel_pipeline"]["size"] == [28, 28]
    assert [o["name"] for o in meta["outputs"]] == [
        "logits", "channel_weights_0", "channel_weights_1", "spatial_weights_0", "spatial_weights_1",
    ]  # fmt: skip
    images = torch.randn(4, 1, 28, 28)
    _assert_same(_session(folder), {"images": images}, _image_expected(run.model, images))


def test_an_rnn_run_is_refused_by_the_cli_in_one_line(tmp_path, capsys):
    sets = [
        "data.n_train=32", "data.n_dev=4", "data.n_test=4", "train.max_steps=1", "train.eval_every=1",
        "train.threads=1", "model.emb_dim=8", "model.hidden_dim=8", "model.attn_dim=8",
    ]  # fmt: skip
    argv = [
        "-q",
        "train",
        str(REPO / "configs" / "dates-bahdanau.yaml"),
        "--out",
        str(tmp_path / "rnn"),
        "--no-progress",
    ]
    assert main([*argv, *(a for s in sets for a in ("--set", s))]) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path / "rnn"), "--format", "onnx"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.arch=rnn models do not export to ONNX" in err
    assert not (tmp_path / "rnn" / "export").exists()


def test_a_missing_package_names_the_extra(monkeypatch):
    from attnkit.export.onnx import require_onnx

    monkeypatch.setitem(sys.modules, "onnxscript", None)  # import onnxscript raises ImportError
    with pytest.raises(ConfigError, match=r"needs the onnxscript package: pip install 'attnkit\[onnx\]'"):
        require_onnx()
