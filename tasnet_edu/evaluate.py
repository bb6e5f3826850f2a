"""Score a separation model on a test set: SI-SNRi and SDRi per utterance, and their mean ± 95 % interval.

The paper reports the mean improvement over the whole wsj0-2mix test set (``tt``, 3000 mixtures): SI-SNRi
15.3 dB and SDRi 15.6 dB for its best Conv-TasNet. Estimates are matched to the references by the
permutation with the best SI-SNR (the model's output order is arbitrary), then both metrics are computed on
that order; SDR is BSS-Eval v3 (``tasnet_edu.metrics.sdr``, as mir_eval computes it). Every utterance is
separated whole, one at a time, as in the paper.

Beyond the paper's two numbers, ``metrics`` (``--metrics``) adds BSS-Eval's SIR and SAR (interference left,
artifacts added), and the listener models of ``tasnet_edu.perceptual``: STOI (intelligibility), PESQ
(P.862 narrow-band at 8 kHz) and DNSMOS (quality without a reference), which need the ``metrics`` extra.

Command line: ``tasnet-edu evaluate --checkpoint NAME|PATH --data DIR [--metrics si_snr,sdr,stoi,…]`` prints
the summary and writes the per-utterance table as CSV (by default in the current directory): the library
function ``evaluate_checkpoint``.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import torch
from scipy import stats
from tqdm.auto import tqdm

from tasnet_edu import SAMPLE_RATE, perceptual, pretrained
from tasnet_edu import metrics as scores
from tasnet_edu.data import datasets
from tasnet_edu.errors import CourseError
from tasnet_edu.inference import fit_to_mixture
from tasnet_edu.utils import default_device, module_device

#: The columns of every per-utterance row (SDR ones NaN where SDR was not asked for).
COLUMNS = ("utterance", "seconds", "si_snr", "si_snri", "sdr", "sdri")

#: What ``score`` can compute (``--metrics``) → the columns it adds. SI-SNR is always computed: it chooses
#: the permutation. ``stoi``, ``pesq`` and ``dnsmos`` need the ``metrics`` extra (``tasnet_edu.perceptual``).
METRICS = {"si_snr": ("si_snr", "si_snri"), "sdr": ("sdr", "sdri"), "sir": ("sir",), "sar": ("sar",),
           "stoi": ("stoi",), "pesq": ("pesq",), "dnsmos": ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")}
DEFAULT_METRICS = ("si_snr", "sdr")

#: How ``format_summary`` names each column, and its unit.
_NO_REFERENCE = "(1-5, no reference)"
LABELS = {"si_snri": ("SI-SNRi", "dB"), "sdri": ("SDRi", "dB"), "si_snr": ("SI-SNR", "dB"),
          "sdr": ("SDR", "dB"), "sir": ("SIR", "dB"), "sar": ("SAR", "dB"), "stoi": ("STOI", "(0-1)"),
          "pesq": ("PESQ", "MOS-LQO (P.862 narrow-band, 8 kHz)"), "dnsmos_sig": ("DNSMOS SIG", _NO_REFERENCE),
          "dnsmos_bak": ("DNSMOS BAK", _NO_REFERENCE), "dnsmos_ovrl": ("DNSMOS OVRL", _NO_REFERENCE)}


def check_metrics(names) -> tuple[str, ...]:
    """``names`` (a sequence, or one comma-separated string) as a tuple of known metrics, each once, in
    ``METRICS`` order; the optional packages they need are imported now, so a missing one fails before any
    utterance is separated (one ``CourseError`` line naming the extra)."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise CourseError(f"unknown metric(s) {', '.join(map(repr, unknown))}; "
                          f"choose from {', '.join(METRICS)}")
    for name in names:
        if name in perceptual.PACKAGES:
            perceptual.require(name)
    return tuple(n for n in METRICS if n in names)


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


