"""`tasnet_edu.separate` and `tasnet-edu separate`: chunks, alignment, rates, channels, clipping, bad input.

No trained model ships yet, so the separation itself is played by toy separators whose right answer is known:
an exact separator that returns the true sources in a random order on every call (the permutation problem a
PIT-trained model has, chunk by chunk), and a fixed-gain "separator" for the file-level checks.
"""

from __future__ import annotations

import importlib.util
import itertools

import numpy as np
import pytest
import soundfile as sf
import torch
from test_streaming import one_thread  # noqa: F401 (a fixture, for the tests that stream)
from torch import nn

from tasnet_edu import cli, inference, pretrained, separate, streaming
from tasnet_edu.cli import main
from tasnet_edu.data import load_sample_mixture
from tasnet_edu.errors import CourseError
from tasnet_edu.separator import Separator

RATE = 8000


class ShufflingOracle(nn.Module):
    """Knows the mixture and its sources; returns the sources of any chunk, in a random order each call."""

    sample_rate, stride, L, config = RATE, 8, 16, {}

    def __init__(self, mix: torch.Tensor, sources: torch.Tensor, seed: int = 0):
        super().__init__()
        self.mix, self.sources, self.n_src = mix, sources, len(sources)
        self.generator = torch.Generator().manual_seed(seed)
        self.orders: list[list[int]] = []
        self.lengths: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chunk = x[0]
        # The mixture is white noise, so its first sample value locates the chunk.
        (start,) = (self.mix == chunk[0]).nonzero()[0].tolist()
        assert torch.equal(self.mix[start:start + len(chunk)], chunk)
        order = torch.randperm(len(self.sources), generator=self.generator)
        self.orders.append(order.tolist())
        self.lengths.append(len(chunk))
        return self.sources[order, start:start + len(chunk)].unsqueeze(0)


class Gains(nn.Module):
    """A stand-in separator: source k is the mixture times ``gains[k]`` (so every output is predictable)."""

    sample_rate, stride, L, config = RATE, 8, 16, {}

    def __init__(self, *gains: float):
        super().__init__()
        self.gains, self.n_src = torch.tensor(gains).view(1, -1, 1), len(gains)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1) * self.gains


def tone(seconds: float, rate: int, freqs=(220.0, 660.0, 1500.0)) -> np.ndarray:
    """A band-limited test signal (all partials below 4 kHz, so an 8 kHz model rate keeps all of it)."""
    t = np.arange(round(seconds * rate)) / rate
    return (0.2 * sum(np.sin(2 * np.pi * f * t + f) for f in freqs)).astype(np.float32)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


# --- chunking and alignment ---------------------------------------------------------------------------------

@pytest.mark.parametrize("n_src", [2, 3])
def test_chunks_keep_one_speaker_order(n_src):
    gen = torch.Generator().manual_seed(n_src)
    sources = torch.randn(n_src, 10 * RATE + 123, generator=gen)
    # Each source silent for a while, as speakers are, so the alignment must cope with pauses too.
    for k in range(n_src):
        sources[k, (2 + 3 * k) * RATE:(3 + 3 * k) * RATE] = 0
    mix = sources.sum(0)
    oracle = ShufflingOracle(mix, sources, seed=n_src)

    est = inference.separate_waveform(mix, oracle, chunk_seconds=1.5, overlap_seconds=0.5)

    assert len(oracle.orders) > 5 and len({tuple(o) for o in oracle.orders}) > 1  # the order did change
    assert max(oracle.lengths) <= 1.5 * RATE  # memory bounded by the chunk, whatever the file's length
    order = [int(torch.argmax(torch.stack([torch.dot(e, s) for s in sources]))) for e in est]
    assert sorted(order) == list(range(n_src))
    torch.testing.assert_close(est, sources[order], atol=1e-5, rtol=0)


