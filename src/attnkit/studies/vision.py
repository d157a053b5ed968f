"""The vision study: attention by where it acts, on real Fashion-MNIST and on distorted canvases.

For each data set (``fashion``: the 28 x 28 images; ``canvas``: the 60 x 60 distorted canvases)
and each variant of :data:`VARIANTS` (plain CNN, +SE, +ECA, +CBAM, +non-local, STN+CNN, ViT),
:func:`run_vision_study` trains one normal run per seed (``OUT/{data}-{variant}-s{seed}``,
the same as ``attnkit train configs/{data}-{variant}.yaml`` with ``train.max_minutes`` set and
``train.seed`` changed), each with the same wall-clock budget of training (periodic validation
included), then scores it on the whole test split and times inference. Results per run go to
``result.json`` in its folder, so a stopped study resumes where it was; ``OUT/metrics.json``
collects them with mean and standard deviation per variant.

The per-seed data split is the same (``data.seed`` fixed): the seeds vary initialisation and
batch order, as in most published comparisons.

It also collects the arrays of one picture of each kind of attention from the first seed's runs
(:func:`attention_examples`); the caller draws them (pictures are a higher layer).
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..config import RunConfig, load_config
from ..io import atomic_write_text
from ..progress import progress as progress_of
from ..training.pipeline import train_run
from ..training.run import load_run
from .budget import Budget
from .han_report import machine_description

__all__ = [
    "VARIANTS",
    "DATASETS",
    "vision_config",
    "run_vision_study",
    "attention_examples",
    "VisionExamples",
    "stn_diagnostics",
    "report_lines",
]

log = logging.getLogger(__name__)

# the same settings as configs/{fashion,canvas}-{variant}.yaml (a test keeps them in agreement)
VARIANTS: dict[str, tuple[str, ...]] = {
    "cnn": ("model.arch=cnn", "model.attention=none"),
    "cnn-se": ("model.arch=cnn", "model.attention=se"),
    "cnn-eca": ("model.arch=cnn", "model.attention=eca"),
    "cnn-cbam": ("model.arch=cnn", "model.attention=cbam"),
    "cnn-nonlocal": ("model.arch=cnn", "model.attention=nonlocal"),
    "stn-cnn": ("model.arch=cnn", "model.attention=none", "model.stn=true"),
    "vit": ("model.arch=vit", "model.d_model=64", "model.n_heads=4", "model.layers=4", "model.d_ff=128"),
}
DATASETS: dict[str, tuple[str, ...]] = {
    "fashion": ("data.task=fashion-mnist", "data.seed=1234", "data.dev_size=5000"),
    "canvas": (
        "data.task=fashion-canvas",
        "data.seed=1234",
        "data.dev_size=5000",
        "data.size=60",
        "data.max_angle=45.0",
        "data.scale_min=0.7",
        "data.scale_max=1.2",
        "data.n_clutter=4",
        "data.clutter_size=8",
    ),
}
_TRAIN = {
    "cnn": (
        "train.batch_size=128",
        "train.lr=0.003",
        "train.lr_min=0.0001",
        "train.eval_every=200",
        "train.max_steps=4000",
        "train.patience=5",
    ),
    "vit": (
        "train.batch_size=128",
        "train.lr=0.001",
        "train.lr_min=0.00005",
        "train.warmup_steps=200",
        "train.eval_every=200",
        "train.max_steps=4000",
        "train.patience=5",
    ),
}


def vision_config(
    data: str, variant: str, seed: int, minutes: float | Budget, overrides: Sequence[str] = ()
) -> RunConfig:
    """The run config of one study run: the data set's and variant's settings, the seed, and a
    wall-clock budget of `minutes` of training (``train.max_minutes``), or a :class:`Budget` in
    steps or minutes."""
    budget = minutes.overrides() if isinstance(minutes, Budget) else [f"train.max_minutes={minutes}"]
    patch = [f"model.patch_size={4 if data == 'fashion' else 6}"] if variant == "vit" else []
    train = _TRAIN["vit" if variant == "vit" else "cnn"]
    return load_config(
        None, [*DATASETS[data], *VARIANTS[variant], *patch, *train, f"train.seed={seed}", *budget, *overrides]
    )


def _inference_rate(run, examples, repeats: int = 2) -> float:
    """Test images per second of the best of `repeats` passes of the task's evaluation."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run.task.evaluate(run.model, examples)
        best = min(best, time.perf_counter() - start)
    return len(examples) / best