#: Luo & Mesgarani (2019), Tables VI and VII: the quality of the separated speech on WSJ0-2mix.
#: name → (PESQ on the whole test set (Table VI), MOS of 40 listeners on 25 test mixtures (Table VII), PESQ of
#: those 25 (Table VII)); ``None`` where the paper gives no number. PESQ ranks the IRM first, the listeners
#: Conv-TasNet. The paper does not say which PESQ variant it ran (clean speech scores 4.5 there).
PAPER_TABLES_VI_VII = {
    "IRM": (3.74, 3.51, 3.74),
    "IBM": (3.33, None, None),
    "WFM": (3.70, None, None),
    "Conv-TasNet-gLN": (3.24, 4.03, 3.22),
    "Clean": (None, 4.23, 4.5),
}


@torch.no_grad()
def score(separate, dataset, *, max_items: int | None = None, with_sdr: bool = True,
          sample_rate: int = SAMPLE_RATE, progress: bool = True, mixture_sdr=None,
          metrics=DEFAULT_METRICS) -> list[dict]:
    """Per-utterance scores of any separator on ``dataset`` (items ``(mix (time,), sources (n_src, time))``).

    ``separate(mix (time,), sources (n_src, time)) → estimates (n_src, time)``: a trained model ignores
    ``sources``; an oracle (``tasnet_edu.masks.oracle_separate``) is allowed to look. Estimates are matched
    to the sources by their best SI-SNR permutation. Returns a list of dicts with ``COLUMNS``: the utterance
    name, its length in seconds, and the SI-SNR, SI-SNRi, SDR and SDRi in dB averaged over its sources (SDR
    columns are NaN when ``with_sdr=False``; BSS-Eval is the slow part).

    ``mixture_sdr``: the unprocessed mixtures' SDR (mean over sources, one value per utterance) from an
    earlier score of the same dataset, ``mixture_sdrs(rows)``; given, SDRi reuses it instead of running
    BSS-Eval on the mixtures again (the same numbers, half the BSS-Eval work).

    ``metrics``: names from ``METRICS``; each adds its columns to the rows (averaged over the sources too):
    ``sir``, ``sar`` (BSS-Eval v3, dB), ``stoi``, ``pesq`` (narrow-band at 8 kHz, MOS-LQO) and ``dnsmos``
    (SIG, BAK, OVRL of each estimate alone, at the level ``tasnet-edu separate`` writes it:
    ``inference.fit_to_mixture``). ``with_sdr=False`` drops ``sdr`` from them.
    """
    metrics = tuple(m for m in check_metrics(metrics) if with_sdr or m != "sdr")
    n = len(dataset) if max_items is None else min(max_items, len(dataset))
    if n == 0:
        raise CourseError("the evaluation set is empty")
    if mixture_sdr is not None and len(mixture_sdr) < n:
        raise CourseError(f"mixture_sdr has {len(mixture_sdr)} values for {n} utterances")
    rows = []
    for i, name in enumerate(tqdm(_names(dataset, n), desc="evaluating", disable=not progress)):
        mix, sources = dataset[i]
        est = separate(mix, sources).float().cpu()[None]
        si_snri, perm = scores.pit_si_snri(est, sources[None], mix[None])
        est = scores.apply_permutation(est, perm)[0]
        row = {"utterance": name, "seconds": mix.shape[-1] / sample_rate,
               "si_snr": float(scores.si_snr(est, sources).mean()), "si_snri": float(si_snri.mean()),
               "sdr": math.nan, "sdri": math.nan}
        if "sir" in metrics or "sar" in metrics:  # one BSS-Eval decomposition gives SDR, SIR and SAR
            est_sdr, est_sir, est_sar = (float(x.mean()) for x in scores.bss_eval(est, sources))
            row.update({k: v for k, v in (("sir", est_sir), ("sar", est_sar)) if k in metrics})
        elif "sdr" in metrics:
            est_sdr = float(scores.sdr(est, sources).mean())
        if "sdr" in metrics:  # sdri(est) = sdr(est) - sdr(mix): BSS-Eval once per signal, not twice for est
            mix_sdr = (float(scores.sdr(mix.expand_as(sources), sources).mean()) if mixture_sdr is None
                       else float(mixture_sdr[i]))
            row["sdr"], row["sdri"] = est_sdr, est_sdr - mix_sdr
        if "stoi" in metrics:
            row["stoi"] = float(perceptual.stoi(est, sources, sample_rate).mean())
        if "pesq" in metrics:
            row["pesq"] = float(perceptual.pesq(est, sources, sample_rate).nanmean())
        if "dnsmos" in metrics:
            quality = perceptual.dnsmos(fit_to_mixture(est, mix), sample_rate)
            row.update({f"dnsmos_{k}": float(v.mean()) for k, v in quality._asdict().items()})
        rows.append(row)
    return rows


