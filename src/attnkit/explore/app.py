"""The explorer's Flask app: the page and its JSON API.

Routes (every answer of ``/api/`` is JSON, errors included: ``{"error": "..."}`` with a 4xx or
5xx status, never a traceback page):

- ``GET /``: the page (``static/index.html``; its scripts and styles are served from
  ``/static/``, nothing from elsewhere: the Content-Security-Policy allows only this origin).
- ``GET /api/runs``: ``{"runs": [metadata, ...], "limits": {...}}`` in command-line order.
- ``GET /api/runs/KEY``: one run's metadata (task, model label, options and their choices,
  whether it decodes, has layer x head maps, its number of heads, its best dev metric).
- ``GET /api/runs/KEY/examples?n=N``: up to N (<= 200) of the run's test examples
  (``text``, ``locale``, ``target``), for tasks that save them.
- ``POST /api/runs/KEY/predict`` with ``{"input": TEXT, "options": {KEY: VALUE}, "layers": BOOL}``
  and any field of :class:`attnkit.decoding.DecodeOptions` (``beam_size``, ``n_best`` (default:
  the beam size), ``alpha``, ``beta``, ``stop``, ``max_len``, ...; all but ``input`` optional;
  an image task takes ``"image": BASE64`` instead of ``input``, a speech task ``"audio":
  BASE64``, a WAV file; ``"focus": {"layer": L}`` names the part of a large prediction the page
  shows, for a view that sends a part (a self-attention prediction: the layer sent whole)): for a
  sequence task ``{"kind": "seq2seq",
  "src_tokens", "hypotheses": [{"name", "output", "out_tokens", "score", "weights"}], "layers",
  "gold", "elapsed_ms"}`` (one decoding: "greedy" for beam 1, else the beam's n-best "beam 1",
  "beam 2", ...); weights are per head (Nh, To, Tk) or (To, Tk), layers (L, Nh, Tq, Tk) for
  ``cross``, ``encoder_self``, ``decoder_self``; every matrix travels as
  ``{"shape", "dtype": "float32", "base64"}`` (:func:`attnkit.explore.payload.matrix`);
  for other tasks ``{"kind": KIND, "output", "view", "script", "fields"}``
  (:func:`attnkit.explore.payload.generic_payload`): the prediction's kind and the JSON of its
  view (:data:`attnkit.viz.views.VIEWS`), e.g. for an image the picture, its attention maps, the
  non-local query pixel (the option ``query=ROW,COL`` picks it), a spatial transformer's output
  and sampling frame; for a recording its spectrogram and the attention over its time; for a
  graph node its neighbours and per-layer (K, Nh) edge weights.
- ``GET /views/KIND.js``: the drawing code of a registered kind's view, for a kind whose view
  brings its own (``View.script``); the page loads it when an answer of that kind names it.
- ``POST /api/runs/KEY/layers`` with ``{"input", "options", "out_tokens"}``: the layer x head maps
  of a teacher-forced pass over that output (Transformers), ``{"layers", "layers_note"}``; the
  page asks for them after drawing the alignment, so that a long input's heatmap is not held up
  by its (Tk x Tk) encoder maps.

Runs are named on the command line only: a request names one by its key.

Every client mistake is a 4xx JSON answer: a body that is not JSON, nested deeper than
``max_json_depth`` or holding text that is not Unicode (a lone surrogate such as ``"\\ud800"``)
is a 400; a request whose answer could pass ``max_cells`` numbers (estimated before computing),
an image of more than ``max_image_pixels`` pixels, a recording longer than the run declares or
``max_audio_seconds`` is a 413; a request to a run busy with another for over ``lock_wait_s``
seconds is a 503 with ``Retry-After``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

from flask import Flask, Response, jsonify, request, send_from_directory
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from ..decoding import DecodeOptionError, DecodeOptions, option_fields
from ..errors import InputError
from .payload import TooLarge, layers_payload, predict_payload, view_script
from .runs import Busy, RunRegistry, UnknownRun

__all__ = ["create_app", "Limits", "LIMITS", "check_request", "check_layers_request", "RequestError"]

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may ask.

    Attributes:
        max_body_bytes: largest request body, bytes (an uploaded image travels in it, base64).
        max_input_chars: longest text input, characters (the task's own limit, e.g. a model's
            ``max_source_len`` in tokens, applies too).
        max_beam: largest beam size (and n-best).
        max_output_tokens: the most output tokens a request may ask for (``max_len``) or send
            (a layers request's ``out_tokens``).
        max_cells: most numbers (matrix cells) in one answer; layer maps beyond it are left out.
        max_image_bytes: largest uploaded image file, bytes.
        max_audio_bytes: largest uploaded sound file (WAV), bytes; its base64 text must also
            fit in `max_body_bytes` (640 KiB is 20 s of 16 kHz 16-bit mono).
        max_image_pixels: most pixels (width x height) of an uploaded image, read from its
            header before it is decoded (4096 x 4096; a decompression bomb is refused, 413).
        max_audio_seconds: longest uploaded recording, seconds, read from its header before it
            is decoded (413); a run's task may declare less (``max_seconds``: spoken words 30 s,
            spoken dates its ``data.max_seconds``, 12 s by default); its sample rate must be 1 to
            192 kHz (:data:`attnkit.data.audio.MIN_SAMPLE_RATE`).
        max_json_depth: deepest nesting of arrays and objects in a request body (a valid request
            nests 2 deep); a body nested past the JSON parser's recursion limit is refused too.
        lock_wait_s: most seconds a request waits for its run while the run computes another;
            then it is answered 503 with ``Retry-After``.
    """

    max_body_bytes: int = 1 << 20
    max_input_chars: int = 20_000
    max_beam: int = 16
    max_output_tokens: int = 4096
    max_cells: int = 6_000_000
    max_image_bytes: int = 512 << 10
    max_audio_bytes: int = 640 << 10
    max_image_pixels: int = 4096 * 4096
    max_audio_seconds: float = 30.0
    max_json_depth: int = 32
    lock_wait_s: float = 1.0


