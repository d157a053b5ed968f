"""Predictions as JSON: the greedy output and the beam n-best of a sequence task, each with its
alignment matrix, the Transformer's layer x head maps; any other task's prediction as the JSON of
the view of its kind (:data:`attnkit.viz.views.VIEWS`: an image's overlays, a node's
neighbourhood, a recording's spectrogram, or a kind registered outside attnkit) with its other
fields. Every matrix travels as ``{"shape": [...], "data": [...]}`` (row-major, float), so the
page can read it into one typed array.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import tempfile
import time
from typing import Any, Mapping

import numpy as np
import torch

from ..capabilities import InputKind
from ..decoding import Translation, layer_maps, translate_nbest
from ..errors import InputError
from ..viz.views import VIEWS, Budget, view_of
from .runs import Served

__all__ = ["matrix", "predict_payload", "layers_payload", "generic_payload", "view_script", "word_gold", "DECIMALS",
           "TooLarge"]

DECIMALS = 5  # weights are sent rounded to this many decimals


class TooLarge(ValueError):
    """An answer over the explorer's limit of numbers per answer."""


def matrix(values: Any) -> dict[str, Any]:
    """A tensor or array as ``{"shape", "data"}``: shape as a list, data flat, row-major, rounded
    to :data:`DECIMALS`; NaN and infinities become 0 (JSON has neither)."""
    if isinstance(values, torch.Tensor):
        values = values.detach().float().cpu().numpy()
    array = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return {"shape": list(array.shape), "data": np.round(array, DECIMALS).ravel().tolist()}


def _cells(values: Any) -> int:
    return int(np.prod(values.shape)) if values is not None else 0


def predict_payload(served: Served, request: Mapping[str, Any], *, max_cells: int,
                    max_image_bytes: int, max_audio_bytes: int = 640 << 10) -> dict[str, Any]:
    """The JSON answer to a checked predict request (see :func:`attnkit.explore.app.check_request`).

    Raises:
        attnkit.errors.InputError: for an input or option the task rejects.
        TooLarge: when the matrices of the answer would exceed `max_cells` numbers.
        ValueError: for decoding arguments the decoder refuses.
    """
    start = time.perf_counter()
    run = served.run
    caps = run.capabilities
    with served.lock, torch.inference_mode():
        if caps.decodes and caps.task.input is InputKind.TEXT:
            out = _seq2seq(served, request, max_cells)
        else:
            out = generic_payload(served, request, max_cells, {"image": max_image_bytes, "audio": max_audio_bytes})
    out.update(run=served.key, options=dict(request["options"]),
               elapsed_ms=round((time.perf_counter() - start) * 1000, 2))
    return out


def _seq2seq(served: Served, request: Mapping[str, Any], max_cells: int) -> dict[str, Any]:
    task, model = served.run.task, served.run.model
    text, options = request["input"], dict(request["options"])
    task.check_inputs([text], options=options)  # InputError names the problem
    locale = {**task.predict_options, **options}.get("locale", "")
    greedy = task.predict(model, [text], options=options)[0]
    beam = request["beam_size"]
    nbest = translate_nbest(model, task, text, locale, beam_size=beam, n_best=min(request["n_best"], beam),
                            alpha=request["alpha"]) if beam > 1 else []
    hyps = [("greedy", greedy, None)] + [(f"beam {i + 1}", s.translation, s.score) for i, s in enumerate(nbest)]
    cells = sum(_cells(t.weights) for _, t, _ in hyps)
    if cells > max_cells:
        raise TooLarge(f"the alignment matrices have {cells} numbers, over this explorer's limit of {max_cells}; "
                       "give a shorter input or a smaller beam")
    gold, gold_on = served.gold(text, locale), None
    example = served.gold_words(text) if gold is None and getattr(model, "uses_attention", True) else None
    if example is not None:  # gold word links: on the reference, force-decoded (they are links of its words)
        reference, gold = word_gold(model, task, example)
        if greedy.weights is not None and greedy.weights.dim() == 2 and reference["weights"].dim() == 3:
            reference["weights"] = reference["weights"].mean(0)  # one head, as the decoded alignment
            reference["translation"] = reference["translation"]._replace(weights=reference["weights"])
        if cells + _cells(reference["weights"]) <= max_cells:
            hyps.append(("reference", reference["translation"], None))
            cells += _cells(reference["weights"])
            gold_on = "reference"
        else:
            gold = None
    layers, note = _layers(model, task, greedy, max_cells - cells) if request["layers"] else (None, None)
    return {
        "kind": "seq2seq",
        "input": text,
        "src_tokens": list(greedy.src_tokens),
        "n_unknown": int(greedy.n_unknown),
        "hypotheses": [{"name": name, "output": t.output, "out_tokens": list(t.out_tokens),
                        "score": score, "weights": None if t.weights is None else matrix(t.weights)}
                       for name, t, score in hyps],
        "layers": layers,
        "layers_note": note,
        "gold": gold,
        "gold_hypothesis": gold_on,
    }


