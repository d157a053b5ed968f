"""Hugging Face Marian (``MarianMTModel``, the OPUS-MT translation models [Tiedemann20] of the
Marian toolkit [Junczys18]) into attnkit's :class:`~attnkit.models.TransformerSeq2Seq`, task
``pretrained-translation`` (:mod:`attnkit.tasks.pretrained_translation`).

A Marian model is the Transformer of [Vaswani17] with post-LN blocks (no final encoder or
decoder LayerNorm), the sinusoidal table laid out as [sin; cos] halves (``sinusoidal-halves``),
embeddings scaled by sqrt(D) (``scale_embedding``), one embedding table for source and target
tied to the output layer, a bias on the logits (``final_logits_bias``: attnkit's
``generator.bias``) and swish (SiLU) feed-forward activations. The run's model section says so
with the ``transformer`` family's options: ``norm: post``, ``positional: sinusoidal-halves``,
``activation``, ``scale_embeddings``, ``share_embeddings``, ``tie_embeddings`` and
``suppress_pad``.

Token ids: attnkit's ids are Marian's reordered (:func:`attnkit.tasks.pretrained_translation.marian_ids`):
every embedding row, logit bias and output row is taken from the Marian id it stands for.
attnkit's ``<s>`` (id 2, where attnkit decoders start) is a copy of the decoder start token's
row (Marian starts from the pad token). As an output it is not a Marian token: its logit bias
is the float32 minimum, so it takes no probability and the softmax is Marian's.

Differences from the Hugging Face implementation:
    - Generation: the pad token's log-probability is set to -inf after the softmax in every
      step (``model.suppress_pad``), as ``generate`` does with the OPUS-MT checkpoints'
      ``bad_words_ids=[[pad]]``; other ``generation_config.json`` settings (``num_beams``,
      ``max_length``) are not kept: choose them per call (``--beam``, ``--max-len``). For HF's
      beam ranking and stop rule use ``--length-norm power --beam-stop current`` (see
      :class:`attnkit.decoding.DecodeOptions`).
    - Dropout is 0 (the run is for inference); ``attention_dropout`` and ``activation_dropout``
      have no counterpart.
    - Separate source and target vocabularies (``separate_vocabs``, ``decoder_vocab_size``
      differing from ``vocab_size``) and different encoder and decoder widths, heads or
      feed-forward sizes are refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError
from ..tasks.pretrained_translation import TOKENIZER_DIR, PretrainedTranslationConfig, marian_ids
from .base import IMPORTERS, Checkpoint, ConversionError, Converted

__all__ = ["MarianImporter", "ACTIVATIONS"]

#: Hugging Face ``activation_function`` -> attnkit ``model.activation``
ACTIVATIONS = {
    "swish": "silu",
    "silu": "silu",
    "relu": "relu",
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
}
_FILES = ("source.spm", "target.spm", "vocab.json")


def _special(tok_cfg: dict[str, Any], name: str, default: str) -> str:
    """A special token's text from ``tokenizer_config.json`` (a string or an AddedToken dict)."""
    value = tok_cfg.get(name, default)
    return str(value.get("content", default)) if isinstance(value, dict) else str(value or default)


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConversionError(f"{file} is not readable JSON ({type(err).__name__})") from None


