"""The temporal convolutional network (TCN) that estimates Conv-TasNet's masks (Luo & Mesgarani 2019).

A TCN is R repeats of X one-dimensional convolutional blocks whose depthwise convolutions are dilated by
1, 2, 4, …, 2^(X−1). Dilation doubles the reach of each block at no extra cost, so the receptive field grows
exponentially with X and linearly with R (``receptive_field``). Each block is depthwise-separable: a 1×1
convolution mixes channels, a depthwise convolution of kernel P looks along time, one channel at a time.

Normalisation matters for what the network can see:

* ``GlobalLayerNorm`` (gLN) normalises over all channels *and all frames* of an utterance — non-causal;
* ``CumulativeLayerNorm`` (cLN) uses only the frames up to the current one — causal, for real-time use;
* batch norm (``"BN"``) uses statistics of the training batch, fixed at inference.

Tensors are ``(batch, channels, frames)`` throughout ``forward``. Each layer also owns its other two faces:

* ``stream()``: a small object that runs the layer on a stream, one example's next n frames
  ``(channels, n)`` per call, keeping what the following frames need from the past (a cLN's running sums, a
  depthwise convolution's last input frames). ``tasnet_edu.streaming`` runs a causal model this way;
* ``describe()``: the layer's weights as a typed record (``NormSpec``, ``ConvSpec``, ``BlockSpec``), which
  the ONNX writer (``tasnet_edu.compiled``) and the block diagram (``tasnet_edu.viz``) read, so no other
  module depends on the names of the submodules.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from tasnet_edu._depthwise import DepthwiseStream, depthwise_conv
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


@dataclass(frozen=True)
class NormSpec:
    """A norm as it computes at inference: ``gain ⊙ (x − μ) / sqrt(σ² + eps) + bias``, per channel.

    ``kind`` says where μ and σ² come from: ``"gLN"`` all channels and frames of the utterance, ``"cLN"``
    all channels of frames 0…k for frame k. ``"BN"`` has none left at inference: its running statistics
    are folded into ``gain`` and ``bias`` (float64), so it is the affine alone.

    Shapes: ``gain`` (γ) and ``bias`` (β) ``(channels,)``.
    """

    kind: str
    gain: torch.Tensor
    bias: torch.Tensor
    eps: float


@dataclass(frozen=True)
class ConvSpec:
    """A convolution's weights: ``weight (out, in / groups, kernel)`` and ``bias (out,)``; its taps are
    ``dilation`` frames apart; ``causal``: zero padding on the left only (else centred, as ``forward``).

    ``ConvSpec.of(conv)`` reads an ``nn.Conv1d`` (a 1×1 conv has kernel 1 and needs no padding).
    """

    weight: torch.Tensor
    bias: torch.Tensor
    dilation: int = 1
    causal: bool = False

    @classmethod
    def of(cls, conv: nn.Conv1d, causal: bool = False) -> ConvSpec:
        return cls(conv.weight.detach(), conv.bias.detach(), conv.dilation[0], causal)


def pointwise_stream(conv: nn.Conv1d):
    """A 1×1 ``Conv1d`` on a stream: ``(in, n) → (out, n)`` as one ``addmm`` on the n frames (the same
    numbers as the conv, without ``conv1d``'s fixed CPU cost per call, most of the work for one frame)."""
    return partial(torch.addmm, conv.bias.detach()[:, None], conv.weight.detach()[:, :, 0])


def _accumulator(device: torch.device) -> torch.dtype:
    """cLN's sums are float64, except on Apple's MPS, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


class _LayerNorm(nn.Module):
    """A layer norm's per-channel gain γ (``weight``, starts at 1) and bias β (starts at 0)."""

    kind = ""  # "gLN" or "cLN", as ``make_norm`` names it

    def __init__(self, channels: int, eps: float = 1e-8):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def describe(self) -> NormSpec:
        """``NormSpec`` of this norm: its kind, γ, β (detached views of the parameters) and eps."""
        return NormSpec(self.kind, self.weight.detach(), self.bias.detach(), self.eps)


class GlobalLayerNorm(_LayerNorm):
    """Global layer norm (gLN): one mean and variance per utterance, over channels and time.

    ``gLN(F) = (F − E[F]) / sqrt(Var[F] + eps) ⊙ γ + β`` with E and Var taken over all ``channels × frames``
    of one example and γ, β per channel. That is exactly ``group_norm`` with a single group, which PyTorch
    computes in one fused pass (faster than the mean/var formula, and the same numbers — tested).

    Shapes: ``(batch, channels, frames) → (batch, channels, frames)``.
    """

    kind = "gLN"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, 1, self.weight, self.bias, self.eps)

    def stream(self):
        """gLN cannot stream: ``CourseError``."""
        raise CourseError("gLN cannot stream: it normalises every frame with statistics of the whole "
                          "utterance, future included; use norm='cLN'")


