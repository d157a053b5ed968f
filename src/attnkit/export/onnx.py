"""A run's model as an ONNX graph with its attention as named outputs, checked with onnxruntime.

:func:`export_onnx` writes ``model.onnx`` (torch's dynamo exporter, ``torch.onnx.export(...,
dynamo=True)`` on ``torch.export``, opset :data:`OPSET`), ``attnkit-export.json`` (the inputs and
outputs by name with their axes, the opset, the run's task and family, the class names or the
pixel pipeline) and the vocabulary files the inputs are made with, into ``RUN/export/onnx``.

What exports, and what the graph takes and returns (B, T and the batch / length axes are dynamic):

- ``cnn`` (any of its attentions: SE, ECA, CBAM, non-local; with or without the spatial
  transformer) and ``vit``: ``images`` (B, C, H, W) float32, normalised as the task does
  (``pixel_pipeline`` in the sidecar where the task states it) -> ``logits`` (B, n_classes) and
  every attention the model returns: ``channel_weights_S`` (B, C_S), ``spatial_weights_S`` (B, 1,
  H_S, W_S), ``pixel_weights`` (B, [Nh,] HW, HW), ``theta`` (B, 2, 3), ``rectified`` (B, C, H', W'),
  the ViT's ``attention_L`` (B, Nh, T, T). H and W stay those the model was built for (both
  families refuse other sizes).
- ``transformer``: its encoder, ``src`` (B, T) int64 token ids and ``src_lengths`` (B,) int64 ->
  ``annotations`` (B, T, D) and ``attention_L`` (B, Nh, T, T) per encoder layer; T up to the
  position table's length (``max_length`` in the sidecar; none for ALiBi and no positions).
  Sinusoidal, learned and RoPE positions and ALiBi follow the input's length (the positions are
  sliced and ALiBi's distances made from the symbolic length, not baked in at the traced one).
- ``tagger-transformer``: ``words`` (B, T) int64, ``chars`` (B, T, L) int64 when the model reads
  characters (a CNN over them; a character BiLSTM is refused), ``mask`` (B, T) bool ->
  ``logits_<target>`` (B, T, n) per target and ``attention_L`` (B, Nh, T, T).

Not exported (a one-line :class:`~attnkit.errors.ConfigError` says why): the RNN encoder-decoders,
the document classifiers (their flattening of words depends on the data), character BiLSTMs
(packed sequences), the performer and flex attention kernels (the dense, window, linear and
Nyström kernels export), and every other family.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor, nn

from .. import __version__
from ..errors import ConfigError
from ..io import atomic_write_text

if TYPE_CHECKING:
    from ..training.run import Run

__all__ = [
    "OnnxGraph",
    "export_onnx",
    "onnx_graph",
    "write_onnx",
    "default_export_dir",
    "require_onnx",
    "METADATA_FILE",
    "MODEL_FILE",
    "OPSET",
    "TOLERANCE",
]

METADATA_FILE = "attnkit-export.json"  # beside model.onnx: what was exported, its inputs and outputs
MODEL_FILE = "model.onnx"
OPSET = 20  # the ONNX opset written (GELU and GridSample as single operators)
TOLERANCE = 1e-4  # largest |onnxruntime - PyTorch| the check after export accepts
_SOURCE_FILES = ("src_vocab.json", "subwords.src.model")  # what a Transformer encoder's ids are made with
_TAGGER_FILES = ("vocab/words.txt", "vocab/chars.txt", "labels.json")
_KERNELS_REFUSED = {  # attention kernels (model.attention_kernel) the exporter cannot trace, and why
    "performer": "its random features are drawn from a torch.Generator on every call, which the exporter cannot trace",
    "flex": "torch's flex_attention has no ONNX counterpart",
}

log = logging.getLogger(__name__)


def require_onnx() -> Any:
    """The ``onnxruntime`` module, after checking that ``onnx`` and ``onnxscript`` (torch's
    dynamo exporter) import.

    Raises:
        ConfigError: one line naming the extra to install when one is missing.
    """
    try:
        import onnx  # noqa: F401
        import onnxruntime
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise ConfigError(f"the ONNX export needs the {err.name} package: pip install 'attnkit[onnx]'") from None
    return onnxruntime


@dataclass
class OnnxGraph:
    """A model as the exporter sees it: tensors in by name, a tuple of tensors out by name.

    Attributes:
        module: takes the inputs in order and returns the outputs in order.
        inputs: example inputs by name (the traced sizes).
        axes: per input, its dynamic axes: index -> axis name (``batch``, ``length``, ``word_length``).
        outputs: the output names.
        checks: inputs at other sizes than the traced ones, for the check with onnxruntime.
        max_length: the longest ``length`` the graph takes (a position table's), or None.
        files: the run's files, relative to its folder, that the inputs are made with (vocabularies).
    """

    module: nn.Module
    inputs: dict[str, Tensor]
    axes: dict[str, dict[int, str]]
    outputs: tuple[str, ...]
    checks: tuple[dict[str, Tensor], ...] = ()
    max_length: int | None = None
    files: tuple[str, ...] = ()

    def run(self, inputs: dict[str, Tensor]) -> tuple[Tensor, ...]:
        """The PyTorch outputs for `inputs`, in the order of :attr:`outputs`."""
        with torch.no_grad():
            return tuple(self.module(*inputs.values()))


# --- the graphs ----------------------------------------------------------------------------------


def _image_fields(out: Any) -> list[tuple[str, Tensor]]:
    """An :class:`~attnkit.models.cnn_classifier.ImageClassifierOutput`'s tensors by output name."""
    fields: list[tuple[str, Tensor]] = [("logits", out.logits)]
    fields += [(f"channel_weights_{i}", w) for i, w in enumerate(out.channel_weights)]
    fields += [(f"spatial_weights_{i}", w) for i, w in enumerate(out.spatial_weights)]
    fields += [(name, w) for name, w in (("pixel_weights", out.pixel_weights), ("theta", out.theta)) if w is not None]
    fields += [("rectified", out.rectified)] if out.rectified is not None else []
    fields += [(f"attention_{i}", w) for i, w in enumerate(out.layer_weights)]
    return fields


class _ImageGraph(nn.Module):
    """images (B, C, H, W) -> logits and every attention of a ``cnn`` or ``vit`` model."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        return tuple(t for _, t in _image_fields(self.model(images, need_weights=True)))


class _EncoderGraph(nn.Module):
    """src (B, T), src_lengths (B,) -> a Transformer's encoder output (B, T, D) and per layer
    self-attention (B, Nh, T, T): :meth:`TransformerSeq2Seq.encode` keeping the weights."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, ...]:
        from ..functional import padding_mask

        m = cast(Any, self.model)
        mask = padding_mask(src_lengths, src.shape[1])  # (B, T)
        x = m._embed(m.src_embedding, src, 0)  # (B, T, D)
        bias = m._alibi(src.shape[1], src.shape[1], src.device)  # (1, Nh, T, T) or None
        weights = []
        for layer in m.encoder:
            x, w = layer(x, mask, bias, True)
            weights.append(w)
        return (m.enc_norm(x), *weights)


class _TaggerGraph(nn.Module):
    """words (B, T), chars (B, T, L), mask (B, T) -> logits per target and per layer attention."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, words: Tensor, chars: Tensor, mask: Tensor) -> tuple[Tensor, ...]:
        out = self.model(words, chars, mask, need_weights=True)
        return (*out.logits.values(), *out.attention)


class _WordTaggerGraph(_TaggerGraph):
    """words (B, T), mask (B, T) -> as :class:`_TaggerGraph`, for a model without characters."""

    def forward(self, words: Tensor, mask: Tensor) -> tuple[Tensor, ...]:  # type: ignore[override]
        out = self.model(words, None, mask, need_weights=True)
        return (*out.logits.values(), *out.attention)


def _position_limit(model: nn.Module) -> int | None:
    """The shortest position table of `model` (sinusoidal, learned, rotary), None without one."""
    from ..nn.positional import LearnedPositionalEncoding, RotaryEmbedding, SinusoidalPositionalEncoding

    tables = (SinusoidalPositionalEncoding, LearnedPositionalEncoding, RotaryEmbedding)
    limits = [int(m.max_len) for m in model.modules() if isinstance(m, tables)]
    return min(limits) if limits else None


def _ids(g: torch.Generator, low: int, high: int, *shape: int) -> Tensor:
    return torch.randint(low, max(high, low + 1), shape, generator=g)


def _lengths(g: torch.Generator, b: int, t: int) -> Tensor:
    """(B,) lengths in [1, T], the first T (one row without padding)."""
    lengths = _ids(g, 1, t + 1, b)
    lengths[0] = t
    return lengths


def onnx_graph(model: nn.Module, *, arch: str = "") -> OnnxGraph:
    """The :class:`OnnxGraph` of a model attnkit exports (see the module docstring).

    Args:
        model: a ``cnn``, ``vit``, ``transformer`` or ``tagger-transformer`` model, in eval mode.
        arch: the run's ``model.arch``, for the error message.

    Raises:
        ConfigError: (one line) for a model that does not export, saying why.
    """
    from ..models.cnn_classifier import AttentionCNN
    from ..models.encoder_classifier import EncoderClassifier
    from ..models.tagger import SelfAttentionTagger, TransformerBody
    from ..models.tagger_input import CharBiLSTM, CharCNN
    from ..models.transformer import TransformerSeq2Seq
    from ..models.vit import VisionTransformer
    from ..nn.multihead import MultiHeadAttention

    name = arch or type(model).__name__
    for module in model.modules():
        if isinstance(module, MultiHeadAttention) and module.kernel in _KERNELS_REFUSED:
            raise ConfigError(
                f"{name}: the {module.kernel} attention kernel does not export to ONNX: "
                f"{_KERNELS_REFUSED[module.kernel]}; the dense, window, linear and nystrom kernels do"
            )
    g = torch.Generator().manual_seed(0)
    if isinstance(model, (AttentionCNN, VisionTransformer)):
        c, (h, w) = model.in_channels, model.image_size
        example = {"images": torch.randn(2, c, h, w, generator=g)}
        with torch.no_grad():
            names = tuple(n for n, _ in _image_fields(model(example["images"], need_weights=True)))
        checks = tuple({"images": torch.randn(b, c, h, w, generator=g)} for b in (1, 3, 5))
        return OnnxGraph(_ImageGraph(model), example, {"images": {0: "batch"}}, names, checks)
    if isinstance(model, TransformerSeq2Seq):
        limit = _position_limit(model)
        t = min(7, limit or 7)
        vocab = model.src_embedding.num_embeddings
        example = {"src": _ids(g, 1, vocab, 2, t), "src_lengths": torch.tensor([t, max(t - 2, 1)])}
        sizes = [(1, t + 4), (3, max(t - 3, 2)), (4, t + 9)]
        checks = tuple(
            {"src": _ids(g, 1, vocab, b, n), "src_lengths": _lengths(g, b, n)}
            for b, n in ((b, min(n, limit or n)) for b, n in sizes)
        )
        outputs = ("annotations", *(f"attention_{i}" for i in range(len(model.encoder))))
        src_axes = {"src": {0: "batch", 1: "length"}, "src_lengths": {0: "batch"}}
        return OnnxGraph(_EncoderGraph(model), example, src_axes, outputs, checks, limit, _SOURCE_FILES)
    if isinstance(model, SelfAttentionTagger) and isinstance(model.encoder.body, TransformerBody):
        embed = model.encoder.embed
        if isinstance(embed.chars, CharBiLSTM):
            raise ConfigError(
                f"{name}: a character BiLSTM does not export to ONNX (its packed sequences depend on the "
                "data); train with model.char_encoder: cnn"
            )
        reads_chars = embed.chars is not None or embed.suffixes is not None
        limit = _position_limit(model)
        t = min(7, limit or 7)
        vocab = embed.words.num_embeddings
        n_chars = embed.chars.embedding.num_embeddings if isinstance(embed.chars, CharCNN) else 30

        def inputs(b: int, n: int, letters: int) -> dict[str, Tensor]:
            lengths = _lengths(g, b, n)
            mask = torch.arange(n)[None, :] < lengths[:, None]  # (B, T)
            made = {"words": _ids(g, 3, vocab, b, n) * mask}
            if reads_chars:
                made["chars"] = _ids(g, 1, n_chars, b, n, letters) * mask[..., None]
            return {**made, "mask": mask}

        example = inputs(2, t, 5)
        checks = tuple(inputs(b, min(n, limit or n), k) for b, n, k in ((1, t + 4, 3), (3, t + 1, 8), (4, 3, 6)))
        axes: dict[str, dict[int, str]] = {"words": {0: "batch", 1: "length"}, "mask": {0: "batch", 1: "length"}}
        if reads_chars:
            axes["chars"] = {0: "batch", 1: "length", 2: "word_length"}
        n_layers = len(cast(Any, model.encoder.body).layers)
        outputs = (*(f"logits_{target}" for target in model.heads), *(f"attention_{i}" for i in range(n_layers)))
        module = _TaggerGraph(model) if reads_chars else _WordTaggerGraph(model)
        return OnnxGraph(module, example, axes, outputs, checks, limit, _TAGGER_FILES)
    if isinstance(model, EncoderClassifier):
        raise ConfigError(
            f"{name} models do not export to ONNX: flattening a document's words into one sequence depends on "
            "the data (which words are real, the longest document)"
        )
    raise ConfigError(
        f"{name} models do not export to ONNX; it exports the image classifiers (cnn, vit), the Transformer's "
        "encoder (transformer) and Transformer taggers (tagger-transformer)"
    )


# --- export and check ----------------------------------------------------------------------------


def _cause(err: BaseException) -> str:
    """The first line of the innermost cause of `err` (torch.export wraps the useful one)."""
    while err.__cause__ is not None:
        err = err.__cause__
    return f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0]}"


def _export(graph: OnnxGraph, path: Path, opset: int) -> None:
    """Write `graph` with torch's dynamo exporter; its dynamic axes become ``torch.export`` dims."""
    dims: dict[str, torch.export.Dim] = {}
    for axes in graph.axes.values():
        for axis in axes.values():
            if axis not in dims:
                limit = graph.max_length if axis == "length" else None
                dims[axis] = torch.export.Dim(axis, min=1, **({"max": limit} if limit else {}))
    shapes = {name: {i: dims[axis] for i, axis in axes.items()} for name, axes in graph.axes.items()}
    dynamic: dict[str, Any] = {name: shapes.get(name) for name in graph.inputs}
    graph.module.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                graph.module,
                tuple(graph.inputs.values()),
                dynamo=True,
                dynamic_shapes=dynamic,
                input_names=list(graph.inputs),
                output_names=list(graph.outputs),
                opset_version=opset,
                verbose=False,
            )
    except Exception as err:  # torch.export's and onnxscript's own errors: many types
        raise ConfigError(f"torch.onnx could not export this model: {_cause(err)}") from None
    assert program is not None
    program.save(str(path))


