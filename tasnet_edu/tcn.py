"""The temporal convolutional network (TCN) that estimates Conv-TasNet's masks (Luo & Mesgarani 2019).

A TCN is R repeats of X one-dimensional convolutional blocks whose depthwise convolutions are dilated by
1, 2, 4, …, 2^(X−1). Dilation doubles the reach of each block at no extra cost, so the receptive field grows
exponentially with X and linearly with R (``receptive_field``). Each block is depthwise-separable: a 1×1
convolution mixes channels, a depthwise convolution of kernel P looks along time, one channel at a time.

Normalisation matters for what the network can see:

* ``GlobalLayerNorm`` (gLN) normalises over all channels *and all frames* of an utterance — non-causal;
* ``CumulativeLayerNorm`` (cLN) uses only the frames up to the current one — causal, for real-time use;
* batch norm (``"BN"``) uses statistics of the training batch, fixed at inference.

Tensors are ``(batch, channels, frames)`` throughout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tasnet_edu._depthwise import depthwise_conv
from tasnet_edu.errors import CourseError

NORMS = ("gLN", "cLN", "BN")


def receptive_field(P: int, X: int, R: int) -> int:
    """Receptive field of a TCN in frames: ``1 + R·(P−1)·(2^X − 1)``.

    Each block with dilation d widens what one output frame sees by ``(P−1)·d`` frames; the dilations of one
    repeat sum to ``2^X − 1``, and the R repeats add up.

    >>> receptive_field(3, 8, 3)   # the paper's configuration: 1531 frames of 8 samples (1.53 s at 8 kHz)
    1531
    """
    for name, value, low in (("P", P, 1), ("X", X, 1), ("R", R, 1)):
        if int(value) != value or value < low:
            raise CourseError(f"receptive_field: {name} must be an integer ≥ {low}, got {value!r}")
    return 1 + R * (P - 1) * (2**X - 1)


class _LayerNorm(nn.Module):
    """A layer norm's per-channel gain γ (``weight``, starts at 1) and bias β (starts at 0)."""

    def __init__(self, channels: int, eps: float = 1e-8):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))


class GlobalLayerNorm(_LayerNorm):
    """Global layer norm (gLN): one mean and variance per utterance, over channels and time.

    ``gLN(F) = (F − E[F]) / sqrt(Var[F] + eps) ⊙ γ + β`` with E and Var taken over all ``channels × frames``
    of one example and γ, β per channel. That is exactly ``group_norm`` with a single group, which PyTorch
    computes in one fused pass (faster than the mean/var formula, and the same numbers — tested).

    Shapes: ``(batch, channels, frames) → (batch, channels, frames)``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, 1, self.weight, self.bias, self.eps)


class CumulativeLayerNorm(_LayerNorm):
    """Cumulative layer norm (cLN): frame k is normalised with statistics of frames 0…k only.

    Mean and variance at frame k are taken over all channels and all frames up to k, so a frame never sees
    the future and the normalisation stays causal. Running sums (``cumsum``) give all k in one pass; they are
    accumulated in float64 (they are only ``(batch, 1, frames)``) so that E[x²] − E[x]² does not lose
    precision over long inputs. γ, β are per channel.

    Shapes: ``(batch, channels, frames) → (batch, channels, frames)``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels, frames = x.shape[-2], x.shape[-1]
        acc = torch.float32 if x.device.type == "mps" else torch.float64  # MPS has no float64
        xf = x.float()
        total = xf.sum(1, keepdim=True, dtype=acc).cumsum(-1)
        total_sq = xf.square().sum(1, keepdim=True, dtype=acc).cumsum(-1)
        count = channels * torch.arange(1, frames + 1, device=x.device, dtype=acc)
        mean = total / count
        var = (total_sq / count - mean.square()).clamp_min(0)
        inv_std = torch.rsqrt(var + self.eps).float()
        y = (xf - mean.float()) * inv_std
        return (y * self.weight[:, None] + self.bias[:, None]).to(x.dtype)


def make_norm(norm: str, channels: int) -> nn.Module:
    """``"gLN"`` → ``GlobalLayerNorm``, ``"cLN"`` → ``CumulativeLayerNorm``, ``"BN"`` → ``nn.BatchNorm1d``."""
    if norm == "gLN":
        return GlobalLayerNorm(channels)
    if norm == "cLN":
        return CumulativeLayerNorm(channels)
    if norm == "BN":
        return nn.BatchNorm1d(channels)
    raise CourseError(f"norm must be one of {NORMS}, got {norm!r}")