LIMITS = Limits()
_DECODE_FIELDS = tuple(f.name for f in option_fields() if f.metadata["serve"])  # DecodeOptions' a request may set
_FIELDS = {"input", "options", "layers", "image", "audio", "focus", *_DECODE_FIELDS}


class RequestError(ValueError):
    """A malformed predict request (answered 400 with its message)."""


def check_request(body: Any, limits: Limits) -> dict[str, Any]:
    """The predict request with defaults filled in; its decoding fields become one
    :class:`~attnkit.decoding.DecodeOptions` under ``"decode"`` (``n_best`` defaults to the beam
    size: the page shows the whole beam).

    Raises:
        RequestError: for a body that is not a JSON object, an unknown field, a field of the
            wrong type or out of range (a beam over ``limits.max_beam``), or an input over
            ``limits.max_input_chars``.
    """
    if not isinstance(body, dict):
        raise RequestError(
            'the body must be a JSON object such as {"input": "3. Mai 1979", "options": {"locale": "de_DE"}}'
        )
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise RequestError(f"unknown field {unknown[0]!r}; valid fields: {', '.join(sorted(_FIELDS))}")
    out = {
        "input": body.get("input", ""),
        "options": body.get("options", {}),
        "image": body.get("image"),
        "audio": body.get("audio"),
        "layers": body.get("layers", True),
    }
    if not isinstance(out["input"], str):
        raise RequestError("'input' must be a string")
    if len(out["input"]) > limits.max_input_chars:
        raise RequestError(
            f"'input' is {len(out['input'])} characters long; this explorer takes at most {limits.max_input_chars}"
        )
    if out["image"] is not None and not isinstance(out["image"], str):
        raise RequestError("'image' must be a base64 string")
    if out["audio"] is not None and not isinstance(out["audio"], str):
        raise RequestError("'audio' must be a base64 string (a WAV file)")
    if out["image"] is not None and out["audio"] is not None:
        raise RequestError("send either 'image' or 'audio', not both")
    opts = out["options"]
    if not isinstance(opts, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in opts.items()):
        raise RequestError('\'options\' must be an object of strings, e.g. {"locale": "de_DE"}')
    focus = body.get("focus", {})
    if not isinstance(focus, dict) or not all(
        isinstance(k, str) and isinstance(v, (str, int)) and not isinstance(v, bool) for k, v in focus.items()
    ):
        raise RequestError("'focus' must be an object of strings or integers, e.g. {\"layer\": 3}")
    out["focus"] = focus
    out["decode"] = decode_request(body, limits)
    if not isinstance(out["layers"], bool):
        raise RequestError("'layers' must be true or false")
    return out


def decode_request(body: dict[str, Any], limits: Limits) -> DecodeOptions:
    """The request's decoding fields as :class:`~attnkit.decoding.DecodeOptions` (the defaults
    for those not given; ``n_best`` defaults to ``beam_size``).

    Raises:
        RequestError: naming the field, for a value :class:`DecodeOptions` refuses or a beam or
            n-best over ``limits.max_beam``.
    """
    given = {name: body[name] for name in _DECODE_FIELDS if name in body}
    if "beam_size" in given and "n_best" not in given and isinstance(given["beam_size"], int):
        given["n_best"] = given["beam_size"]
    for name in ("beam_size", "n_best"):
        value = given.get(name, 1)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limits.max_beam:
            raise RequestError(f"'{name}' must be an integer from 1 to {limits.max_beam}, got {value!r}")
    max_len = given.get("max_len")
    if isinstance(max_len, int) and max_len > limits.max_output_tokens:
        raise RequestError(f"'max_len' must be at most {limits.max_output_tokens}, got {max_len}")
    try:
        return DecodeOptions(**given)
    except DecodeOptionError as err:
        raise RequestError(f"'{err.field}': {err}" if err.field else str(err)) from None


