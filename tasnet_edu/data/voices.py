"""Pseudo-speakers: one recorded person made into several, with other formants and another pitch.

Two things set a voice apart in a separator's eyes: the vocal tract (its length places the formants; a
shorter tract moves them all up by the same factor) and the voice source (the pitch, F0). ``transform``
changes the two independently, by a *formant factor* ``α`` and a *pitch factor* ``β``:

1. the pitch and the whole spectrum move by ``β`` (``librosa.effects.pitch_shift``: a phase vocoder, then
   resampling; the duration stays);
2. in each STFT frame the spectral envelope of that shifted signal is divided out and the envelope of the
   original, stretched along frequency by ``α``, is put in its place. The envelope is the low-quefrency part
   of the log spectrum (cepstral liftering), which holds the formants but not the harmonics of F0.

The harmonics end up ``β`` times the original F0 and the formants ``α`` times the original ones. This is
the "resampling plus correction" way; WORLD analysis–synthesis (``pyworld``) would do the same with a
vocoder, but ships no wheel for every platform.

``draw`` picks the factors per utterance within natural ranges: ``α`` in 0.87–1.15 (adult vocal tracts differ
by about ±15 %; women's formants lie about 15 % above men's), ``β`` in 0.71–1.41 (half an octave either way:
a man's 110 Hz becomes 78–155 Hz, a woman's 210 Hz 149–296 Hz). Both are log-uniform and independent, so a
low pitch may come with a short vocal tract.
"""

from __future__ import annotations

import numpy as np

from tasnet_edu.errors import CourseError

FORMANT_RANGE = (0.87, 1.15)  # vocal-tract length factor: formants × α
PITCH_RANGE = (0.71, 1.41)  # F0 × β: half an octave down or up
N_FFT = 512  # 64 ms at 8 kHz: resolves harmonics of F0 ≥ 60 Hz
HOP = 128
LIFTER_S = 0.0018  # envelope = quefrencies below 1.8 ms: under the period of F0 up to ~500 Hz


def draw(rng: np.random.Generator) -> dict:
    """A pseudo-speaker's factors ``{"formant": α, "pitch": β}``, log-uniform in the natural ranges."""
    a, b = (float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) for lo, hi in (FORMANT_RANGE, PITCH_RANGE))
    return {"formant": round(a, 4), "pitch": round(b, 4)}


def summary() -> dict:
    """What ``make-data --pseudo-speakers`` records in the manifest: the method and the ranges."""
    return {"method": "tasnet_edu.data.voices: pitch shift, then cepstral envelope warp",
            "formant_range": list(FORMANT_RANGE), "pitch_range": list(PITCH_RANGE), "splits": ["train"]}


def envelope(mag: np.ndarray, sample_rate: int) -> np.ndarray:
    """The spectral envelope of magnitude frames ``(freq, frames)``: the cepstrum liftered below
    ``LIFTER_S``, back to a (positive) magnitude of the same shape."""
    n_fft = 2 * (mag.shape[0] - 1)
    cep = np.fft.irfft(np.log(mag + 1e-9), n=n_fft, axis=0)
    cut = max(2, round(LIFTER_S * sample_rate))
    cep[cut:n_fft - cut + 1] = 0.0
    return np.exp(np.fft.rfft(cep, n=n_fft, axis=0).real)


def warp(env: np.ndarray, alpha: float) -> np.ndarray:
    """The envelope ``(freq, frames)`` stretched along frequency: ``out(f) = env(f / α)`` (edge held)."""
    bins = np.arange(env.shape[0], dtype=np.float64)
    source = np.clip(bins / alpha, 0, env.shape[0] - 1)
    lo = np.floor(source).astype(int)
    hi = np.minimum(lo + 1, env.shape[0] - 1)
    frac = (source - lo)[:, None]
    return env[lo] * (1 - frac) + env[hi] * frac


def transform(wav: np.ndarray, sample_rate: int, formant: float = 1.0, pitch: float = 1.0) -> np.ndarray:
    """``wav`` ``(time,)`` spoken by a pseudo-speaker: formants × ``formant``, F0 × ``pitch``; same length.

    Example:
        >>> wav = np.random.default_rng(0).standard_normal(8000).astype(np.float32)
        >>> transform(wav, 8000, formant=1.1, pitch=0.8).shape
        (8000,)
    """
    import librosa

    for name, factor, (lo, hi) in (("formant", formant, FORMANT_RANGE), ("pitch", pitch, PITCH_RANGE)):
        if not np.isfinite(factor) or not 0.5 * lo <= factor <= 2 * hi:
            raise CourseError(f"the {name} factor must lie in {0.5 * lo:.2f}–{2 * hi:.2f}, got {factor!r}")
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1 or len(wav) < N_FFT:
        raise CourseError(f"transform needs a mono signal (time,) of ≥ {N_FFT} samples, got {wav.shape}")
    if formant == 1.0 and pitch == 1.0:
        return wav.copy()
    shifted = wav if pitch == 1.0 else librosa.effects.pitch_shift(
        wav, sr=sample_rate, n_steps=12 * float(np.log2(pitch)), n_fft=N_FFT, hop_length=HOP)
    spec = librosa.stft(shifted, n_fft=N_FFT, hop_length=HOP)
    original = np.abs(librosa.stft(wav, n_fft=N_FFT, hop_length=HOP))
    gain = warp(envelope(original, sample_rate), formant) / envelope(np.abs(spec), sample_rate)
    out = librosa.istft(spec * gain, hop_length=HOP, n_fft=N_FFT, length=len(wav))
    peak = float(np.abs(out).max())
    return (out * (float(np.abs(wav).max()) / peak if peak > 0 else 0.0)).astype(np.float32)
