"""Exercises of chapter 01 (signals and the STFT).

1. ``check_tone_bin(index)``: in which frequency bin of ``masks.stft`` does a 1 kHz tone peak?
2. ``check_latency_ms(fn)``: the algorithmic latency of STFT processing for a window of ``n_fft`` samples.
3. ``check_n_frames(fn)``: how many frames ``masks.stft`` makes of a signal.
"""

from __future__ import annotations

import torch

from tasnet_edu import SAMPLE_RATE
from tasnet_edu.masks import stft

N_FFT, HOP = 256, 64
TONE_HZ = 1000.0


# --- 1. where a tone lands ----------------------------------------------------------------------------
def _solution_tone_bin() -> int:
    """Bin f sits at f · sample_rate / n_fft Hz, so a tone of TONE_HZ is in bin TONE_HZ · n_fft / rate."""
    return round(TONE_HZ * N_FFT / SAMPLE_RATE)


def check_tone_bin(index) -> None:
    """Which bin of ``stft(x, n_fft=256, hop=64)`` holds a 1000 Hz tone sampled at 8 kHz?"""
    t = torch.arange(SAMPLE_RATE) / SAMPLE_RATE
    spectrum = stft(torch.sin(2 * torch.pi * TONE_HZ * t), N_FFT, HOP).abs().mean(-1)
    expected = int(spectrum.argmax())
    assert int(index) == expected, (
        f"got bin {index}. Hint: {N_FFT} samples at {SAMPLE_RATE} Hz give bins "
        f"{SAMPLE_RATE / N_FFT:g} Hz apart, from 0 Hz (bin 0) up to {SAMPLE_RATE // 2} Hz (bin {N_FFT // 2})."
    )
    print(f"Correct: bin {expected} = {expected * SAMPLE_RATE / N_FFT:g} Hz.")


# --- 2. latency ---------------------------------------------------------------------------------------
def _solution_latency_ms(n_fft: int, sample_rate: int) -> float:
    """A frame can be transformed only once its last sample has arrived: one window of delay."""
    return 1000 * n_fft / sample_rate


def check_latency_ms(fn) -> None:
    """``fn(n_fft, sample_rate) -> float``: the minimum algorithmic latency, in ms, of processing that needs
    a whole STFT window before it can output anything (ignore computation time)."""
    for n_fft, rate in ((256, 8000), (64, 8000), (512, 16000), (16, 8000)):
        got, expected = float(fn(n_fft, rate)), _solution_latency_ms(n_fft, rate)
        assert abs(got - expected) < 1e-6, (
            f"fn({n_fft}, {rate}) = {got}, expected {expected:g} ms. Hint: how long does it take for "
            f"{n_fft} samples to arrive at {rate} samples per second?"
        )
    print("Correct: the window length is the latency: 32 ms for the paper's STFT, 2 ms for L = 16.")


# --- 3. number of frames --------------------------------------------------------------------------------
def _solution_n_frames(n_samples: int, hop: int) -> int:
    """Centred frames start at sample 0 and advance by ``hop``: ``n_samples // hop + 1`` of them."""
    return n_samples // hop + 1


def check_n_frames(fn) -> None:
    """``fn(n_samples, hop) -> int``: the number of frames ``masks.stft`` returns (its frames are centred)."""
    for n_samples, hop in ((8000, 64), (12345, 64), (4000, 16), (1000, 128)):
        got = int(fn(n_samples, hop))
        expected = stft(torch.zeros(n_samples), 4 * hop, hop).shape[-1]
        assert got == expected, (
            f"fn({n_samples}, {hop}) = {got}, but stft gives {expected} frames. Hint: with centred frames, "
            "frame k is centred on sample k * hop, and the last centre is at or before the last sample."
        )
    print("Correct: one frame per hop, plus the one centred on sample 0.")
