"""Mean ± sd over seeds of the graph study's test scores, one line per model.

    python docs/results/graph_summary.py [RUNS]     # default runs/graphs-long

Reads RUNS/{model}-s{seed}/result.json (written by graph-study-long.sh) and the training log's last
line ("best dev score ... at step S (N steps, T s)"), and prints a Markdown table: test accuracy and
macro-F1 as mean ± sample standard deviation, the seeds, the steps run and the best dev steps.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path

NAMES = {
    "mlp": "MLP (features only)",
    "gcn": "GCN",
    "gat": "GAT (8 heads × 8, then 1 head)",
    "gatv2": "GATv2 (8 heads × 8, then 1 head)",
}


def sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/graphs-long")
    print("| model | seeds | test accuracy | test macro-F1 | steps | best dev step | seconds |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for model, name in NAMES.items():
        acc, f1, steps, best, secs, seeds = [], [], [], [], [], []
        for result in sorted(root.glob(f"{model}-s*/result.json")):
            run = result.parent
            scores = json.loads(result.read_text())
            acc.append(100 * scores["accuracy"])
            f1.append(scores["macro_f1"])
            seeds.append(run.name.rsplit("-s", 1)[1])
            log = (root / f"{run.name}.log").read_text().strip().splitlines()[-1]
            m = re.search(r"at step (\d+) \((\d+) steps, (\d+) s\)", log)
            if m:
                best.append(m[1])
                steps.append(m[2])
                secs.append(m[3])
        if not acc:
            continue
        print(
            f"| {name} | {', '.join(seeds)} | {statistics.mean(acc):.2f} ± {sd(acc):.2f} % | "
            f"{statistics.mean(f1):.3f} ± {sd(f1):.3f} | {', '.join(steps)} | {', '.join(best)} | "
            f"{', '.join(secs)} |"
        )


if __name__ == "__main__":
    main()