def _check(graph: OnnxGraph, path: Path) -> float:
    """The largest |onnxruntime - PyTorch| over every output at each size of ``graph.checks``.

    Raises:
        ConfigError: if it exceeds :data:`TOLERANCE` (the graph computes something else).
    """
    ort = require_onnx()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    worst = 0.0
    for inputs in graph.checks:
        ours = graph.run(inputs)
        theirs = session.run(list(graph.outputs), {k: v.numpy() for k, v in inputs.items()})
        for name, a, b in zip(graph.outputs, ours, theirs):
            if tuple(a.shape) != tuple(b.shape):
                raise ConfigError(f"the ONNX output {name} has shape {tuple(b.shape)}, PyTorch's {tuple(a.shape)}")
            worst = max(worst, float((a.float() - torch.from_numpy(b).float()).abs().max()) if a.numel() else 0.0)
    if worst > TOLERANCE:
        raise ConfigError(f"the ONNX graph's outputs differ from PyTorch's by {worst:.2e} (> {TOLERANCE}); not written")
    return worst


def _value_info(values: Any) -> list[dict[str, Any]]:
    import onnx

    return [
        {
            "name": v.name,
            "dtype": onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name,
            "shape": [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim],
        }
        for v in values
    ]


def write_onnx(
    graph: OnnxGraph,
    target: str | Path,
    *,
    metadata: dict[str, Any] | None = None,
    files: dict[str, Path] | None = None,
    opset: int = OPSET,
) -> Path:
    """Export `graph`, check it with onnxruntime, and write the folder atomically (a hidden
    sibling renamed into place; nothing is left behind on failure).

    Args:
        graph: what :func:`onnx_graph` made.
        target: the folder; replaced if it holds an export.
        metadata: more entries of ``attnkit-export.json`` (the run, its task and family...).
        files: name in the folder -> file to copy there (vocabularies).
        opset: the ONNX opset.

    Returns:
        The folder: ``model.onnx``, ``attnkit-export.json`` (inputs and outputs with their
        axes, the opset, the exporter, the largest difference the check found) and `files`.

    Raises:
        ConfigError: if the exporter fails, the check finds other outputs, a package is
            missing, or `target` exists and is no export.
    """
    ort = require_onnx()
    import onnx

    target = Path(target)
    if target.exists() and not (target / METADATA_FILE).is_file():
        raise ConfigError(f"{target} exists and is not an attnkit export; give another --out")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _export(graph, staging / MODEL_FILE, opset)
        worst = _check(graph, staging / MODEL_FILE)
        proto = onnx.load(str(staging / MODEL_FILE), load_external_data=False)
        copied = []
        for name, source in (files or {}).items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, staging / name)
            copied.append(name)
        meta = {
            "format": "onnx",
            "attnkit": __version__,
            "exporter": f"torch.onnx dynamo (torch {torch.__version__})",
            "opset": next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
            **(metadata or {}),
            "inputs": _value_info(proto.graph.input),
            "outputs": _value_info(proto.graph.output),
            "dynamic_axes": sorted({a for axes in graph.axes.values() for a in axes.values()}),
            "max_length": graph.max_length,
            "files": copied,
            "check": {
                "onnxruntime": ort.__version__,
                "sizes": [{k: list(v.shape) for k, v in c.items()} for c in graph.checks],
                "max_abs_diff": worst,
            },
        }
        atomic_write_text(staging / METADATA_FILE, json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def default_export_dir(run_dir: str | Path) -> Path:
    """Where ``attnkit export RUN --format onnx`` writes without ``--out``: RUN/export/onnx."""
    return Path(run_dir) / "export" / "onnx"


def _weights_digest(run_dir: Path) -> str:
    """SHA-256 of the run's ``model.safetensors``: an export names the weights it was made from."""
    with open(run_dir / "model.safetensors", "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def export_onnx(run: Run, out: str | Path | None = None, *, opset: int = OPSET) -> Path:
    """Write `run`'s model as an ONNX folder (see the module docstring for what exports).

    Args:
        run: a loaded run (:func:`attnkit.load_run`), on the CPU.
        out: the folder (default ``RUN/export/onnx``); replaced if it holds an export.
        opset: the ONNX opset (default :data:`OPSET`).

    Returns:
        The folder (:func:`write_onnx`); its ``attnkit-export.json`` also names the run, its task
        and family, the weights' SHA-256, the class names of a classifier and an image task's
        pixel pipeline.

    Raises:
        ConfigError: (one line) for a model that does not export, a failed export or check, a
            missing package, or `out` an existing folder that is no export.
    """
    require_onnx()
    graph = onnx_graph(run.model, arch=f"{run.path}: model.arch={run.config.model.arch}")
    task = run.capabilities.task
    meta: dict[str, Any] = {
        "run": str(run.path.resolve()),
        "task": run.config.data.task,
        "family": run.config.model.arch,
        "weights_sha256": _weights_digest(run.path),
    }
    if task.classes:
        meta["classes"] = list(task.classes)
    if task.pixel_pipeline:
        meta["pixel_pipeline"] = asdict(cast(Any, run.task).image_processing())
    files = {name: run.path / name for name in graph.files if (run.path / name).is_file()}
    target = default_export_dir(run.path) if out is None else Path(out)
    return write_onnx(graph, target, metadata=meta, files=files, opset=opset)
