"""Pretraining then fine-tuning (issue 29 item 3, [Devlin19]): does masked-language-model
pretraining on unlabelled text help Greek tagging (book split) and the Bible sections?

1. Pretrain once per language (normal runs, resumable): ``configs/pretrain-grc.yaml`` (the Greek
   NT without the tagging book split's dev and test books) and ``configs/pretrain-en.yaml`` (the
   WEB without the Bible-sections dev and test chapters).
2. For each downstream task and each seed: fine-tune from the pretrained run
   (``train.init_from``) and train the same model from scratch, with the same vocabulary
   (``data.vocab_from``: the pretraining run's), data split and step budget; only ``train.seed``
   changes between seeds (the data split stays, so the pretraining never saw a test text).
3. Baselines on the same test sets: the dictionary tagger (``configs/greek-tagging-dictionary-book.yaml``)
   and the TF-IDF bag-of-words logistic regression of the HAN study (C chosen on dev).
4. Test metrics go to ``pretraining.json``; ``pretraining.md`` gets the tables (mean ± std over the
   seeds; a single seed is printed without ±; macro-F1 times 100), the MLM loss curves
   (``pretraining-mlm-loss.png``, from the pretraining runs' ``losses.jsonl``, every step's loss,
   written because the script sets ``ATTNKIT_LOSS_LOG=1`` for them, and ``metrics.jsonl``) and
   what the pretrained Greek model's last layer attends to on verses of Mark and Hebrews, books
   held out of pretraining (``pretraining-attention.png``).

Every run is skipped when finished and resumed when stopped, so the script can be run again after
an interruption. ``--smoke`` trains tiny models for a few steps into ``OUT`` and writes the report
there (not into docs/results), to check the pipeline end to end in a few minutes.

    python docs/results/pretraining_study.py                      # the study (hours on one core)
    python docs/results/pretraining_study.py --smoke --out /tmp/pt-smoke

References:
    [Devlin19] J. Devlin, M.-W. Chang, K. Lee, K. Toutanova. BERT: Pre-training of Deep
    Bidirectional Transformers for Language Understanding. NAACL 2019. arXiv:1810.04805.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
RESULTS = ROOT / "docs" / "results"
PRETRAIN = {"grc": "pretrain-grc.yaml", "en": "pretrain-en.yaml"}
TASKS = {  # name -> (fine-tuning config, pretraining run)
    "tagging": ("greek-tagging-finetune-book.yaml", "grc"),
    "sections": ("bible-sections-finetune.yaml", "en"),
}
DICTIONARY = "greek-tagging-dictionary-book.yaml"
SEEDS = (1, 2, 3)
# tiny sizes for --smoke, the same for a pretraining run and its fine-tuning runs (init_from needs equal shapes)
SMOKE_MODEL = ["model.word_dim=16", "model.d_model=32", "model.n_heads=2", "model.layers=1", "model.d_ff=64"]
SMOKE_TRAIN = ["train.max_steps=12", "train.eval_every=6", "train.batch_size=8", "train.max_minutes=0"]
SMOKE_CHARS = ["model.char_dim=8"]  # the Greek runs read characters
VERSES = ("Mark 1:1", "Mark 2:17", "Heb 1:1")  # held-out books of the book split

log = logging.getLogger("pretraining_study")


def _records(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()] if path.is_file() else []


def _finished(run: Path) -> bool:
    """A gradient run whose trainer state says it finished, or a run fitted by counting (the
    dictionary tagger: weights and its one step-0 record, no trainer state)."""
    state = run / "trainer_state.json"
    if state.is_file():
        return bool(json.loads(state.read_text(encoding="utf-8"))["extra"].get("finished"))
    records = _records(run)
    return (run / "model.safetensors").is_file() and len(records) == 1 and records[0]["step"] == 0


def _train(config: Path, overrides: list[str], run: Path) -> None:
    """Train `config` with `overrides` into `run`; skip a finished run, resume a stopped one."""
    from attnkit.config import load_config
    from attnkit.training.pipeline import train_run

    if _finished(run):
        log.info("%s: finished, skipped", run)
        return
    resume = (run / "trainer_state.json").is_file()
    log.info("%s: %s %s", run, "resuming" if resume else "training", config.name)
    train_run(load_config(config, overrides), run, resume=resume, progress=False)


def _test(run: Path) -> dict[str, Any]:
    """The run's test metrics (cached in ``run/test.json``) with its steps and training seconds."""
    from attnkit.training.run import load_run

    cache = run / "test.json"
    if cache.is_file():
        return json.loads(cache.read_text(encoding="utf-8"))
    loaded = load_run(run)
    metrics, _ = loaded.task.evaluate(loaded.model, loaded.task.load_split(run, "test"))
    keep = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) or v is None}
    if (run / "trainer_state.json").is_file():
        state = json.loads((run / "trainer_state.json").read_text(encoding="utf-8"))["extra"]
        keep |= {"steps": state["step"], "best_step": state["best_step"], "seconds": round(state["seconds"], 1)}
    else:  # fitted by counting
        keep |= {"steps": 0, "best_step": 0, "seconds": _records(run)[-1]["seconds"]}
    keep["parameters"] = sum(p.numel() for p in loaded.model.parameters())
    cache.write_text(json.dumps(keep, indent=1), encoding="utf-8")
    return keep


