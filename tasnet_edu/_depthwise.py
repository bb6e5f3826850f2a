"""The TCN's dilated depthwise convolution as a fast CPU kernel (a speed trick, not part of the paper).

``tasnet_edu.tcn.Conv1DBlock`` calls ``depthwise_conv`` where the paper has a grouped, dilated ``nn.Conv1d``:
the same numbers and gradients (tested), several times faster on CPU. On other devices (a CUDA GPU)
``depthwise_conv`` calls ``F.conv1d`` on padded input instead: cuDNN has grouped-convolution kernels, while
the shifted sum would launch about 2·P small kernels per layer and direction (``SHIFTED_SUM_DEVICES``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Device types where ``depthwise_conv`` uses the shifted sum; elsewhere ``F.conv1d``.
#: ``scripts/gpu_check.py`` times both on a GPU: add ``"cuda"`` only if it measures the shifted sum faster.
SHIFTED_SUM_DEVICES = {"cpu"}


def _shifted_sum(x: torch.Tensor, w: torch.Tensor, shifts: list[int], bias: torch.Tensor) -> torch.Tensor:
    """``y[..., t] = bias + Σ_p w[:, p] · x[..., t + shifts[p]]`` with zeros outside ``x``; one shift is 0."""
    frames = x.shape[-1]
    zero = shifts.index(0)
    y = torch.addcmul(bias[:, None], x, w[:, zero, None])
    for p, shift in enumerate(shifts):
        if p == zero or abs(shift) >= frames:
            continue
        if shift > 0:
            y[..., : frames - shift].addcmul_(x[..., shift:], w[:, p, None])
        else:
            y[..., -shift:].addcmul_(x[..., : frames + shift], w[:, p, None])
    return y


class _DepthwiseConv(torch.autograd.Function):
    """The shifted sum with a hand-written backward: autograd through the in-place slice updates would
    record a copy and a product per tap; here the input gradient is the same shifted sum with the shifts
    negated, and the weight gradient one product-and-sum per tap."""

    @staticmethod
    def forward(ctx, x, weight, bias, shifts):
        ctx.save_for_backward(x, weight)
        ctx.shifts = shifts
        return _shifted_sum(x, weight[:, 0, :], shifts, bias)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        frames = x.shape[-1]
        no_bias = torch.zeros_like(weight[:, 0, 0])
        grad_x = _shifted_sum(grad, weight[:, 0, :], [-s for s in ctx.shifts], no_bias)
        grad_w = torch.zeros_like(weight)
        for p, s in enumerate(ctx.shifts):
            if abs(s) < frames:  # out[t] used x[t + s] for the frames t where both exist
                out_part = grad[..., max(0, -s) : frames - max(0, s)]
                x_part = x[..., max(0, s) : frames - max(0, -s)]
                grad_w[:, 0, p] = (out_part * x_part).sum(dim=(0, 2))
        # Under autocast x may be bf16 while the weights are float32: each gradient takes its input's dtype.
        return grad_x.to(x.dtype), grad_w, grad.sum(dim=(0, 2)).to(weight.dtype), None


def depthwise_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, dilation: int, causal: bool):
    """Dilated depthwise convolution as P shifted, per-channel-scaled copies of ``x`` added together.

    Same result and gradients as ``F.conv1d(x, weight, bias, dilation=dilation, groups=channels)`` on
    zero-padded input (tested), but several times faster on CPU, where PyTorch's grouped convolution is
    poorly optimised (forward and, even more, backward), and with no padded copy of ``x``. Non-causal: the
    taps are centred on the output frame (for even P the extra tap looks ahead). Causal: the last tap is the
    current frame, all others look back — the "left padding only" of a causal TCN.

    Shapes: ``x (batch, H, frames)``, ``weight (H, 1, P)``, ``bias (H,)`` → ``(batch, H, frames)``.
    """
    P = weight.shape[-1]
    centre = P - 1 if causal else (P - 1) // 2
    if x.device.type not in SHIFTED_SUM_DEVICES:
        return padded_conv1d(x, weight, bias, dilation, centre)
    shifts = [(p - centre) * dilation for p in range(P)]  # output frame t reads input frame t + shift
    return _DepthwiseConv.apply(x, weight, bias, shifts)


def padded_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, dilation: int,
                  centre: int) -> torch.Tensor:
    """The same convolution by ``F.conv1d`` (cuDNN on a GPU): tap ``centre`` sits on the output frame, so
    ``centre · d`` zeros go on the left and ``(P − 1 − centre) · d`` on the right.

    Shapes: ``x (batch, H, frames)``, ``weight (H, 1, P)``, ``bias (H,)`` → ``(batch, H, frames)``.
    """
    left, right = centre * dilation, (weight.shape[-1] - 1 - centre) * dilation
    if left == right:  # no padded copy of x: conv1d pads both sides itself
        return F.conv1d(x, weight, bias, padding=left, dilation=dilation, groups=weight.shape[0])
    return F.conv1d(F.pad(x, (left, right)), weight, bias, dilation=dilation, groups=weight.shape[0])