def word_gold(model, task, example) -> tuple[dict[str, Any], list[list[int]]]:
    """The reference of a test example with gold word links, force-decoded, and the links as
    boxes on its matrix.

    The reference's attention is the model's teacher-forced cross-attention over the source
    pieces at the layer the task reads alignments from (``task.choice.layer``), per head for
    multi-head models ((Nh, To, Tk); the caller takes the mean for a model whose decoded
    alignment is (To, Tk)); rows are the reference's pieces (no
    ``</s>``). Each gold link (source word i, target word j) becomes a box (row, col, col + 1)
    for every cell of a piece row of target word j and a piece column of source word i
    (:func:`attnkit.evaluation.word_alignment.piece_words`): a subword matrix has every piece
    cell of a gold word pair boxed.

    Returns:
        ``({"translation": Translation, "weights": tensor}, boxes)``.
    """
    from ..decoding.forced import forced_attention
    from ..evaluation.word_alignment import piece_words

    forced = forced_attention(model, task, [(example.text, example.target)])[0]
    layer = getattr(getattr(task, "choice", None), "layer", -1)
    weights = forced.weights[layer]  # (Nh, To, Tk)
    src_words = piece_words(forced.src_tokens, len(example.text.split()))
    tgt_words = piece_words(forced.tgt_tokens, len(example.target.split()))
    boxes = []
    for i, j in sorted(example.gold, key=lambda link: (link[1], link[0])):
        cols = [c for c, w in enumerate(src_words) if w == i]
        if cols:
            boxes += [[r, c, c + 1] for r, w in enumerate(tgt_words) if w == j for c in cols]
    translation = Translation(example.target, list(forced.src_tokens), list(forced.tgt_tokens), weights, 0)
    return {"translation": translation, "weights": weights}, sorted(boxes)


def _layers(model, task, translation: Translation, budget: int) -> tuple[dict | None, str | None]:
    """Every layer's and head's maps of a Transformer for `translation` (None for other models),
    or None and a note when they have more than `budget` numbers."""
    if not hasattr(model, "attention_maps"):
        return None, None
    maps = layer_maps(model, task, translation)
    n = sum(_cells(m) for m in maps)
    if n > budget:
        return None, f"layer x head maps left out: {n} numbers, over the limit of {budget} left for this answer"
    return {name: matrix(getattr(maps, name)) for name in ("cross", "encoder_self", "decoder_self")}, None


def layers_payload(served: Served, request: Mapping[str, Any], *, max_cells: int) -> dict[str, Any]:
    """The layer x head maps of a teacher-forced pass over a given output (``request["out_tokens"]``,
    ending in ``</s>``) for a given input: what the page fetches after it has drawn the alignment.

    Raises:
        attnkit.errors.InputError: for an input or option the task rejects, or a model without
            layer maps.
    """
    start = time.perf_counter()
    task, model = served.run.task, served.run.model
    if not (hasattr(task, "source_tokens") and hasattr(model, "attention_maps")):
        raise InputError(f"run {served.key} has no per-layer attention maps (only Transformers have them)")
    options = dict(request["options"])
    with served.lock, torch.inference_mode():
        task.check_inputs([request["input"]], options=options)
        locale = {**task.predict_options, **options}.get("locale", "")
        src = task.source_tokens(request["input"], locale)
        out = list(request["out_tokens"])
        translation = Translation("", src, out if out[-1:] == ["</s>"] else [*out, "</s>"], None, 0)
        layers, note = _layers(model, task, translation, max_cells)
    return {"run": served.key, "layers": layers, "layers_note": note,
            "elapsed_ms": round((time.perf_counter() - start) * 1000, 2)}


