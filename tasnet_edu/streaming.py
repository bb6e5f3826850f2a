"""Real-time separation: a causal Conv-TasNet run on audio as it arrives, chunk by chunk.

A causal Conv-TasNet (``causal=True, norm="cLN"``) computes frame k from frames 0…k only, so the network
never has to wait for the future: ``StreamingSeparator`` feeds it each new frame once and keeps, between
calls, exactly what the next frames need from the past:

* the **encoder**'s input overlap: frames of L samples hop by S = L/2, so the last L − S samples (or
  fewer, not yet a whole frame) wait for the next chunk;
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

from tasnet_edu import SAMPLE_RATE, compiled
from tasnet_edu.errors import CourseError
from tasnet_edu.inference import as_mono, fit_to_mixture
from tasnet_edu.models import ConvTasNet
from tasnet_edu.tcn import Conv1DBlock, CumulativeLayerNorm
from tasnet_edu.utils import as_tensor, check_finite


def check_streamable(model) -> None:
    """Raise ``CourseError`` saying why, unless ``model`` is a causal, cLN ``ConvTasNet``.

    A non-causal model cannot stream: its centred depthwise convolutions need future frames, and gLN
    normalises every frame with the statistics of the whole utterance, so no output would be final before
    the input ends.
    """
    if not isinstance(model, ConvTasNet):
        raise CourseError(f"streaming needs a tasnet_edu ConvTasNet, got a {type(model).__name__}")
    c = model.config
    if c["causal"] and c["norm"] == "cLN":
        return
    why = []
    if not c["causal"]:
        ahead = c["R"] * (c["P"] - 1 - (c["P"] - 1) // 2) * (2 ** c["X"] - 1)  # future taps of every block
        ms = 1000 * ahead * model.stride / getattr(model, "sample_rate", SAMPLE_RATE)
        why.append(f"its centred depthwise convolutions look {ahead} frames ({ms:.0f} ms) into the future")
    if c["norm"] == "gLN":
        why.append("gLN normalises every frame with statistics of the whole utterance, future included")
    elif c["norm"] != "cLN":
        why.append(f"norm={c['norm']!r} is not streamed here (only cLN's running statistics are)")
    raise CourseError(f"streaming needs a causal Conv-TasNet (causal=True, norm='cLN'); this one has "
                      f"causal={c['causal']}, norm={c['norm']!r}: {'; '.join(why)}")


class _Pointwise:
    """A 1×1 ``Conv1d`` as one matrix product on ``(channels, n)`` frames (the same numbers, a fraction of
    ``conv1d``'s CPU overhead when n is one frame). Shapes: ``(in, n) → (out, n)``."""

    def __init__(self, conv: torch.nn.Conv1d):
        self.weight, self.bias = conv.weight[:, :, 0], conv.bias[:, None]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, self.weight, x)


class _RunningCLN:
    """``CumulativeLayerNorm`` over a stream: its cumulative sums carried from one chunk to the next.

    Shapes: ``(channels, n) → (channels, n)`` for the next n frames.
    """

    def __init__(self, norm: CumulativeLayerNorm, device: torch.device):
        self.eps, self.weight, self.bias = norm.eps, norm.weight[:, None], norm.bias[:, None]
        self.acc = torch.float32 if device.type == "mps" else torch.float64  # as CumulativeLayerNorm
        self.total = torch.zeros((), dtype=self.acc, device=device)     # Σ over channels and frames so far
        self.total_sq = torch.zeros((), dtype=self.acc, device=device)  # Σ of squares, likewise
        self.frames = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        channels, n = x.shape
        total = x.sum(0, dtype=self.acc).cumsum(0) + self.total
        total_sq = x.square().sum(0, dtype=self.acc).cumsum(0) + self.total_sq
        count = channels * torch.arange(self.frames + 1, self.frames + n + 1, device=x.device, dtype=self.acc)
        self.total, self.total_sq, self.frames = total[-1], total_sq[-1], self.frames + n
        mean = total / count
        inv_std = torch.rsqrt((total_sq / count - mean.square()).clamp_min(0) + self.eps)
        y = (x - mean.to(x.dtype)) * inv_std.to(x.dtype)
        return torch.addcmul(self.bias, y, self.weight)


