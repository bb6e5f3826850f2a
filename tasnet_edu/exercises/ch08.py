"""Exercises of chapter 08 (the full Conv-TasNet).

1. ``check_block_parameters(fn)``: the parameter count of one convolutional block from B, H, Sc and P.
2. ``check_frames(fn)``: how many encoder frames Conv-TasNet makes of an input of a given length.
3. ``check_conv1d_block(fn)``: one convolutional block's forward pass, residual and skip outputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

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


# --- 3. one convolutional block ---------------------------------------------------------------------------
def _solution_conv1d_block(x: torch.Tensor, block: Conv1DBlock):
    """1×1 conv → PReLU → norm → depthwise dilated conv → PReLU → norm; residual x + res(y), skip skip(y)."""
    P, d = block.dconv.kernel_size[0], block.dilation
    y = block.norm1(block.prelu1(block.conv_in(x)))
    left = (P - 1) * d if block.causal else (P - 1) // 2 * d      # causal: look back only
    y = F.pad(y, (left, (P - 1) * d - left))
    y = F.conv1d(y, block.dconv.weight, block.dconv.bias, dilation=d, groups=y.shape[1])
    y = block.norm2(block.prelu2(y))
    residual = None if block.res is None else x + block.res(y)
    return residual, block.skip(y)


def check_conv1d_block(fn) -> None:
    """``fn(x (batch, B, frames), block) -> (residual (batch, B, frames) or None, skip (batch, Sc, frames))``
    using the layers of ``block`` (a ``tasnet_edu.tcn.Conv1DBlock``): ``block.conv_in``, ``block.prelu1``,
    ``block.norm1``, the depthwise weights ``block.dconv.weight``/``.bias`` (apply them with ``F.conv1d``,
    ``groups``, ``dilation=block.dilation`` and your own padding; ``block.causal`` says which side),
    ``block.prelu2``, ``block.norm2``, then ``block.res`` (``None`` in the TCN's last block) and
    ``block.skip``."""
    torch.manual_seed(8)
    cases = {"non-causal gLN, dilation 2": Conv1DBlock(8, 12, 6, 3, 2),
             "causal cLN, dilation 4": Conv1DBlock(8, 12, 6, 3, 4, norm="cLN", causal=True),
             "the last block (no residual conv)": Conv1DBlock(8, 12, 6, 3, 8, residual=False)}
    for name, block in cases.items():
        block = block.double()
        with torch.no_grad():  # PReLU slopes away from their 0.25 start, as after training
            block.prelu1.weight.fill_(0.1)
            block.prelu2.weight.fill_(0.4)
        x = torch.randn(2, 8, 30, dtype=torch.float64)
        with torch.no_grad():
            expected_res, expected_skip = block(x)
            got_res, got_skip = fn(x, block)
        if expected_res is None:
            assert got_res is None, f"{name}: return None as the residual when block.res is None"
        else:
            assert got_res is not None and got_res.shape == x.shape, (
                f"{name}: the residual output keeps the input's shape {tuple(x.shape)}")
        assert got_skip.shape == expected_skip.shape, (
            f"{name}: the skip output is (batch, Sc, frames) {tuple(expected_skip.shape)}, got "
            f"{tuple(got_skip.shape)}. Hint: pad the depthwise conv's input by (P−1)·dilation frames in all.")
        if not torch.allclose(got_skip, expected_skip, atol=1e-6):
            hint = ("all (P−1)·d padding frames go on the left (block.causal)" if block.causal else
                    "the non-causal padding is centred: (P−1)//2·d frames on each side for odd P")
            raise AssertionError(f"{name}: the skip output differs. Hint: the order is conv_in, prelu1, "
                                 f"norm1, depthwise conv, prelu2, norm2; {hint}.")
        if expected_res is not None:
            assert torch.allclose(got_res, expected_res, atol=1e-6), (
                f"{name}: the skip output is right but the residual is not. Hint: the residual output is the "
                "block's INPUT plus block.res(y), so the next block refines what came in.")
    print("Correct: the residual path carries the signal to the next block; the skip path carries each "
          "block's contribution to the mask, summed over all X·R blocks.")
