"""Separate audio files of any length, rate and channel count with a trained model.

``tasnet-edu separate IN [IN …] -o OUTDIR`` writes ``OUTDIR/<stem>_s1.wav``, ``<stem>_s2.wav``, … at each
input's own sample rate. The steps, each a function below:

1. read the file as mono (channels averaged, with a notice) and resample it to the model's rate;
2. separate it in overlapping chunks (``tasnet_edu.inference.separate_waveform``), so memory stays bounded
   for an hour-long file; each chunk's estimates are scaled to add up to the chunk (SI-SNR leaves gain and
   sign free) and put in the previous chunk's speaker order (PIT leaves the order free) before the chunks are
   cross-faded;
3. resample the estimates back, scale all of them together when a peak would clip (and say so), write them.

``--shifts K`` wraps the model in ``ShiftAverage``: K passes over the input delayed by parts of one encoder
hop, averaged — a better separation for K times the compute (chapter 11 measures both).

``--stream-chunk-ms MS`` separates through the real-time path instead
(``tasnet_edu.streaming.stream_waveform``): a causal model gets the file MS milliseconds at a time, as it
would get a live input, and the result equals the model run on the whole file at once (what the offline
path gives for a file within one chunk); a non-causal checkpoint is refused.

``open_separator`` builds what every file goes through, once per call: ``pretrained.load``'s separator (its
engine and shifts decided there), or one ``StreamingSeparator``, reset for each file.

A bad input (missing, not audio, empty, shorter than one frame, NaN/Inf samples) does not stop the others
(``separate_files``): the command reports it on one line naming the file, separates the other inputs of
the same call, and exits with a non-zero status.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tasnet_edu import audio, pretrained
from tasnet_edu.compiled import FastConvTasNet, FastStream
from tasnet_edu.errors import CourseError
from tasnet_edu.inference import (
    CHUNK_SECONDS,
    OVERLAP_SECONDS,
    ShiftAverage,
    check_long_enough,
    separate_waveform,
)
from tasnet_edu.separator import Separator, check_separator
from tasnet_edu.streaming import StreamingSeparator, stream_chunk_samples, stream_waveform

PEAK = 0.99  # estimates whose peak exceeds 1 are scaled to this peak instead of being clipped


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


def open_separator(checkpoint, *, device="cpu", engine: str = "auto", shifts: int = 1,
                   stream_chunk_ms: float | None = None) -> Separator | StreamingSeparator:
    """What ``separate_file`` runs every file through, built once: ``pretrained.load(checkpoint, device,
    engine=engine, shifts=shifts)``; with ``stream_chunk_ms``, a ``StreamingSeparator`` of the checkpoint's
    causal model on ``engine`` instead (reset for each file).

    Raises:
        CourseError: what ``pretrained.load`` raises; with ``stream_chunk_ms``: ``shifts`` other than 1 (a
        stream has no whole input to shift), a chunk shorter than one sample, a model that cannot stream.
    """
    if stream_chunk_ms is None:
        return pretrained.load(checkpoint, device, engine=engine, shifts=shifts)
    if shifts != 1:
        raise CourseError("--shifts averages passes over the whole input, which a stream does not have; "
                          "use --shifts or --stream-chunk-ms, not both")
    model = pretrained.load(checkpoint, device)
    stream_chunk_samples(stream_chunk_ms, model.sample_rate)  # refused before any export or file
    return StreamingSeparator(model, engine)


def engine_notice(separator: Separator | StreamingSeparator) -> str | None:
    """What getting ``separator``'s ONNX Runtime engine ready cost and where it came from (``tasnet-edu
    separate`` prints it), or ``None`` when the PyTorch modules run."""
    if isinstance(separator, StreamingSeparator):
        engine, what = separator.network, "streaming engine"
    else:
        engine, what = separator.model if isinstance(separator, ShiftAverage) else separator, "engine"
    if not isinstance(engine, (FastConvTasNet, FastStream)):
        return None
    return f"ONNX Runtime {what} ready in {engine.export_seconds:.1f} s (from {engine.source})"


def separate_file(
    path,
    separator: Separator | StreamingSeparator,
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

    Args:
        separator: a ``Separator`` (``pretrained.load``), run on overlapping pieces of the file
            (``separate_waveform``: ``chunk_seconds``, ``overlap_seconds``); or a ``StreamingSeparator``
            (``open_separator``), reset and fed the file ``stream_chunk_ms`` milliseconds at a time
            (``stream_waveform``).

    Returns:
        the written paths, one per source.

    Raises:
        CourseError: naming ``path`` — missing, not audio, empty, NaN/Inf, shorter than one model frame —
        or naming ``out_dir`` (created when missing) or an output file when it cannot be written; a stream
        without ``stream_chunk_ms``, or ``stream_chunk_ms`` without a stream; a ``separator`` that is
        neither a stream nor a ``Separator`` (naming the members it lacks).
    """
    streaming = isinstance(separator, StreamingSeparator)
    if streaming and stream_chunk_ms is None:
        raise CourseError("a StreamingSeparator needs stream_chunk_ms: the milliseconds it gets at a time")
    if stream_chunk_ms is not None and not streaming:
        raise CourseError(f"stream_chunk_ms streams the file: pass a StreamingSeparator, not a "
                          f"{type(separator).__name__} (open_separator builds one)")
    model = separator.model if streaming else separator
    check_separator(model, "separate_file")
    out_dir = prepare_out_dir(out_dir)
    wav, sr = audio.load(path)
    check_long_enough(wav.shape[0], sr, model, str(path))
    rate = model.sample_rate
    at_rate = audio.resample(wav, sr, rate)
    if streaming:
        est = stream_waveform(at_rate, separator, chunk=stream_chunk_samples(stream_chunk_ms, rate),
                              progress=progress, name=str(path))
    else:
        est = separate_waveform(at_rate, separator, sample_rate=rate, chunk_seconds=chunk_seconds,
                                overlap_seconds=overlap_seconds, progress=progress, name=str(path))
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


@dataclass
class FileResult:
    """What ``separate_files`` did with one input: the files written, or the error that stopped it (the
    written list is then empty), and the warnings raised meanwhile (a stereo input averaged, peaks scaled)."""

    path: str
    written: list[Path]
    error: CourseError | None
    notices: list[str]


def separate_files(paths, separator: Separator | StreamingSeparator, out_dir, *,
                   chunk_seconds: float = CHUNK_SECONDS, overlap_seconds: float = OVERLAP_SECONDS,
                   progress: bool = False, stream_chunk_ms: float | None = None) -> Iterator[FileResult]:
    """Separate every file of ``paths`` into ``out_dir`` (``separate_file``, arguments as there), yielding a
    ``FileResult`` as each one is done.

    ``paths``: file paths (``str`` or ``os.PathLike``), or one of them alone. A bad input does not stop the
    others: its ``CourseError`` is in its result. Two inputs with one file name (``a/x.wav``, ``b/x.wav``)
    would write the same outputs, so the second is refused. Warnings are collected into each result instead
    of being shown.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    first_with_stem = {}
    for path in map(str, paths):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                owner = first_with_stem.setdefault(Path(path).stem, path)
                if owner != path:
                    raise CourseError(f"{path}: outputs would overwrite those of {owner} (same file name)")
                written, error = separate_file(path, separator, out_dir, chunk_seconds=chunk_seconds,
                                               overlap_seconds=overlap_seconds, progress=progress,
                                               stream_chunk_ms=stream_chunk_ms), None
            except CourseError as err:
                written, error = [], err
        yield FileResult(path, written, error, [str(w.message) for w in caught])