class CumulativeLayerNorm(_LayerNorm):
    """Cumulative layer norm (cLN): frame k is normalised with statistics of frames 0…k only.

    Mean and variance at frame k are taken over all channels and all frames up to k, so a frame never sees
    the future and the normalisation stays causal. Running sums (``cumsum``) give all k in one pass; they are
    accumulated in float64 (they are only ``(batch, 1, frames)``) so that E[x²] − E[x]² does not lose
    precision over long inputs. γ, β are per channel.

    Shapes: ``(batch, channels, frames) → (batch, channels, frames)``.
    """

    kind = "cLN"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels, frames = x.shape[-2], x.shape[-1]
        acc = _accumulator(x.device)
        xf = x.float()
        total = xf.sum(1, keepdim=True, dtype=acc).cumsum(-1)
        total_sq = xf.square().sum(1, keepdim=True, dtype=acc).cumsum(-1)
        count = channels * torch.arange(1, frames + 1, device=x.device, dtype=acc)
        mean = total / count
        var = (total_sq / count - mean.square()).clamp_min(0)
        inv_std = torch.rsqrt(var + self.eps).float()
        y = (xf - mean.float()) * inv_std
        return (y * self.weight[:, None] + self.bias[:, None]).to(x.dtype)

    def stream(self) -> _CumulativeStream:
        """This norm over a stream: ``(channels, n) → (channels, n)`` per call, the sums carried over."""
        return _CumulativeStream(self)


class _CumulativeStream:
    """``CumulativeLayerNorm`` over a stream: its two sums over channels and frames so far, and the count
    of frames, carried from one call to the next: all that frame k's statistics need of the past.

    Shapes: ``(channels, n) → (channels, n)`` for the next n frames.
    """

    def __init__(self, norm: CumulativeLayerNorm):
        device, self.eps = norm.weight.device, norm.eps
        self.weight, self.bias = norm.weight.detach()[:, None], norm.bias.detach()[:, None]  # γ, β: (C, 1)
        self.acc = _accumulator(device)
        self.total = torch.zeros((), dtype=self.acc, device=device)     # Σ over channels and frames so far
        self.total_sq = torch.zeros((), dtype=self.acc, device=device)  # Σ of squares, likewise
        self.frames = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        channels, n = x.shape
        total = x.sum(0, dtype=self.acc).cumsum(0) + self.total
        total_sq = x.square().sum(0, dtype=self.acc).cumsum(0) + self.total_sq
        count = channels * torch.arange(self.frames + 1, self.frames + n + 1, device=x.device, dtype=self.acc)
        self.total, self.total_sq, self.frames = total[-1], total_sq[-1], self.frames + n
        mean = total / count
        inv_std = torch.rsqrt((total_sq / count - mean.square()).clamp_min(0) + self.eps)
        y = (x - mean.to(x.dtype)) * inv_std.to(x.dtype)
        return torch.addcmul(self.bias, y, self.weight)


