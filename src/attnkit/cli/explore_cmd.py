"""``attnkit explore RUN [RUN ...] [--port N] [--host H] [--no-browser]``: a local web page that
shows where the runs' models look (:mod:`attnkit.explore`).

The runs are named here, on the command line, and nowhere else: the page names them by key (the
folder's name). The server binds 127.0.0.1 unless ``--host`` names another address, which is
warned about: anyone who can reach that address can then use the models.
"""

from __future__ import annotations

import argparse
import logging
import threading
import webbrowser

from .common import UserError, add_common, device_of

EPILOG = """examples:
  attnkit explore runs/demo/bahdanau runs/demo/none runs/demo/transformer
  attnkit explore runs/bible-transformer --port 8800 --no-browser"""

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN", help="trained run folders to explore")
    parser.add_argument("--port", type=int, default=8765, help="TCP port; 0 picks a free one (default: %(default)s)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default: %(default)s, this machine only); another address lets others use the models",
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open the page in a web browser")
    add_common(parser)


def serve_until_interrupted(server) -> None:
    """Serve until Ctrl-C."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopped")
    finally:
        server.server_close()


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be from 0 to 65535, got {args.port}", code=2)
    from ..explore import LOOPBACK_NAMES, RunRegistry, create_app, is_loopback, make_server  # Flask: only here

    args.host = args.host.strip("[]")  # an IPv6 address may come as [::1]

    registry = RunRegistry.load(args.runs, device=device_of(args))
    loopback = is_loopback(args.host)
    app = create_app(registry, trusted_hosts=LOOPBACK_NAMES if loopback else None)
    try:
        server = make_server(app, args.host, args.port)
    except OSError as err:
        raise UserError(str(err)) from None
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{server.server_port}/"
    if not loopback:
        log.warning(
            "warning: serving on %s, not only on this machine: anyone who can reach it can run the "
            "models (there is no login); use the default --host 127.0.0.1 unless you mean it",
            args.host,
        )
    if not getattr(args, "verbose", False):  # one log line per request only with -v
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    log.info("exploring %s at %s (Ctrl-C stops)", ", ".join(registry.keys()), url)
    if not args.no_browser:
        threading.Timer(0.5, webbrowser.open, [url]).start()
    serve_until_interrupted(server)
    return 0
