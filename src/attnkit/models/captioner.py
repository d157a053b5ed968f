"""Show, Attend and Tell [Xu15]: a CNN encoder gives a grid of annotation vectors, and an LSTM
decoder attends over the grid for every word.

Encoder. Stages of conv 3x3 -> BatchNorm -> ReLU -> max-pool (one pooling factor per stage)
turn an image (B, C, H, W) into feature maps (B, D, h, w), h = H / prod(pools); the L = h * w
feature vectors are the annotations a_i, i = 1..L, row-major ([Xu15] Sec. 3.1.1: the
14 x 14 x 512 maps of a VGG layer).

Decoder, one step t ([Xu15] Sec. 3.1.2, 4.1, 4.2.1; E y the embedding, h the LSTM state):

- scores e_ti = v^T tanh(W h_{t-1} + U a_i + b): the additive attention of the core
  (:class:`attnkit.nn.AdditiveAttention`, [Xu15] Eq. 4's f_att as in [Bahdanau15]);
- alignment alpha_t = softmax(e_t) (Eq. 5). ``attention="soft"``: the context is the expected
  annotation phi = sum_i alpha_ti a_i (Eq. 13). ``attention="hard"``: one location s_t ~
  Multinoulli(alpha_t) is sampled while training (Eqs. 8-9, the core's ``"reinforce"``
  normaliser, trained with REINFORCE by the task), the argmax at inference; phi = a_{s_t};
- the gating scalar beta_t = sigmoid(f_beta(h_{t-1})), context z_t = beta_t phi (Sec. 4.2.1);
- the LSTM (Eqs. 1-3): i, f, o, g from T [E y_{t-1}; h_{t-1}; z_t], c_t = f c_{t-1} + i g,
  h_t = o tanh(c_t) (``nn.LSTMCell`` on the input [E y_{t-1}; z_t]);
- the deep output layer (Eq. 7): p(y_t) = softmax(L_o (E y_{t-1} + L_h h_t + L_z z_t)).

The initial state is c_0 = tanh(W_c mean_i a_i + b_c), h_0 = tanh(W_h mean_i a_i + b_h) (Sec.
3.1.2). ``attention="none"`` is the baseline without attention: z_t is the mean annotation at
every step (a fixed context vector, no gate).

The model decodes through :mod:`attnkit.decoding` like the text models: ``encode(images,
lengths)`` -> :class:`CaptionMemory`, ``init_state``, ``step(prev_tokens, state, memory)`` ->
(log-probabilities, :class:`CaptionState`, alpha_t (B, L)), so greedy and beam search keep
each hypothesis' attention per word; ``grid(H, W)`` says how to fold L back into (h, w).

Differences from the paper:
    - The encoder is a small CNN trained from scratch with the decoder, not a pretrained VGG.
    - f_init,c and f_init,h are one tanh layer each (the paper says "MLPs"; its code uses one
      layer); f_beta is one linear layer.
    - Hard attention is decoded with the argmax location (the paper samples while training and
      does not say how it decodes). The paper's variance trick of Sec. 4.1 ("with probability 0.5
      for a given image, we set the sampled attention location to its expected value") is
      ``expected_context`` (default 0: always sample): one draw per caption, kept for all its
      words; such a caption is trained through the expected context like soft attention and
      adds no REINFORCE term, while its reward still enters the moving-average baseline. The doubly
      stochastic penalty (:func:`attnkit.losses.doubly_stochastic_penalty`, returned by
      :meth:`ShowAttendTell.forward` for the loss) applies to soft attention only.
    - No dropout on the LSTM state; optional dropout on the deep-output vector only.

References:
    [Xu15] K. Xu, J. Ba, R. Kiros, K. Cho, A. Courville, R. Salakhutdinov, R. Zemel, Y. Bengio.
    Show, Attend and Tell: Neural Image Caption Generation with Visual Attention. ICML 2015.
    arXiv:1502.03044.
    [Bahdanau15] D. Bahdanau, K. Cho, Y. Bengio. Neural Machine Translation by Jointly Learning
    to Align and Translate. ICLR 2015. arXiv:1409.0473.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import torch
from torch import Tensor, nn

from ..functional import fuse
from ..losses import doubly_stochastic_penalty
from ..nn import AdditiveAttention
from ..nn.dropout import Dropout
from .reinforce import REINFORCE_OPTIONS, ReinforceLoss

__all__ = ["CAPTION_ATTENTIONS", "GridEncoder", "CaptionMemory", "CaptionState", "CaptionOutput", "ShowAttendTell"]

#: attention -> the core normaliser that makes its alignment (None: no attention).
CAPTION_ATTENTIONS = {"soft": "softmax", "hard": "reinforce", "none": None}


class GridEncoder(nn.Module):
    """Conv 3x3 -> BatchNorm -> ReLU -> max-pool stages: images to an L x D grid of annotations.

    Args:
        in_channels: image channels C.
        channels: output channels of each stage; the last is the annotation width D.
        pools: max-pool factor (and stride) of each stage, pixels.

    Raises:
        ValueError: if `channels` and `pools` differ in length, are empty, or hold values < 1.
    """

    def __init__(self, in_channels: int, channels: Sequence[int], pools: Sequence[int]) -> None:
        super().__init__()
        if len(channels) != len(pools) or not channels or min(*channels, *pools) < 1:
            raise ValueError(
                f"need as many stage widths as pooling factors (>= 1 each), got {list(channels)} and {list(pools)}"
            )
        stages, c_in = [], in_channels
        for c_out, p in zip(channels, pools):
            stages += [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(p),
            ]
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.stride = math.prod(pools)  # pixels per grid cell side
        self.output_dim = c_in

    def forward(self, images: Tensor) -> Tensor:
        """Annotations a_i, (B, L, D), row-major over the (H / stride, W / stride) grid, for
        images (B, C, H, W) with H and W divisible by the product of the pools."""
        return self.stages(images).flatten(2).transpose(1, 2)  # (B, D, h, w) -> (B, L, D)


class CaptionMemory(NamedTuple):
    """What the encoder hands the decoder; fixed for the whole caption."""

    annotations: Tensor  # a_i, (B, L, D)
    mask: Tensor  # (B, L) bool, all True: every location may be attended
    mean: Tensor  # (1/L) sum_i a_i, (B, D)
    projected_keys: Tensor | None  # U a_i + b, (B, L, Da); None without attention


class CaptionState(NamedTuple):
    """The LSTM state between steps: h_t and c_t, (B, n) each."""

    hidden: Tensor
    cell: Tensor

    def select(self, index: Tensor) -> "CaptionState":
        """Keep batch rows `index` (B',), in that order (beam search reorders and drops rows)."""
        return CaptionState(self.hidden.index_select(0, index), self.cell.index_select(0, index))


class CaptionOutput(NamedTuple):
    """Teacher-forced output of :class:`ShowAttendTell`."""

    logits: Tensor  # (B, Tq, V)
    weights: Tensor | None  # alpha, (B, Tq, L) (one-hot samples for hard attention); None without attention
    log_prob: Tensor | None = None  # (B, Tq) log p(s_t) of the sampled locations (hard, training only)
    entropy: Tensor | None = None  # (B, Tq) entropy of alpha_t, nats (hard, training only)
    gate: Tensor | None = None  # beta_t, (B, Tq) in (0, 1); None without the gate
    penalty: Tensor | None = None  # lambda * doubly stochastic penalty, summed over the batch; None if lambda = 0


class _Step(NamedTuple):
    hidden: Tensor
    cell: Tensor
    context: Tensor  # z_t, (B, D)
    weights: Tensor | None  # (B, L)
    log_prob: Tensor | None  # (B,)
    entropy: Tensor | None  # (B,)
    gate: Tensor | None  # (B,)


class ShowAttendTell(nn.Module):
    """The captioner of [Xu15]: CNN annotations, an LSTM decoder, soft, hard or no attention.

    Args:
        vocab_size: caption vocabulary size V (specials included).
        in_channels: image channels C.
        attention: ``"soft"``, ``"hard"`` or ``"none"`` (:data:`CAPTION_ATTENTIONS`).
        channels: encoder stage widths; the last is the annotation width D.
        pools: encoder pooling factors; the grid is (H / prod(pools), W / prod(pools)).
        emb_dim: word embedding width m (also the width of the deep output, Eq. 7).
        hidden_dim: LSTM width n.
        attn_dim: hidden width of the additive score, Da.
        gate: use the gating scalar beta (Sec. 4.2.1); must be False without attention.
        dropout: dropout on the deep-output vector, in [0, 1).
        penalty: lambda of the doubly stochastic penalty [Xu15] Eq. 14, >= 0, soft attention
            only; :meth:`forward` returns the weighted penalty for the loss to add.
        expected_context: hard attention only, in [0, 1]: the probability, per caption and
            while training, of using the expected context sum_i alpha_ti a_i instead of a sampled
            location (the paper's 0.5, Sec. 4.1; 0 always samples).
        pad_id: padding id of the vocabulary.
        reinforce_weight, entropy_weight, baseline_decay: lambda_r, lambda_e and the baseline's
            decay of the REINFORCE loss (hard attention only; None: 1.0, 0.01 and 0.9). Hard
            attention owns that loss (:class:`~attnkit.models.reinforce.ReinforceLoss`) as its
            ``reinforce`` sub-module, the reward baseline in the model's state.

    Attributes:
        stride: pixels per grid cell side (the product of the pools); :meth:`grid` gives the
            grid of an image size, over whose h * w locations (row-major) :meth:`step` attends.

    Raises:
        ValueError: for an unknown attention, bad stage lists, a gate without attention, a
            penalty without soft attention, or an `expected_context` outside [0, 1] or without
            hard attention.
    """

    def __init__(
        self,
        vocab_size: int,
        in_channels: int = 1,
        *,
        attention: str = "soft",
        channels: Sequence[int] = (32, 64, 128),
        pools: Sequence[int] = (2, 2, 3),
        emb_dim: int = 64,
        hidden_dim: int = 128,
        attn_dim: int = 64,
        gate: bool = True,
        dropout: float = 0.0,
        penalty: float = 0.0,
        expected_context: float = 0.0,
        pad_id: int = 0,
        reinforce_weight: float | None = None,
        entropy_weight: float | None = None,
        baseline_decay: float | None = None,
    ) -> None:
        super().__init__()
        if attention not in CAPTION_ATTENTIONS:
            raise ValueError(f"unknown attention {attention!r}; choose one of: {', '.join(CAPTION_ATTENTIONS)}")
        if gate and attention == "none":
            raise ValueError(
                "the gating scalar beta scales an attended context; attention='none' has none, so set gate=False"
            )
        if penalty < 0 or (penalty and attention != "soft"):
            raise ValueError(
                f"the doubly stochastic penalty (>= 0) constrains soft attention weights; got "
                f"penalty={penalty} with attention={attention!r}"
            )
        if not 0.0 <= expected_context <= 1.0 or (expected_context and attention != "hard"):
            raise ValueError(
                f"expected_context is the probability (in [0, 1]) that a hard-attention caption is "
                f"trained through the expected context; got {expected_context} with "
                f"attention={attention!r}"
            )
        reinforce = {
            name: value
            for name, value in zip(REINFORCE_OPTIONS, (reinforce_weight, entropy_weight, baseline_decay))
            if value is not None
        }
        if reinforce and attention != "hard":
            raise ValueError(
                f"{', '.join(reinforce)} apply only to hard attention, not attention={attention!r}; remove them"
            )
        self.attention_name, self.penalty, self.pad_id = attention, float(penalty), pad_id
        self.expected_context = float(expected_context)
        self.encoder = GridEncoder(in_channels, channels, pools)
        self.stride = self.encoder.stride
        d = self.encoder.output_dim
        normaliser = CAPTION_ATTENTIONS[attention]
        self.attention = (
            None if normaliser is None else AdditiveAttention(hidden_dim, d, attn_dim, normaliser=normaliser)
        )
        self.gate = nn.Linear(hidden_dim, 1) if gate else None  # f_beta
        self.init_hidden = nn.Linear(d, hidden_dim)  # f_init,h
        self.init_cell = nn.Linear(d, hidden_dim)  # f_init,c
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)  # E
        self.lstm = nn.LSTMCell(emb_dim + d, hidden_dim)  # T of Eq. 1
        self.out_hidden = nn.Linear(hidden_dim, emb_dim, bias=False)  # L_h
        self.out_context = nn.Linear(d, emb_dim, bias=False)  # L_z
        self.dropout = Dropout(dropout)
        self.generator = nn.Linear(emb_dim, vocab_size)  # L_o
        self.reinforce = ReinforceLoss(**reinforce) if attention == "hard" else None

    @property
    def uses_attention(self) -> bool:
        return self.attention is not None

    def reinforce_terms(self, nll: Tensor, output: Any, real: Tensor) -> Tensor | None:
        """The REINFORCE terms of the locations `output` (this model's :class:`CaptionOutput`)
        sampled, for per-token negative log-likelihoods `nll` (B, Tq) at `real` (B, Tq) positions
        [Xu15] Sec. 4.1 (updates the reward baseline); None when nothing was sampled."""
        if output.log_prob is None or self.reinforce is None:
            return None
        return self.reinforce(nll, output.log_prob, output.entropy, real)

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the annotation grid of images of `height` x `width` pixels.

        Raises:
            ValueError: if a side is not a multiple of :attr:`stride`.
        """
        if height % self.stride or width % self.stride or min(height, width) < 1:
            raise ValueError(
                f"image sides {height} x {width} must be multiples of the encoder's stride {self.stride} pixels"
            )
        return height // self.stride, width // self.stride

    def encode(self, images: Tensor, lengths: Tensor | None = None) -> CaptionMemory:
        """Annotations of a batch of images.

        Args:
            images: (B, C, H, W) float, H and W divisible by :attr:`stride`.
            lengths: what the decoders pass as source lengths: (B,), each the number of
                locations L = h * w (or None).

        Returns:
            :class:`CaptionMemory`.

        Raises:
            ValueError: for images of the wrong rank or channels, sides not divisible by the
                stride, or lengths other than L.
        """
        if images.dim() != 4 or images.shape[1] != self.encoder.stages[0].in_channels:
            raise ValueError(
                f"expected images (B, {self.encoder.stages[0].in_channels}, H, W), got {tuple(images.shape)}"
            )
        h, w = self.grid(images.shape[2], images.shape[3])
        if lengths is not None and bool((lengths != h * w).any()):
            raise ValueError(f"every image has L = {h * w} annotation locations; got lengths {lengths.tolist()}")
        annotations = self.encoder(images)  # (B, L, D)
        mask = torch.ones(annotations.shape[:2], dtype=torch.bool, device=annotations.device)
        keys = None if self.attention is None else self.attention.project_keys(annotations)
        return CaptionMemory(annotations, mask, annotations.mean(dim=1), keys)

    def init_state(self, memory: CaptionMemory) -> CaptionState:
        """h_0 and c_0 from the mean annotation [Xu15] Sec. 3.1.2."""
        return CaptionState(torch.tanh(self.init_hidden(memory.mean)), torch.tanh(self.init_cell(memory.mean)))

    def _recur(self, emb: Tensor, state: CaptionState, memory: CaptionMemory, expected: Tensor | None = None) -> _Step:
        """One LSTM step from embedding E y_{t-1} (B, m): context, then h_t and c_t. `expected`
        (B,) bool marks the hard-attention captions that use the expected context this time."""
        weights = log_prob = entropy = beta = None
        if self.attention is None:
            context = memory.mean  # the fixed context vector
        else:
            att = self.attention(
                state.hidden.unsqueeze(1), memory.annotations, memory.mask, memory.projected_keys
            )  # Eqs. 4-5; soft: Eq. 13, hard: Eqs. 8-9
            context, weights = att.context[:, 0], att.weights[:, 0]  # (B, D), (B, L)
            if getattr(att, "log_prob", None) is not None:
                log_prob, entropy = att.log_prob[:, 0], att.entropy[:, 0]
                if expected is not None:  # Sec. 4.1: s_t set to its expected value alpha_t
                    probs = att.probs[:, 0]  # (B, L)
                    soft = fuse.weighted_sum(probs.unsqueeze(1), memory.annotations)[:, 0]  # (B, D)
                    context = torch.where(expected[:, None], soft, context)
                    weights = torch.where(expected[:, None], probs, weights)
                    log_prob = log_prob.masked_fill(expected, 0.0)  # no score-function term
            if self.gate is not None:
                beta = torch.sigmoid(self.gate(state.hidden))  # (B, 1)  Sec. 4.2.1
                context = beta * context
                beta = beta[:, 0]
        hidden, cell = self.lstm(torch.cat([emb, context], dim=-1), (state.hidden, state.cell))  # Eqs. 1-3
        return _Step(hidden, cell, context, weights, log_prob, entropy, beta)

    def _deep_output(self, emb: Tensor, hidden: Tensor, context: Tensor) -> Tensor:
        """Logits L_o (E y_{t-1} + L_h h_t + L_z z_t) [Xu15] Eq. 7, (..., V)."""
        return self.generator(self.dropout(emb + self.out_hidden(hidden) + self.out_context(context)))

    def step(
        self, prev_tokens: Tensor, state: CaptionState, memory: CaptionMemory
    ) -> tuple[Tensor, CaptionState, Tensor | None]:
        """One decoding step.

        Args:
            prev_tokens: y_{t-1}, (B,).
            state: from :meth:`init_state` or the previous step.
            memory: from :meth:`encode`.

        Returns:
            (log-probabilities (B, V), new state, alpha_t (B, L) or None without attention).
        """
        emb = self.embedding(prev_tokens)  # (B, m)
        s = self._recur(emb, state, memory)
        logits = self._deep_output(emb, s.hidden, s.context)
        return torch.log_softmax(logits, dim=-1), CaptionState(s.hidden, s.cell), s.weights

    def forward(self, images: Tensor, tgt_in: Tensor) -> CaptionOutput:
        """Teacher forcing: logits for every caption position.

        Args:
            images: (B, C, H, W) float.
            tgt_in: decoder inputs, ``<s>`` then the caption shifted right, (B, Tq), padded with
                `pad_id` (its real positions are the real target positions, ``</s>`` included).

        Returns:
            :class:`CaptionOutput`; with ``penalty > 0`` its ``penalty`` is lambda times
            :func:`~attnkit.losses.doubly_stochastic_penalty` over the real steps.
        """
        memory = self.encode(images)
        state = self.init_state(memory)
        emb = self.embedding(tgt_in)  # (B, Tq, m)
        expected = None
        if self.training and self.expected_context:  # > 0 only with hard attention (checked in __init__)
            expected = torch.rand(images.shape[0], device=images.device) < self.expected_context  # per caption
        steps = []
        for t in range(tgt_in.shape[1]):
            s = self._recur(emb[:, t], state, memory, expected)
            state = CaptionState(s.hidden, s.cell)
            steps.append(s)

        def stack(name: str) -> Tensor | None:
            values = [getattr(s, name) for s in steps]
            return None if not values or values[0] is None else torch.stack(values, 1)

        hidden = torch.stack([s.hidden for s in steps], 1)  # (B, Tq, n)
        logits = self._deep_output(emb, hidden, torch.stack([s.context for s in steps], 1))  # (B, Tq, V)
        weights = stack("weights")
        penalty = None
        if self.penalty:
            assert weights is not None  # the penalty needs soft attention (checked in __init__)
            penalty = self.penalty * doubly_stochastic_penalty(weights, tgt_in != self.pad_id)  # Eq. 14
        return CaptionOutput(logits, weights, stack("log_prob"), stack("entropy"), stack("gate"), penalty)
