"""The attention-versus-sentence-length study [Bahdanau15] Fig. 2: train several translation models
on the same corpus, vocabulary and wall-clock budget, then score each on the test set overall and
per source-length bucket.

Resumable at every stage: a model whose run folder has ``done.json`` is not trained again, one
with a saved trainer state continues where it stopped (its budget counts the time already
spent), and a model whose ``eval.json`` is newer than its weights is not decoded again. Pictures
and the report are made by the caller (layers above), from what :func:`run_study` returns.

References:
    [Bahdanau15] D. Bahdanau, K. Cho, Y. Bengio. Neural Machine Translation by Jointly Learning
    to Align and Translate. ICLR 2015. arXiv:1409.0473.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import cast

import torch

from ..config import RunConfig, load_config
from ..decoding import DecodeOptions
from ..evaluation import bleu_by_length, corpus_scores
from ..io import atomic_write_text
from ..tasks.translation import TranslationTask
from ..training.parallel import train_many
from ..training.run import load_run
from .budget import Budget

__all__ = ["train_models", "evaluate_model", "run_study"]

log = logging.getLogger(__name__)


def train_models(
    plans: dict[str, RunConfig], out: str | Path, *, jobs: int = 1, threads: int = 1, progress: bool = True
) -> dict[str, dict]:
    """Train (or resume, or skip when done) every plan into ``out/<name>``, `jobs` at a time with
    `threads` threads each (:func:`attnkit.training.parallel.train_many`).

    Returns:
        name -> {"steps", "best_step", "seconds", "best_dev_bleu", "threads"}.
    """
    summaries = train_many(plans, out, jobs, threads=threads, resumable=True, progress=progress)
    return {
        name: {
            "steps": s["steps"],
            "best_step": s["best_step"],
            "seconds": round(s["seconds"], 1),
            "best_dev_bleu": round(s["best_score"], 2),
            "threads": s["threads"],
        }
        for name, s in zip(plans, summaries)
    }


def evaluate_model(run_dir: str | Path, *, beams: tuple[int, ...] = (1, 5), batch_tokens: int = 8000) -> dict:
    """Decode the run's test split with each beam size; BLEU/chrF overall and by source length.

    The result is cached in ``run_dir/eval.json`` (re-made when the weights are newer) and the
    hypotheses are written to ``run_dir/test.beam<k>.txt``.

    Returns:
        {"n", "beams": {k: {"bleu", "chrf", "bleu_signature", "chrf_signature", "seconds",
        "sentences_per_s", "by_length": [{"words", "n", "bleu", "chrf"}]}}}.
    """
    run_dir = Path(run_dir)
    cache = run_dir / "eval.json"
    if cache.is_file() and cache.stat().st_mtime >= (run_dir / "model.safetensors").stat().st_mtime:
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if all(str(k) in cached["beams"] for k in beams):
            return cached
    run = load_run(run_dir)
    task = cast(TranslationTask, run.task)  # the study trains translation runs
    examples = run.task.load_split(run.path, "test")
    sources, refs = [e.text for e in examples], [e.target for e in examples]
    result: dict = {"n": len(examples), "beams": {}}
    for k in beams:
        start = time.perf_counter()
        translations = task.translate(
            run.model, [(s, "") for s in sources], DecodeOptions(beam_size=k, batch_tokens=batch_tokens)
        )
        seconds = time.perf_counter() - start
        hyps = [t.output for t in translations]
        atomic_write_text(run_dir / f"test.beam{k}.txt", "".join(h + "\n" for h in hyps))
        scores = corpus_scores(hyps, refs)
        result["beams"][str(k)] = {
            "bleu": round(scores.bleu, 2),
            "chrf": round(scores.chrf, 2),
            "bleu_signature": scores.bleu_signature,
            "chrf_signature": scores.chrf_signature,
            "seconds": round(seconds, 2),
            "sentences_per_s": round(len(examples) / seconds, 1),
            "threads": torch.get_num_threads(),
            "by_length": [
                {"words": b.label, "n": b.n, "bleu": b.bleu, "chrf": b.chrf}
                for b in bleu_by_length(sources, hyps, refs)
            ],
        }
        log.info(
            "%s beam %d: BLEU %.2f, chrF %.2f, %.1f sentences/s",
            run_dir.name,
            k,
            scores.bleu,
            scores.chrf,
            len(examples) / seconds,
        )
    atomic_write_text(cache, json.dumps(result, indent=1))
    return result


def run_study(
    configs: dict[str, str | Path],
    out: str | Path,
    *,
    minutes: float | Budget,
    jobs: int = 1,
    threads: int = 2,
    overrides: tuple[str, ...] = (),
    beams: tuple[int, ...] = (1, 5),
    progress: bool = True,
) -> dict:
    """Train each config for `minutes` of wall-clock time, then evaluate all of them.

    Args:
        configs: model name -> YAML config path; all must describe the same data.
        out: study folder; run folders go to ``out/<name>``.
        minutes: the training budget of every model: minutes of wall-clock training
            (``train.max_minutes``), or a :class:`~attnkit.studies.budget.Budget` in steps or minutes.
        jobs: models trained at once.
        threads: torch threads per model while training (decoding uses all cores).
        overrides: ``section.key=value`` applied to every config (e.g. ``data.corpus=DIR``).
        beams: beam sizes for the test set.

    Returns:
        {"models": {name: {"config", "train": summary, "eval": evaluate_model(...),
        "history": validation records}}}.

    Raises:
        attnkit.config.ConfigError: for an invalid config, or configs with different data.
    """
    from ..config import ConfigError

    budget = minutes.overrides() if isinstance(minutes, Budget) else [f"train.max_minutes={minutes}"]
    plans = {}
    for name, path in configs.items():
        cfg = load_config(path, [*overrides, *budget, f"train.threads={threads}"])
        plans[name] = cfg
    first_name, first = next(iter(plans.items()))
    for name, cfg in plans.items():
        if cfg.data != first.data:
            raise ConfigError(
                f"{name} and {first_name} describe different data; the study needs one corpus "
                "and one vocabulary for all models"
            )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summaries = train_models(plans, out, jobs=jobs, threads=threads, progress=progress)
    torch.set_num_threads(max(threads, 1) * max(jobs, 1))
    models = {}
    for name, path in configs.items():
        records = [json.loads(line) for line in (out / name / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
        models[name] = {
            "config": str(path),
            "train": summaries[name],
            "eval": evaluate_model(out / name, beams=beams),
            "history": records,
        }
    atomic_write_text(out / "study.json", json.dumps(models, indent=1))
    return {"models": models}
