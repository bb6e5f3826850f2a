"""`tasnet_edu.streaming`: a causal Conv-TasNet streamed chunk by chunk equals the model on the whole signal.

The mixture is the committed data sample 0 (4.3 s at 8 kHz); streams of many small chunks use its first
quarter second to stay fast. The equality is checked to 1e-4, as the issue asks (it holds to ~1e-6).
"""

from __future__ import annotations

import doctest
import importlib.util

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from tasnet_edu import compiled, pretrained, streaming
from tasnet_edu.data import load_sample_mixture
from tasnet_edu.errors import CourseError
from tasnet_edu.models import ConvTasNet
from tasnet_edu.streaming import StreamingSeparator

HOP = 8  # L = 16 samples, hop L/2


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread: chunks of a few frames are too small to share between threads, and on a busy
    machine OpenMP's waiting threads made them ten times slower instead (2 cores, other jobs running)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module", autouse=True)
def onnx_cache(tmp_path_factory):
    """The ONNX engine's exported graphs in a folder of the tests' own, not the user's cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TASNET_EDU_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


ENGINES = ["eager", pytest.param("onnx", marks=pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("onnxruntime", "onnx")), reason="needs onnxruntime, onnx"))]


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    """Each stream test on both engines: the PyTorch code and one ONNX Runtime graph call per chunk."""
    return request.param


@pytest.fixture(scope="module")
def model() -> ConvTasNet:
    """A small causal Conv-TasNet, random weights (fixed seed): dilations up to 16, 2 repeats; norm
    gains, biases and PReLU slopes moved off their initial 1 / 0 / 0.25, so that the ONNX graph's folding
    of them is tested."""
    torch.manual_seed(0)
    model = ConvTasNet(N=32, L=16, B=16, H=32, Sc=16, P=3, X=5, R=2, causal=True, norm="cLN")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or "prelu" in name or "bottleneck.0" in name or "mask_conv.0" in name:
                p.add_(0.3 * torch.randn_like(p))
    return model.eval()


@pytest.fixture(scope="module")
def mix() -> torch.Tensor:
    return load_sample_mixture(0)[0]


def stream(separator: StreamingSeparator, signal: torch.Tensor, sizes) -> torch.Tensor:
    """Push ``signal`` in chunks of ``sizes`` (cycled), then flush; the outputs concatenated.

    Also checks that each push returns only what is final: never more than was pushed, and never L or more
    samples behind the input.
    """
    separator.reset()
    outs, start, k = [], 0, 0
    while start < len(signal):
        size = sizes[k % len(sizes)]
        outs.append(separator.push(signal[start:start + size]))
        start, k = start + size, k + 1
        returned = sum(o.shape[-1] for o in outs)
        assert min(start, len(signal)) - separator.L < returned <= start
    outs.append(separator.flush())
    return torch.cat(outs, dim=-1)


def offline(model: ConvTasNet, signal: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(signal[None])[0]


RANDOM_SIZES = torch.randint(0, 600, (40,), generator=torch.Generator().manual_seed(1)).tolist()


@pytest.mark.parametrize("sizes, seconds", [
    ([HOP], 0.25),              # one encoder hop per push
    ([7], 0.25),                # a prime number of samples, less than a hop: pushes often return nothing
    ([101], None),              # a prime larger than a hop, not a multiple of it
    ([10**6], None),            # one big chunk: the whole signal at once
    (RANDOM_SIZES, None),       # a random mix of sizes, zero included
], ids=["one-hop", "prime-7", "prime-101", "one-big-chunk", "random-mix"])
def test_stream_equals_offline(model, mix, sizes, seconds, engine):
    signal = mix if seconds is None else mix[: int(seconds * 8000)]
    out = stream(StreamingSeparator(model, engine), signal, sizes)
    assert out.shape == (2, len(signal))
    torch.testing.assert_close(out, offline(model, signal), atol=1e-4, rtol=0)


def test_shipped_causal_model_streams_like_offline(mix, engine):
    """Within 1e-5 of the output's peak: the shipped model's outputs have no fixed scale (peaks of 60–220 on
    the data samples; SI-SNR ignores scale), so an absolute tolerance would measure the scale, not the
    stream (float32 rounding leaves ~1e-7 of the peak)."""
    model = pretrained.load("course-small-causal")
    out, reference = stream(StreamingSeparator(model, engine), mix, RANDOM_SIZES), offline(model, mix)
    torch.testing.assert_close(out, reference, atol=1e-5 * float(reference.abs().max()), rtol=0)


def test_softmax_masks_and_an_odd_frame_length_stream_too(mix, engine):
    torch.manual_seed(0)
    model = ConvTasNet(N=16, L=15, B=8, H=16, Sc=8, P=2, X=3, R=1, causal=True, norm="cLN",
                       mask_act="softmax").eval()  # hop 7, overlap 8 samples, kernel P = 2
    signal = mix[:3001]
    out = stream(StreamingSeparator(model, engine), signal, [5, 31])
    torch.testing.assert_close(out, offline(model, signal), atol=1e-4, rtol=0)


@pytest.mark.parametrize("config, pattern", [
    (dict(), r"causal=False, norm='gLN': its centred depthwise convolutions look 254 frames \(254 ms\) "
             r"into the future; gLN normalises every frame with statistics of the whole utterance"),
    (dict(norm="cLN"), r"causal=False, norm='cLN': its centred depthwise convolutions look .* future"),
    (dict(causal=True, norm="BN"), r"norm='BN' is not streamed here"),
])
def test_non_causal_models_are_refused_saying_why(config, pattern):
    with pytest.raises(CourseError, match=pattern) as refused:
        StreamingSeparator(ConvTasNet.tiny(**config))
    assert str(refused.value).startswith("streaming needs a causal Conv-TasNet (causal=True, norm='cLN'); ")


def test_other_models_are_refused():
    with pytest.raises(CourseError, match="streaming needs a tasnet_edu ConvTasNet, got a Identity"):
        StreamingSeparator(torch.nn.Identity())


def test_work_per_chunk_does_not_grow_with_the_stream(model):
    """The 1000th chunk costs what the 10th did: the same frames through the network, the same FLOPs
    (counted on the eager engine, whose operations torch sees)."""
    separator = StreamingSeparator(model, engine="eager")
    chunks = torch.randn(1000, HOP, generator=torch.Generator().manual_seed(0))
    frames, flops = [], []
    for i, chunk in enumerate(chunks, start=1):
        before = separator.frames_processed
        if i in (10, 1000):
            with FlopCounterMode(display=False) as counter:
                separator.push(chunk)
            flops.append(counter.get_total_flops())
        else:
            separator.push(chunk)
        frames.append(separator.frames_processed - before)
    assert frames[0] == 0 and set(frames[1:]) == {1}  # the first hop is half a frame; then one frame a hop
    assert flops[0] == flops[1] > 0


def test_eager_blocks_keep_the_receptive_field_less_one_frame(model):
    """Each block's stream keeps its depthwise convolution's last (P−1)·d frames (chapter 07 draws them)."""
    kept = [block.dconv.keep for block in StreamingSeparator(model, engine="eager").blocks]
    assert kept == [2 * 2 ** (i % 5) for i in range(10)] and sum(kept) + 1 == model.tcn.receptive_field


@pytest.mark.parametrize("engine", ENGINES[1:])
def test_onnx_engine_has_no_eager_blocks(model, engine):
    with pytest.raises(CourseError, match=r"blocks' streams are the eager engine's.*engine=\"eager\""):
        _ = StreamingSeparator(model, engine).blocks


@pytest.mark.parametrize("engine", ENGINES[1:])
def test_onnx_engine_state_does_not_grow_with_the_stream(model, engine):
    """The ONNX engine's state (decoder tail, cLN sums, depthwise histories) keeps its shapes: each call
    reads and writes the same arrays, whatever the stream's length."""
    separator = StreamingSeparator(model, engine)
    fast = separator.network
    assert isinstance(fast, compiled.FastStream)
    shapes = []
    for i, chunk in enumerate(torch.randn(1000, HOP, generator=torch.Generator().manual_seed(0)), start=1):
        separator.push(chunk)
        if i in (10, 1000):
            shapes.append({name: array.shape for name, array in fast.state.items()})
    assert shapes[0] == shapes[1] and len(shapes[0]) == 2 + 2 * 5  # tail, sums, R·X histories
    assert fast.frames == separator.frames_processed == 999


