"""Exercises of chapter 12 (real recordings and the domain gap).

1. ``check_active_rms(fn)``: the level of the speech in a recording, not of its pauses.
2. ``check_speaker_split(fn)``: assign speakers, not utterances, to train / valid / test.
3. ``check_speed_perturbation(fn)``: speed a recording up or down by resampling.
"""

from __future__ import annotations

import math

import numpy as np

from tasnet_edu import SAMPLE_RATE
from tasnet_edu.audio import active_rms, resample


def _talk(seconds: float, pause: float, seed: int) -> np.ndarray:
    """A tone burst (``seconds``) followed by ``pause`` seconds of a faint noise floor (-60 dB)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    voiced = 0.5 * np.sin(2 * np.pi * 140 * t) * (1 + 0.3 * np.sin(2 * np.pi * 4 * t))
    floor = 1e-3 * rng.standard_normal(int(pause * SAMPLE_RATE))
    return np.concatenate([voiced, floor]).astype(np.float32)


# --- 1. active speech level ------------------------------------------------------------------------------
def _solution_active_rms(wav: np.ndarray, sample_rate: int) -> float:
    frame = int(0.01 * sample_rate)
    n = len(wav) // frame
    energy = np.mean(np.square(wav[: n * frame].reshape(n, frame), dtype=np.float64), axis=1)
    return float(np.sqrt(energy[energy >= np.percentile(energy, 95) * 1e-3].mean()))


def check_active_rms(fn) -> None:
    """``fn(wav (time,), sample_rate) -> float``: RMS over the 10 ms frames whose energy is within 30 dB of
    the 95th percentile of all frame energies (``tasnet_edu.audio.active_rms``)."""
    for seed, pause in enumerate((0.0, 1.0, 3.0)):
        wav = _talk(1.0, pause, seed)
        got, expected = float(fn(wav, SAMPLE_RATE)), active_rms(wav, SAMPLE_RATE)
        assert math.isclose(got, expected, rel_tol=1e-3), (
            f"with {pause:g} s of pause after 1 s of speech: got {got:.4f}, expected {expected:.4f}. Hint: "
            "frames of 10 ms, their mean power, keep those ≥ the 95th percentile × 10^(−30/10), "
            "RMS of those.")
    plain = float(np.sqrt(np.mean(_talk(1.0, 3.0, 2) ** 2)))
    print(f"Correct: after 3 s of pause the plain RMS is {20 * np.log10(plain / expected):.1f} dB below the "
          "speech's level; the active level does not move.")


# --- 2. speaker-disjoint splits --------------------------------------------------------------------------
def _solution_speaker_split(utterances: list[tuple[str, str]], n_valid: int, n_test: int) -> dict[str, str]:
    speakers = sorted({spk for spk, _ in utterances})
    splits = {spk: "train" for spk in speakers}
    for spk in speakers[:n_valid]:
        splits[spk] = "valid"
    for spk in speakers[n_valid:n_valid + n_test]:
        splits[spk] = "test"
    return {utt: splits[spk] for spk, utt in utterances}


def check_speaker_split(fn) -> None:
    """``fn(utterances: [(speaker, utterance_id)], n_valid, n_test) -> {utterance_id: split}``: exactly
    ``n_valid`` speakers in ``"valid"``, ``n_test`` in ``"test"``, the rest in ``"train"``, and every
    utterance of a speaker in that speaker's split."""
    rng = np.random.default_rng(0)
    speakers = [f"spk{i}" for i in range(9)]
    utterances = [(s, f"{s}-u{k}") for s in speakers for k in range(int(rng.integers(2, 6)))]
    rng.shuffle(utterances)
    got = fn(list(map(tuple, utterances)), 2, 1)
    assert set(got) == {u for _, u in utterances}, "give every utterance a split"
    of_speaker: dict[str, set[str]] = {}
    for spk, utt in utterances:
        of_speaker.setdefault(spk, set()).add(got[utt])
    mixed = sorted(s for s, splits in of_speaker.items() if len(splits) > 1)
    assert not mixed, (f"speakers {mixed} have utterances in two splits: a test score would then measure "
                       "memory of a voice, not separation of a new one. Split the speakers, then their "
                       "files.")
    counts = {split: sum(splits == {split} for splits in of_speaker.values()) for split in ("valid", "test")}
    assert counts == {"valid": 2, "test": 1}, f"expected 2 valid and 1 test speakers, got {counts}"
    print("Correct: no voice is heard in two splits.")


# --- 3. speed perturbation --------------------------------------------------------------------------------
def _solution_speed_perturbation(wav: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
    return resample(wav, round(sample_rate * factor), sample_rate)


def _pitch(wav: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(wav * np.hanning(len(wav))))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(wav))


def check_speed_perturbation(fn) -> None:
    """``fn(wav (time,), sample_rate, factor) -> wav``: play ``wav`` ``factor`` times faster at the same rate
    (duration ÷ factor, every frequency × factor), as ``tasnet-edu make-data`` does to training speech."""
    wav = _talk(1.0, 0.0, 0)
    for factor in (0.9, 1.1):
        out = np.asarray(fn(wav, SAMPLE_RATE, factor))
        assert abs(len(out) - len(wav) / factor) <= 2, (
            f"factor {factor}: {len(out)} samples, expected about {len(wav) / factor:.0f}. Hint: read the "
            "samples as if they had been recorded at factor × sample_rate, then resample to sample_rate.")
        pitch = _pitch(out)
        assert abs(pitch - 140 * factor) < 3, (f"factor {factor}: the tone is at {pitch:.0f} Hz, expected "
                                               f"{140 * factor:.0f} Hz (pitch moves with speed here)")
    print("Correct: pitch and tempo move together, like a tape played faster: a new voice per utterance.")
