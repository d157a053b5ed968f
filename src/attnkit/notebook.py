"""Layer 8 (docs/architecture.md), beside the explorer: the explorer's view of one prediction,
inline in a notebook, as one self-contained HTML page.

:func:`show` asks the explorer's own JSON API (:func:`attnkit.explore.create_app`, through
Flask's test client, no server and no port) for one prediction of a run, the way the page asks
for it, with the layer x head maps of every hypothesis where the model has them; it then writes
the explorer's page (``explore/static/index.html``) with its stylesheet, its scripts and the
drawing code of the prediction's kind inlined, the answers as JSON in the page, and a small
script in place of the network that hands the page those answers. The page draws exactly what
``attnkit explore`` draws (hypotheses, heads, layers, hover, exports), without the controls, and
loads nothing: its Content-Security-Policy forbids every request (no CDN, no fonts, no fetch).

In Jupyter (or anything that calls ``_repr_html_``), the page shows in an ``<iframe srcdoc>``,
which keeps its scripts and styles apart from the notebook's; :meth:`NotebookView.save` writes
it as a file any browser opens. IPython is not needed, and not imported.

Example::

    import attnkit
    run = attnkit.load_run("runs/demo/bahdanau")
    attnkit.notebook.show(run, "3. Mai 1979", options={"locale": "de_DE"}, beam_size=4, n_best=3)
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .capabilities import InputKind
from .decoding.options import MAX_BEAM, DecodeOptions, option_fields
from .errors import InputError
from .explore import LIMITS, RunRegistry, create_app, run_keys
from .io import atomic_write_text
from .training.run import Run, load_run

__all__ = ["NotebookView", "show", "page"]

STATIC = Path(__file__).resolve().parent / "explore" / "static"

#: what the page may load: nothing from anywhere; its own inline scripts and styles, and the
#: data: / blob: URLs it makes itself (pictures, exports, recordings)
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; media-src data: blob:"
)

# the explorer's page less its controls: the view of the one prediction and nothing else
_STYLE = (
    "header, #controls, footer { display: none !important; } #panels { padding: 0.4em; } "
    "#attnkit-notebook-note { margin: 0 0.8em; color: #5b6775; }"
)

# Stands in for the network: the explorer's API answers from the page's JSON (the prediction, and
# the layer maps by hypothesis); anything else is a one-line error in the panel.
_STUB = """
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("attnkit-notebook-data").textContent);
  const reply = (status, body) => Promise.resolve(new Response(JSON.stringify(body),
    { status, headers: { "Content-Type": "application/json" } }));
  const elsewhere = "this notebook view holds one prediction; ask run.predict or attnkit explore for others";
  const tell = () => { // a click that asks the model again (a query pixel, a node): the view stays, and says why
    if (document.getElementById("attnkit-notebook-note")) return;
    document.body.append(Object.assign(document.createElement("p"),
      { id: "attnkit-notebook-note", className: "note", textContent: elsewhere }));
  };
  let predicted = false;
  window.fetch = (url, init) => {
    const path = String(url), body = init && init.body ? JSON.parse(init.body) : {};
    if (path === "/api/runs") return reply(200, data.runs);
    if (path.endsWith("/examples?n=30")) return reply(200, { examples: [] });
    if (path.endsWith("/predict")) { if (predicted) tell(); predicted = true; return reply(200, data.predict); }
    if (path.endsWith("/layers") && data.layers[JSON.stringify(body.out_tokens)])
      return reply(200, data.layers[JSON.stringify(body.out_tokens)]);
    return reply(404, { error: elsewhere });
  };
})();
"""

# After the explorer's scripts: once the page has read its run, draw the prediction, then fit the
# iframe (when the page is one, in a notebook) to what was drawn.
_DRAW = """
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("attnkit-notebook-data").textContent);
  const start = explore.start;
  explore.start = async () => {
    await start();
    document.getElementById("input").value = data.input;
    await explore.submit();
    document.body.dataset.notebook = "drawn";
    const fit = () => { try { if (window.frameElement) window.frameElement.style.height =
      (document.documentElement.scrollHeight + 4) + "px"; } catch (err) { /* another origin: keep the height */ } };
    fit(); setTimeout(fit, 200);
  };
})();
"""


@dataclass(frozen=True)
class NotebookView:
    """The explorer's view of one prediction as a self-contained HTML page.

    Attributes:
        html: the whole page (scripts, styles and data inline; it loads nothing).
        prediction: the explorer's JSON answer it draws (its ``kind``, ``output``, attention...).
        height: the iframe's height in CSS pixels before the page fits it to its drawing.
    """

    html: str
    prediction: Mapping[str, Any]
    height: int = 480

    def _repr_html_(self) -> str:
        """The page in an ``<iframe srcdoc>`` (what Jupyter shows)."""
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
            f'style="width: 100%; height: {int(self.height)}px; border: 0;"></iframe>'
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the page to `path` (atomically); returns the path. Any browser opens it offline."""
        path = Path(path)
        atomic_write_text(path, self.html)
        return path


