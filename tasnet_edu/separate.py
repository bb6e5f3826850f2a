"""Separate audio files of any length, rate and channel count with a trained model.

``tasnet-edu separate IN [IN …] -o OUTDIR`` writes ``OUTDIR/<stem>_s1.wav``, ``<stem>_s2.wav``, … at each
input's own sample rate. The steps, each a function below:

1. read the file as mono (channels averaged, with a notice) and resample it to the model's rate;
2. separate it in overlapping chunks (``separate_waveform``), so memory stays bounded for an hour-long file;
   a chunk's speakers come out in an arbitrary order (the model was trained with PIT), so each chunk's
   order is aligned to the previous chunk's on the samples they share before the chunks are cross-faded;
   and at an arbitrary gain and sign (SI-SNR ignores both), so each chunk's estimates are first scaled to
   add up to the chunk (``fit_to_mixture``);
3. resample the estimates back, scale all of them together when a peak would clip (and say so), write them.

``--shifts K`` wraps the model in ``ShiftAverage``: K passes over the input delayed by parts of one encoder
hop, averaged — a better separation for K times the compute (chapter 11 measures both).

``--stream-chunk-ms MS`` separates through the real-time path instead (``stream_waveform``): a causal model
gets the file MS milliseconds at a time, as it would get a live input, and the result equals the model run
on the whole file at once (what the offline path gives for a file within one chunk); a non-causal
checkpoint is refused.

A bad input (missing, not audio, empty, shorter than one frame, NaN/Inf samples) is reported on one line
naming the file; the other inputs of the same call are still separated, and the exit status is non-zero.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from tasnet_edu import SAMPLE_RATE, audio, metrics
from tasnet_edu.errors import CourseError
from tasnet_edu.utils import as_tensor, check_finite

CHUNK_SECONDS = 10.0  # model input per step; memory grows with this, not with the file's length
OVERLAP_SECONDS = 2.0  # shared by neighbouring chunks: permutation alignment + cross-fade
PEAK = 0.99  # estimates whose peak exceeds 1 are scaled to this peak instead of being clipped


def model_sample_rate(model: torch.nn.Module) -> int:
    """The rate (Hz) the model was trained at: its ``sample_rate`` attribute, else the course's 8 kHz."""
    return int(getattr(model, "sample_rate", SAMPLE_RATE))


def frame_length(model: torch.nn.Module) -> int:
    """Samples in one encoder frame (the paper's L), the shortest input the model can separate."""
    for owner in (model, getattr(model, "encoder", None)):
        if isinstance(getattr(owner, "L", None), int):
            return owner.L
    return 1


def check_long_enough(length: int, sample_rate: int, model: torch.nn.Module, name: str) -> None:
    """Raise ``CourseError`` naming ``name`` when ``length`` samples at ``sample_rate`` Hz are shorter than
    one frame of ``model`` (its L samples at its own rate): there is nothing to separate."""
    frame, rate = frame_length(model), model_sample_rate(model)
    if length * rate < frame * sample_rate:
        ms = 1000 * length / sample_rate, 1000 * frame / rate
        raise CourseError(
            f"{name}: {length} sample(s) at {sample_rate} Hz ({ms[0]:.2f} ms) is shorter than one frame "
            f"of the model (L = {frame} samples at {rate} Hz = {ms[1]:.2f} ms)"
        )


def _crossfade(length: int, fade_in: int, fade_out: int) -> torch.Tensor:
    """Weights ``(length,)``: a raised-cosine rise over ``fade_in`` samples, 1, then a fall over ``fade_out``.

    A rise and a fall of the same length sum to exactly 1 sample by sample, and never reach 0, so dividing
    the overlap-add by the summed weights is always defined.
    """
    w = torch.ones(length)
    if fade_in:
        w[:fade_in] *= _ramp(fade_in)
    if fade_out:
        w[length - fade_out:] *= _ramp(fade_out).flip(0)
    return w


def _ramp(n: int) -> torch.Tensor:
    return 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(n) + 0.5) / n)


def chunk_starts(length: int, chunk: int, overlap: int) -> list[int]:
    """Start samples of the chunks covering ``length`` samples, neighbours sharing at least ``overlap``.

    The last chunk is moved left to end exactly at the end of the signal, so every chunk is full length
    (a short last chunk would give the model little context); its overlap with the previous one is larger.
    """
    if length <= chunk:
        return [0]
    starts = list(range(0, length - chunk, chunk - overlap))
    return [*starts, length - chunk]


