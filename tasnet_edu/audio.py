"""Reading and writing audio files: mono float32 in, never a clipped or half-written file out.

``load`` returns ``(wav, sr)`` with ``wav`` a float32 array shaped ``(time,)`` in [-1, 1] for integer files;
multi-channel files are averaged to mono (with a warning, because separation of a stereo recording is a
different problem). ``save`` writes 16-bit PCM WAV through a temporary file (``utils.atomic_write``), so an
interrupted write never leaves a truncated file that looks complete.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from tasnet_edu.errors import CourseError
from tasnet_edu.utils import atomic_write


def _as_mono(wav: np.ndarray, path: Path) -> np.ndarray:
    if wav.ndim == 2 and wav.shape[1] > 1:
        warnings.warn(f"{path}: {wav.shape[1]} channels averaged to mono", stacklevel=3)
        return wav.mean(axis=1)
    return wav.reshape(-1)


def load(path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file as mono float32.

    Args:
        path: any format libsndfile reads (WAV, FLAC, OGG, …), integer or float samples.
        sample_rate: resample to this rate (Hz) when the file's rate differs; ``None`` keeps the file's rate.

    Returns:
        ``(wav, sr)``: ``wav`` float32 ``(time,)``, ``sr`` its sample rate.

    Raises:
        CourseError: the file is missing, is not audio, holds no samples, or holds NaN/Inf samples.

    Example:
        >>> wav, sr = load("data_samples/tt/mix/0000.wav")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"{path}: no such file")
    try:
        wav, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise CourseError(f"{path}: not a readable audio file ({err})") from None
    if wav.shape[0] == 0:
        raise CourseError(f"{path}: the file holds no samples")
    if not np.isfinite(wav).all():
        raise CourseError(f"{path}: the file holds NaN or Inf samples")
    wav = _as_mono(wav, path)
    if sample_rate is not None and sample_rate != sr:
        wav, sr = resample(wav, sr, sample_rate), int(sample_rate)
    return np.ascontiguousarray(wav, dtype=np.float32), int(sr)


def resample(wav: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling of ``wav`` ``(..., time)`` from ``orig_sr`` to ``target_sr`` Hz (float32)."""
    if orig_sr <= 0 or target_sr <= 0:
        raise CourseError(f"sample rates must be positive, got {orig_sr} → {target_sr} Hz")
    wav = np.asarray(wav, dtype=np.float32)
    if orig_sr == target_sr:
        return wav
    # soxr_hq: a sharp anti-aliasing filter; speech synthesised at 22.05 kHz has energy above 4 kHz
    # that must not fold back into the 8 kHz band.
    out = librosa.resample(wav, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq")
    return out.astype(np.float32, copy=False)


def save(path, wav, sample_rate: int) -> Path:
    """Write ``wav`` ``(time,)`` (NumPy array or tensor) as a 16-bit PCM WAV file and return its path.

    A peak above 1 would clip in 16 bits, so the signal is rescaled to a 0.99 peak with a warning instead
    (never silent clipping). NaN/Inf samples raise ``CourseError``. An ``int16`` array is written verbatim
    (exact samples, e.g. a mixture that must equal the sum of its sources). The file appears atomically
    (``utils.atomic_write``: a temporary file in the same folder, then renamed).
    """
    path = Path(path)
    if hasattr(wav, "detach"):
        wav = wav.detach().cpu().numpy()
    wav = np.asarray(wav)
    if wav.dtype != np.int16:
        wav = wav.astype(np.float32)
    if wav.ndim != 1:
        raise CourseError(f"{path}: expected a mono signal shaped (time,), got shape {wav.shape}")
    if wav.size == 0:
        raise CourseError(f"{path}: refusing to write an empty signal")
    if not np.isfinite(wav).all():
        raise CourseError(f"{path}: refusing to write a signal with NaN or Inf samples")
    if sample_rate <= 0:
        raise CourseError(f"{path}: sample rate must be positive, got {sample_rate}")
    peak = float(np.abs(wav).max()) if wav.dtype == np.float32 else 0.0
    if peak > 1.0:
        warnings.warn(f"{path}: peak {peak:.3f} > 1 would clip; rescaled to a 0.99 peak", stacklevel=2)
        wav = wav * (0.99 / peak)
    if not path.parent.is_dir():
        raise CourseError(f"{path}: folder {path.parent} does not exist")
    with atomic_write(path) as tmp:
        sf.write(tmp, wav, int(sample_rate), subtype="PCM_16", format="WAV")
    return path


def active_rms(wav: np.ndarray, sample_rate: int, floor_db: float = 30.0) -> float:
    """RMS of the active speech in ``wav`` ``(time,)``: the 10 ms frames within ``floor_db`` of the loud ones.

    A simplified ITU-T P.56 active level. Natural speech holds pauses, and the plain RMS of a file that is
    half silence is 3 dB below the level of its speech; mixing by plain RMS would make the talker with more
    pauses the louder one while talking. "Loud" is the 95th percentile of the frame energies, so one click
    does not set the threshold.
    """
    frame = max(1, int(0.01 * sample_rate))
    n = len(wav) // frame
    if n == 0:
        return float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if len(wav) else 0.0
    energy = np.mean(np.square(wav[: n * frame].reshape(n, frame), dtype=np.float64), axis=1)
    active = energy[energy >= np.percentile(energy, 95) * 10 ** (-floor_db / 10)]
    return float(np.sqrt(active.mean()))
