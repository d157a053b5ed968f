"""The training loop: Adam, teacher forcing, gradient clipping, periodic validation, best
checkpoint, early stopping, a progress bar, and resumable state.

Only this file knows the loop; what a batch is and how to validate come from the caller.
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
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..data import TokenBatchSampler, Vocab, collate
from .checkpoint import load_state, save_state, save_weights

__all__ = ["Trainer", "TrainResult"]

log = logging.getLogger(__name__)

Validate = Callable[[nn.Module], dict]  # returns metrics; "score" is maximised


@dataclass
class TrainResult:
    steps: int
    best_step: int
    best_score: float
    seconds: float
    stopped_early: bool
    history: list[dict] = field(default_factory=list)


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


class _StopSignals:
    """While active, SIGINT/SIGTERM only set `requested`; the loop stops at a step boundary."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, object] = {}

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


class Trainer:
    """Trains a :class:`~attnkit.models.Seq2Seq` with teacher forcing on id pairs.

    Writes into `run_dir`: ``model.safetensors`` (best validation score so far),
    ``metrics.jsonl`` (one line per validation), ``last.safetensors`` + ``trainer_state.json``
    (for resuming).

    Args:
        model: the model; its forward takes (src, src_lengths, tgt_in) and returns logits first.
        cfg: a :class:`~attnkit.config.TrainConfig`.
        run_dir: the run folder.
        src: source id sequences of the training set.
        tgt: target id sequences (without <s>/</s>).
        validate: called with the model in eval mode every ``cfg.eval_every`` steps; returns a
            dict of metrics whose ``"score"`` is maximised.
        progress: show a progress bar (loss, target tokens/s) on stderr.
        progress_label: text in front of the bar.
        progress_position: line of the bar, for several trainings sharing a terminal.
    """

    def __init__(self, model: nn.Module, cfg, run_dir: str | Path, src: Sequence[Sequence[int]],
                 tgt: Sequence[Sequence[int]], validate: Validate, *, progress: bool = True,
                 progress_label: str = "train", progress_position: int = 0) -> None:
        if len(src) != len(tgt) or not src:
            raise ValueError(f"need equally many sources and targets (> 0), got {len(src)} and {len(tgt)}")
        self.model, self.cfg, self.run_dir = model, cfg, Path(run_dir)
        self.src, self.tgt, self.validate, self.progress = src, tgt, validate, progress
        self.progress_label, self.progress_position = progress_label, progress_position
        self.optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_factor(cfg))
        self.baseline: float | None = None  # REINFORCE reward baseline (moving average)

    def _batches(self, start_epoch: int, start_index: int):
        """Seeded shuffles, one per epoch; yields (epoch, index after batch, batch).

        With ``cfg.batch_tokens`` the batches are length-bucketed token batches
        (:class:`~attnkit.data.TokenBatchSampler`) and the index counts batches; otherwise
        ``cfg.batch_size`` sentences in random order and the index counts sentences.
        """
        n, bs = len(self.src), self.cfg.batch_size
        epoch = start_epoch
        if self.cfg.batch_tokens:
            sampler = TokenBatchSampler([len(s) for s in self.src], [len(t) + 1 for t in self.tgt],
                                        max_tokens=self.cfg.batch_tokens, seed=self.cfg.seed)
            while True:
                batches = sampler.batches(epoch)
                for i in range(start_index, len(batches)):
                    idx = batches[i]
                    yield epoch, i + 1, collate([self.src[j] for j in idx], [self.tgt[j] for j in idx])
                epoch, start_index = epoch + 1, 0
        while True:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.cfg.seed + epoch))
            for i in range(start_index, n - bs + 1 if n >= bs else 1, bs):
                idx = order[i:i + bs].tolist()
                yield epoch, i + bs, collate([self.src[j] for j in idx], [self.tgt[j] for j in idx])
            epoch, start_index = epoch + 1, 0

    def loss(self, batch) -> torch.Tensor:
        """Mean cross-entropy per real target token (teacher forcing), with label smoothing
        [Szegedy16] arXiv:1512.00567 when ``cfg.label_smoothing`` > 0; plus the REINFORCE terms
        when the model samples hard attention (see :meth:`reinforce_terms`)."""
        out = self.model(batch.src, batch.src_lengths, batch.tgt_in)
        logits = out[0]  # (B, Tq, V)
        nll = F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=Vocab.pad_id,
                              reduction="none", label_smoothing=self.cfg.label_smoothing).view(batch.tgt_out.shape)
        total = nll.sum()
        if getattr(out, "log_prob", None) is not None:
            total = total + self.reinforce_terms(nll.detach(), out.log_prob, out.entropy, batch.tgt_out != Vocab.pad_id)
        return total / batch.n_tokens

    def reinforce_terms(self, nll: torch.Tensor, log_prob: torch.Tensor, entropy: torch.Tensor,
                        real: torch.Tensor) -> torch.Tensor:
        """Score-function (REINFORCE) surrogate for sampled hard attention [Xu15] Sec. 4.1:
        -lambda_r * (r - b) * sum_t log p(s_t) - lambda_e * sum_t H[s_t], summed over the batch, with
        reward r = log p(y | s, x) of each sentence and b a moving average of past rewards.

        Args:
            nll: per-token negative log-likelihood, detached, (B, Tq).
            log_prob: log-probability of each sampled attention position, (B, Tq).
            entropy: entropy of each alignment distribution, (B, Tq).
            real: True at real (non-padding) target positions, (B, Tq).
        """
        reward = -(nll * real).sum(dim=1)  # (B,) log p(y | s, x)
        mean = float(reward.mean())
        self.baseline = mean if self.baseline is None else (
            self.cfg.baseline_decay * self.baseline + (1 - self.cfg.baseline_decay) * mean)
        advantage = (reward - self.baseline).unsqueeze(1)  # (B, 1)
        score_fn = -(advantage * log_prob * real).sum()
        return self.cfg.reinforce_weight * score_fn - self.cfg.entropy_weight * (entropy * real).sum()

    def _validate(self, step: int, loss: float, start: float, tokens: int, tok_start: float) -> dict:
        """Run the caller's validation and append the record to metrics.jsonl."""
        self.model.eval()
        with torch.no_grad():
            metrics = self.validate(self.model)
        self.model.train()
        record = {"step": step, "loss": round(loss, 5),
                  "seconds": round(time.perf_counter() - start, 2),
                  "tgt_tokens_per_s": round(tokens / max(time.perf_counter() - tok_start, 1e-9)),
                  "lr": self.scheduler.get_last_lr()[0], **metrics}
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        log.info("step %d: loss %.4f, %s", step, loss,
                 ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k != "score"))
        return record

    def fit(self, *, resume: bool = False) -> TrainResult:
        """Train until ``max_steps`` or early stopping; returns a summary.

        Args:
            resume: continue from ``last.safetensors`` / ``trainer_state.json`` in the run folder.
        """
        cfg = self.cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        step, epoch, index, best, best_step, bad, history = 0, 0, 0, -math.inf, 0, 0, []
        elapsed = 0.0
        if resume:
            extra, rng = load_state(self.run_dir, self.model, self.optimizer, self.scheduler)
            step, epoch, index = extra["step"], extra["epoch"], extra["index"]
            best, best_step, bad, elapsed = extra["best"], extra["best_step"], extra["bad"], extra["seconds"]
            self.baseline = extra.get("baseline")
            history = extra["history"]
            torch.set_rng_state(rng["torch"])
            log.info("resuming at step %d (best score %.4f at step %d)", step, best, best_step)
        else:
            torch.manual_seed(cfg.seed)
        self.model.train()
        bar = tqdm(total=cfg.max_steps, initial=step, disable=not self.progress, unit="step",
                   dynamic_ncols=True, leave=False, desc=self.progress_label,
                   position=self.progress_position)
        start, tokens, tok_start = time.perf_counter() - elapsed, 0, time.perf_counter()
        stopped_early = False
        batches = self._batches(epoch, index)

        def checkpoint() -> None:
            extra = {"step": step, "epoch": epoch, "index": index, "best": best,
                     "best_step": best_step, "bad": bad, "seconds": time.perf_counter() - start,
                     "history": history, "baseline": self.baseline}
            save_state(self.run_dir, self.model, self.optimizer, self.scheduler, extra,
                       {"torch": torch.get_rng_state()})

        with _StopSignals() as stop:
            while step < cfg.max_steps:
                if stop.requested:
                    bar.close()
                    checkpoint()
                    log.warning("stopped at step %d; state saved, continue with "
                                "`attnkit train --resume %s`", step, self.run_dir)
                    raise KeyboardInterrupt
                epoch, index, batch = next(batches)
                loss = self.loss(batch)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_norm)
                self.optimizer.step()
                self.scheduler.step()
                step += 1
                tokens += batch.n_tokens
                if step % 10 == 0:
                    speed = tokens / max(time.perf_counter() - tok_start, 1e-9)
                    bar.set_postfix(loss=f"{loss.item():.3f}", tok_s=f"{speed:,.0f}")
                bar.update(1)
                out_of_time = cfg.max_minutes > 0 and time.perf_counter() - start >= cfg.max_minutes * 60
                if step % cfg.eval_every == 0 or step == cfg.max_steps or out_of_time:
                    record = self._validate(step, loss.item(), start, tokens, tok_start)
                    history.append(record)
                    if record["score"] > best:
                        best, best_step, bad = record["score"], step, 0
                        save_weights(self.model, self.run_dir / "model.safetensors")
                    else:
                        bad += 1
                    checkpoint()
                    if bad >= cfg.patience or best >= 1.0 or out_of_time:  # 1.0 = a perfect score
                        stopped_early = step < cfg.max_steps
                        break
                    tokens, tok_start = 0, time.perf_counter()
        bar.close()
        return TrainResult(step, best_step, best, time.perf_counter() - start, stopped_early, history)
