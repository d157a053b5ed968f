"""Hugging Face ViT into attnkit's VisionTransformer and back, against ``transformers`` (eager):
tiny random ``ViTForImageClassification`` / ``ViTModel`` built from configs and saved with
``save_pretrained``, imported with ``attnkit import-hf`` (same logits / last hidden state / pooled
state and every layer's attention within 1e-5); the pixel pipeline against ``ViTImageProcessor``
(its Pillow backend, no torchvision needed); ``attnkit predict --json`` against attention rollout
written out here from transformers' attentions; ``export-hf`` round trips for an imported ViT and
for an attnkit ViT trained a few steps on Fashion-MNIST; and the one-line errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attnkit.cli import main
from attnkit.data.fashion_mnist import FASHION_MNIST_DIR
from attnkit.data.hf_image import ImageProcessing
from attnkit.data.images import read_image
from attnkit.errors import ConfigError, InputError
from attnkit.models.vit import VisionTransformer
from attnkit.pretrained import ConversionError
from attnkit.pretrained.convert import export_hf, import_hf
from attnkit.training import load_run

transformers = pytest.importorskip("transformers", reason="transformers is the reference (pip install transformers)")

REPO = Path(__file__).resolve().parents[2]
TOL = dict(atol=1e-5, rtol=0)
SIZES = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
CLASSES = {0: "cat", 1: "dog", 2: "fox"}


def _processor(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return transformers.ViTImageProcessorPil(**kwargs)


def _save(model, path: Path, processor=None) -> Path:
    model.save_pretrained(path)
    if processor is not None:
        processor.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """A classifier on non-square 24 x 16 RGB images with its image processor (mean / std other
    than 0.5, bicubic); a ViTModel with a pooler, tanh-GELU, no q/k/v bias and no processor file."""
    root = tmp_path_factory.mktemp("vit-hf")
    torch.manual_seed(0)
    cls_cfg = transformers.ViTConfig(**SIZES, image_size=[24, 16], patch_size=4, id2label=CLASSES)
    classifier = transformers.ViTForImageClassification(cls_cfg).eval()
    with torch.no_grad():  # random weights give near-uniform attention; sharpen it so the maps mean something
        queries = [p for name, p in classifier.named_parameters() if name.endswith(("q_proj.weight", "query.weight"))]
        assert len(queries) == 2
        for weight in queries:
            weight.mul_(6)
    processor = _processor(
        size={"height": 24, "width": 16}, resample=3, image_mean=[0.4, 0.45, 0.5], image_std=[0.2, 0.25, 0.3]
    )
    base_cfg = transformers.ViTConfig(**SIZES, image_size=16, patch_size=8, hidden_act="gelu_pytorch_tanh")
    base_cfg.qkv_bias = False
    base = transformers.ViTModel(base_cfg).eval()
    return {"classifier": _save(classifier, root / "classifier", processor), "base": _save(base, root / "base")}


@pytest.fixture(scope="module")
def runs(checkpoints, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vit-runs")
    return {kind: import_hf(path, root / kind) for kind, path in checkpoints.items()}


def _hf(path: Path, cls: str = "ViTForImageClassification"):
    return getattr(transformers, cls).from_pretrained(path, attn_implementation="eager").eval()


def _images(tmp_path: Path, n: int, *, mode: str = "RGB", seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        h, w = (int(v) for v in rng.integers(9, 60, size=2))
        shape = (h, w) if mode == "L" else (h, w, len(mode))
        path = tmp_path / f"image-{mode}-{i}.png"
        Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode).save(path)
        paths.append(path)
    return paths


def _rollout(attentions) -> np.ndarray:
    """[Abnar20] Sec. 3 written out: A_l = 0.5 mean_heads(W_l) + 0.5 I, rows renormalised,
    R = A_L ... A_1; the class token's row over the patches."""
    t = attentions[0].shape[-1]
    r = np.eye(t)
    for w in attentions:
        a = w[0].double().mean(0).numpy()
        a = 0.5 * a + 0.5 * np.eye(t)
        a = a / a.sum(1, keepdims=True)
        r = a @ r
    return r[0, 1:]


