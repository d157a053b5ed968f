"""A run folder: its config, vocabularies, weights and data; rebuilding a model from it.

Layout: ``config.yaml``, ``model.safetensors``, ``src_vocab.json``, ``tgt_vocab.json``,
``data/{train,dev,test}.jsonl``, ``metrics.jsonl``, ``plots/``, and for resuming
``last.safetensors`` + ``trainer_state.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..config import ConfigError, ModelConfig, RunConfig, load_config
from ..models import Seq2Seq, TransformerSeq2Seq
from ..models.rnn_seq2seq import DECODER_OPTIONS, decoder_options
from ..tasks import TASKS
from .checkpoint import CheckpointError, load_weights

__all__ = ["Run", "RunError", "build_model", "load_run"]


class RunError(ValueError):
    """A run folder that is missing or incomplete or corrupt."""


def build_model(cfg: RunConfig, task) -> nn.Module:
    """The model the config names, sized for the task's vocabularies."""
    m = cfg.model
    if m.arch == "transformer":
        return TransformerSeq2Seq(
            len(task.src_vocab), len(task.tgt_vocab), d_model=m.d_model, n_heads=m.n_heads,
            num_kv_heads=m.num_kv_heads or None, enc_layers=m.enc_layers, dec_layers=m.dec_layers,
            d_ff=m.d_ff, dropout=m.dropout, norm_first=m.norm == "pre", positional=m.positional,
            tie_embeddings=m.tie_embeddings,
            max_len=max(cfg.data.max_source_len + 1, task.max_target_len + 2),
        )
    # Pass a decoder option if the decoder takes it, or if the config changed it from its default
    # (Seq2Seq then refuses it by name): a default the decoder would ignore is simply not set.
    takes = decoder_options(m.attention)
    options = {name: getattr(m, name) for name in DECODER_OPTIONS
               if name in takes or getattr(m, name) != getattr(ModelConfig, name)}
    try:
        return Seq2Seq(
            len(task.src_vocab), len(task.tgt_vocab), attention=m.attention, cell=m.cell,
            emb_dim=m.emb_dim, hidden_dim=m.hidden_dim, enc_layers=m.enc_layers,
            bidirectional=m.bidirectional, dropout=m.dropout, init=m.init, **options,
        )
    except ValueError as err:  # an option the decoder does not take: a config the user can fix
        raise ConfigError(f"model: {err}") from None


@dataclass
class Run:
    path: Path
    config: RunConfig
    task: object
    model: nn.Module


def load_run(path: str | Path) -> Run:
    """Load a trained run for translation or evaluation (model in eval mode).

    Raises:
        RunError: if the folder, its config, vocabularies or weights are missing or corrupt.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"run folder {path} not found; train one with `attnkit train CONFIG --out DIR`")
    try:
        cfg = load_config(path / "config.yaml")
        task = TASKS.get(cfg.data.task).load(cfg.data, path)
        model = build_model(cfg, task)
        load_weights(model, path / "model.safetensors")
    except (ConfigError, CheckpointError, ValueError, OSError) as err:
        raise RunError(f"run folder {path} is unusable: {err}") from None
    return Run(path, cfg, task, model.eval())
