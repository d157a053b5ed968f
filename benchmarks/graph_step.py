"""Full-graph GAT training step: attnkit's GATClassifier against the same stack of PyTorch
Geometric's ``GATConv``, side by side, with the ratio of their times and each one's peak memory.

    python benchmarks/graph_step.py                       # the Debian package graph of this machine
    python benchmarks/graph_step.py --graph karate --steps 50

A step is dropout, two attention layers over every node and edge (8 heads of 8, then 1 head;
self-loops added), cross-entropy on every node, backward and an Adam update, as
``configs/debian-gat.yaml`` trains. Each model runs in its own subprocess (so the peak resident
memory, ``ru_maxrss``, is that model's, with the same graph loaded in both), rounds alternate
ours / PyG, and the median step time per model is printed. Needs torch-geometric (a test-only
dependency: ``pip install torch-geometric``).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn


def _graph(name: str):
    if name == "karate":
        from attnkit.data.node_graph import karate_club

        return karate_club()
    from attnkit.data.debian_graph import load_debian_graph

    return load_debian_graph()


class PyGGAT(nn.Module):
    """The reference: [Velickovic18]'s transductive GAT from torch_geometric's GATConv."""

    def __init__(self, in_dim, n_classes, hidden=8, heads=8, dropout=0.6):
        super().__init__()
        from torch_geometric.nn import GATConv

        self.conv1 = GATConv(in_dim, hidden, heads=heads, dropout=dropout)
        self.conv2 = GATConv(hidden * heads, n_classes, heads=1, concat=False, dropout=dropout)
        self.dropout = dropout

    def forward(self, x, edge_index):
        x = F.elu(self.conv1(F.dropout(x, self.dropout, self.training), edge_index))
        return self.conv2(F.dropout(x, self.dropout, self.training), edge_index)


def _worker(which: str, graph_name: str, steps: int, warmup: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    g = _graph(graph_name)
    x, edge_index, y = torch.from_numpy(g.features), torch.from_numpy(g.edge_index), torch.from_numpy(g.labels)
    torch.manual_seed(0)
    if which == "attnkit":
        from attnkit.models.gnn import GATClassifier

        model = GATClassifier(x.shape[1], len(g.classes))
        forward = lambda: model(x, edge_index).logits  # noqa: E731
    else:
        model = PyGGAT(x.shape[1], len(g.classes))
        forward = lambda: model(x, edge_index)  # noqa: E731
    opt = torch.optim.Adam(model.parameters(), lr=0.005)
    model.train()
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(forward(), y).backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return {
        "model": which,
        "nodes": int(x.shape[0]),
        "edges": int(edge_index.shape[1]),
        "parameters": sum(p.numel() for p in model.parameters()),
        "step_s": statistics.median(times),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", choices=["debian", "karate"], default="debian")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", choices=["attnkit", "pyg"], help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.graph, args.steps, args.warmup, args.threads)))
        return
    results: dict[str, list[dict]] = {"attnkit": [], "pyg": []}
    for r in range(args.rounds):
        for which in ("attnkit", "pyg") if r % 2 == 0 else ("pyg", "attnkit"):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    which,
                    "--graph",
                    args.graph,
                    "--steps",
                    str(args.steps),
                    "--warmup",
                    str(args.warmup),
                    "--threads",
                    str(args.threads),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results[which].append(json.loads(out.strip().splitlines()[-1]))
    summary = {
        w: {
            "step_s": statistics.median(r["step_s"] for r in rs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
            "parameters": rs[0]["parameters"],
        }
        for w, rs in results.items()
    }
    first = results["attnkit"][0]
    report = {
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": args.threads,
        "graph": args.graph,
        "nodes": first["nodes"],
        "edges": first["edges"],
        "summary": summary,
        "ratio": summary["attnkit"]["step_s"] / summary["pyg"]["step_s"],
    }
    if args.json:
        print(json.dumps(report))
        return
    print(
        f"{args.graph} graph: {first['nodes']:,} nodes, {first['edges']:,} directed edges; {args.threads} threads, "
        f"torch {torch.__version__}"
    )
    for w, s in summary.items():
        print(
            f"  {w:<8}{1e3 * s['step_s']:>10.1f} ms/step  peak RSS {s['peak_rss_mb']:>8,.0f} MB  "
            f"{s['parameters']:,} parameters"
        )
    print(f"  ratio attnkit / PyG (time): {report['ratio']:.3f}")


if __name__ == "__main__":
    main()
