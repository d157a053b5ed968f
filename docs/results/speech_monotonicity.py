"""The alignment monotonicity figure of the spoken-dates study (issue 14), one colour per mechanism.

    python docs/results/speech_monotonicity.py OUT.png RUN [RUN ...]   # e.g. runs/speech/spoken-dates-*

Left: the dev monotonicity (share of output steps whose attention peak does not move backwards in
time) at each validation, from each run's ``metrics.jsonl``. Right: the test split (held-out
voices) from each run's ``result.json`` (written by ``attnkit evaluate --json``): monotonicity and
the share of steps whose peak moves strictly forwards, beside exact match. Both metrics come from
:func:`attnkit.evaluation.alignment_monotonicity`, computed by the task's evaluation; this script
only draws them. A peak that never moves counts as monotonic, which is why the forward share is
shown beside it. Prints the numbers it draws.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from matplotlib.figure import Figure

from attnkit.viz import save_figure


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit("usage: python docs/results/speech_monotonicity.py OUT.png RUN [RUN ...]")
    out, runs = Path(sys.argv[1]), [Path(r) for r in sys.argv[2:]]
    fig = Figure(figsize=(11, 4))
    left, right = fig.subplots(1, 2)
    names, mono, forward, exact = [], [], [], []
    for run in runs:
        name = run.name.removeprefix("spoken-dates-")
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        rows = [r for r in rows if "dev_monotonicity" in r]
        left.plot([r["step"] for r in rows], [r["dev_monotonicity"] for r in rows], marker="o", label=name)
        result = json.loads((run / "result.json").read_text())
        names.append(name)
        mono.append(result["monotonicity"])
        forward.append(result["forward_moves"])
        exact.append(result["exact_match"])
        print(
            f"{name}: test monotonicity {result['monotonicity']:.3f}, forward {result['forward_moves']:.3f}, "
            f"exact match {result['exact_match']:.3f}"
        )
    left.set(
        xlabel="training step", ylabel="dev monotonicity", ylim=(0, 1.02), title="dev: peaks that do not move backwards"
    )
    left.legend()
    x = range(len(names))
    width = 0.27
    right.bar([i - width for i in x], mono, width, label="monotonic")
    right.bar(list(x), forward, width, label="strictly forwards")
    right.bar([i + width for i in x], exact, width, label="exact match")
    right.set_xticks(list(x), names)
    right.set(ylim=(0, 1.02), ylabel="share", title="test (held-out voices), greedy")
    right.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    print(save_figure(fig, out, dpi=110))


if __name__ == "__main__":
    main()
