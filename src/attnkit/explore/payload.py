"""Predictions as JSON: the hypotheses of one decoding of a sequence task (greedy, or the beam's
n-best), each with its alignment matrix, and the Transformer's layer x head maps; any other
task's prediction as the JSON of the view of its kind (:data:`attnkit.viz.views.VIEWS`: an
image's overlays, a node's neighbourhood, a recording's spectrogram, or a kind registered outside
attnkit) with its other fields. Every matrix travels as binary, ``{"shape": [...], "dtype":
"float32", "base64": ...}`` (the little-endian float32 values, row-major, base64-encoded), which
the page reads into one typed array (:func:`matrix`, :func:`read_matrix`).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
import os
import tempfile
import time
from typing import Any, Mapping, cast

import numpy as np
import torch

from ..capabilities import InputKind
from ..data.audio import AudioTooLong, check_audio
from ..decoding import DecodeOptions, Translation, layer_maps
from ..errors import InputError
from ..tasks.seq2seq import Seq2SeqTask
from ..viz.views import VIEWS, Budget, binary_matrix, view_of
from .runs import Served

__all__ = [
    "matrix",
    "read_matrix",
    "predict_payload",
    "layers_payload",
    "generic_payload",
    "view_script",
    "word_gold",
    "DECIMALS",
    "TooLarge",
]

DECIMALS = 5  # numbers that travel as JSON numbers (an outline's corners) are rounded to this many decimals


class TooLarge(ValueError):
    """An answer, or the work to make it, over the explorer's limits (answered 413): more numbers
    than the limit per answer, an image of too many pixels, a recording too long."""


def matrix(values: Any) -> dict[str, Any]:
    """A tensor or array as ``{"shape", "dtype": "float32", "base64"}``
    (:func:`attnkit.viz.views.binary_matrix`: a few bytes per number instead of a JSON number
    list's 8 to 10 characters, and a typed array in the page without parsing)."""
    return binary_matrix(values)


def read_matrix(m: Mapping[str, Any]) -> np.ndarray:
    """The array (float32) of a :func:`matrix` answer, for Python clients and tests."""
    return np.frombuffer(base64.b64decode(m["base64"]), dtype="<f4").reshape(m["shape"])


def _cells(values: Any) -> int:
    return int(np.prod(values.shape)) if values is not None else 0


def predict_payload(
    served: Served,
    request: Mapping[str, Any],
    *,
    max_cells: int,
    max_image_bytes: int,
    max_audio_bytes: int = 640 << 10,
    max_image_pixels: int = 1 << 24,
    max_audio_seconds: float = 30.0,
    lock_wait: float = 1.0,
) -> dict[str, Any]:
    """The JSON answer to a checked predict request (see :func:`attnkit.explore.app.check_request`).

    Uploads are checked before they are decoded: an image's pixels (`max_image_pixels`, from its
    header), a recording's duration (the run's declared ``max_seconds`` and `max_audio_seconds`,
    the smaller) and sample rate (:func:`attnkit.data.audio.check_audio`). A decoding text task's
    answer is estimated before decoding (:func:`answer_cells`) against `max_cells`.

    Raises:
        attnkit.errors.InputError: for an input or option the task rejects.
        TooLarge: when the answer could exceed `max_cells` numbers, an image has more than
            `max_image_pixels` pixels or a recording is too long.
        attnkit.explore.runs.Busy: when the run computes another request for over `lock_wait` s.
        ValueError: for decoding arguments the decoder refuses.
    """
    start = time.perf_counter()
    run = served.run
    caps = run.capabilities
    seq2seq = caps.decodes and caps.task.input is InputKind.TEXT
    if seq2seq:  # refused before waiting for the run, at once
        _check_answer_size(served, request, max_cells)
    with served.computing(lock_wait), torch.inference_mode():
        if seq2seq:
            out = _seq2seq(served, request, max_cells)
        else:
            bounds = {
                "image": max_image_bytes,
                "audio": max_audio_bytes,
                "pixels": max_image_pixels,
                "seconds": max_audio_seconds,
            }
            out = generic_payload(served, request, max_cells, bounds)
    out.update(
        run=served.key, options=dict(request["options"]), elapsed_ms=round((time.perf_counter() - start) * 1000, 2)
    )
    return out


def _seq2seq(served: Served, request: Mapping[str, Any], max_cells: int) -> dict[str, Any]:
    """One decoding of the input (greedy for beam 1, else beam search keeping the n-best list)
    gives every hypothesis shown; the reference's forced attention (gold word links) and the layer
    x head maps (when asked) are one teacher-forced pass each, on the ids of that decoding."""
    run = served.run
    task, model, caps = cast(Seq2SeqTask, run.task), run.model, run.capabilities  # declared: decodes text
    text, options = request["input"], dict(request["options"])
    decode = request["decode"]
    best = task.predict(model, [text], options=options, decode=decode)[0]  # InputError names a bad input
    found = best.nbest or (best,)
    names = ["greedy"] if decode.beam_size == 1 else [f"beam {i + 1}" for i in range(len(found))]
    hyps: list[tuple[str, Translation, float | None]] = [(n, t, t.score) for n, t in zip(names, found)]
    cells = sum(_cells(t.weights) for _, t, _ in hyps)
    if cells > max_cells:
        raise TooLarge(
            f"the alignment matrices have {cells} numbers, over this explorer's limit of {max_cells}; "
            "give a shorter input or a smaller beam"
        )
    locale = {**caps.task.option_defaults, **options}.get("locale", "")
    gold, gold_on = served.gold(text, locale), None
    example = served.gold_words(text) if gold is None and caps.model.attention else None
    if example is not None:  # gold word links: on the reference, force-decoded (they are links of its words)
        reference, gold = word_gold(model, task, example)
        if best.weights is not None and best.weights.dim() == 2 and reference["weights"].dim() == 3:
            reference["weights"] = reference["weights"].mean(0)  # one head, as the decoded alignment
            reference["translation"] = dataclasses.replace(reference["translation"], weights=reference["weights"])
        if cells + _cells(reference["weights"]) <= max_cells:
            hyps.append(("reference", reference["translation"], None))
            cells += _cells(reference["weights"])
            gold_on = "reference"
        else:
            gold = None
    layers, note = (
        _layers(caps.layer_maps, model, best.src_ids, best.out_ids, max_cells - cells, caps.model.n_heads)
        if request["layers"]
        else (None, None)
    )
    return {
        "kind": "seq2seq",
        "input": text,
        "src_tokens": list(best.src_tokens),
        "n_unknown": int(best.n_unknown),
        "hypotheses": [
            {
                "name": name,
                "output": t.output,
                "out_tokens": list(t.out_tokens),
                "score": score,
                "weights": None if t.weights is None else matrix(t.weights),
            }
            for name, t, score in hyps
        ],
        "layers": layers,
        "layers_note": note,
        "gold": gold,
        "gold_hypothesis": gold_on,
    }


def _check_answer_size(served: Served, request: Mapping[str, Any], max_cells: int) -> None:
    """Refuse (:class:`TooLarge`) a decoding whose attention could pass `max_cells` numbers
    (:func:`answer_cells`), from the input's token count, before anything is decoded.

    Raises:
        attnkit.errors.InputError: for an input or option the task rejects.
    """
    run = served.run
    task, caps = cast(Seq2SeqTask, run.task), run.capabilities  # declared: decodes text
    text, options, decode = request["input"], dict(request["options"]), request["decode"]
    task.check_inputs([text], options=options)  # InputError names a bad input
    locale = {**caps.task.option_defaults, **options}.get("locale", "")
    n_src = len(task.encode_source(text, locale))
    n_out = decode.max_len or task.output_limit(n_src)
    need = answer_cells(decode, caps.model.n_heads, n_src, n_out)
    if need > max_cells:
        raise TooLarge(
            f"this answer could hold {need} numbers ({need * 16 / 3e6:.1f} MB: beam {decode.beam_size} x "
            f"{caps.model.n_heads} heads x {n_out + 1} output x {n_src} source tokens), over this explorer's "
            f"limit of {max_cells}; lower 'beam_size' or 'max_len', or give a shorter input"
        )


def answer_cells(decode: DecodeOptions, n_heads: int, n_source: int, max_output: int) -> int:
    """The most attention numbers one decoding computes and keeps, known before decoding: every
    hypothesis of the beam (``beam_size``; greedy: 1) keeps per head a (To, Tk) matrix, To at
    most `max_output` + 1 (``</s>``), Tk = `n_source` tokens. The answer carries n-best <= beam
    of them (4 bytes a number, base64: 16 / 3 bytes)."""
    return decode.beam_size * max(n_heads, 1) * (max_output + 1) * max(n_source, 1)


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
    from ..evaluation.word_alignment import piece_words

    forced = task.forced_attention(model, [(example.text, example.target)])[0]
    layer = task.choice.layer  # examples with gold word links are an aligned-translation task's
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


def _layers(available: bool, model, src_ids, out_ids, budget: int, n_heads: int = 1) -> tuple[dict | None, str | None]:
    """Every layer's and head's maps of a Transformer (None where the run has none: not
    `available`), by one teacher-forced pass over the output ids `out_ids` (no ``</s>``) on the
    source ids `src_ids`; or None and a note when they have more than `budget` numbers. One
    layer's maps alone, `n_heads` x (To x Tk + Tk x Tk + To x To), are counted before the pass:
    over the budget, the pass is not run."""
    if not available:
        return None, None
    tq, tk = len(out_ids) + 1, len(src_ids)
    one_layer = max(n_heads, 1) * (tq * tk + tk * tk + tq * tq)
    if one_layer > budget:
        return None, (
            f"layer x head maps left out: one layer has {one_layer} numbers, over the limit of {budget} left for "
            "this answer"
        )
    maps = layer_maps(model, src_ids, out_ids)
    n = sum(_cells(m) for m in maps)
    if n > budget:
        return None, f"layer x head maps left out: {n} numbers, over the limit of {budget} left for this answer"
    return {name: matrix(m) for name, m in maps._asdict().items()}, None


def layers_payload(
    served: Served, request: Mapping[str, Any], *, max_cells: int, lock_wait: float = 1.0
) -> dict[str, Any]:
    """The layer x head maps of a teacher-forced pass over a given output (``request["out_tokens"]``,
    ending in ``</s>``) for a given input: what the page fetches after it has drawn the alignment.

    Raises:
        attnkit.errors.InputError: for an input or option the task rejects, or a model without
            layer maps.
        attnkit.explore.runs.Busy: when the run computes another request for over `lock_wait` s.
    """
    start = time.perf_counter()
    run = served.run
    task, model = cast(Seq2SeqTask, run.task), run.model  # declared: decodes text, with layer maps
    if not run.capabilities.layer_maps:
        raise InputError(f"run {served.key} has no per-layer attention maps (only Transformers have them)")
    options = dict(request["options"])
    with served.computing(lock_wait), torch.inference_mode():
        task.check_inputs([request["input"]], options=options)
        locale = {**run.capabilities.task.option_defaults, **options}.get("locale", "")
        src_ids = task.encode_source(request["input"], locale)
        out = list(request["out_tokens"])
        out_ids = task.tgt_vocab.encode(out[:-1] if out[-1:] == ["</s>"] else out)
        layers, note = _layers(True, model, src_ids, out_ids, max_cells, run.capabilities.model.n_heads)
    return {
        "run": served.key,
        "layers": layers,
        "layers_note": note,
        "elapsed_ms": round((time.perf_counter() - start) * 1000, 2),
    }


def generic_payload(
    served: Served, request: Mapping[str, Any], max_cells: int, max_bytes: Mapping[str, float]
) -> dict[str, Any]:
    """Any task but a decoding text task: its ``predict`` on one input (an uploaded image or
    recording goes through a private temporary file, deleted after). `max_bytes` bounds the
    uploads: ``"image"`` and ``"audio"`` bytes, ``"pixels"`` of an image, ``"seconds"`` of a
    recording (with the task's declared ``max_seconds``), all checked before decoding.

    Returns:
        ``{"kind": the prediction's kind, "input", "output", "view": the JSON of the kind's view
        (:meth:`attnkit.viz.views.View.to_json`, or its ``page_json`` around the request's
        ``"focus"`` where the view has one), "script": the URL of the view's drawing code
        (``/views/KIND.js``) or null when the page draws the kind itself, "fields": the
        prediction's other fields}``.
    """
    task, model = served.run.task, served.run.model
    options = dict(request["options"])
    decode = {"decode": request["decode"]} if served.run.capabilities.decodes else {}  # none for non-decoding plug-ins
    upload = next((k for k in ("image", "audio") if request.get(k) is not None), None)
    kind = served.run.capabilities.task.input.value
    if upload is not None:
        if upload != kind:
            raise InputError(
                f"task {task.name} takes "
                + ("a text input" if kind == "text" else f"an {kind} upload")
                + f", not an uploaded {upload}"
            )
        data = _upload_bytes(request[upload], upload, int(max_bytes[upload]))
        if upload == "audio":
            declared = served.run.capabilities.task.max_seconds
            limit = float(max_bytes.get("seconds", 30.0))
            _check_audio(data, limit if declared is None else min(limit, declared))
        else:
            _check_image(data, int(max_bytes.get("pixels", 1 << 24)))
        shown = "uploaded image" if upload == "image" else "uploaded recording"
        fd, name = tempfile.mkstemp(prefix="attnkit-explore-", suffix=".img" if upload == "image" else ".wav")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            pred = task.predict(model, [name], options=options, **decode)[0]
        except InputError as err:  # the message names the private file: name the upload instead
            raise InputError(str(err).replace(name, f"the {shown}")) from None
        finally:
            os.unlink(name)
    else:
        if kind == "image":
            raise InputError(
                f"task {task.name} takes an image: upload one (the request's 'image' field, base64), not a text input"
            )
        if kind == "audio":
            raise InputError(
                f"task {task.name} takes a recording: upload a WAV file (the request's 'audio' "
                "field, base64), not a text input"
            )
        pred = task.predict(model, [request["input"]], options=options, **decode)[0]
        shown = request["input"]
    try:
        view = view_of(pred)
    except ValueError as err:  # a plug-in's prediction without a kind or a view
        raise InputError(f"run {served.key}: {err}") from None
    budget = Budget(max_cells, binary=True)
    try:
        shown_view = (
            view.to_json(pred, budget)
            if view.page_json is None
            else view.page_json(pred, budget, request.get("focus") or {})
        )
    except ValueError as err:  # a focus the prediction does not have (a layer out of range)
        raise InputError(f"'focus': {err}") from None
    out: dict[str, Any] = {
        "kind": view.kind,
        "input": shown,
        "output": pred.output,
        "view": shown_view,
        "script": f"/views/{view.kind}.js" if view.script is not None else None,
        "classes": list(served.run.capabilities.task.classes),
    }
    fields: dict[str, Any] = vars(pred) if dataclasses.is_dataclass(pred) else {}
    out["fields"] = {
        name: _value(value, budget) for name, value in fields.items() if name not in view.carries and name != "output"
    }
    if budget.exceeded:
        raise TooLarge(f"the prediction's arrays have more than {max_cells} numbers, this explorer's limit")
    return out


def view_script(kind: str) -> str | None:
    """The drawing code of a registered kind's view (``GET /views/KIND.js``); None for a kind
    that is not registered or whose view the page draws itself."""
    return VIEWS.get(kind).script_source() if kind in VIEWS else None


_AUDIO_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"fLaC", b"OggS", b"FORM")