def test_stream_waveform_takes_a_stream_only(model, mix):
    """``stream_waveform`` runs a ``StreamingSeparator`` (reset first); a bare model is refused."""
    separator = StreamingSeparator(model, engine="eager")
    separator.push(mix[:100])  # a stream left half-way: reset before the waveform
    first = streaming.stream_waveform(mix[:2000], separator, chunk=37)
    assert first.shape == (2, 2000)
    assert torch.equal(streaming.stream_waveform(mix[:2000], separator, chunk=37), first)  # flushed, reset
    with pytest.raises(CourseError, match="stream_waveform needs a StreamingSeparator .*got a ConvTasNet"):
        streaming.stream_waveform(mix[:2000], model, chunk=37)


def test_unknown_engine_is_refused(model):
    with pytest.raises(CourseError, match=r"engine must be one of \('auto', 'onnx', 'eager'\), got 'fast'"):
        StreamingSeparator(model, "fast")


def test_reset_starts_the_same_stream_again(model, mix, engine):
    separator = StreamingSeparator(model, engine)
    first = stream(separator, mix[:2000], [37])
    separator.reset()
    separator.push(mix[2000:2500])        # a different stream, abandoned half-way
    assert torch.equal(stream(separator, mix[:2000], [37]), first)  # `stream` resets first


def test_ends_and_bad_chunks(model, engine):
    separator = StreamingSeparator(model, engine)
    assert separator.flush().shape == (2, 0)  # an empty stream
    with pytest.raises(CourseError, match=r"this stream has ended \(flush\(\) was called\); call reset\(\)"):
        separator.push(torch.zeros(4))
    separator.reset()
    assert separator.push(torch.zeros(5)).shape == (2, 0)
    assert separator.flush().shape == (2, 5)  # shorter than one frame: padded to one, trimmed back
    separator.reset()
    with pytest.raises(CourseError, match=r"push expects a mono chunk shaped \(samples,\), got shape \(2, 8"):
        separator.push(torch.zeros(2, 8))
    with pytest.raises(CourseError, match="chunk has 1 NaN/Inf value"):
        separator.push(torch.tensor([0.0, float("nan")]))


def test_docstring_example_runs():
    assert doctest.testmod(streaming, raise_on_error=True).attempted == 5