# ---- the pixel pipeline -----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_pixels_equal_vit_image_processor(tmp_path, mode):
    processor = _processor(
        size={"height": 24, "width": 16}, resample=3, image_mean=[0.4, 0.45, 0.5], image_std=[0.2, 0.25, 0.3]
    )
    ours = ImageProcessing.from_hf(processor.to_dict(), (24, 16), 3)
    for path in _images(tmp_path, 3, mode=mode):
        with Image.open(path) as img:
            rgb = img.convert("RGBA") if mode == "RGBA" else img
            if mode != "RGB":  # transformers wants RGB in: its convert_to_rgb composites alpha onto white
                rgb = transformers.image_transforms.convert_to_rgb(rgb, return_numpy=True)
            reference = processor(rgb, return_tensors="np")["pixel_values"][0]
        pixels, shown = ours.read(path)
        assert pixels.shape == (3, 24, 16) and pixels.dtype == np.float32
        np.testing.assert_allclose(pixels, reference, atol=1e-6, rtol=0)
        assert shown.shape == (24, 16) and 0 <= shown.min() <= shown.max() <= 1


def test_defaults_are_vit_image_processors_and_unsupported_fields_are_refused():
    ours = ImageProcessing.defaults((224, 224), 3).to_hf()
    theirs = json.loads(json.dumps(_processor().to_dict()))
    assert ours == {key: theirs[key] for key in ours}
    with pytest.raises(ValueError, match="do_center_crop=true is not part of ViTImageProcessor"):
        ImageProcessing.from_hf({"do_center_crop": True}, (16, 16), 3)
    with pytest.raises(ValueError, match="resizes to 32 x 32 but the model takes 16 x 16"):
        ImageProcessing.from_hf({"size": {"height": 32, "width": 32}}, (16, 16), 3)
    with pytest.raises(ValueError, match="shortest_edge"):
        ImageProcessing.from_hf({"size": {"shortest_edge": 16}}, (16, 16), 3)


# ---- import: the same numbers as transformers ----------------------------------------------------------
def test_imported_classifier_gives_transformers_logits_and_every_attention(checkpoints, runs):
    hf, run = _hf(checkpoints["classifier"]), load_run(runs["classifier"])
    assert run.config.data.task == "pretrained-image" and run.config.model.arch == "vit"
    assert run.config.model.eps == 1e-12 and run.task.classes == ["cat", "dog", "fox"]
    x = torch.randn(3, 3, 24, 16)
    with torch.no_grad():
        ref = hf(pixel_values=x, output_attentions=True)
        ours = run.model(x, need_weights=True)
    torch.testing.assert_close(ours.logits, ref.logits, **TOL)
    assert len(ours.layer_weights) == len(ref.attentions) == 2
    for mine, theirs in zip(ours.layer_weights, ref.attentions):
        torch.testing.assert_close(mine, theirs, **TOL)


def test_imported_vit_model_gives_last_hidden_state_pooler_and_attention(checkpoints, runs):
    hf, run = _hf(checkpoints["base"], "ViTModel"), load_run(runs["base"])
    cfg = run.config.model
    assert (cfg.activation, cfg.pooler, run.task.spec.n_classes, run.task.classes) == ("gelu_tanh", 32, 0, [])
    assert run.model.head is None
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        ref = hf(pixel_values=x, output_attentions=True)
        states, weights = run.model.encode(x, need_weights=True)
        pooled = run.model(x).logits  # a model without a head returns the (pooled) class token state
    torch.testing.assert_close(states, ref.last_hidden_state, **TOL)
    torch.testing.assert_close(pooled, ref.pooler_output, **TOL)
    for mine, theirs in zip(weights, ref.attentions):
        torch.testing.assert_close(mine, theirs, **TOL)