class MarianImporter:
    """``MarianMTModel`` checkpoints (config.json ``model_type: marian``) with their
    ``source.spm``, ``target.spm`` and ``vocab.json``."""

    description = "MarianMTModel (OPUS-MT translation)"

    def convert(self, ckpt: Checkpoint) -> Converted:
        """The ``pretrained-translation`` run of a Marian checkpoint.

        Raises:
            ConversionError: a missing tokenizer file or weight, a special token id that
                disagrees with ``vocab.json``, or a config attnkit's Transformer cannot represent.
        """
        c = ckpt.config
        for name in _FILES:
            if not (ckpt.path / name).is_file():
                raise ConversionError(f"{ckpt.path / name} not found; a Marian checkpoint needs {', '.join(_FILES)}")
        tok_file = ckpt.path / "tokenizer_config.json"
        tok_cfg = _read_json(tok_file) if tok_file.is_file() else {}
        if tok_cfg.get("separate_vocabs") or c.get("share_encoder_decoder_embeddings", True) is False:
            raise ConversionError("Marian models with separate source and target vocabularies are not supported")
        vocab_size = int(c.get("vocab_size", 0))
        if int(c.get("decoder_vocab_size") or vocab_size) != vocab_size:
            raise ConversionError("Marian models with a decoder_vocab_size other than vocab_size are not supported")
        positions = int(c.get("max_position_embeddings", 512))
        data = PretrainedTranslationConfig(
            pad_token=_special(tok_cfg, "pad_token", "<pad>"),
            unk_token=_special(tok_cfg, "unk_token", "<unk>"),
            eos_token=_special(tok_cfg, "eos_token", "</s>"),
            decoder_start_id=int(c.get("decoder_start_token_id", c.get("pad_token_id", -1))),
            vocab_size=vocab_size,
            max_source_len=positions - 1,
            max_target_len=positions - 2,
        )
        vocab = _read_json(ckpt.path / "vocab.json")
        if not isinstance(vocab, dict):
            raise ConversionError(f"{ckpt.path / 'vocab.json'} must map pieces to ids")
        try:
            _, hf_ids = marian_ids(vocab, data)
        except ConfigError as err:
            raise ConversionError(str(err)) from None
        for name, key in (("pad_token_id", data.pad_token), ("eos_token_id", data.eos_token)):
            ids = c.get(name)
            if isinstance(ids, int) and ids != vocab[key]:
                raise ConversionError(f"config.json {name}={ids} but vocab.json gives {key!r} the id {vocab[key]}")
        weights = _weights(ckpt.weights, c, torch.tensor(hf_ids))
        # one table where the checkpoint's are equal (tied, as in every OPUS-MT model), else each its own
        model = {
            **self._model_config(c),
            "tie_embeddings": torch.equal(weights["generator.weight"], weights["tgt_embedding.weight"]),
            "share_embeddings": torch.equal(weights["src_embedding.weight"], weights["tgt_embedding.weight"]),
        }
        config = {"data": {"task": "pretrained-translation", **_fields(data)}, "model": model}
        files = {f"{TOKENIZER_DIR}/{name}": ckpt.path / name for name in _FILES}
        return Converted(config, weights, files)

    @staticmethod
    def _model_config(c: dict[str, Any]) -> dict[str, Any]:
        """The ``transformer`` family's model section for a Marian config.json."""
        for enc, dec in (
            ("encoder_attention_heads", "decoder_attention_heads"),
            ("encoder_ffn_dim", "decoder_ffn_dim"),
        ):
            if c.get(enc) != c.get(dec):
                raise ConversionError(f"config.json {enc}={c.get(enc)} differs from {dec}={c.get(dec)}; not supported")
        act = str(c.get("activation_function", "gelu"))
        if act not in ACTIVATIONS:
            raise ConversionError(f"activation_function {act!r} is not supported; supported: {', '.join(ACTIVATIONS)}")
        return {
            "arch": "transformer",
            "d_model": int(c["d_model"]),
            "n_heads": int(c["encoder_attention_heads"]),
            "enc_layers": int(c["encoder_layers"]),
            "dec_layers": int(c["decoder_layers"]),
            "d_ff": int(c["encoder_ffn_dim"]),
            "norm": "post",
            "positional": "sinusoidal-halves",
            "dropout": 0.0,
            "activation": ACTIVATIONS[act],
            "scale_embeddings": bool(c.get("scale_embedding", False)),
            "suppress_pad": True,
        }