class _DilatedHistory:
    """A causal depthwise convolution over a stream: the last (P−1)·d input frames are kept.

    Output frame t reads input frames t − (P−1)·d, …, t − d, t (tap p at t − (P−1−p)·d). With the history
    in front of the chunk, tap p of the chunk's n outputs is one slice of n frames, starting p·d frames in.
    The history starts as zeros, the causal model's left padding. (PyTorch's grouped ``conv1d`` gives the
    same numbers but costs ~0.1 ms a call on CPU whatever n is: too slow for chunks of one frame.)

    New frames are written after the history in a buffer with room for more; when it is full, the history
    moves back to the front. Copying the whole history for every chunk instead would cost (P−1)·d frames
    per chunk, most of the work for chunks of one frame; this way the copies come to less than n frames
    per chunk of n.

    Shapes: ``(H, n) → (H, n)``.
    """

    def __init__(self, conv: torch.nn.Conv1d, dilation: int, device: torch.device):
        self.taps = list(conv.weight[:, 0, :, None].unbind(1))  # P × (H, 1)
        self.bias, self.dilation = conv.bias[:, None], dilation
        self.keep = (len(self.taps) - 1) * dilation
        self.buffer = torch.zeros(conv.in_channels, 2 * self.keep, device=device)
        self.end = self.keep  # frames end − keep … end − 1 of the buffer are the history

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        n = y.shape[-1]
        if self.end + n > self.buffer.shape[-1]:
            self._make_room(n)
        self.buffer[:, self.end:self.end + n] = y
        self.end += n
        frames = self.buffer[:, self.end - n - self.keep:self.end]  # (H, (P−1)·d + n)
        out = self.bias
        for p, tap in enumerate(self.taps):
            out = torch.addcmul(out, frames[:, p * self.dilation:p * self.dilation + n], tap)
        return out

    def _make_room(self, n: int) -> None:
        """Move the history to the front of a new buffer with room for at least ``keep + 2n`` new frames."""
        buffer = self.buffer.new_empty(self.buffer.shape[0], max(self.buffer.shape[-1], 2 * (self.keep + n)))
        buffer[:, :self.keep] = self.buffer[:, self.end - self.keep:self.end]
        self.buffer, self.end = buffer, self.keep


class _StreamingBlock:
    """One ``Conv1DBlock`` over a stream: its two cLNs and its depthwise convolution keep their past.

    Shapes: ``(B, n) → (residual (B, n) or None, skip (Sc, n))``.
    """

    def __init__(self, block: Conv1DBlock, device: torch.device):
        self.prelu1, self.prelu2 = block.prelu1, block.prelu2
        self.conv_in, self.skip = _Pointwise(block.conv_in), _Pointwise(block.skip)
        self.res = None if block.res is None else _Pointwise(block.res)
        self.norm1, self.norm2 = _RunningCLN(block.norm1, device), _RunningCLN(block.norm2, device)
        self.dconv = _DilatedHistory(block.dconv, block.dilation, device)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        y = self.norm1(self.prelu1(self.conv_in(x)))
        y = self.norm2(self.prelu2(self.dconv(y)))
        return (None if self.res is None else x + self.res(y)), self.skip(y)