def check_layers_request(body: Any, limits: Limits) -> dict[str, Any]:
    """A layers request: input and options as :func:`check_request` takes them, and
    ``out_tokens``, a list of at most ``limits.max_output_tokens`` strings.

    Raises:
        RequestError: for anything else.
    """
    if not isinstance(body, dict):
        raise RequestError('the body must be a JSON object {"input": ..., "options": ..., "out_tokens": [...]}')
    tokens = body.get("out_tokens")
    most = limits.max_output_tokens
    if not isinstance(tokens, list) or not 1 <= len(tokens) <= most or not all(isinstance(t, str) for t in tokens):
        raise RequestError(f"'out_tokens' must be a list of 1 to {most} strings (a hypothesis' out_tokens)")
    rest = {k: v for k, v in body.items() if k != "out_tokens"}
    unknown = sorted(set(rest) - {"input", "options"})
    if unknown:
        raise RequestError(f"unknown field {unknown[0]!r}; valid fields: input, options, out_tokens")
    return {**check_request(rest, limits), "out_tokens": tokens}


def _error(message: str, status: int) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def json_depth(value: Any) -> int:
    """The deepest nesting of arrays and objects in a parsed JSON value (a scalar: 0), walked
    without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            stack += [(v, depth + 1) for v in (item.values() if isinstance(item, dict) else item)]
    return deepest


def _not_unicode(value: Any) -> str | None:
    """The first string in `value` (keys included) that holds a lone surrogate, else None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return item
    return None


def read_json_body(data: bytes, limits: Limits) -> Any:
    """The JSON value of a request body, checked: nested at most ``limits.max_json_depth`` deep,
    its strings valid Unicode (no lone surrogate).

    Raises:
        RequestError: for a body that is not UTF-8 JSON, nests too deep (deeper than the parser
            recurses, about 1000 levels, or than the limit) or holds a lone surrogate.
    """
    too_deep = RequestError(
        f"the body nests arrays and objects more than {limits.max_json_depth} deep; a request is a flat "
        'object such as {"input": "3. Mai 1979", "options": {"locale": "de_DE"}}'
    )
    try:
        body = json.loads(data)
    except RecursionError:
        raise too_deep from None
    except ValueError:
        raise RequestError("the body must be JSON (Content-Type: application/json)") from None
    if json_depth(body) > limits.max_json_depth:
        raise too_deep
    bad = _not_unicode(body)
    if bad is not None:
        raise RequestError(
            f"the body holds text that is not Unicode ({bad.encode('utf-8', 'backslashreplace')[:40]!r}: a lone "
            "surrogate); send the text as UTF-8"
        )
    return body


_HOST = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9.-]+))(?::(?P<port>[0-9]{1,5}))?")


def host_allowed(header: str, trusted: list[str]) -> bool:
    """Whether a ``Host`` header names one of the `trusted` hosts (names or addresses; an IPv6
    address as ``[::1]`` or ``[::1]:PORT``, or bare ``::1`` without a port), any port."""
    names, addresses = set(), set()
    for host in trusted:
        try:
            addresses.add(ipaddress.ip_address(host.strip("[]")))
        except ValueError:
            names.add(host.lower())
    match = _HOST.fullmatch(header)
    if match is None:
        try:  # a bare IPv6 address, no port
            return ipaddress.ip_address(header) in addresses
        except ValueError:
            return False
    if match["port"] is not None and not 1 <= int(match["port"]) <= 65535:
        return False
    host = match["v6"] or match["name"]
    try:
        return ipaddress.ip_address(host) in addresses
    except ValueError:
        return host.lower() in names if match["name"] else False


