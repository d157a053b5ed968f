"""The explorer's server bounded in connections and time (issue 26): idle clients and clients that
send half a header, or drip it, are closed after the header timeout; connections over the cap get
a 503 at once and no thread; a connection is closed after a 413 instead of waiting for the rest
of the body; ``--host ::1`` serves, with its ``Host: [::1]:PORT``."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from contextlib import contextmanager

import pytest

from attnkit.explore import LOOPBACK_NAMES, create_app, make_server

DATE, LOCALE = "3. Mai 1979", "de_DE"


@contextmanager
def serving(app, host="127.0.0.1", **bounds):
    server = make_server(app, host, 0, **bounds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(10)


def connect(server, timeout=5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.server_port), timeout=timeout)
    return sock


def closed_after(sock: socket.socket, limit: float) -> float | None:
    """Seconds until the server closes `sock` (reading and dropping what it sends), or None if
    it is still open after `limit` seconds."""
    start = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(65536):
            pass
    except socket.timeout:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - start


def answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP answer until the server closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def test_idle_and_slow_clients_are_closed_after_the_header_timeout(registry):
    with serving(create_app(registry), header_timeout=0.5, idle_timeout=5.0) as server:
        idle = [connect(server) for _ in range(3)]
        half = [connect(server) for _ in range(3)]
        for sock in half:
            sock.sendall(b"POST /api/runs/bahdanau/predict HTTP/1.1\r\nHost: loc")
        drip = connect(server)

        def dripping():
            try:
                for byte in b"GET /api/runs HTTP/1.1\r\nHost: localhost\r\n\r\n":
                    drip.sendall(bytes([byte]))
                    time.sleep(0.1)
            except OSError:
                pass  # closed by the server: what this test wants

        threading.Thread(target=dripping, daemon=True).start()
        waits = [closed_after(sock, 5.0) for sock in [*idle, *half, drip]]
        assert all(w is not None and w < 2.0 for w in waits), waits
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/api/runs", timeout=10) as response:
            assert response.status == 200  # the server still answers


def test_connections_over_the_cap_get_a_503_and_no_thread(registry):
    cap, extra = 8, 40
    before = threading.active_count()
    with serving(create_app(registry), max_connections=cap, header_timeout=1.0) as server:
        held = [connect(server) for _ in range(cap)]
        time.sleep(0.2)
        over = [connect(server) for _ in range(extra)]
        statuses = []
        for sock in over:
            status, headers, body = answer(sock)
            statuses.append(status)
            assert headers["retry-after"] == "1" and "as many connections" in json.loads(body)["error"]
        assert statuses == [503] * extra
        assert threading.active_count() <= before + 1 + cap + 2  # the serving thread, one per connection, slack
        assert all(closed_after(sock, 5.0) is not None for sock in held)
        time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/api/runs", timeout=10) as response:
            assert response.status == 200  # slots are given back
    for sock in held + over:
        sock.close()


def test_a_413_answer_closes_the_connection_without_the_rest_of_the_body(registry):
    with serving(create_app(registry), idle_timeout=30.0, drain_timeout=0.5) as server:
        sock = connect(server, timeout=10.0)
        sock.sendall(
            b"POST /api/runs/bahdanau/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 4000000\r\n\r\n" + b"[" * 100_000
        )  # the rest of the 4 MB never comes
        start = time.monotonic()
        status, headers, body = answer(sock)
        assert status == 413 and headers["connection"] == "close" and "over" in json.loads(body)["error"]
        assert time.monotonic() - start < 5.0  # closed after the drain timeout, not the idle one
        sock.close()


def test_an_ipv6_loopback_server_answers_its_host_header(registry):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        pytest.skip("::1 cannot be bound here")
    with serving(create_app(registry, trusted_hosts=LOOPBACK_NAMES), "::1") as server:
        assert server.address_family == socket.AF_INET6
        url = f"http://[::1]:{server.server_port}/api/runs/bahdanau/predict"
        body = json.dumps({"input": DATE, "options": {"locale": LOCALE}}).encode()
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:  # Host: [::1]:PORT
            assert response.status == 200 and json.loads(response.read())["run"] == "bahdanau"
        headers = {"Content-Type": "application/json", "Host": "x.example"}
        refused = urllib.request.Request(url, data=body, headers=headers)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(refused, timeout=30)
        assert err.value.code == 400


@pytest.mark.slow
def test_two_thousand_idle_clients_hold_no_more_threads_than_the_cap(registry):
    """The issue's 2,000 idle sockets (2,002 threads before): at most the cap of threads, the
    rest answered 503 at once, all closed after the header timeout; then the server answers."""
    before = threading.active_count()
    with serving(create_app(registry), header_timeout=2.0) as server:
        socks = [connect(server, timeout=30.0) for _ in range(2000)]
        time.sleep(0.5)
        during = threading.active_count()
        waits = [closed_after(sock, 10.0) for sock in socks]
        assert during <= before + 1 + 64 + 2, during
        assert all(w is not None for w in waits)
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/api/runs", timeout=10) as response:
            assert response.status == 200
    for sock in socks:
        sock.close()


@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_the_command_serves_on_ipv6_loopback(tiny_runs, monkeypatch, capsys, host):
    """``attnkit explore RUN --host ::1``: bound to an IPv6 socket, the page's own requests (Host
    ``[::1]:PORT``) answered, a rebinding Host refused."""
    from attnkit.cli import explore_cmd, main

    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    seen = {}

    def serve_a_little(server):
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://[::1]:{server.server_port}/api/runs"
            with urllib.request.urlopen(url, timeout=30) as response:
                seen["status"] = response.status
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(urllib.request.Request(url, headers={"Host": "evil.example"}), timeout=30)
            seen["rebinding"] = err.value.code
        finally:
            server.shutdown()
            thread.join(10)

    monkeypatch.setattr(explore_cmd, "serve_until_interrupted", serve_a_little)
    assert main(["explore", str(tiny_runs["bahdanau"]), "--host", host, "--port", "0", "--no-browser"]) == 0
    assert seen == {"status": 200, "rebinding": 400}
    err = capsys.readouterr().err
    assert "http://[::1]:" in err and "warning" not in err  # loopback: no warning


def test_a_request_without_a_host_header_is_answered(registry):
    """HTTP/1.0 without ``Host`` (no browser sends that, so no DNS rebinding): answered."""
    with serving(create_app(registry, trusted_hosts=LOOPBACK_NAMES)) as server:
        sock = connect(server)
        sock.sendall(b"GET /api/runs HTTP/1.0\r\n\r\n")
        status, _, body = answer(sock)
        assert status == 200 and json.loads(body)["runs"]
        sock.close()