def match_order(current: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """The order of ``current``'s sources that matches ``previous``: ``current[order]`` lines up with it.

    Both are ``(n_src, time)`` estimates of two neighbouring chunks on the samples they share. The order with
    the highest SI-SNR between them — the criterion of utterance-level PIT — keeps each speaker on its own
    output. Where the shared samples are silent there is nothing to align on, and the model's order is kept
    (for speech, an overlap of a second or more rarely is). Returns a ``(n_src,)`` index tensor.
    """
    pairwise = metrics.pairwise_si_snr(current.unsqueeze(0), previous.unsqueeze(0))
    return metrics.best_permutation(pairwise)[0]


def fit_to_mixture(est: torch.Tensor, mix: torch.Tensor, max_similarity: float = 0.99) -> torch.Tensor:
    """Scale each estimate so that together they rebuild the mixture: ``est (n_src, time)``, ``mix (time,)``.

    SI-SNR, the training loss, ignores each output's gain *and sign*, so a trained model may return the
    speakers 80 times too loud, one of them upside down. Gains ``g`` minimising ``‖mix − Σ_k g_k est_k‖²``
    (least squares, one gain per source) restore the mixture's scale; scale-invariant scores do not change.
    When two estimates are nearly copies of each other (|cosine similarity| > ``max_similarity``) the split of
    the mixture between them is undetermined, and ``est`` is returned as it is.
    """
    gram = (est @ est.T).double()
    norms = gram.diagonal().sqrt().clamp_min(1e-12)
    similarity = gram / torch.outer(norms, norms)  # cosine similarity of the estimates
    off_diagonal = similarity - torch.diag(similarity.diagonal())
    if (gram.diagonal() <= 1e-12).any() or off_diagonal.abs().max() > max_similarity:
        return est
    gains = torch.linalg.solve(gram, (est @ mix).double())
    return est * gains.to(est.dtype)[:, None]


class ShiftAverage(torch.nn.Module):
    """Test-time shift averaging: ``model`` run on its input delayed by ``shifts`` evenly spaced fractions
    of one encoder hop, each delay undone, the passes averaged.

    A model with hop ``stride`` (L/2 for Conv-TasNet) sees a signal through frames that start every
    ``stride`` samples; delaying the input by a part of a hop shows it the same speech cut into frames at
    other places, and averaging the passes smooths the frame-boundary errors of the decoder's overlap-add,
    much as a smaller hop would (the paper finds that shorter windows L separate better). Before averaging,
    each pass is scaled to add up to the mixture (``fit_to_mixture``: SI-SNR training leaves gain and sign
    free) and put in the speaker order of the undelayed pass (``match_order``). It costs ``shifts`` forward
    passes; ``shifts=1`` gives the model's own estimates, only scaled to add up to the mixture.

    Args:
        model: maps ``(batch, time)`` to ``(batch, n_src, time)`` and has a ``stride`` (hop in samples).
        shifts: passes, 1 to ``stride``; delays ``round(k * stride / shifts)`` for k = 0 … shifts − 1.
    """

    def __init__(self, model: torch.nn.Module, shifts: int):
        super().__init__()
        stride = getattr(model, "stride", None)
        if not isinstance(stride, int):
            raise CourseError(f"shift averaging needs a model with an encoder hop (`stride`); "
                              f"{type(model).__name__} has none")
        if not 1 <= shifts <= stride:
            raise CourseError(f"shifts must be between 1 and the model's hop ({stride} samples), "
                              f"got {shifts}")
        self.model = model
        self.delays = [round(k * stride / shifts) for k in range(shifts)]
        for name in ("sample_rate", "L", "stride", "n_src", "receptive_field"):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        """``mix`` ``(batch, time)`` → averaged estimates ``(batch, n_src, time)``."""
        time = mix.shape[-1]
        passes = []
        for delay in self.delays:
            est = self.model(torch.nn.functional.pad(mix, (delay, 0)))[..., delay:delay + time]
            est = torch.stack([fit_to_mixture(e, m) for e, m in zip(est, mix, strict=True)])
            if passes:
                est = torch.stack([e[match_order(e, first)] for e, first in zip(est, passes[0], strict=True)])
            passes.append(est)
        return torch.stack(passes).mean(0)


@torch.inference_mode()
def _run_model(model: torch.nn.Module, chunk: torch.Tensor) -> torch.Tensor:
    """``chunk`` ``(time,)`` → estimates ``(n_src, time)`` on the CPU, float32."""
    device = next(model.parameters(), torch.empty(0)).device
    est = model(chunk.to(device).unsqueeze(0))
    if est.dim() != 3 or est.shape[0] != 1 or est.shape[-1] != chunk.shape[-1]:
        raise CourseError(
            f"the model returned shape {tuple(est.shape)} for an input of {chunk.shape[-1]} samples; "
            "expected (1, n_src, time)"
        )
    return est[0].float().cpu()


def separate_waveform(
    wav,
    model: torch.nn.Module,
    *,
    sample_rate: int | None = None,
    chunk_seconds: float = CHUNK_SECONDS,
    overlap_seconds: float = OVERLAP_SECONDS,
    progress: bool = False,
    name: str = "input",
) -> torch.Tensor:
    """Separate a mono waveform of any length at the model's rate.

    Args:
        wav: ``(time,)`` array or tensor, sampled at the model's rate.
        model: maps ``(batch, time)`` to ``(batch, n_src, time)``.
        sample_rate: rate of ``wav`` in Hz, used only to turn seconds into samples; the model's by default.
        chunk_seconds: length of each piece given to the model; memory is bounded by it.
        overlap_seconds: samples shared by neighbouring chunks, used to align their speaker order and to
            cross-fade them; a second or more (about the receptive field of the paper's model, 1.53 s)
            gives both a reliable alignment and a seamless join.
        progress: show a tqdm bar when there is more than one chunk.
        name: how errors and the bar refer to the input.

    Returns:
        ``(n_src, time)`` float32 tensor on the CPU: source ``k`` is the same speaker in every chunk.

    Example:
        >>> est = separate_waveform(mix, model, chunk_seconds=4, overlap_seconds=1)  # doctest: +SKIP
    """
    sample_rate = sample_rate or model_sample_rate(model)
    wav = _mono(wav, name)
    check_long_enough(wav.numel(), sample_rate, model, name)
    frame = frame_length(model)
    chunk, overlap = round(chunk_seconds * sample_rate), round(overlap_seconds * sample_rate)
    if not 0 < overlap < chunk or chunk < frame:
        raise CourseError(
            f"chunks of {chunk_seconds} s overlapping by {overlap_seconds} s are not usable: need "
            f"0 < overlap < chunk and a chunk of at least one frame ({frame} samples)"
        )

    length = wav.numel()
    starts = chunk_starts(length, chunk, overlap)
    ends = [min(start + chunk, length) for start in starts]
    total = weight = previous = None
    bar = tqdm(starts, desc=name, unit="chunk", disable=not progress or len(starts) == 1)
    for i, (start, end) in enumerate(zip(bar, ends, strict=True)):
        est = fit_to_mixture(_run_model(model, wav[start:end]), wav[start:end])
        if total is None:
            total, weight = torch.zeros(est.shape[0], length), torch.zeros(length)
        shared_before = ends[i - 1] - start if i else 0
        shared_after = end - starts[i + 1] if i + 1 < len(starts) else 0
        if shared_before:
            est = est[match_order(est[:, :shared_before], previous[:, -shared_before:])]
        w = _crossfade(end - start, shared_before, shared_after)
        total[:, start:end] += est * w
        weight[start:end] += w
        previous = est
    return total / weight


def _mono(wav, name: str) -> torch.Tensor:
    """``wav`` as a float tensor, or a ``CourseError`` naming ``name`` unless it is ``(time,)`` and finite."""
    wav = as_tensor(wav)
    if wav.dim() != 1:
        raise CourseError(f"{name}: expected a mono waveform shaped (time,), got shape {tuple(wav.shape)}")
    check_finite(wav, name)
    return wav


def stream_chunk_samples(chunk_ms: float, sample_rate: int) -> int:
    """Samples in a streaming chunk of ``chunk_ms`` milliseconds at ``sample_rate`` Hz; at least one."""
    samples = round(chunk_ms * sample_rate / 1000) if math.isfinite(chunk_ms) else 0
    if samples < 1:
        raise CourseError(f"a streaming chunk must hold at least one sample ({1000 / sample_rate:g} ms at "
                          f"{sample_rate} Hz); got {chunk_ms:g} ms")
    return samples


def stream_waveform(wav, model: torch.nn.Module, *, chunk: int, progress: bool = False,
                    name: str = "input") -> torch.Tensor:
    """Separate a mono waveform as a stream: ``chunk`` samples per ``StreamingSeparator.push``, then flush.

    The model sees the signal as a live input would arrive, and the concatenated stream equals the model on
    the whole signal. Afterwards each source gets the one gain that makes the sources add up to the mixture
    (``fit_to_mixture``, as ``separate_waveform`` fits per chunk; SI-SNR training leaves gain and sign free):
    the one step that reads the whole file, which a live system would fix in advance.

    Args:
        wav: ``(time,)`` at the model's rate; model: a causal cLN ``ConvTasNet`` (else ``CourseError``);
        chunk: samples per push (any number ≥ 1; need not be a multiple of the encoder hop);
        progress: a tqdm bar over the chunks; name: how errors and the bar refer to the input.

    Returns:
        ``(n_src, time)`` float32 tensor on the CPU.
    """
    from tasnet_edu.streaming import StreamingSeparator  # here: tasnet_edu.models imports this module

    wav = _mono(wav, name)
    stream = StreamingSeparator(model)
    starts = range(0, wav.numel(), chunk)
    parts = [stream.push(wav[start:start + chunk]) for start in tqdm(starts, desc=name, unit="chunk",
                                                                      disable=not progress)]
    return fit_to_mixture(torch.cat([*parts, stream.flush()], dim=-1).float().cpu(), wav)


def fit_peak(sources: np.ndarray, name: str) -> np.ndarray:
    """Scale ``sources`` ``(n_src, time)`` together to a 0.99 peak when any sample exceeds 1, with a warning.

    One factor for all sources keeps their relative loudness (scaling each file on its own would not);
    writing 16-bit files would otherwise clip the peaks silently.
    """
    peak = float(np.abs(sources).max())
    if peak <= 1.0:
        return sources
    warnings.warn(
        f"{name}: the separated sources peak at {peak:.2f} > 1 and would clip; all of them were scaled "
        f"by {PEAK / peak:.3f} together (relative loudness kept)",
        stacklevel=2,
    )
    return sources * (PEAK / peak)


def output_paths(path, out_dir, n_src: int) -> list[Path]:
    """``OUTDIR/<stem>_s1.wav`` … ``OUTDIR/<stem>_s{n_src}.wav`` for the input ``path``."""
    return [Path(out_dir) / f"{Path(path).stem}_s{k + 1}.wav" for k in range(n_src)]


def separate_file(
    path,
    model: torch.nn.Module,
    out_dir,
    *,
    chunk_seconds: float = CHUNK_SECONDS,
    overlap_seconds: float = OVERLAP_SECONDS,
    progress: bool = False,
    stream_chunk_ms: float | None = None,
) -> list[Path]:
    """Separate one audio file and write ``OUTDIR/<stem>_s1.wav``, … at the file's own sample rate.

    Any rate (resampled to the model's and back), any channel count (averaged to mono with a warning),
    integer or float samples. Estimates that would clip are scaled together, with a warning.
    ``stream_chunk_ms`` streams the file through a causal model in chunks of that many milliseconds
    (``stream_waveform``) instead of separating it in overlapping pieces (``separate_waveform``).

    Returns:
        the written paths, one per source.

    Raises:
        CourseError: naming ``path`` — missing, not audio, empty, NaN/Inf, shorter than one model frame —
        or naming ``out_dir`` (created when missing) or an output file when it cannot be written.
    """
    out_dir = prepare_out_dir(out_dir)
    wav, sr = audio.load(path)
    check_long_enough(wav.shape[0], sr, model, str(path))
    rate = model_sample_rate(model)
    at_rate = audio.resample(wav, sr, rate)
    if stream_chunk_ms is None:
        est = separate_waveform(at_rate, model, sample_rate=rate, chunk_seconds=chunk_seconds,
                                overlap_seconds=overlap_seconds, progress=progress, name=str(path))
    else:
        est = stream_waveform(at_rate, model, chunk=stream_chunk_samples(stream_chunk_ms, rate),
                              progress=progress, name=str(path))
    # Resampling back can lengthen or shorten by a sample; the outputs match the input sample for sample
    # (a padded copy only when needed: 100 MB per source for 10 minutes at 44.1 kHz).
    sources = audio.resample(est.numpy(), rate, sr)[:, : wav.shape[0]]
    if sources.shape[1] < wav.shape[0]:
        sources = np.pad(sources, ((0, 0), (0, wav.shape[0] - sources.shape[1])))
    sources = fit_peak(sources, str(path))
    outs = output_paths(path, out_dir, len(sources))
    return [audio.save(out, src, sr) for out, src in zip(outs, sources, strict=True)]


def prepare_out_dir(out_dir) -> Path:
    """Create ``out_dir`` if needed and prove it is writable (a real write, which also holds for root)."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as err:
        raise CourseError(f"output folder {out_dir} is not writable ({err.strerror or err})") from None
    return out_dir


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tasnet-edu separate``."""
    parser.add_argument("inputs", nargs="+", metavar="IN", help="audio files (any rate, channels, format)")
    parser.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="folder for <stem>_s<k>.wav")
    parser.add_argument(
        "--checkpoint", default="course-small", metavar="PATH",
        help="a checkpoint written by `tasnet-edu train`, or a shipped model name (default: course-small)",
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the model runs")
    parser.add_argument("--chunk-seconds", type=float, default=CHUNK_SECONDS,
                        help="seconds per model call; memory grows with it (default %(default)s)")
    parser.add_argument("--overlap-seconds", type=float, default=OVERLAP_SECONDS,
                        help="seconds shared by neighbouring chunks, to keep each speaker on one output "
                             "(default %(default)s)")
    parser.add_argument("--shifts", type=int, default=1,
                        help="average this many passes over the input delayed by parts of one encoder hop "
                             "(ShiftAverage): better separation for that many times the compute "
                             "(default %(default)s)")
    parser.add_argument("--stream-chunk-ms", type=float, default=None, metavar="MS",
                        help="separate through the real-time path: a causal model (e.g. course-small-causal) "
                             "gets the audio MS milliseconds at a time, as a live input would arrive, and "
                             "gives what the model gives on the whole file at once; --chunk-seconds and "
                             "--overlap-seconds do not apply")


def run_cli(args: argparse.Namespace) -> int:
    """Separate every input; a bad one is reported on one line and the others still run.

    Returns 1 when any input failed, else 0.
    """
    from tasnet_edu import pretrained  # imported here so `tasnet-edu --help` stays fast
    from tasnet_edu.streaming import check_streamable

    out_dir = prepare_out_dir(args.out)
    model = pretrained.load(args.checkpoint, device=args.device)
    if args.stream_chunk_ms is not None:  # refused once, before any file, when it cannot stream
        if args.shifts != 1:
            raise CourseError("--shifts averages passes over the whole input, which a stream does not have; "
                              "use --shifts or --stream-chunk-ms, not both")
        check_streamable(model)
        stream_chunk_samples(args.stream_chunk_ms, model_sample_rate(model))
    elif args.shifts != 1:
        model = ShiftAverage(model, args.shifts)
    failed, first_with_stem = 0, {}
    for path in args.inputs:
        with warnings.catch_warnings(record=True) as notices:
            warnings.simplefilter("always")
            try:
                # Two inputs with one stem (a/x.wav, b/x.wav) would write the same output files.
                owner = first_with_stem.setdefault(Path(path).stem, path)
                if owner != path:
                    raise CourseError(f"{path}: outputs would overwrite those of {owner} (same file name)")
                written = separate_file(
                    path, model, out_dir, chunk_seconds=args.chunk_seconds,
                    overlap_seconds=args.overlap_seconds, progress=True, stream_chunk_ms=args.stream_chunk_ms,
                )
                outcome, stream = f"{path} → " + ", ".join(str(p) for p in written), sys.stdout
            except CourseError as err:
                failed += 1
                outcome, stream = f"tasnet-edu separate: error: {err}", sys.stderr
        for notice in notices:
            print(f"tasnet-edu separate: notice: {notice.message}", file=sys.stderr)
        print(outcome, file=stream)
    if failed:
        print(f"tasnet-edu separate: {failed} of {len(args.inputs)} input(s) failed", file=sys.stderr)
    return 1 if failed else 0
