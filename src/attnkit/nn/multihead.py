"""Multi-head attention (self and cross), with grouped-query heads and a KV cache.

Queries, keys and values are projected, split into heads, attended with
:func:`attnkit.functional.attend` (the fused SDPA kernel unless weights are asked for) and merged
by an output projection. Keys and values may use fewer heads than queries (grouped-query
attention; one key/value head is multi-query attention); they are shared by consecutive query
heads. Caches go in and out explicitly as :class:`KVCache`: the module keeps no state between
calls.

The attention itself is the dense one by default (``kernel="dense"``, the paths above); another
kernel of :data:`attnkit.functional.efficient.ATTENTION_KERNELS` (sliding window, linear, flex,
...) is chosen by name with ``kernel=`` and its options with ``kernel_options=``.

Two kinds of cache, told apart by the argument they are passed as:

- ``cache=``: the keys and values of the positions seen so far in *self-attention*; each call
  appends the new positions to it and returns the longer cache (incremental decoding).
- ``memory=``: the projected keys and values of the encoder states for *cross-attention*, from
  :meth:`MultiHeadAttention.project_memory`; used as they are, so they are projected once per
  source sentence instead of once per decoder step.

References:
    [Vaswani17] A. Vaswani et al. Attention Is All You Need. NeurIPS 2017. arXiv:1706.03762.
    [Shazeer19] N. Shazeer. Fast Transformer Decoding: One Write-Head is All You Need. 2019.
    arXiv:1911.02150.
    [Ainslie23] J. Ainslie, J. Lee-Thorp, M. de Jong, Y. Zemlyanskiy, F. Lebrón, S. Sanghai.
    GQA: Training Generalized Multi-Query Transformer Models from Multi-Head Checkpoints.
    EMNLP 2023. arXiv:2305.13245.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..functional import attend
from ..functional.efficient import ATTENTION_KERNELS
from ..functional.kernels import AttentionKernel
from ..functional.masks import as_scores_mask

__all__ = ["KVCache", "MHAOutput", "MultiHeadAttention", "Rotary"]


class KVCache(NamedTuple):
    """Projected keys and values, per key/value head."""

    keys: Tensor  # (B, Nkv, Tc, Dh): projected (and rotated, with RoPE) keys of all positions
    values: Tensor  # (B, Nkv, Tc, Dh)


class MHAOutput(NamedTuple):
    """Output of :class:`MultiHeadAttention`."""

    output: Tensor  # (B, Tq, D)
    weights: Tensor | None  # (B, Nh, Tq, Tk), or (B, Tq, Tk) averaged; None unless need_weights
    cache: KVCache | None  # keys/values attended to, when a cache was passed in or use_cache


class Rotary(Protocol):
    """Rotary position embedding: rotates queries/keys (B, N, T, Dh) of positions offset.."""

    def rotate(self, x: Tensor, offset: int) -> Tensor: ...


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention [Vaswani17] Sec. 3.2.2, batch first.

    head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V); output = Concat(head_1..head_Nh) W^O. Our
    ``head_dim`` is the paper's d_k = d_v, ``q_proj``/``k_proj``/``v_proj`` stack the W_i^Q,
    W_i^K, W_i^V of all heads (``in_proj`` stacks all three, in the layout of
    :class:`torch.nn.MultiheadAttention`) and ``out_proj`` is W^O.

    Args:
        d_model: query and output width D (the paper's d_model).
        n_heads: number of query heads Nh; ``head_dim`` Dh = D / Nh.
        num_kv_heads: number of key/value heads Nkv, dividing Nh; query head h reads key/value
            head h // (Nh / Nkv). Nkv = 1 is multi-query attention [Shazeer19], 1 < Nkv < Nh
            grouped-query attention [Ainslie23]. Defaults to Nh.
        kdim: width of the key inputs, Dk (encoder width for cross-attention). Defaults to D.
        vdim: width of the value inputs, Dv. Defaults to D.
        bias: learn biases in all four projections.
        dropout: probability in [0, 1) of dropping each attention weight, in training mode only.
        causal: query i attends only keys j <= i + Tk - Tq (itself, the positions before it
            and, with a cache, every cached position).
        packed: one ``in_proj`` Linear(D, D + 2 Nkv Dh) instead of ``q_proj``/``k_proj``/
            ``v_proj``; self-attention then projects with one matmul. Needs Dk = Dv = D.
            Defaults to True when Dk = Dv = D and Nkv = Nh.
        rotary: applied as ``rotary.rotate(x, offset)`` to the projected queries (B, Nh, T, Dh)
            and keys (B, Nkv, T, Dh) of self-attention, offset = number of cached positions.
        batch_first: inputs and output of :meth:`forward` are (B, T, D); False takes and returns
            (T, B, D), as :class:`torch.nn.MultiheadAttention` with ``batch_first=False`` (weights,
            masks and caches stay batch first, as torch's weights and masks do).
        kernel: a name of :data:`attnkit.functional.efficient.ATTENTION_KERNELS`. ``"dense"`` (the
            default) is the fused SDPA kernel / explicit path; another kernel takes no `bias`,
            only (B, Tk) padding masks (and the causal flag), and, if it is ``self_only``, no
            cache or cross-attention. Parameters are the same for every kernel.
        kernel_options: the kernel's options (``{"window": 64}``); its ``dropout_p`` is `dropout`.

    Raises:
        ValueError: if Nh does not divide D, Nkv does not divide Nh, `dropout` is not in
            [0, 1), or ``packed=True`` with Dk or Dv different from D; for an unknown kernel,
            an option it does not take or a required one missing, ``dropout > 0`` with a
            kernel that has no attention dropout, or ``causal=True`` with a kernel without a causal
            form (:class:`~attnkit.errors.InputError`, a ValueError, from the kernel's contract).

    Differences from the paper:
        optional grouped key/value heads, rotary embeddings and biases on the projections
        (the paper's projections have none; :class:`torch.nn.MultiheadAttention` has them).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        *,
        num_kv_heads: int | None = None,
        kdim: int | None = None,
        vdim: int | None = None,
        bias: bool = True,
        dropout: float = 0.0,
        causal: bool = False,
        packed: bool | None = None,
        rotary: Rotary | None = None,
        batch_first: bool = True,
        kernel: str = "dense",
        kernel_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        num_kv_heads = n_heads if num_kv_heads is None else num_kv_heads
        kdim, vdim = kdim or d_model, vdim or d_model
        _check_sizes(d_model, n_heads, num_kv_heads, dropout)
        if packed is None:
            packed = kdim == vdim == d_model and num_kv_heads == n_heads
        if packed and not kdim == vdim == d_model:
            raise ValueError(
                f"packed=True needs kdim == vdim == d_model = {d_model}, got "
                f"kdim={kdim}, vdim={vdim}; pass packed=False"
            )
        self.d_model, self.n_heads, self.num_kv_heads = d_model, n_heads, num_kv_heads
        self.head_dim, self.kdim, self.vdim = d_model // n_heads, kdim, vdim
        self.kv_dim = num_kv_heads * self.head_dim  # Nkv * Dh
        self.dropout, self.causal, self.rotary = dropout, causal, rotary
        self.batch_first = batch_first
        self.in_proj = nn.Linear(d_model, d_model + 2 * self.kv_dim, bias=bias) if packed else None
        self.q_proj = None if packed else nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = None if packed else nn.Linear(kdim, self.kv_dim, bias=bias)
        self.v_proj = None if packed else nn.Linear(vdim, self.kv_dim, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)  # W^O
        self.kernel, self.kernel_options = kernel, dict(kernel_options or {})
        self._kernel = _checked_kernel(kernel, self.kernel_options, dropout)
        if self._kernel is not None:
            self._kernel.check_causal(causal)  # refused now rather than at the first call
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """Xavier-uniform input projections and zero biases, as torch.nn.MultiheadAttention."""
        for proj in (self.in_proj, self.q_proj, self.k_proj, self.v_proj):
            if proj is not None:
                nn.init.xavier_uniform_(proj.weight)
                if proj.bias is not None:
                    nn.init.zeros_(proj.bias)
        if self.out_proj.bias is not None:
            nn.init.zeros_(self.out_proj.bias)

    @classmethod
    def from_torch(
        cls, mha: nn.MultiheadAttention, *, causal: bool = False, batch_first: bool = True
    ) -> MultiHeadAttention:
        """A copy of `mha`'s weights: the same outputs and weights when called as torch is called.

        ``copy(query, key, value, key_padding_mask=..., attn_mask=..., need_weights=True,
        average_attn_weights=...)`` returns torch's ``(attn_output, attn_weights)`` as the first
        two fields of its :class:`MHAOutput` (torch's default ``need_weights=True`` and
        ``average_attn_weights=True`` are not ours: pass them when you want torch's weights).

        Args:
            mha: the layer to copy; its dtype, device and dropout are kept.
            causal: the new layer's `causal` (torch's per-call ``is_causal`` is a hint about `attn_mask`).
            batch_first: the new layer's `batch_first`. Defaults to True whatever
                ``mha.batch_first``; pass ``batch_first=mha.batch_first`` to take torch's layout.

        Raises:
            ValueError: if `mha` uses ``add_bias_kv`` or ``add_zero_attn``, which we lack.
        """
        if mha.bias_k is not None or mha.add_zero_attn:
            raise ValueError(
                "MultiHeadAttention has no add_bias_kv / add_zero_attn; "
                "only torch layers built without them can be copied"
            )
        layer = cls(
            mha.embed_dim,
            mha.num_heads,
            kdim=mha.kdim,
            vdim=mha.vdim,
            bias=mha.in_proj_bias is not None,
            dropout=mha.dropout,
            causal=causal,
            packed=mha.in_proj_weight is not None,
            batch_first=batch_first,
        ).to(mha.out_proj.weight)
        with torch.no_grad():
            copies: list[tuple[nn.Linear, Tensor, Tensor | None]]
            if layer.in_proj is not None:
                copies = [(layer.in_proj, mha.in_proj_weight, mha.in_proj_bias)]
            else:
                biases: tuple[Tensor | None, ...] = (
                    (None,) * 3 if mha.in_proj_bias is None else mha.in_proj_bias.chunk(3)
                )
                copies = list(
                    zip(layer._separate_projs(), (mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight), biases)
                )
            copies.append((layer.out_proj, mha.out_proj.weight, mha.out_proj.bias))
            for proj, weight, bias in copies:
                proj.weight.copy_(weight)
                if bias is not None:
                    proj.bias.copy_(bias)
        return layer

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        bias: Tensor | None = None,
        need_weights: bool = False,
        average_weights: bool = False,
        memory: KVCache | None = None,
        cache: KVCache | None = None,
        use_cache: bool = False,
        key_padding_mask: Tensor | None = None,
        attn_mask: Tensor | None = None,
        is_causal: bool = False,
        average_attn_weights: bool | None = None,
    ) -> MHAOutput:
        """Attend from every query to the keys: self-attention, cross-attention or a decoder step.

        Without `key`, `value` and `memory` this is self-attention (key = value = query); with
        `cache`, the new positions are appended to it and the queries are the last Tq of the
        Tk = Tc + Tq positions. With `key` (and `value`, default `key`) or `memory` this is
        cross-attention.

        Two mask conventions, side by side (use one of them per call; both at once is an error):

        - ``mask`` (attnkit's): boolean, ``True`` = may attend; (B, Tk) padding, (B|1, Tq|1, Tk)
          or 4-D (B|1, Nh|1, Tq|1, Tk).
        - ``key_padding_mask`` (PyTorch's): (B, Tk); boolean ``True`` = ignore this key, or float
          scores added.
        - ``attn_mask`` (PyTorch's): (Tq, Tk) or (B * Nh, Tq, Tk); boolean ``True`` = not allowed,
          or float scores added.

        `key_padding_mask`, `attn_mask`, `is_causal` and `average_attn_weights` have the meaning
        of :meth:`torch.nn.MultiheadAttention.forward`, so a :meth:`from_torch` copy called as
        torch is called gives torch's output and weights (-inf in a float mask forbids a key).

        Args:
            query: queries, (B, Tq, D) ((Tq, B, D) when ``batch_first=False``).
            key: encoder states used as keys, (B, Tk, Dk); None for self-attention.
            value: encoder states used as values, (B, Tk, Dv); defaults to `key`.
            mask: boolean, ``True`` = may attend. A 2-D mask is always a (B, Tk) padding mask;
                3-D masks are (B|1, Tq|1, Tk) and 4-D ones broadcast to (B, Nh, Tq, Tk). Pass
                a (Tq, Tk) mask as (1, Tq, Tk). Tk counts cached positions. ANDed with `causal`.
            bias: additive float scores broadcastable to (B, Nh, Tq, Tk), e.g. ALiBi
                (Nh, Tq, Tk); finite wherever the mask allows attending.
            need_weights: return the weights; computes them on the explicit path, which gives
                the same output as the fused kernel used otherwise.
            average_weights: return weights averaged over heads, (B, Tq, Tk).
            memory: projected encoder keys/values from :meth:`project_memory`, (B, Nkv, Tk,
                Dh), used as they are instead of `key` and `value` (cross-attention).
            cache: keys/values of the earlier positions of this self-attention, (B, Nkv, Tc,
                Dh); its length Tc is the position offset of the queries (and of `rotary`).
            use_cache: return the keys/values attended to even when no cache was passed in.
            key_padding_mask: PyTorch's padding mask, (B, Tk): boolean, ``True`` = ignore this
                key, or float scores added to every query's scores of that key.
            attn_mask: PyTorch's attention mask, (Tq, Tk) or (B * Nh, Tq, Tk) (batch index
                major, as torch): boolean, ``True`` = not allowed, or float scores added.
            is_causal: PyTorch's hint that `attn_mask` is a causal mask; as in torch it needs
                `attn_mask`, which is what is applied (for a causal layer pass ``causal=True``).
            average_attn_weights: torch's name of `average_weights`; when given, it wins, and
                as in torch it is ignored without `need_weights`.

        Returns:
            :class:`MHAOutput`: output (B, Tq, D); weights (B, Nh, Tq, Tk), (B, Tq, Tk) if
            averaged, or None; cache (B, Nkv, Tk, Dh) — the extended cache, or the projected
            memory for cross-attention — if a cache was passed or `use_cache`, else None.

        Raises:
            ValueError: for inputs, caches, masks or biases of the wrong shape, `value` without
                `key`, `memory` with `key` or `cache`, `rotary` in cross-attention,
                `average_weights` without `need_weights`, `mask` together with
                `key_padding_mask` / `attn_mask`, or `is_causal` without `attn_mask`.
            TypeError: for a non-boolean mask or a non-floating-point bias.
        """
        if average_attn_weights is not None:  # as torch: ignored without need_weights
            average_weights = average_attn_weights and need_weights
        if not self.batch_first:  # (T, B, D) at the boundary with torch's layout
            query = query.transpose(0, 1)
            key, value = (None if x is None else x.transpose(0, 1) for x in (key, value))
        self._check_call(query, key, value, need_weights, average_weights)
        if key is None and memory is None:
            q, kv = self._self_qkv(query, cache)  # (B, Nh, Tq, Dh), (B, Nkv, Tk, Dh)
        else:
            q, kv = self._cross_qkv(query, key, value, memory, cache)
        if key_padding_mask is not None or attn_mask is not None:
            if mask is not None:
                raise ValueError(
                    "pass either mask= (attnkit's, True = may attend) or PyTorch's key_padding_mask= / attn_mask= "
                    "(True = ignore / not allowed), not both"
                )
            mask, bias = _torch_masks(key_padding_mask, attn_mask, bias, q.shape, kv.keys.shape[-2])
        elif is_causal:
            raise ValueError(
                "is_causal=True is PyTorch's hint that attn_mask is causal and needs attn_mask; "
                "for a causal layer build it with causal=True"
            )
        output, weights = self._attend(q, kv, mask, bias, need_weights, self.causal)
        if average_weights and weights is not None:  # _check_call: average_weights needs need_weights
            weights = weights.mean(dim=1)  # (B, Tq, Tk)
        if not self.batch_first:
            output = output.transpose(0, 1)  # (Tq, B, D)
        return MHAOutput(output, weights, kv if cache is not None or use_cache else None)

    def project_self(self, query: Tensor, offset: int = 0) -> tuple[Tensor, KVCache]:
        """Projected queries and keys/values of `query` for self-attention, for callers that keep
        keys and values in their own layout (e.g. beam search's shared-prefix caches).

        Args:
            query: inputs (B, Tq, D) at positions offset .. offset + Tq - 1.
            offset: position of the first input (rotary embeddings rotate by it).

        Returns:
            Queries (B, Nh, Tq, Dh) and :class:`KVCache` (B, Nkv, Tq, Dh) of these positions only.
        """
        _check_3d("query", query, self.d_model, "B, Tq, D")
        return self._self_qkv(query, None, offset)

    def attend_projected(
        self,
        q: Tensor,
        kv: KVCache,
        *,
        mask: Tensor | None = None,
        bias: Tensor | None = None,
        need_weights: bool = False,
        causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Attention of projected queries over projected keys/values, then W^O.

        Args:
            q: queries (B, Nh, Tq, Dh), e.g. from :meth:`project_self`.
            kv: keys and values (B, Nkv, Tk, Dh).
            mask: boolean, True = may attend, as in :meth:`forward` (2-D = (B, Tk) padding).
            bias: additive float scores broadcastable to (B, Nh, Tq, Tk).
            need_weights: also return the weights (explicit path).
            causal: query i may attend only keys j <= i + Tk - Tq (the queries are the last Tq
                positions); False leaves it all to `mask`.

        Returns:
            Output (B, Tq, D) and weights (B, Nh, Tq, Tk) or None.

        Raises:
            ValueError: if `kv` is not (B, Nkv, Tk, Dh) for the B of `q`, or for a mask or bias
                that does not fit the scores.
        """
        self._check_cache("kv", kv, q.shape[0])
        return self._attend(q, kv, mask, bias, need_weights, causal)

    def _attend(
        self, q: Tensor, kv: KVCache, mask: Tensor | None, bias: Tensor | None, need_weights: bool, causal: bool
    ) -> tuple[Tensor, Tensor | None]:
        if self._kernel is not None:
            return self._attend_kernel(self._kernel, q, kv, mask, bias, need_weights, causal)
        context, weights = attend(  # (B, Nh, Tq, Dh), (B, Nh, Tq, Tk) | None   Eq. 1
            q,
            self._repeat_kv(kv.keys),
            self._repeat_kv(kv.values),
            mask=self._attention_mask(mask, q.shape[0], q.shape[-2], kv.keys.shape[-2]),
            bias=bias,
            is_causal=causal,
            dropout_p=self.dropout if self.training else 0.0,
            need_weights=need_weights,
        )
        return self.out_proj(context.transpose(1, 2).flatten(2)), weights  # (B, Tq, D)   W^O

    def _attend_kernel(
        self,
        kernel: AttentionKernel,
        q: Tensor,
        kv: KVCache,
        mask: Tensor | None,
        bias: Tensor | None,
        need_weights: bool,
        causal: bool,
    ) -> tuple[Tensor, Tensor | None]:
        """:meth:`_attend` through a non-dense kernel: padding masks only, no bias."""
        if bias is not None:
            raise ValueError(f"attention kernel {self.kernel!r} takes no bias (ALiBi, ...); use kernel='dense'")
        b, tk = q.shape[0], kv.keys.shape[-2]
        params = dict(self.kernel_options)
        if kernel.dropout and self.training and self.dropout > 0:
            params["dropout_p"] = self.dropout
        context, weights = kernel(  # (B, Nh, Tq, Dh), (B, Nh, Tq, Tk) | None
            q,
            self._repeat_kv(kv.keys),
            self._repeat_kv(kv.values),
            key_padding=_padding_only(mask, b, tk, self.kernel),
            causal=causal,
            need_weights=need_weights,
            **params,
        )
        return self.out_proj(context.transpose(1, 2).flatten(2)), weights  # (B, Tq, D)   W^O

    def project_memory(self, key: Tensor, value: Tensor | None = None) -> KVCache:
        """Projected keys and values of encoder states, for ``forward(..., memory=...)``.

        Args:
            key: encoder states used as keys, (B, Tk, Dk).
            value: encoder states used as values, (B, Tk, Dv); defaults to `key`.

        Returns:
            :class:`KVCache` with keys and values (B, Nkv, Tk, Dh).

        Raises:
            ValueError: if `key` or `value` is not (B, Tk, Dk) / (B, Tk, Dv).
        """
        value = key if value is None else value
        _check_3d("key", key, self.kdim, "B, Tk, Dk")
        _check_3d("value", value, self.vdim, "B, Tk, Dv")
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(f"key and value must agree in (B, Tk), got {tuple(key.shape)} and {tuple(value.shape)}")
        keys, values = self._project(key, 1), self._project(value, 2)  # (B, Tk, Nkv * Dh)
        return KVCache(self._heads(keys).contiguous(), self._heads(values).contiguous())  # (B, Nkv, Tk, Dh)

    def extra_repr(self) -> str:
        kernel = "" if self._kernel is None else f", kernel={self.kernel}, kernel_options={self.kernel_options}"
        return (
            f"d_model={self.d_model}, n_heads={self.n_heads}, num_kv_heads="
            f"{self.num_kv_heads}, dropout={self.dropout}, causal={self.causal}{kernel}"
        )

    # --- helpers -------------------------------------------------------------------------------

    def _check_call(
        self, query: Tensor, key: Tensor | None, value: Tensor | None, need_weights: bool, average_weights: bool
    ) -> None:
        _check_3d("query", query, self.d_model, "B, Tq, D")
        if key is None and value is not None:
            raise ValueError("value given without key; pass key as well (or neither, for self-attention)")
        if key is not None and key.dim() == 3 and key.shape[0] != query.shape[0]:
            raise ValueError(f"query and key must have the same batch size B, got {query.shape[0]} and {key.shape[0]}")
        if average_weights and not need_weights:
            raise ValueError("average_weights=True needs need_weights=True")

    def _self_qkv(self, query: Tensor, cache: KVCache | None, offset: int = 0) -> tuple[Tensor, KVCache]:
        """Queries (B, Nh, Tq, Dh) and the cache extended by this call's keys/values; without a
        cache the positions start at `offset`."""
        if not self.kdim == self.vdim == self.d_model:
            raise ValueError(
                f"self-attention needs kdim = vdim = d_model = {self.d_model}, got "
                f"kdim={self.kdim}, vdim={self.vdim}; pass key and value"
            )
        if self.in_proj is not None:  # one matmul for all three
            q, k, v = self.in_proj(query).split([self.d_model, self.kv_dim, self.kv_dim], dim=-1)
        else:
            q, k, v = (self._project(query, part) for part in range(3))
        q, k, v = self._heads(q), self._heads(k), self._heads(v)  # (B, Nh|Nkv, Tq, Dh)
        offset = offset if cache is None else self._check_cache("cache", cache, query.shape[0])
        if self.rotary is not None:
            q, k = self.rotary.rotate(q, offset), self.rotary.rotate(k, offset)
        if cache is not None:
            k = torch.cat([cache.keys, k], dim=-2)  # (B, Nkv, Tc + Tq, Dh)
            v = torch.cat([cache.values, v], dim=-2)
        return q, KVCache(k, v)

    def _cross_qkv(
        self, query: Tensor, key: Tensor | None, value: Tensor | None, memory: KVCache | None, cache: KVCache | None
    ) -> tuple[Tensor, KVCache]:
        """Queries (B, Nh, Tq, Dh) and the projected encoder keys/values (B, Nkv, Tk, Dh)."""
        if cache is not None:
            raise ValueError(
                "cache= extends self-attention (key=None); for cross-attention "
                "pass project_memory(key, value) as memory="
            )
        if self.rotary is not None:
            raise ValueError("rotary embeddings apply to self-attention only; got key/memory")
        if memory is None:
            if key is None:
                raise ValueError("cross-attention needs key= or its projection memory=")
            memory = self.project_memory(key, value)
        elif key is not None:
            raise ValueError("pass either key/value or their projection memory=, not both")
        else:
            self._check_cache("memory", memory, query.shape[0])
        return self._heads(self._project(query, 0)), memory

    def _project(self, x: Tensor, part: int) -> Tensor:
        """Query (part 0), key (1) or value (2) projection of `x`, (B, T, Nh|Nkv * Dh)."""
        if self.in_proj is None:
            return self._separate_projs()[part](x)
        start = 0 if part == 0 else self.d_model + (part - 1) * self.kv_dim
        stop = start + (self.d_model if part == 0 else self.kv_dim)
        bias = None if self.in_proj.bias is None else self.in_proj.bias[start:stop]
        return F.linear(x, self.in_proj.weight[start:stop], bias)

    def _separate_projs(self) -> tuple[nn.Linear, nn.Linear, nn.Linear]:
        """``q_proj``, ``k_proj``, ``v_proj`` of a layer built with ``packed=False``."""
        if self.q_proj is None or self.k_proj is None or self.v_proj is None:
            raise RuntimeError("a packed layer keeps its query/key/value projections in in_proj")
        return self.q_proj, self.k_proj, self.v_proj

    def _heads(self, x: Tensor) -> Tensor:
        return x.unflatten(-1, (-1, self.head_dim)).transpose(1, 2)  # (B, T, N*Dh) -> (B, N, T, Dh)

    def _repeat_kv(self, x: Tensor) -> Tensor:
        """(B, Nkv, Tk, Dh) -> (B, Nh, Tk, Dh): each key/value head serves Nh / Nkv query heads."""
        group = self.n_heads // self.num_kv_heads
        return x if group == 1 else x.repeat_interleave(group, dim=1)

    def _check_cache(self, name: str, cache: KVCache, batch: int) -> int:
        """Validate a cache/memory against (B, Nkv, T, Dh); return its length T."""
        keys, values = cache
        nkv, dh = self.num_kv_heads, self.head_dim
        if (
            keys.dim() != 4
            or (keys.shape[0], keys.shape[1], keys.shape[3]) != (batch, nkv, dh)
            or values.shape != keys.shape
        ):
            raise ValueError(
                f"{name} keys and values must be (B, Nkv, T, Dh) = ({batch}, {nkv}, T, {dh}), "
                f"got {tuple(keys.shape)} and {tuple(values.shape)}"
            )
        return keys.shape[-2]

    def _attention_mask(self, mask: Tensor | None, b: int, tq: int, tk: int) -> Tensor | None:
        """`mask` as a 4-D mask of the scores (B, Nh, Tq, Tk) (:func:`attnkit.functional.as_scores_mask`)."""
        if mask is not None and mask.dtype != torch.bool:
            raise TypeError(
                f"mask must be torch.bool with True = may attend, got {mask.dtype}; pass additive float scores as bias="
            )
        if mask is not None and mask.dim() == 1:
            raise ValueError(
                f"mask of shape {tuple(mask.shape)} does not fit the scores (B, Nh, Tq, Tk); pass "
                "(B, Tk) for padding, (B|1, Tq, Tk) per example, or 4-D"
            )
        return as_scores_mask(mask, (b, self.n_heads, tq, tk))


def _torch_masks(
    key_padding_mask: Tensor | None, attn_mask: Tensor | None, bias: Tensor | None, q_shape: torch.Size, tk: int
) -> tuple[Tensor | None, Tensor | None]:
    """PyTorch's masks (True = ignore; float = added) as attnkit's (mask (B|1, Nh|1, Tq, Tk), True = may
    attend; bias added to `bias`). -inf entries of a float mask become False in the mask, as attend()
    wants its bias finite where attending is allowed."""
    b, nh, tq = q_shape[0], q_shape[1], q_shape[2]
    parts: list[Tensor] = []
    if key_padding_mask is not None:
        if key_padding_mask.shape != (b, tk):
            raise ValueError(
                f"key_padding_mask must be (B, Tk) = ({b}, {tk}) with True = ignore, "
                f"got {tuple(key_padding_mask.shape)}"
            )
        parts.append(key_padding_mask[:, None, None, :])  # (B, 1, 1, Tk)
    if attn_mask is not None:
        if attn_mask.shape == (tq, tk):
            parts.append(attn_mask[None, None])  # (1, 1, Tq, Tk)
        elif attn_mask.shape == (b * nh, tq, tk):
            parts.append(attn_mask.reshape(b, nh, tq, tk))
        else:
            raise ValueError(
                f"attn_mask must be (Tq, Tk) = ({tq}, {tk}) or (B * Nh, Tq, Tk) = ({b * nh}, {tq}, {tk}) with "
                f"True = not allowed, got {tuple(attn_mask.shape)}; "
                "for a per-example (B, Tq, Tk) mask pass mask=~attn_mask (True = may attend)"
            )
    allowed: Tensor | None = None
    for part in parts:
        if part.dtype == torch.bool:
            keep = ~part
        elif part.is_floating_point():
            keep = part != float("-inf")
            added = torch.where(keep, part, 0.0)
            bias = added if bias is None else bias + added
        else:
            raise TypeError(f"key_padding_mask / attn_mask must be bool or floating point, got {part.dtype}")
        allowed = keep if allowed is None else allowed & keep
    return allowed, bias


def _checked_kernel(name: str, options: dict[str, Any], dropout: float) -> AttentionKernel | None:
    """The kernel named `name` after checking its options, or None for the dense paths."""
    kernel = ATTENTION_KERNELS.get(name)
    if "dropout_p" in options:
        raise ValueError("the kernel's dropout_p is MultiHeadAttention's dropout; pass dropout= instead")
    if name == "dense":
        if options:
            raise ValueError(f"the dense kernel takes no kernel_options, got {', '.join(options)}")
        return None
    unknown = sorted(set(options) - set(kernel.options))
    if unknown:
        raise ValueError(
            f"attention kernel {name!r} takes no option {', '.join(unknown)}; it takes: {', '.join(kernel.options)}"
        )
    missing = [option for option in kernel.required if options.get(option) is None]
    if missing:
        raise ValueError(f"attention kernel {name!r} needs kernel_options {', '.join(missing)}")
    if dropout > 0 and not kernel.dropout:
        raise ValueError(f"attention kernel {name!r} has no attention weights to drop; pass dropout=0")
    return kernel


def _padding_only(mask: Tensor | None, b: int, tk: int, name: str) -> Tensor | None:
    """A mask that is padding only ((B, Tk), or (B|1, 1.., Tk)) as (B, Tk); anything else refused."""
    if mask is None:
        return None
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be torch.bool with True = may attend, got {mask.dtype}")
    if mask.dim() >= 2 and mask.shape[0] in (1, b) and mask.shape[-1] == tk and all(n == 1 for n in mask.shape[1:-1]):
        return mask.reshape(mask.shape[0], tk).expand(b, tk)
    raise ValueError(
        f"attention kernel {name!r} takes only a (B, Tk) padding mask, got {tuple(mask.shape)}; "
        "use kernel='dense' for other masks"
    )


def _check_sizes(d_model: int, n_heads: int, num_kv_heads: int, dropout: float) -> None:
    if n_heads <= 0 or d_model % n_heads:
        raise ValueError(f"d_model must be divisible by n_heads, got d_model={d_model}, n_heads={n_heads}")
    if num_kv_heads <= 0 or n_heads % num_kv_heads:
        raise ValueError(
            f"n_heads must be divisible by num_kv_heads, got n_heads={n_heads}, num_kv_heads={num_kv_heads}"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout}")


def _check_3d(name: str, x: Tensor, width: int, letters: str) -> None:
    if x.dim() != 3 or x.shape[-1] != width:
        raise ValueError(f"{name} must be ({letters}) with last dim {width}, got {tuple(x.shape)}")