def _one_run(
    out: Path,
    data: str,
    variant: str,
    seed: int,
    budget: Budget,
    threads: int,
    progress: bool,
    overrides: Sequence[str],
) -> dict:
    folder = out / f"{data}-{variant}-s{seed}"
    done = folder / "result.json"
    if done.is_file():
        record = json.loads(done.read_text(encoding="utf-8"))
        had = Budget(**record["budget"]) if "budget" in record else Budget(minutes=record["minutes"])
        if had != budget:
            raise ValueError(
                f"{folder} was trained for {had.label()}, not {budget.label()}; use another "
                "study folder or the same budget"
            )
        return record
    cfg = vision_config(data, variant, seed, budget, [*(f"train.threads={threads}",) * bool(threads), *overrides])
    log.info("training %s", folder.name)
    result = train_run(cfg, folder, progress=progress)
    run = load_run(folder)
    test = run.task.load_split(folder, "test")
    metrics, _ = run.task.evaluate(run.model, test)
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    train_rate = statistics.median(r["images_per_s"] for r in records)
    out_record = {
        "data": data,
        "variant": variant,
        "seed": seed,
        "label": run.label,
        "run": str(folder),
        "minutes": budget.minutes,
        "budget": budget.record(),
        "test_accuracy": metrics["accuracy"],
        "test_macro_f1": metrics["macro_f1"],
        "per_class_accuracy": metrics["per_class_accuracy"],
        "confusion": metrics["confusion"],
        "dev_accuracy": result.best_score,
        "steps": result.steps,
        "best_step": result.best_step,
        "seconds": result.seconds,
        "train_images_per_s": train_rate,
        "inference_images_per_s": _inference_rate(run, test),
        "parameters": sum(p.numel() for p in run.model.parameters()),
    }
    atomic_write_text(done, json.dumps(out_record, indent=1))
    return out_record


def _summary(records: list[dict]) -> dict:
    acc = [r["test_accuracy"] for r in records]
    return {
        "n_seeds": len(records),
        "test_accuracy_mean": statistics.mean(acc),
        "test_accuracy_sd": statistics.stdev(acc) if len(acc) > 1 else 0.0,
        "parameters": records[0]["parameters"],
        "label": records[0]["label"],
        "train_images_per_s": statistics.median(r["train_images_per_s"] for r in records),
        "inference_images_per_s": statistics.median(r["inference_images_per_s"] for r in records),
        "steps_mean": statistics.mean(r["steps"] for r in records),
    }


