"""Cost of one sequence layer against sequence length: dense SDPA, the efficient attention kernels, LSTM, GRU.

    python -m benchmarks.long_attention --out runs/long-attention                 # the full table (idle machine)
    python -m benchmarks.long_attention --quick --out /tmp/la                     # a smoke run, tiny sizes
    python -m benchmarks.long_attention --lengths 4096 16384 --mechanisms sdpa window linear --threads 1

One layer, forward + backward of ``out.sum()``, input (B, T, D) that requires grad, float32, CPU:
``sdpa`` is :class:`attnkit.nn.multihead.MultiHeadAttention` with the ``dense`` kernel (torch's fused
``scaled_dot_product_attention``, no T x T matrix kept); every other kernel of
:data:`attnkit.functional.efficient.ATTENTION_KERNELS` is the same module with ``kernel=NAME``
(``--window`` for window and flex, the kernels' default options otherwise: linear chunk 64, Performer
256 features, Nystrom 64 landmarks); ``lstm`` / ``gru`` are ``torch.nn.LSTM`` / ``torch.nn.GRU`` of
width D (hidden D one-directional for ``causal``; D / 2 per direction, bidirectional, otherwise).
``flex`` has no backward on CPU (pytorch #148752): it is timed forward only, in eval mode under
``torch.no_grad()``, and its rows say so. Nystrom has no causal form (skipped there). Modes:
``causal`` (a decoder / language-model layer) and ``bidir`` (an encoder layer).

Each case (mechanism, T, threads, mode) runs in a fresh child process, with ``--time-limit`` seconds
at most (then it is reported as timed out, not crashed). The child builds the layer and runs a tiny
warm-up pass (kernels, thread pools, the FLOP counter's lazy imports; flex, which compiles per
shape, warms up at full size), allocates the input, resets its peak resident memory (VmHWM, through
``/proc/self/clear_refs``) and reads its resident memory, runs one forward + backward at full size
(counting FLOPs), reads its peak resident memory, then times ``--repeats`` more runs (the median is
reported).

Peak memory: VmHWM of the child minus its resident memory just before the measured pass, i.e. the
high-water mark of everything the pass touched: torch's CPU allocator, oneDNN / MKL workspaces,
saved activations, gradients (including the weights' and the input's). Chosen over tracemalloc
(blind to torch's allocator), torch.profiler's memory events (allocator only, no library
workspaces) and saved-tensor hooks (saved activations only); the price is page granularity and
that it cannot see memory freed and reused within the pass below its peak, which is what a
peak should not see anyway.

FLOPs: counted with ``torch.utils.flop_counter.FlopCounterMode`` during the measured pass (matrix
multiplies of forward and backward); two ops it does not count on CPU are added with torch's own
formulas or the textbook count: the fused SDPA kernel (``sdpa_flop_count`` and
``sdpa_backward_flop_count``: the full T x T products, causal or not) and the LSTM / GRU cells
(G gates: 2 B T G h (D_in + h) per direction forward, twice that backward). Flex attention's op does
not run under the counter: its FLOPs are not given. The fraction of peak is
FLOPs / time / the best ``torch.mm`` rate of 2048 x 2048 float32 matrices with the same threads,
measured in the same run (:func:`benchmarks.train_throughput.matmul_peak`).

Lengths: ``--lengths`` (default 256 ... 16384) and ``--long-lengths`` (default 32768, 65536), for
every mechanism; a case whose time or memory, extrapolated from the same mechanism's previous length
(T^2 for sdpa, T for the others), would exceed ``--time-limit`` or ``--mem-fraction`` of the
available memory is skipped with that reason, so dense attention stops where its quadratic time
does (the fused kernel keeps no T x T matrix: its memory grows as T, and T^2 is an upper bound).
Outputs in ``--out``: ``long_attention.md`` (the table), ``.json`` (every number), ``.png`` (time
and peak memory against T, log-log).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils import flop_counter

from attnkit.functional.efficient import ATTENTION_KERNELS
from attnkit.nn.multihead import MultiHeadAttention
from benchmarks.attention import _peak_rss_bytes, _rss_bytes
from benchmarks.train_throughput import matmul_peak

RNNS = ("lstm", "gru")
MECHANISMS = ("sdpa", *(n for n in ATTENTION_KERNELS.names() if n != "dense"), *RNNS)
QUADRATIC = ("sdpa",)  # time grows as T^2 (memory too, in the extrapolation: an upper bound for the fused kernel)
GOAL_MECHANISMS = ("window", "linear")  # issue 30's goal: >= 3x faster than sdpa at 16k, < 1/10 of its memory
MODES = ("causal", "bidir")
ROOT = Path(__file__).resolve().parents[1]


# --- one case, in the child process -------------------------------------------------------------
def _layer(spec: dict) -> nn.Module:
    mech, d, causal = spec["mech"], spec["d_model"], spec["mode"] == "causal"
    if mech in RNNS:
        rnn = nn.LSTM if mech == "lstm" else nn.GRU
        return rnn(d, d if causal else d // 2, batch_first=True, bidirectional=not causal)
    kernel = "dense" if mech == "sdpa" else mech
    options = {"window": spec["window"]} if mech in ("window", "flex") else {}
    return MultiHeadAttention(d, spec["heads"], causal=causal, kernel=kernel, kernel_options=options)


def _runner(spec: dict, t: int):
    """The layer and a closure running one forward (+ backward unless forward-only) at length `t`."""
    torch.manual_seed(0)
    layer = _layer(spec)
    forward_only = spec["mech"] == "flex"
    x = torch.randn(spec["batch"], t, spec["d_model"], requires_grad=not forward_only)

    def run() -> None:
        if forward_only:
            with torch.no_grad():
                layer.eval()(x)
            return
        out = layer(x)
        (out[0] if isinstance(out, tuple) else out.output).sum().backward()

    return run


def _rnn_flops(spec: dict, t: int) -> int:
    """Forward + backward FLOPs of the LSTM / GRU matrix multiplies: 3 x 2 B T G h (D_in + h) per direction."""
    causal = spec["mode"] == "causal"
    gates, dirs = (4 if spec["mech"] == "lstm" else 3), (1 if causal else 2)
    h = spec["d_model"] if causal else spec["d_model"] // 2
    return 3 * dirs * 2 * spec["batch"] * t * gates * h * (spec["d_model"] + h)


def _sdpa_forward(q, k, v, *args, out_shape=None, **kwargs) -> int:
    return flop_counter.sdpa_flop_count(q, k, v)


def _sdpa_backward(grad_out, q, k, v, *args, out_shape=None, **kwargs) -> int:
    return flop_counter.sdpa_backward_flop_count(grad_out, q, k, v)


SDPA_CPU = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_forward,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_backward,
}


def _reset_peak() -> None:
    """Reset this process's VmHWM to its current resident memory (Linux >= 4.0), so that the peak of
    importing torch and warming up does not hide the measured pass's."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def run_case(spec: dict) -> dict:
    """Peak memory, FLOPs and median time of one case (in this process: call it in a fresh one)."""
    torch.set_num_threads(spec["threads"])
    # load kernels, thread pools and the counter's lazy imports before measuring; flex compiles per shape
    warm = _runner(spec, spec["t"] if spec["mech"] == "flex" else 16)
    if spec["mech"] == "flex":
        warm()
    else:
        with flop_counter.FlopCounterMode(display=False, custom_mapping=SDPA_CPU):
            warm()
    run = _runner(spec, spec["t"])
    _reset_peak()
    before = _rss_bytes()
    if spec["mech"] == "flex":  # its higher-order op does not run under a dispatch mode: not counted
        run()
        flops = None
    else:
        with flop_counter.FlopCounterMode(display=False, custom_mapping=SDPA_CPU) as counter:
            run()
        flops = counter.get_total_flops() + (_rnn_flops(spec, spec["t"]) if spec["mech"] in RNNS else 0)
    peak = _peak_rss_bytes() - before
    times = []
    for _ in range(spec["repeats"]):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return {"time_s": statistics.median(times), "times_s": times, "peak_bytes": peak, "flops": flops}