def mixture_sdrs(rows: list[dict]) -> list[float]:
    """The unprocessed mixtures' SDR per utterance, recovered from rows scored with SDR (``sdr - sdri``), for
    the ``mixture_sdr`` argument of ``score`` / ``evaluate``."""
    return [r["sdr"] - r["sdri"] for r in rows]


def model_rate(model, sample_rate: int | None = None) -> int:
    """``sample_rate`` when given, else the rate of ``model`` (a separator's ``sample_rate``); a plain module
    without one is taken to run at the course's rate, ``tasnet_edu.SAMPLE_RATE`` (8 kHz)."""
    return sample_rate if sample_rate is not None else getattr(model, "sample_rate", SAMPLE_RATE)


def evaluate(model: torch.nn.Module, dataset, *, max_items: int | None = None, with_sdr: bool = True,
             sample_rate: int | None = None, device=None, progress: bool = True,
             mixture_sdr=None, metrics=DEFAULT_METRICS) -> list[dict]:
    """Per-utterance scores of ``model`` (``(batch, time) → (batch, n_src, time)``) on ``dataset``; each
    utterance separated whole. Arguments and rows as ``score``; ``sample_rate``: by default the model's
    (``model_rate``); ``device``: where to run it, by default where the model is. The model is left on the
    device it came on (a chapter goes on calling it there)."""
    sample_rate = model_rate(model, sample_rate)
    home = module_device(model, default_device())
    device = torch.device(device) if device is not None else home
    model = model.to(device).eval()
    try:
        return score(lambda mix, _: model(mix[None].to(device))[0], dataset, max_items=max_items,
                     with_sdr=with_sdr, sample_rate=sample_rate, progress=progress, mixture_sdr=mixture_sdr,
                     metrics=metrics)
    finally:
        model.to(home)


