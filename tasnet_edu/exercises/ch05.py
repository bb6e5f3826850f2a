"""Exercises of chapter 05 (learned encoder vs STFT).

1. ``check_code_ratio_mask(fn)``: write the oracle ratio mask that works in any basis.
2. ``check_overlap_add(fn)``: rebuild a waveform from frames hopping by ``hop`` — what every decoder does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tasnet_edu.encoders import LearnedDecoder, code_ratio_masks


# --- 1. the oracle ratio mask in any basis ------------------------------------------------------------
def _solution_code_ratio_mask(source_codes: torch.Tensor) -> torch.Tensor:
    """``|W_i| / Σ_j |W_j|`` for codes ``(n_src, N, frames)`` of each source."""
    mag = source_codes.abs()
    return mag / (mag.sum(dim=0, keepdim=True) + 1e-8)


def check_code_ratio_mask(fn) -> None:
    """``fn(source_codes (n_src, N, frames)) -> masks (n_src, N, frames)``: ``|W_i| / Σ_j |W_j|``."""
    g = torch.Generator().manual_seed(5)
    for n_src in (2, 3):
        codes = torch.randn(n_src, 12, 7, generator=g, dtype=torch.float64)
        expected = code_ratio_masks(codes.unsqueeze(0))[0]
        got = torch.as_tensor(fn(codes), dtype=torch.float64)
        assert got.shape == expected.shape, f"return one mask per source, shape {tuple(expected.shape)}; " \
            f"got {tuple(got.shape)}"
        assert got.min() >= 0, "a ratio of magnitudes is never negative: did you forget the absolute value?"
        assert torch.allclose(got, expected, atol=1e-6), (
            "the masks differ from |W_i| / Σ_j |W_j|. Hint: sum the magnitudes over the source axis (dim 0) "
            "and keep that axis so the division broadcasts."
        )
    print("Correct: the masks lie in [0, 1] and share out each coefficient of the mixture among the sources.")


# --- 2. overlap-add ------------------------------------------------------------------------------------
def _solution_overlap_add(frames: torch.Tensor, hop: int) -> torch.Tensor:
    """Frame k ``(L,)`` added into the output at samples k·hop … k·hop + L − 1."""
    n_frames, L = frames.shape
    out = frames.new_zeros((n_frames - 1) * hop + L)
    for k in range(n_frames):
        out[k * hop : k * hop + L] += frames[k]
    return out


def check_overlap_add(fn) -> None:
    """``fn(frames (n_frames, L), hop) -> signal ((n_frames − 1)·hop + L,)``: each frame added at its place,
    overlapping parts summed. Then the check shows that a learned decoder is exactly this: its transposed
    convolution is overlap-add of the basis signals weighted by the codes."""
    g = torch.Generator().manual_seed(2)
    for n_frames, L, hop in ((5, 8, 4), (7, 16, 8), (4, 10, 10), (6, 12, 3)):
        frames = torch.randn(n_frames, L, generator=g, dtype=torch.float64)
        expected = _solution_overlap_add(frames, hop)
        got = torch.as_tensor(fn(frames.clone(), hop), dtype=torch.float64).reshape(-1)
        assert got.shape == expected.shape, (
            f"{n_frames} frames of {L} hopping by {hop} cover (n_frames − 1)·hop + L = {len(expected)} "
            f"samples, got {len(got)}. Hint: the last frame starts at (n_frames − 1)·hop.")
        assert torch.allclose(got, expected), (
            "the values differ. Hint: where frames overlap their samples are ADDED (+=), not overwritten; "
            "frame k starts at sample k·hop.")
    decoder = LearnedDecoder(6, 16).double()
    codes = torch.randn(1, 6, 9, generator=g, dtype=torch.float64)
    basis = decoder.describe().weight[:, 0]                                   # (N, L): one signal per code
    with torch.no_grad():
        decoded = decoder(codes)[0]
    by_hand = torch.as_tensor(fn(codes[0].T @ basis, decoder.stride), dtype=torch.float64)
    assert torch.allclose(decoded.reshape(-1), by_hand.reshape(-1), atol=1e-10), (
        "your overlap-add of codes.T @ basis differs from LearnedDecoder: check the frames' hop.")
    assert torch.allclose(F.conv_transpose1d(codes, basis[:, None], stride=decoder.stride)[0, 0], by_hand)
    print("Correct: and the learned decoder of this chapter is nothing else — each frame is the codes times "
          "the N basis signals (codes.T @ basis), overlap-added at the hop (checked equal to the decoder).")
