"""Output projection and cross-entropy in one pass over chunks of tokens, without materialising
the (tokens x vocabulary) logits.

With a vocabulary of 8,000 and batches of 2,000 target tokens, the logits are 16 M floats: the
projection, the float32 copy, ``log_softmax``, its gradient and the gradient's cast each sweep
64 MB of memory, which costs more than the matrix products on a CPU. Here each chunk of tokens is
projected in one product, then normalised and differentiated in slices of rows that stay in a
core's cache (one pass per operation over 1 MiB, the gradient written over the logits in the
products' dtype), and the gradients of the hidden states and of the projection are computed by
two more products per chunk during the forward pass (the loss is a sum,
so the backward pass only scales them), as in Liger Kernel's fused linear cross-entropy.

References:
    [Szegedy16] C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens, Z. Wojna. Rethinking the Inception
    Architecture for Computer Vision. CVPR 2016. arXiv:1512.00567. Sec. 7 (label smoothing).
    [Hsu24] P.-L. Hsu et al. Liger Kernel: Efficient Triton Kernels for LLM Training. 2024.
    arXiv:2410.10989 (fused linear cross-entropy).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["linear_cross_entropy"]


def linear_cross_entropy(
    hidden: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    target: Tensor,
    *,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    chunk: int | None = None,
) -> Tensor:
    """Summed cross-entropy of ``hidden @ weight.T + bias`` against `target`.

    Equal to ``F.cross_entropy(F.linear(hidden, weight, bias).float(), target,
    ignore_index=ignore_index, label_smoothing=label_smoothing, reduction="sum")``, in value and
    in gradient, without building the full logits. The products run in the dtype of `hidden`
    (bfloat16 under autocast, as ``F.linear`` would); softmax and loss in float32.

    Args:
        hidden: features before the output layer, (N, D).
        weight: output projection, (V, D).
        bias: (V,) or None.
        target: class ids, (N,); `ignore_index` marks positions that do not count.
        ignore_index: target id to skip (padding).
        label_smoothing: epsilon in [0, 1): the target is (1 - eps) one-hot + eps / V uniform
            [Szegedy16].
        chunk: tokens per chunk; default 2**23 // V (at least 64), so that a chunk's float32
            logits stay under 32 MiB, glibc's largest non-mmap block (see
            :func:`attnkit.machine.tune_allocator`).

    Returns:
        Scalar loss, the sum over counted tokens: float64 for float64 inputs, else float32.

    Raises:
        ValueError: for shapes that do not match or `label_smoothing` outside [0, 1).
    """
    if hidden.dim() != 2 or weight.dim() != 2 or hidden.shape[1] != weight.shape[1] or target.shape != hidden.shape[:1]:
        raise ValueError(
            f"need hidden (N, D), weight (V, D) and target (N,), got {tuple(hidden.shape)}, "
            f"{tuple(weight.shape)} and {tuple(target.shape)}"
        )
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    if torch.is_autocast_enabled(hidden.device.type):
        hidden = hidden.to(torch.get_autocast_dtype(hidden.device.type))
    chunk = chunk or max(64, 2**23 // weight.shape[0])
    return _LinearCrossEntropy.apply(hidden, weight, bias, target, ignore_index, label_smoothing, chunk)


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias, target, ignore_index, eps, chunk):
        with torch.autocast(hidden.device.type, enabled=False):
            dtype = hidden.dtype
            acc = torch.float64 if dtype == torch.float64 else torch.float32  # softmax and loss
            w = weight.to(dtype)
            b = None if bias is None else bias.to(acc)
            vocab = weight.shape[0]
            need = ctx.needs_input_grad
            grad_h = torch.zeros_like(hidden) if need[0] else None
            grad_w = torch.zeros(weight.shape, dtype=acc, device=weight.device) if need[1] else None
            grad_b = torch.zeros(vocab, dtype=acc, device=weight.device) if need[2] else None
            total = hidden.new_zeros((), dtype=acc)
            rows = max(1, _CACHE_BYTES // (vocab * torch.finfo(acc).bits // 8))  # a slice of logits in cache
            for start in range(0, hidden.shape[0], chunk):
                h, y = hidden[start : start + chunk], target[start : start + chunk]
                real = y != ignore_index
                if not bool(real.all()):
                    h, y = h[real], y[real]
                    if y.numel() == 0:
                        continue
                logits = h @ w.T  # (n, V) in the products' dtype; softmax and loss per slice in `acc`
                for i in range(0, y.numel(), rows):
                    total += _softmax_slice(logits[i : i + rows], y[i : i + rows], b, eps, acc, grad_b)
                if grad_h is None and grad_w is None and grad_b is None:
                    continue
                g = logits  # p - target, written over the logits slice by slice
                if grad_h is not None:
                    if real.all():
                        grad_h[start : start + chunk] = g @ w
                    else:
                        grad_h[start : start + chunk][real] = g @ w
                if grad_w is not None:
                    if dtype == acc:
                        grad_w.addmm_(g.T, h)
                    else:
                        grad_w += (g.T @ h).to(acc)
        ctx.save_for_backward(grad_h, grad_w, grad_b)
        ctx.dtypes = (weight.dtype, None if bias is None else bias.dtype)
        return total

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w, grad_b = ctx.saved_tensors
        wdt, bdt = ctx.dtypes
        return (
            None if grad_h is None else grad_h * grad_out.to(grad_h.dtype),
            None if grad_w is None else (grad_w * grad_out).to(wdt),
            None if grad_b is None else (grad_b * grad_out).to(bdt),
            None,
            None,
            None,
            None,
        )


_CACHE_BYTES = 2**20  # softmax slices of 1 MiB stay in a core's L2 cache (2 MiB here)


def _softmax_slice(
    logits: Tensor, y: Tensor, bias: Tensor | None, eps: float, acc: torch.dtype, grad_b: Tensor | None
) -> Tensor:
    """The summed loss of one slice of logits (n, V), whose rows are overwritten in place by the
    gradient of that loss, softmax - target (in the logits' dtype); `grad_b` gets its column sums.

    One pass per operation over a slice that stays in cache: max, exp in place, sum, divide,
    instead of sweeping the whole chunk's logits with ``logsumexp``'s temporaries."""
    x = logits.to(acc)  # the slice itself (the same tensor) when the products already run in `acc`
    if bias is not None:
        x = x.add_(bias) if x is not logits else x + bias
    vocab = x.shape[1]
    peak = x.amax(dim=-1, keepdim=True)  # (n, 1)
    picked = x.gather(1, y[:, None]).squeeze(1)
    mean = x.mean(dim=-1) if eps else None  # -sum_j (eps / V) log p_j = eps * (lse - mean)
    denom = x.sub_(peak).exp_().sum(dim=-1, keepdim=True)
    lse = (peak + denom.log()).squeeze(1)
    loss = (1 - eps) * (lse - picked)
    if mean is not None:
        loss = loss + eps * (lse - mean)
    g = x.div_(denom)  # softmax
    if eps:
        g -= eps / vocab
    g.scatter_add_(1, y[:, None], g.new_full((y.numel(), 1), -(1 - eps)))  # p - target
    if grad_b is not None:
        grad_b += g.sum(0)
    if g is not logits:
        logits.copy_(g)
    return loss.sum()