def _bag_of_words() -> dict[str, Any]:
    """The HAN study's TF-IDF logistic regression on the Bible-sections split the runs use."""
    from attnkit.data.bible_sections import build_dataset
    from attnkit.studies.han import logistic_regression_baseline
    from attnkit.tasks.bible_sections import SectionsConfig

    result = logistic_regression_baseline(build_dataset(SectionsConfig()), (1.0, 10.0, 100.0, 1000.0))
    return {"accuracy": result["test"]["accuracy"], "macro_f1": result["test"]["macro_f1"], "C": result["C"]}


def _summary(values: list[float], percent: bool = True) -> str:
    """Mean ± sample standard deviation, times 100 (with " %" for accuracies, without for F1)."""
    scale, unit = 100.0, " %" if percent else ""
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0] * scale:.2f}{unit}"
    return f"{statistics.mean(values) * scale:.2f} ± {statistics.stdev(values) * scale:.2f}{unit}"


def _column(rows: list[dict], key: str) -> list[float]:
    return [r[key] for r in rows if r.get(key) is not None]


def _loss_curves(runs: dict[str, Path], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.6), layout="constrained")
    axes = fig.subplots(1, len(runs), squeeze=False)[0]
    for ax, (name, run) in zip(axes, runs.items()):
        steps = [json.loads(x) for x in (run / "losses.jsonl").read_text(encoding="utf-8").splitlines()]
        losses = np.array([r["loss"] for r in steps])
        window = max(1, min(50, len(losses) // 10))
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")  # running mean
        ax.plot(np.arange(window, len(losses) + 1), smooth, label=f"training (mean of {window} steps)")
        records = _records(run)
        ax.plot([r["step"] for r in records], [r["dev_mlm_loss"] for r in records], "o-", label="dev (fixed masks)")
        ax.set_title(f"MLM pretraining, {name}")
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy at masked words (nats)")
        ax.legend()
    fig.savefig(path, dpi=130)


def _attention(run: Path, path: Path) -> list[str]:
    """The last layer's heads of the pretrained Greek model over a few held-out verses, one
    masked word each; returns the filled-in lines."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from attnkit.data.sblgnt import read_sblgnt
    from attnkit.training.run import load_run

    loaded = load_run(run)
    verses = {v.ref: v.words for v in read_sblgnt()}
    lines = []
    for ref in VERSES:
        words = list(verses[ref])
        words[len(words) // 2] = "<mask>"
        lines.append(" ".join(words))
    preds: list[Any] = list(loaded.task.predict(loaded.model, lines))  # self-attention predictions
    n_heads = preds[0].weights.shape[1]
    fig = Figure(figsize=(3.2 * n_heads, 3.4 * len(preds)), layout="constrained")
    axes = fig.subplots(len(preds), n_heads, squeeze=False)
    for row, (ref, pred) in zip(axes, zip(VERSES, preds)):
        for h, ax in enumerate(row):
            ax.imshow(pred.weights[-1, h], vmin=0, vmax=1, cmap="Blues")
            ax.set_xticks(range(len(pred.tokens)), pred.tokens, rotation=90, fontsize=6)
            ax.set_yticks(range(len(pred.tokens)), pred.tokens, fontsize=6)
            ax.set_title(f"{ref}, last layer, head {h}", fontsize=8)
    fig.savefig(path, dpi=130)
    return [p.output for p in preds]


def _table_tagging(res: dict) -> list[str]:
    out = [
        "| model | POS | POS, unseen words | morphology | morphology, unseen words | steps | seconds |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    d = res["dictionary"]
    out.append(
        f"| dictionary baseline | {_summary([d['pos_accuracy']])} | {_summary([d['pos_unseen_accuracy']])} "
        f"| {_summary([d['morph_accuracy']])} | {_summary([d['morph_unseen_accuracy']])} | 0 | {d['seconds']} |"
    )
    for name, label in (("scratch", "from scratch"), ("finetuned", "fine-tuned from MLM")):
        rows = res[name]
        out.append(
            f"| {label} ({len(rows)} seeds) | {_summary(_column(rows, 'pos_accuracy'))} "
            f"| {_summary(_column(rows, 'pos_unseen_accuracy'))} | {_summary(_column(rows, 'morph_accuracy'))} "
            f"| {_summary(_column(rows, 'morph_unseen_accuracy'))} | {rows[0]['steps']} "
            f"| {statistics.mean(_column(rows, 'seconds')):.0f} |"
        )
    return out


def _table_sections(res: dict) -> list[str]:
    out = ["| model | accuracy | macro-F1 | steps | seconds |", "| --- | --- | --- | --- | --- |"]
    b = res["bag_of_words"]
    out.append(f"| bag of words, TF-IDF logistic regression (C = {b['C']:g}) | {_summary([b['accuracy']])} "
               f"| {_summary([b['macro_f1']], percent=False)} | 0 | - |")  # fmt: skip
    for name, label in (("scratch", "from scratch"), ("finetuned", "fine-tuned from MLM")):
        rows = res[name]
        out.append(
            f"| {label} ({len(rows)} seeds) | {_summary(_column(rows, 'accuracy'))} "
            f"| {_summary(_column(rows, 'macro_f1'), percent=False)} | {rows[0]['steps']} "
            f"| {statistics.mean(_column(rows, 'seconds')):.0f} |"
        )
    return out


def _report(results: dict, out: Path, lines_filled: list[str], smoke: bool) -> None:
    pre = results["pretraining"]
    text = [
        "# Pretraining then fine-tuning: masked-language-model pretraining for Greek tagging and the Bible sections",
        "",
        "Issue 29 item 3; [Devlin19] (arXiv:1810.04805). Made by `python docs/results/pretraining_study.py`"
        + (" --smoke (tiny models, a few steps: the numbers mean nothing)" if smoke else "")
        + ". Mean ± sample standard deviation over the seeds (train.seed; the data split stays).",
        "",
        "## Pretraining",
        "",
        "| run | text | sequences (train) | words (train) | vocabulary | steps | minutes | dev masked-word accuracy "
        "| dev MLM loss (perplexity) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, p in pre.items():
        text.append(
            f"| pretrain-{name} | {p['text']} | {p['sequences']:,} | {p['words']:,} | {p['vocab']:,} | {p['steps']} "
            f"| {p['seconds'] / 60:.1f} | {p['masked_accuracy']:.2%} | {p['mlm_loss']:.3f} ({p['perplexity']:.1f}) |"
        )
    text += [
        "",
        "![MLM loss curves](pretraining-mlm-loss.png)",
        "",
        "## Greek tagging, book split (test: Mark, Hebrews, James)",
        "",
        *_table_tagging(results["tagging"]),
        "",
        "## Bible sections (test chapters of the seeded stratified split)",
        "",
        *_table_sections(results["sections"]),
        "",
        "## What the pretrained Greek model attends to",
        "",
        "Last layer, every head, on verses of books held out of pretraining, one word masked "
        "(the model's guess in brackets):",
        "",
        *[f"- {line}" for line in lines_filled],
        "",
        "![attention of the pretrained heads](pretraining-attention.png)",
        "",
    ]
    (out / "pretraining.md").write_text("\n".join(text), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "runs" / "pretraining", help="runs folder (default: %(default)s)"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny models and budgets; report into --out")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="train seeds (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    out: Path = args.out
    seeds = [int(s) for s in args.seeds.split(",")]
    smoke_model = SMOKE_MODEL + SMOKE_TRAIN if args.smoke else []
    # the budget is steps (the configs' max_steps), never wall-clock minutes on a shared core
    threads = [f"train.threads={args.threads}", "train.max_minutes=0"]
    start = time.perf_counter()

    results: dict[str, Any] = {"pretraining": {}, "tagging": {}, "sections": {}, "seeds": seeds}
    pre_runs = {name: out / f"pretrain-{name}" for name in PRETRAIN}
    for name, config in PRETRAIN.items():
        chars = SMOKE_CHARS if args.smoke and name == "grc" else []
        smoke_data = ["data.eval_fraction=0.01"] if args.smoke else []
        os.environ["ATTNKIT_LOSS_LOG"] = "1"  # every step's loss into losses.jsonl, for the curve
        _train(CONFIGS / config, smoke_model + chars + smoke_data + threads, pre_runs[name])
        del os.environ["ATTNKIT_LOSS_LOG"]
        corpus = json.loads((pre_runs[name] / "corpus.json").read_text(encoding="utf-8"))
        last = _records(pre_runs[name])
        best = min(last, key=lambda r: r["dev_mlm_loss"])
        results["pretraining"][name] = {
            "text": corpus["config"]["source"] if name == "grc" else corpus["config"]["module"],
            "sequences": corpus["sequences"]["train"],
            "words": corpus["words"]["train"],
            "vocab": corpus["vocab"],
            "steps": last[-1]["step"],
            "seconds": last[-1]["seconds"],
            "mlm_loss": best["dev_mlm_loss"],
            "perplexity": best["dev_perplexity"],
            "masked_accuracy": best["dev_masked_accuracy"],
        }

    for task, (config, pre) in TASKS.items():
        source = pre_runs[pre]
        chars = SMOKE_CHARS if args.smoke and pre == "grc" else []
        common = smoke_model + chars + threads + [f"data.vocab_from={source}"]
        for kind in ("finetuned", "scratch"):
            rows = []
            for seed in seeds:
                run = out / f"{task}-{kind}-seed{seed}"
                init = [f"train.init_from={source}" if kind == "finetuned" else "train.init_from=''"]
                _train(CONFIGS / config, common + init + [f"train.seed={seed}"], run)
                rows.append(_test(run) | {"seed": seed})
            results[task][kind] = rows

    dictionary = out / "tagging-dictionary"
    _train(CONFIGS / DICTIONARY, [], dictionary)
    results["tagging"]["dictionary"] = _test(dictionary)
    results["sections"]["bag_of_words"] = _bag_of_words()

    report = out if args.smoke else RESULTS
    report.mkdir(parents=True, exist_ok=True)
    _loss_curves(pre_runs, report / "pretraining-mlm-loss.png")
    filled = _attention(pre_runs["grc"], report / "pretraining-attention.png")
    results["minutes"] = round((time.perf_counter() - start) / 60, 1)
    (report / "pretraining.json").write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    _report(results, report, filled, args.smoke)
    log.info("wrote %s in %.1f minutes", report / "pretraining.md", results["minutes"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