def test_predict_json_agrees_with_transformers(checkpoints, runs, tmp_path, capsys):
    hf, processor = (
        _hf(checkpoints["classifier"]),
        transformers.ViTImageProcessorPil.from_pretrained(checkpoints["classifier"]),
    )
    paths = _images(tmp_path, 2, seed=3)
    plot = tmp_path / "att.png"
    args = ["predict", "--model", str(runs["classifier"]), *map(str, paths), "--json", "--attention-plot", str(plot)]
    assert main(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (tmp_path / "att-1.png").stat().st_size > 0 and (tmp_path / "att-2.png").stat().st_size > 0
    for path, record in zip(paths, lines):
        with Image.open(path) as img, torch.no_grad():
            pixels = torch.from_numpy(processor(img.convert("RGB"), return_tensors="np")["pixel_values"])
            ref = hf(pixel_values=pixels, output_attentions=True)
        assert record["kind"] == "image-overlay"
        assert record["output"] == CLASSES[int(ref.logits.argmax())]
        maps = {m["name"]: m["heat"] for m in record["maps"]}
        heat = maps["ViT attention rollout (class token)"]
        assert heat["shape"] == [6, 4]  # the patch grid of 24 x 16 pixels in 4 x 4 patches
        np.testing.assert_allclose(heat["data"], _rollout(ref.attentions), atol=1e-5, rtol=0)
        last = maps["ViT last layer, class token"]["data"]
        np.testing.assert_allclose(last, ref.attentions[-1][0, :, 0, 1:].double().mean(0).numpy(), atol=1e-5, rtol=0)


def test_predictions_carry_probabilities_and_a_headless_model_says_it_has_no_class(runs, tmp_path):
    run = load_run(runs["classifier"])
    [pred] = run.task.predict(run.model, [str(_images(tmp_path, 1)[0])])
    assert pred.output in ("cat", "dog", "fox") and sum(pred.probabilities) == pytest.approx(1.0, abs=1e-6)
    assert pred.probability == max(pred.probabilities) and pred.image.shape == (24, 16)
    base = load_run(runs["base"])
    [pred] = base.task.predict(base.model, [str(_images(tmp_path, 1)[0])])
    assert "no classification head" in pred.output and pred.probabilities == []
    assert pred.maps["ViT attention rollout (class token)"].shape == (2, 2)


# ---- export ------------------------------------------------------------------------------------------
def test_an_imported_vit_exports_to_the_same_transformers_model(checkpoints, runs, tmp_path, capsys):
    out = tmp_path / "back"
    assert main(["export-hf", str(runs["classifier"]), "--out", str(out)]) == 0
    capsys.readouterr()
    original, back = _hf(checkpoints["classifier"]), _hf(out)
    assert back.config.id2label == CLASSES and back.config.image_size == [24, 16]
    x = torch.randn(2, 3, 24, 16)
    with torch.no_grad():
        ref, got = original(pixel_values=x, output_attentions=True), back(pixel_values=x, output_attentions=True)
    torch.testing.assert_close(got.logits, ref.logits, **TOL)
    for mine, theirs in zip(got.attentions, ref.attentions):
        torch.testing.assert_close(mine, theirs, **TOL)
    exported = json.loads((out / "preprocessor_config.json").read_text())
    given = json.loads((checkpoints["classifier"] / "preprocessor_config.json").read_text())
    for key in ("size", "resample", "rescale_factor", "image_mean", "image_std", "do_resize", "do_normalize"):
        assert exported[key] == given[key]


def test_an_imported_vit_model_exports_as_a_vit_model(checkpoints, runs, tmp_path):
    export_hf(runs["base"], tmp_path / "back")
    original, back = _hf(checkpoints["base"], "ViTModel"), _hf(tmp_path / "back", "ViTModel")
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        ref, got = original(pixel_values=x), back(pixel_values=x)
    torch.testing.assert_close(got.last_hidden_state, ref.last_hidden_state, **TOL)
    torch.testing.assert_close(got.pooler_output, ref.pooler_output, **TOL)


@pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="needs Fashion-MNIST: sudo apt-get install dataset-fashion-mnist",
)
def test_an_attnkit_vit_trained_on_fashion_mnist_exports_with_its_normalisation(tmp_path, capsys):
    run_dir, out = tmp_path / "run", tmp_path / "hf"
    tiny = ["data.dev_size=50", "data.train_size=100", "data.test_size=20", "model.d_model=16", "model.layers=2"]
    tiny += ["model.d_ff=24", "train.max_steps=3", "train.eval_every=3", "train.batch_size=32", "train.threads=1"]
    sets = [arg for s in tiny for arg in ("--set", s)]
    assert (
        main(["train", str(REPO / "configs" / "fashion-vit.yaml"), "--out", str(run_dir), "--no-progress", *sets]) == 0
    )
    assert main(["export-hf", str(run_dir), "--out", str(out)]) == 0
    capsys.readouterr()
    run, hf = load_run(run_dir), _hf(out)
    assert hf.config.num_channels == 1 and hf.config.id2label[9] == "Ankle boot"
    x = run.task.collate(run.task.load_split(run_dir, "test")[:8]).images  # (8, 1, 28, 28), normalised
    with torch.no_grad():
        ref, ours = hf(pixel_values=x, output_attentions=True), run.model(x, need_weights=True)
    torch.testing.assert_close(ours.logits, ref.logits, **TOL)
    for mine, theirs in zip(ours.layer_weights, ref.attentions):
        torch.testing.assert_close(mine, theirs, **TOL)
    # the exported processor makes the task's own input of a grey picture (the task not inverting it)
    processor = transformers.ViTImageProcessorPil.from_pretrained(out)
    picture = tmp_path / "item.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 33), dtype=np.uint8), "L").save(picture)
    with Image.open(picture) as img:
        theirs = processor(img, return_tensors="np")["pixel_values"][0]
    ours_pixels = run.task._normalise(torch.from_numpy(read_image(picture, (28, 28), invert="no"))[None])[0]
    np.testing.assert_allclose(ours_pixels.numpy(), theirs, atol=1e-6, rtol=0)