class Conv1DBlock(nn.Module):
    """The paper's 1-D convolutional block: depthwise-separable, dilated, with residual and skip outputs.

    ``1×1 conv B→H → PReLU → norm → depthwise conv (kernel P, dilation d) → PReLU → norm``, then a residual
    1×1 conv H→B (added to the input) and a skip 1×1 conv H→Sc (summed over all blocks by ``TCN``).

    Args:
        B: bottleneck channels (the block's input and residual output).
        H: hidden channels inside the block.
        Sc: skip-connection channels.
        P: kernel size of the depthwise convolution.
        dilation: its dilation d (1, 2, 4, … within a repeat).
        norm: ``"gLN"``, ``"cLN"`` or ``"BN"``.
        causal: look only at past and present frames (needs ``norm="cLN"`` or ``"BN"``).
        residual: build the residual conv. The TCN's last block has none: its residual output would feed
            nothing, so it would be parameters that never receive a gradient.

    Shapes: ``(batch, B, frames) → (residual (batch, B, frames) or None, skip (batch, Sc, frames))``.
    """

    def __init__(
        self,
        B: int,
        H: int,
        Sc: int,
        P: int,
        dilation: int,
        norm: str = "gLN",
        causal: bool = False,
        residual: bool = True,
    ):
        super().__init__()
        if causal and norm == "gLN":
            raise CourseError("a causal block cannot use gLN (it averages over the future); use norm='cLN'")
        self.dilation, self.causal = dilation, causal
        self.conv_in = nn.Conv1d(B, H, 1)
        self.prelu1 = nn.PReLU()
        self.norm1 = make_norm(norm, H)
        self.dconv = nn.Conv1d(H, H, P, dilation=dilation, groups=H)
        self.prelu2 = nn.PReLU()
        self.norm2 = make_norm(norm, H)
        self.res = nn.Conv1d(H, B, 1) if residual else None
        self.skip = nn.Conv1d(H, Sc, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        y = self.norm1(self.prelu1(self.conv_in(x)))
        # = F.conv1d(y, self.dconv.weight, self.dconv.bias, dilation=d, groups=H) on zero-padded y (left
        # padding only when causal), computed by a faster CPU kernel (tasnet_edu._depthwise; tested equal).
        y = depthwise_conv(y, self.dconv.weight, self.dconv.bias, self.dilation, self.causal)
        y = self.norm2(self.prelu2(y))
        if self.res is None:
            return None, self.skip(y)
        # The residual and skip 1×1 convs read the same y: one matrix product with B + Sc output channels
        # uses the CPU better than two (weights stay two modules, so the parameters read as in the paper).
        weight = torch.cat([self.res.weight, self.skip.weight])
        out = F.conv1d(y, weight, torch.cat([self.res.bias, self.skip.bias]))
        B = self.res.out_channels
        return x + out[:, :B], out[:, B:]


class TCN(nn.Module):
    """R repeats of X ``Conv1DBlock``s with dilations 1, 2, …, 2^(X−1); returns the sum of the skip outputs.

    Args:
        B, H, Sc, P: as in ``Conv1DBlock``.
        X: blocks per repeat (dilation doubles from block to block).
        R: number of repeats.
        norm, causal: as in ``Conv1DBlock``.

    The last block has no residual conv (see ``Conv1DBlock``). ``receptive_field`` is in frames.

    Shapes: ``(batch, B, frames) → (batch, Sc, frames)``.
    """

    def __init__(
        self,
        B: int = 128,
        H: int = 512,
        Sc: int = 128,
        P: int = 3,
        X: int = 8,
        R: int = 3,
        norm: str = "gLN",
        causal: bool = False,
    ):
        super().__init__()
        self.receptive_field = receptive_field(P, X, R)
        n = X * R
        self.blocks = nn.ModuleList(
            Conv1DBlock(B, H, Sc, P, 2 ** (i % X), norm, causal, residual=i < n - 1) for i in range(n)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip_sum = None
        for block in self.blocks:
            x, skip = block(x)
            skip_sum = skip if skip_sum is None else skip_sum + skip
        return skip_sum
