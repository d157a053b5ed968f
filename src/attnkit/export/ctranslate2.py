"""A Transformer run as a CTranslate2 model folder, and translation through it.

:func:`export_ctranslate2` fills CTranslate2's ``TransformerSpec`` from the run's own weights
(pre- or post-LN, sinusoidal / learned / no absolute positions or RoPE, full, grouped-query or
multi-query heads, tied, shared or separate embeddings, the feed-forward activations CTranslate2
has) and saves it with CTranslate2's ``Converter``; the folder also holds the run's tokenizer files
and ``attnkit-export.json`` (what was exported and how to decode it like attnkit).
:func:`translate` runs a run's export on raw lines through the run's task (its tokenisation and
input options such as a date's locale) and returns the task's :class:`attnkit.decoding.Translation`
objects, with the attention CTranslate2 returns.

What the engine needs to give attnkit's outputs:

- positions: attnkit's sinusoidal table interleaves sin and cos columns, CTranslate2's generated
  table does not, so every absolute table (sinusoidal, learned, none = zeros) is written as a
  position-embedding variable; RoPE is CTranslate2's interleaved rotary embedding (attnkit's layout).
- decoding: ``min_decoding_length=0`` (CTranslate2's default 1 forbids ``</s>`` at the first step,
  where attnkit may end), ``length_penalty=0`` for attnkit's ``alpha`` 0 (CTranslate2's default
  is 1), ``return_end_token`` so that the score and the attention include the ``</s>`` step as
  attnkit's do, and one more step than attnkit's output limit (attnkit forces ``</s>`` after the
  limit; CTranslate2 stops there, and the extra token is dropped).
- attention: CTranslate2 returns one map per output token, the mean of the first
  ``alignment_heads`` heads of one decoder layer's cross-attention, chosen at conversion. The
  export bakes in the run's choice made on the dev gold (``alignment.json`` of ``attnkit
  evaluate --choose``) or the flags: one head is moved to the front of its layer (the layer's
  query, key/value and output projections permuted, which changes no output), or the layer's mean.

Not convertible (a one-line :class:`~attnkit.errors.ConfigError` says why): models other than
the text Transformer (RNN encoder-decoders, speech front ends), ALiBi (attnkit biases the
encoder symmetrically, CTranslate2 has ALiBi in decoders only), and ``suppress_pad`` (attnkit
removes ``<pad>`` after the softmax, CTranslate2 before it: other scores).

Identical outputs, scores and attention are promised for greedy decoding, and for beam search
with ``alpha`` 0 (then CTranslate2's early exit and attnkit's stop rules agree) and no coverage
penalty below the length limit. At the limit attnkit forces ``</s>`` and CTranslate2 cannot: a
hypothesis cut there is scored again with ``</s>`` (``score_batch``), which makes greedy decoding
identical there too, but beam search at the limit may keep other hypotheses than attnkit in rare
cases (on a date model, whose limit is a date's length, 20 of 20 test dates still agreed).
CTranslate2 has no GNMT length penalty; ``--length-norm power`` maps to its ``length_penalty`` (its
stop rule then waits for ``beam_size`` finished hypotheses, so the beams can differ from attnkit's).

Two things of CTranslate2 4.8 worked around here: beam search on CPUs gives sentence i > 0 of
a batch the first step's attention of another sentence (taken from one greedy step instead), and
its scores are divided by length ** length_penalty (multiplied back: attnkit reports raw sums).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence, cast

import torch
from torch import Tensor

from .. import __version__
from ..errors import ConfigError
from ..io import atomic_write_text

if TYPE_CHECKING:
    from ..decoding import DecodeOptions, Translation
    from ..training.run import Run

__all__ = [
    "export_ctranslate2",
    "translate",
    "build_spec",
    "engine_options",
    "load_translator",
    "default_export_dir",
    "require_ctranslate2",
    "ExportedAlignment",
    "METADATA_FILE",
]

METADATA_FILE = "attnkit-export.json"  # beside CTranslate2's model.bin: what was exported, how to decode it
_TOKENIZER_FILES = ("src_vocab.json", "tgt_vocab.json", "subwords.src.model", "subwords.tgt.model")
_ACTIVATIONS = {"relu": "RELU", "gelu": "GELU", "gelu_tanh": "GELUTanh", "silu": "SWISH"}


def require_ctranslate2() -> Any:
    """The ``ctranslate2`` module.

    Raises:
        ConfigError: one line naming the extra to install when it is missing.
    """
    try:
        import ctranslate2
    except ImportError:
        raise ConfigError(
            "the CTranslate2 export and engine need the ctranslate2 package: pip install 'attnkit[ctranslate2]'"
        ) from None
    return ctranslate2


@dataclass(frozen=True)
class ExportedAlignment:
    """The decoder layer (from 0) and head (None: the layer's mean) whose cross-attention the
    engine returns, and where the choice came from (``flags``, ``alignment.json``, ``default``)."""

    layer: int
    head: int | None
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "head": "mean" if self.head is None else self.head, "from": self.source}


def _alignment(run: Run, layer: int | None, head: str | None, n_layers: int, n_heads: int) -> ExportedAlignment:
    """The run's ``alignment.json`` (else the last layer's mean), each part overridden by its flag."""
    source, chosen_layer, chosen_head = "default", -1, "mean"
    choice_file = run.path / "alignment.json"
    if choice_file.is_file():
        try:
            choice = json.loads(choice_file.read_text(encoding="utf-8"))["choice"]
            chosen_layer, chosen_head = int(choice["layer"]), str(choice["head"])
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(
                f"{choice_file}: not an alignment choice ({err}); rerun `attnkit evaluate --split dev --choose` "
                "or pass --align-layer and --align-head"
            ) from None
        source = "alignment.json"
    if layer is not None or head is not None:
        source = "flags" if source == "default" else "flags and alignment.json"
    chosen_layer = chosen_layer if layer is None else layer
    chosen_head = chosen_head if head is None else head
    if not -n_layers <= chosen_layer < n_layers:
        raise ConfigError(f"alignment layer {chosen_layer} is not a decoder layer; this model has {n_layers}")
    if chosen_head != "mean" and not (chosen_head.isdigit() and int(chosen_head) < n_heads):
        raise ConfigError(f"alignment head {chosen_head!r} must be 'mean' or a head index below {n_heads}")
    return ExportedAlignment(range(n_layers)[chosen_layer], None if chosen_head == "mean" else int(chosen_head), source)


def _check_convertible(run: Run) -> None:
    """Raise ConfigError (one line, why) for a run CTranslate2 cannot run as attnkit does."""
    from ..models.transformer import TransformerSeq2Seq

    model, cfg = run.model, run.config.model
    if type(model) is not TransformerSeq2Seq:
        raise ConfigError(
            f"{run.path}: only text Transformer runs (model.arch: transformer) convert to CTranslate2; "
            f"this run's {type(model).__name__} has no CTranslate2 counterpart"
        )
    mcfg = cast(Any, cfg)
    if mcfg.positional == "alibi":
        raise ConfigError(
            f"{run.path}: ALiBi positions do not convert to CTranslate2: attnkit's encoder uses a symmetric "
            "ALiBi bias and CTranslate2 has ALiBi in decoders only"
        )
    if mcfg.suppress_pad:
        raise ConfigError(
            f"{run.path}: model.suppress_pad does not convert to CTranslate2: attnkit removes <pad> after the "
            "softmax, CTranslate2 before it, which changes every score"
        )
    if mcfg.activation not in _ACTIVATIONS:
        raise ConfigError(f"{run.path}: the activation {mcfg.activation!r} has no CTranslate2 counterpart")


def _np(x: Tensor) -> Any:
    # a copy: CTranslate2's quantisation rewrites the spec's arrays in place, which would change the run's model
    return x.detach().cpu().float().numpy().copy()


def _linear(spec: Any, weight: Tensor, bias: Tensor | None) -> None:
    spec.weight = _np(weight)
    if bias is not None:
        spec.bias = _np(bias)


def _norm(spec: Any, norm: torch.nn.LayerNorm) -> None:
    spec.gamma, spec.beta = _np(norm.weight), _np(norm.bias)


def _self_attention(spec: Any, attn: Any) -> None:
    """Fused [q; k; v] projection (CTranslate2's ``linear[0]``), then W^O."""
    if attn.in_proj is not None:
        _linear(spec.linear[0], attn.in_proj.weight, attn.in_proj.bias)
    else:
        projs = (attn.q_proj, attn.k_proj, attn.v_proj)
        bias = None if attn.q_proj.bias is None else torch.cat([p.bias for p in projs])
        _linear(spec.linear[0], torch.cat([p.weight for p in projs]), bias)
    _linear(spec.linear[1], attn.out_proj.weight, attn.out_proj.bias)


def _head_orders(n_heads: int, n_kv: int, head: int | None) -> tuple[list[int], list[int]]:
    """Query-head and key/value-head orders that put `head` first and keep every query head with
    its key/value head (query head j reads key/value head j // (Nh / Nkv))."""
    group = n_heads // n_kv
    if head is None:
        return list(range(n_heads)), list(range(n_kv))
    kv_order = [head // group] + [g for g in range(n_kv) if g != head // group]
    order = []
    for g in kv_order:
        members = list(range(g * group, (g + 1) * group))
        order += sorted(members, key=lambda h: h != head)  # the chosen head first within its group
    return order, kv_order


def _rows(x: Tensor, order: list[int], dh: int) -> Tensor:
    """Blocks of `dh` rows of a projection's weight (or entries of its bias) in `order`."""
    return x.view(len(order), dh, *x.shape[1:])[order].reshape(x.shape)


def _cross_attention(spec: Any, attn: Any, head: int | None) -> None:
    """W^Q (``linear[0]``), fused [W^K; W^V] (``linear[1]``), W^O, with `head` moved to the front."""
    order, kv_order = _head_orders(attn.n_heads, attn.num_kv_heads, head)
    dh = attn.head_dim
    q, k, v = attn._separate_projs()
    _linear(spec.linear[0], _rows(q.weight, order, dh), None if q.bias is None else _rows(q.bias, order, dh))
    kv = torch.cat([_rows(k.weight, kv_order, dh), _rows(v.weight, kv_order, dh)])
    kv_bias = None if k.bias is None else torch.cat([_rows(k.bias, kv_order, dh), _rows(v.bias, kv_order, dh)])
    _linear(spec.linear[1], kv, kv_bias)
    out = attn.out_proj.weight  # (D, Nh Dh): columns by head
    out = out.view(out.shape[0], attn.n_heads, dh)[:, order].reshape(out.shape)
    _linear(spec.linear[2], out, attn.out_proj.bias)


def _ffn(spec: Any, ff: Any, norm: torch.nn.LayerNorm) -> None:
    _norm(spec.layer_norm, norm)
    _linear(spec.linear_0, ff[0].weight, ff[0].bias)
    _linear(spec.linear_1, ff[3].weight, ff[3].bias)


def _positions(spec: Any, model: Any, n_positions: int) -> None:
    """The absolute table as a variable: attnkit's own sinusoids, learned vectors, or zeros."""
    from ..nn.positional import LearnedPositionalEncoding, SinusoidalPositionalEncoding

    pos = model.positions
    table: Tensor
    if isinstance(pos, LearnedPositionalEncoding):
        table = pos.weight
    elif isinstance(pos, SinusoidalPositionalEncoding):  # and its [sin; cos] halves subclass
        table = pos.table
    else:  # positional: none
        table = torch.zeros(n_positions, model.d_model)
    spec.position_encodings.encodings = _np(table)


def build_spec(run: Run, alignment: ExportedAlignment) -> Any:
    """CTranslate2's ``TransformerSpec`` of the run's model, weights set, vocabularies registered.

    Raises:
        ConfigError: for a model CTranslate2 cannot run as attnkit does (see the module docstring).
    """
    require_ctranslate2()
    from ctranslate2.specs import common_spec, transformer_spec

    from ..nn.positional import RotaryEmbedding

    _check_convertible(run)
    model, mcfg = cast(Any, run.model), cast(Any, run.config.model)
    attn = model.encoder[0].self_attn
    n_heads, n_kv = attn.n_heads, attn.num_kv_heads
    rope = attn.rotary if isinstance(attn.rotary, RotaryEmbedding) else None
    common: dict[str, Any] = {
        "pre_norm": mcfg.norm == "pre",
        "activation": common_spec.Activation[_ACTIVATIONS[mcfg.activation]],
        "num_heads_kv": None if n_kv == n_heads else n_kv,
    }
    if rope is not None:
        common.update(rotary_dim=0, rotary_interleave=True, rotary_base=rope.base)
    encoder = transformer_spec.TransformerEncoderSpec(len(model.encoder), n_heads, **common)
    decoder = transformer_spec.TransformerDecoderSpec(
        len(model.decoder),
        n_heads,
        alignment_layer=alignment.layer,
        alignment_heads=n_heads if alignment.head is None else 1,
        **common,
    )
    spec = transformer_spec.TransformerSpec(encoder, decoder)
    scaled = model.embed_scale != 1.0
    for side, embedding, layers, final in (
        (encoder, model.src_embedding, model.encoder, model.enc_norm),
        (decoder, model.tgt_embedding, model.decoder, model.dec_norm),
    ):
        side.scale_embeddings = scaled
        (side.embeddings[0] if isinstance(side.embeddings, list) else side.embeddings).weight = _np(embedding.weight)
        if rope is None:
            _positions(side, model, cast(Any, run.task).spec.max_len)
        elif side is encoder:  # the encoder spec makes a (sinusoidal) position table whatever its rotary option
            delattr(side, "position_encodings")
        if mcfg.norm == "pre":
            _norm(side.layer_norm, final)
        for i, (layer_spec, layer) in enumerate(zip(side.layer, layers)):
            _self_attention(layer_spec.self_attention, layer.self_attn)
            _norm(layer_spec.self_attention.layer_norm, layer.sub1.norm)
            if side is decoder:
                head = alignment.head if i == alignment.layer else None
                _cross_attention(layer_spec.attention, layer.cross_attn, head)
                _norm(layer_spec.attention.layer_norm, layer.sub2.norm)
                _ffn(layer_spec.ffn, layer.ff, layer.sub3.norm)
            else:
                _ffn(layer_spec.ffn, layer.ff, layer.sub2.norm)
    _linear(decoder.projection, model.generator.weight, model.generator.bias)
    task = cast(Any, run.task)
    spec.register_source_vocabulary(list(task.src_vocab.itos))
    spec.register_target_vocabulary(list(task.tgt_vocab.itos))
    spec.config.unk_token, spec.config.bos_token, spec.config.eos_token = "<unk>", "<s>", "</s>"
    spec.config.decoder_start_token = "<s>"
    spec.config.layer_norm_epsilon = float(model.encoder[0].sub1.norm.eps)
    return spec


def default_export_dir(run_dir: str | Path) -> Path:
    """Where ``attnkit export RUN --format ctranslate2`` writes without ``--out``: RUN/export/ctranslate2."""
    return Path(run_dir) / "export" / "ctranslate2"


def export_ctranslate2(
    run: Run,
    out: str | Path | None = None,
    *,
    align_layer: int | None = None,
    align_head: str | None = None,
    quantization: str | None = None,
) -> Path:
    """Write `run` as a CTranslate2 model folder (atomically: a hidden sibling renamed into place).

    Args:
        run: a loaded text Transformer run (:func:`attnkit.load_run`).
        out: the folder (default ``RUN/export/ctranslate2``); replaced if it holds an export.
        align_layer: decoder layer whose cross-attention the engine returns (negative: from the
            end); default: the run's ``alignment.json``, else the last.
        align_head: ``"mean"`` or a head index as a string; default as `align_layer`.
        quantization: CTranslate2's weight type (``int8``, ``int8_float32``, ``float16``...); None
            keeps float32.

    Returns:
        The folder: CTranslate2's ``model.bin``, ``config.json``, ``source_vocabulary.json``,
        ``target_vocabulary.json``; the run's tokenizer files; ``attnkit-export.json``.

    Raises:
        ConfigError: for a run CTranslate2 cannot run as attnkit does, a bad alignment choice, a
            missing ctranslate2 package, or `out` an existing folder that is no export.
    """
    ct2 = require_ctranslate2()
    from ctranslate2.converters.converter import Converter

    model = cast(Any, run.model)
    _check_convertible(run)
    attn = model.decoder[0].cross_attn
    alignment = _alignment(run, align_layer, align_head, len(model.decoder), attn.n_heads)
    spec = build_spec(run, alignment)
    target = default_export_dir(run.path) if out is None else Path(out)
    if target.exists() and not (target / METADATA_FILE).is_file():
        raise ConfigError(f"{target} exists and is not an attnkit export; give another --out")

    class _RunConverter(Converter):  # CTranslate2's driver: validate, optimise (quantise), save
        def _load(self) -> Any:
            return spec

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _RunConverter().convert(str(staging), quantization=quantization, force=True)
        for name in _TOKENIZER_FILES:
            if (run.path / name).is_file():
                shutil.copy2(run.path / name, staging / name)
        meta = {
            "format": "ctranslate2",
            "ctranslate2": ct2.__version__,
            "attnkit": __version__,
            "run": str(run.path.resolve()),
            "task": run.config.data.task,
            "alignment": alignment.as_dict(),
            "quantization": quantization,
            "weights_sha256": _weights_digest(run.path),
            "decoding": {"min_decoding_length": 0, "return_end_token": True, "max_input_length": 0},
        }
        atomic_write_text(staging / METADATA_FILE, json.dumps(meta, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def engine_options(decode: DecodeOptions) -> dict[str, Any]:
    """``translate_batch`` arguments that decode as attnkit's `decode` does.

    Raises:
        DecodeOptionError: for options CTranslate2 cannot follow (a GNMT length penalty with
            alpha > 0, a coverage penalty, bf16, attnkit's int8 quantisation or compiled step),
            naming the field.
    """
    from ..decoding import DecodeOptionError

    if decode.beam_size > 1 and decode.alpha > 0 and decode.length_norm == "gnmt":
        raise DecodeOptionError(
            "CTranslate2 has no GNMT length penalty; pass --alpha 0 (identical outputs) or --length-norm power", "alpha"
        )
    if decode.beta > 0:
        raise DecodeOptionError("the CTranslate2 engine takes no coverage penalty here; leave it at 0", "beta")
    if decode.precision != "fp32":
        raise DecodeOptionError("the CTranslate2 engine decodes at the export's precision; leave fp32", "precision")
    if decode.quantize != "none" or decode.compile_step != "off":
        field = "quantize" if decode.quantize != "none" else "compile_step"
        raise DecodeOptionError(
            f"{field} is attnkit's own decoding; the CTranslate2 engine quantises at export (--quantization int8)",
            field,
        )
    return {
        "beam_size": decode.beam_size,
        "num_hypotheses": decode.n_best,
        "length_penalty": decode.alpha if decode.beam_size > 1 else 0.0,
        "min_decoding_length": 0,
        "return_end_token": True,
        "return_scores": True,
        "return_attention": True,
        "max_input_length": 0,
        "max_batch_size": decode.batch_size,
    }


def _weights_digest(run_dir: Path) -> str:
    """SHA-256 of the run's ``model.safetensors``: an export names the weights it was made from."""
    with open(run_dir / "model.safetensors", "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def load_translator(
    export_dir: str | Path, *, device: str = "cpu", threads: int = 0, run_dir: Path | None = None
) -> Any:
    """A ``ctranslate2.Translator`` on an export folder.

    Args:
        export_dir: the folder ``attnkit export`` wrote.
        device: ``cpu``, or ``cuda`` (any CUDA device name) to run on the GPU.
        threads: CTranslate2's ``intra_threads`` (0: its default).
        run_dir: when given, the export must have been made from this run's current weights.

    Raises:
        ConfigError: if the folder is not an attnkit CTranslate2 export, was made from other
            weights than `run_dir`'s, or ctranslate2 is missing.
    """
    ct2 = require_ctranslate2()
    folder = Path(export_dir)
    make = f"`attnkit export {run_dir or 'RUN'} --format ctranslate2`"
    if not (folder / METADATA_FILE).is_file() or not (folder / "model.bin").is_file():
        raise ConfigError(f"{folder} holds no CTranslate2 export; make one with {make}")
    if run_dir is not None:
        try:
            made_from = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8")).get("weights_sha256")
        except ValueError:
            made_from = None
        if made_from != _weights_digest(run_dir):
            raise ConfigError(f"{folder} was exported from other weights than {run_dir}'s; export again with {make}")
    return ct2.Translator(str(folder), device="cuda" if device.startswith("cuda") else "cpu", intra_threads=threads)


def _raw_scores(translator: Any, tokens: list, ids: list, results: list, task: Any, alpha: float) -> list[list[float]]:
    """attnkit's score of every hypothesis: the sum of log-probabilities, ``</s>`` included.
    CTranslate2 divides by length ** alpha (its hypotheses count ``</s>`` with
    ``return_end_token``); a hypothesis stopped at the limit is scored again with ``</s>`` forced
    after its kept tokens (``score_batch``), as attnkit forces it."""
    scores = [[s * len(h) ** alpha for h, s in zip(res.hypotheses, res.scores)] for res, _ in results]
    cut = [(i, j) for i, (res, _) in enumerate(results) for j, h in enumerate(res.hypotheses) if h[-1] != "</s>"]
    if cut:
        sources = [[task.src_vocab.itos[t] for t in ids[i]] for i, _ in cut]
        targets = [results[i][0].hypotheses[j][:-1] for i, j in cut]
        for (i, j), scored in zip(cut, translator.score_batch(sources, targets, max_input_length=0)):
            scores[i][j] = float(sum(scored.log_probs))
    return scores


def translate(
    run: Run,
    inputs: Sequence[str],
    *,
    options: Mapping[str, str] = {},
    decode: DecodeOptions | None = None,
    translator: Any = None,
    export_dir: str | Path | None = None,
    device: str = "cpu",
) -> list[Translation]:
    """Translate raw lines with the run's CTranslate2 export, through the run's task.

    Args:
        run: the run whose task tokenises and detokenises (and checks inputs and options).
        inputs: raw lines.
        options: the inputs' own options (a date's ``locale``).
        decode: attnkit's decoding options, mapped by :func:`engine_options`.
        translator: a ``ctranslate2.Translator`` to use; default one on `export_dir`.
        export_dir: the export folder; default ``RUN/export/ctranslate2``.
        device: where CTranslate2 runs without `translator` (``cpu``, or ``cuda`` for any CUDA device).

    Returns:
        One :class:`attnkit.decoding.Translation` per input, as the task's ``predict`` makes them;
        the weights are the exported alignment map, (To, Tk) with To = output tokens + ``</s>``.

    Raises:
        InputError: for a rejected line or option.
        DecodeOptionError: for decoding options the engine cannot follow (:func:`engine_options`).
        ConfigError: for a missing or stale export (made from other weights), or a missing
            ctranslate2 package.
    """
    import dataclasses

    from ..decoding import DecodeOptions, Translation

    decode = decode or DecodeOptions()
    kwargs = engine_options(decode)
    task = cast(Any, run.task)
    task.check_inputs(list(inputs), options=options)
    locale = task._check_options(options).get("locale", "")
    if translator is None:
        translator = load_translator(export_dir or default_export_dir(run.path), device=device, run_dir=run.path)
    tokens = [task.source_tokens(text, locale) for text in inputs]
    ids = [task.src_vocab.encode(t) for t in tokens]
    limits = [decode.max_len or task.output_limit(len(i)) for i in ids]
    results: list[Any] = [None] * len(ids)
    for limit in sorted(set(limits)):  # one call per output limit: attnkit's limit + the </s> step
        which = [i for i, n in enumerate(limits) if n == limit]
        batch = [[task.src_vocab.itos[t] for t in ids[i]] for i in which]
        found = translator.translate_batch(batch, max_decoding_length=limit + 1, **kwargs)
        # CTranslate2 4.8 beam search on CPUs gives sentence i > 0 of a batch the first step's map
        # of another sentence; every hypothesis shares its sentence's first step: take it from one greedy step
        first = (
            translator.translate_batch(batch, max_decoding_length=1, **{**kwargs, "beam_size": 1, "num_hypotheses": 1})
            if decode.beam_size > 1
            else found
        )
        for i, res, one in zip(which, found, first):
            results[i] = (res, one.attention[0][0])
    alpha = kwargs["length_penalty"]
    raw = _raw_scores(translator, tokens, ids, results, task, alpha)
    out: list[Translation] = []
    for src_tokens, src_ids, (res, first_row), limit, scores in zip(tokens, ids, results, limits, raw):
        made = []
        for hyp, score, attention in zip(res.hypotheses, scores, res.attention):
            # ends with </s>, or stopped one step past the limit, where attnkit forces </s>: that
            # step's token is dropped (its map is the </s> row attnkit has; its score was redone with </s>)
            out_ids = [task.tgt_vocab.stoi.get(t, task.tgt_vocab.unk_id) for t in hyp][:-1]
            assert len(out_ids) <= limit, "CTranslate2 decoded past max_decoding_length"
            weights = torch.tensor([first_row, *attention[1:]], dtype=torch.float32)  # (To, Tk)
            made.append(
                Translation(
                    task.decode_target(out_ids),
                    src_tokens,
                    [task.tgt_vocab.itos[t] for t in out_ids] + ["</s>"],
                    weights,
                    sum(t == task.src_vocab.unk_id for t in src_ids),
                    float(score),
                    (),
                    tuple(src_ids),
                    tuple(out_ids),
                )
            )
        made.sort(key=lambda t: -t.score / (len(t.out_ids) + 1) ** alpha)  # attnkit's ranking, rescored ones too
        out.append(dataclasses.replace(made[0], nbest=tuple(made)) if decode.n_best > 1 else made[0])
    return out
