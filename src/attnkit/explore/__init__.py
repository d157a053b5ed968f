"""Layer 8 (docs/architecture.md), beside the CLI: ``attnkit explore``, a local web page over
trained run folders that shows where any model looks.

:func:`create_app` is a Flask app factory over runs named on the command line
(:class:`RunRegistry`); its JSON API (:mod:`attnkit.explore.app`) lists the runs, gives their
metadata and predicts with attention; the page (``static/``: HTML, JS and CSS shipped in the
package, no CDN) uses only that API. :func:`make_server` serves the app on a threaded WSGI
server (127.0.0.1 by default).
"""

from .app import LIMITS, Limits, create_app
from .runs import RunRegistry, run_keys
from .server import LOOPBACK_NAMES, is_loopback, make_server

__all__ = ["create_app", "Limits", "LIMITS", "RunRegistry", "run_keys", "make_server", "is_loopback", "LOOPBACK_NAMES"]
