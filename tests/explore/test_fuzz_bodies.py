"""Explorer request bodies fuzzed (issue 26): any JSON body, with the request's real field names
holding values of any type, nested or not, and raw bytes that are not JSON, get a JSON answer
that is a success or a 4xx with a one-line ``error`` (or a 503 for a busy run), never a 500, in
bounded time. 80 cases by default; 2,000 with ``-m slow``."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attnkit.decoding import option_fields

FIELDS = ["input", "options", "layers", "image", "audio", "focus", "out_tokens", *(f.name for f in option_fields())]
SECONDS_PER_CASE = 20.0

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=60)
    | st.sampled_from(["", "3 May 1979", "5/3/79", "de_DE", "mean", "exact", "bf16", "AAAA", "\ud800x"])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
bodies = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), values, max_size=6)


def _check(response) -> None:
    assert response.status_code < 500 or response.status_code == 503, (response.status_code, response.data[:300])
    assert response.content_type == "application/json", response.data[:200]
    answer = json.loads(response.data)
    if response.status_code >= 400:
        assert isinstance(answer.get("error"), str) and "\n" not in answer["error"], answer


def _fuzz(client, n: int) -> None:
    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies, run=st.sampled_from(["bahdanau", "transformer"]), route=st.sampled_from(["predict", "layers"]))
    def case(body, run, route):
        start = time.perf_counter()
        try:
            data = json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")
        except (ValueError, OverflowError):
            data = repr(body).encode("utf-8", "surrogatepass")  # not JSON at all
        _check(client.post(f"/api/runs/{run}/{route}", data=data, content_type="application/json"))
        assert time.perf_counter() - start < SECONDS_PER_CASE

    case()


def test_fuzz_request_bodies(client):
    _fuzz(client, 80)


@pytest.mark.slow
def test_fuzz_request_bodies_long(client):
    _fuzz(client, 2000)
