"""A bounded load test on loopback: 8 clients x 50 requests against the real threaded server;
no error and no lost or crossed answer (a request to a run busy for over a second is answered
503 with Retry-After, and the client retries); and light requests answered while a heavy one
runs among idle and slow clients."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from attnkit.explore import create_app, make_server

INPUTS = [("3. Mai 1979", "de_DE"), ("May 3, 1979", "en_US"), ("24.12.2001", "de_DE"), ("July 4, 1976", "en_US")]
CLIENTS, REQUESTS = 8, 50
IDLE_CLIENTS, LIGHT_REQUESTS = 40, 10
# the slowest light request allowed: 0.2 s on a quiet machine; a shared CI machine may set more
LIGHT_MAX_S = float(os.environ.get("ATTNKIT_LIGHT_MAX_S", "0.2"))


def test_eight_clients_fifty_requests_each(registry):
    expected = {
        key: {
            text: registry[key].run.task.translate(registry[key].run.model, [(text, loc)])[0].output
            for text, loc in INPUTS
        }
        for key in registry.keys()
    }
    server = make_server(create_app(registry), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/api/runs/%s/predict"

    retried = []

    def client(c: int) -> list[tuple[str, str, int, dict]]:
        out = []
        for i in range(REQUESTS):
            key = registry.keys()[(c + i) % 2]
            text, loc = INPUTS[(c * 7 + i) % len(INPUTS)]
            body = json.dumps({"input": text, "options": {"locale": loc}, "layers": False}).encode()
            req = urllib.request.Request(url % key, data=body, headers={"Content-Type": "application/json"})
            for _ in range(20):
                try:
                    with urllib.request.urlopen(req, timeout=60) as response:
                        out.append((key, text, response.status, json.loads(response.read())))
                    break
                except urllib.error.HTTPError as err:
                    if err.code != 503:
                        raise
                    retried.append(key)
                    time.sleep(float(err.headers["Retry-After"]) / 10)  # the run was busy: retry
        return out

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = [a for batch in pool.map(client, range(CLIENTS)) for a in batch]
    finally:
        server.shutdown()
        thread.join(10)
    print(f"{CLIENTS} x {REQUESTS} requests: {len(retried)} answered 503 (busy run) and retried")
    assert len(answers) == CLIENTS * REQUESTS
    for key, text, status, body in answers:
        assert status == 200 and body["run"] == key and body["input"] == text
        assert body["hypotheses"][0]["output"] == expected[key][text]


def test_light_requests_answer_while_a_heavy_one_runs_among_idle_and_slow_clients(registry, monkeypatch):
    """A heavy request holds the transformer run for about 1.5 s of CPU; meanwhile idle clients,
    clients sending half a header, an oversized request (413) and requests to the busy run (503,
    Retry-After) come and go, and light requests to the other run keep answering within 0.2 s."""
    heavy_and_light(registry, monkeypatch, IDLE_CLIENTS, LIGHT_REQUESTS, 1.5)


@pytest.mark.slow
def test_light_requests_answer_while_a_heavy_one_runs_longer_setting(registry, monkeypatch):
    heavy_and_light(registry, monkeypatch, 60, 200, 10.0)


def heavy_and_light(registry, monkeypatch, n_idle: int, n_light: int, heavy_s: float) -> None:
    from attnkit.explore import Limits

    task = registry["transformer"].run.task
    real_predict = task.predict

    def heavy(*args, **kwargs):
        a = torch.randn(400, 400)
        end = time.monotonic() + heavy_s
        while time.monotonic() < end:
            a = torch.tanh(a @ a)  # CPU work; releases the GIL as a model does
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(task, "predict", heavy)
    app = create_app(registry, limits=Limits(max_cells=3000, lock_wait_s=0.1))
    before = threading.active_count()
    server = make_server(app, "127.0.0.1", 0, max_connections=64, header_timeout=1.0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_port
    url = f"http://127.0.0.1:{port}/api/runs/%s/predict"

    def post(key: str, **body) -> tuple[int, dict, dict, float]:
        start = time.perf_counter()
        data = json.dumps({"input": "3. Mai 1979", "options": {"locale": "de_DE"}, "layers": False, **body}).encode()
        req = urllib.request.Request(url % key, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                status, headers, answer = response.status, dict(response.headers), json.loads(response.read())
        except urllib.error.HTTPError as err:
            status, headers, answer = err.code, dict(err.headers), json.loads(err.read())
        return status, headers, answer, time.perf_counter() - start

    try:
        post("bahdanau")  # warm
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(n_idle)]
        for sock in idle[: n_idle // 2]:
            sock.sendall(b"GET /api/runs HTTP/1.1\r\nHost: local")  # half a header, then nothing
        heavy_answer: list = []
        worker = threading.Thread(target=lambda: heavy_answer.append(post("transformer")))
        worker.start()
        time.sleep(0.3)  # the heavy request holds the run
        busy = post("transformer")
        oversized = post("transformer", beam_size=16)
        light = [post("bahdanau") for _ in range(n_light)]
        threads_during = threading.active_count()
        assert worker.is_alive()  # the light requests were answered while the heavy one ran
        worker.join(heavy_s + 30)
        time.sleep(1.5)  # past the header timeout
        reopened = [sock.recv(1) for sock in idle]  # b"": closed by the server
    finally:
        server.shutdown()
        thread.join(10)
    assert heavy_answer[0][0] == 200
    assert busy[0] == 503 and int(busy[1]["Retry-After"]) >= 1 and busy[3] < 1.0
    assert oversized[0] == 413 and "'beam_size'" in oversized[2]["error"] and oversized[3] < 1.0
    assert all(status == 200 for status, *_ in light)
    times = sorted(t for *_, t in light)
    print(f"light requests while heavy: median {times[len(times) // 2] * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms")
    assert times[len(times) // 2] < 0.2 and times[-1] < LIGHT_MAX_S
    assert threads_during <= before + 2 + 64 and reopened == [b""] * n_idle