def create_app(registry: RunRegistry, *, limits: Limits = LIMITS, trusted_hosts: list[str] | None = None) -> Flask:
    """The explorer's Flask app over `registry`'s runs.

    Args:
        registry: the runs to serve, named by key.
        limits: request bounds (:class:`Limits`).
        trusted_hosts: host names or addresses the ``Host`` header may carry, any port (None:
            any). The command binds 127.0.0.1 (or ``::1``) and trusts only ``localhost`` /
            ``127.0.0.1`` / ``::1`` (sent as ``[::1]:PORT``), so a web page elsewhere cannot reach
            the API through DNS rebinding (another ``Host``: 400).
    """
    static = resources.files(__package__) / "static"
    app = Flask(__name__, static_folder=str(static), static_url_path="/static")
    app.config.update(MAX_CONTENT_LENGTH=limits.max_body_bytes, JSON_SORT_KEYS=False)
    if isinstance(app.json, DefaultJSONProvider):  # Flask's own provider: keep key order and non-ASCII text
        app.json.sort_keys = False
        app.json.ensure_ascii = False

    @app.before_request
    def _host() -> Response | None:
        header = request.headers.get("Host")  # absent (HTTP/1.0): no browser, so no rebinding
        if trusted_hosts is not None and header is not None and not host_allowed(header, trusted_hosts):
            return _error(f"the Host header {header[:60]!r} is not one this explorer answers to", 400)
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        messages = {
            413: f"request body over {limits.max_body_bytes} bytes; send a shorter input, a smaller image "
            "or a shorter recording",
            404: "no such page or API route; the API is under /api/runs",
            405: f"method {request.method} not allowed here",
        }
        return _error(messages.get(err.code or 500, err.description or err.name), err.code or 500)

    @app.errorhandler(Busy)
    def _busy(err: Busy) -> Response:
        response = _error(str(err), 503)
        response.headers["Retry-After"] = str(err.retry_after)
        return response

    def json_body() -> Any:
        if not request.is_json:
            raise RequestError("the body must be JSON (Content-Type: application/json)")
        return read_json_body(request.get_data(cache=True), limits)

    @app.errorhandler(Exception)
    def _internal(err: Exception) -> Response:
        log.exception("explore: %s %s failed", request.method, request.path)
        return _error(f"internal error ({type(err).__name__}: {err}); see the server's log", 500)

    def served(key: str):
        try:
            return registry[key]
        except UnknownRun:
            return None

    def unknown(key: str) -> Response:
        return _error(f"no run {key!r}; this explorer serves: {', '.join(registry.keys())}", 404)

    @app.get("/")
    def index() -> Response:
        return send_from_directory(str(static), "index.html")

    @app.get("/views/<kind>.js")
    def view_js(kind: str) -> Response:
        source = view_script(kind)
        if source is None:
            return _error(f"no drawing code for a view of kind {kind!r}", 404)
        response = Response(source, mimetype="text/javascript")
        response.headers["Cache-Control"] = "no-cache"
        return response

    @app.get("/api/runs")
    def runs() -> Response:
        return jsonify(runs=[registry[k].metadata() for k in registry.keys()], limits=asdict(limits))

    @app.get("/api/runs/<key>")
    def run(key: str) -> Response:
        s = served(key)
        return jsonify(s.metadata()) if s else unknown(key)

    @app.get("/api/runs/<key>/examples")
    def examples(key: str) -> Response:
        s = served(key)
        if not s:
            return unknown(key)
        n = request.args.get("n", "20")
        if not n.isdigit() or not 1 <= int(n) <= 200:
            return _error(f"n must be an integer from 1 to 200, got {n!r}", 400)
        rows = [{"text": e.text, "locale": e.locale, "target": e.target} for e in s.examples()[: int(n)]]
        return jsonify(examples=rows)

    @app.post("/api/runs/<key>/predict")
    def predict(key: str) -> Response:
        s = served(key)
        if not s:
            return unknown(key)
        try:
            checked = check_request(json_body(), limits)
            if checked["decode"] != DecodeOptions() and not s.run.capabilities.decodes:
                raise RequestError(
                    f"run {key} does not decode, so it takes no decoding fields "
                    f"({', '.join(sorted(checked['decode'].changed()))})"
                )
            return jsonify(
                predict_payload(
                    s,
                    checked,
                    max_cells=limits.max_cells,
                    max_image_bytes=limits.max_image_bytes,
                    max_audio_bytes=limits.max_audio_bytes,
                    max_image_pixels=limits.max_image_pixels,
                    max_audio_seconds=limits.max_audio_seconds,
                    lock_wait=limits.lock_wait_s,
                )
            )
        except (RequestError, InputError) as err:
            return _error(str(err), 400)
        except TooLarge as err:
            return _error(str(err), 413)
        except ValueError as err:  # decoding arguments the decoder refuses
            return _error(str(err), 400)

    @app.post("/api/runs/<key>/layers")
    def layers(key: str) -> Response:
        s = served(key)
        if not s:
            return unknown(key)
        try:
            checked = check_layers_request(json_body(), limits)
            return jsonify(layers_payload(s, checked, max_cells=limits.max_cells, lock_wait=limits.lock_wait_s))
        except (RequestError, InputError) as err:
            return _error(str(err), 400)

    return app