class BatchNorm(nn.BatchNorm1d):
    """Batch norm (``"BN"``): ``nn.BatchNorm1d``, with the ``describe`` of the other norms.

    Shapes: ``(batch, channels, frames) → (batch, channels, frames)``.
    """

    kind = "BN"

    def describe(self) -> NormSpec:
        """``NormSpec`` at inference: the running statistics folded into γ and β (float64)."""
        gain = self.weight.detach().double() / torch.sqrt(self.running_var.double() + self.eps)
        bias = self.bias.detach().double() - self.running_mean.double() * gain
        return NormSpec(self.kind, gain, bias, self.eps)

    def stream(self):
        """Not streamed here: ``CourseError``."""
        raise CourseError("BN is not streamed here (only cLN's running statistics are); use norm='cLN'")


def make_norm(norm: str, channels: int) -> nn.Module:
    """``"gLN"`` → ``GlobalLayerNorm``, ``"cLN"`` → ``CumulativeLayerNorm``, ``"BN"`` → ``BatchNorm``."""
    if norm == "gLN":
        return GlobalLayerNorm(channels)
    if norm == "cLN":
        return CumulativeLayerNorm(channels)
    if norm == "BN":
        return BatchNorm(channels)
    raise CourseError(f"norm must be one of {NORMS}, got {norm!r}")


