"""``tasnet-edu separate``: separate audio files into one file per speaker (``tasnet_edu.separate``),
one line per input: its outputs on stdout, or its error on stderr."""

from __future__ import annotations

import argparse
import sys

from tasnet_edu.compiled import ENGINES
from tasnet_edu.inference import CHUNK_SECONDS, OVERLAP_SECONDS
from tasnet_edu.separate import engine_notice, open_separator, prepare_out_dir, separate_files


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


def run(args: argparse.Namespace) -> int:
    """Separate every input; a bad one is reported on one line and the others still run.

    Returns 1 when any input failed, else 0.
    """
    out_dir = prepare_out_dir(args.out)
    # Built once, before any file (a setting it cannot run is refused here), then reused for each file.
    separator = open_separator(args.checkpoint, device=args.device, engine=args.engine, shifts=args.shifts,
                               stream_chunk_ms=args.stream_chunk_ms)
    notice = engine_notice(separator)
    if notice:
        print(f"tasnet-edu separate: notice: {notice}", file=sys.stderr)
    failed = 0
    for result in separate_files(args.inputs, separator, out_dir, chunk_seconds=args.chunk_seconds,
                                 overlap_seconds=args.overlap_seconds, progress=True,
                                 stream_chunk_ms=args.stream_chunk_ms):
        for notice in result.notices:
            print(f"tasnet-edu separate: notice: {notice}", file=sys.stderr)
        if result.error is None:
            print(f"{result.path} → " + ", ".join(str(p) for p in result.written))
        else:
            failed += 1
            print(f"tasnet-edu separate: error: {result.error}", file=sys.stderr)
    if failed:
        print(f"tasnet-edu separate: {failed} of {len(args.inputs)} input(s) failed", file=sys.stderr)
    return 1 if failed else 0
