"""Hugging Face Whisper checkpoints (``model_type: whisper``, ``WhisperForConditionalGeneration``
or ``WhisperModel``) into attnkit's :class:`~attnkit.models.whisper.WhisperSeq2Seq` (family
``whisper``) and task ``pretrained-speech``.

What changes on the way:

- Weights are renamed onto attnkit's layers; each self-attention's q, k, v projections are
  stacked into one ``in_proj`` (layout of :class:`torch.nn.MultiheadAttention`), and the key
  projections, which have no bias in Whisper, get a zero bias (the same outputs).
- The token embedding (and so the tied output projection) is permuted by
  :func:`attnkit.tasks.pretrained_speech.token_order`: Whisper's start and end tokens take the
  ids attnkit's decoders start and stop with.
- The decoder prompt is read from ``generation_config.json`` (or ``config.json``): the start
  token, then the ``forced_decoder_ids``, where a multilingual checkpoint leaves the language
  open ``<|en|>`` (and ``<|transcribe|>`` if no task is forced), then ``<|notimestamps|>`` when
  the checkpoint has it. English is fixed: Hugging Face's ``generate`` would detect the language.
- ``tokenizer.json`` and ``preprocessor_config.json`` are copied into the run folder.
- ``suppress_tokens`` and ``begin_suppress_tokens`` (generation config, else config.json) become
  the model's, in its token order: its ``step`` bans them as Hugging Face's logits processors do.

Not carried over (a conversion still succeeds): timestamps, language detection, long-form (> 30 s)
transcription, temperature fallback and the other options of Whisper's ``generate``.

References:
    [Radford22] A. Radford et al. Robust Speech Recognition via Large-Scale Weak Supervision.
    ICML 2023. arXiv:2212.04356.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from ..models.specs import SpeechSeq2SeqSpec
from ..models.whisper_family import WhisperConfig, WhisperFamily
from ..tasks.pretrained_speech import PREPROCESSOR, TOKENIZER, token_order
from .base import IMPORTERS, Checkpoint, ConversionError, Converted

__all__ = ["WhisperImporter", "whisper_prompt"]


def whisper_prompt(config: dict[str, Any], generation: dict[str, Any], language: str = "en") -> list[int]:
    """The tokens Whisper reads after its start token before it writes, as Hugging Face's
    ``generate`` builds them without a ``language`` / ``task`` argument: the
    ``forced_decoder_ids`` (positions 1, 2, ...); for a multilingual checkpoint whose forced
    language is unset, ``<|language|>`` of `language` and ``<|transcribe|>``; then
    ``<|notimestamps|>`` if the checkpoint has it.

    Args:
        config: ``config.json``.
        generation: ``generation_config.json`` ({} without one).
        language: the language code for a multilingual checkpoint.

    Raises:
        ConversionError: for forced ids that do not follow positions 1, 2, ..., or a language the
            checkpoint does not know.
    """
    forced = generation.get("forced_decoder_ids") or config.get("forced_decoder_ids") or []
    prompt: list[int | None] = []
    for i, (position, token) in enumerate(forced, 1):
        if position != i:
            raise ConversionError(f"forced_decoder_ids {forced} do not follow positions 1, 2, ...; fix the config")
        prompt.append(token)
    languages, tasks = generation.get("lang_to_id"), generation.get("task_to_id")
    if languages and (not prompt or prompt[0] is None):
        key = f"<|{language}|>"
        if key not in languages:
            raise ConversionError(f"the checkpoint has no language token {key}; its languages: {', '.join(languages)}")
        prompt = [languages[key], *prompt[1:]]
        if tasks and not any(t in prompt for t in tasks.values()):
            prompt.append(tasks["transcribe"])
    no_timestamps = generation.get("no_timestamps_token_id")
    if no_timestamps is not None and (not prompt or prompt[-1] != no_timestamps):
        prompt.append(no_timestamps)
    return [t for t in prompt if t is not None]


def _model_config(cfg: dict[str, Any]) -> WhisperConfig:
    try:
        return WhisperConfig(
            vocab_size=int(cfg["vocab_size"]),
            n_mels=int(cfg["num_mel_bins"]),
            d_model=int(cfg["d_model"]),
            encoder_layers=int(cfg["encoder_layers"]),
            decoder_layers=int(cfg["decoder_layers"]),
            encoder_heads=int(cfg["encoder_attention_heads"]),
            decoder_heads=int(cfg["decoder_attention_heads"]),
            encoder_ffn=int(cfg["encoder_ffn_dim"]),
            decoder_ffn=int(cfg["decoder_ffn_dim"]),
            max_source_positions=int(cfg["max_source_positions"]),
            max_target_positions=int(cfg["max_target_positions"]),
            scale_embedding=bool(cfg.get("scale_embedding", False)),
        )
    except KeyError as err:
        raise ConversionError(f"config.json lacks {err.args[0]!r}, which a Whisper config has; re-save it") from None


def _self_attention(w: dict[str, Tensor], hf: str, ours: str) -> dict[str, Tensor]:
    """q, k, v of Hugging Face's self-attention stacked as one in_proj; k's missing bias is 0."""
    q, k, v = (w[f"{hf}.{p}_proj.weight"] for p in "qkv")
    bias = torch.cat([w[f"{hf}.q_proj.bias"], torch.zeros_like(w[f"{hf}.q_proj.bias"]), w[f"{hf}.v_proj.bias"]])
    return {
        f"{ours}.in_proj.weight": torch.cat([q, k, v]),
        f"{ours}.in_proj.bias": bias,
        f"{ours}.out_proj.weight": w[f"{hf}.out_proj.weight"],
        f"{ours}.out_proj.bias": w[f"{hf}.out_proj.bias"],
    }


def _cross_attention(w: dict[str, Tensor], hf: str, ours: str) -> dict[str, Tensor]:
    out = {f"{ours}.{p}_proj.weight": w[f"{hf}.{p}_proj.weight"] for p in ("q", "k", "v", "out")}
    out |= {f"{ours}.{p}_proj.bias": w[f"{hf}.{p}_proj.bias"] for p in ("q", "v", "out")}
    out[f"{ours}.k_proj.bias"] = torch.zeros_like(w[f"{hf}.q_proj.bias"])
    return out


def _copy(w: dict[str, Tensor], pairs: dict[str, str]) -> dict[str, Tensor]:
    """Our name -> Hugging Face's, for weight and bias."""
    return {f"{ours}.{p}": w[f"{hf}.{p}"] for ours, hf in pairs.items() for p in ("weight", "bias")}


