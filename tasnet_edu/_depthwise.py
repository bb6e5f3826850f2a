"""The TCN's dilated depthwise convolution as fast CPU kernels (speed tricks, not part of the paper).

``tasnet_edu.tcn.DepthwiseConv`` calls ``depthwise_conv`` where the paper has a grouped, dilated
``nn.Conv1d``: the same numbers and gradients (tested), several times faster on CPU. On other devices (a CUDA
GPU) ``depthwise_conv`` calls ``F.conv1d`` on padded input instead: cuDNN has grouped-convolution kernels,
while the shifted sum would launch about 2·P small kernels per layer and direction (``SHIFTED_SUM_DEVICES``).
Its ``stream()`` is ``DepthwiseStream``: the causal convolution over a stream, a few frames at a time.
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


class DepthwiseStream:
    """A causal depthwise convolution over a stream: the last (P−1)·d input frames are kept.

    Output frame t reads input frames t − (P−1)·d, …, t − d, t (tap p at t − (P−1−p)·d). With the history
    in front of the chunk, tap p of the chunk's n outputs is one slice of n frames, starting p·d frames in.
    The history starts as zeros, the causal convolution's left padding. (PyTorch's grouped ``conv1d`` gives
    the same numbers but costs ~0.1 ms a call on CPU whatever n is: too slow for chunks of one frame.)

    New frames are written after the history in a buffer with room for more; when it is full, the history
    moves back to the front. Copying the whole history for every chunk instead would cost (P−1)·d frames
    per chunk, most of the work for chunks of one frame; this way the copies come to less than n frames
    per chunk of n.

    Args: ``weight (H, 1, P)``, ``bias (H,)`` (read in place, not copied) and the dilation d.

    Shapes: ``(H, n) → (H, n)``.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, dilation: int):
        self.taps = list(weight[:, 0, :, None].unbind(1))  # P × (H, 1)
        self.bias, self.dilation = bias[:, None], dilation
        self.keep = (len(self.taps) - 1) * dilation
        self.buffer = weight.new_zeros(weight.shape[0], 2 * self.keep)
        self.end = self.keep  # frames end − keep … end − 1 of the buffer are the history

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        n = y.shape[-1]
        if self.end + n > self.buffer.shape[-1]:
            self._make_room(n)
        self.buffer[:, self.end:self.end + n] = y
        self.end += n
        frames = self.buffer[:, self.end - n - self.keep:self.end]  # (H, (P−1)·d + n)
        out = self.bias
        for p, tap in enumerate(self.taps):
            out = torch.addcmul(out, frames[:, p * self.dilation:p * self.dilation + n], tap)
        return out

    def _make_room(self, n: int) -> None:
        """Move the history to the front of a new buffer with room for at least ``keep + 2n`` new frames."""
        buffer = self.buffer.new_empty(self.buffer.shape[0], max(self.buffer.shape[-1], 2 * (self.keep + n)))
        buffer[:, :self.keep] = self.buffer[:, self.end - self.keep:self.end]
        self.buffer, self.end = buffer, self.keep
