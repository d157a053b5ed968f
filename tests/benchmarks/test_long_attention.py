"""benchmarks/long_attention.py: the LSTM / GRU FLOP count against torch's counter on an unrolled cell,
the skip rules, the goal verdict, and a smoke run of the whole script (child processes, table, JSON,
plot) at tiny sizes."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import long_attention as la


@pytest.mark.parametrize("mech, cell", [("lstm", nn.LSTMCell), ("gru", nn.GRUCell)])
def test_rnn_flops_equal_torchs_count_of_the_unrolled_cell(mech, cell):
    b, t, d = 2, 5, 8
    spec = {"mech": mech, "mode": "causal", "batch": b, "d_model": d}
    rnn = cell(d, d)
    x = torch.randn(b, t, d, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        h = torch.zeros(b, d)
        c = torch.zeros(b, d)
        for i in range(t):
            if mech == "lstm":
                h, c = rnn(x[:, i], (h, c))
            else:
                h = rnn(x[:, i], h)
        h.sum().backward()
    # torch counts the gate matmuls (x W_ih^T, h W_hh^T) forward (2 B G h D_in) and backward (twice
    # that: the input's and the weight's gradient), except the first step's h0 W_hh^T, whose h0 needs
    # no gradient (one backward product, not two): the analytic count less that one product
    gates = 4 if mech == "lstm" else 3
    assert la._rnn_flops(spec, t) - 2 * b * gates * d * d == counter.get_total_flops()
    bidir = {**spec, "mode": "bidir"}  # two directions of width D / 2
    assert la._rnn_flops(bidir, t) == 3 * 2 * 2 * b * t * gates * (d // 2) * (d + d // 2)


class _Args:
    time_limit, mem_fraction = 100.0, 0.5


def test_a_case_is_skipped_when_its_extrapolated_time_or_memory_is_too_large():
    spec = {"mech": "sdpa", "t": 2048, "repeats": 3}
    prev = {"t": 1024, "time_s": 5.0, "peak_bytes": 2**20}
    assert "predicted 80 s" not in (la._predicted_skip(prev, spec, _Args, 2**40) or "")  # 5 * 4 * 4 = 80 s: runs
    assert la._predicted_skip(prev, spec, _Args, 2**40) is None
    slow = {**prev, "time_s": 7.0}  # 7 * 4 (T^2) * 4 runs = 112 s > 100 s
    assert "predicted 112 s" in la._predicted_skip(slow, spec, _Args, 2**40)
    linear = {**spec, "mech": "linear"}  # T^1: 7 * 2 * 4 = 56 s
    assert la._predicted_skip(slow, linear, _Args, 2**40) is None
    assert "GiB" in la._predicted_skip(prev, spec, _Args, 2**21)  # 4 MiB predicted > half of 2 MiB


def test_the_goal_needs_three_times_the_speed_and_a_tenth_of_the_memory_at_the_longest_dense_length():
    rows = [
        {"mech": "sdpa", "mode": "causal", "threads": 1, "t": 16384, "time_s": 9.0, "peak_bytes": 1000},
        {"mech": "window", "mode": "causal", "threads": 1, "t": 16384, "time_s": 3.0, "peak_bytes": 99},
        {"mech": "linear", "mode": "causal", "threads": 1, "t": 16384, "time_s": 2.0, "peak_bytes": 100},
        {"mech": "sdpa", "mode": "causal", "threads": 1, "t": 256, "time_s": 1.0, "peak_bytes": 1000},
        {"mech": "window", "mode": "causal", "threads": 1, "t": 256, "time_s": 0.1, "peak_bytes": 1},
    ]
    la._add_ratios(rows)
    goal = la._goal(rows)
    assert goal["t"] == 16384 and goal["met_by"] == ["window causal 1T"]  # linear's memory is exactly 0.1: not under
    assert rows[1]["speedup_vs_sdpa"] == 3.0 and rows[2]["memory_vs_sdpa"] == 0.1
    rows[1]["peak_bytes"] = 101
    for r in rows:
        r.pop("speedup_vs_sdpa", None)
    la._add_ratios(rows)
    assert la._goal(rows)["met_by"] == [] and "not met" in la._goal(rows)["text"]


@pytest.mark.slow  # a child process per case: ~20 s on an idle core, minutes on a loaded one
def test_a_quick_run_writes_the_table_the_json_and_the_plot(tmp_path):
    argv = ["--quick", "--threads", "1", "--mechanisms", "sdpa", "window", "nystrom", "--modes", "causal"]
    assert la.main([*argv, "--lengths", "32", "--long-lengths", "64", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "long_attention.json").read_text())
    rows = {(r["mech"], r["t"]): r for r in result["rows"]}
    assert set(rows) == {("sdpa", 32), ("sdpa", 64), ("window", 32), ("window", 64), ("nystrom", 0)}
    assert rows["nystrom", 0]["skipped"] == "no causal form"
    for key in (("sdpa", 32), ("sdpa", 64), ("window", 32), ("window", 64)):
        r = rows[key]
        assert r["time_s"] > 0 and r["peak_bytes"] >= 0 and r["flops"] > 0 and 0 < r["peak_fraction"]
    assert rows["sdpa", 32]["speedup_vs_sdpa"] == 1.0 and rows["window", 64]["memory_vs_sdpa"] > 0
    assert result["matmul_peak_flops"]["1"] > 0
    table = (tmp_path / "long_attention.md").read_text()
    assert "| 1 | causal | 32 | window |" in table and "skipped: no causal form" in table
    assert (tmp_path / "long_attention.png").read_bytes()[:4] == b"\x89PNG"
