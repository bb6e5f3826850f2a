"""tasnet_edu.audio: mono float32 in, atomic and never-clipped files out, CourseError on bad files."""

import numpy as np
import pytest
import soundfile as sf
import torch

from tasnet_edu import audio
from tasnet_edu.errors import CourseError


def tone(freq=440.0, sr=8000, seconds=0.5, amp=0.5):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_freq(x, sr):
    spec = np.abs(np.fft.rfft(x))
    return np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spec)]


def test_round_trip_within_one_16_bit_step(tmp_path):
    x = tone()
    audio.save(tmp_path / "a.wav", x, 8000)
    y, sr = audio.load(tmp_path / "a.wav")
    assert sr == 8000 and y.dtype == np.float32 and y.shape == x.shape
    assert np.abs(x - y).max() <= 1 / 32768


def test_int16_is_written_verbatim_and_tensor_accepted(tmp_path):
    q = np.array([-32768, -1, 0, 1, 32767, 1234], dtype=np.int16)
    audio.save(tmp_path / "q.wav", q, 8000)
    assert np.array_equal(sf.read(tmp_path / "q.wav", dtype="int16")[0], q)
    audio.save(tmp_path / "t.wav", torch.from_numpy(tone()), 8000)
    assert audio.load(tmp_path / "t.wav")[1] == 8000


def test_load_resamples_and_keeps_pitch(tmp_path):
    sf.write(tmp_path / "hi.wav", tone(sr=16000, seconds=1.0), 16000)
    y, sr = audio.load(tmp_path / "hi.wav", sample_rate=8000)
    assert sr == 8000 and len(y) == 8000
    assert abs(dominant_freq(y, 8000) - 440) < 2
    assert abs(dominant_freq(audio.resample(y, 8000, 22050), 22050) - 440) < 2


def test_int_and_float_files_give_the_same_signal(tmp_path):
    x = tone()
    sf.write(tmp_path / "i.wav", x, 8000, subtype="PCM_24")
    sf.write(tmp_path / "f.wav", x, 8000, subtype="FLOAT")
    a, b = audio.load(tmp_path / "i.wav")[0], audio.load(tmp_path / "f.wav")[0]
    assert np.abs(a - b).max() < 1e-6


def test_stereo_is_downmixed_with_a_warning_naming_the_file(tmp_path):
    x = tone()
    sf.write(tmp_path / "st.wav", np.stack([x, 0 * x], axis=1), 8000)
    with pytest.warns(UserWarning, match="st.wav.*2 channels"):
        y, _ = audio.load(tmp_path / "st.wav")
    assert y.ndim == 1 and np.allclose(y, x / 2, atol=1e-4)


@pytest.mark.parametrize("case", ["missing", "not audio", "empty", "nan"])
def test_bad_files_raise_course_error_naming_the_file(tmp_path, case):
    path = tmp_path / f"{case.replace(' ', '_')}.wav"
    if case == "not audio":
        path.write_text("this is text, not a WAV file")
    elif case == "empty":
        sf.write(path, np.zeros(0, np.float32), 8000)
    elif case == "nan":
        sf.write(path, np.array([0.1, np.nan, 0.2], np.float32), 8000, subtype="FLOAT")
    with pytest.raises(CourseError, match=path.name):
        audio.load(path)


def test_save_refuses_nan_and_leaves_nothing(tmp_path):
    with pytest.raises(CourseError, match="NaN"):
        audio.save(tmp_path / "bad.wav", np.array([0.0, np.inf], np.float32), 8000)
    assert list(tmp_path.iterdir()) == []


def test_save_rescales_instead_of_clipping(tmp_path):
    x = tone(amp=3.0)
    with pytest.warns(UserWarning, match="clip"):
        audio.save(tmp_path / "loud.wav", x, 8000)
    y, _ = audio.load(tmp_path / "loud.wav")
    assert 0.98 < np.abs(y).max() <= 1.0
    assert np.corrcoef(x, y)[0, 1] > 0.9999  # the shape is kept: a rescale, not a clip


def test_save_errors_for_unwritable_places_and_bad_shapes(tmp_path):
    with pytest.raises(CourseError, match="does not exist"):
        audio.save(tmp_path / "no" / "a.wav", tone(), 8000)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CourseError):
        audio.save(blocker / "a.wav", tone(), 8000)
    with pytest.raises(CourseError, match="shape"):
        audio.save(tmp_path / "st.wav", np.zeros((2, 10), np.float32), 8000)
    with pytest.raises(CourseError, match="positive"):
        audio.resample(tone(), 0, 8000)


def test_atomic_write_leaves_only_the_target(tmp_path):
    audio.save(tmp_path / "a.wav", tone(), 8000)
    audio.save(tmp_path / "a.wav", tone(220), 8000)  # overwrite in place
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]
    assert abs(dominant_freq(audio.load(tmp_path / "a.wav")[0], 8000) - 220) < 3
