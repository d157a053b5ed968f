"""Predictions as JSON: the hypotheses of one decoding of a sequence task (greedy, or the beam's
n-best), each with its alignment matrix, the Transformer's layer x head maps, and any other
task's prediction by its fields, with the views the page draws as pictures: an image's overlays
and a node's neighbourhood. Every matrix travels as binary, ``{"shape": [...], "dtype":
"float32", "base64": ...}`` (the little-endian float32 values, row-major, base64-encoded), which
the page reads into one typed array (:func:`matrix`, :func:`read_matrix`).
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

from ..decoding import Translation, layer_maps
from ..errors import InputError
from .runs import Served, input_kind

__all__ = ["matrix", "read_matrix", "predict_payload", "layers_payload", "overlay_view", "neighbourhood_view",
           "speech_view", "word_gold", "DECIMALS", "TooLarge"]

DECIMALS = 5  # numbers that travel as JSON numbers (an outline's corners) are rounded to this many decimals


class TooLarge(ValueError):
    """An answer over the explorer's limit of numbers per answer."""


def matrix(values: Any) -> dict[str, Any]:
    """A tensor or array as ``{"shape", "dtype": "float32", "base64"}``: the shape as a list, the
    values as little-endian float32, row-major, base64-encoded (a few bytes per number instead of
    a JSON number list's 8 to 10 characters, and a typed array in the page without parsing);
    NaN and infinities become 0."""
    if isinstance(values, torch.Tensor):
        values = values.detach().float().cpu().numpy()
    array = np.nan_to_num(np.asarray(values, dtype="<f4"), nan=0.0, posinf=0.0, neginf=0.0)
    return {"shape": list(array.shape), "dtype": "float32",
            "base64": base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")}


def read_matrix(m: Mapping[str, Any]) -> np.ndarray:
    """The array (float32) of a :func:`matrix` answer, for Python clients and tests."""
    return np.frombuffer(base64.b64decode(m["base64"]), dtype="<f4").reshape(m["shape"])


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
    with served.lock, torch.inference_mode():
        if run.capabilities.decodes and run.capabilities.task.input.value == "text":
            out = _seq2seq(served, request, max_cells)
        else:
            out = _generic(served, request, max_cells, {"image": max_image_bytes, "audio": max_audio_bytes})
    out.update(run=served.key, options=dict(request["options"]),
               elapsed_ms=round((time.perf_counter() - start) * 1000, 2))
    return out


def _seq2seq(served: Served, request: Mapping[str, Any], max_cells: int) -> dict[str, Any]:
    """One decoding of the input (greedy for beam 1, else beam search keeping the n-best list)
    gives every hypothesis shown; the reference's forced attention (gold word links) and the layer
    x head maps (when asked) are one teacher-forced pass each, on the ids of that decoding."""
    run = served.run
    task, model, caps = run.task, run.model, run.capabilities
    text, options = request["input"], dict(request["options"])
    decode = request["decode"]
    best = task.predict(model, [text], options=options, decode=decode)[0]  # InputError names a bad input
    found = best.nbest or (best,)
    names = ["greedy"] if decode.beam_size == 1 else [f"beam {i + 1}" for i in range(len(found))]
    hyps: list[tuple[str, Translation, float | None]] = [(n, t, t.score) for n, t in zip(names, found)]
    cells = sum(_cells(t.weights) for _, t, _ in hyps)
    if cells > max_cells:
        raise TooLarge(f"the alignment matrices have {cells} numbers, over this explorer's limit of {max_cells}; "
                       "give a shorter input or a smaller beam")
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
    layers, note = (_layers(caps.layer_maps, model, best.src_ids, best.out_ids, max_cells - cells)
                    if request["layers"] else (None, None))
    return {
        "kind": "seq2seq",
        "input": text,
        "src_tokens": list(best.src_tokens),
        "n_unknown": int(best.n_unknown),
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


def _layers(available: bool, model, src_ids, out_ids, budget: int) -> tuple[dict | None, str | None]:
    """Every layer's and head's maps of a Transformer (None where the run has none: not
    `available`), by one teacher-forced pass over the output ids `out_ids` (no ``</s>``) on the
    source ids `src_ids`; or None and a note when they have more than `budget` numbers."""
    if not available:
        return None, None
    maps = layer_maps(model, src_ids, out_ids)
    n = sum(_cells(m) for m in maps)
    if n > budget:
        return None, f"layer x head maps left out: {n} numbers, over the limit of {budget} left for this answer"
    return {name: matrix(m) for name, m in maps._asdict().items()}, None


def layers_payload(served: Served, request: Mapping[str, Any], *, max_cells: int) -> dict[str, Any]:
    """The layer x head maps of a teacher-forced pass over a given output (``request["out_tokens"]``,
    ending in ``</s>``) for a given input: what the page fetches after it has drawn the alignment.

    Raises:
        attnkit.errors.InputError: for an input or option the task rejects, or a model without
            layer maps.
    """
    start = time.perf_counter()
    run = served.run
    task, model = run.task, run.model
    if not run.capabilities.layer_maps:
        raise InputError(f"run {served.key} has no per-layer attention maps (only Transformers have them)")
    options = dict(request["options"])
    with served.lock, torch.inference_mode():
        task.check_inputs([request["input"]], options=options)
        locale = {**run.capabilities.task.option_defaults, **options}.get("locale", "")
        src_ids = task.encode_source(request["input"], locale)
        out = list(request["out_tokens"])
        out_ids = task.tgt_vocab.encode(out[:-1] if out[-1:] == ["</s>"] else out)
        layers, note = _layers(True, model, src_ids, out_ids, max_cells)
    return {"run": served.key, "layers": layers, "layers_note": note,
            "elapsed_ms": round((time.perf_counter() - start) * 1000, 2)}


def _generic(served: Served, request: Mapping[str, Any], max_cells: int, max_bytes: Mapping[str, int]
             ) -> dict[str, Any]:
    """Any other task: its ``predict`` on one input (an uploaded image or recording goes through a
    private temporary file, deleted after), the prediction serialised field by field."""
    task, model = served.run.task, served.run.model
    options = dict(request["options"])
    decode = {"decode": request["decode"]} if served.run.capabilities.decodes else {}  # none for non-decoding plug-ins
    upload = next((k for k in ("image", "audio") if request.get(k) is not None), None)
    kind = input_kind(task)
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
            pred = task.predict(model, [name], options=options, **decode)[0]
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
        pred = task.predict(model, [request["input"]], options=options, **decode)[0]
        shown = request["input"]
    budget = [max_cells]
    out: dict[str, Any] = {"kind": "generic", "input": shown, "output": pred.output}
    carried: set[str] = {"output"}
    if _is_image_prediction(pred):
        out["overlay"] = overlay_view(pred, budget)
        carried |= OVERLAY_FIELDS
    if _is_node_prediction(pred):
        out["neighbourhood"] = neighbourhood_view(pred, budget)
        carried |= NEIGHBOURHOOD_FIELDS
    if _is_speech_prediction(pred):
        out["speech"] = speech_view(pred, budget)
        carried |= SPEECH_FIELDS
    out["fields"] = {f.name: _value(getattr(pred, f.name), budget) for f in dataclasses.fields(pred)
                     if f.name not in carried} if dataclasses.is_dataclass(pred) else {}
    if budget[0] < 0:
        raise TooLarge(f"the prediction's arrays have more than {max_cells} numbers, this explorer's limit")
    return out


# the prediction fields a view carries (left out of "fields", so no array travels twice)
OVERLAY_FIELDS = {"image", "maps", "rectified", "theta", "query_map", "query_grid", "query"}
NEIGHBOURHOOD_FIELDS = {"neighbours", "edge_weights", "neighbour_classes"}
SPEECH_FIELDS = {"frames", "frame_seconds", "position_seconds", "pool_weights", "self_weights", "weights",
                 "out_tokens"}


def _is_image_prediction(pred: Any) -> bool:
    return all(hasattr(pred, name) for name in ("image", "maps", "rectified", "theta"))


def _is_node_prediction(pred: Any) -> bool:
    return all(hasattr(pred, name) for name in ("node", "neighbours", "edge_weights", "neighbour_classes"))


def _is_speech_prediction(pred: Any) -> bool:
    return getattr(pred, "frames", None) is not None and hasattr(pred, "frame_seconds") \
        and hasattr(pred, "position_seconds")


def _counted(value: Any, budget: list[int]) -> dict[str, Any] | None:
    budget[0] -= int(np.prod(np.shape(value)))
    return matrix(value) if budget[0] >= 0 else None


def overlay_view(pred: Any, budget: list[int]) -> dict[str, Any]:
    """What the page draws over an image (an :class:`attnkit.tasks.images.ImagePrediction`).

    Returns:
        ``{"image": (H, W) in [0, 1], "maps": [{"name", "heat": (h, w) non-negative, "max",
        "query": true for the map that a query pixel picks}], "query": {"map", "grid": [h, w],
        "cell": [row, col] or null} or null, "stn": {"rectified": (H', W') in [0, 1], "theta":
        (2, 3), "outline": (4, 2) (x, y) input pixels of the output's corners, as
        :func:`attnkit.viz.image.sampling_outline`} or null}``. Matrices as :func:`matrix`;
        `budget` (a one-item list) is decreased by their numbers (None once it runs out).
    """
    image = np.asarray(pred.image, dtype=np.float64)
    maps = [{"name": name, "heat": _counted(heat, budget), "max": float(np.max(heat)) if np.size(heat) else 0.0,
             "query": name == pred.query_map} for name, heat in pred.maps.items()]
    query = None
    if pred.query_map is not None:
        query = {"map": pred.query_map, "grid": list(pred.query_grid),
                 "cell": None if pred.query is None else [int(v) for v in pred.query]}
    stn = None
    if pred.rectified is not None and pred.theta is not None:
        from ..viz.image import sampling_outline  # matplotlib only when a spatial transformer is shown

        outline = sampling_outline(pred.theta, *image.shape[:2])
        stn = {"rectified": _counted(pred.rectified, budget), "theta": np.asarray(pred.theta, dtype=float).tolist(),
               "outline": np.round(outline, DECIMALS).tolist()}
    return {"image": _counted(image, budget), "maps": maps, "query": query, "stn": stn}


def neighbourhood_view(pred: Any, budget: list[int]) -> dict[str, Any]:
    """A node's neighbourhood (an :class:`attnkit.tasks.graph_nodes.NodePrediction`).

    Returns:
        ``{"node", "class" (the predicted one), "neighbours": K names (edges j -> node; the node
        itself with self-loops), "classes": their K gold classes, "self": the node's own index
        in "neighbours" or null, "layers": per layer the edges' weights (K, Nh) (empty without
        attention)}``; each head's column sums to 1 over the K edges.
    """
    neighbours = list(pred.neighbours)
    return {"node": pred.node, "class": pred.output, "neighbours": neighbours,
            "classes": list(pred.neighbour_classes),
            "self": neighbours.index(pred.node) if pred.node in neighbours else None,
            "layers": [_counted(w.reshape(len(neighbours), -1), budget) for w in pred.edge_weights]}


def speech_view(pred: Any, budget: list[int]) -> dict[str, Any]:
    """What the page draws for a recording (an :class:`attnkit.tasks.spoken_words.SpokenWordPrediction`
    or :class:`attnkit.tasks.spoken_dates.SpokenDatePrediction`), as
    :func:`attnkit.viz.speech.plot_frame_attention` and :func:`~attnkit.viz.speech.plot_spectrogram_alignment`.

    Returns:
        ``{"frames": (T, n_mels) normalised log-mel frames, "frame_seconds", "position_seconds"
        (seconds per frame and per encoder position), "seconds": T * frame_seconds, "pool": (T',)
        pooling weights summing to 1 or null, "self": (T', T') last-layer self-attention (mean of
        heads, rows = queries) or null, "tokens": the To output tokens or null, "weights": (To, Tk)
        alignment of each output token over the encoder positions (mean of heads) or null}``.
    """
    weights = getattr(pred, "weights", None)
    if weights is not None:
        weights = np.asarray(weights.float() if isinstance(weights, torch.Tensor) else weights, dtype=np.float64)
        if weights.ndim == 3:  # (Nh, To, Tk): the mean of the heads, as the picture shows
            weights = weights.mean(0)
    pool, self_weights = getattr(pred, "pool_weights", None), getattr(pred, "self_weights", None)
    frames = np.asarray(pred.frames, dtype=np.float64)
    tokens = getattr(pred, "out_tokens", None)
    return {"frames": _counted(frames, budget), "frame_seconds": float(pred.frame_seconds),
            "position_seconds": float(pred.position_seconds), "seconds": len(frames) * float(pred.frame_seconds),
            "pool": None if pool is None else _counted(pool, budget),
            "self": None if self_weights is None else _counted(self_weights, budget),
            "tokens": None if tokens is None else list(tokens),
            "weights": None if weights is None else _counted(weights, budget)}


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


def _value(value: Any, budget: list[int]) -> Any:
    """A prediction field as JSON: arrays as :func:`matrix`, containers element-wise."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        budget[0] -= int(np.prod(value.shape))
        return matrix(value) if budget[0] >= 0 else None
    if isinstance(value, Mapping):
        return {str(k): _value(v, budget) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_value(v, budget) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
