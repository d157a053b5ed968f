"""Which explanation aligns best: AER against the manual Greek–English gold for raw attention and
every explanation beyond it (rollout, flow, norm, ALTI+, gradient-weighted), on the Greek → English
Transformers of the alignment study (docs/results/alignment-study.sh: unguided and guided, 1,000
steps), the reading (layer, head, link method, threshold, pooling) chosen on the 300 gold dev
verses, AER on the 1,000 gold test verses; eflomal beside.

Flow costs about 4 s a verse on one core (docs/results/explanations.md), so flow is chosen on the
first FLOW_DEV dev verses and scored on the first FLOW_TEST test verses, with every other
reading scored on the same subset beside it. Resumable: each (run, explanation, split) result is
a JSON file under runs/alignment/explain/, skipped when present.

    python docs/results/explanations_study.py            # both runs in parallel (one core each)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "corpora/alignments.SBLGNT-BSB"
RUNS = {
    "unguided": ROOT / "runs/alignment/grc-en-transformer",
    "guided": ROOT / "runs/alignment/grc-en-transformer-guided",
}
OUT = ROOT / "runs/alignment/explain"
METHODS = ("raw", "rollout", "norm", "alti", "grad", "flow")
FLOW_DEV, FLOW_TEST = 50, 150


def _attnkit(args: list[str], core: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = ["taskset", "-c", str(core), sys.executable, "-m", "attnkit.cli", *args, "--json"]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def _subset(split: str, n: int) -> list[str]:
    """The first n lines of a split's source, target and gold, as files; their paths as flags."""
    OUT.mkdir(parents=True, exist_ok=True)
    files = []
    for kind, name in (("--source", f"{split}.src"), ("--target", f"{split}.tgt"), ("--gold", f"{split}.gold.pharaoh")):
        path = OUT / f"{split}-first{n}.{name.split('.', 1)[1]}"
        if not path.is_file():
            lines = (CORPUS / name).read_text(encoding="utf-8").splitlines(keepends=True)[:n]
            path.write_text("".join(lines), encoding="utf-8")
        files += [kind, str(path)]
    return files


def _reading(best: dict) -> list[str]:
    return [
        "--layer", str(best["layer"]), "--head", str(best["head"]), "--method", best["method"],
        "--threshold", str(best["threshold"]), "--pool", best["source_pool"],
    ]  # fmt: skip


def _cached(path: Path, make) -> dict:
    if path.is_file():
        return json.loads(path.read_text())
    result = make()
    path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def study(label: str, run: Path, core: int) -> dict:
    """Dev choice and test AER of every method on one run (full splits; flow on the subsets)."""
    results = {}
    for method in METHODS:
        explain = [] if method == "raw" else ["--explain", method]
        base = ["evaluate", "--model", str(run), *explain]
        dev_files = _subset("dev", FLOW_DEV) if method == "flow" else []
        test_sets = (
            {"subset": _subset("test", FLOW_TEST)}
            if method == "flow"
            else {"full": ["--gold", str(CORPUS / "test.gold.pharaoh")], "subset": _subset("test", FLOW_TEST)}
        )
        dev_args = [*base, "--split", "dev", "--choose", *dev_files]
        choice = _cached(OUT / f"{label}-{method}-dev.json", lambda: _attnkit(dev_args, core))
        best = choice["best"]
        for name, files in test_sets.items():
            results[(method, name)] = _cached(
                OUT / f"{label}-{method}-test-{name}.json", lambda: _attnkit([*base, *files, *_reading(best)], core)
            ) | {"reading": best}
        print(f"{label} {method} done", flush=True)
    return results


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(2) as pool:
        futures = {label: pool.submit(study, label, run, core) for core, (label, run) in enumerate(RUNS.items())}
        results = {label: f.result() for label, f in futures.items()}
    eflomal = {
        "full": _attnkit(["evaluate", "--links", str(CORPUS / "test.eflomal.pharaoh"), "--gold",
                          str(CORPUS / "test.gold.pharaoh")], 0),
    }  # fmt: skip
    subset_links = OUT / f"test-first{FLOW_TEST}.eflomal.pharaoh"
    subset_links.write_text(
        "".join((CORPUS / "test.eflomal.pharaoh").read_text().splitlines(keepends=True)[:FLOW_TEST])
    )
    eflomal["subset"] = _attnkit(
        ["evaluate", "--links", str(subset_links), "--gold", str(OUT / f"test-first{FLOW_TEST}.gold.pharaoh")], 0
    )
    summary = {label: {f"{m}/{s}": r for (m, s), r in res.items()} for label, res in results.items()} | {
        "eflomal": eflomal
    }
    (ROOT / "docs/results/explanations-aer.json").write_text(json.dumps(summary, indent=1) + "\n")
    for label, res in results.items():
        print(f"\n{label}")
        for (method, name), r in sorted(res.items()):
            b = r["reading"]
            print(
                f"| {method} | {name} | layer {b['layer']}, head {b['head']}, {b['method']} {b['threshold']}, "
                f"{b['source_pool']} | {r['aer']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} |"
            )
    for name, r in eflomal.items():
        print(f"eflomal {name}: AER {r['aer']:.3f} P {r['precision']:.3f} R {r['recall']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
