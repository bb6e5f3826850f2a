"""Pseudo-speakers (``tasnet_edu.data.voices``): pitch and formants move by the factors asked, apart."""

import librosa
import numpy as np
import pytest
import scipy.signal

from tasnet_edu.data import voices
from tasnet_edu.errors import CourseError

SR = 8000


def vowel(f0: float, formants=(600.0, 1400.0, 2600.0), seconds: float = 2.0) -> np.ndarray:
    """A glottal pulse train at ``f0`` through three resonators at ``formants``: a steady vowel."""
    n = int(seconds * SR)
    x = np.zeros(n)
    x[np.arange(0, n, SR / f0).astype(int)] = 1.0
    r = np.exp(-np.pi * 80 / SR)  # 80 Hz bandwidth
    for f in formants:
        x = scipy.signal.lfilter([1.0], [1.0, -2 * r * np.cos(2 * np.pi * f / SR), r * r], x)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def f0(wav: np.ndarray) -> float:
    """Median F0 (Hz) by pYIN."""
    track, _, _ = librosa.pyin(wav, fmin=50, fmax=500, sr=SR, frame_length=1024)
    return float(np.nanmedian(track))


def first_formant(wav: np.ndarray) -> float:
    """The peak (Hz) of the long-term spectral envelope between 300 and 1000 Hz."""
    mag = np.abs(librosa.stft(wav, n_fft=voices.N_FFT, hop_length=voices.HOP)).mean(axis=1, keepdims=True)
    env = voices.envelope(mag, SR)[:, 0]
    freqs = np.fft.rfftfreq(voices.N_FFT, 1 / SR)
    band = (freqs > 300) & (freqs < 1000)
    return float(freqs[band][np.argmax(env[band])])


@pytest.mark.parametrize("formant, pitch", [(1.0, 1.3), (1.0, 0.75), (1.15, 1.0), (0.87, 1.0), (1.12, 0.8)])
def test_transform_moves_pitch_and_formants_independently(formant, pitch):
    wav = vowel(120.0)
    out = voices.transform(wav, SR, formant=formant, pitch=pitch)
    assert out.shape == wav.shape
    assert f0(out) / f0(wav) == pytest.approx(pitch, rel=0.03)
    assert first_formant(out) / first_formant(wav) == pytest.approx(formant, rel=0.04)  # 15.6 Hz bins


def test_draw_stays_in_natural_ranges_and_draws_the_two_apart():
    rng = np.random.default_rng(0)
    drawn = [voices.draw(rng) for _ in range(500)]
    a = np.array([d["formant"] for d in drawn])
    b = np.array([d["pitch"] for d in drawn])
    assert voices.FORMANT_RANGE[0] <= a.min() and a.max() <= voices.FORMANT_RANGE[1]
    assert voices.PITCH_RANGE[0] <= b.min() and b.max() <= voices.PITCH_RANGE[1]
    assert abs(np.corrcoef(np.log(a), np.log(b))[0, 1]) < 0.15


def test_bad_factors_and_signals_are_named():
    with pytest.raises(CourseError, match="pitch factor"):
        voices.transform(vowel(120.0), SR, pitch=5.0)
    with pytest.raises(CourseError, match="mono signal"):
        voices.transform(np.zeros((2, 8000), np.float32), SR)
