"""Training throughput of each model family on a translation corpus: target tokens per second
and model FLOP utilisation (MFU) against this machine's measured matrix-multiply peak.

    python benchmarks/train_throughput.py                      # the Bible configs (after `attnkit data bible`)
    python benchmarks/train_throughput.py configs/bible-bahdanau.yaml --steps 40 --threads 2

For each config: the corpus is read and subword models trained as `attnkit train` does, then
`--warmup` training steps (forward, loss, backward, clipping, Adam) are run untimed on the
trainer's own token batches and `--steps` timed. Throughput is real (non-padding) target tokens,
``</s>`` included, per second, as the trainer logs it. The FLOPs of one step are counted with
``torch.utils.flop_counter.FlopCounterMode`` (matrix multiplies of forward and backward, which
is what MFU conventionally counts); the peak is the best of several ``torch.mm`` of 2048 x 2048
matrices with the same threads, in float32 and in bfloat16, measured in the same run. Each config
is measured in every precision of ``--precisions`` (float32, and bfloat16 autocast: the
config's ``train.precision`` overridden), and its MFU is the fraction of the peak of that precision.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from attnkit.config import load_config
from attnkit.data import TokenBatchSampler, collate
from attnkit.tasks import TASKS
from attnkit.training import Trainer, build_model

DEFAULT = (
    "configs/bible-none.yaml",
    "configs/bible-bahdanau.yaml",
    "configs/bible-luong-general.yaml",
    "configs/bible-transformer.yaml",
)


def matmul_peak(threads: int, dtype: torch.dtype = torch.float32, n: int = 2048, repeats: int = 10) -> float:
    """Best GEMM rate in FLOP/s with `threads` threads and `dtype` operands."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - start))
    return best


def measure(config: str, steps: int, warmup: int, threads: int, overrides: list[str], profile: int = 0) -> dict:
    cfg = load_config(config, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        task, splits = TASKS.get(cfg.data.task).build(cfg.data, tmp)
    torch.manual_seed(cfg.train.seed)
    torch.set_num_threads(threads)
    model = build_model(cfg, task)
    src, tgt = task.pairs(splits["train"])
    trainer = Trainer(model, cfg.train, tempfile.gettempdir(), task, list(zip(src, tgt)), lambda m: {}, progress=False)
    sampler = TokenBatchSampler(
        [len(s) for s in src], [len(t) + 1 for t in tgt], max_tokens=cfg.train.batch_tokens or 2000, seed=cfg.train.seed
    )
    batches = [collate([src[j] for j in idx], [tgt[j] for j in idx]) for idx in sampler.batches(0)[: warmup + steps]]
    model.train()

    def step(batch) -> None:
        loss = trainer.loss(batch, batch.n_tokens)
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.clip_norm)
        trainer.optimizer.step()

    for batch in batches[:warmup]:
        step(batch)
    with FlopCounterMode(display=False) as counter:
        step(batches[warmup])
    flops_per_token = counter.get_total_flops() / batches[warmup].n_tokens
    if profile:
        print_profile(step, batches[warmup : warmup + min(steps, 5)], profile)
    timed = batches[warmup:]
    tokens = sum(b.n_tokens for b in timed)
    start = time.perf_counter()
    for batch in timed:
        step(batch)
    seconds = time.perf_counter() - start
    return {
        "config": config,
        "precision": cfg.train.precision,
        "params": sum(p.numel() for p in model.parameters()),
        "steps": len(timed),
        "tokens_per_batch": round(tokens / len(timed)),
        "tgt_tokens_per_s": tokens / seconds,
        "ms_per_step": 1000 * seconds / len(timed),
        "flops_per_s": flops_per_token * tokens / seconds,
    }


def print_profile(step, batches: list, rows: int) -> None:
    """Print torch.profiler's table of the `rows` costliest operators over `batches` steps (self CPU
    time), so waste in the step shows before it is timed."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in batches:
            step(batch)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", default=list(DEFAULT))
    parser.add_argument("--steps", type=int, default=30, help="timed steps (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    parser.add_argument(
        "--precisions",
        default="fp32,bf16",
        help="train.precision values measured per config, comma-separated; 'config': the config's own "
        "(default: %(default)s)",
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", action="store_true", help="print one JSON object per config")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="ROWS", help="print the ROWS costliest operators of 5 steps to stderr"
    )
    args = parser.parse_args(argv)
    missing = [c for c in args.configs if not Path(c).is_file()]
    if missing:
        print(f"train_throughput: config not found: {missing[0]}", file=sys.stderr)
        return 1
    peaks = {"fp32": matmul_peak(args.threads), "bf16": matmul_peak(args.threads, torch.bfloat16)}
    print(
        f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads; "
        f"measured matmul peak: float32 {peaks['fp32'] / 1e9:.1f} GFLOP/s, "
        f"bfloat16 {peaks['bf16'] / 1e9:.1f} GFLOP/s; "
        "MFU is the fraction of the peak of the precision each row trains in"
    )
    print("| config | precision | params | tokens/batch | target tokens/s | ms/step | GFLOP/s | MFU |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    precisions = args.precisions.split(",")
    bad = sorted(set(precisions) - {"fp32", "bf16", "config"})
    if bad:
        print(f"train_throughput: unknown precision {bad[0]!r}; choose fp32, bf16 or config", file=sys.stderr)
        return 1
    for config, precision in ((c, p) for c in args.configs for p in precisions):
        overrides = args.overrides if precision == "config" else [*args.overrides, f"train.precision={precision}"]
        r = measure(config, args.steps, args.warmup, args.threads, overrides, args.profile)
        r["mfu"] = r["flops_per_s"] / peaks[r["precision"]]
        if args.json:
            print(json.dumps(r))
        print(
            f"| {Path(config).stem} | {r['precision']} | {r['params'] / 1e6:.1f} M | {r['tokens_per_batch']} | "
            f"{r['tgt_tokens_per_s']:,.0f} | {r['ms_per_step']:.0f} | {r['flops_per_s'] / 1e9:.1f} | "
            f"{r['mfu']:.1%} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