def test_one_chunk_when_short_and_crossfade_sums_to_one():
    mix = torch.randn(3 * RATE)
    model = Gains(0.5, 2.0)
    est = inference.separate_waveform(mix, model, chunk_seconds=4, overlap_seconds=1)
    torch.testing.assert_close(est, torch.stack([0.5 * mix, 2.0 * mix]))
    est = inference.separate_waveform(mix, model, chunk_seconds=0.7, overlap_seconds=0.2)
    torch.testing.assert_close(est, torch.stack([0.5 * mix, 2.0 * mix]), atol=1e-5, rtol=1e-5)


def test_chunk_starts_cover_the_signal_with_full_chunks():
    for length in [100, 101, 250, 999]:
        starts = inference.chunk_starts(length, chunk=100, overlap=30)
        assert starts[0] == 0 and starts[-1] + 100 == max(length, 100)
        assert all(b - a <= 70 for a, b in zip(starts, starts[1:], strict=False))


def test_separating_needs_a_separator(tmp_path):
    """A plain module is refused naming the members it lacks, before any file is read or folder made."""
    lacks = "needs a separator .*Identity lacks sample_rate, n_src, stride, L, config"
    with pytest.raises(CourseError, match=f"separate_waveform {lacks}"):
        inference.separate_waveform(torch.zeros(RATE), nn.Identity())
    with pytest.raises(CourseError, match=f"separate_file {lacks}"):
        separate.separate_file(tmp_path / "missing.wav", nn.Identity(), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_waveform_errors_name_the_input():
    model = Gains(1.0, 1.0)
    with pytest.raises(CourseError, match="clip.wav.*shorter than one frame"):
        inference.separate_waveform(torch.zeros(10), model, name="clip.wav")
    with pytest.raises(CourseError, match="clip.wav has 20 NaN"):
        inference.separate_waveform(torch.tensor([0.0, float("nan")] * 20), model, name="clip.wav")
    with pytest.raises(CourseError, match="overlap"):
        inference.separate_waveform(torch.zeros(RATE), model, chunk_seconds=1, overlap_seconds=1)


# --- files --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [16000, 44100])
def test_resampling_round_trip(tmp_path, rate):
    wav = tone(2.0, rate)
    sf.write(tmp_path / "talk.wav", wav, rate, subtype="FLOAT")
    out = separate.separate_file(tmp_path / "talk.wav", Gains(0.5, 0.25), tmp_path / "out")
    assert [p.name for p in out] == ["talk_s1.wav", "talk_s2.wav"]
    for path, gain in zip(out, (0.5, 0.25), strict=True):
        got, got_rate = sf.read(path, dtype="float32")
        assert got_rate == rate and got.shape == wav.shape
        inner = slice(rate // 10, -rate // 10)  # resampling filters ring at the very ends
        assert corr(got[inner], wav[inner]) > 0.999
        assert np.abs(got[inner]).max() == pytest.approx(gain * np.abs(wav[inner]).max(), rel=0.02)


def test_stereo_int16_input_is_downmixed_with_a_notice(tmp_path):
    left, right = tone(1.0, RATE, (300.0,)), tone(1.0, RATE, (700.0,))
    pcm = (np.stack([left, right], axis=1) * 32767).astype(np.int16)
    sf.write(tmp_path / "duet.wav", pcm, RATE, subtype="PCM_16")
    with pytest.warns(UserWarning, match="duet.wav: 2 channels averaged to mono"):
        out = separate.separate_file(tmp_path / "duet.wav", Gains(1.0, 1.0), tmp_path)
    got, _ = sf.read(out[0], dtype="float32")
    assert np.abs(got - (left + right) / 2).max() < 2e-4  # int16 scaled to [-1, 1], then the mean


def test_separate_files_takes_one_path_alone(tmp_path):
    """One path, a ``str`` or a ``Path``, is one input (not a string of one-letter paths)."""
    sf.write(tmp_path / "a.wav", tone(0.3, RATE), RATE)
    for path in (tmp_path / "a.wav", str(tmp_path / "a.wav")):
        (result,) = separate.separate_files(path, Gains(1.0, 1.0), tmp_path / "out")
        assert result.path == str(tmp_path / "a.wav") and result.error is None
        assert [p.name for p in result.written] == ["a_s1.wav", "a_s2.wav"]


def test_outputs_are_rescaled_together_not_clipped(tmp_path):
    wav = tone(1.0, RATE)
    sf.write(tmp_path / "loud.wav", wav, RATE)
    with pytest.warns(UserWarning, match="loud.wav: the separated sources peak at .* scaled"):
        out = separate.separate_file(tmp_path / "loud.wav", Gains(4.0, 2.0), tmp_path)
    s1, s2 = (sf.read(p, dtype="float32")[0] for p in out)
    assert np.abs(s1).max() == pytest.approx(separate.PEAK, abs=1e-3)
    assert np.abs(s1).max() / np.abs(s2).max() == pytest.approx(2.0, rel=1e-3)  # relative loudness kept
    assert corr(s1, wav) > 0.9999  # scaled, not clipped


# --- the command line ---------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def onnx_cache(tmp_path, monkeypatch):
    """The ONNX engine's exported graphs in the test's own folder, not the user's cache."""
    monkeypatch.setenv("TASNET_EDU_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def separate_only(monkeypatch):
    """The `tasnet-edu` parser with only `separate` (this file tests that sub-command alone)."""
    monkeypatch.setattr(cli, "COMMANDS", {"separate": cli.COMMANDS["separate"]})


@pytest.fixture
def gains_model(monkeypatch, separate_only):
    """`tasnet-edu separate` with a `Gains` model in place of the checkpoint."""
    model = Gains(0.6, 0.4)
    monkeypatch.setattr(pretrained, "load", lambda name, device="cpu", **_: model)
    return model


def bad_inputs(folder) -> dict[str, str]:
    """One file per kind of bad input → a pattern its error line must contain."""
    (folder / "notes.wav").write_text("not audio at all")
    sf.write(folder / "empty.wav", np.zeros(0, np.float32), RATE)
    sf.write(folder / "short.wav", np.zeros(10, np.float32), RATE)
    sf.write(folder / "nan.wav", np.array([0.1, np.nan] * 100, np.float32), RATE, subtype="FLOAT")
    sf.write(folder / "inf.wav", np.array([0.1, np.inf] * 100, np.float32), RATE, subtype="FLOAT")
    return {
        "missing.wav": "no such file", "notes.wav": "not a readable audio file", "empty.wav": "no samples",
        "short.wav": "shorter than one frame", "nan.wav": "NaN or Inf", "inf.wav": "NaN or Inf",
    }


def causal_tiny() -> nn.Module:
    """A tiny causal Conv-TasNet with random weights (fixed seed), as `pretrained.load` returns models."""
    from tasnet_edu.models import ConvTasNet

    torch.manual_seed(0)
    return ConvTasNet.tiny(X=3, R=1, causal=True, norm="cLN", sample_rate=RATE).eval()


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("stream_args", [[], ["--stream-chunk-ms", "8"]], ids=["offline", "streamed"])
def test_cli_reports_each_bad_input_and_still_separates_the_good_ones(tmp_path, gains_model, capsys,
                                                                     monkeypatch, stream_args):
    if stream_args:  # the stand-in separator cannot stream: a causal Conv-TasNet instead
        monkeypatch.setattr(pretrained, "load", lambda name, device="cpu", **_: causal_tiny())
    expected = bad_inputs(tmp_path)
    sf.write(tmp_path / "good.wav", tone(1.0, 16000), 16000)
    sf.write(tmp_path / "also_good.wav", tone(1.0, RATE), RATE)
    names = ["missing.wav", "good.wav", *list(expected)[1:], "also_good.wav"]

    code = main(["separate", *(str(tmp_path / n) for n in names), "-o", str(tmp_path / "out"), *stream_args])

    err = capsys.readouterr().err.splitlines()
    assert code == 1
    for name, pattern in expected.items():
        lines = [line for line in err if name in line]
        assert len(lines) == 1 and "error" in lines[0] and pattern in lines[0], (name, err)
    assert f"{len(expected)} of {len(names)} input(s) failed" in err[-1]
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["also_good_s1.wav", "also_good_s2.wav", "good_s1.wav", "good_s2.wav"]
    assert sf.info(tmp_path / "out" / "good_s1.wav").samplerate == 16000


def test_cli_success_exit_zero_and_notices(tmp_path, gains_model, capsys):
    sf.write(tmp_path / "st.wav", np.stack([tone(0.5, RATE)] * 2, axis=1), RATE)
    assert main(["separate", str(tmp_path / "st.wav"), "-o", str(tmp_path / "new" / "dir")]) == 0
    out = capsys.readouterr()
    assert "notice:" in out.err and "2 channels averaged to mono" in out.err
    assert "st_s1.wav" in out.out and (tmp_path / "new" / "dir" / "st_s2.wav").is_file()


def test_cli_unwritable_outdir(tmp_path, gains_model, capsys):
    sf.write(tmp_path / "a.wav", tone(0.5, RATE), RATE)
    (tmp_path / "taken").write_text("a file, not a folder")
    assert main(["separate", str(tmp_path / "a.wav"), "-o", str(tmp_path / "taken")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "taken" in err[0] and "not writable" in err[0]


def test_cli_same_stem_twice_is_refused_not_overwritten(tmp_path, gains_model, capsys):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        sf.write(tmp_path / sub / "x.wav", tone(0.5, RATE), RATE)
    inputs = [str(tmp_path / sub / "x.wav") for sub in ("a", "b")]
    code = main(["separate", *inputs, "-o", str(tmp_path)])
    assert code == 1 and "would overwrite" in capsys.readouterr().err
    assert (tmp_path / "x_s1.wav").is_file()


def test_cli_with_a_real_checkpoint_end_to_end(tmp_path, separate_only, capsys):
    """A random-weight tiny Conv-TasNet saved by the trainer: a 44.1 kHz stereo int16 file in, in chunks."""
    from test_pretrained import write_checkpoint

    from tasnet_edu.models import ConvTasNet

    torch.manual_seed(0)
    checkpoint = write_checkpoint(tmp_path / "tiny.pt", ConvTasNet.tiny(X=2, R=1))
    pcm = (np.stack([tone(3.0, 44100)] * 2, axis=1) * 20000).astype(np.int16)
    sf.write(tmp_path / "song.wav", pcm, 44100, subtype="PCM_16")

    code = main(["separate", str(tmp_path / "song.wav"), "-o", str(tmp_path / "out"), "--checkpoint",
                 str(checkpoint), "--chunk-seconds", "1", "--overlap-seconds", "0.25"])

    assert code == 0, capsys.readouterr().err
    for k in (1, 2):
        info = sf.info(tmp_path / "out" / f"song_s{k}.wav")
        assert info.samplerate == 44100 and info.frames == len(pcm) and info.channels == 1


def test_cli_uses_the_shipped_model_by_default(tmp_path, capsys):
    sf.write(tmp_path / "a.wav", tone(0.5, RATE), RATE)
    code = main(["separate", str(tmp_path / "a.wav"), "-o", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_s1.wav", "a_s2.wav"]


def test_short_file_is_measured_at_its_own_rate(tmp_path):
    sf.write(tmp_path / "blip.wav", np.full(80, 0.1, np.float32), 44100)  # 1.8 ms < one 2 ms frame
    with pytest.raises(CourseError, match=r"blip.wav: 80 sample\(s\) at 44100 Hz \(1.81 ms\) is shorter"):
        separate.separate_file(tmp_path / "blip.wav", Gains(1.0, 1.0), tmp_path)
    sf.write(tmp_path / "ok.wav", np.full(100, 0.1, np.float32), 44100)  # 2.3 ms: one frame at 8 kHz
    assert sf.info(separate.separate_file(tmp_path / "ok.wav", Gains(1.0, 1.0), tmp_path)[0]).frames == 100


def test_fit_to_mixture_undoes_the_gain_and_sign_that_si_snr_ignores():
    g = torch.Generator().manual_seed(0)
    sources = torch.randn(2, 4000, generator=g)
    mix = sources.sum(0)
    scrambled = sources * torch.tensor([[80.0], [-60.0]])  # as a model trained on SI-SNR may return them
    torch.testing.assert_close(inference.fit_to_mixture(scrambled, mix), sources, atol=1e-4, rtol=1e-4)
    copies = torch.stack([mix, 0.5 * mix])                   # the split between copies is undetermined
    assert torch.equal(inference.fit_to_mixture(copies, mix), copies)
    silent = torch.stack([mix, torch.zeros(4000)])
    assert torch.equal(inference.fit_to_mixture(silent, mix), silent)


# --- shift averaging ----------------------------------------------------------------------------------------

def low_and_rest(x: torch.Tensor) -> torch.Tensor:
    """``(batch, time)`` → ``(batch, 2, time)``: a causal 8-sample moving average of ``x``, and the rest."""
    low = nn.functional.avg_pool1d(nn.functional.pad(x, (7, 0)).unsqueeze(1), 8, stride=1)[:, 0]
    return torch.stack([low, x - low], dim=1)


class LowHighShuffler(nn.Module):
    """A time-invariant two-way split (a causal moving average and the rest), returned in a random order
    and at a random gain and sign on each call: delaying its input only delays its output. A ``Separator``."""

    sample_rate, n_src, stride, L, config = RATE, 2, 8, 16, {}

    def __init__(self, seed: int = 0):
        super().__init__()
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        est = low_and_rest(x)[:, torch.randperm(2, generator=self.generator)]
        return est * (torch.rand(2, 1, generator=self.generator) + 0.5) * torch.tensor([[1.0], [-1.0]])


def test_shift_average_undoes_each_delay_order_and_gain():
    mix = torch.randn(3, 4000, generator=torch.Generator().manual_seed(0))
    model = LowHighShuffler()
    averaged = inference.ShiftAverage(model, 4)
    assert averaged.delays == [0, 2, 4, 6] and isinstance(averaged, Separator)
    assert (averaged.sample_rate, averaged.n_src, averaged.stride, averaged.L) == (RATE, 2, 8, 16)

    est = averaged(mix)

    for e, t in zip(est, low_and_rest(mix), strict=True):  # the first pass's order, whichever it was
        assert torch.allclose(e, t, atol=1e-4) or torch.allclose(e, t.flip(0), atol=1e-4)


def test_shift_average_of_a_conv_tasnet():
    from tasnet_edu.models import ConvTasNet

    torch.manual_seed(0)
    model = ConvTasNet.tiny(X=2, R=1).eval()
    mix = torch.randn(2, 1001)
    with torch.no_grad():
        one, four = inference.ShiftAverage(model, 1)(mix), inference.ShiftAverage(model, 8)(mix)
        alone = model(mix)
    assert four.shape == (2, 2, 1001) and torch.isfinite(four).all()
    for o, a, m in zip(one, alone, mix, strict=True):  # one pass: the model, scaled to rebuild the mix
        assert torch.allclose(o, inference.fit_to_mixture(a, m), atol=1e-5)
    assert not torch.allclose(four, one, atol=1e-3)  # other frame positions give other estimates


@pytest.mark.parametrize("shifts", [0, 9])
def test_shift_average_refuses_shifts_outside_one_hop(shifts):
    with pytest.raises(CourseError, match=r"between 1 and the model's hop \(8 samples\)"):
        inference.ShiftAverage(LowHighShuffler(), shifts)


def test_shift_average_needs_a_separator():
    with pytest.raises(CourseError, match="shift averaging needs a separator .*Identity lacks sample_rate"):
        inference.ShiftAverage(nn.Identity(), 2)


def test_cli_shifts(tmp_path, separate_only, capsys):
    from test_pretrained import write_checkpoint

    from tasnet_edu.models import ConvTasNet

    torch.manual_seed(0)
    checkpoint = write_checkpoint(tmp_path / "tiny.pt", ConvTasNet.tiny(X=2, R=1))
    sf.write(tmp_path / "a.wav", tone(1.0, RATE), RATE)
    args = ["separate", str(tmp_path / "a.wav"), "--checkpoint", str(checkpoint)]
    assert main([*args, "-o", str(tmp_path / "one")]) == 0
    assert main([*args, "-o", str(tmp_path / "four"), "--shifts", "4"]) == 0
    one, four = sf.read(tmp_path / "one" / "a_s1.wav")[0], sf.read(tmp_path / "four" / "a_s1.wav")[0]
    assert one.shape == four.shape and not np.allclose(one, four)
    assert main([*args, "-o", str(tmp_path / "bad"), "--shifts", "0"]) == 1
    assert "shifts must be between 1 and the model's hop (8 samples), got 0" in capsys.readouterr().err


def test_cli_engines_write_the_same_files(tmp_path, separate_only, capsys):
    """``--engine onnx`` (ONNX Runtime) and ``--engine eager`` (PyTorch) separate alike; ``auto`` picks
    onnx for a Conv-TasNet and says what its export cost; a model it cannot run is refused in one line."""
    from test_pretrained import write_checkpoint

    from tasnet_edu.models import ConvTasNet

    torch.manual_seed(0)
    checkpoint = write_checkpoint(tmp_path / "tiny.pt", ConvTasNet.tiny(X=2, R=1))
    sf.write(tmp_path / "a.wav", tone(1.0, RATE), RATE)
    args = ["separate", str(tmp_path / "a.wav"), "--checkpoint", str(checkpoint), "--chunk-seconds", "0.5",
            "--overlap-seconds", "0.2"]
    written = {}
    for engine in ("eager", "onnx", "auto"):
        assert main([*args, "-o", str(tmp_path / engine), "--engine", engine]) == 0
        written[engine] = sf.read(tmp_path / engine / "a_s1.wav", dtype="float32")[0]
        assert ("ONNX Runtime engine ready" in capsys.readouterr().err) == (engine != "eager")
    np.testing.assert_allclose(written["onnx"], written["eager"], atol=1e-4)
    np.testing.assert_array_equal(written["auto"], written["onnx"])
    assert main(["separate", str(tmp_path / "a.wav"), "-o", str(tmp_path / "dc"), "--checkpoint",
                 "deep-clustering", "--engine", "onnx"]) == 1
    assert "the ONNX engine runs a ConvTasNet on the CPU; this is a DeepClustering" in capsys.readouterr().err


# --- streaming: --stream-chunk-ms ---------------------------------------------------------------------------

@pytest.mark.usefixtures("one_thread")
def test_cli_stream_writes_what_offline_separation_writes(tmp_path, separate_only, capsys):
    """A causal checkpoint, a 1.5 s mixture fed 2.5 ms (20 samples, 2.5 hops) at a time, on either engine:
    the same files as the offline path (one chunk: the file is shorter than --chunk-seconds), and as the
    model on the file."""
    from test_pretrained import write_checkpoint

    checkpoint = write_checkpoint(tmp_path / "causal.pt", causal_tiny())
    mix = load_sample_mixture(0)[0][:12000]
    sf.write(tmp_path / "talk.wav", mix.numpy(), RATE, subtype="FLOAT")
    args = ["separate", str(tmp_path / "talk.wav"), "--checkpoint", str(checkpoint)]

    engines = ["eager", "onnx"] if importlib.util.find_spec("onnxruntime") else ["eager"]
    runs = {"offline": [], **{e: ["--stream-chunk-ms", "2.5", "--engine", e] for e in engines}}
    for out, extra in runs.items():
        assert main([*args, "-o", str(tmp_path / out), *extra]) == 0
        err = capsys.readouterr().err
        assert ("ONNX Runtime streaming engine ready" in err) == (out == "onnx"), err

    with torch.inference_mode():
        expected = inference.fit_to_mixture(pretrained.load(checkpoint)(mix[None])[0], mix).numpy()
    for k, engine in itertools.product((1, 2), engines):
        offline, streamed = (sf.read(tmp_path / d / f"talk_s{k}.wav", dtype="float32")[0]
                             for d in ("offline", engine))
        assert np.abs(streamed - offline).max() <= 1e-4
        assert np.abs(streamed - expected[k - 1]).max() <= 1e-4  # 16-bit files: within 1.5e-5 of it


def test_cli_stream_refuses_a_non_causal_checkpoint_in_one_line(tmp_path, separate_only, capsys):
    from test_pretrained import write_checkpoint

    from tasnet_edu.models import ConvTasNet

    checkpoint = write_checkpoint(tmp_path / "tiny.pt", ConvTasNet.tiny(X=2, R=1))
    for name in ("a.wav", "b.wav"):
        sf.write(tmp_path / name, tone(0.5, RATE), RATE)
    code = main(["separate", str(tmp_path / "a.wav"), str(tmp_path / "b.wav"), "-o", str(tmp_path / "out"),
                 "--checkpoint", str(checkpoint), "--stream-chunk-ms", "4"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith("tasnet-edu separate: error: streaming needs a causal Conv-TasNet")
    assert "into the future" in err[0] and "gLN" in err[0]
    assert not any((tmp_path / "out").iterdir())


ONE_SAMPLE = "a streaming chunk must hold at least one sample (0.125 ms at 8000 Hz)"


@pytest.mark.parametrize("args, message", [
    (["--stream-chunk-ms", "0"], f"{ONE_SAMPLE}; got 0 ms"),
    (["--stream-chunk-ms", "0.05"], f"{ONE_SAMPLE}; got 0.05 ms"),
    (["--stream-chunk-ms", "-3"], f"{ONE_SAMPLE}; got -3 ms"),
    (["--stream-chunk-ms", "nan"], f"{ONE_SAMPLE}; got nan ms"),
    (["--stream-chunk-ms", "4", "--shifts", "2"], "use --shifts or --stream-chunk-ms, not both"),
])
def test_cli_stream_bad_settings_in_one_line(tmp_path, separate_only, monkeypatch, capsys, args, message):
    monkeypatch.setattr(pretrained, "load", lambda name, device="cpu", **_: causal_tiny())
    sf.write(tmp_path / "a.wav", tone(0.5, RATE), RATE)
    assert main(["separate", str(tmp_path / "a.wav"), "-o", str(tmp_path / "out"), *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


@pytest.mark.usefixtures("one_thread")
def test_cli_stream_builds_one_stream_and_resets_it_for_each_file(tmp_path, separate_only, monkeypatch,
                                                                  capsys):
    """The engine is decided and the stream built once per call (and said once), then reset for each file:
    three copies of one file give three equal outputs."""
    monkeypatch.setattr(pretrained, "load", lambda name, device="cpu", **_: causal_tiny())
    built, init = [], streaming.StreamingSeparator.__init__
    monkeypatch.setattr(streaming.StreamingSeparator, "__init__",
                        lambda self, *args, **kwargs: built.append(args) or init(self, *args, **kwargs))
    names = ["a.wav", "b.wav", "c.wav"]
    for name in names:
        sf.write(tmp_path / name, tone(0.3, RATE), RATE)
    engine = "onnx" if importlib.util.find_spec("onnxruntime") else "eager"

    assert main(["separate", *(str(tmp_path / n) for n in names), "-o", str(tmp_path / "out"),
                 "--stream-chunk-ms", "4", "--engine", engine]) == 0

    assert len(built) == 1
    assert capsys.readouterr().err.count("ONNX Runtime streaming engine ready") == (engine == "onnx")
    first, *others = (sf.read(tmp_path / "out" / f"{n[0]}_s1.wav", dtype="float32")[0] for n in names)
    for other in others:
        np.testing.assert_array_equal(other, first)


def test_separate_file_streams_through_a_stream_only(tmp_path):
    sf.write(tmp_path / "a.wav", tone(0.3, RATE), RATE)
    path, stream = tmp_path / "a.wav", streaming.StreamingSeparator(causal_tiny(), "eager")
    with pytest.raises(CourseError, match="stream_chunk_ms streams the file: pass a StreamingSeparator"):
        separate.separate_file(path, Gains(1.0, 1.0), tmp_path, stream_chunk_ms=4)
    with pytest.raises(CourseError, match="a StreamingSeparator needs stream_chunk_ms"):
        separate.separate_file(path, stream, tmp_path)
