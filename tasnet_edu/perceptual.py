"""What SI-SNR does not measure: intelligibility (STOI), quality (PESQ), a score without a reference (DNSMOS).

SI-SNR and SDR count energy: every error sample weighs the same, whether a listener would hear it or not.
The scores here model the listener instead. Each wraps a well-kept package of the ``metrics`` extra
(``pip install "tasnet-edu[metrics]"``), imported on first use: without it, a call raises one
``CourseError`` line that names the extra.

- ``stoi``: short-time objective intelligibility (Taal et al. 2011; extended: Jensen & Taal 2016), by
  ``pystoi``. The correlation of the estimate's and the reference's one-third-octave band envelopes in
  384 ms windows, about 0 to 1 (higher: more words understood). Insensitive to the gain of the estimate.
- ``pesq``: perceptual evaluation of speech quality, ITU-T P.862, by ``pesq`` (the ITU reference C code).
  Always **narrow-band** (a telephone band, 300-3400 Hz) at 8 kHz: the course's rate, and the only mode P.862
  defines there. The value is MOS-LQO (P.862.1 mapping), about 1 (bad) to 4.5 (no audible difference).
- ``dnsmos``: DNSMOS P.835 (Reddy et al. 2022), by ``speechmos``: neural networks trained on listeners'
  ratings, which score one recording *without* a reference: SIG (the speech itself), BAK (the background)
  and OVRL (overall), each on the 1-5 opinion scale. Its ONNX models ship in the package's wheel; they
  expect 16 kHz in [-1, 1], so the input is resampled (``tasnet_edu.audio.resample``, librosa's soxr).

All take ``(..., time)`` float tensors (or arrays) and return one value per leading index, as
``tasnet_edu.metrics`` does; the references come second, as there. None of them is differentiable.
"""

from __future__ import annotations

import importlib
import math
from typing import NamedTuple

import numpy as np
import torch

from tasnet_edu.audio import resample
from tasnet_edu.errors import CourseError
from tasnet_edu.utils import as_tensor, check_finite, check_same_shape

#: The install command that brings every package of this module.
EXTRA = 'pip install "tasnet-edu[metrics]"'

#: score → the module it needs (imported on first use); ``speechmos`` runs its networks with ``onnxruntime``.
PACKAGES = {"stoi": "pystoi", "pesq": "pesq", "dnsmos": "speechmos.dnsmos"}

#: P.862 is defined at 8 kHz (narrow-band) and 16 kHz; the course scores narrow-band at 8 kHz.
PESQ_SAMPLE_RATE = 8000

#: DNSMOS's networks were trained on 16 kHz audio.
DNSMOS_SAMPLE_RATE = 16000


def require(score: str):
    """The module behind ``score`` (a key of ``PACKAGES``), or one ``CourseError`` line naming the extra that
    installs it."""
    name = PACKAGES[score]
    try:
        return importlib.import_module(name)
    except ImportError as err:  # the package, or one it needs (onnxruntime for speechmos)
        missing = (err.name or name).split(".")[0]
        raise CourseError(f"{score} needs the package {missing!r}, which is not installed: {EXTRA}") from None


def available(score: str | None = None) -> bool:
    """Whether ``score`` (``"stoi"``, ``"pesq"``, ``"dnsmos"``; all three when ``None``) can run here."""
    try:
        for name in [score] if score else PACKAGES:
            require(name)
    except CourseError:
        return False
    return True


