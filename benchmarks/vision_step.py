"""Training-step time of the image models: our ViT against a reference ViT of the same size, and
each CNN attention's overhead over the plain CNN, as ratios measured in the same run.

    python benchmarks/vision_step.py                   # 28 x 28 (Fashion-MNIST), batch 128, 2 threads
    python benchmarks/vision_step.py --size 60 --patch 6 --steps 20

A step is forward, cross-entropy, backward and an Adam update on a fixed random batch (the
pixels do not change the arithmetic). The reference ViT is written here from PyTorch's own
``torch.nn.TransformerEncoder`` (pre-LN, GELU, batch-first; the same patch embedding, class
token, position embeddings, widths, heads and layers), because timm, the usual reference, does
not import beside this machine's CPU build of torch (its torchvision wheel needs CUDA
libraries). Both are timed in alternation, best-of-rounds median, so drift in the machine's
speed hits both alike. Images per second and the ratio ours / reference (time) are printed;
below 1 means ours is faster.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from attnkit.models.cnn_classifier import CNN_ATTENTIONS, AttentionCNN
from attnkit.models.vit import VisionTransformer


class ReferenceViT(nn.Module):
    """A ViT from ``torch.nn.TransformerEncoder``: the comparison point of the benchmark."""

    def __init__(self, size: int, patch: int, d_model: int, n_heads: int, layers: int, d_ff: int, n_classes=10):
        super().__init__()
        self.patch_embedding = nn.Conv2d(1, d_model, patch, stride=patch)
        n = (size // patch) ** 2
        self.class_token = nn.Parameter(torch.zeros(1, 1, d_model))
        self.positions = nn.Parameter(torch.randn(1, 1 + n, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, d_ff, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, images):
        x = self.patch_embedding(images).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1) + self.positions
        return self.head(self.norm(self.encoder(x)[:, 0]))


def _step_fn(model: nn.Module, images, labels):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        out = model(images)
        logits = out.logits if hasattr(out, "logits") else out
        F.cross_entropy(logits, labels).backward()
        opt.step()

    return step


def _time(steps: dict, n: int, warmup: int, rounds: int) -> dict[str, float]:
    """Median seconds per step of each function, timed in alternation over `rounds` rounds."""
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, fn in steps.items():
            start = time.perf_counter()
            for _ in range(n):
                fn()
            times[name].append((time.perf_counter() - start) / n)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=28, help="image side in pixels")
    parser.add_argument("--patch", type=int, default=4, help="ViT patch side in pixels")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    images = torch.randn(args.batch, 1, args.size, args.size)
    labels = torch.randint(0, 10, (args.batch,))
    sizes = dict(d_model=64, n_heads=4, layers=4, d_ff=128)
    vit = VisionTransformer(1, 10, (args.size, args.size), patch_size=args.patch, **sizes)
    ref = ReferenceViT(args.size, args.patch, **sizes)
    assert sum(p.numel() for p in vit.parameters()) == sum(p.numel() for p in ref.parameters())
    vit_times = _time(
        {"attnkit ViT": _step_fn(vit, images, labels), "reference ViT": _step_fn(ref, images, labels)},
        args.steps,
        args.warmup,
        args.rounds,
    )
    cnns = {name: AttentionCNN(1, 10, (args.size, args.size), attention=name) for name in CNN_ATTENTIONS}
    cnns["stn+none"] = AttentionCNN(1, 10, (args.size, args.size), stn=True)
    cnn_times = _time(
        {name: _step_fn(m, images, labels) for name, m in cnns.items()}, args.steps, args.warmup, args.rounds
    )
    result = {
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": args.threads,
        "size": args.size,
        "batch": args.batch,
        "vit": {
            name: {"ms_per_step": round(t * 1e3, 2), "images_per_s": round(args.batch / t)}
            for name, t in vit_times.items()
        },
        "vit_ratio": round(vit_times["attnkit ViT"] / vit_times["reference ViT"], 3),
        "cnn": {
            name: {
                "ms_per_step": round(t * 1e3, 2),
                "images_per_s": round(args.batch / t),
                "ratio_to_plain": round(t / cnn_times["none"], 3),
                "parameters": sum(p.numel() for p in cnns[name].parameters()),
            }
            for name, t in cnn_times.items()
        },
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.size} x {args.size} images, batch {args.batch}, {args.threads} threads, torch {torch.__version__}")
    for name, r in result["vit"].items():
        print(f"  {name:<16}{r['ms_per_step']:>9.2f} ms/step {r['images_per_s']:>8} images/s")
    print(f"  ratio attnkit / reference (time): {result['vit_ratio']:.3f}")
    for name, r in result["cnn"].items():
        print(
            f"  cnn {name:<12}{r['ms_per_step']:>9.2f} ms/step {r['images_per_s']:>8} images/s  "
            f"x{r['ratio_to_plain']:.3f} of plain  {r['parameters']:>8,} parameters"
        )


if __name__ == "__main__":
    main()