def run_vision_study(
    out: str | Path,
    *,
    datasets: Sequence[str] = tuple(DATASETS),
    variants: Sequence[str] = tuple(VARIANTS),
    seeds: Sequence[int] = (1, 2, 3),
    minutes: float | Mapping[str, float] = 1.0,
    budget: Budget | Mapping[str, Budget] | None = None,
    threads: int = 2,
    progress: bool = False,
    command: str = "",
    overrides: Sequence[str] = (),
) -> dict:
    """Train and score every (data set, variant, seed); returns and writes ``OUT/metrics.json``.

    Args:
        out: study folder (created); finished runs are kept and not redone.
        datasets: names in :data:`DATASETS`.
        variants: names in :data:`VARIANTS`.
        seeds: training seeds.
        minutes: wall-clock training budget of every run (validation included), or one per data set.
        budget: the budget of every run in steps or minutes (:class:`Budget`), or one per data
            set; when given, `minutes` is not used.
        threads: torch CPU threads (0: PyTorch's default).
        progress: show progress bars.
        command: the command line, for the record.
        overrides: extra ``section.key=value`` settings for every run (e.g. smaller data in tests).

    Raises:
        ValueError: for an unknown data set or variant.
        attnkit.errors.ConfigError: if Fashion-MNIST is not installed.
    """
    unknown = [d for d in datasets if d not in DATASETS] + [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(
            f"unknown data set or variant {', '.join(unknown)}; data sets: {', '.join(DATASETS)}; "
            f"variants: {', '.join(VARIANTS)}"
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if budget is None:
        budget = {d: Budget(minutes=minutes[d] if isinstance(minutes, Mapping) else minutes) for d in datasets}
    budgets = {d: budget[d] if isinstance(budget, Mapping) else budget for d in datasets}
    plan = [(d, v, s) for d in datasets for v in variants for s in seeds]
    runs = [  # the study's own progress: runs done (each run's training reports its own)
        _one_run(out, d, v, s, budgets[d], threads, progress, overrides)
        for d, v, s in progress_of(plan, desc="vision study", unit="run", enabled=progress)
    ]
    summary = {
        d: {v: _summary([r for r in runs if r["data"] == d and r["variant"] == v]) for v in variants} for d in datasets
    }
    metrics = {
        "command": command,
        "machine": machine_description(threads),
        "minutes": {d: b.minutes for d, b in budgets.items()},
        "budget": {d: b.record() for d, b in budgets.items()},
        "seeds": list(seeds),
        "summary": summary,
        "runs": runs,
    }
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1))
    return metrics


@dataclass
class VisionExamples:
    """Arrays for one picture of each kind of attention (see :func:`attention_examples`)."""

    overlays: list[tuple[np.ndarray, np.ndarray, str]]  # (image (H, W), heat (h, w), title)
    channel_weights: tuple[np.ndarray, np.ndarray, list[str], str] | None  # ((N, C), labels (N,), classes, title)
    stn: tuple[np.ndarray, np.ndarray, np.ndarray, str] | None  # inputs (N,H,W), outputs (N,H,W), thetas (N,2,3)


def attention_examples(
    out: str | Path, *, seed: int = 1, n_images: int = 6, query: tuple[int, int] = (3, 3)
) -> VisionExamples:
    """From the first seed's runs in `out`: CBAM's spatial gate (second stage), a non-local block's
    weights for one query pixel, and ViT rollout on the same test image; SE channel weights of
    the last stage averaged per class over 2,000 test images; and the spatial transformer's
    input and output for `n_images` test canvases. Missing runs are skipped."""
    out = Path(out)
    overlays, channel, stn = [], None, None

    def run_of(name):
        folder = out / f"{name}-s{seed}"
        return load_run(folder) if (folder / "result.json").is_file() else None

    def test_of(run, n):
        return run.task.load_split(run.path, "test")[:n]

    for data in ("fashion", "canvas"):
        for variant in ("cnn-cbam", "cnn-nonlocal", "vit"):
            run = run_of(f"{data}-{variant}")
            if run is None:
                continue
            example = test_of(run, 1)[0]
            image = example.image.numpy().astype(np.float32) / 255.0
            tmp = out / ".example.png"
            from PIL import Image  # the task reads files, as a user's images are

            Image.fromarray(example.image.numpy()).save(tmp)
            options = {"invert": "no"} | ({"query": f"{query[0]},{query[1]}"} if variant == "cnn-nonlocal" else {})
            pred = run.task.predict(run.model, [str(tmp)], options=options)[0]
            tmp.unlink()
            name = list(pred.maps)[1] if variant == "cnn-cbam" else list(pred.maps)[0]
            heat = pred.maps[name]
            if variant == "cnn-cbam":  # sigmoid gates sit near 1: stretch them to show where they differ
                heat = (heat - heat.min()) / max(float(heat.max() - heat.min()), 1e-12)
                name += f"\n(stretched from [{pred.maps[name].min():.2f}, {pred.maps[name].max():.2f}])"
            overlays.append((image, heat, f"{data}, {variant} → {pred.output}\n{name}"))
    run = run_of("fashion-cnn-se")
    if run is not None:
        test = test_of(run, 2000)
        batch = run.task.collate(test)
        with torch.no_grad():
            weights = run.model(batch.images).channel_weights[-1].numpy()
        channel = (
            weights,
            batch.labels.numpy(),
            run.task.classes,
            f"SE channel weights, last stage, mean per class ({len(test)} test images)",
        )
    run = run_of("canvas-stn-cnn")
    if run is not None:
        test = test_of(run, n_images)
        batch = run.task.collate(test)
        with torch.no_grad():
            o = run.model(batch.images)
        rectified = (o.rectified[:, 0].numpy() * run.task.std + run.task.mean).clip(0, 1)
        stn = (
            np.stack([e.image.numpy() for e in test]).astype(np.float32) / 255.0,
            rectified,
            o.theta.numpy(),
            "spatial transformer: test canvases (top) and what the CNN saw (bottom)",
        )
    return VisionExamples(overlays, channel, stn)


