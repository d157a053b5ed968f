"""The API reference builds from the docstrings (pdoc, as ``make api-docs`` runs it, on the
modules of the Python API here; CI builds every module with ``make api-docs``): no import failure,
no pdoc warning but those about annotations it cannot evaluate, and the API's entry points are
on their pages with their docstrings."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("pdoc")

MODULES = ["attnkit", "attnkit.training.run", "attnkit.notebook", "attnkit.registry", "attnkit.decoding.options"]


def test_the_api_reference_builds_with_the_makefiles_flags(tmp_path):
    flags = ["-W", "error::UserWarning", "-W", "ignore:Error parsing type annotation:UserWarning"]
    out = tmp_path / "api-docs"
    cmd = [sys.executable, *flags, "-m", "pdoc", "--docformat", "google", "--no-show-source", "-o", str(out), *MODULES]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    run_page = (out / "attnkit" / "training" / "run.html").read_text(encoding="utf-8")
    assert 'id="Run.predict"' in run_page and 'id="load_run"' in run_page and "n-best list" in run_page
    assert 'id="show"' in (out / "attnkit" / "notebook.html").read_text(encoding="utf-8")
    assert "attnkit.tasks" in (out / "attnkit" / "registry.html").read_text(encoding="utf-8")  # the entry points
    # a module that does not import fails the build
    bad = subprocess.run([*cmd[: -len(MODULES)], "attnkit.no_such_module"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0
