"""Exercises of chapter 01 (signals and the STFT): build the STFT and its inverse from their parts.

1. ``check_frames(fn)``: cut a signal into centred, overlapping frames, as ``masks.stft`` does.
2. ``check_stft(fn)``: window the frames and take ``torch.fft.rfft`` of each: the STFT, checked against
   ``masks.stft``.
3. ``check_istft(fn)``: invert it by weighted overlap-add, checked against ``masks.istft`` and the signal.
"""

from __future__ import annotations

import torch

from tasnet_edu.masks import istft, stft

CASES = ((256, 64), (64, 16), (128, 32))   # (n_fft, hop): a hop of a quarter window, as in chapter 01


def _signal(seed: int = 0, n: int = 1000) -> torch.Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(seed))


# --- 1. centred frames -------------------------------------------------------------------------------
def _solution_frames(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """``(time,)`` → ``(frames, n_fft)``: reflect-pad ``n_fft // 2`` on both sides, then one frame per hop."""
    padded = torch.nn.functional.pad(x[None, None], (n_fft // 2, n_fft // 2), mode="reflect")[0, 0]
    return padded.unfold(0, n_fft, hop)


def check_frames(fn) -> None:
    """``fn(x (time,), n_fft, hop) -> frames (frames, n_fft)``: frame k holds the ``n_fft`` samples centred
    on sample ``k * hop`` of ``x``, which is first padded by ``n_fft // 2`` reflected samples on each side
    (``torch.nn.functional.pad(..., mode="reflect")``), as ``masks.stft`` pads it."""
    for seed, (n_fft, hop) in enumerate(CASES):
        x = _signal(seed)
        expected = _solution_frames(x, n_fft, hop)
        got = torch.as_tensor(fn(x.clone(), n_fft, hop))
        assert got.shape == expected.shape, (
            f"n_fft={n_fft}, hop={hop}: expected shape {tuple(expected.shape)} (time // hop + 1 frames), got "
            f"{tuple(got.shape)}. Hint: pad n_fft // 2 on both sides, then tensor.unfold(0, n_fft, hop).")
        assert torch.allclose(got.to(expected.dtype), expected, atol=1e-6), (
            f"n_fft={n_fft}, hop={hop}: the frames hold other samples. Hint: frame 0 is centred on "
            "sample 0, so its first half is the reflected start of the signal (mode='reflect', not zeros).")
    print("Correct: frame k is centred on sample k · hop; the padding reflects the signal's ends.")


# --- 2. the STFT ---------------------------------------------------------------------------------------
def _solution_stft(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """``(time,)`` → complex ``(n_fft // 2 + 1, frames)``: periodic Hann window, then rfft of every frame."""
    window = torch.hann_window(n_fft, periodic=True, dtype=x.dtype)
    return torch.fft.rfft(_solution_frames(x, n_fft, hop) * window, dim=-1).T


def check_stft(fn) -> None:
    """``fn(x (time,), n_fft, hop) -> complex (n_fft // 2 + 1, frames)``: multiply each centred frame
    (exercise 1) by ``torch.hann_window(n_fft, periodic=True)`` and take ``torch.fft.rfft``;
    frequency comes first."""
    for seed, (n_fft, hop) in enumerate(CASES):
        x = _signal(seed)
        expected = stft(x, n_fft, hop)
        got = torch.as_tensor(fn(x.clone(), n_fft, hop))
        assert got.shape == expected.shape, (
            f"n_fft={n_fft}, hop={hop}: expected shape {tuple(expected.shape)} (freq, frames), got "
            f"{tuple(got.shape)}. Hint: rfft gives n_fft // 2 + 1 bins per frame; transpose to "
            "(freq, frames).")
        assert got.is_complex(), "the STFT is complex: keep rfft's output as it is, do not take .abs()"
        assert torch.allclose(got.to(expected.dtype), expected, atol=1e-4), (
            f"n_fft={n_fft}, hop={hop}: values differ from masks.stft. Hint: the window is periodic "
            "(torch.hann_window(n_fft, periodic=True)) and multiplies every frame before the rfft.")
    print("Correct: frames × Hann window → rfft is the STFT, equal to masks.stft.")


# --- 3. its inverse: weighted overlap-add -------------------------------------------------------------
def _solution_istft(spec: torch.Tensor, n_fft: int, hop: int, length: int) -> torch.Tensor:
    """complex ``(freq, frames)`` → ``(length,)``: irfft each frame, window it again, overlap-add, divide by
    the overlap-added squared window, drop the ``n_fft // 2`` samples of padding at the start."""
    window = torch.hann_window(n_fft, periodic=True, dtype=spec.real.dtype)
    frames = torch.fft.irfft(spec.T, n=n_fft, dim=-1) * window            # (frames, n_fft)
    total = (frames.shape[0] - 1) * hop + n_fft
    signal = torch.zeros(total, dtype=frames.dtype)
    weight = torch.zeros(total, dtype=frames.dtype)
    for k, frame in enumerate(frames):
        signal[k * hop:k * hop + n_fft] += frame
        weight[k * hop:k * hop + n_fft] += window.pow(2)
    start = n_fft // 2
    return signal[start:start + length] / weight[start:start + length]


def check_istft(fn) -> None:
    """``fn(spec (freq, frames) complex, n_fft, hop, length) -> (length,)``: the inverse of the STFT. Take
    ``torch.fft.irfft`` of each frame, multiply by the window again, add the frames at their places (frame k
    starts at sample ``k * hop`` of the padded signal), divide by the sum of the squared windows there, and
    cut away the first ``n_fft // 2`` samples of padding."""
    for seed, (n_fft, hop) in enumerate(CASES):
        x = _signal(seed)
        spec = stft(x, n_fft, hop)
        got = torch.as_tensor(fn(spec.clone(), n_fft, hop, len(x)))
        assert got.shape == x.shape, (
            f"n_fft={n_fft}, hop={hop}: expected {len(x)} samples, got shape {tuple(got.shape)}. Hint: the "
            "padded signal is (frames - 1) · hop + n_fft long; start n_fft // 2 samples in.")
        expected = istft(spec, n_fft, hop, length=len(x))
        assert torch.allclose(got.double(), expected.double(), atol=1e-5), (
            f"n_fft={n_fft}, hop={hop}: not the signal back (largest error "
            f"{float((got.double() - x).abs().max()):.2g}). Hint: window each inverse frame, and divide "
            "by the overlap-added *squared* window, not by the window.")
    print("Correct: overlap-add of the windowed inverse frames gives the signal back "
          "(perfect reconstruction).")