def _rows(x, name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """A finite ``(..., time)`` signal as float64 rows ``(M, time)`` and its leading shape."""
    x = as_tensor(x, torch.float64) if not isinstance(x, torch.Tensor) else x.detach().cpu().double()
    if x.ndim == 0 or x.shape[-1] == 0:
        raise CourseError(f"{name} needs a non-empty time axis, got shape {tuple(x.shape)}")
    check_finite(x, name)
    return x.reshape(-1, x.shape[-1]).numpy(), tuple(x.shape[:-1])


def _pair(est, ref) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    est_t, ref_t = (x if isinstance(x, torch.Tensor) else as_tensor(x) for x in (est, ref))
    check_same_shape(est_t, ref_t)
    (est_rows, lead), (ref_rows, _) = _rows(est_t, "est"), _rows(ref_t, "ref")
    return est_rows, ref_rows, lead


def _check_rate(sample_rate) -> int:
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise CourseError(f"sample_rate must be a positive whole number of Hz, got {sample_rate}")
    return int(sample_rate)


def _resample(rows: np.ndarray, sample_rate: int, target: int) -> np.ndarray:
    return rows if sample_rate == target else resample(rows, sample_rate, target).astype(np.float64)


def _as_tensor(values, lead: tuple[int, ...]) -> torch.Tensor:
    return torch.tensor(np.asarray(values, dtype=np.float64), dtype=torch.float32).reshape(lead)


def stoi(est, ref, sample_rate: int, extended: bool = False) -> torch.Tensor:
    """Short-time objective intelligibility of ``est`` against ``ref``: ``(..., time)`` → ``(...,)``.

    About 0 to 1 (ESTOI, ``extended=True``, can go slightly below 0); higher means more intelligible. pystoi
    resamples to 10 kHz and drops the frames where the reference is silent (more than 40 dB below its
    loudest frame), as the original MATLAB code does; a signal with fewer than 30 frames (0.4 s) of speech
    left is too short for it (pystoi then returns 1e-5 with a warning).
    """
    est_rows, ref_rows, lead = _pair(est, ref)
    sample_rate = _check_rate(sample_rate)
    pystoi = require("stoi")
    values = [pystoi.stoi(r, e, sample_rate, extended=extended)  # pystoi.stoi(clean, processed, ...)
              for e, r in zip(est_rows, ref_rows, strict=True)]
    return _as_tensor(values, lead)


def pesq(est, ref, sample_rate: int) -> torch.Tensor:
    """PESQ (ITU-T P.862, **narrow-band**, MOS-LQO) of ``est`` against ``ref``: ``(..., time)`` → ``(...,)``.

    Signals at another rate are first resampled to 8 kHz, so every value is the narrow-band score at 8 kHz,
    the band the course's models separate (and the paper's wsj0-2mix). About 1.0 (bad) to 4.5 (no audible
    difference from the reference). P.862 aligns the two signals in time and level itself. NaN where it
    finds no speech to score (e.g. a silent reference or estimate), so a batch never fails on one item.
    """
    est_rows, ref_rows, lead = _pair(est, ref)
    sample_rate = _check_rate(sample_rate)
    pesq_module = require("pesq")
    est_rows, ref_rows = (_resample(x, sample_rate, PESQ_SAMPLE_RATE) for x in (est_rows, ref_rows))
    values = []
    for e, r in zip(est_rows, ref_rows, strict=True):
        if not (np.abs(e).max() > 0 and np.abs(r).max() > 0):
            values.append(math.nan)  # the wrapper divides by the peak: silence would become NaN samples
            continue
        try:
            values.append(pesq_module.pesq(PESQ_SAMPLE_RATE, r, e, "nb"))
        except pesq_module.PesqError:  # NoUtterancesError, BufferTooShortError: nothing P.862 can score
            values.append(math.nan)
    return _as_tensor(values, lead)


class DNSMOS(NamedTuple):
    """DNSMOS P.835 opinion scores (1-5), each a tensor ``(...,)``: speech signal, background, overall."""

    sig: torch.Tensor
    bak: torch.Tensor
    ovrl: torch.Tensor


def dnsmos(wav, sample_rate: int) -> DNSMOS:
    """Reference-free quality of ``wav`` ``(..., time)``: DNSMOS P.835 SIG, BAK and OVRL, each ``(...,)``.

    ``wav`` is resampled to 16 kHz (a course signal at 8 kHz keeps its 4 kHz band: the networks, trained on
    16 kHz speech, hear telephone speech; compare scores of signals at one rate only). It must lie
    in [-1, 1], as a sound file does: a louder signal is scaled down to a peak of 1 (quieter ones are kept
    as they are; the networks hear the level). speechmos scores 9.01 s windows one second apart, repeating
    a shorter recording until it fills one, and averages the windows.

    What it can tell: how clean the speech sounds and how much background is left. What it cannot: whether
    the voice kept is the right one, or whether words are missing. It never sees a reference.
    """
    rows, lead = _rows(wav, "wav")
    sample_rate = _check_rate(sample_rate)
    dnsmos_module = require("dnsmos")
    rows = _resample(rows, sample_rate, DNSMOS_SAMPLE_RATE)
    scores = []
    for row in rows:
        peak = np.abs(row).max()
        row = row / peak if peak > 1 else row
        result = dnsmos_module.run(row.astype(np.float32), DNSMOS_SAMPLE_RATE)
        scores.append([result["sig_mos"], result["bak_mos"], result["ovrl_mos"]])
    sig, bak, ovrl = np.asarray(scores, dtype=np.float64).reshape(-1, 3).T
    return DNSMOS(_as_tensor(sig, lead), _as_tensor(bak, lead), _as_tensor(ovrl, lead))
