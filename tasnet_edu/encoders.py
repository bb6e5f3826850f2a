"""Encoders and decoders: the representation a separator works in.

An encoder turns a waveform ``(batch, time)`` into frames ``(batch, N, frames)``: N basis coefficients for
each window of L samples, windows advancing by ``stride`` samples. Its decoder maps ``(batch, N, frames)``
back to ``(batch, time)`` by overlap-add. Conv-TasNet learns both (``LearnedEncoder``/``LearnedDecoder``);
the STFT fixes them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pad_to_frames(x: torch.Tensor, kernel_size: int, stride: int) -> tuple[torch.Tensor, int]:
    """Right-pad ``x`` (..., time) with zeros so that windows of ``kernel_size`` hopping by ``stride`` tile it.

    Returns the padded signal and the number of zeros added; trim that many samples from the decoder's
    output to get the input length back. Padding only on the right keeps a causal model causal.
    """
    time = x.shape[-1]
    frames = max(1, -(-(time - kernel_size) // stride) + 1)
    pad = (frames - 1) * stride + kernel_size - time
    return F.pad(x, (0, pad)), pad


class LearnedEncoder(nn.Module):
    """Free (learned) analysis filterbank: a 1-D convolution with N filters of L samples, stride L/2, no bias.

    Args:
        N: number of basis filters.
        L: filter length in samples (16 = 2 ms at 8 kHz in Conv-TasNet).
        stride: hop between frames; L // 2 (50 % overlap) by default.
        relu: apply ReLU to the coefficients (non-negative codes, as Conv-TasNet's encoder does).

    Shapes: ``(batch, time) → (batch, N, frames)``, ``frames = (time - L) // stride + 1``.
    """

    def __init__(self, N: int, L: int, stride: int | None = None, relu: bool = True):
        super().__init__()
        self.N, self.L, self.stride = N, L, stride or L // 2
        self.conv = nn.Conv1d(1, N, L, stride=self.stride, bias=False)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.conv(x.unsqueeze(1))
        return F.relu(w) if self.relu else w


class LearnedDecoder(nn.Module):
    """Free synthesis filterbank: a transposed 1-D convolution (overlap-add of N learned basis signals).

    Shapes: ``(batch, N, frames) → (batch, time)`` with ``time = (frames - 1) * stride + L``.
    """

    def __init__(self, N: int, L: int, stride: int | None = None):
        super().__init__()
        self.N, self.L, self.stride = N, L, stride or L // 2
        self.deconv = nn.ConvTranspose1d(N, 1, L, stride=self.stride, bias=False)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.deconv(w).squeeze(1)