# --- the parent: cases, skips, table, plot ------------------------------------------------------
def _available_bytes() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo (Linux only)")


def _measure(spec: dict, limit: float) -> dict:
    code = f"import json; from benchmarks.long_attention import run_case; print(json.dumps(run_case({spec!r})))"
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=limit, cwd=ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        return {"skipped": f"timed out after {limit:.0f} s (--time-limit)"}
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no message"])[-1][:160]
        why = "killed (out of memory?)" if out.returncode < 0 else f"failed: {last}"
        return {"skipped": why}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _predicted_skip(prev: dict | None, spec: dict, args, available: int) -> str | None:
    """Why the case is skipped, from the same mechanism's previous measured length; None to run it."""
    if prev is None or "time_s" not in prev:
        return None
    grow = (spec["t"] / prev["t"]) ** (2 if spec["mech"] in QUADRATIC else 1)
    seconds = prev["time_s"] * grow * (spec["repeats"] + 1)
    memory = prev["peak_bytes"] * grow
    if seconds > args.time_limit:
        return f"predicted {seconds:.0f} s (from T={prev['t']}) above --time-limit {args.time_limit:.0f} s"
    if memory > args.mem_fraction * available:
        share = f"{args.mem_fraction:.0%} of available memory"
        return f"predicted {memory / 2**30:.1f} GiB (from T={prev['t']}) above {share}"
    return None


