"""Train several configs at once, one process per config (CPU), e.g. to compare them under the
same budget. Progress bars share the terminal; logs are prefixed with the run name.

With ``resumable=True`` (the length study) a run folder with ``done.json`` is not trained again
and one with a saved trainer state continues where it stopped.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import sys
from dataclasses import replace
from pathlib import Path

from tqdm.auto import tqdm

from ..config import RunConfig, load_config
from ..io import atomic_write_text

__all__ = ["train_many"]

log = logging.getLogger(__name__)


def _worker(job: tuple[dict, str, str, int, bool, int, int, bool]) -> dict:
    """Train (or, when resumable, resume or skip) one model with `threads` threads; returns its
    summary. Runs in this process or in a spawned child."""
    raw_cfg, name, run_dir, level, progress, position, threads, resumable = job
    import torch

    from ..machine import tune_allocator
    from .pipeline import train_run

    torch.set_num_threads(threads)
    tune_allocator()  # this process's allocator (a spawned child starts untuned)
    if mp.parent_process() is not None:  # a spawned child starts with no logging: give it the parent's level
        logging.basicConfig(level=level, format=f"[{name}] %(message)s", stream=sys.stderr, force=True)
    run_path = Path(run_dir)
    done = run_path / "done.json"
    if resumable and done.is_file():
        log.info("already trained; skipping (delete %s to train again)", done)
        return json.loads(done.read_text(encoding="utf-8"))
    resume = resumable and (run_path / "trainer_state.json").is_file() and (run_path / "config.yaml").is_file()
    cfg = load_config(None, [f"{sec}.{k}={json.dumps(v)}" for sec, d in raw_cfg.items() for k, v in d.items()])
    result = train_run(cfg, run_path, progress=progress, resume=resume, progress_position=position)
    summary = {"steps": result.steps, "best_step": result.best_step, "seconds": result.seconds}
    if resumable:
        summary.update(best_score=result.best_score, threads=threads)
        atomic_write_text(done, json.dumps(summary))
    return summary


def train_many(
    plans: dict[str, RunConfig],
    out: str | Path,
    jobs: int,
    *,
    threads: int = 1,
    resumable: bool = False,
    progress: bool | None = None,
) -> list[dict]:
    """Train every config of `plans` into ``out/<name>``, `jobs` at a time, `threads` each.

    Args:
        plans: run name -> config.
        out: parent folder of the run folders.
        jobs: processes at once; 1 trains in this process, one after the other.
        threads: torch threads per run (overrides ``train.threads``).
        resumable: skip runs with ``done.json``, resume runs with a saved state, and write
            ``done.json`` (with ``best_score`` and ``threads`` added) when a run finishes.
        progress: report progress (:mod:`attnkit.progress`: bars on a terminal, else log lines); None = True.

    Returns:
        Per plan, in order: {"steps", "best_step", "seconds"} (plus "best_score", "threads" when
        resumable).
    """
    out = Path(out)
    level = logging.getLogger().level
    progress = True if progress is None else progress
    work = [
        (
            replace(cfg, train=replace(cfg.train, threads=threads)).to_dict(),
            name,
            str(out / name),
            level,
            progress,
            i,
            threads,
            resumable,
        )
        for i, (name, cfg) in enumerate(plans.items())
    ]
    if jobs <= 1:
        return [_worker(job) for job in work]
    ctx = mp.get_context("spawn")
    lock = ctx.RLock()  # one lock for all progress bars, so they do not overwrite each other
    tqdm.set_lock(lock)
    pool = ctx.Pool(min(jobs, len(work)), initializer=tqdm.set_lock, initargs=(lock,))
    try:
        summaries = pool.map(_worker, work, chunksize=1)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    return summaries
