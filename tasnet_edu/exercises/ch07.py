"""Exercises of chapter 07 (the dilated TCN).

1. ``check_receptive_field(fn)``: the receptive field of a TCN, in frames, from P, X and R.
2. ``check_cumulative_layer_norm(fn)``: cLN without gain and bias, from its definition.
"""

from __future__ import annotations

import torch

from tasnet_edu.tcn import CumulativeLayerNorm, receptive_field


# --- 1. receptive field ---------------------------------------------------------------------------------
def _solution_receptive_field(P: int, X: int, R: int) -> int:
    """Each block with dilation d adds (P−1)·d frames; one repeat's dilations sum to 2^X − 1."""
    return 1 + R * (P - 1) * sum(2**i for i in range(X))


def check_receptive_field(fn) -> None:
    """``fn(P, X, R) -> frames``: how many encoder frames one output frame of the TCN sees."""
    for P, X, R in ((3, 8, 3), (3, 1, 1), (2, 4, 2), (5, 6, 1), (3, 10, 4)):
        expected, got = receptive_field(P, X, R), int(fn(P, X, R))
        assert got == expected, (
            f"for P={P}, X={X}, R={R} the TCN sees {expected} frames, you gave {got}. Hint: a kernel of P "
            "taps with dilation d spans (P−1)·d + 1 frames; the spans of stacked layers add up, minus the "
            "shared frame; the dilations are 1, 2, …, 2^(X−1) in each of the R repeats."
        )
    print("Correct: the receptive field grows exponentially with X but only linearly with P and R.")


# --- 2. cumulative layer norm ---------------------------------------------------------------------------
def _solution_cumulative_layer_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """cLN of ``x (batch, channels, frames)``: statistics over all channels and frames 0…k, for each k."""
    count = x.shape[1] * torch.arange(1, x.shape[-1] + 1, dtype=x.dtype)
    mean = x.sum(1, keepdim=True).cumsum(-1) / count
    var = x.square().sum(1, keepdim=True).cumsum(-1) / count - mean.square()
    return (x - mean) / torch.sqrt(var + eps)


def check_cumulative_layer_norm(fn) -> None:
    """``fn(x (batch, channels, frames)) -> same shape``: cLN with gain 1 and bias 0."""
    g = torch.Generator().manual_seed(7)
    x = 2 * torch.randn(2, 5, 40, generator=g, dtype=torch.float64) + 1
    expected = CumulativeLayerNorm(5).double()(x).detach()
    got = torch.as_tensor(fn(x), dtype=torch.float64)
    assert got.shape == expected.shape, f"keep the shape {tuple(x.shape)}, got {tuple(got.shape)}"
    future = x.clone()
    future[..., 20:] *= 10
    got_future = torch.as_tensor(fn(future), dtype=torch.float64)
    assert torch.allclose(got[..., :20], got_future[..., :20], atol=1e-6), (
        "changing frames 20… changed your output before frame 20: frame k may only use frames 0…k. "
        "Hint: torch.cumsum over the time axis gives running sums."
    )
    assert torch.allclose(got, expected, atol=1e-5), (
        "the values differ from cLN. Hint: at frame k, the mean and variance are taken over all channels "
        "and frames 0…k together, i.e. over channels·(k+1) numbers."
    )
    print("Correct: cLN normalises each frame with statistics of the past only, so it can run in real time.")
