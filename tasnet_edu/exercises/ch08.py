"""Exercises of chapter 08 (the full Conv-TasNet).

1. ``check_block_parameters(fn)``: the parameter count of one convolutional block from B, H, Sc and P.
2. ``check_frames(fn)``: how many encoder frames Conv-TasNet makes of an input of a given length.
"""

from __future__ import annotations

import torch

from tasnet_edu.models import ConvTasNet
from tasnet_edu.tcn import Conv1DBlock
from tasnet_edu.utils import count_parameters


# --- 1. parameters of one block ---------------------------------------------------------------------------
def _solution_block_parameters(B: int, H: int, Sc: int, P: int) -> int:
    """1×1 B→H, PReLU, gLN (γ, β), depthwise H×P, PReLU, gLN, residual 1×1 H→B, skip 1×1 H→Sc; with biases."""
    return (B * H + H) + 1 + 2 * H + (H * P + H) + 1 + 2 * H + (H * B + B) + (H * Sc + Sc)


def check_block_parameters(fn) -> None:
    """``fn(B, H, Sc, P) -> int``: parameters of one ``Conv1DBlock`` (with its residual conv)."""
    for B, H, Sc, P in ((128, 512, 128, 3), (32, 64, 16, 5), (8, 12, 6, 2)):
        expected = count_parameters(Conv1DBlock(B, H, Sc, P, dilation=1))
        got = int(fn(B, H, Sc, P))
        assert got == expected, (
            f"for B={B}, H={H}, Sc={Sc}, P={P} a block has {expected:,} parameters, you gave {got:,}. "
            "Hint: every conv has a bias; the depthwise conv has one P-tap filter per channel; each PReLU "
            "has one slope; each gLN has a gain and a bias per channel."
        )
    print("Correct: the three 1×1 convolutions hold almost all of a block's parameters; the dilated "
          "depthwise convolution that looks along time is nearly free.")


# --- 2. frames of the encoder -----------------------------------------------------------------------------
def _solution_frames(time: int, L: int) -> int:
    """Frames of L samples hopping by L/2 that cover ``time`` samples (the last one zero-padded)."""
    stride = L // 2
    return max(1, -(-(time - L) // stride) + 1)


def check_frames(fn) -> None:
    """``fn(time, L) -> int``: encoder frames for ``time`` samples (hop L/2, the input padded at the end)."""
    for L in (16, 8, 40):
        model = ConvTasNet(N=4, L=L, B=4, H=4, Sc=4, X=1, R=1)
        for time in (L, L + 1, 3 * L, 1001):
            expected = model.encode(torch.zeros(1, time)).shape[-1]
            got = int(fn(time, L))
            assert got == expected, (
                f"{time} samples with L={L} make {expected} frames, you gave {got}. Hint: frames start every "
                "L/2 samples; the last frame may run past the end (the model pads with zeros), but no frame "
                "starts where it would hold padding only."
            )
    print("Correct: at 8 kHz and L = 16 that is about 1000 frames per second — the TCN's time axis.")
