"""attnkit.progress: log lines at a bounded interval off a terminal, an ETA that follows whichever
budget ends first, and the bar's ETA on a terminal (issue 31)."""

from __future__ import annotations

import logging

import pytest

from attnkit import progress as progress_mod
from attnkit.errors import ConfigError
from attnkit.progress import Progress


class Clock:
    """A fake time.perf_counter that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(progress_mod.time, "perf_counter", c)
    return c


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "attnkit.progress"]


def test_log_lines_come_at_most_once_per_interval(monkeypatch, clock, caplog):
    monkeypatch.setenv("ATTNKIT_PROGRESS", "log")
    monkeypatch.setenv("ATTNKIT_PROGRESS_INTERVAL", "5")
    caplog.set_level(logging.INFO, logger="attnkit.progress")
    bar = Progress(100, desc="decode", unit="sentence")
    for _ in range(23):  # one unit per second: lines at t = 5, 10, 15, 20
        clock.now += 1.0
        bar.update(1)
    assert len(_lines(caplog)) == 4
    bar.close()  # one closing line with the final counts
    lines = _lines(caplog)
    assert len(lines) == 5
    # 5 of 100 done after 5 s: 1 sentence/s, 95 s left
    assert lines[0] == "decode: 5/100 sentences (5%), 1.0 sentences/s, elapsed 00:05, ETA 01:35"
    assert lines[-1].startswith("decode: 23/100 sentences (23%)")


def test_quick_work_logs_nothing(monkeypatch, clock, caplog):
    monkeypatch.setenv("ATTNKIT_PROGRESS", "log")
    caplog.set_level(logging.INFO, logger="attnkit.progress")
    with Progress(10, desc="evaluate", unit="example") as bar:
        for _ in range(10):
            clock.now += 0.1
            bar.update(1)
    assert _lines(caplog) == []


def test_eta_follows_the_deadline_when_it_comes_first(monkeypatch, clock, caplog):
    """A run of max_steps = 100,000 that stops after max_minutes: the ETA counts to the minutes."""
    monkeypatch.setenv("ATTNKIT_PROGRESS", "log")
    monkeypatch.setenv("ATTNKIT_PROGRESS_INTERVAL", "10")
    caplog.set_level(logging.INFO, logger="attnkit.progress")
    bar = Progress(100_000, desc="train", unit="step", deadline=clock.now + 60.0)
    for _ in range(10):
        clock.now += 1.0
        bar.update(1)  # 1 step/s: 99,990 s to max_steps, 50 s to the deadline
    assert _lines(caplog)[-1].endswith("ETA 00:50")
    bar.set_postfix(loss="1.234")
    assert bar.line().endswith("ETA 00:50, loss 1.234")
    clock.now += 80.0  # past the deadline: 0 left, never negative
    assert "ETA 00:00" in bar.line()


def test_eta_follows_the_steps_when_they_come_first(monkeypatch, clock):
    monkeypatch.setenv("ATTNKIT_PROGRESS", "log")
    bar = Progress(20, desc="train", unit="step", deadline=clock.now + 3600.0)
    clock.now += 10.0
    bar.update(10)  # 1 step/s: 10 s to max_steps, an hour to the deadline
    assert bar.line().endswith("ETA 00:10")


def test_the_bar_on_a_terminal_shows_the_deadline_eta(monkeypatch, capsys):
    monkeypatch.setenv("ATTNKIT_PROGRESS", "bar")
    bar = Progress(1_000_000, desc="train", unit="step", deadline=progress_mod.time.perf_counter() + 90.0, delay=0)
    bar.update(5)
    eta = bar._bar.format_dict["budget_eta"]
    minutes, seconds = (int(x) for x in eta.split(":"))
    assert 60 <= 60 * minutes + seconds <= 90  # the 90-s deadline, not ~ the million steps
    bar.close()


def test_off_and_disabled_report_nothing(monkeypatch, clock, caplog):
    caplog.set_level(logging.INFO, logger="attnkit.progress")
    monkeypatch.setenv("ATTNKIT_PROGRESS_INTERVAL", "1")
    monkeypatch.setenv("ATTNKIT_PROGRESS", "off")
    a = Progress(5, desc="a")
    monkeypatch.setenv("ATTNKIT_PROGRESS", "log")
    b = Progress(5, desc="b", enabled=False)
    for bar in (a, b):
        clock.now += 10
        bar.update(1)
        bar.close()
    assert _lines(caplog) == []


@pytest.mark.parametrize("name, value", [("ATTNKIT_PROGRESS", "sometimes"), ("ATTNKIT_PROGRESS_INTERVAL", "-3")])
def test_bad_settings_are_one_line_errors(monkeypatch, name, value):
    monkeypatch.setenv("ATTNKIT_PROGRESS", "log")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        Progress(5, desc="x")
