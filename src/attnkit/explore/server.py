"""Serving the explorer: a threaded WSGI server (werkzeug's), loopback by default, bounded in
connections and in time.

:class:`ExplorerServer` is werkzeug's threaded server (one thread per connection; werkzeug closes
every connection after its answer, ``Connection: close``) with three bounds that a slow, idle or
misbehaving client cannot pass:

- at most :data:`MAX_CONNECTIONS` connections at once: one more is answered at once, on the
  accepting thread, with a JSON 503 and ``Retry-After`` and closed, so threads never pile up;
- the request line and headers must arrive within :data:`HEADER_TIMEOUT_S` seconds of the
  connection (in total, so a client that drips one byte at a time is cut off too);
- any later read or write (the body, the answer) waits at most :data:`IDLE_TIMEOUT_S` seconds
  for the client; what is left of a body after the answer (e.g. after a 413) is read for at
  most :data:`DRAIN_TIMEOUT_S` seconds, then the connection is closed.

A connection past a bound is closed; its thread ends.
"""

from __future__ import annotations

import io
import ipaddress
import json
import logging
import socket
import threading
import time
from typing import Any

from flask import Flask
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

__all__ = [
    "make_server",
    "is_loopback",
    "LOOPBACK_NAMES",
    "ExplorerServer",
    "MAX_CONNECTIONS",
    "HEADER_TIMEOUT_S",
    "IDLE_TIMEOUT_S",
    "DRAIN_TIMEOUT_S",
]

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"]

MAX_CONNECTIONS = 64
"""Most connections served at once (each has its own thread); one more gets a 503 and is closed."""

HEADER_TIMEOUT_S = 10.0
"""Seconds from a connection's start by which its request line and headers must have arrived."""

IDLE_TIMEOUT_S = 30.0
"""Most seconds one read of the body or one write of the answer waits for the client."""

DRAIN_TIMEOUT_S = 1.0
"""Most seconds spent reading what is left of a request's body once its answer is sent."""


def is_loopback(host: str) -> bool:
    """True if `host` is a loopback address or ``localhost`` (names are not resolved)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _DeadlineReader(io.RawIOBase):
    """The connection's socket as a raw stream whose reads wait until a deadline (the headers',
    then the drain's) or, with none, at most the idle timeout each."""

    def __init__(self, sock: socket.socket, idle: float) -> None:
        self.sock, self.idle = sock, idle
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        wait = self.idle
        if self.deadline is not None:
            wait = min(wait, self.deadline - time.monotonic())
            if wait <= 0:
                raise TimeoutError("the client took too long")
        self.sock.settimeout(wait)
        try:
            return self.sock.recv_into(buffer)
        finally:
            self.sock.settimeout(self.idle)  # writes wait the idle timeout


class _Handler(WSGIRequestHandler):
    """werkzeug's handler with the header deadline, the idle timeout and the bounded drain."""

    server: "ExplorerServer"

    def setup(self) -> None:
        self.request.settimeout(self.server.idle_timeout)  # any read or write waits at most this
        super().setup()
        self._reader = _DeadlineReader(self.connection, self.server.idle_timeout)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        self._reader.deadline = time.monotonic() + self.server.header_timeout
        super().handle_one_request()

    def parse_request(self) -> bool:
        ok = super().parse_request()
        self._reader.deadline = None  # headers read: the body's reads wait the idle timeout each
        return ok

    def end_headers(self) -> None:
        # the answer goes out now: what is left of the body is drained for a bounded time only
        self._reader.deadline = time.monotonic() + self.server.drain_timeout
        super().end_headers()

    def log_error(self, format: str, *args: Any) -> None:
        if args and isinstance(args[-1], TimeoutError):  # a slow or idle client, cut off: not an error of ours
            log.debug("explore: %s: %s", self.address_string(), format % args)
            return
        super().log_error(format, *args)


def _busy_answer(retry_after: int) -> bytes:
    body = json.dumps({"error": "the explorer is serving as many connections as it takes; retry in a moment"}).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Retry-After: {retry_after}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class ExplorerServer(ThreadedWSGIServer):
    """werkzeug's threaded WSGI server with a connection cap and timeouts (see the module).

    Attributes:
        max_connections: connections served at once.
        header_timeout, idle_timeout, drain_timeout: seconds (:data:`HEADER_TIMEOUT_S`,
            :data:`IDLE_TIMEOUT_S`, :data:`DRAIN_TIMEOUT_S`).
    """

    block_on_close = False  # Ctrl-C does not wait for the connections still open

    def __init__(
        self,
        host: str,
        port: int,
        app: Flask,
        *,
        max_connections: int = MAX_CONNECTIONS,
        header_timeout: float = HEADER_TIMEOUT_S,
        idle_timeout: float = IDLE_TIMEOUT_S,
        drain_timeout: float = DRAIN_TIMEOUT_S,
    ) -> None:
        if max_connections < 1 or min(header_timeout, idle_timeout, drain_timeout) <= 0:
            raise ValueError("max_connections must be >= 1 and the timeouts > 0 seconds")
        self.max_connections = max_connections
        self.header_timeout, self.idle_timeout, self.drain_timeout = header_timeout, idle_timeout, drain_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(host, port, app, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        """Answer a connection over the cap with a 503 on the accepting thread (a few bytes into
        the socket's send buffer, never waiting on the client) and close it."""
        try:
            request.settimeout(0)
            request.send(_busy_answer(1))
        except OSError:
            pass
        self.shutdown_request(request)


def make_server(
    app: Flask,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    max_connections: int = MAX_CONNECTIONS,
    header_timeout: float = HEADER_TIMEOUT_S,
    idle_timeout: float = IDLE_TIMEOUT_S,
    drain_timeout: float = DRAIN_TIMEOUT_S,
) -> ExplorerServer:
    """A threaded server for `app` bound to `host`:`port` (0: a free port; read it from
    ``server.server_port``); an IPv6 address (``::1``) binds an IPv6 socket. Call
    ``serve_forever()`` to serve and ``shutdown()`` to stop. The bounds are
    :class:`ExplorerServer`'s.

    Raises:
        OSError: if the address cannot be bound (port in use, unknown host).
    """
    try:
        return ExplorerServer(
            host.strip("[]"),
            port,
            app,
            max_connections=max_connections,
            header_timeout=header_timeout,
            idle_timeout=idle_timeout,
            drain_timeout=drain_timeout,
        )
    except SystemExit:  # werkzeug exits when the port is taken; make that an ordinary error
        raise OSError(f"cannot bind {host}:{port}: the port is in use; pick another with --port") from None
    except socket.gaierror as err:
        raise OSError(f"cannot bind {host}:{port}: {err.strerror}") from None
