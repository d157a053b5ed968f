"""Multi-head attention benchmark: forward+backward time and peak memory.

Compares attnkit's MultiHeadAttention (fused path, need_weights=False) with
torch.nn.MultiheadAttention holding the same weights, raw scaled_dot_product_attention on
already-projected heads, and a naive implementation that materialises the (B, Nh, T, T) softmax,
for (B, Nh, T, Dh) shapes with and without a causal mask. Every number is a ratio to
torch.nn.MultiheadAttention measured in the same run.

    python benchmarks/attention.py                 # the default table (T = 128, 512, 2048)
    python benchmarks/attention.py --lengths 8192 --repeats 3   # long sequences (naive skipped
                                                                # when its T x T matrices exceed --naive-limit-gib)

Time: median of `--repeats` timed runs after one warm-up, in the parent process.
Peak memory: each (implementation, shape) runs once more in a fresh child process which, after
a tiny warm-up pass (loading kernels and thread pools), reports its peak resident memory
(VmHWM) above what it held just before the measured forward pass: on a CPU, the high-water
mark of what forward and backward allocated.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from attnkit.nn.multihead import MultiHeadAttention

IMPLS = ("torch", "attnkit", "sdpa", "naive")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()


def _peak_rss_bytes() -> int:
    """VmHWM: this process's peak resident memory. Unlike ru_maxrss it is not inherited from the
    parent across fork + exec, so a child started by a big parent still measures only itself."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _setup(impl: str, b: int, nh: int, t: int, dh: int, causal: bool, seed: int = 0):
    """Module, inputs and a closure running one forward+backward."""
    torch.manual_seed(seed)
    d = nh * dh
    ref = nn.MultiheadAttention(d, nh, batch_first=True)
    x = torch.randn(b, t, d, requires_grad=True)
    mask = torch.ones(t, t, dtype=torch.bool).triu(1) if causal else None  # torch: True = blocked
    if impl == "torch":

        def run():
            out = ref(x, x, x, need_weights=False, attn_mask=mask, is_causal=causal)[0]
            out.sum().backward()
    elif impl == "attnkit":
        ours = MultiHeadAttention.from_torch(ref)
        ours.causal = causal

        def run():
            ours(x, need_weights=False).output.sum().backward()
    elif impl == "sdpa":
        q, k, v = (torch.randn(b, nh, t, dh, requires_grad=True) for _ in range(3))

        def run():
            F.scaled_dot_product_attention(q, k, v, is_causal=causal).sum().backward()
    elif impl == "naive":

        def run():
            qkv = F.linear(x, ref.in_proj_weight, ref.in_proj_bias)  # (B, T, 3D)
            q, k, v = (z.view(b, t, nh, dh).transpose(1, 2) for z in qkv.chunk(3, dim=-1))
            scores = q @ k.transpose(-2, -1) / math.sqrt(dh)  # (B, Nh, T, T) materialised
            if causal:
                scores = scores.masked_fill(mask, float("-inf"))
            ctx = torch.softmax(scores, dim=-1) @ v
            out = ref.out_proj(ctx.transpose(1, 2).reshape(b, t, d))
            out.sum().backward()
    else:
        raise ValueError(f"unknown implementation {impl!r}; choose one of: {', '.join(IMPLS)}")
    return run


def time_impl(impl, shape, causal, repeats) -> float:
    run = _setup(impl, *shape, causal)
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_memory(impl, shape, causal) -> int:
    """Peak extra resident bytes of one forward+backward, measured in a fresh process."""
    code = (
        "import json,sys;sys.argv=['x'];import benchmarks.attention as a;"
        f"print(json.dumps(a._child_peak({impl!r}, {list(shape)!r}, {causal!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _child_peak(impl, shape, causal) -> int:
    b, nh, _, dh = shape
    _setup(impl, b, nh, 16, dh, causal)()  # load kernels and thread pools before measuring
    run = _setup(impl, *shape, causal)
    before = _rss_bytes()
    run()
    return _peak_rss_bytes() - before


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 512, 2048])
    parser.add_argument(
        "--naive-limit-gib",
        type=float,
        default=6.0,
        help="skip the naive implementation when its (B, Nh, T, T) float32 matrices "
        "(about 4 of them live at once) would exceed this (default: %(default)s)",
    )
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"# attention benchmark, {datetime.date.today()}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    print(
        f"# B={args.batch}, Nh={args.heads}, Dh={args.head_dim}; forward+backward; ratios to "
        "torch.nn.MultiheadAttention (lower is better)"
    )
    print()
    print("| T | causal | torch ms | attnkit × | sdpa × | naive × | torch peak MiB | attnkit mem × | naive mem × |")
    print("|---:|:---:|---:|---:|---:|---:|---:|---:|---:|")
    for t in args.lengths:
        for causal in (False, True):
            shape = (args.batch, args.heads, t, args.head_dim)
            naive_gib = 4 * args.batch * args.heads * t * t * 4 / 2**30
            impls = [i for i in IMPLS if i != "naive" or naive_gib <= args.naive_limit_gib]
            times = {impl: time_impl(impl, shape, causal, args.repeats) for impl in impls}
            mem = (
                {}
                if args.no_memory
                else {impl: peak_memory(impl, shape, causal) for impl in ("torch", "attnkit", "naive") if impl in impls}
            )

            def cell(table: dict, impl: str, digits: int) -> str:
                return f"{table[impl] / table['torch']:.{digits}f}" if impl in table else "skipped"

            mem_cells = (
                ("n/a",) * 3
                if not mem
                else (f"{mem['torch'] / 2**20:.1f}", cell(mem, "attnkit", 2), cell(mem, "naive", 2))
            )
            print(
                f"| {t} | {'yes' if causal else 'no'} | {times['torch'] * 1e3:.2f} | "
                f"{cell(times, 'attnkit', 3)} | {cell(times, 'sdpa', 3)} | {cell(times, 'naive', 3)} | "
                + " | ".join(mem_cells)
                + " |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