def _check_audio(data: bytes, max_seconds: float) -> None:
    """Refuse an upload that does not start like a sound file (WAV, FLAC, Ogg, AIFF), or whose
    header says it is longer than `max_seconds` (:class:`TooLarge`) or has a sample rate or
    channels out of range (:func:`attnkit.data.audio.check_audio`), before it reaches the decoder."""
    if not data.startswith(_AUDIO_MAGIC):
        raise InputError("the uploaded file is not a sound file (a WAV file starts with RIFF); upload a WAV recording")
    try:
        check_audio(io.BytesIO(data), max_seconds=max_seconds, name="the uploaded recording")
    except AudioTooLong as err:
        raise TooLarge(str(err)) from None


def _check_image(data: bytes, max_pixels: int) -> None:
    """Refuse an upload that Pillow cannot identify, or whose header (read without decoding the
    pixels) gives more than `max_pixels` pixels (:class:`TooLarge`; a decompression bomb)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:  # reads the header only
            width, height = img.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # the warning where filters raise it
        raise TooLarge(
            f"the uploaded image has more than {Image.MAX_IMAGE_PIXELS} pixels (a decompression bomb?), over this "
            f"explorer's limit of {max_pixels}; send a smaller picture"
        ) from None
    except Exception as err:  # Pillow raises many kinds for a broken header
        raise InputError(
            f"the uploaded image is not an image Pillow can read ({type(err).__name__}); upload a PNG or JPEG"
        ) from None
    if width * height > max_pixels:
        raise TooLarge(
            f"the uploaded image has {width} x {height} = {width * height} pixels, over this explorer's limit of "
            f"{max_pixels}; send a smaller picture"
        )


def _upload_bytes(encoded: str, kind: str, limit: int) -> bytes:
    what = "an image file" if kind == "image" else "a WAV file"
    try:
        data = base64.b64decode(encoded.split(",", 1)[-1], validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"'{kind}' must be a base64-encoded {what} (a data: URL or plain base64)") from None
    if len(data) > limit:
        raise InputError(
            f"the {'image' if kind == 'image' else 'recording'} is {len(data)} bytes; this explorer "
            f"takes at most {limit}"
        )
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