def _note(mech: str) -> str:
    return "forward only (no backward on CPU)" if mech == "flex" else ""


def run_all(args) -> dict:
    peaks = {n: matmul_peak(n) for n in args.threads}
    available = _available_bytes()
    rows = []
    for threads in args.threads:
        for mode in args.modes:
            for mech in args.mechanisms:
                if mech == "nystrom" and mode == "causal":
                    rows.append({"mech": mech, "mode": mode, "threads": threads, "t": 0, "skipped": "no causal form"})
                    continue
                prev = None
                for t in sorted(set(args.lengths + args.long_lengths)):
                    spec = {
                        "mech": mech, "mode": mode, "threads": threads, "t": t, "batch": args.batch,
                        "d_model": args.d_model, "heads": args.heads, "window": args.window, "repeats": args.repeats,
                    }  # fmt: skip
                    why = _predicted_skip(prev, spec, args, available)
                    result = {"skipped": why} if why else _measure(spec, args.time_limit)
                    row = {"mech": mech, "mode": mode, "threads": threads, "t": t, "note": _note(mech), **result}
                    if "time_s" in row and row["flops"] is not None:
                        row["peak_fraction"] = row["flops"] / row["time_s"] / peaks[threads]
                    if "time_s" in row:
                        prev = row
                    rows.append(row)
                    print(_line(row), file=sys.stderr, flush=True)
    _add_ratios(rows)
    return {
        "date": str(datetime.date.today()),
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "matmul_peak_flops": {str(n): p for n, p in peaks.items()},
        "rows": rows,
        "goal": _goal(rows),
    }


def _add_ratios(rows: list[dict]) -> None:
    dense = {(r["threads"], r["mode"], r["t"]): r for r in rows if r["mech"] == "sdpa" and "time_s" in r}
    for r in rows:
        ref = dense.get((r["threads"], r["mode"], r["t"]))
        if ref is not None and "time_s" in r:
            r["speedup_vs_sdpa"] = ref["time_s"] / r["time_s"]
            r["memory_vs_sdpa"] = r["peak_bytes"] / max(ref["peak_bytes"], 1)


def _goal(rows: list[dict]) -> dict:
    """Issue 30's goal at the largest T with a dense measurement: a window or linear layer >= 3x faster
    than sdpa (forward + backward) in under a tenth of its peak memory."""
    rated = [r for r in rows if "speedup_vs_sdpa" in r and r["mech"] in GOAL_MECHANISMS]
    if not rated:
        return {"t": None, "met_by": [], "text": "no window / linear case beside a dense one"}
    t = max(r["t"] for r in rated)
    at = [r for r in rated if r["t"] == t]
    met = [r for r in at if r["speedup_vs_sdpa"] >= 3 and r["memory_vs_sdpa"] < 0.1]
    cases = ", ".join(
        f"{r['mech']} {r['mode']} {r['threads']}T: {r['speedup_vs_sdpa']:.1f}x faster, "
        f"{r['memory_vs_sdpa']:.3f} of the memory"
        for r in at
    )
    verdict = "met" if met else "not met"
    text = f"goal (>= 3x faster and < 0.1 of sdpa's memory at T={t}): {verdict}. {cases}"
    return {"t": t, "met_by": [f"{r['mech']} {r['mode']} {r['threads']}T" for r in met], "text": text}


def _cell(r: dict, key: str, fmt: str) -> str:
    return format(r[key], fmt) if key in r else ""


def _gflop(r: dict) -> str:
    if r["flops"] is None:
        return "n/a | n/a"
    return f"{r['flops'] / 1e9:.2f} | {r['flops'] / r['time_s'] / 1e9:.1f}"


