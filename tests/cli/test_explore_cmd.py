"""``attnkit explore``: loopback by default, a warning for another host, the browser opened
unless --no-browser, one-line errors; and a real server started by the command."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from attnkit.cli import explore_cmd, main
from attnkit.explore import is_loopback


@pytest.fixture()
def served(monkeypatch):
    """Stop before serving: record the bound server and the pages the browser was asked to open."""
    seen = {"opened": []}

    def fake_serve(server):
        seen["address"] = server.server_address
        seen["app"] = server.app
        server.server_close()

    monkeypatch.setattr(explore_cmd, "serve_until_interrupted", fake_serve)
    monkeypatch.setattr(explore_cmd.webbrowser, "open", lambda url: seen["opened"].append(url))
    monkeypatch.setattr(
        explore_cmd.threading, "Timer", lambda delay, fn, args: type("T", (), {"start": lambda self: fn(*args)})()
    )
    return seen


def test_binds_loopback_and_opens_the_browser(tiny_runs, served, capsys):
    assert main(["explore", str(tiny_runs["bahdanau"]), str(tiny_runs["transformer"]), "--port", "0"]) == 0
    host, port = served["address"][:2]
    assert host == "127.0.0.1" and port > 0
    assert served["opened"] == [f"http://127.0.0.1:{port}/"]
    err = capsys.readouterr().err  # main() logs to stderr
    assert "exploring bahdanau, transformer" in err and "warning" not in err
    client = served["app"].test_client()
    assert client.get("/api/runs", headers={"Host": "evil.example"}).status_code == 400  # DNS rebinding refused


def test_another_host_is_warned_about_and_no_browser_opens(tiny_runs, served, capsys):
    assert main(["explore", str(tiny_runs["bahdanau"]), "--port", "0", "--host", "0.0.0.0", "--no-browser"]) == 0
    assert served["address"][0] == "0.0.0.0" and served["opened"] == []
    assert "warning: serving on 0.0.0.0, not only on this machine" in capsys.readouterr().err


def test_loopback_names():
    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "192.168.1.2", "example.org", "::"]))


def test_bad_runs_and_ports_fail_in_one_line(tmp_path, capsys):
    assert main(["explore", str(tmp_path / "missing"), "--no-browser"]) == 1
    err = capsys.readouterr().err
    assert "not found" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert main(["explore", str(tmp_path), "--port", "70000", "--no-browser"]) == 2
    assert "--port must be from 0 to 65535" in capsys.readouterr().err


def test_the_command_serves_the_api(tiny_runs):
    proc = subprocess.Popen(
        [sys.executable, "-m", "attnkit.cli", "explore", str(tiny_runs["bahdanau"]), "--port", "0", "--no-browser"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        line = ""
        while "exploring" not in line:
            line = proc.stderr.readline()
            assert line, "the command exited before serving"
        url = line.rsplit(" at ", 1)[1].split()[0]
        with urllib.request.urlopen(url + "api/runs", timeout=30) as response:
            assert [r["key"] for r in json.loads(response.read())["runs"]] == ["bahdanau"]
    finally:
        proc.terminate()
        proc.wait(10)
