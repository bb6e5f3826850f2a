"""tasnet_edu.data.speech: espeak-ng voices, disjoint splits, deterministic and sensible synthesis."""

import sys

import librosa
import numpy as np
import pytest

from tasnet_edu.data import speech
from tasnet_edu.errors import CourseError

TEXT = "The boat drifted past the pier."


def median_f0(wav):
    f0 = librosa.yin(wav, fmin=60, fmax=500, sr=8000)
    return float(np.median(f0))


def test_speakers_are_many_unique_and_deterministic():
    all_speakers = speech.list_speakers()
    assert len(all_speakers) >= 200
    assert len({s.name for s in all_speakers}) == len(all_speakers)
    assert speech.list_speakers("test") == speech.list_speakers("test")
    assert {s.dialect for s in all_speakers} == set(speech.DIALECTS)


def test_splits_have_disjoint_speakers_and_voice_variants():
    splits = speech.variant_splits()
    for a in speech.SPLITS:
        for b in speech.SPLITS:
            if a < b:
                assert not set(splits[a]) & set(splits[b]), (a, b)
                names_a = {s.name for s in speech.list_speakers(a)}
                assert not names_a & {s.name for s in speech.list_speakers(b)}
    genders = speech.list_variants()
    for split in ("train", "test"):  # both sexes in training and in the unseen test voices
        assert {genders[v] for v in splits[split]} >= {"male", "female"}
    assert len(splits["train"]) > len(splits["test"]) > 0


def test_unusable_variants_are_left_out():
    variants = speech.list_variants()
    assert "whisper" not in variants and "robosoft3" not in variants  # unvoiced / robotic echo
    assert {"m1", "f1", "klatt"} <= set(variants)


def test_sentences_have_a_licence_and_disjoint_splits():
    header = speech.SENTENCES_FILE.read_text().splitlines()[:3]
    assert any("CC0" in line for line in header)
    sentences = speech.load_sentences()
    assert len(sentences) >= 200 and len(set(sentences)) == len(sentences)
    parts = speech.sentence_splits()
    assert sum(len(v) for v in parts.values()) == len(sentences)
    assert not set(parts["train"]) & set(parts["test"])


def test_synthesize_gives_8khz_float_speech():
    spk = speech.list_speakers("train")[0]
    wav = speech.synthesize(TEXT, spk)
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert np.isfinite(wav).all() and 0.05 < np.abs(wav).max() <= 1.0
    assert 0.8 < len(wav) / 8000 < 5.0
    # 8 kHz output is band-limited: almost no energy piles up at the 4 kHz edge after resampling
    spec = np.abs(np.fft.rfft(wav)) ** 2
    assert spec[-len(spec) // 50:].sum() < 1e-3 * spec.sum()


def test_same_call_same_samples_whatever_came_before():
    spk = speech.Speaker("en-us", "f5")  # a breathy voice: random noise inside espeak
    first = speech.synthesize(TEXT, spk)
    speech.synthesize("Something else entirely, said quickly.", speech.Speaker("en-029", "klatt3", rate=300))
    assert np.array_equal(first, speech.synthesize(TEXT, spk))


def test_prosody_and_timbre_parameters_take_effect():
    low = speech.synthesize(TEXT, speech.Speaker("en-us", "m1", pitch=20))
    high = speech.synthesize(TEXT, speech.Speaker("en-us", "m1", pitch=80))
    assert median_f0(high) > 1.3 * median_f0(low)
    slow = speech.synthesize(TEXT, speech.Speaker("en-us", "m1", rate=120))
    fast = speech.synthesize(TEXT, speech.Speaker("en-us", "m1", rate=220))
    assert len(slow) > 1.4 * len(fast)
    base = speech.synthesize(TEXT, speech.Speaker("en-us", "m1"))
    short = speech.synthesize(TEXT, speech.Speaker("en-us", "m1", vtl=1.1))
    assert abs(len(base) / len(short) - 1.1) < 0.05  # vocal-tract scale: time shrinks by 1/vtl


def test_bad_input_raises_course_error():
    with pytest.raises(CourseError, match="empty"):
        speech.synthesize("  ", speech.list_speakers("test")[0])
    with pytest.raises(CourseError, match="no voice"):
        speech.synthesize(TEXT, speech.Speaker("xx-nonexistent", "m1"))
    with pytest.raises(CourseError, match="split"):
        speech.list_speakers("training")


def test_missing_backend_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # import fails as if not installed
    speech.engine.cache_clear()
    try:
        with pytest.raises(CourseError, match="no speech backend.*pip install espeakng-loader"):
            speech.engine()
    finally:
        speech.engine.cache_clear()
