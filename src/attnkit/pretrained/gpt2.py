"""GPT-2 checkpoints (``model_type`` ``gpt2``: ``GPT2LMHeadModel``, ``GPT2Model``) into the
``gpt2`` family and the ``pretrained-lm`` task, and back (as ``GPT2LMHeadModel``).

Hugging Face names -> attnkit's (``h.{i}`` -> ``layers.{i}``; ``GPT2LMHeadModel`` prefixes them with
``transformer.``): ``wte`` / ``wpe`` -> ``tokens`` / ``positions``; ``h.{i}.ln_1`` / ``ln_2`` ->
``sub1.norm`` / ``sub2.norm``; ``attn.c_attn`` (q, k, v stacked) -> ``self_attn.in_proj``;
``attn.c_proj`` -> ``self_attn.out_proj``; ``mlp.c_fc`` / ``mlp.c_proj`` -> ``ff.0`` / ``ff.3``;
``ln_f`` -> ``final_norm``; ``lm_head`` is tied to ``wte``. GPT-2's ``Conv1D`` layers keep their
weight as (in, out), the transpose of ``nn.Linear``'s (out, in): each is transposed.

References:
    [Radford19] A. Radford, J. Wu, R. Child, D. Luan, D. Amodei, I. Sutskever. Language Models
    are Unsupervised Multitask Learners. OpenAI technical report, 2019.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from safetensors.torch import save_file
from torch import Tensor

from .base import EXPORTERS, IMPORTERS, Checkpoint, ConversionError, Converted
from .common import HF_ACTIVATIONS, Weights, activation_name, copy_tokenizer_files, tokenizer_files

__all__ = ["GPT2Importer", "GPT2Exporter"]

log = logging.getLogger(__name__)

_CONV1D = {
    "self_attn.in_proj": "attn.c_attn",
    "self_attn.out_proj": "attn.c_proj",
    "ff.0": "mlp.c_fc",
    "ff.3": "mlp.c_proj",
}
_NORMS = {"sub1.norm": "ln_1", "sub2.norm": "ln_2"}


class GPT2Importer:
    """``GPT2LMHeadModel`` / ``GPT2Model`` into the ``gpt2`` family (the LM head tied to ``wte``)."""

    description = "GPT2LMHeadModel, GPT2Model"

    def convert(self, ckpt: Checkpoint) -> Converted:
        cfg = ckpt.config
        for key, ok in (
            ("scale_attn_weights", True),
            ("scale_attn_by_inverse_layer_idx", False),
            ("add_cross_attention", False),
        ):
            if bool(cfg.get(key, ok)) != ok:
                raise ConversionError(f"{ckpt.path}: {key}={cfg[key]} is not supported; attnkit's gpt2 needs {ok}")
        w = Weights(ckpt, prefix="transformer.", ignore=(".attn.bias", ".attn.masked_bias"))
        out: dict[str, Tensor] = {"tokens.weight": w.take("wte.weight"), "positions.weight": w.take("wpe.weight")}
        n_layers = int(cfg["n_layer"])
        for i in range(n_layers):
            for ours, theirs in _CONV1D.items():
                out[f"layers.{i}.{ours}.weight"] = w.take(f"h.{i}.{theirs}.weight").t().contiguous()  # Conv1D
                out[f"layers.{i}.{ours}.bias"] = w.take(f"h.{i}.{theirs}.bias")
            for ours, theirs in _NORMS.items():
                out.update(w.linear(f"layers.{i}.{ours}", f"h.{i}.{theirs}"))
        out.update(w.linear("final_norm", "ln_f"))
        w.check_tied("lm_head", out["tokens.weight"])
        w.report_unused(log)
        files, tokenizer = tokenizer_files(ckpt, ("tokenizer.json", "vocab.json"))
        d_model, vocab = int(cfg["n_embd"]), int(cfg["vocab_size"])
        eos = cfg.get("eos_token_id")
        model = {
            "arch": "gpt2",
            "vocab_size": vocab,
            "d_model": d_model,
            "n_heads": int(cfg["n_head"]),
            "layers": n_layers,
            "d_ff": int(cfg.get("n_inner") or 4 * d_model),
            "max_positions": int(cfg["n_positions"]),
            "eps": float(cfg.get("layer_norm_epsilon", 1e-5)),
            "activation": activation_name(ckpt, cfg.get("activation_function", "gelu_new")),
        }
        data = {
            "task": "pretrained-lm",
            "tokenizer": tokenizer,
            "max_length": model["max_positions"],
            "eos_id": int(eos) if isinstance(eos, int) and 0 <= eos < vocab else -1,
        }
        return Converted({"data": data, "model": model}, out, files)


class GPT2Exporter:
    """The ``gpt2`` family as ``GPT2LMHeadModel`` under Hugging Face's names."""

    description = "GPT2LMHeadModel"

    def export(self, run: Any, out: Path) -> None:
        cfg, data = run.config.model, run.config.data
        state = {k: v.detach().cpu() for k, v in run.model.state_dict().items()}
        hf = {"transformer.wte.weight": state["tokens.weight"], "transformer.wpe.weight": state["positions.weight"]}
        for i in range(cfg.layers):
            p = f"transformer.h.{i}"
            for ours, theirs in _CONV1D.items():
                hf[f"{p}.{theirs}.weight"] = state[f"layers.{i}.{ours}.weight"].t()  # nn.Linear -> Conv1D
                hf[f"{p}.{theirs}.bias"] = state[f"layers.{i}.{ours}.bias"]
            for ours, theirs in _NORMS.items():
                for part in ("weight", "bias"):
                    hf[f"{p}.{theirs}.{part}"] = state[f"layers.{i}.{ours}.{part}"]
        for part in ("weight", "bias"):
            hf[f"transformer.ln_f.{part}"] = state[f"final_norm.{part}"]
        save_file({k: v.contiguous() for k, v in hf.items()}, str(out / "model.safetensors"), metadata={"format": "pt"})
        eos = data.eos_id if data.eos_id >= 0 else None
        config = {
            "architectures": ["GPT2LMHeadModel"],
            "model_type": "gpt2",
            "vocab_size": cfg.vocab_size,
            "n_embd": cfg.d_model,
            "n_head": cfg.n_heads,
            "n_layer": cfg.layers,
            "n_inner": cfg.d_ff,
            "n_positions": cfg.max_positions,
            "layer_norm_epsilon": cfg.eps,
            "activation_function": HF_ACTIVATIONS[cfg.activation],
            "bos_token_id": eos,
            "eos_token_id": eos,
            "tie_word_embeddings": True,
            "dtype": "float32",
        }
        (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        copy_tokenizer_files(run.path / data.tokenizer, out)


IMPORTERS.register("gpt2", GPT2Importer(), GPT2Importer.description, "[Radford19]")
EXPORTERS.register("gpt2", GPT2Exporter(), GPT2Exporter.description, "[Radford19]")