@torch.inference_mode()
def real_time_factor(model: torch.nn.Module, seconds: float = 4.0, sample_rate: int | None = None,
                     repeats: int = 3) -> float:
    """Compute seconds per second of audio of one forward pass (batch 1, ``seconds`` of noise at
    ``sample_rate``, by default the model's: ``model_rate``), best of ``repeats`` after one warm-up, with
    this process's torch threads. Below 1: faster than real time.

    The number depends on the architecture and the machine, not on the weights, so an untrained model of
    the same configuration gives it too.
    """
    if seconds <= 0 or repeats < 1:
        raise CourseError(f"real_time_factor needs seconds > 0 and repeats ≥ 1, got {seconds}, {repeats}")
    model = model.eval()
    samples = round(seconds * model_rate(model, sample_rate))
    mix = torch.randn(1, samples, generator=torch.Generator().manual_seed(0),
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
    """``{column: (mean, ±95 % half-width)}`` for every score column of ``rows`` (SI-SNRi and SDRi first,
    then SI-SNR, SDR and the others in their order), plus ``n``."""
    first = ("si_snri", "sdri", "si_snr", "sdr")
    keys = [*first, *(k for k in rows[0] if k not in (*first, "utterance", "seconds"))]
    summary = {key: mean_interval(r[key] for r in rows) for key in keys}
    summary["n"] = len(rows)
    return summary


def format_summary(summary: dict) -> str:
    """One line per metric with its unit, e.g. ``SI-SNRi       12.31 ± 0.40 dB``; NaN means are left out."""
    lines = []
    for key, (mean, half) in ((k, v) for k, v in summary.items() if k != "n"):
        label, unit = LABELS.get(key, (key, ""))
        if not math.isnan(mean):
            lines.append(f"{label:12s} {mean:6.2f} ± {half:.2f} {unit}".rstrip())
    return "\n".join([f"{summary['n']} utterances (mean ± 95 % interval)", *lines])


def write_csv(rows: list[dict], path) -> Path:
    """The per-utterance table as CSV: header ``COLUMNS``, then the columns of any other metric scored."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = [*COLUMNS, *(k for k in (rows[0] if rows else {}) if k not in COLUMNS)]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def evaluate_checkpoint(checkpoint, data, *, dataset: str = "wsj0-2mix", split: str = "tt", csv_path=None,
                        max_items: int | None = None, metrics=DEFAULT_METRICS, with_sdr: bool = True,
                        device=None, engine: str = "auto", shifts: int = 1) -> tuple[list[dict], Path]:
    """Score a trained model on one split of a corpus and write its per-utterance table (what ``tasnet-edu
    evaluate`` does); returns the rows (as ``evaluate``) and the path of the CSV file.

    Args:
        checkpoint: a name in ``pretrained.SHIPPED`` or a checkpoint file written by ``tasnet-edu train``.
        data, dataset, split: the corpus root, its layout (a name in ``datasets.CORPORA``), the split scored.
        csv_path: where the table goes; default ``<checkpoint name>_<split>.csv`` in the current directory.
        max_items, metrics, with_sdr: as ``score``; a metric whose extra is missing fails before the model
            and the data load.
        device: where the model runs (default: CUDA when available).
        engine, shifts: what runs the network and how many shifted passes are averaged (``pretrained.load``).
    """
    chosen = check_metrics(metrics)
    device = torch.device(device) if device else default_device()
    separator = pretrained.load(checkpoint, device, engine=engine, shifts=shifts)
    corpus = datasets.corpus(dataset, data, split, n_src=separator.n_src, sample_rate=separator.sample_rate,
                             segment=None)
    rows = evaluate(separator, corpus, max_items=max_items, with_sdr=with_sdr,
                    sample_rate=separator.sample_rate, device=device, metrics=chosen)
    # In the current directory, never beside the checkpoint: a shipped one lies inside the installed package.
    return rows, write_csv(rows, csv_path or f"{pretrained.resolve(checkpoint).stem}_{corpus.split}.csv")


@torch.no_grad()
def single_talker_leakage(model: torch.nn.Module, utterances, device=None) -> list[float]:
    """How far below the stronger output the weaker one stays when only one person talks, per utterance (dB).

    ``utterances``: an iterable of ``(time,)`` signals, each one talker alone. Each goes through ``model``
    (``(batch, time) → (batch, n_src, time)``) whole; the value is ``10 log10`` of the energy of the strongest
    output over the weakest. A separator that puts the talker in one output and near silence in the other
    scores high (≥ 20 dB: the leak is inaudible beside the voice); one that splits the voice in two scores
    near 0 dB. Returns one value per utterance, in their order.
    """
    home = module_device(model, default_device())
    device = torch.device(device) if device is not None else home
    model = model.to(device).eval()
    out = []
    try:
        for wav in utterances:
            est = model(torch.as_tensor(wav, dtype=torch.float32)[None].to(device))[0].float().cpu()
            energy = est.pow(2).sum(-1).double()
            out.append(float(10 * torch.log10(energy.max().clamp_min(1e-20) / energy.min().clamp_min(1e-20))))
    finally:
        model.to(home)
    return out