# ---- what stays as it was, and the one-line errors --------------------------------------------------
def test_attnkit_vit_keeps_its_checkpoint_keys():
    keys = set(VisionTransformer(1, 10, (28, 28), layers=1).state_dict())
    layer = {
        f"layers.0.{name}.{p}"
        for name in ("self_attn.in_proj", "self_attn.out_proj", "ff.0", "ff.3", "sub1.norm", "sub2.norm")
        for p in ("weight", "bias")
    }
    base = {"patch_embedding.weight", "patch_embedding.bias", "class_token", "positions"}
    assert keys == base | layer | {"norm.weight", "norm.bias", "head.weight", "head.bias"}


def test_a_pooled_classifier_has_no_transformers_counterpart(runs, tmp_path):
    run = load_run(runs["classifier"])
    cfg = run.config.model.__class__(**{**vars(run.config.model), "pooler": 8})
    fake = type(run)(
        run.path, type(run.config)(run.config.data, cfg, run.config.train), run.task, run.model, run.capabilities
    )
    from attnkit.pretrained.vit import ViTExporter

    with pytest.raises(ConversionError, match="model.pooler: HF ViTForImageClassification classifies"):
        ViTExporter().export(fake, tmp_path)


def test_images_over_the_pixel_limit_and_decompression_bombs_are_one_line_errors(runs, tmp_path, monkeypatch):
    run = load_run(runs["classifier"])
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 200)).save(path)
    small = type(run.task)(
        run.task.config.__class__(**{**vars(run.task.config), "max_pixels": 50_000}), run.task.processing
    )
    with pytest.raises(InputError, match=r"300 x 200 = 60,000 pixels, over the limit of 50,000 \(data.max_pixels\)"):
        small.predict(run.model, [str(path)])
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses > 2 x this before decoding
    with pytest.raises(InputError, match="refused by Pillow as a decompression bomb") as err:
        run.task.predict(run.model, [str(path)])
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="no such file"):
        run.task.predict(run.model, [str(tmp_path / "none.png")])
    with pytest.raises(InputError, match="unknown option invert"):
        run.task.predict(run.model, [str(path)], options={"invert": "no"})


