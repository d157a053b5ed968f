"""The training loop: Adam, gradient clipping, periodic validation, best checkpoint, early
stopping, a progress bar, and resumable state, for every task.

Only this file knows the loop; what a batch and the loss are come from the task plug-in, how to
validate from the caller.

The same loop runs data-parallel when a ``torch.distributed`` process group is started, e.g.
``torchrun --nproc_per_node=2 -m attnkit.cli train CONFIG --out RUN``; ``train.batch_size`` /
``train.batch_tokens`` are then the *global* batch of a step over all ranks, each rank computes
its share of it, and only rank 0 writes. :mod:`attnkit.training.distributed` gives the details
(loss normalisation, gradient sums, what stays rank-local).
"""

from __future__ import annotations

import json
import logging
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Protocol, Sequence

import torch
from torch import nn

from ..data import TokenBatchSampler, bucket_batches, split_batch, to_device
from ..io import atomic_write_text
from ..progress import Progress
from ..tasks.base import LossContext, PrimaryMetric
from . import distributed
from .checkpoint import load_state, restore_readable_state, save_state, save_weights
from .reinforce_state import gather_baselines, restore_baselines

__all__ = ["Trainer", "TrainResult", "TrainMonitor"]

log = logging.getLogger(__name__)

Validate = Callable[[nn.Module], dict]  # returns metrics holding the primary metric


_UNIT_KEYS = {"target tokens": "tgt_tokens"}  # metrics.jsonl key of a task's loss unit, per second


@dataclass
class TrainResult:
    steps: int
    best_step: int
    best_score: float
    seconds: float
    stopped_early: bool
    history: list[dict] = field(default_factory=list)


def param_groups(model: nn.Module, lr: float) -> list[dict]:
    """Adam's parameter groups: one per learning-rate scale. A parameter whose module set an
    ``lr_scale`` attribute on it (e.g. a spatial transformer's localisation network, trained
    slower) gets ``lr * lr_scale``; every schedule multiplies each group's own rate."""
    groups: dict[float, list] = {}
    for p in model.parameters():
        groups.setdefault(float(getattr(p, "lr_scale", 1.0)), []).append(p)
    return [{"params": ps, "lr": lr * scale} for scale, ps in groups.items()]


def fused_adam(model: nn.Module) -> bool:
    """Whether Adam may take torch's fused kernel (one pass per parameter instead of about seven
    elementwise ops with temporaries; see docs/benchmarks.md): every
    parameter floating point and on the CPU or a CUDA device. The same update within
    float rounding; the optimizer state is the same, so runs resume across the two."""
    params = list(model.parameters())
    return bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)


def lr_factor(cfg):
    """The learning-rate multiplier as a function of the step, for ``cfg.schedule``:

    - ``cosine``: from 1 down to ``lr_min / lr`` over ``max_steps`` (half a cosine);
    - ``inverse-sqrt``: ``sqrt(warmup / step)`` after the warm-up [Vaswani17] Eq. 3, so ``lr`` is
      the peak learning rate reached at the end of the warm-up;
    - ``constant``: 1.

    Every schedule starts with a linear warm-up over ``warmup_steps`` (none when 0).
    """
    floor = cfg.lr_min / cfg.lr

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
        if cfg.schedule == "inverse-sqrt":
            return warm * min(1.0, math.sqrt(cfg.warmup_steps / max(step, 1)))
        if cfg.schedule == "constant":
            return warm
        frac = min(step / cfg.max_steps, 1.0)
        return warm * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac)))

    return factor


_SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None  # what signal.signal returns


class _StopSignals:
    """While active, SIGINT/SIGTERM only set `requested`; the loop stops at a step boundary."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, _SignalHandler] = {}

    def __enter__(self) -> "_StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


class TrainMonitor(Protocol):
    """What a trainer tells a monitor (TensorBoard), on rank 0."""

    def step(self, step: int, loss: float, lr: float) -> None: ...

    def validated(self, record: dict, model: nn.Module) -> None: ...


def _budget_reopens(extra: dict, cfg) -> bool:
    """Whether a run that finished (``extra["finished"]``) may go on under `cfg`: it stopped at
    ``max_steps`` and ``cfg.max_steps`` is larger now, at ``max_minutes`` and ``cfg.max_minutes``
    is larger (or 0: none), or for patience and ``cfg.patience`` is larger than its validations
    without improvement. A run that reached its metric's best possible value stays finished."""
    why, step = extra["finished"], extra["step"]
    if why == "max_steps":
        return cfg.max_steps > step and (cfg.max_minutes <= 0 or cfg.max_minutes * 60 > extra["seconds"])
    if why == "max_minutes":
        return (cfg.max_minutes <= 0 or cfg.max_minutes * 60 > extra["seconds"]) and cfg.max_steps > step
    if why == "patience":
        return extra["bad"] < cfg.patience and cfg.max_steps > step
    return False


