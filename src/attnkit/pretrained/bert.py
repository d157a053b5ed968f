"""BERT and RoBERTa checkpoints (``model_type`` ``bert``, ``roberta``; MiniLM is a ``bert``) into
the ``bert`` family and the ``pretrained-encoder`` task, and back.

Hugging Face names -> attnkit's (``{p}`` = ``encoder.layer.{i}``, ``L`` = ``layers.{i}``):

=========================================================  ==========================================
``embeddings.word_embeddings`` / ``position_embeddings``   ``tokens`` / ``positions``
``embeddings.token_type_embeddings`` / ``LayerNorm``       ``token_types`` / ``embed_norm``
``{p}.attention.self.query|key|value`` (stacked q, k, v)   ``L.self_attn.in_proj``
``{p}.attention.output.dense`` / ``.LayerNorm``            ``L.self_attn.out_proj`` / ``L.sub1.norm``
``{p}.intermediate.dense`` / ``{p}.output.dense``          ``L.ff.0`` / ``L.ff.3``
``{p}.output.LayerNorm``                                   ``L.sub2.norm``
``pooler.dense`` (RoBERTa: ``classifier.dense``)           ``pooler``
``cls.predictions.transform.dense`` / ``lm_head.dense``    ``mlm_dense``
``cls.predictions.transform.LayerNorm`` / ``lm_head.layer_norm``  ``mlm_norm``
``cls.predictions.bias`` / ``lm_head.bias``                ``mlm_bias`` (decoder tied to ``tokens``)
``classifier`` (RoBERTa: ``classifier.out_proj``)          ``classifier``
=========================================================  ==========================================

The task models (``BertForMaskedLM``...) prefix the encoder's names with ``bert.`` / ``roberta.``.

References:
    [Devlin19] J. Devlin, M.-W. Chang, K. Lee, K. Toutanova. BERT: Pre-training of Deep
    Bidirectional Transformers for Language Understanding. NAACL 2019. arXiv:1810.04805.
    [Liu19] Y. Liu et al. RoBERTa: A Robustly Optimized BERT Pretraining Approach. 2019.
    arXiv:1907.11692.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import Tensor

from .base import EXPORTERS, IMPORTERS, Checkpoint, ConversionError, Converted
from .common import HF_ACTIVATIONS, Weights, activation_name, copy_tokenizer_files, tokenizer_files

__all__ = ["BertImporter", "BertExporter"]

log = logging.getLogger(__name__)

_LAYER = {  # attnkit name in layer i -> HF name under encoder.layer.{i}
    "self_attn.out_proj": "attention.output.dense",
    "sub1.norm": "attention.output.LayerNorm",
    "ff.0": "intermediate.dense",
    "ff.3": "output.dense",
    "sub2.norm": "output.LayerNorm",
}
_EMBEDDINGS = {
    "tokens": "embeddings.word_embeddings",
    "positions": "embeddings.position_embeddings",
    "token_types": "embeddings.token_type_embeddings",
    "embed_norm": "embeddings.LayerNorm",
}
# per flavour: masked-LM head (dense, norm, bias) and classification head (pooler, classifier) names
_MLM = {
    "bert": ("cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm", "cls.predictions.bias"),
    "roberta": ("lm_head.dense", "lm_head.layer_norm", "lm_head.bias"),
}
_TIED = {"bert": "cls.predictions.decoder", "roberta": "lm_head.decoder"}
_CLASSIFIER = {"bert": ("pooler.dense", "classifier"), "roberta": ("classifier.dense", "classifier.out_proj")}
_ARCHITECTURES = {
    ("bert", "none"): "BertModel",
    ("bert", "mlm"): "BertForMaskedLM",
    ("bert", "classification"): "BertForSequenceClassification",
    ("roberta", "none"): "RobertaModel",
    ("roberta", "mlm"): "RobertaForMaskedLM",
    ("roberta", "classification"): "RobertaForSequenceClassification",
}


def _head(w: Weights, flavour: str) -> str:
    if w.has(_MLM[flavour][2]):
        return "mlm"
    if w.has(_CLASSIFIER[flavour][1] + ".weight"):
        return "classification"
    return "none"


def _labels(cfg: dict[str, Any], n: int) -> tuple[str, ...]:
    id2label = cfg.get("id2label") or {}
    try:
        return tuple(str(id2label.get(str(i), id2label.get(i, f"LABEL_{i}"))) for i in range(n))
    except AttributeError:
        return tuple(f"LABEL_{i}" for i in range(n))


class BertImporter:
    """``BertModel`` / ``BertForMaskedLM`` / ``BertForSequenceClassification`` and their RoBERTa
    counterparts into the ``bert`` family."""

    def __init__(self, flavour: str) -> None:
        self.flavour = flavour
        self.description = ", ".join(v for (f, _), v in _ARCHITECTURES.items() if f == flavour)

    def convert(self, ckpt: Checkpoint) -> Converted:
        cfg, flavour = ckpt.config, self.flavour
        if cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ConversionError(
                f"{ckpt.path}: position_embedding_type={cfg['position_embedding_type']!r} is not supported; "
                "attnkit's bert family has absolute positions only"
            )
        if cfg.get("is_decoder") or cfg.get("add_cross_attention"):
            raise ConversionError(f"{ckpt.path}: a {flavour} decoder (is_decoder) is not supported; encoders only")
        w = Weights(ckpt, prefix=f"{flavour}.", ignore=("embeddings.position_ids",))
        head = _head(w, flavour)
        pooler_name = _CLASSIFIER[flavour][0] if head == "classification" else "pooler.dense"
        n_layers, pad_id = int(cfg["num_hidden_layers"]), int(cfg.get("pad_token_id") or 0)
        out: dict[str, Tensor] = {
            f"{a}.weight": w.take(h + ".weight") for a, h in _EMBEDDINGS.items() if a != "embed_norm"
        }
        out.update(w.linear("embed_norm", _EMBEDDINGS["embed_norm"]))
        for i in range(n_layers):
            p = f"encoder.layer.{i}"
            qkv = [f"{p}.attention.self.{n}" for n in ("query", "key", "value")]
            out[f"layers.{i}.self_attn.in_proj.weight"] = torch.cat([w.take(n + ".weight") for n in qkv])
            out[f"layers.{i}.self_attn.in_proj.bias"] = torch.cat([w.take(n + ".bias") for n in qkv])
            for ours, theirs in _LAYER.items():
                out.update(w.linear(f"layers.{i}.{ours}", f"{p}.{theirs}"))
        has_pooler = w.has(pooler_name + ".weight")
        if has_pooler:
            out.update(w.linear("pooler", pooler_name))
        n_labels = 0
        if head == "mlm":
            dense, norm, bias = _MLM[flavour]
            out.update(w.linear("mlm_dense", dense))
            out.update(w.linear("mlm_norm", norm))
            out["mlm_bias"] = w.take(bias)
            w.check_tied(_TIED[flavour], out["tokens.weight"])
            if flavour == "roberta" and cfg.get("hidden_act", "gelu") != "gelu":
                raise ConversionError(f"{ckpt.path}: a RoBERTa masked-LM head with hidden_act != gelu is not supported")
        elif head == "classification":
            out.update(w.linear("classifier", _CLASSIFIER[flavour][1]))
            n_labels = out["classifier.weight"].shape[0]
        w.report_unused(log)
        files, tokenizer = tokenizer_files(ckpt, ("tokenizer.json", "vocab.txt", "vocab.json"))
        max_positions, offset = int(cfg["max_position_embeddings"]), pad_id + 1 if flavour == "roberta" else 0
        model = {
            "arch": "bert",
            "flavour": flavour,
            "vocab_size": int(cfg["vocab_size"]),
            "d_model": int(cfg["hidden_size"]),
            "n_heads": int(cfg["num_attention_heads"]),
            "layers": n_layers,
            "d_ff": int(cfg["intermediate_size"]),
            "max_positions": max_positions,
            "type_vocab_size": int(cfg.get("type_vocab_size", 2)),
            "eps": float(cfg.get("layer_norm_eps", 1e-12)),
            "activation": activation_name(ckpt, cfg.get("hidden_act", "gelu")),
            "pad_id": pad_id,
            "position_offset": offset,
            "pooler": has_pooler,
            "head": head,
            "n_labels": n_labels,
        }
        data = {
            "task": "pretrained-encoder",
            "tokenizer": tokenizer,
            "lowercase": bool(_tokenizer_config(ckpt.path).get("do_lower_case", True)),
            "max_length": max_positions - offset,
            "labels": list(_labels(cfg, n_labels)),
        }
        return Converted({"data": data, "model": model}, out, files)


def _tokenizer_config(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return raw if isinstance(raw, dict) else {}


class BertExporter:
    """The ``bert`` family as ``BertModel`` / ``RobertaModel`` (``...ForMaskedLM``,
    ``...ForSequenceClassification`` with a head), under Hugging Face's names."""

    description = "BertModel / RobertaModel (with their masked-LM or sequence classification heads)"

    def export(self, run: Any, out: Path) -> None:
        cfg, data = run.config.model, run.config.data
        flavour, head = cfg.flavour, cfg.head
        state = {k: v.detach().cpu() for k, v in run.model.state_dict().items()}
        base = "" if head == "none" else f"{flavour}."
        hf: dict[str, Tensor] = {}
        for ours, theirs in _EMBEDDINGS.items():
            for part in ("weight", "bias") if ours == "embed_norm" else ("weight",):
                hf[f"{base}{theirs}.{part}"] = state[f"{ours}.{part}"]
        for i in range(cfg.layers):
            p = f"{base}encoder.layer.{i}"
            for part in ("weight", "bias"):
                q, k, v = state[f"layers.{i}.self_attn.in_proj.{part}"].chunk(3)
                for name, t in zip(("query", "key", "value"), (q, k, v)):
                    hf[f"{p}.attention.self.{name}.{part}"] = t
                for ours, theirs in _LAYER.items():
                    hf[f"{p}.{theirs}.{part}"] = state[f"layers.{i}.{ours}.{part}"]
        pooler = "classifier.dense" if (flavour, head) == ("roberta", "classification") else f"{base}pooler.dense"
        if cfg.pooler and head != "mlm":  # the masked-LM models of transformers have no pooler
            for part in ("weight", "bias"):
                hf[f"{pooler}.{part}"] = state[f"pooler.{part}"]
        if head == "mlm":
            dense, norm, bias = _MLM[flavour]
            for part in ("weight", "bias"):
                hf[f"{dense}.{part}"], hf[f"{norm}.{part}"] = state[f"mlm_dense.{part}"], state[f"mlm_norm.{part}"]
            hf[bias] = state["mlm_bias"]
        elif head == "classification":
            for part in ("weight", "bias"):
                hf[f"{_CLASSIFIER[flavour][1]}.{part}"] = state[f"classifier.{part}"]
        if head == "mlm" and cfg.pooler:
            log.warning("the pooler is not exported: transformers' masked-LM models have none")
        save_file({k: v.contiguous() for k, v in hf.items()}, str(out / "model.safetensors"), metadata={"format": "pt"})
        config = {
            "architectures": [_ARCHITECTURES[(flavour, head)]],
            "model_type": flavour,
            "vocab_size": cfg.vocab_size,
            "hidden_size": cfg.d_model,
            "num_hidden_layers": cfg.layers,
            "num_attention_heads": cfg.n_heads,
            "intermediate_size": cfg.d_ff,
            "hidden_act": HF_ACTIVATIONS[cfg.activation],
            "max_position_embeddings": cfg.max_positions,
            "type_vocab_size": cfg.type_vocab_size,
            "layer_norm_eps": cfg.eps,
            "pad_token_id": cfg.pad_id,
            "position_embedding_type": "absolute",
            "tie_word_embeddings": True,
            "dtype": "float32",
        }
        if head == "classification":
            labels = list(data.labels) or [f"LABEL_{i}" for i in range(cfg.n_labels)]
            config["id2label"] = {str(i): name for i, name in enumerate(labels)}
            config["label2id"] = {name: i for i, name in enumerate(labels)}
        (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        copy_tokenizer_files(run.path / data.tokenizer, out)


for _flavour, _ref in (("bert", "[Devlin19]"), ("roberta", "[Liu19]")):
    IMPORTERS.register(_flavour, BertImporter(_flavour), BertImporter(_flavour).description, _ref)
EXPORTERS.register("bert", BertExporter(), BertExporter.description, "[Devlin19]; [Liu19]")
