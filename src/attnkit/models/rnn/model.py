"""RNN encoder-decoder for translation, without attention or with Bahdanau / Luong attention.

The encoder (:class:`~.encoder.RNNEncoder`) reads the source into annotations h_j (both
directions concatenated when it is bidirectional), with packed sequences so padding never
reaches them. The decoder is chosen by name from :data:`~.registry.DECODERS`
(``attnkit list attention``):

- ``none``: the fixed context vector baseline [Cho14]: the decoder sees only the final encoder
  state, as its initial state and as an extra input at every step.
- ``bahdanau``: additive attention on the previous state s_{t-1} [Bahdanau15].
- ``bahdanau-coverage``: the same, with the coverage vector in the score [Tu16].
- ``location-aware``: the same, with convolution features of the previous weights in the score
  [Chorowski15].
- ``luong-dot`` / ``luong-general`` / ``luong-concat``: global attention on the current state h_t
  and the attentional hidden state h~_t, with input feeding [Luong15].
- ``luong-local-m`` / ``luong-local-p``: Luong's local attention [Luong15] Sec. 3.2.
- ``luong-stacked`` (:mod:`.stacked`): every decoder layer attends.

Each registered decoder declares the options it takes (:class:`~.registry.DecoderKind`);
:class:`Seq2Seq` refuses an option the chosen decoder does not take, rather than dropping it.

References:
    [Cho14] K. Cho, B. van Merrienboer, C. Gulcehre, et al. Learning Phrase Representations using
    RNN Encoder-Decoder for Statistical Machine Translation. EMNLP 2014. arXiv:1406.1078.
    [Bahdanau15] D. Bahdanau, K. Cho, Y. Bengio. Neural Machine Translation by Jointly Learning
    to Align and Translate. ICLR 2015. arXiv:1409.0473.
    [Luong15] M.-T. Luong, H. Pham, C. D. Manning. Effective Approaches to Attention-based
    Neural Machine Translation. EMNLP 2015. arXiv:1508.04025.
    [Tu16] Z. Tu, Z. Lu, Y. Liu, X. Liu, H. Li. Modeling Coverage for Neural Machine Translation.
    ACL 2016. arXiv:1601.04811.
    [Chorowski15] J. Chorowski, D. Bahdanau, D. Serdyuk, K. Cho, Y. Bengio. Attention-Based
    Models for Speech Recognition. NeurIPS 2015. arXiv:1506.07503.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ...functional import padding_mask
from ...nn.dropout import Dropout
from ..reinforce import REINFORCE_OPTIONS, ReinforceLoss
from .encoder import RNNEncoder
from .paper_init import PAPER_INITS
from .registry import DECODERS, INITS, RNNDecoder, check_decoder_options
from .state import DecoderState, Memory, StepOutput

__all__ = ["Seq2Seq", "Seq2SeqOutput"]


class Seq2SeqOutput(NamedTuple):
    logits: Tensor  # (B, Tq, V)
    weights: Tensor | None  # alignment weights (B, Tq, Tk); None without attention
    log_prob: Tensor | None = None  # (B, Tq) log-probabilities of sampled hard attention (REINFORCE)
    entropy: Tensor | None = None  # (B, Tq) entropies of the alignment distributions


class Seq2Seq(nn.Module):
    """RNN encoder-decoder whose attention is chosen by name.

    Args:
        src_vocab_size: source vocabulary size.
        tgt_vocab_size: target vocabulary size V.
        attention: a name in :data:`~.registry.DECODERS` (``attnkit list attention``): none,
            bahdanau, bahdanau-coverage, location-aware, luong-dot, luong-general, luong-concat,
            luong-local-m, luong-local-p, luong-stacked.
        cell: ``"gru"`` or ``"lstm"`` (encoder and decoder).
        emb_dim: embedding width E (source and target).
        hidden_dim: decoder width Dd and encoder width per direction.
        enc_layers: stacked encoder layers.
        bidirectional: bidirectional encoder (annotations of width 2 * hidden_dim).
        dropout: dropout on embeddings and decoder outputs.
        pad_id: padding index in both vocabularies.
        attn_dim: hidden width Da of the additive / concat score, or of local-p's position
            predictor (bahdanau, bahdanau-coverage, luong-concat, luong-local-p); defaults to
            `hidden_dim`.
        input_feeding: Luong input feeding [Luong15] Sec. 3.3 (luong-dot / -general / -concat /
            -local-m / -local-p); default True.
        normaliser: alignment function by name (see ``attnkit list normalisers``; bahdanau,
            bahdanau-coverage, luong-dot / -general / -concat); default "softmax" as in the
            papers.
        local_window: half-width D of the window of local attention, in source tokens
            (luong-local-m / luong-local-p); default 10.
        dec_layers: decoder layers, each with its own attention (luong-stacked only); default 1.
        loc_filters, loc_kernel: number Nf and odd width r (source positions) of the filters
            over the previous weights (location-aware only); default 10 and 31.
        init: ``"torch"`` keeps PyTorch's default initialisation (``nn.Linear`` and the RNNs
            U(-k^-1/2, k^-1/2) with k the input or hidden width, ``nn.Embedding`` N(0, 1));
            ``"paper"`` re-initialises every parameter as the decoder's paper did:
            [Bahdanau15] App. B.1 for none / bahdanau / bahdanau-coverage, [Luong15] Sec. 4.1
            for the Luong decoders (see :mod:`.paper_init`).
        reinforce_weight, entropy_weight, baseline_decay: lambda_r, lambda_e and the baseline's
            decay of the REINFORCE loss of sampled hard attention (``normaliser="reinforce"``
            only; None: 1.0, 0.01 and 0.9). With that normaliser the model owns the loss
            (:class:`~attnkit.models.reinforce.ReinforceLoss`) as its ``reinforce`` sub-module,
            the reward baseline in its state.

    The decoder options `attn_dim`, `input_feeding`, `normaliser`, `local_window`, `dec_layers`,
    `loc_filters` and `loc_kernel` default to None, meaning the decoder's own default; each
    decoder declares which ones it takes (:func:`~.registry.decoder_options`), and giving any
    other is an error, never silently ignored.

    Raises:
        ValueError: for an unknown attention, cell or init name, an option the chosen decoder
            does not take (the message names the attentions that take it), or incompatible
            widths (luong-dot needs ``hidden_dim == encoder output width``: use a
            unidirectional encoder).
    """

    decoder: RNNDecoder
    encoder: nn.Module

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        *,
        attention: str = "bahdanau",
        cell: str = "gru",
        emb_dim: int = 64,
        hidden_dim: int = 128,
        enc_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
        pad_id: int = 0,
        attn_dim: int | None = None,
        input_feeding: bool | None = None,
        normaliser: str | None = None,
        local_window: int | None = None,
        dec_layers: int | None = None,
        loc_filters: int | None = None,
        loc_kernel: int | None = None,
        init: str = "torch",
        reinforce_weight: float | None = None,
        entropy_weight: float | None = None,
        baseline_decay: float | None = None,
    ) -> None:
        super().__init__()
        given = {
            name: value
            for name, value in (
                ("attn_dim", attn_dim),
                ("input_feeding", input_feeding),
                ("normaliser", normaliser),
                ("local_window", local_window),
                ("dec_layers", dec_layers),
                ("loc_filters", loc_filters),
                ("loc_kernel", loc_kernel),
            )
            if value is not None
        }
        check_decoder_options(attention, given)
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose one of: {', '.join(INITS)}")
        reinforce = {
            name: value
            for name, value in zip(REINFORCE_OPTIONS, (reinforce_weight, entropy_weight, baseline_decay))
            if value is not None
        }
        if reinforce and normaliser != "reinforce":
            raise ValueError(
                f"{', '.join(reinforce)} apply only to sampled hard attention (normaliser='reinforce'), "
                f"not normaliser={normaliser!r}; remove them"
            )
        self.attention_name = attention
        self.encoder = RNNEncoder(
            src_vocab_size,
            emb_dim,
            hidden_dim,
            cell=cell,
            num_layers=enc_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            pad_id=pad_id,
        )
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, emb_dim, padding_idx=pad_id)
        self.decoder = DECODERS.get(attention).build(emb_dim, hidden_dim, int(self.encoder.output_dim), cell, **given)
        self.dropout = Dropout(dropout)
        self.generator = nn.Linear(self.decoder.output_dim, tgt_vocab_size)
        if init == "paper":
            PAPER_INITS[self.decoder.init_recipe](self)
        self.reinforce = ReinforceLoss(**reinforce) if normaliser == "reinforce" else None

    @property
    def uses_attention(self) -> bool:
        return bool(self.decoder.uses_attention)

    def reinforce_terms(self, nll: Tensor, output: Any, real: Tensor) -> Tensor | None:
        """The REINFORCE terms of the hard positions `output` (this model's
        :class:`Seq2SeqOutput`) sampled, for per-token negative log-likelihoods `nll` (B, Tq) at
        `real` (B, Tq) target positions (:class:`~attnkit.models.reinforce.ReinforceLoss`; updates
        the reward baseline); None when nothing was sampled (evaluation, or soft attention).

        Raises:
            ValueError: if `output` holds samples but the model has no REINFORCE loss.
        """
        if output.log_prob is None:
            return None
        if self.reinforce is None:
            raise ValueError(
                "this output sampled hard attention but the model was built without normaliser='reinforce'"
            )
        return self.reinforce(nll, output.log_prob, output.entropy, real)

    def encode(self, src: Tensor, src_lengths: Tensor) -> Memory:
        """Encode a batch: src (B, Tk) ids and lengths (B,) -> :class:`~.state.Memory`."""
        annotations, final = self.encoder(src, src_lengths)
        mask = padding_mask(src_lengths.to(src.device), src.shape[1])  # (B, Tk)
        return Memory(annotations, mask, final, self.decoder.project_keys(annotations))

    def init_state(self, memory: Memory) -> DecoderState:
        """Decoder state before the first output token."""
        return self.decoder.init_state(memory)

    def step(self, prev_tokens: Tensor, state: DecoderState, memory: Memory) -> StepOutput:
        """One decoding step.

        Args:
            prev_tokens: previous output tokens y_{t-1}, (B,).
            state: decoder state from :meth:`init_state` or the previous step.
            memory: from :meth:`encode`.

        Returns:
            :class:`~.state.StepOutput`: log-probabilities (B, V), new state, alignment weights
            (B, Tk) or None.
        """
        emb = self.tgt_embedding(prev_tokens)  # (B, E)
        output, state, weights = self.decoder.step(emb, state, memory)
        return StepOutput(torch.log_softmax(self.generator(output), dim=-1), state, weights)

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor, *, project: bool = True) -> Seq2SeqOutput:
        """Teacher forcing: logits for every target position.

        Args:
            src: source ids (B, Tk); src_lengths: (B,).
            tgt_in: decoder inputs, BOS followed by the target shifted right, (B, Tq).
            project: apply the output layer ``generator``; False returns its inputs (B, Tq, Dd)
                in the logits field, for a loss that fuses the output layer
                (:func:`attnkit.losses.fused.linear_cross_entropy`).

        Returns:
            :class:`Seq2SeqOutput` with logits (B, Tq, V) and weights (B, Tq, Tk) or None.
        """
        memory = self.encode(src, src_lengths)
        emb = self.dropout(self.tgt_embedding(tgt_in))  # (B, Tq, E)
        out = self.decoder(emb, self.init_state(memory), memory)
        features = self.dropout(out.output)
        return Seq2SeqOutput(self.generator(features) if project else features, out.weights, out.log_prob, out.entropy)
