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

A bad input (missing, not audio, empty, shorter than one frame, NaN/Inf samples) is reported on one line
naming the file; the other inputs of the same call are still separated, and the exit status is non-zero.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from tasnet_edu import audio, pretrained
from tasnet_edu.compiled import ENGINES, FastConvTasNet, for_engine, stream_for_engine
from tasnet_edu.errors import CourseError
from tasnet_edu.inference import (
    CHUNK_SECONDS,
    OVERLAP_SECONDS,
    ShiftAverage,
    check_long_enough,
    model_sample_rate,
    separate_waveform,
)
from tasnet_edu.streaming import check_streamable, stream_chunk_samples, stream_waveform

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


def separate_file(
    path,
    model: torch.nn.Module,
    out_dir,
    *,
    chunk_seconds: float = CHUNK_SECONDS,
    overlap_seconds: float = OVERLAP_SECONDS,
    progress: bool = False,
    stream_chunk_ms: float | None = None,
    engine: str = "auto",
) -> list[Path]:
    """Separate one audio file and write ``OUTDIR/<stem>_s1.wav``, … at the file's own sample rate.

    Any rate (resampled to the model's and back), any channel count (averaged to mono with a warning),
    integer or float samples. Estimates that would clip are scaled together, with a warning.
    ``stream_chunk_ms`` streams the file through a causal model in chunks of that many milliseconds
    (``stream_waveform``, on ``engine``: see ``StreamingSeparator``) instead of separating it in overlapping
    pieces (``separate_waveform``; there ``engine`` does not apply: ``compiled.for_engine`` picks the model).

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
                              progress=progress, name=str(path), engine=engine)
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
    parser.add_argument("--engine", choices=ENGINES, default="auto",
                        help="onnx: the network run by ONNX Runtime (tasnet_edu.compiled, same outputs, "
                             "faster on a CPU); eager: the PyTorch modules; auto (default): onnx for a "
                             "Conv-TasNet on the CPU when onnxruntime is installed")
    parser.add_argument("--stream-chunk-ms", type=float, default=None, metavar="MS",
                        help="separate through the real-time path: a causal model (e.g. course-small-causal) "
                             "gets the audio MS milliseconds at a time, as a live input would arrive, and "
                             "gives what the model gives on the whole file at once; --chunk-seconds and "
                             "--overlap-seconds do not apply")


def run_cli(args: argparse.Namespace) -> int:
    """Separate every input; a bad one is reported on one line and the others still run.

    Returns 1 when any input failed, else 0.
    """
    out_dir = prepare_out_dir(args.out)
    model = pretrained.load(args.checkpoint, device=args.device)
    if args.stream_chunk_ms is not None:  # refused once, before any file, when it cannot stream
        if args.shifts != 1:
            raise CourseError("--shifts averages passes over the whole input, which a stream does not have; "
                              "use --shifts or --stream-chunk-ms, not both")
        check_streamable(model)
        stream_chunk_samples(args.stream_chunk_ms, model_sample_rate(model))
        engine = stream_for_engine(model, args.engine, args.device)  # exported once, reused for each file
        if engine is not None:
            print(f"tasnet-edu separate: notice: ONNX Runtime streaming engine ready in "
                  f"{engine.export_seconds:.1f} s (from {engine.source})", file=sys.stderr)
    else:
        model = for_engine(model, args.engine, args.device)
        if isinstance(model, FastConvTasNet):
            print(f"tasnet-edu separate: notice: ONNX Runtime engine ready in {model.export_seconds:.1f} s "
                  f"(from {model.source})", file=sys.stderr)
        if args.shifts != 1:
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
                    engine=args.engine,
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