def show(
    run: Run | str | os.PathLike,
    source: str | os.PathLike,
    *,
    options: Mapping[str, Any] | None = None,
    decode: DecodeOptions | None = None,
    height: int = 480,
    **decode_kwargs: Any,
) -> NotebookView:
    """The explorer's view of `run`'s prediction for `source`, to show inline in a notebook.

    Args:
        run: a loaded :class:`~attnkit.training.Run` or a run folder's path.
        source: the input, what the run's task takes (:meth:`attnkit.training.Run.predict`): a line of text,
            an image or WAV file's path, a node id.
        options: the task's input options (e.g. ``{"locale": "de_DE"}``).
        decode: how to decode, with `decode_kwargs` on top, as :meth:`Run.predict` takes them
            (``beam_size=4, n_best=3`` shows the three best hypotheses of a beam of 4); None: greedy.
        height: the iframe's height in pixels until the page fits it to its drawing.

    Returns:
        A :class:`NotebookView` (``_repr_html_`` for Jupyter, ``save(path)`` for a file).

    Raises:
        attnkit.errors.InputError: for an input or option the task rejects (one line).
        attnkit.decoding.DecodeOptionError: for decoding options the run cannot take.
        attnkit.training.RunError: for a run folder that cannot be loaded.
    """
    loaded = run if isinstance(run, Run) else load_run(os.fspath(run))
    decoding = loaded.decode_options(decode, **decode_kwargs)
    data = answers(loaded, source, options or {}, decoding)
    return NotebookView(page(data), data["predict"], height)


def answers(run: Run, source: str | os.PathLike, options: Mapping[str, Any], decode: DecodeOptions | None) -> dict:
    """The explorer API's answers the page will ask for: the run list, the prediction, the
    layer x head maps of each hypothesis (models with layer maps), the kind's drawing code.

    Raises:
        attnkit.errors.InputError: the explorer's error for the request, as one line.
    """
    key = run_keys([run.path])[0]
    big = 1 << 30  # the notebook's own input: no explorer limits on its size or beam
    limits = dataclasses.replace(
        LIMITS,
        max_body_bytes=big,
        max_input_chars=big,
        max_beam=MAX_BEAM,
        max_image_bytes=big,
        max_audio_bytes=big,
        max_audio_seconds=3600.0,
    )
    client = create_app(RunRegistry({key: run}), limits=limits).test_client()
    kind = run.capabilities.task.input
    body: dict[str, Any] = {"options": {str(k): str(v) for k, v in options.items()}}
    if kind in (InputKind.IMAGE, InputKind.AUDIO):
        try:
            raw = Path(source).read_bytes()
        except OSError as err:
            raise InputError(f"cannot read {source}: {err.strerror or err}; give the path of a file") from None
        body["image" if kind is InputKind.IMAGE else "audio"] = base64.b64encode(raw).decode("ascii")
    else:
        body["input"] = os.fspath(source)
    if decode is not None:
        body.update(
            {f.name: getattr(decode, f.name) for f in option_fields() if f.metadata["serve"]}
        )  # what a request takes
    if run.capabilities.decodes and kind is InputKind.TEXT:
        body["layers"] = False  # the page asks for them per hypothesis: answered below
    predicted = _ask(client, "post", f"/api/runs/{key}/predict", body)
    layers = {}
    if run.capabilities.layer_maps and predicted.get("kind") == "seq2seq":
        for hyp in predicted["hypotheses"]:
            ask = {"input": body["input"], "options": body["options"], "out_tokens": hyp["out_tokens"]}
            layers[_js_key(hyp["out_tokens"])] = _ask(client, "post", f"/api/runs/{key}/layers", ask)
    scripts = []
    if predicted.get("script"):
        scripts.append(client.get(predicted["script"]).get_data(as_text=True))
    shown = os.fspath(source) if kind is InputKind.TEXT else Path(source).name
    return {
        "key": key,
        "input": shown,
        "runs": _ask(client, "get", "/api/runs"),
        "predict": predicted,
        "layers": layers,
        "scripts": scripts,
    }


def _js_key(tokens: list[str]) -> str:
    """``JSON.stringify(tokens)`` as the page writes it (the key of a hypothesis' layer maps)."""
    return json.dumps(tokens, ensure_ascii=False, separators=(",", ":"))


def _ask(client: Any, method: str, url: str, body: Any = None) -> dict:
    response = client.get(url) if method == "get" else client.post(url, json=body)
    answer = response.get_json()
    if response.status_code != 200:
        raise InputError(str(answer.get("error") if isinstance(answer, dict) else response.status))
    return answer


_LINK = re.compile(r'<link rel="stylesheet" href="/static/([\w.-]+)">')
_SCRIPT = re.compile(r'<script src="/static/([\w.-]+)"></script>')


def _inline_js(source: str) -> str:
    return source.replace("</", "<\\/")  # no "</script>" ends the element early (in strings and comments only)


def page(data: Mapping[str, Any]) -> str:
    """The explorer's page with everything inline and `data` (:func:`answers`) as its answers.

    Raises:
        RuntimeError: if the explorer's page links a file this function does not inline (a
            change to ``index.html`` that the notebook view must follow).
    """
    text = (STATIC / "index.html").read_text(encoding="utf-8")
    text = _LINK.sub(lambda m: f"<style>\n{(STATIC / m.group(1)).read_text(encoding='utf-8')}\n</style>", text)
    first_script = text.index("<script")
    payload = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
    stub = f'<script type="application/json" id="attnkit-notebook-data">{payload}</script>\n<script>{_STUB}</script>\n'
    text = text[:first_script] + stub + text[first_script:]
    text = _SCRIPT.sub(
        lambda m: f"<script>\n{_inline_js((STATIC / m.group(1)).read_text(encoding='utf-8'))}\n</script>", text
    )
    after = "".join(f"<script>\n{_inline_js(s)}\n</script>\n" for s in data["scripts"]) + f"<script>{_DRAW}</script>\n"
    text = text.replace("</body>", after + "</body>")
    text = text.replace(
        '<meta charset="utf-8">',
        f'<meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" content="{CSP}">\n<style>{_STYLE}</style>',
        1,
    )
    left = re.findall(r'(?:src|href)="/[^"]*"', text)
    if left:
        raise RuntimeError(f"the explorer's index.html links {left[0]}, which the notebook view does not inline")
    return text
