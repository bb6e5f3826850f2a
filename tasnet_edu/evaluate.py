"""Score a separation model on a test set: SI-SNRi and SDRi per utterance, and their mean ± 95 % interval.

The paper reports the mean improvement over the whole wsj0-2mix test set (``tt``, 3000 mixtures): SI-SNRi
15.3 dB and SDRi 15.6 dB for its best Conv-TasNet. Estimates are matched to the references by the
permutation with the best SI-SNR (the model's output order is arbitrary), then both metrics are computed on
that order; SDR is BSS-Eval v3 (``tasnet_edu.metrics.sdr``, as mir_eval computes it). Every utterance is
separated whole, one at a time, as in the paper.

Command line: ``tasnet-edu evaluate --checkpoint PATH --data DIR`` prints the summary and writes the
per-utterance table as CSV.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import torch
from scipy import stats
from tqdm.auto import tqdm

from tasnet_edu import SAMPLE_RATE, metrics
from tasnet_edu.checkpoints import load_checkpoint, model_from_checkpoint
from tasnet_edu.compiled import ENGINES, for_engine
from tasnet_edu.data import datasets
from tasnet_edu.errors import CourseError
from tasnet_edu.inference import ShiftAverage
from tasnet_edu.utils import default_device

COLUMNS = ("utterance", "seconds", "si_snr", "si_snri", "sdr", "sdri")


def _names(dataset, n: int) -> list[str]:
    rows = getattr(dataset, "rows", None)  # the corpus loaders keep (mix_path, source_paths) rows
    return [Path(rows[i][0]).stem for i in range(n)] if rows else [str(i) for i in range(n)]


#: Luo & Mesgarani (2019), Table IV: WSJ0-2mix test set. name → (SI-SNRi dB, SDRi dB, parameters in
#: millions, causal); ``None`` where the paper gives no number. The ideal masks use a 32 ms window.
PAPER_TABLE_IV = {
    "IBM": (13.0, 13.5, None, False),
    "IRM": (12.2, 12.6, None, False),
    "WFM": (13.4, 13.8, None, False),
    "DPCL++": (10.8, None, 13.6, False),
    "BLSTM-TasNet": (13.2, 13.6, 23.6, False),
    "LSTM-TasNet": (10.8, 11.2, 32.0, True),
    "Conv-TasNet-gLN": (15.3, 15.6, 5.1, False),
    "Conv-TasNet-cLN": (10.6, 11.0, 5.1, True),
}


@torch.no_grad()
def score(separate, dataset, *, max_items: int | None = None, with_sdr: bool = True,
          sample_rate: int = SAMPLE_RATE, progress: bool = True, mixture_sdr=None) -> list[dict]:
    """Per-utterance scores of any separator on ``dataset`` (items ``(mix (time,), sources (n_src, time))``).

    ``separate(mix (time,), sources (n_src, time)) → estimates (n_src, time)``: a trained model ignores
    ``sources``; an oracle (``tasnet_edu.masks.oracle_separate``) is allowed to look. Estimates are matched
    to the sources by their best SI-SNR permutation. Returns a list of dicts with ``COLUMNS``: the utterance
    name, its length in seconds, and the SI-SNR, SI-SNRi, SDR and SDRi in dB averaged over its sources (SDR
    columns are NaN when ``with_sdr=False``; BSS-Eval is the slow part).

    ``mixture_sdr``: the unprocessed mixtures' SDR (mean over sources, one value per utterance) from an
    earlier score of the same dataset, ``mixture_sdrs(rows)``; given, SDRi reuses it instead of running
    BSS-Eval on the mixtures again (the same numbers, half the BSS-Eval work).
    """
    n = len(dataset) if max_items is None else min(max_items, len(dataset))
    if n == 0:
        raise CourseError("the evaluation set is empty")
    if mixture_sdr is not None and len(mixture_sdr) < n:
        raise CourseError(f"mixture_sdr has {len(mixture_sdr)} values for {n} utterances")
    rows = []
    for i, name in enumerate(tqdm(_names(dataset, n), desc="evaluating", disable=not progress)):
        mix, sources = dataset[i]
        est = separate(mix, sources).float().cpu()[None]
        _, perm = metrics.pit_si_snr(est, sources[None])
        est = metrics.apply_permutation(est, perm)[0]
        row = {"utterance": name, "seconds": mix.shape[-1] / sample_rate,
               "si_snr": float(metrics.si_snr(est, sources).mean()),
               "si_snri": float(metrics.si_snri(est, sources, mix).mean()),
               "sdr": math.nan, "sdri": math.nan}
        if with_sdr:  # sdri(est) = sdr(est) - sdr(mix): BSS-Eval once per signal, not twice for est
            est_sdr = float(metrics.sdr(est, sources).mean())
            mix_sdr = (float(metrics.sdr(mix.expand_as(sources), sources).mean()) if mixture_sdr is None
                       else float(mixture_sdr[i]))
            row["sdr"], row["sdri"] = est_sdr, est_sdr - mix_sdr
        rows.append(row)
    return rows


def mixture_sdrs(rows: list[dict]) -> list[float]:
    """The unprocessed mixtures' SDR per utterance, recovered from rows scored with SDR (``sdr - sdri``), for
    the ``mixture_sdr`` argument of ``score`` / ``evaluate``."""
    return [r["sdr"] - r["sdri"] for r in rows]


def evaluate(model: torch.nn.Module, dataset, *, max_items: int | None = None, with_sdr: bool = True,
             sample_rate: int = SAMPLE_RATE, device=None, progress: bool = True,
             mixture_sdr=None) -> list[dict]:
    """Per-utterance scores of ``model`` (``(batch, time) → (batch, n_src, time)``) on ``dataset``; each
    utterance separated whole. Arguments and rows as ``score``."""
    device = torch.device(device) if device is not None else default_device()
    model = model.to(device).eval()
    return score(lambda mix, _: model(mix[None].to(device))[0], dataset, max_items=max_items,
                 with_sdr=with_sdr, sample_rate=sample_rate, progress=progress, mixture_sdr=mixture_sdr)


@torch.inference_mode()
def real_time_factor(model: torch.nn.Module, seconds: float = 4.0, sample_rate: int = SAMPLE_RATE,
                     repeats: int = 3) -> float:
    """Compute seconds per second of audio of one forward pass (batch 1, ``seconds`` of noise), best of
    ``repeats`` after one warm-up, with this process's torch threads. Below 1: faster than real time.

    The number depends on the architecture and the machine, not on the weights, so an untrained model of
    the same configuration gives it too.
    """
    if seconds <= 0 or repeats < 1:
        raise CourseError(f"real_time_factor needs seconds > 0 and repeats ≥ 1, got {seconds}, {repeats}")
    model = model.eval()
    mix = torch.randn(1, round(seconds * sample_rate), generator=torch.Generator().manual_seed(0),
                      device=next(model.parameters()).device)
    sync = torch.cuda.synchronize if mix.is_cuda else (lambda: None)
    model(mix)
    best = math.inf
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        model(mix)
        sync()
        best = min(best, time.perf_counter() - start)
    return best / seconds


def mean_interval(values) -> tuple[float, float]:
    """Mean and half-width of its 95 % confidence interval (Student t; NaN half-width for one value)."""
    x = torch.tensor([v for v in values if not math.isnan(v)], dtype=torch.float64)
    if len(x) == 0:
        return math.nan, math.nan
    if len(x) == 1:
        return float(x[0]), math.nan
    half = stats.t.ppf(0.975, len(x) - 1) * float(x.std(unbiased=True)) / math.sqrt(len(x))
    return float(x.mean()), float(half)


def summarize(rows: list[dict]) -> dict:
    """``{metric: (mean, ±95 % half-width)}`` for SI-SNRi and SDRi (and SI-SNR, SDR), plus ``n``."""
    summary = {key: mean_interval(r[key] for r in rows) for key in ("si_snri", "sdri", "si_snr", "sdr")}
    summary["n"] = len(rows)
    return summary


def format_summary(summary: dict) -> str:
    """One line per metric, e.g. ``SI-SNRi  12.31 ± 0.40 dB``."""
    labels = {"si_snri": "SI-SNRi", "sdri": "SDRi", "si_snr": "SI-SNR", "sdr": "SDR"}
    lines = [f"{label:8s} {summary[k][0]:6.2f} ± {summary[k][1]:.2f} dB"
             for k, label in labels.items() if not math.isnan(summary[k][0])]
    return "\n".join([f"{summary['n']} utterances (mean ± 95 % interval)", *lines])


def write_csv(rows: list[dict], path) -> Path:
    """The per-utterance table as CSV with header ``COLUMNS``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a checkpoint written by tasnet-edu train")
    parser.add_argument("--data", required=True, help="dataset root (tr/ cv/ tt/, or LibriMix's metadata/)")
    parser.add_argument("--dataset", choices=tuple(datasets.CORPORA), default="wsj0-2mix",
                        help="layout of --data")
    parser.add_argument("--split", default="tt", help="split to score (default tt; LibriMix: test)")
    parser.add_argument("--csv", help="per-utterance table (default: <checkpoint>_<split>.csv beside it)")
    parser.add_argument("--max-items", type=int, help="score only the first N utterances")
    parser.add_argument("--no-sdr", action="store_true", help="skip BSS-Eval SDR (much faster)")
    parser.add_argument("--device", help="cpu, cuda … (default: cuda when available)")
    parser.add_argument("--engine", choices=ENGINES, default="auto",
                        help="onnx: run the network by ONNX Runtime (same scores, faster on a CPU); eager: "
                             "the PyTorch modules; auto (default): onnx for a Conv-TasNet on the CPU when "
                             "onnxruntime is installed")
    parser.add_argument("--shifts", type=int, default=1,
                        help="score the model averaged over this many input delays within one encoder hop "
                             "(tasnet_edu.inference.ShiftAverage; default %(default)s: the model alone)")


def run_cli(args: argparse.Namespace) -> int:
    checkpoint = load_checkpoint(args.checkpoint)
    device = torch.device(args.device) if args.device else default_device()
    model = for_engine(model_from_checkpoint(checkpoint), args.engine, device)
    if args.shifts != 1:
        model = ShiftAverage(model, args.shifts)
    cfg = checkpoint["config"]
    data = datasets.corpus(args.dataset, args.data, args.split, n_src=cfg["n_src"],
                           sample_rate=cfg["sample_rate"], segment=None)
    rows = evaluate(model, data, max_items=args.max_items, with_sdr=not args.no_sdr,
                    sample_rate=cfg["sample_rate"], device=device)
    ckpt = Path(args.checkpoint)
    path = write_csv(rows, args.csv or ckpt.with_name(f"{ckpt.stem}_{data.split}.csv"))
    print(format_summary(summarize(rows)))
    print(f"per-utterance scores: {path}")
    return 0
