"""Decoding speed on a trained translation run's test set: sentences per second for greedy
decoding and beam search, in float32 and bfloat16, with the BLEU of each setting.

    python benchmarks/decode_speed.py runs/length-study/transformer
    python benchmarks/decode_speed.py RUN [RUN ...] --beams 1,5 --precisions fp32,bf16 \\
        --batch-tokens 8000 --threads 2 --json out.json

Each setting translates the whole test split with the task's ``translate`` (:func:`attnkit.decoding.decode`; batched,
sentences sorted by length, KV cache for the Transformer, per-hypothesis attention kept) and is
timed end to end: subword encoding, decoding and detokenisation. Beam search uses the length
penalty alpha 0.6 and the default (heuristic) stopping.

Two references are printed beside each result:

- **no cache**, measured in the same run: greedy decoding that re-runs the decoder over the
  whole prefix at every step, which is what decoding without a KV cache costs (Joey NMT's
  Transformer decodes this way). It is timed on the first ``--naive-n`` sentences of the sorted
  test set, fp32, batch 64, and the ratio is per sentence.
- **target**: OpenNMT-py 3.5.1's speed on this corpus on this machine kind, as given in issue 3
  (about 160 sentences/s greedy, 43 with beam 5; 65 and 20 for Joey NMT's RNN). These are fixed
  numbers, not measured here; the float32 matrix-multiply peak measured in this run says how fast
  this particular machine is.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from attnkit.data import Vocab, collate
from attnkit.decoding import DecodeOptions
from attnkit.evaluation.bleu import corpus_scores
from attnkit.machine import tune_allocator
from attnkit.training.run import load_run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.train_throughput import matmul_peak  # noqa: E402

TARGETS = {("transformer", 1): 160.0, ("transformer", 5): 43.0, ("rnn", 1): 65.0, ("rnn", 5): 20.0}


@torch.no_grad()
def greedy_without_cache(model, src, src_lengths, max_len: int) -> list[list[int]]:
    """Greedy decoding by re-running the teacher-forced decoder on the whole prefix each step."""
    out = torch.full((src.shape[0], 1), Vocab.bos_id, dtype=torch.long)
    done = torch.zeros(src.shape[0], dtype=torch.bool)
    for _ in range(max_len + 1):
        nxt = model(src, src_lengths, out).logits[:, -1].argmax(-1).masked_fill(done, Vocab.pad_id)
        out = torch.cat([out, nxt[:, None]], 1)
        done |= nxt == Vocab.eos_id
        if bool(done.all()):
            break
    return out[:, 1:].tolist()


def naive_rate(run, sources: list[str], n: int) -> float:
    """Sentences/s of cache-free greedy decoding on the `n` shortest test sources, batch 64."""
    ids = sorted((run.task.src_vocab.encode(run.task.source_tokens(s, "")) for s in sources), key=len)[:n]
    start = time.perf_counter()
    for i in range(0, len(ids), 64):
        batch = collate(ids[i : i + 64])
        greedy_without_cache(
            run.model, batch.src, batch.src_lengths, run.task.output_limit(int(batch.src_lengths.max()))
        )
    return len(ids) / (time.perf_counter() - start)


def cached_rate(run, sources: list[str], n: int) -> float:
    """Sentences/s of the task's ``translate`` (greedy, fp32, batch 64) on the same `n` sentences."""
    ordered = sorted(sources, key=lambda s: len(run.task.src_vocab.encode(run.task.source_tokens(s, ""))))[:n]
    start = time.perf_counter()
    run.task.translate(run.model, [(s, "") for s in ordered], DecodeOptions(batch_size=64, batch_tokens=None))
    return len(ordered) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="RUN", help="trained translation run folders")
    parser.add_argument("--beams", default="1,5", help="comma-separated beam sizes (default: %(default)s)")
    parser.add_argument("--precisions", default="fp32,bf16", help="fp32 and/or bf16 (default: %(default)s)")
    parser.add_argument(
        "--batch-tokens",
        default="8000",
        help="source tokens per batch (padding and beams included), one or more, comma-separated "
        "(default: %(default)s)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    parser.add_argument(
        "--naive-n",
        type=int,
        default=128,
        help="sentences for the no-cache reference; 0 skips it (default: %(default)s)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    tune_allocator()  # as the CLI does
    beams = [int(b) for b in args.beams.split(",")]
    precisions = args.precisions.split(",")
    sizes = [int(b) for b in args.batch_tokens.split(",")]
    peak = matmul_peak(args.threads)
    print(f"{args.threads} threads; float32 matmul peak {peak / 1e9:.0f} GFLOP/s (measured now)")
    results = []
    for path in args.runs:
        run = load_run(path)
        family = "transformer" if run.config.model.arch == "transformer" else "rnn"
        examples = run.task.load_split(run.path, "test")
        sources, refs = [e.text for e in examples], [e.target for e in examples]
        naive = cached = None
        if args.naive_n:
            naive, cached = naive_rate(run, sources, args.naive_n), cached_rate(run, sources, args.naive_n)
            print(
                f"{path}: greedy on the {args.naive_n} shortest sentences: {cached:.1f} sent/s with the cache, "
                f"{naive:.1f} without ({cached / naive:.1f}x)"
            )
        print("| run | beam | precision | batch tokens | seconds | sent/s | BLEU | vs target |")
        print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
        for k in beams:
            for precision in precisions:
                for size in sizes:
                    start = time.perf_counter()
                    out = run.task.translate(
                        run.model,
                        [(s, "") for s in sources],
                        DecodeOptions(beam_size=k, precision=precision, batch_tokens=size),
                    )
                    seconds = time.perf_counter() - start
                    bleu = corpus_scores([t.output for t in out], refs).bleu
                    rate = len(sources) / seconds
                    target = TARGETS.get((family, k))
                    vs = f"{rate / target:.2f}x of {target:.0f}" if target else "-"
                    print(
                        f"| {path} | {k} | {precision} | {size} | {seconds:.2f} | {rate:.1f} | {bleu:.2f} | {vs} |",
                        flush=True,
                    )
                    results.append(
                        {
                            "run": path,
                            "family": family,
                            "beam": k,
                            "precision": precision,
                            "batch_tokens": size,
                            "n": len(sources),
                            "seconds": round(seconds, 2),
                            "sentences_per_s": round(rate, 1),
                            "bleu": round(bleu, 2),
                            "target": target,
                            "naive_greedy_per_s": naive and round(naive, 1),
                            "cached_greedy_same_sentences_per_s": cached and round(cached, 1),
                        }
                    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"threads": args.threads, "fp32_peak_gflops": round(peak / 1e9), "results": results}, indent=1)
            + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
