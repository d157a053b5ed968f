"""The ``rnn`` model family: :class:`~attnkit.models.Seq2Seq` (any attention by name) for token
sources, :class:`~attnkit.models.speech_seq2seq.SpeechSeq2Seq` for speech frames
(:class:`~attnkit.models.specs.SpeechSeq2SeqSpec`)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from torch import nn

from ...capabilities import ModelCapabilities
from ...errors import ConfigError
from ...schema import check_positive
from ..family import FAMILIES, check_dropout, set_fields
from ..reinforce import REINFORCE_OPTIONS, check_reinforce_options
from ..specs import ModelSpec, Seq2SeqSpec, SpeechSeq2SeqSpec
from ..speech_seq2seq import FRONTENDS, SpeechSeq2Seq
from .model import Seq2Seq
from .registry import DECODER_OPTIONS, DECODERS, INITS, decoder_options

__all__ = ["RNNConfig", "RNNFamily"]


@dataclass(frozen=True)
class RNNConfig:
    """``model.arch: rnn``: an RNN encoder-decoder (:class:`attnkit.models.Seq2Seq`); its attention by name."""

    arch: str = "rnn"
    attention: str = "bahdanau"  # attnkit list attention
    cell: str = "gru"
    emb_dim: int = 32
    hidden_dim: int = 64
    bidirectional: bool = True
    attn_dim: int = 64
    input_feeding: bool = True  # Luong decoders only
    normaliser: str = "softmax"  # alignment function (attnkit list normalisers)
    local_window: int = 10  # half-width D of local attention windows, in source tokens
    enc_layers: int = 1
    dec_layers: int = 1  # layers of luong-stacked
    loc_filters: int = 10  # location-aware: filters Nf over the previous weights
    loc_kernel: int = 31  # location-aware: odd filter width r, in source positions
    dropout: float = 0.0
    init: str = "torch"  # torch (PyTorch's defaults) | paper (the decoder's paper's initialisation)
    frontend: str = ""  # speech frames only: pyramid (the default) | conv | self-attention
    reinforce_weight: float = 1.0  # normaliser=reinforce: lambda_r of the REINFORCE loss [Xu15] Sec. 4.1
    entropy_weight: float = 0.01  # normaliser=reinforce: lambda_e, the entropy bonus
    baseline_decay: float = 0.9  # normaliser=reinforce: moving-average decay of the reward baseline

    def check(self) -> None:
        """Raises ConfigError for an unknown name, a value out of range, or an option the chosen
        attention would ignore."""
        if self.init not in INITS:
            raise ConfigError(f"model.init: unknown {self.init!r}; choose one of: {', '.join(INITS)}")
        if self.attention not in DECODERS:
            raise ConfigError(
                f"model.attention: unknown attention {self.attention!r}; choose one of: {', '.join(DECODERS.names())}"
            )
        from ...functional import NORMALISERS

        if self.normaliser not in NORMALISERS:
            raise ConfigError(
                f"model.normaliser: unknown {self.normaliser!r}; choose one of: {', '.join(NORMALISERS.names())}"
            )
        if self.cell not in ("gru", "lstm"):
            raise ConfigError(f"model.cell: unknown cell {self.cell!r}; choose one of: gru, lstm")
        check_positive(
            self, "emb_dim", "hidden_dim", "attn_dim", "enc_layers", "dec_layers", "loc_filters", section="model"
        )
        if self.loc_kernel < 1 or self.loc_kernel % 2 == 0:
            raise ConfigError(f"model.loc_kernel must be odd and >= 1, got {self.loc_kernel}")
        check_dropout(self.dropout)
        check_reinforce_options(self)
        if self.frontend and self.frontend not in FRONTENDS:
            raise ConfigError(f"model.frontend: unknown {self.frontend!r}; choose one of: {', '.join(FRONTENDS)}")
        for name in sorted(set_fields(self) & self.ignored_fields()):
            raise ConfigError(
                f"model.{name} does not apply to model.attention={self.attention} ({_IGNORED_WHY[name]}); remove it"
            )
        if self.normaliser == "reinforce" and not self.attention.startswith("bahdanau"):
            raise ConfigError(
                "model.normaliser=reinforce is trained through Bahdanau attention; use "
                "model.attention=bahdanau, or normaliser gumbel/hard"
            )
        if self.attention.startswith("luong-local") and (self.local_window < 1 or self.normaliser != "softmax"):
            raise ConfigError("local attention needs model.local_window >= 1 and model.normaliser=softmax")
        if self.attention == "luong-dot" and self.bidirectional:
            raise ConfigError(
                "model.attention=luong-dot needs equal decoder and annotation widths; "
                "set model.bidirectional=false or use luong-general"
            )

    def ignored_fields(self) -> set[str]:
        """The options the chosen attention's decoder does not take
        (:func:`attnkit.models.rnn.registry.decoder_options`); setting one is an error, and the
        resolved config a run writes leaves them out (and ``frontend`` while it is unset; the
        REINFORCE options unless ``normaliser`` is reinforce)."""
        unset = {"frontend"} if not self.frontend else set()
        sampled = self.normaliser == "reinforce" and "normaliser" in decoder_options(self.attention)
        return (
            set(DECODER_OPTIONS) - set(decoder_options(self.attention))
            | unset
            | (set() if sampled else set(REINFORCE_OPTIONS))
        )


_IGNORED_WHY = {
    "normaliser": "its alignment is fixed",
    "attn_dim": "the hidden width of additive/concat scores; this attention has none",
    "input_feeding": "its decoder does not feed h~ back as an option",
    "local_window": "only luong-local-m/-p have a window",
    "dec_layers": "only luong-stacked has several decoder layers",
    "loc_filters": "only location-aware attention convolves the previous weights",
    "loc_kernel": "only location-aware attention convolves the previous weights",
    **{
        name: "only sampled hard attention (model.normaliser=reinforce) is trained with REINFORCE"
        for name in REINFORCE_OPTIONS
    },
}


#: Fields of RNNConfig that are not keyword options of Seq2Seq.
_NOT_MODEL_OPTIONS = ("arch", "frontend")


class RNNFamily:
    """RNN encoder-decoders with any registered attention [Cho14], [Bahdanau15], [Luong15]."""

    name = "rnn"
    config_class = RNNConfig
    spec_class = Seq2SeqSpec

    @classmethod
    def build(cls, cfg: RNNConfig, spec: Seq2SeqSpec) -> nn.Module:
        """:class:`~attnkit.models.Seq2Seq` for token ids, or
        :class:`~attnkit.models.speech_seq2seq.SpeechSeq2Seq` with the listener ``model.frontend``
        (default pyramid) for speech frames.

        Raises:
            ConfigError: for ``model.frontend`` with a task whose inputs are not speech frames.
        """
        options = {
            f.name: getattr(cfg, f.name)
            for f in fields(cfg)
            if f.name not in cfg.ignored_fields() and f.name not in _NOT_MODEL_OPTIONS
        }
        if isinstance(spec, SpeechSeq2SeqSpec):  # frames in: the listener replaces the token encoder
            return SpeechSeq2Seq(
                spec.n_mels, spec.tgt_vocab_size, frontend=cfg.frontend or "pyramid", pad_id=spec.pad_id, **options
            )
        if cfg.frontend:
            raise ConfigError(
                f"model.frontend={cfg.frontend} applies only to speech inputs (frames), not to "
                f"{type(spec).__name__}; remove it"
            )
        return Seq2Seq(spec.src_vocab_size, spec.tgt_vocab_size, pad_id=spec.pad_id, **options)

    @classmethod
    def label(cls, cfg: RNNConfig) -> str:
        return cfg.attention

    @classmethod
    def capabilities(cls, cfg: RNNConfig, spec: ModelSpec | None = None) -> ModelCapabilities:
        """Step-by-step decoding; attention unless ``attention="none"`` (the fixed context vector)."""
        return ModelCapabilities(
            decodes=True,
            attention=cfg.attention != "none",
            normaliser=cfg.normaliser if "normaliser" in decoder_options(cfg.attention) else "",
        )


FAMILIES.register(
    "rnn", RNNFamily, "RNN encoder-decoder; pick its attention with model.attention", "[Cho14], [Bahdanau15], [Luong15]"
)
