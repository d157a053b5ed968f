"""Fixtures shared with tests/explore."""

from ..explore.conftest import tiny_runs  # noqa: F401  (the session fixture, for test_explore_cmd)
