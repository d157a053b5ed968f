"""Config -> task and data -> model -> trainer -> run folder: ``attnkit train`` as a function, for
every task and model family.

Under ``torchrun`` (a started ``torch.distributed`` process group) rank 0 builds the run folder
and the other ranks load the task and data from it; see :mod:`attnkit.training.distributed`.
Setting the environment variable ``ATTNKIT_LOSS_LOG=1`` makes the trainer append the loss of
every step to ``losses.jsonl`` in the run folder (for debugging and the equivalence tests).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Sequence

import torch

from ..config import ConfigError, RunConfig, save_config, task_of
from . import distributed
from .checkpoint import has_state
from .counting import fit_by_counting
from .init_from import init_from_run
from .run import RunError, build_model, model_label, run_capabilities
from .run_record import RUN_RECORD, load_run_config, write_run_record
from .tensorboard import FOLDER as TENSORBOARD_FOLDER
from .tensorboard import N_EXAMPLES, Render, TensorBoardLog, require_tensorboard
from .trainer import Trainer, TrainResult

__all__ = ["train_run", "model_label"]

log = logging.getLogger(__name__)


def train_run(
    cfg: RunConfig,
    run_dir: str | Path,
    *,
    progress: bool = True,
    resume: bool = False,
    progress_position: int = 0,
    device: str = "cpu",
    render_png: Render | None = None,
    resume_overrides: Sequence[str] = (),
) -> TrainResult:
    """Train the model `cfg` describes on its task into `run_dir` (created if needed).

    With ``resume=True`` the run folder's own config, data and task files are used and
    training continues from its last saved state; `cfg` is ignored.

    A new run folder records the attnkit version that made it in ``run.json``
    (:mod:`attnkit.training.run_record`); resuming keeps the record the folder has, or its lack
    of one: the record says how the folder's files are written, and resuming writes no config.

    Under ``torch.distributed`` every rank calls this with the same arguments; only rank 0
    writes.

    Args:
        cfg: the run config.
        run_dir: the run folder.
        progress: show a progress bar.
        resume: continue a stopped run.
        progress_position: line of the bar, when several runs share a terminal.
        device: where to train (``"cpu"``, ``"cuda"``, ``"cuda:1"``; see :func:`attnkit.machine.resolve_device`).
        render_png: with ``train.tensorboard``, draws a dev prediction as PNG bytes for
            TensorBoard (``attnkit train`` passes :func:`attnkit.viz.prediction_png`); None: no
            pictures, only the numbers.
        resume_overrides: with `resume`, ``section.key=value`` items applied to the folder's
            config (a larger budget: the caller checks which keys it allows); the folder's
            ``config.yaml`` is rewritten with them.

    Raises:
        attnkit.errors.ConfigError: for an invalid config or data that cannot be built from it,
            or ``train.tensorboard`` without the tensorboard package.
        attnkit.training.CheckpointError: when resuming from a missing or corrupt state.
    """
    run_dir = Path(run_dir)
    dist = distributed.current()
    if not resume and cfg.train.tensorboard:
        require_tensorboard()  # before any data is built
    created = False  # by this call: removed again when the model cannot be built
    if resume:
        cfg = load_run_config(run_dir, resume_overrides)
        if resume_overrides and dist.is_main:
            save_config(cfg, run_dir / "config.yaml")  # the folder's config says what it trains under
        task_cls = task_of(cfg)
        task = task_cls.load(cfg.data, run_dir)
        splits = {s: task_cls.load_split(run_dir, s) for s in ("train", "dev")}
        if not has_state(run_dir):  # killed before its first checkpoint: its data is whole, no step saved
            if dist.is_main:
                log.warning(
                    "%s has no saved state yet (stopped before its first checkpoint); training from the start", run_dir
                )
                _remove_stale(run_dir, keep_record=True)
            distributed.barrier(dist)
            resume = False
    elif not dist.is_main:  # rank 0 builds the run folder; then load what it wrote
        failure = distributed.broadcast_json(None, dist)
        if failure:
            raise RunError(f"rank 0 could not build {run_dir}: {failure}")
        task_cls = task_of(cfg)
        task = task_cls.load(cfg.data, run_dir)
        splits = {s: task_cls.load_split(run_dir, s) for s in ("train", "dev")}
    else:
        task_cls = task_of(cfg)
        created = not run_dir.exists()
        run_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale(run_dir)
        try:
            task, splits = task_cls.build(cfg.data, run_dir)
            save_config(cfg, run_dir / "config.yaml")  # a config marks a usable run folder
            write_run_record(run_dir)  # after it: a folder without a record still loads (as legacy)
        except BaseException as err:
            if created:
                shutil.rmtree(run_dir, ignore_errors=True)  # leave nothing half-made behind
            if dist.enabled and isinstance(err, Exception):
                distributed.broadcast_json(f"{type(err).__name__}: {err}", dist)  # release the others
            raise
        distributed.broadcast_json(None, dist)  # the run folder is ready
    torch.manual_seed(cfg.train.seed)
    try:
        model = _build_within_memory(cfg, task)
        if cfg.train.init_from and not resume:  # a resumed run's state holds them already
            init_from_run(model, cfg.train.init_from, run_dir, record=dist.is_main)
        model = model.to(device)
    except ConfigError:
        if created:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    items = task.encode(splits["train"])
    if dist.is_main:
        log.info(
            "%s: %s model with %d parameters, %d training items on %s%s",
            run_dir,
            model_label(cfg),
            sum(p.numel() for p in model.parameters()),
            len(items),
            device,
            f", {dist.world_size} ranks" if dist.enabled else "",
        )
    dev = splits["dev"]

    def validate(m) -> dict:
        metrics, _ = task.evaluate(m, dev)
        return metrics

    if run_capabilities(cfg, task, model).model.counts:  # fitted by counting, not by gradient descent
        return fit_by_counting(model, task, items, validate, run_dir, batch_size=cfg.train.batch_size)
    loss_log = run_dir / "losses.jsonl" if os.environ.get("ATTNKIT_LOSS_LOG") else None
    monitor = None
    if cfg.train.tensorboard and dist.is_main:
        monitor = TensorBoardLog(run_dir / TENSORBOARD_FOLDER, task, dev[:N_EXAMPLES], render_png)
    trainer = Trainer(
        model,
        cfg.train,
        run_dir,
        task,
        items,
        validate,
        progress=progress and dist.is_main,
        progress_label=model_label(cfg),
        progress_position=progress_position,
        loss_log=loss_log,
        dist=dist,
        monitor=monitor,
    )
    try:
        return trainer.fit(resume=resume)
    finally:
        if monitor is not None:
            monitor.close()


def _machine_bytes() -> int | None:
    """This machine's memory in bytes (None where it cannot be told), or the process's address
    space limit (``ulimit -v``) when lower."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            total = min(total, soft)
    except (ImportError, ValueError, OSError):
        pass
    return total


