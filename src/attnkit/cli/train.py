"""``attnkit train CONFIG [--out DIR] [--set key=value ...] [--resume RUN]``.

The same command trains data-parallel under ``torchrun``, one process per rank, e.g.
``torchrun --nproc_per_node=2 -m attnkit.cli train CONFIG --out RUN``; ``train.batch_size`` /
``train.batch_tokens`` are then the global batch of a step over all ranks, and only rank 0
writes and prints (:mod:`attnkit.training.distributed`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..config import RunConfig, load_config
from ..training.distributed import barrier, distributed_session
from ..training.pipeline import train_run
from ..training.run_record import load_run_config
from .common import UserError, add_common, check_out_folder, device_of

EPILOG = """examples:
  attnkit train configs/dates-bahdanau.yaml --out runs/bahdanau
  attnkit train configs/dates-luong-general.yaml --set model.hidden_dim=128 --set train.max_steps=5000
  attnkit train --resume runs/bahdanau
  torchrun --nproc_per_node=2 -m attnkit.cli train configs/dates-bahdanau.yaml --out runs/ddp"""

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="YAML run config, e.g. configs/dates-bahdanau.yaml")
    parser.add_argument("--out", help="run folder to write; its parent folder must exist (default: runs/<config name>)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set model.hidden_dim=128 (repeatable)",
    )
    parser.add_argument("--resume", metavar="RUN", help="continue a stopped run from its last state")
    parser.add_argument("--overwrite", action="store_true", help="replace a run already in --out (default: refuse)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    with distributed_session() as dist:  # a no-op outside torchrun
        if not dist.is_main:
            logging.getLogger().setLevel(logging.WARNING)  # rank 0 reports progress
        out, cfg = _plan(args)
        barrier(dist)  # every rank has checked the run folder before rank 0 writes into it
        progress = dist.is_main and not args.no_progress and sys.stderr.isatty()
        device = device_of(args)
        if dist.enabled and device.startswith("cuda"):
            device = f"cuda:{dist.local_rank}"  # one GPU per rank under torchrun
        from ..viz import prediction_png  # TensorBoard's attention pictures; imported only to train

        result = train_run(
            cfg, out, progress=progress, resume=bool(args.resume), device=device, render_png=prediction_png
        )
        if dist.is_main:
            print(
                f"{out}: best dev score {result.best_score:.4f} at step {result.best_step} "
                f"({result.steps} steps, {result.seconds:.0f} s)"
            )
    return 0


def _plan(args: argparse.Namespace) -> tuple[Path, RunConfig]:
    """The run folder and config of the command line; raises UserError for usage problems."""
    if args.resume:
        if args.config or args.overrides:
            raise UserError("--resume RUN takes its config from the run folder; drop CONFIG/--set", code=2)
        cfg = load_run_config(args.resume)
        out = Path(args.resume)
    else:
        if not args.config:
            raise UserError("give a CONFIG file (e.g. configs/dates-bahdanau.yaml) or --resume RUN", code=2)
        overrides = list(args.overrides)
        if args.seed is not None:
            overrides += [f"train.seed={args.seed}"]
        if args.out:  # the run folder is made; its parent must exist (the default's, runs/, is made too)
            check_out_folder(args.out)
        cfg = load_config(args.config, overrides)
        out = Path(args.out or Path("runs") / Path(args.config).stem)
        if (out / "config.yaml").exists() and not args.overwrite:
            raise UserError(
                f"{out} already holds a run; continue it with `attnkit train --resume {out}`, "
                "choose another --out, or pass --overwrite to start over"
            )
    return out, cfg
