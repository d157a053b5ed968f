"""Train several configs at once, one process and one core each (CPU), e.g. to compare them
under the same budget. Progress bars share the terminal; logs are prefixed with the run name."""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import sys
from dataclasses import replace
from pathlib import Path

from tqdm.auto import tqdm

from ..config import RunConfig, load_config

__all__ = ["train_many"]


def _worker(job: tuple[dict, str, str, int, bool, int]) -> dict:
    """Train one model in a child process with one thread; returns its summary."""
    raw_cfg, name, run_dir, level, progress, position = job
    import torch

    from .pipeline import train_run

    torch.set_num_threads(1)
    logging.basicConfig(level=level, format=f"[{name}] %(message)s", stream=sys.stderr, force=True)
    cfg = load_config(None, [f"{sec}.{k}={json.dumps(v)}" for sec, d in raw_cfg.items() for k, v in d.items()])
    result = train_run(cfg, run_dir, progress=progress, progress_position=position)
    return {"steps": result.steps, "best_step": result.best_step, "seconds": result.seconds}


def train_many(plans: dict[str, RunConfig], out: str | Path, jobs: int) -> list[dict]:
    """Train every config of `plans` into ``out/<name>``, `jobs` at a time (1 thread each).

    Args:
        plans: run name -> config.
        out: parent folder of the run folders.
        jobs: processes at once; 1 trains in this process, one after the other.

    Returns:
        Per plan, in order: {"steps", "best_step", "seconds"}.
    """
    out = Path(out)
    level = logging.getLogger().level
    work = [(replace(cfg, train=replace(cfg.train, threads=1)).to_dict(), name, str(out / name), level,
             sys.stderr.isatty(), i) for i, (name, cfg) in enumerate(plans.items())]
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
