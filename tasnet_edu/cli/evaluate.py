"""``tasnet-edu evaluate``: score a checkpoint or a shipped model on a test set
(``tasnet_edu.evaluate.evaluate_checkpoint``), print the means with their intervals, and say where the
per-utterance table went."""

from __future__ import annotations

import argparse

from tasnet_edu import perceptual, pretrained
from tasnet_edu.compiled import ENGINES
from tasnet_edu.data import datasets
from tasnet_edu.evaluate import DEFAULT_METRICS, METRICS, evaluate_checkpoint, format_summary, summarize


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tasnet-edu evaluate``."""
    parser.add_argument("--checkpoint", required=True, metavar="NAME|PATH",
                        help="a checkpoint written by tasnet-edu train, or a shipped model name "
                             f"({', '.join(pretrained.SHIPPED)})")
    parser.add_argument("--data", required=True, help="dataset root (tr/ cv/ tt/, or LibriMix's metadata/)")
    parser.add_argument("--dataset", choices=tuple(datasets.CORPORA), default="wsj0-2mix",
                        help="layout of --data")
    parser.add_argument("--split", default="tt", help="split to score (default tt; LibriMix: test)")
    parser.add_argument("--csv", help="per-utterance table (default: <checkpoint name>_<split>.csv in the "
                                      "current directory)")
    parser.add_argument("--max-items", type=int, help="score only the first N utterances")
    parser.add_argument("--metrics", default=",".join(DEFAULT_METRICS),
                        help=f"comma-separated, from {','.join(METRICS)} (default: %(default)s). stoi, pesq "
                             "(narrow-band, 8 kHz) and dnsmos need the metrics extra: "
                             f"{perceptual.EXTRA}")
    parser.add_argument("--no-sdr", action="store_true", help="skip BSS-Eval SDR (much faster)")
    parser.add_argument("--device", help="cpu, cuda … (default: cuda when available)")
    parser.add_argument("--engine", choices=ENGINES, default="auto",
                        help="onnx: run the network by ONNX Runtime (same scores, faster on a CPU); eager: "
                             "the PyTorch modules; auto (default): onnx for a Conv-TasNet on the CPU when "
                             "onnxruntime is installed")
    parser.add_argument("--shifts", type=int, default=1,
                        help="score the model averaged over this many input delays within one encoder hop "
                             "(tasnet_edu.inference.ShiftAverage; default %(default)s: the model alone)")


def run(args: argparse.Namespace) -> int:
    rows, path = evaluate_checkpoint(
        args.checkpoint, args.data, dataset=args.dataset, split=args.split, csv_path=args.csv,
        max_items=args.max_items, metrics=args.metrics, with_sdr=not args.no_sdr, device=args.device,
        engine=args.engine, shifts=args.shifts)
    print(format_summary(summarize(rows)))
    print(f"per-utterance scores: {path}")
    return 0