def _layers(w: dict[str, Tensor], cfg: WhisperConfig) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    for i in range(cfg.encoder_layers):
        hf, ours = f"encoder.layers.{i}", f"encoder.{i}"
        out |= _self_attention(w, f"{hf}.self_attn", f"{ours}.self_attn")
        out |= _copy(
            w,
            {
                f"{ours}.sub1.norm": f"{hf}.self_attn_layer_norm",
                f"{ours}.sub2.norm": f"{hf}.final_layer_norm",
                f"{ours}.ff.0": f"{hf}.fc1",
                f"{ours}.ff.3": f"{hf}.fc2",
            },
        )
    for i in range(cfg.decoder_layers):
        hf, ours = f"decoder.layers.{i}", f"decoder.{i}"
        out |= _self_attention(w, f"{hf}.self_attn", f"{ours}.self_attn")
        out |= _cross_attention(w, f"{hf}.encoder_attn", f"{ours}.cross_attn")
        out |= _copy(
            w,
            {
                f"{ours}.sub1.norm": f"{hf}.self_attn_layer_norm",
                f"{ours}.sub2.norm": f"{hf}.encoder_attn_layer_norm",
                f"{ours}.sub3.norm": f"{hf}.final_layer_norm",
                f"{ours}.ff.0": f"{hf}.fc1",
                f"{ours}.ff.3": f"{hf}.fc2",
            },
        )
    return out