def test_checkpoints_attnkit_cannot_represent_are_refused(checkpoints, tmp_path):
    torch.manual_seed(0)
    mim = transformers.ViTForMaskedImageModeling(transformers.ViTConfig(**SIZES, image_size=16, patch_size=8))
    with pytest.raises(ConversionError, match="weights attnkit's ViT does not use"):
        import_hf(_save(mim, tmp_path / "mim"), tmp_path / "run")
    quick = transformers.ViTModel(transformers.ViTConfig(**SIZES, image_size=16, patch_size=8, hidden_act="quick_gelu"))
    with pytest.raises(ConversionError, match="hidden_act='quick_gelu' has no attnkit counterpart"):
        import_hf(_save(quick, tmp_path / "quick"), tmp_path / "run")
    crop = _save(transformers.ViTModel(transformers.ViTConfig(**SIZES, image_size=16, patch_size=8)), tmp_path / "crop")
    (crop / "preprocessor_config.json").write_text(json.dumps({"do_center_crop": True}))
    with pytest.raises(ConversionError, match="do_center_crop=true"):
        import_hf(crop, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_the_task_is_imported_not_trained(tmp_path):
    from attnkit.tasks import TASKS

    task = TASKS.get("pretrained-image")
    with pytest.raises(ConfigError, match="attnkit import-hf"):
        task.build(task.config_class(), tmp_path)


def test_the_explorer_classifies_an_uploaded_image_with_an_imported_vit(runs, tmp_path):
    import base64

    from attnkit.explore import RunRegistry, create_app

    registry = RunRegistry.load([runs["classifier"]])
    client = create_app(registry).test_client()
    [meta] = client.get("/api/runs").json["runs"]
    assert meta["input"] == "image"
    image = base64.b64encode(_images(tmp_path, 1)[0].read_bytes()).decode()
    body = client.post(f"/api/runs/{meta['key']}/predict", json={"image": image}).json
    assert body["kind"] == "image-overlay" and body["output"] in CLASSES.values()
    assert [m["name"] for m in body["view"]["maps"]] == [
        "ViT attention rollout (class token)",
        "ViT last layer, class token",
    ]
    assert body["view"]["maps"][0]["heat"]["shape"] == [6, 4] and body["view"]["image"]["shape"] == [24, 16]
    assert sum(body["fields"]["probabilities"]) == pytest.approx(1.0, abs=1e-4)


def test_import_hf_and_predict_through_the_command_line(checkpoints, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["import-hf", str(checkpoints["classifier"]), "--out", str(run)]) == 0
    assert (run / "preprocessor_config.json").is_file() and (run / "config.yaml").is_file()
    capsys.readouterr()
    picture = _images(tmp_path, 1)[0]
    args = ["predict", "--model", str(run), str(picture), "--top-k", "0", "--attention-plot", str(tmp_path / "a.png")]
    assert main(args) == 0
    assert capsys.readouterr().out.strip() in CLASSES.values() and (tmp_path / "a.png").stat().st_size > 0
    assert main(["predict", "--model", str(run), str(tmp_path / "missing.png")]) != 0
    err = capsys.readouterr().err.strip()
    assert "missing.png: no such file" in err and len(err.splitlines()) == 1
    assert main(["evaluate", "--model", str(run)]) != 0
    assert "no test split" in capsys.readouterr().err


def test_pooler_weights_beside_a_classifier_are_ignored_as_transformers_does(checkpoints, tmp_path):
    from safetensors.torch import load_file, save_file

    ckpt = tmp_path / "with-pooler"
    ckpt.mkdir()
    for name in ("config.json", "preprocessor_config.json"):
        (ckpt / name).write_bytes((checkpoints["classifier"] / name).read_bytes())
    weights = load_file(str(checkpoints["classifier"] / "model.safetensors"))
    weights |= {"vit.pooler.dense.weight": torch.randn(32, 32), "vit.pooler.dense.bias": torch.randn(32)}
    save_file(weights, str(ckpt / "model.safetensors"), {"format": "pt"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hf = _hf(ckpt)  # transformers drops the unexpected pooler
    run = load_run(import_hf(ckpt, tmp_path / "run"))
    assert run.config.model.pooler == 0
    x = torch.randn(2, 3, 24, 16)
    with torch.no_grad():
        torch.testing.assert_close(run.model(x).logits, hf(pixel_values=x).logits, **TOL)


def test_explain_option_adds_the_class_tokens_explanation_over_the_patches(checkpoints, runs, tmp_path):
    hf, processor = (
        _hf(checkpoints["classifier"]),
        transformers.ViTImageProcessorPil.from_pretrained(checkpoints["classifier"]),
    )
    run = load_run(runs["classifier"])
    (path,) = _images(tmp_path, 1, seed=5)
    [pred] = run.task.predict(run.model, [str(path)], options={"explain": "rollout"})
    with Image.open(path) as img, torch.no_grad():
        pixels = torch.from_numpy(processor(img.convert("RGB"), return_tensors="np")["pixel_values"])
        ref = hf(pixel_values=pixels, output_attentions=True)
    # rollout's class-token row from transformers' own attentions (the test's formula)
    np.testing.assert_allclose(pred.maps["rollout (class token)"].ravel(), _rollout(ref.attentions), atol=1e-5)
    for name in ("norm", "alti", "grad", "flow"):
        [pred] = run.task.predict(run.model, [str(path)], options={"explain": name})
        heat = pred.maps[f"{name} (class token)"]
        assert heat.shape == (6, 4) and np.isfinite(heat).all()
    base = load_run(runs["base"])
    with pytest.raises(InputError, match="no classification head"):
        base.task.predict(base.model, [str(path)], options={"explain": "grad"})
    with pytest.raises(InputError, match="choose one of"):
        run.task.predict(run.model, [str(path)], options={"explain": "magic"})
