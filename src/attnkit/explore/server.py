"""Serving the explorer: a threaded WSGI server (werkzeug's), loopback by default."""

from __future__ import annotations

import ipaddress
import socket

from flask import Flask
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import make_server as _werkzeug_server

__all__ = ["make_server", "is_loopback", "LOOPBACK_NAMES"]

LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"]


def is_loopback(host: str) -> bool:
    """True if `host` is a loopback address or ``localhost`` (names are not resolved)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def make_server(app: Flask, host: str = "127.0.0.1", port: int = 0) -> BaseWSGIServer:
    """A threaded server for `app` bound to `host`:`port` (0: a free port; read it from
    ``server.server_port``). Call ``serve_forever()`` to serve and ``shutdown()`` to stop.

    Raises:
        OSError: if the address cannot be bound (port in use, unknown host).
    """
    try:
        return _werkzeug_server(host, port, app, threaded=True)
    except SystemExit:  # werkzeug exits when the port is taken; make that an ordinary error
        raise OSError(f"cannot bind {host}:{port}: the port is in use; pick another with --port") from None
    except socket.gaierror as err:
        raise OSError(f"cannot bind {host}:{port}: {err.strerror}") from None