class WhisperImporter:
    """``WhisperForConditionalGeneration`` / ``WhisperModel`` -> family ``whisper``, task
    ``pretrained-speech``."""

    description = "WhisperForConditionalGeneration / WhisperModel (speech recognition)"

    def convert(self, ckpt: Checkpoint) -> Converted:
        """The run config, weights and files of a Whisper checkpoint folder.

        Raises:
            ConversionError: for a missing config field, weight, ``tokenizer.json`` or
                ``preprocessor_config.json``, an activation other than GELU, or an output
                projection not tied to the token embedding.
        """
        cfg = ckpt.config
        if cfg.get("activation_function", "gelu") != "gelu":
            raise ConversionError(
                f"activation_function {cfg['activation_function']!r} is not supported; Whisper uses 'gelu'"
            )
        for name in ("tokenizer.json", PREPROCESSOR):
            if not (ckpt.path / name).is_file():
                raise ConversionError(
                    f"{ckpt.path} has no {name}; save the processor beside the model "
                    "(WhisperProcessor.save_pretrained) and import again"
                )
        model_cfg = _model_config(cfg)
        generation_path = ckpt.path / "generation_config.json"
        generation = json.loads(generation_path.read_text(encoding="utf-8")) if generation_path.is_file() else {}
        start = generation.get("decoder_start_token_id", cfg.get("decoder_start_token_id"))
        eos = generation.get("eos_token_id", cfg.get("eos_token_id"))
        if isinstance(eos, list):
            eos = eos[0]
        if start is None or eos is None:
            raise ConversionError("config.json lacks decoder_start_token_id or eos_token_id; set them and import again")
        pre = json.loads((ckpt.path / PREPROCESSOR).read_text(encoding="utf-8"))
        if int(pre.get("feature_size", model_cfg.n_mels)) != model_cfg.n_mels:
            raise ConversionError(
                f"{PREPROCESSOR} has feature_size {pre['feature_size']} for a model of {model_cfg.n_mels} mel bins"
            )
        prompt = whisper_prompt(cfg, generation)
        order = token_order(model_cfg.vocab_size, int(start), int(eos))
        ours = {theirs: i for i, theirs in enumerate(order)}

        def suppressed(name: str) -> tuple[int, ...]:
            ids = generation.get(name, cfg.get(name)) or []
            return tuple(sorted(ours[t] for t in ids if 0 <= t < model_cfg.vocab_size))

        model_cfg = replace(
            model_cfg,
            suppress_tokens=suppressed("suppress_tokens"),
            begin_suppress_tokens=suppressed("begin_suppress_tokens"),
            first_position=1 + len(prompt),
        )
        weights = self._weights(ckpt.weights, model_cfg, order)
        data = {
            "task": "pretrained-speech",
            "vocab_size": model_cfg.vocab_size,
            "decoder_start": int(start),
            "eos": int(eos),
            "prompt": prompt,
            "max_new_tokens": model_cfg.max_target_positions - len(prompt) - 1,
        }
        model = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(model_cfg).items()}
        return Converted(
            {"data": data, "model": model},
            weights,
            {TOKENIZER: ckpt.path / "tokenizer.json", PREPROCESSOR: ckpt.path / PREPROCESSOR},
        )

    def _weights(self, hf: dict[str, Tensor], cfg: WhisperConfig, order: list[int]) -> dict[str, Tensor]:
        w = {k.removeprefix("model."): v for k, v in hf.items()}
        try:
            embedding = w["decoder.embed_tokens.weight"][order]  # row i: the checkpoint's token order[i]
            out = {
                "frontend.positions": w["encoder.embed_positions.weight"],
                "tgt_embedding.weight": embedding,
                "generator.weight": embedding.clone(),
                "positions.weight": w["decoder.embed_positions.weight"],
                **_copy(
                    w,
                    {
                        "frontend.conv1": "encoder.conv1",
                        "frontend.conv2": "encoder.conv2",
                        "enc_norm": "encoder.layer_norm",
                        "dec_norm": "decoder.layer_norm",
                    },
                ),
                **_layers(w, cfg),
            }
        except KeyError as err:
            raise ConversionError(
                f"model.safetensors lacks {err.args[0]!r}, which a Whisper checkpoint of this config has"
            ) from None
        if "proj_out.weight" in w and not torch.equal(w["proj_out.weight"], w["decoder.embed_tokens.weight"]):
            raise ConversionError("proj_out is not tied to the token embedding; attnkit's Whisper ties them")
        expected = WhisperFamily.build(cfg, SpeechSeq2SeqSpec(1, cfg.vocab_size, 1, 0, n_mels=cfg.n_mels)).state_dict()
        for key, value in expected.items():
            if key not in out or out[key].shape != value.shape:
                got = tuple(out[key].shape) if key in out else "nothing"
                raise ConversionError(
                    f"weight {key}: expected {tuple(value.shape)}, got {got}; is config.json this model's?"
                )
        return {k: v.contiguous() for k, v in out.items()}


IMPORTERS.register("whisper", WhisperImporter(), WhisperImporter.description, "[Radford22]")