class DepthwiseConv(nn.Conv1d):
    """The block's dilated depthwise convolution: each of the H channels convolved with its own kernel of P
    taps, d frames apart, on zero-padded input — centred, or on the left only when ``causal``.

    It is ``nn.Conv1d(H, H, P, dilation=d, groups=H)`` (the same weights ``(H, 1, P)`` and bias) padded
    as said. ``forward`` computes it with ``depthwise_conv``: the same numbers and gradients as
    ``F.conv1d`` on the padded input (tested), several times faster on CPU (``tasnet_edu._depthwise``).

    Shapes: ``(batch, H, frames) → (batch, H, frames)``.
    """

    def __init__(self, channels: int, P: int, dilation: int, causal: bool):
        super().__init__(channels, channels, P, dilation=dilation, groups=channels)
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return depthwise_conv(x, self.weight, self.bias, self.dilation[0], self.causal)

    def stream(self) -> DepthwiseStream:
        """This convolution over a stream, ``(H, n) → (H, n)``; only a causal one can stream."""
        if not self.causal:
            ahead = (self.kernel_size[0] - 1 - (self.kernel_size[0] - 1) // 2) * self.dilation[0]
            raise CourseError(f"a centred depthwise convolution looks {ahead} frames ahead: it cannot "
                              "stream; build the model with causal=True")
        return DepthwiseStream(self.weight.detach(), self.bias.detach(), self.dilation[0])

    def describe(self) -> ConvSpec:
        """``ConvSpec`` of this convolution: weight ``(H, 1, P)``, bias, dilation and causality."""
        return ConvSpec.of(self, self.causal)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, causal={self.causal}"


@dataclass(frozen=True)
class BlockSpec:
    """A ``Conv1DBlock``'s weights in the order they compute: ``pointwise`` (1×1 conv B → H), PReLU
    (``pointwise_slope``), ``pointwise_norm``; ``depthwise`` (kernel P, dilation d, causal or centred),
    PReLU, ``depthwise_norm``; then ``residual_conv`` (1×1, H → B, added to the input; ``None`` in the TCN's
    last block) and ``skip_conv`` (1×1, H → Sc). PReLU slopes are ``(1,)`` tensors.
    """

    pointwise: ConvSpec
    pointwise_slope: torch.Tensor
    pointwise_norm: NormSpec
    depthwise: ConvSpec
    depthwise_slope: torch.Tensor
    depthwise_norm: NormSpec
    residual_conv: ConvSpec | None
    skip_conv: ConvSpec

    @property
    def sizes(self) -> dict[str, int]:
        """The paper's symbols of this block: ``{"B": …, "H": …, "Sc": …, "P": …}``."""
        H, B = self.pointwise.weight.shape[:2]
        return dict(B=B, H=H, Sc=self.skip_conv.weight.shape[0], P=self.depthwise.weight.shape[-1])


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
        self.dconv = DepthwiseConv(H, P, dilation, causal)
        self.prelu2 = nn.PReLU()
        self.norm2 = make_norm(norm, H)
        self.res = nn.Conv1d(H, B, 1) if residual else None
        self.skip = nn.Conv1d(H, Sc, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        y = self.norm1(self.prelu1(self.conv_in(x)))                 # 1×1 conv B → H: (batch, H, frames)
        y = self.norm2(self.prelu2(self.dconv(y)))                   # depthwise, dilation d: same shape
        residual, skip = _residual_and_skip(y, self.res, self.skip)  # 1×1 convs H → B and H → Sc
        return (None if residual is None else x + residual), skip

    def stream(self) -> _BlockStream:
        """This block over a stream (causal, cLN): ``(B, n) → (residual (B, n) or None, skip (Sc, n))``."""
        return _BlockStream(self)

    def describe(self) -> BlockSpec:
        """``BlockSpec`` of this block: its layers' weights (detached views), in the order they compute."""
        return BlockSpec(
            ConvSpec.of(self.conv_in), self.prelu1.weight.detach(), self.norm1.describe(),
            self.dconv.describe(), self.prelu2.weight.detach(), self.norm2.describe(),
            None if self.res is None else ConvSpec.of(self.res), ConvSpec.of(self.skip),
        )


def _residual_and_skip(y: torch.Tensor, res: nn.Conv1d | None, skip: nn.Conv1d):
    """``(res(y) or None, skip(y))``. Both 1×1 convs read the same y: one matrix product with B + Sc output
    channels uses the CPU better than two (the weights stay two modules, so the parameters read as in the
    paper).

    Shapes: ``(batch, H, frames) → ((batch, B, frames) or None, (batch, Sc, frames))``.
    """
    if res is None:
        return None, skip(y)
    out = F.conv1d(y, torch.cat([res.weight, skip.weight]), torch.cat([res.bias, skip.bias]))
    return out[:, :res.out_channels], out[:, res.out_channels:]


class _BlockStream:
    """A ``Conv1DBlock`` over a stream: its two cLNs and its depthwise convolution keep their past.

    Shapes: ``(B, n) → (residual (B, n) or None, skip (Sc, n))``.
    """

    def __init__(self, block: Conv1DBlock):
        self.prelu1, self.prelu2 = block.prelu1, block.prelu2
        self.conv_in, self.skip = pointwise_stream(block.conv_in), pointwise_stream(block.skip)
        self.res = None if block.res is None else pointwise_stream(block.res)
        self.norm1, self.norm2 = block.norm1.stream(), block.norm2.stream()
        self.dconv = block.dconv.stream()

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        y = self.norm1(self.prelu1(self.conv_in(x)))
        y = self.norm2(self.prelu2(self.dconv(y)))
        return (None if self.res is None else x + self.res(y)), self.skip(y)


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

    def stream(self) -> _TCNStream:
        """This TCN over a stream (causal, cLN): ``(B, n) → (Sc, n)`` per call; each block keeps its past."""
        return _TCNStream(self)

    def describe(self) -> tuple[BlockSpec, ...]:
        """Each block's ``BlockSpec``, input to output."""
        return tuple(block.describe() for block in self.blocks)


class _TCNStream:
    """A ``TCN`` over a stream: its blocks' streams in turn, the skip outputs summed.

    Shapes: ``(B, n) → (Sc, n)``.
    """

    def __init__(self, tcn: TCN):
        self.block_streams = [block.stream() for block in tcn.blocks]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        skip_sum = 0
        for block in self.block_streams:
            x, skip = block(x)
            skip_sum = skip_sum + skip
        return skip_sum
