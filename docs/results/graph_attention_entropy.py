"""How uniform a trained GAT's attention is: per layer, entropy of each node's incoming weights over
log(degree), and the largest weight times the degree (1 = uniform).

Usage: python docs/results/graph_attention_entropy.py RUN"""

import sys

import torch

from attnkit.training.run import load_run

run = load_run(sys.argv[1] if len(sys.argv) > 1 else "runs/graphs-long/gat-s1")
t = run.task
with torch.no_grad():
    out = run.model.eval()(t.features, t.edge_index, need_weights=True)
tgt = out.edge_index[1]
n = t.features.shape[0]
deg = torch.zeros(n).index_add_(0, tgt, torch.ones(len(tgt)))
for li, w in enumerate(out.layer_weights):
    w = w.double()  # (E', Nh)
    ent = torch.zeros(n, w.shape[1], dtype=torch.float64).index_add_(0, tgt, -(w * w.clamp_min(1e-300).log()))
    # index_reduce_ is a beta API in torch 2.13
    mx = torch.zeros(n, w.shape[1], dtype=torch.float64).index_reduce_(0, tgt, w, "amax", include_self=False)
    keep = deg >= 5
    ratio = ent[keep] / deg[keep].double().log().unsqueeze(1)
    print(
        f"layer {li}: heads {w.shape[1]}; nodes with >= 5 incoming edges (self-loop included): {int(keep.sum())}; "
        f"entropy / log(degree): mean {ratio.mean():.4f}, 5th pct {ratio.quantile(0.05):.4f}; "
        f"max weight x degree: median {(mx[keep] * deg[keep].double().unsqueeze(1)).median():.3f}, "
        f"95th pct {(mx[keep] * deg[keep].double().unsqueeze(1)).quantile(0.95):.3f}"
    )