class StreamingSeparator:
    """Separate a stream with a causal Conv-TasNet: ``push`` new samples, get back the final ones.

    Args:
        model: a ``ConvTasNet`` built with ``causal=True, norm="cLN"`` (anything else: ``CourseError``
            naming what looks into the future). Its weights are read in place (views, taken at ``reset``).
        engine: ``"eager"`` runs the PyTorch code of this module (the teaching code: the state lives in
            the small classes above); ``"onnx"`` one ONNX Runtime graph call per chunk
            (``compiled.FastStream``: the same state, carried as arrays; a snapshot of the weights);
            ``"auto"`` (default) the ONNX one for a model on the CPU where onnxruntime is installed.

    With the paper's symbols: frames of L samples hop by S = L/2; each frame is coded by N filters,
    the bottleneck and TCN (R repeats of X blocks, B/H channels, kernel P, dilations 1 … 2^(X−1)) give
    the masks, and the decoder overlap-adds each source's frames.

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
        check_streamable(model)
        self.model = model
        self.L, self.S, self.n_src = model.L, model.stride, model.n_src
        self.device = next(model.parameters()).device
        self.fast = compiled.stream_for_engine(model, engine, self.device)
        self.reset()

    def reset(self) -> None:
        """Start a new stream: empty input overlap, zero histories and sums, no decoder tail."""
        self.pending = torch.zeros(0, device=self.device)  # input not yet in a frame
        self.samples_in = self.samples_out = self.frames_processed = 0
        self.ended = False
        if self.fast is not None:
            self.fast.reset()
            return
        model = self.model
        self.encoder_basis = model.encoder.conv.weight[:, 0, :]        # U (N, L)
        self.decoder_basis = model.decoder.deconv.weight[:, 0, :].T    # V (L, N)
        self.bottleneck = _RunningCLN(model.bottleneck[0], self.device), _Pointwise(model.bottleneck[1])
        self.blocks = [_StreamingBlock(block, self.device) for block in model.tcn.blocks]
        self.mask_prelu, self.mask_conv = model.mask_conv[0], _Pointwise(model.mask_conv[1])
        self.tail = torch.zeros(self.n_src, self.L - self.S, device=self.device)   # decoder overlap-add

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
        tail = self.tail if self.fast is None else torch.from_numpy(self.fast.tail)
        return torch.cat([final, tail], dim=-1)[:, :rest]

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
        """Run the next ``n`` frames of ``pending`` through the network; ``(n_src, n·S)`` final samples.

        Encoder and decoder are the model's, written as matrix products on the n frames (the same numbers
        as its ``Conv1d`` / ``ConvTranspose1d``, without their fixed CPU cost per call).
        """
        if n == 0:
            return torch.zeros(self.n_src, 0, device=self.device)
        span = (n - 1) * self.S + self.L
        if self.fast is not None:
            final = torch.from_numpy(self.fast.step(self.pending[:span].numpy(), n))
        else:
            w = self.encoder_basis @ self.pending[:span].unfold(0, self.L, self.S).T  # (N, n)
            segments = self.decoder_basis @ (w * self._masks(w))                     # (n_src, L, n)
            out = F.fold(segments, (1, span), (1, self.L), stride=(1, self.S)).view(self.n_src, span)
            out[:, : self.L - self.S] += self.tail
            final, self.tail = out[:, : n * self.S], out[:, n * self.S:]
        self.pending = self.pending[n * self.S:]
        self.frames_processed += n
        self.samples_out += n * self.S
        return final

    def _masks(self, w: torch.Tensor) -> torch.Tensor:
        """Masks of the next frames: ``(N, n) → (n_src, N, n)``, as ``ConvTasNet.masks``."""
        norm, conv = self.bottleneck
        x = conv(norm(w))                                                             # (B, n)
        skip_sum = 0
        for block in self.blocks:
            x, skip = block(x)
            skip_sum = skip_sum + skip                                                # (Sc, n)
        m = self.mask_conv(self.mask_prelu(skip_sum)).view(self.n_src, self.model.N, -1)
        act = self.model.mask_act
        if act == "softmax":
            return torch.softmax(m, dim=0)
        return torch.relu(m) if act == "relu" else torch.sigmoid(m)


def stream_chunk_samples(chunk_ms: float, sample_rate: int) -> int:
    """Samples in a streaming chunk of ``chunk_ms`` milliseconds at ``sample_rate`` Hz; at least one."""
    samples = round(chunk_ms * sample_rate / 1000) if math.isfinite(chunk_ms) else 0
    if samples < 1:
        raise CourseError(f"a streaming chunk must hold at least one sample ({1000 / sample_rate:g} ms at "
                          f"{sample_rate} Hz); got {chunk_ms:g} ms")
    return samples


def stream_waveform(wav, model: torch.nn.Module, *, chunk: int, progress: bool = False,
                    name: str = "input", engine: str = "auto") -> torch.Tensor:
    """Separate a mono waveform as a stream: ``chunk`` samples per ``StreamingSeparator.push``, then flush.

    The model sees the signal as a live input would arrive, and the concatenated stream equals the model on
    the whole signal. Afterwards each source gets the one gain that makes the sources add up to the mixture
    (``fit_to_mixture``, as ``separate_waveform`` fits per chunk; SI-SNR training leaves gain and sign free):
    the one step that reads the whole file, which a live system would fix in advance.

    Args:
        wav: ``(time,)`` at the model's rate; model: a causal cLN ``ConvTasNet`` (else ``CourseError``);
        chunk: samples per push (any number ≥ 1; need not be a multiple of the encoder hop);
        progress: a tqdm bar over the chunks; name: how errors and the bar refer to the input;
        engine: ``StreamingSeparator``'s (``"auto"``: ONNX Runtime where installed, for a model on the CPU).

    Returns:
        ``(n_src, time)`` float32 tensor on the CPU.
    """
    wav = as_mono(wav, name)
    stream = StreamingSeparator(model, engine)
    starts = range(0, wav.numel(), chunk)
    parts = [stream.push(wav[start:start + chunk]) for start in tqdm(starts, desc=name, unit="chunk",
                                                                      disable=not progress)]
    return fit_to_mixture(torch.cat([*parts, stream.flush()], dim=-1).float().cpu(), wav)