class Trainer:
    """Trains any model on any task plug-in (:class:`attnkit.tasks.base.Task`): Adam, the
    learning-rate schedule, gradient clipping, periodic validation, best checkpoint by the task's
    primary metric, early stopping, resumable state, data parallelism, any device.

    Writes into `run_dir`: ``model.safetensors`` (best validation score so far),
    ``metrics.jsonl`` (one line per validation), ``last.safetensors`` + ``trainer_state.json``
    (for resuming), and with `loss_log` one line per step.

    Under ``torch.distributed`` (see :mod:`attnkit.training.distributed`) every rank builds a
    Trainer with the same data; the batch size is the global one, only rank 0 validates and
    writes, and `validate` is only called on rank 0.

    Args:
        model: the model, on the device to train on (batches are moved to it).
        cfg: a :class:`~attnkit.config.TrainConfig`.
        run_dir: the run folder.
        task: the task; its ``collate``, ``loss``, ``lengths`` and ``loss_weight`` are used.
        items: the encoded training items (``task.encode(train_examples)``).
        validate: called with the model in eval mode every ``cfg.eval_every`` steps; returns a
            dict of metrics holding ``metric.name``.
        metric: what is maximised (or minimised) and when training may stop at a perfect score;
            default ``task.metric``.
        progress: report progress (loss, loss units/s, ETA to ``max_steps`` or ``max_minutes``,
            whichever ends first): a bar on a terminal, else a log line at intervals
            (:mod:`attnkit.progress`).
        progress_label: text in front of the bar.
        progress_position: line of the bar, for several trainings sharing a terminal.
        loss_log: a JSON-lines file to append ``{"step", "loss", "n_tokens", "n_examples"}`` of
            the global batch to after every step (a debugging hook; slows training a little).
        monitor: told each step's loss and learning rate and each validation's record, on rank 0
            (:class:`TrainMonitor`; e.g. :class:`attnkit.training.tensorboard.TensorBoardLog`).
        dist: the rank and number of ranks; default: the started process group, if any.

    Raises:
        ValueError: if `items` is empty.
    """

    def __init__(
        self,
        model: nn.Module,
        cfg,
        run_dir: str | Path,
        task,
        items: Sequence,
        validate: Validate,
        *,
        metric: PrimaryMetric | None = None,
        progress: bool = True,
        progress_label: str = "train",
        progress_position: int = 0,
        loss_log: str | Path | None = None,
        dist: distributed.DistContext | None = None,
        monitor: TrainMonitor | None = None,
    ) -> None:
        if not items:
            raise ValueError("no training items")
        self.model, self.cfg, self.run_dir = model, cfg, Path(run_dir)
        self.task, self.items, self.validate, self.progress = task, items, validate, progress
        self.metric = metric or task.metric
        self.progress_label, self.progress_position = progress_label, progress_position
        self.optimizer = torch.optim.Adam(param_groups(model, cfg.lr), lr=cfg.lr, fused=fused_adam(model))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_factor(cfg))
        self.ctx = LossContext(cfg)  # the train config and rank-local loss state for the task's loss
        self.loss_log = Path(loss_log) if loss_log else None
        self.dist = dist or distributed.current()
        self.monitor = monitor if self.dist.is_main else None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _batches(self, start_epoch: int, start_index: int):
        """Seeded shuffles, one per epoch; yields (epoch, index after batch, item indices).

        With ``cfg.batch_tokens`` the batches are length-bucketed token batches
        (:class:`~attnkit.data.TokenBatchSampler`, sizes from ``task.lengths``) and the index counts
        batches; with ``cfg.bucket`` they are ``cfg.batch_size`` items drawn from shuffled pools of
        ``bucket * batch_size`` items sorted by size, and the index counts batches; otherwise
        ``cfg.batch_size`` items in random order and the index counts items. The batches are
        global: the same on every rank.
        """
        n, bs = len(self.items), self.cfg.batch_size
        epoch = start_epoch
        if self.cfg.batch_tokens or self.cfg.bucket:
            sizes = [self.task.lengths(item) for item in self.items]
            sampler = (
                TokenBatchSampler(
                    [a for a, _ in sizes], [b for _, b in sizes], max_tokens=self.cfg.batch_tokens, seed=self.cfg.seed
                )
                if self.cfg.batch_tokens
                else None
            )
            while True:
                batches = (
                    sampler.batches(epoch)
                    if sampler
                    else bucket_batches(
                        [a for a, _ in sizes], bs, self.cfg.bucket, torch.Generator().manual_seed(self.cfg.seed + epoch)
                    )
                )
                for i in range(start_index, len(batches)):
                    yield epoch, i + 1, batches[i]
                epoch, start_index = epoch + 1, 0
        while True:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.cfg.seed + epoch))
            for i in range(start_index, n - bs + 1 if n >= bs else 1, bs):
                yield epoch, i + bs, order[i : i + bs].tolist()
            epoch, start_index = epoch + 1, 0

    def loss(self, batch, n_tokens: int) -> torch.Tensor:
        """The task's summed loss of `batch` (on the model's device; under bfloat16 autocast
        [Kalamkar19] arXiv:1905.12322 with ``cfg.precision="bf16"``) divided by `n_tokens`, the
        loss weight of the global batch, so that the ranks' losses add up to its mean."""
        device = self.device
        batch = to_device(batch, device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.cfg.precision == "bf16"):
            total = self.task.loss(self.model, batch, self.ctx)
        return total / n_tokens

    def _validate(self, step: int, loss: float, start: float, tokens: int, tok_start: float) -> dict:
        """Run the caller's validation and append the record to metrics.jsonl: step, loss,
        seconds, loss units per second of the training steps since the last validation (validation
        not counted; ``tgt_tokens_per_s`` for sequence tasks), learning rate,
        ``score`` (the primary metric) and every numeric metric as ``dev_<name>``."""
        rate = tokens / max(time.perf_counter() - tok_start, 1e-9)  # training only, before validating
        self.model.eval()
        with torch.no_grad():
            metrics = self.validate(self.model)
        self.model.train()
        if self.metric.name not in metrics:
            raise KeyError(f"validation returned no {self.metric.name!r} (the primary metric); got {sorted(metrics)}")
        unit = _UNIT_KEYS.get(self.task.loss_unit, self.task.loss_unit.replace(" ", "_"))
        dev = {
            f"dev_{k}": v
            for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "n" and not k.startswith("n_")
        }
        record = {
            "step": step,
            "loss": round(loss, 5),
            "seconds": round(time.perf_counter() - start, 2),
            f"{unit}_per_s": round(rate),
            "lr": self.scheduler.get_last_lr()[0],
            "score": metrics[self.metric.name],
            **dev,
        }
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        log.info("step %d: loss %.4f, %s", step, loss, ", ".join(f"{k} {v:.4f}" for k, v in dev.items()))
        return record

    def _forward_backward(self, idx: list[int]) -> tuple[torch.Tensor, int]:
        """Forward and backward pass of this rank's share of the global batch `idx`.

        Returns:
            This rank's loss (its losses over the global batch's loss weight, detached; 0 for an
            empty share) and the global batch's loss weight (e.g. real target tokens).
        """
        weight = sum(self.task.loss_weight(self.items[j]) for j in idx)
        mine = split_batch(idx, self.dist.world_size, self.dist.rank) if self.dist.enabled else idx
        if not mine:  # fewer examples than ranks: zero gradients, but still in the all_reduce
            return torch.zeros(()), weight
        loss = self.loss(self.task.collate([self.items[j] for j in mine]), weight)
        loss.backward()
        return loss.detach(), weight

    def _gather_rank_state(self) -> tuple[dict[str, torch.Tensor], list[list[float | None]]]:
        """The random state of every rank but 0, and the REINFORCE baselines of every rank, for
        rank 0 to save (rank 0's baselines are also in the model's state)."""
        rng: dict[str, torch.Tensor] = {}
        for name, state in self._rng_states().items():
            states = distributed.all_gather_tensor(state, self.dist)
            rng |= {f"{name}.rank{r}": t for r, t in enumerate(states) if r}
        return rng, gather_baselines(self.model, self.dist)

    def _rng_states(self) -> dict[str, torch.Tensor]:
        """This rank's random states: the CPU generator's, and its CUDA device's when the model
        is on one (dropout and sampling there draw from the device's generator)."""
        states = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            states["cuda"] = torch.cuda.get_rng_state(self.device)
        return states

    def _restore_rank_state(self, extra: dict, rng: dict[str, torch.Tensor], step: int) -> None:
        rank = self.dist.rank
        key = "torch" if rank == 0 else f"torch.rank{rank}"
        cuda_key = "cuda" if rank == 0 else f"cuda.rank{rank}"
        if self.device.type == "cuda" and cuda_key in rng:
            torch.cuda.set_rng_state(rng[cuda_key], self.device)
        elif self.device.type == "cuda":
            log.warning(
                "rank %d: no saved CUDA random state (saved on another device or by an older "
                "version); dropout after the resume will differ from an uninterrupted run",
                rank,
            )
        if key in rng:
            torch.set_rng_state(rng[key])
        else:  # the run was saved with fewer ranks
            torch.manual_seed(self.cfg.seed + rank + 1_000_003 * step)
            log.warning("rank %d: no saved random state (the run had fewer ranks); reseeded", rank)

    def _tidy_after_crash(self, step: int) -> None:
        """Before resuming at `step`: remove temporary files of a save cut short, and metrics
        lines of validations after the saved state (they are redone)."""
        for tmp in self.run_dir.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        path = self.run_dir / "metrics.jsonl"
        if not path.is_file():
            return
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = []
        for line in lines:
            try:
                if line.endswith("\n") and json.loads(line)["step"] <= step:
                    kept.append(line)
            except (json.JSONDecodeError, KeyError, TypeError):
                pass  # a line cut short by the crash
        if len(kept) != len(lines):
            atomic_write_text(path, "".join(kept))

    def fit(self, *, resume: bool = False) -> TrainResult:
        """Train until ``max_steps`` or early stopping; returns a summary.

        Args:
            resume: continue from ``last.safetensors`` / ``trainer_state.json`` in the run folder.
        """
        cfg, dist = self.cfg, self.dist
        main = dist.is_main
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        metric = self.metric
        step, epoch, index, best_step, bad, history = 0, 0, 0, 0, 0, []
        best = -math.inf if metric.higher_is_better else math.inf
        best_tie = best  # the tie-break metric at the best validation (PrimaryMetric.tie_break)
        elapsed = 0.0
        if resume:
            extra, rng = load_state(self.run_dir, self.model, self.optimizer, self.scheduler)
            if extra.get("finished") and not _budget_reopens(extra, cfg):  # a finished run stays finished
                if main:  # a kill between the two renames of the last save: make the folder whole again
                    self._tidy_after_crash(extra["step"])
                    restore_readable_state(self.run_dir)
                    log.warning(
                        "%s finished at step %d (%s); --resume changes nothing (train a new run to go on)",
                        self.run_dir,
                        extra["step"],
                        extra["finished"],
                    )
                return TrainResult(
                    extra["step"],
                    extra["best_step"],
                    extra["best"],
                    extra["seconds"],
                    extra["finished"] != "max_steps",
                    extra["history"],
                )
            if extra.get("finished") and main:
                log.info(
                    "%s finished at step %d (%s); continuing under the new budget",
                    self.run_dir,
                    extra["step"],
                    extra["finished"],
                )
            step, epoch, index = extra["step"], extra["epoch"], extra["index"]
            best, best_step, bad, elapsed = extra["best"], extra["best_step"], extra["bad"], extra["seconds"]
            best_tie = extra.get("best_tie", best_tie)
            history = extra["history"]
            self._restore_rank_state(extra, rng, step)
            if main:
                self._tidy_after_crash(step)
            log.info("resuming at step %d (best score %.4f at step %d)", step, best, best_step)
        else:
            torch.manual_seed(cfg.seed + dist.rank)  # rank-local dropout and sampling
        if dist.enabled:
            sizes = [self.task.lengths(item) for item in self.items]
            distributed.check_same(
                [
                    len(self.items),
                    sum(a for a, _ in sizes),
                    sum(b for _, b in sizes),
                    sum(self.task.loss_weight(item) for item in self.items),
                ],
                "the training data",
                dist,
            )
            distributed.broadcast_module(self.model, dist)
        if resume:
            restore_baselines(self.model, extra, dist.rank)
        self.model.train()
        start, tokens, tok_start = time.perf_counter() - elapsed, 0, time.perf_counter()
        bar = Progress(  # its ETA: max_steps at the current rate, or max_minutes, whichever ends first
            cfg.max_steps,
            initial=step,
            enabled=self.progress and main,
            unit="step",
            desc=self.progress_label,
            position=self.progress_position,
            deadline=start + cfg.max_minutes * 60 if cfg.max_minutes > 0 else None,
            delay=0,
        )
        stopped_early = stop_agreed = False
        finished = ""  # why training ended, once it has: patience, best possible value, max_minutes, max_steps
        batches = self._batches(epoch, index)

        def checkpoint() -> None:
            extra = {
                "finished": finished,
                "step": step,
                "epoch": epoch,
                "index": index,
                "best": best,
                "best_tie": best_tie,
                "best_step": best_step,
                "bad": bad,
                "seconds": time.perf_counter() - start,
                "history": history,
            }  # REINFORCE baselines: in the model's state
            rng = self._rng_states()
            if dist.enabled:  # a collective: every rank takes part, rank 0 writes
                rank_rng, extra["rank_baselines"] = self._gather_rank_state()
                rng.update(rank_rng)
            if main:
                save_state(self.run_dir, self.model, self.optimizer, self.scheduler, extra, rng)

        def over_time() -> bool:
            return cfg.max_minutes > 0 and time.perf_counter() - start >= cfg.max_minutes * 60

        with _StopSignals() as stop:
            while step < cfg.max_steps:
                if stop_agreed if dist.enabled else stop.requested:
                    bar.close()
                    checkpoint()
                    if main:
                        log.warning(
                            "stopped at step %d; state saved, continue with `attnkit train --resume %s`",
                            step,
                            self.run_dir,
                        )
                    raise KeyboardInterrupt
                epoch, index, idx = next(batches)
                self.ctx.epoch = epoch
                self.optimizer.zero_grad(set_to_none=True)
                loss, n_tokens = self._forward_backward(idx)
                if dist.enabled:  # sum gradients and loss shares; any rank's stop stops all
                    loss_sum, stops, late = distributed.all_reduce_gradients(
                        self.model.parameters(), [float(loss), float(stop.requested), float(over_time())], dist
                    )
                    loss, stop_agreed = torch.tensor(loss_sum), stops > 0
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_norm)
                self.optimizer.step()
                self.scheduler.step()
                step += 1
                tokens += n_tokens
                if self.loss_log and main:
                    with open(self.loss_log, "a", encoding="utf-8") as fh:
                        fh.write(
                            json.dumps(
                                {"step": step, "loss": float(loss), "n_tokens": n_tokens, "n_examples": len(idx)}
                            )
                            + "\n"
                        )
                if step % 10 == 0:
                    speed = tokens / max(time.perf_counter() - tok_start, 1e-9)
                    bar.set_postfix(loss=f"{float(loss):.3f}", tok_s=f"{speed:,.0f}")
                bar.update(1)
                if self.monitor:
                    self.monitor.step(step, float(loss), float(self.scheduler.get_last_lr()[0]))
                out_of_time = late > 0 if dist.enabled else over_time()
                if step % cfg.eval_every == 0 or step == cfg.max_steps or out_of_time:
                    # rank 0 validates and writes; the others wait for its record, so that
                    # every rank takes the same early-stopping decision
                    record = self._validate(step, float(loss), start, tokens, tok_start) if main else None
                    if self.monitor and record:
                        self.monitor.validated(record, self.model)
                    record = distributed.broadcast_json(record, dist)
                    history.append(record)
                    tie = record.get(f"dev_{metric.tie_break}", 0.0) if metric.tie_break else 0.0
                    if metric.better((record["score"], tie), (best, best_tie if metric.tie_break else 0.0)):
                        best, best_tie, best_step, bad = record["score"], tie, step, 0
                        if main:
                            save_weights(self.model, self.run_dir / "model.safetensors")
                    else:
                        bad += 1
                    if bad >= cfg.patience:
                        finished = "patience"
                    elif metric.reached_best(best):
                        finished = "best possible value"
                    elif out_of_time:
                        finished = "max_minutes"
                    elif step >= cfg.max_steps:
                        finished = "max_steps"
                    checkpoint()  # with the stop decision, so a resume after a kill here stops too
                    if finished:
                        stopped_early = step < cfg.max_steps
                        break
                    tokens, tok_start = 0, time.perf_counter()
        bar.close()
        return TrainResult(step, best_step, best, time.perf_counter() - start, stopped_early, history)