def _fields(cfg: PretrainedTranslationConfig) -> dict[str, Any]:
    return {k: getattr(cfg, k) for k in cfg.__dataclass_fields__ if k != "task"}


def _get(weights: dict[str, Tensor], *names: str) -> Tensor:
    """The first of `names` present (tied weights are saved under one of their names)."""
    for name in names:
        if name in weights:
            return weights[name].float()
    raise ConversionError(f"model.safetensors has no {names[0]}; is this a MarianMTModel checkpoint?")


def _weights(w: dict[str, Tensor], c: dict[str, Any], hf_ids: Tensor) -> dict[str, Tensor]:
    """attnkit's state_dict from Marian's weights, rows reordered by `hf_ids` (attnkit id -> Marian id)."""
    # the tables the model uses: with tie_word_embeddings false, transformers unties them all
    source = _get(w, "model.encoder.embed_tokens.weight", "model.shared.weight", "model.decoder.embed_tokens.weight")
    target = _get(w, "model.decoder.embed_tokens.weight", "model.shared.weight", "model.encoder.embed_tokens.weight")
    output = _get(w, "lm_head.weight") if "lm_head.weight" in w else target
    if source.shape[0] != int(c.get("vocab_size", source.shape[0])):
        raise ConversionError(f"the embedding has {source.shape[0]} rows but config.json vocab_size={c['vocab_size']}")
    bias = w.get("final_logits_bias", torch.zeros(1, source.shape[0])).float().reshape(-1)[hf_ids].clone()
    bias[2] = torch.finfo(torch.float32).min  # attnkit's <s>: no Marian output token (see the module docstring)
    sd: dict[str, Tensor] = {
        "src_embedding.weight": source[hf_ids],
        "tgt_embedding.weight": target[hf_ids],
        "generator.weight": output[hf_ids],
        "generator.bias": bias,
    }

    def linear(dst: str, src: str) -> None:
        sd[f"{dst}.weight"], sd[f"{dst}.bias"] = _get(w, f"{src}.weight"), _get(w, f"{src}.bias")

    def packed(dst: str, src: str) -> None:  # q, k, v stacked as attnkit's in_proj
        sd[f"{dst}.in_proj.weight"] = torch.cat([_get(w, f"{src}.{p}_proj.weight") for p in "qkv"])
        sd[f"{dst}.in_proj.bias"] = torch.cat([_get(w, f"{src}.{p}_proj.bias") for p in "qkv"])
        linear(f"{dst}.out_proj", f"{src}.out_proj")

    for i in range(int(c["encoder_layers"])):
        src, dst = f"model.encoder.layers.{i}", f"encoder.{i}"
        packed(f"{dst}.self_attn", f"{src}.self_attn")
        linear(f"{dst}.sub1.norm", f"{src}.self_attn_layer_norm")
        linear(f"{dst}.ff.0", f"{src}.fc1")
        linear(f"{dst}.ff.3", f"{src}.fc2")
        linear(f"{dst}.sub2.norm", f"{src}.final_layer_norm")
    for i in range(int(c["decoder_layers"])):
        src, dst = f"model.decoder.layers.{i}", f"decoder.{i}"
        packed(f"{dst}.self_attn", f"{src}.self_attn")
        linear(f"{dst}.sub1.norm", f"{src}.self_attn_layer_norm")
        for p in ("q", "k", "v", "out"):
            linear(f"{dst}.cross_attn.{p}_proj", f"{src}.encoder_attn.{p}_proj")
        linear(f"{dst}.sub2.norm", f"{src}.encoder_attn_layer_norm")
        linear(f"{dst}.ff.0", f"{src}.fc1")
        linear(f"{dst}.ff.3", f"{src}.fc2")
        linear(f"{dst}.sub3.norm", f"{src}.final_layer_norm")
    return sd


IMPORTERS.register("marian", MarianImporter(), MarianImporter.description, "[Junczys18]; [Tiedemann20]")