def _line(r: dict) -> str:
    if "time_s" not in r:
        return f"| {r['threads']} | {r['mode']} | {r['t'] or ''} | {r['mech']} | skipped: {r['skipped']} |||||||"
    return (
        f"| {r['threads']} | {r['mode']} | {r['t']} | {r['mech']} | {r['time_s'] * 1e3:.1f} | "
        f"{_cell(r, 'speedup_vs_sdpa', '.2f')} | {r['peak_bytes'] / 2**20:.1f} | {_cell(r, 'memory_vs_sdpa', '.3f')} | "
        f"{_gflop(r)} | {_cell(r, 'peak_fraction', '.1%')} | {r['note']} |"
    )


def markdown(result: dict) -> str:
    s = result["settings"]
    peaks = ", ".join(f"{n} thread(s) {p / 1e9:.1f}" for n, p in result["matmul_peak_flops"].items())
    lines = [
        f"# One layer, forward + backward, against T ({result['date']}, {result['machine']}, torch {result['torch']})",
        "",
        f"B={s['batch']}, D={s['d_model']}, Nh={s['heads']}, window={s['window']}, float32, median of "
        f"{s['repeats']}; matmul peak (GFLOP/s, float32 2048^3): {peaks}. Speed-up = sdpa time / time; "
        "memory ratio = peak / sdpa's peak (same threads, mode and T).",
        "",
        "| threads | mode | T | mechanism | ms | x faster than sdpa | peak MiB | memory / sdpa | GFLOP | GFLOP/s "
        "| of peak | note |",
        "|---:|:---|---:|:---|---:|---:|---:|---:|---:|---:|---:|:---|",
        *(_line(r) for r in result["rows"]),
        "",
        result["goal"]["text"],
    ]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["rows"] if "time_s" in r]
    panels = sorted({(r["threads"], r["mode"]) for r in rows})
    fig, axes = plt.subplots(2, max(len(panels), 1), figsize=(4.5 * max(len(panels), 1), 7), squeeze=False)
    for col, (threads, mode) in enumerate(panels):
        for mech in dict.fromkeys(r["mech"] for r in rows):
            mine = sorted((r for r in rows if (r["threads"], r["mode"], r["mech"]) == (threads, mode, mech)),
                          key=lambda r: r["t"])  # fmt: skip
            if not mine:
                continue
            ts = [r["t"] for r in mine]
            style = "--" if mech == "flex" else "-"
            label = mech + (" (fwd only)" if mech == "flex" else "")
            axes[0][col].loglog(ts, [r["time_s"] for r in mine], style, marker="o", ms=3, label=label)
            axes[1][col].loglog(ts, [max(r["peak_bytes"], 1) / 2**20 for r in mine], style, marker="o", ms=3)
        axes[0][col].set_title(f"{mode}, {threads} thread(s)")
        axes[1][col].set_xlabel("sequence length T")
    axes[0][0].set_ylabel("forward + backward, s")
    axes[1][0].set_ylabel("peak memory, MiB")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", help="default: 256 512 ... 16384 (--quick: 32 64)")
    parser.add_argument(
        "--long-lengths", type=int, nargs="*", help="added to --lengths; default: 32768 65536 (--quick: 128)"
    )
    parser.add_argument("--mechanisms", nargs="+", choices=MECHANISMS, default=list(MECHANISMS))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--window", type=int, default=128, help="half-width in tokens (window, flex)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds per case (default: %(default)s)")
    parser.add_argument("--mem-fraction", type=float, default=0.8, help="of MemAvailable a case may use")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run")
    parser.add_argument("--out", type=Path, required=True, help="folder for long_attention.{md,json,png}")
    args = parser.parse_args(argv)
    try:
        args.threads = [int(n) for n in args.threads.split(",")]
    except ValueError:
        parser.error(f"--threads takes comma-separated integers, e.g. 1,2; got {args.threads!r}")
    if args.quick:
        args.d_model, args.heads, args.window, args.repeats = 32, 2, 8, 1
        args.time_limit = min(args.time_limit, 120.0)
    if args.lengths is None:
        args.lengths = [32, 64] if args.quick else [256, 512, 1024, 2048, 4096, 8192, 16384]
    if args.long_lengths is None:
        args.long_lengths = [128] if args.quick else [32768, 65536]
    result = run_all(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "long_attention.json").write_text(json.dumps(result, indent=1))
    (args.out / "long_attention.md").write_text(markdown(result))
    plot(result, args.out / "long_attention.png")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