def generic_payload(served: Served, request: Mapping[str, Any], max_cells: int, max_bytes: Mapping[str, int]
                    ) -> dict[str, Any]:
    """Any task but a decoding text task: its ``predict`` on one input (an uploaded image or
    recording goes through a private temporary file, deleted after).

    Returns:
        ``{"kind": the prediction's kind, "input", "output", "view": the JSON of the kind's view
        (:meth:`attnkit.viz.views.View.to_json`), "script": the URL of the view's drawing code
        (``/views/KIND.js``) or null when the page draws the kind itself, "fields": the
        prediction's other fields}``.
    """
    task, model = served.run.task, served.run.model
    options = dict(request["options"])
    upload = next((k for k in ("image", "audio") if request.get(k) is not None), None)
    kind = served.run.capabilities.task.input.value
    if upload is not None:
        if upload != kind:
            raise InputError(f"task {task.name} takes " + ("a text input" if kind == "text" else f"an {kind} upload")
                             + f", not an uploaded {upload}")
        data = _upload_bytes(request[upload], upload, max_bytes[upload])
        if upload == "audio":
            _check_audio(data)
        shown = "uploaded image" if upload == "image" else "uploaded recording"
        fd, name = tempfile.mkstemp(prefix="attnkit-explore-", suffix=".img" if upload == "image" else ".wav")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            pred = task.predict(model, [name], options=options)[0]
        except InputError as err:  # the message names the private file: name the upload instead
            raise InputError(str(err).replace(name, f"the {shown}")) from None
        finally:
            os.unlink(name)
    else:
        if kind == "image":
            raise InputError(f"task {task.name} takes an image: upload one (the request's 'image' field, "
                             "base64), not a text input")
        if kind == "audio":
            raise InputError(f"task {task.name} takes a recording: upload a WAV file (the request's 'audio' "
                             "field, base64), not a text input")
        pred = task.predict(model, [request["input"]], options=options)[0]
        shown = request["input"]
    try:
        view = view_of(pred)
    except ValueError as err:  # a plug-in's prediction without a kind or a view
        raise InputError(f"run {served.key}: {err}") from None
    budget = Budget(max_cells)
    out: dict[str, Any] = {"kind": view.kind, "input": shown, "output": pred.output,
                           "view": view.to_json(pred, budget),
                           "script": f"/views/{view.kind}.js" if view.script is not None else None}
    fields: dict[str, Any] = vars(pred) if dataclasses.is_dataclass(pred) else {}
    out["fields"] = {name: _value(value, budget) for name, value in fields.items()
                     if name not in view.carries and name != "output"}
    if budget.exceeded:
        raise TooLarge(f"the prediction's arrays have more than {max_cells} numbers, this explorer's limit")
    return out


def view_script(kind: str) -> str | None:
    """The drawing code of a registered kind's view (``GET /views/KIND.js``); None for a kind
    that is not registered or whose view the page draws itself."""
    return VIEWS.get(kind).script_source() if kind in VIEWS else None


_AUDIO_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"fLaC", b"OggS", b"FORM")


def _check_audio(data: bytes) -> None:
    """Refuse an upload that does not start like a sound file (WAV, FLAC, Ogg, AIFF) before
    it reaches the decoder."""
    if not data.startswith(_AUDIO_MAGIC):
        raise InputError("the uploaded file is not a sound file (a WAV file starts with RIFF); upload a "
                         "WAV recording")


def _upload_bytes(encoded: str, kind: str, limit: int) -> bytes:
    what = "an image file" if kind == "image" else "a WAV file"
    try:
        data = base64.b64decode(encoded.split(",", 1)[-1], validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"'{kind}' must be a base64-encoded {what} (a data: URL or plain base64)") from None
    if len(data) > limit:
        raise InputError(f"the {'image' if kind == 'image' else 'recording'} is {len(data)} bytes; this explorer "
                         f"takes at most {limit}")
    return data


def _value(value: Any, budget: Budget) -> Any:
    """A prediction field as JSON: arrays as :meth:`Budget.matrix`, containers element-wise."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return budget.matrix(value)
    if isinstance(value, Mapping):
        return {str(k): _value(v, budget) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_value(v, budget) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