def _build_within_memory(cfg: RunConfig, task) -> torch.nn.Module:
    """The model the config describes, when it fits in memory; otherwise a ConfigError naming the
    config key to lower. The parameters are counted first on the ``meta`` device (no memory), and
    a model whose training needs more than the machine has (4 bytes per number for the weights,
    their gradients and Adam's two moments) is refused before anything is allocated; an
    allocation that fails anyway is the same error.

    Raises:
        ConfigError: one line naming the largest size in ``model:`` and the parameter count.
    """
    count = None
    try:
        with torch.device("meta"):
            count = sum(p.numel() for p in build_model(cfg, task).parameters())
    except Exception:  # a module that cannot be built on the meta device: no estimate
        count = None
    memory = _machine_bytes()
    if count is not None and memory is not None and count * 16 > memory:
        raise _too_large(
            cfg,
            f"{count:,} parameters need about {count * 16 / 2**30:,.0f} GiB to train, "
            f"this machine has {memory / 2**30:,.0f} GiB",
        )
    try:
        return build_model(cfg, task)
    except MemoryError:
        raise _too_large(cfg, "it does not fit in memory") from None
    except RuntimeError as err:
        if "alloc" not in str(err) and "memory" not in str(err):
            raise
        raise _too_large(cfg, "it does not fit in memory") from None


def _too_large(cfg: RunConfig, why: str) -> ConfigError:
    sizes = {
        name: value for name, value in vars(cfg.model).items() if isinstance(value, int) and not isinstance(value, bool)
    }
    if not sizes:
        return ConfigError(f"the model this config describes is too large: {why}; make it smaller")
    key = max(sizes, key=lambda k: sizes[k])
    return ConfigError(f"model.{key}={sizes[key]:,} makes a model too large: {why}; lower model.{key}")


def _remove_stale(run_dir: Path, *, keep_record: bool = False) -> None:
    """Remove what a training writes into `run_dir` (metrics, weights, state, temporary files of
    saves cut short), before it starts from step 0; the run record too unless `keep_record`."""
    stale = ["metrics.jsonl", "losses.jsonl", "trainer_state.json", "last.safetensors", "model.safetensors"]
    for name in stale if keep_record else [*stale, RUN_RECORD]:
        (run_dir / name).unlink(missing_ok=True)
    for tmp in run_dir.glob(".*.tmp"):  # atomic writes of an earlier training that were cut short
        tmp.unlink(missing_ok=True)
