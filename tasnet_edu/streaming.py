"""Real-time separation: a causal Conv-TasNet run on audio as it arrives, chunk by chunk.

A causal Conv-TasNet (``causal=True, norm="cLN"``) computes frame k from frames 0…k only, so the network
never has to wait for the future: ``StreamingSeparator`` feeds it each new frame once, and between calls
exactly what the next frames need from the past is kept — by this module, then by each layer's stream
(``model.stream()``; a layer's ``stream()`` sits beside its ``forward``):

* the **encoder**'s input overlap: frames of L samples hop by S = L/2, so the last L − S samples (or
  fewer, not yet a whole frame) wait for the next chunk (``StreamingSeparator.pending``);
* each block's **depthwise convolution** history: its (P−1)·d most recent input frames (dilation d);
* each **cLN**'s running sums over time and channels (``CumulativeLayerNorm`` normalises frame k with
  the mean and power of all channels of frames 0…k, so two sums and a count carry the whole past);
* the **decoder**'s overlap-add tail: the last L − S samples of the newest frame, still waiting for the
  next frame's first half.

Nothing of the past is recomputed: a chunk of n frames costs n frames of network (``frames_processed``
counts them) plus a fixed-size copy of each history. The concatenated outputs of ``push`` and ``flush``
equal ``model(x)`` on the whole signal (up to float rounding), because the offline model's left zero
padding is the streams' empty histories and its right padding to whole frames is what ``flush`` adds.

Latency: a sample is final once every frame that covers it is through the network; the last of them ends
fewer than L samples later, so the output lags the input by less than L samples (2 ms for L = 16 at 8 kHz):
the algorithmic latency, to which a real-time system adds the chunk's length and the compute time
(``benchmarks/bench_streaming.py`` measures both).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from tasnet_edu import compiled
from tasnet_edu.errors import CourseError
from tasnet_edu.inference import as_mono, fit_to_mixture
from tasnet_edu.models import ConvTasNet
from tasnet_edu.utils import as_tensor, check_finite


class StreamingSeparator:
    """Separate a stream with a causal Conv-TasNet: ``push`` new samples, get back the final ones.

    Args:
        model: a ``ConvTasNet`` built with ``causal=True, norm="cLN"`` (anything else: ``CourseError``
            naming what looks into the future). Its weights are read in place (views, taken at ``reset``).
        engine: ``"eager"`` runs the PyTorch code, ``model.stream()`` (each layer's own streaming step,
            beside its ``forward`` in ``tasnet_edu.tcn`` and ``tasnet_edu.encoders``); ``"onnx"`` one ONNX
            Runtime graph call per chunk (``compiled.FastStream``: the same state, carried as arrays; a
            snapshot of the weights); ``"auto"`` (default) the ONNX one for a model on the CPU where
            onnxruntime is installed.

    With the paper's symbols: frames of L samples hop by S = L/2; each frame is coded by N filters,
    the bottleneck and TCN (R repeats of X blocks, B/H channels, kernel P, dilations 1 … 2^(X−1)) give
    the masks, and the decoder overlap-adds each source's frames. This class keeps the input that does
    not fill a frame yet and counts samples; the engine's ``step`` runs whole frames through the network.

    Methods (signals are 1-D, at the model's rate; outputs on the model's device):

    * ``push(chunk (samples,)) → (n_src, final_samples)``: any number of new samples, none included;
      returns the samples no later input can change — S per completed frame, so nothing while less than
      one frame has come in, and always fewer than L samples behind the input;
    * ``flush() → (n_src, rest)``: ends the stream, zero-padding the last frame as ``model`` does; all
      outputs together then have exactly as many samples as were pushed;
    * ``reset()``: forget the stream, start a new one.

    ``frames_processed`` counts the frames that went through the network (one per hop of input).

    Threads: chunks of a few frames are too small to share between CPU threads; ``torch.set_num_threads(1)``
    suits them (on a busy 2-core machine, two threads made one-hop chunks ten times slower than one).

    Example:
        >>> model = ConvTasNet.tiny(causal=True, norm="cLN").eval()
        >>> stream = StreamingSeparator(model)
        >>> stream.push(torch.zeros(5)).shape        # less than one frame (L = 16): nothing final yet
        torch.Size([2, 0])
        >>> stream.push(torch.zeros(100)).shape      # 105 samples in: 12 frames, 12 hops of 8 final
        torch.Size([2, 96])
        >>> stream.flush().shape                     # the last 9 samples
        torch.Size([2, 9])
    """

    def __init__(self, model: ConvTasNet, engine: str = "auto"):
        if not isinstance(model, ConvTasNet):
            raise CourseError(f"streaming needs a tasnet_edu ConvTasNet, got a {type(model).__name__}")
        model.check_streamable()
        self.model = model
        self.L, self.S, self.n_src = model.L, model.stride, model.n_src
        self.device = next(model.parameters()).device
        self.network = compiled.stream_for_engine(model, engine, self.device) or model.stream()
        self.reset()

    @property
    def blocks(self) -> list:
        """The eager engine's TCN blocks, as streams, input to output: what each keeps between chunks (its
        depthwise convolution's history of ``.dconv.keep`` frames, its cLNs' sums). The ONNX engine keeps
        them as arrays of one graph instead: ``CourseError``."""
        if isinstance(self.network, compiled.FastStream):
            raise CourseError("the TCN blocks' streams are the eager engine's; the ONNX engine keeps their "
                              "state in one graph (build the StreamingSeparator with engine=\"eager\")")
        return self.network.tcn.block_streams

    def reset(self) -> None:
        """Start a new stream: empty input overlap, zero histories and sums, no decoder tail."""
        self.pending = torch.zeros(0, device=self.device)  # input not yet in a frame
        self.samples_in = self.samples_out = self.frames_processed = 0
        self.ended = False
        self.network.reset()

    @torch.inference_mode()
    def push(self, chunk) -> torch.Tensor:
        """Append ``chunk`` ``(samples,)``; return the newly final separated samples ``(n_src, k·S)``."""
        chunk = self._check_chunk(chunk)
        self.pending = torch.cat([self.pending, chunk])
        self.samples_in += chunk.numel()
        ready = (self.pending.numel() - self.L) // self.S + 1 if self.pending.numel() >= self.L else 0
        return self._frames(ready)

    @torch.inference_mode()
    def flush(self) -> torch.Tensor:
        """End the stream: pad the last frame with zeros (as ``model`` pads its input) and return the rest.

        Returns ``(n_src, samples)``: whatever of the pushed samples was not returned yet. A stream
        shorter than one frame is padded to one (``model`` itself refuses such a short input).
        """
        self._check_open()
        self.ended = True
        if self.samples_in == 0:
            return torch.zeros(self.n_src, 0, device=self.device)
        frames = max(1, -(-(self.samples_in - self.L) // self.S) + 1)  # as encoders.pad_to_frames
        self.pending = F.pad(self.pending, (0, (frames - 1) * self.S + self.L - self.samples_in))
        rest = self.samples_in - self.samples_out
        final = self._frames(frames - self.frames_processed)
        return torch.cat([final, self.network.tail], dim=-1)[:, :rest]

    def _check_open(self) -> None:
        if self.ended:
            raise CourseError("this stream has ended (flush() was called); call reset() to start a new one")

    def _check_chunk(self, chunk) -> torch.Tensor:
        self._check_open()
        chunk = as_tensor(chunk)
        if chunk.dim() != 1:
            raise CourseError(f"push expects a mono chunk shaped (samples,), got shape {tuple(chunk.shape)}")
        check_finite(chunk, "chunk")
        return chunk.to(self.device)

    def _frames(self, n: int) -> torch.Tensor:
        """Run the next ``n`` frames of ``pending`` through the network; ``(n_src, n·S)`` final samples."""
        if n == 0:
            return torch.zeros(self.n_src, 0, device=self.device)
        final = self.network.step(self.pending[: (n - 1) * self.S + self.L])
        self.pending = self.pending[n * self.S:]
        self.frames_processed += n
        self.samples_out += n * self.S
        return final


def stream_chunk_samples(chunk_ms: float, sample_rate: int) -> int:
    """Samples in a streaming chunk of ``chunk_ms`` milliseconds at ``sample_rate`` Hz; at least one."""
    samples = round(chunk_ms * sample_rate / 1000) if math.isfinite(chunk_ms) else 0
    if samples < 1:
        raise CourseError(f"a streaming chunk must hold at least one sample ({1000 / sample_rate:g} ms at "
                          f"{sample_rate} Hz); got {chunk_ms:g} ms")
    return samples


def stream_waveform(wav, stream: StreamingSeparator, *, chunk: int, progress: bool = False,
                    name: str = "input") -> torch.Tensor:
    """Separate a mono waveform as a stream: ``chunk`` samples per ``StreamingSeparator.push``, then flush.

    The model sees the signal as a live input would arrive, and the concatenated stream equals the model on
    the whole signal. Afterwards each source gets the one gain that makes the sources add up to the mixture
    (``fit_to_mixture``, as ``separate_waveform`` fits per chunk; SI-SNR training leaves gain and sign free):
    the one step that reads the whole file, which a live system would fix in advance.

    Args:
        wav: ``(time,)`` at the model's rate;
        stream: the ``StreamingSeparator`` to run it through (``tasnet-edu separate``: one for every file),
            reset first; anything else: ``CourseError``;
        chunk: samples per push (any number ≥ 1; need not be a multiple of the encoder hop);
        progress: a tqdm bar over the chunks; name: how errors and the bar refer to the input.

    Returns:
        ``(n_src, time)`` float32 tensor on the CPU.
    """
    if not isinstance(stream, StreamingSeparator):
        raise CourseError(f"stream_waveform needs a StreamingSeparator (StreamingSeparator(model)), "
                          f"got a {type(stream).__name__}")
    wav = as_mono(wav, name)
    stream.reset()
    starts = range(0, wav.numel(), chunk)
    parts = [stream.push(wav[start:start + chunk]) for start in tqdm(starts, desc=name, unit="chunk",
                                                                      disable=not progress)]
    return fit_to_mixture(torch.cat([*parts, stream.flush()], dim=-1).float().cpu(), wav)