_TITLES = {"fashion": "Fashion-MNIST (28 x 28)", "canvas": "distorted canvases (60 x 60)"}


def _budget_text(metrics: dict, data: str) -> str:
    """ "1 min of wall-clock time" or "5,000 steps": one data set's budget in a study's metrics
    (those written before budgets in steps hold minutes only)."""
    budget = Budget(**metrics["budget"][data]) if "budget" in metrics else Budget(minutes=metrics["minutes"][data])
    return f"{budget.label()} of wall-clock time" if budget.minutes is not None else budget.label()


def report_lines(metrics: dict) -> list[str]:
    """The study's results as Markdown tables, one per data set; with one seed the accuracy
    alone, with several their mean ± standard deviation."""
    several = len(metrics["seeds"]) > 1
    accuracy = "test accuracy (mean ± sd)" if several else "test accuracy"
    lines = []
    m = metrics["machine"]
    lines += [
        f"Machine: {m['cpu']}, {m['threads']} torch thread(s), torch {m['torch']}; seeds "
        f"{', '.join(map(str, metrics['seeds']))}.",
        "",
    ]
    for data, rows in metrics["summary"].items():
        lines += [
            f"### {_TITLES.get(data, data)}",
            "",
            f"Every run trained for {_budget_text(metrics, data)} (validation on the "
            "dev split included), then was scored on the whole test split.",
            "",
            f"| variant | {accuracy} | parameters | steps | training images/s | inference images/s |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for variant, r in rows.items():
            score = f"{100 * r['test_accuracy_mean']:.2f}"  # one seed: its accuracy, no spread to show
            if r["n_seeds"] > 1:
                score += f" ± {100 * r['test_accuracy_sd']:.2f}"
            lines.append(
                f"| {r['label']} | {score} % "
                f"| {r['parameters']:,} | {r['steps_mean']:.0f} | {r['train_images_per_s']:,.0f} "
                f"| {r['inference_images_per_s']:,.0f} |"
            )
        lines.append("")
    return lines


def stn_diagnostics(run_dir, *, n_images: int = 500, batch_size: int = 250) -> dict:
    """Whether a trained spatial transformer localises: what it does on the first `n_images` test
    canvases of the run in `run_dir` (a run folder, or a run already loaded with
    :func:`~attnkit.training.run.load_run`).

    θ maps the output's normalised coordinates to the input's (``align_corners=False``), so the
    output's centre samples the input at θ's translation (t_x, t_y), and the sampled frame is
    the parallelogram θ·[±1, ±1, 1] covering a share |det A| of the canvas (A = θ[:, :2]).
    A transformer that localises moves its frame with the item: (t_x, t_y) correlates with the
    item's centre (normalised the same way) and the frame is smaller than the canvas.

    Returns:
        a dict: ``feature_sd`` (the localisation network's last features: sd across canvases,
        mean over features; near 0 = the network ignores its input), ``theta_sd`` (sd of each of
        the 6 entries across canvases), ``theta_mean``, ``r_x`` and ``r_y`` (Pearson correlation of
        t_x with the item's centre x and of t_y with its centre y; NaN for a constant θ),
        ``r_scale`` (the frame's side sqrt|det A| against the item's scale) and ``r_angle`` (the
        frame's rotation atan2(A_21, A_11) against the item's rotation angle; either sign means
        the frame turns with the item),
        ``frame_area`` (mean |det A|), ``item_coverage`` (mean share of the item's box inside the
        frame), ``n_images``.

    Raises:
        ValueError: if the run has no spatial transformer or its data has no transforms
            (not a canvas run).
    """
    run = load_run(run_dir) if isinstance(run_dir, (str, Path)) else run_dir
    stn: Any = run.model.stn if "stn" in run.capabilities.model.parts else None  # declared by the family
    record = json.loads((Path(run.path) / "data" / "test.json").read_text(encoding="utf-8"))
    if stn is None or "transforms" not in record:
        raise ValueError(
            f"{run_dir} is not a canvas run with a spatial transformer (model.stn and data.task=fashion-canvas)"
        )
    examples = run.task.load_split(run.path, "test")[:n_images]
    columns = record["transforms"]
    boxes = np.asarray(columns["box"][: len(examples)], dtype=np.float64)  # (N, 4) x0 y0 x1 y1
    scales = np.asarray(columns["scale"][: len(examples)], dtype=np.float64)
    angles = np.asarray(columns["angle"][: len(examples)], dtype=np.float64)
    size = examples[0].image.shape[-1]
    feats, thetas = [], []
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            x = run.task.collate(examples[i : i + batch_size]).images
            f = stn.features(x)
            feats.append(f.flatten(1))
            thetas.append(stn.regressor(f).view(-1, 2, 3))
    feat = torch.cat(feats).double().numpy()
    theta = torch.cat(thetas).double().numpy()  # (N, 2, 3)
    centre = (boxes[:, :2] + boxes[:, 2:]) / size - 1.0  # (N, 2): 2 * ((x0 + x1) / 2) / size - 1

    def pearson(a, b):
        return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")

    # share of each item's box inside the frame: pixel centres p with A^-1 (p - t) in [-1, 1]^2
    coverage = []
    for (x0, y0, x1, y1), th in zip(boxes.astype(int), theta):
        xs, ys = np.meshgrid(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5)
        p = np.stack([2 * xs.ravel() / size - 1, 2 * ys.ravel() / size - 1])  # (2, n)
        try:
            q = np.linalg.solve(th[:, :2], p - th[:, 2:])
        except np.linalg.LinAlgError:
            coverage.append(0.0)
            continue
        coverage.append(float(np.mean(np.all(np.abs(q) <= 1.0, axis=0))))
    return {
        "n_images": len(examples),
        "feature_sd": float(feat.std(axis=0).mean()),
        "theta_mean": theta.mean(axis=0).round(4).tolist(),
        "theta_sd": theta.std(axis=0).round(6).tolist(),
        "r_x": pearson(theta[:, 0, 2], centre[:, 0]),
        "r_y": pearson(theta[:, 1, 2], centre[:, 1]),
        "r_scale": pearson(np.sqrt(np.abs(np.linalg.det(theta[:, :, :2]))), scales),
        "r_angle": pearson(np.arctan2(theta[:, 1, 0], theta[:, 0, 0]), angles),
        "frame_area": float(np.abs(np.linalg.det(theta[:, :, :2])).mean()),
        "item_coverage": float(np.mean(coverage)),
    }
