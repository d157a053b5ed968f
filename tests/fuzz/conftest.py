"""The fuzz suite's shared pieces: one tiny run trained once per session, a sandbox, and the
invariants every case must keep (issue 26)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from attnkit.cli import main

from ..explore.conftest import tiny_runs  # noqa: F401  (the session's tiny Bahdanau and Transformer runs)

REPO = Path(__file__).resolve().parents[2]
SECONDS_PER_CASE = 20.0  # bounded time: any case slower than this is a failure
MEMORY_PER_CASE_MB = 1500.0  # bounded memory: the peak of the process may not grow by more


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` (relative names)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    seconds: float


def run_cli(argv: list[str], cwd: Path) -> Outcome:
    """`attnkit.cli.main(argv)` in this process, in `cwd`, stdin empty, stdout/stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    old_cwd, old_stdin = Path.cwd(), sys.stdin
    start = time.perf_counter()
    try:
        import os

        os.chdir(cwd)
        sys.stdin = io.StringIO("")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        os.chdir(old_cwd)
        sys.stdin = old_stdin
    return Outcome(code, out.getvalue(), err.getvalue(), time.perf_counter() - start)


def assert_clean(outcome: Outcome, argv: list[str]) -> None:
    """Success, or a non-zero exit whose last stderr line is attnkit's one-line error (argparse's
    usage line may come before it); never a traceback; in bounded time."""
    where = f"argv={argv!r}\nstderr:\n{outcome.err[-3000:]}"
    assert "Traceback" not in outcome.err, where
    assert outcome.seconds < SECONDS_PER_CASE, where
    if outcome.code != 0:
        lines = [line for line in outcome.err.strip().splitlines() if line.strip()]
        assert lines, where
        last = lines[-1]
        assert last.startswith("attnkit") and ("error:" in last or last.endswith("interrupted")), where
        assert len(last) < 2000, where
