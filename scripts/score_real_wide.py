"""Score the shipped models on the wide held-out split of recorded people, per source and person, full and
partial overlap apart, and measure what they do with a single talker (issue 41; ``docs/real-speech.md``).

Every source of every mixture is scored on its own (SI-SNRi and, unless ``--no-sdr``, SDRi, in dB, after the
best permutation), so a mixture counts once for each of its two people. A partly overlapped mixture is scored
over its whole length: where a talker is silent its reference is digital silence, and whatever an output
holds there (the other talker leaking in) is counted as error by SI-SNR's noise term, as a listener hears it.

The single-talker test (``evaluate.single_talker_leakage``) feeds utterances of one person of the split
alone (3–6 s of their recordings joined, ``natural.utterance``, peak 0.5) and reports how far below the
stronger output the weaker one stays (median and worst).

Usage (the data: ``docs/real-speech.md``; about 25 min on one core for the four models and the IRM):
    OMP_NUM_THREADS=1 nice -n 5 python scripts/score_real_wide.py --data data/real-wide \
        --cache data/natural-cache --split tt --out runs/real-wide/tt.json
    python scripts/score_real_wide.py --report runs/real-wide/tt.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import numpy as np
import torch

from tasnet_edu import masks, metrics, pretrained
from tasnet_edu.data import WSJ0Mix, layout, mixtures, natural
from tasnet_edu.evaluate import mean_interval, single_talker_leakage

MODELS = ("course-small", "course-small-causal", "course-small-espeak", "deep-clustering")
SPLIT_NAMES = {"tt": "test", "cv": "valid"}


def talkers(root: Path, folder: str) -> list[dict]:
    """Per mixture of ``folder`` (``tt``/``cv``), from the manifest: its two people, their source families
    and persons, and whether it is partly overlapped."""
    manifest = mixtures.read_manifest(root)
    people = manifest["natural_speakers"]
    rows = []
    for mix in manifest["splits"][folder]["mixtures"]:
        names = [mix[k]["speaker"] for k in ("s1", "s2")]
        rows.append({"file": mix["file"], "speakers": names,
                     "families": [people[n].get("family", n.split("/")[0]) for n in names],
                     "partial": bool(mix.get("overlap", {}).get("partial")),
                     "relative_db": mix["relative_db"]})
    return rows


@torch.no_grad()
def score_sources(separate, data: WSJ0Mix, info: list[dict], with_sdr: bool) -> list[dict]:
    """One row per source of each mixture: who, which family, partial or not, SI-SNRi and SDRi (dB)."""
    rows = []
    for i, about in enumerate(info):
        mix, sources = data[i]
        est = separate(mix, sources).float().cpu()[None]
        _, perm = metrics.pit_si_snr(est, sources[None])
        est = metrics.apply_permutation(est, perm)[0]
        si = metrics.si_snri(est, sources, mix).tolist()
        sd = metrics.sdri(est, sources, mix).tolist() if with_sdr else [math.nan] * 2
        for k in range(2):
            rows.append({"file": about["file"], "k": k, "speaker": about["speakers"][k],
                         "family": about["families"][k], "partial": about["partial"],
                         "si_snri": si[k], "sdri": sd[k]})
    return rows


def single_utterances(cache: Path, root: Path, split: str, per_person: int, seed: int = 0) -> list:
    """``per_person`` utterances of each person of ``split`` in ``root``'s manifest, alone: ``(speaker,
    wav)`` pairs, 3–6 s each, peak 0.5."""
    people = mixtures.read_manifest(root)["natural_speakers"]
    names = sorted(n for n, v in people.items() if v["split"] == split)
    recs = [r for r in natural.index(cache, log=lambda _: None) if r.speaker in names]
    out = []
    for name in names:
        rng = np.random.default_rng([seed, sum(map(ord, name))])
        for _ in range(per_person):
            wav, _ = natural.utterance([r for r in recs if r.speaker == name], rng.uniform(3.0, 6.0), rng)
            out.append((name, 0.5 * wav))
    return out


def separator(name: str):
    """``separate(mix, sources) -> estimates`` for a shipped model or ``"irm"`` (the oracle ceiling)."""
    if name == "irm":
        return lambda mix, sources: masks.oracle_separate(mix, sources, mask="irm"), None
    model = pretrained.load(name).eval()
    return (lambda mix, _: model(mix[None])[0]), model


def run(args: argparse.Namespace) -> dict:
    data = WSJ0Mix(args.data, args.split, segment=None)
    info = talkers(args.data, args.split)[:args.max_items]
    single = single_utterances(args.cache, args.data, SPLIT_NAMES[args.split], args.per_person)
    result = {"data": str(args.data), "split": args.split, "models": {}}
    for name in args.models:
        separate, model = separator(name)
        entry = {"sources": score_sources(separate, data, info, not args.no_sdr)}
        if model is not None and single:
            leak = single_talker_leakage(model, [wav for _, wav in single])
            entry["leakage"] = [{"speaker": s, "db": d} for (s, _), d in zip(single, leak, strict=True)]
        result["models"][name] = entry
        print(name, "done", flush=True)
    return result


def table(rows: list[dict], key) -> dict[str, tuple[float, float, int, float, float]]:
    """``{group: (SI-SNRi mean, ±95 %, n, SDRi mean, ±95 %)}`` over the rows grouped by ``key(row)``; the
    sources of one mixture in one group are averaged first, so ``n`` counts mixtures (they are not
    independent draws)."""
    groups: dict[str, dict[str, list[dict]]] = {}
    for row in rows:
        groups.setdefault(key(row), {}).setdefault(row["file"], []).append(row)
    out = {}
    for g, by_file in sorted(groups.items()):
        si = [statistics.fmean(r["si_snri"] for r in rs) for rs in by_file.values()]
        sd = [statistics.fmean(r["sdri"] for r in rs) for rs in by_file.values()]
        out[g] = (*mean_interval(si), len(si), *mean_interval(sd))
    return out


def leakage(entry: dict) -> tuple[int, float, float, float]:
    """A model's single-talker leakage over its utterances: ``(n, median dB, worst dB, share ≥ 20 dB)``."""
    db = [x["db"] for x in entry["leakage"]]
    return len(db), statistics.median(db), min(db), sum(d >= 20 for d in db) / len(db)


def report(result: dict) -> str:
    """Markdown tables of a ``run`` result: overall, full vs partial, per family, per person; leakage (of
    the models it was measured for)."""
    lines = [f"### {result['data']} {result['split']}"]
    cuts = {"all": lambda r: "all", "overlap": lambda r: "partial" if r["partial"] else "full",
            "source": lambda r: r["family"], "person": lambda r: r["speaker"]}
    for cut, key in cuts.items():
        names = list(result["models"])
        groups = sorted({key(r) for m in names for r in result["models"][m]["sources"]})
        lines += ["", f"| {cut} | mixtures | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
        tables = {m: table(result["models"][m]["sources"], key) for m in names}
        for g in groups:
            n = tables[names[0]][g][2]
            cells = [f"{t[g][0]:.2f} ± {t[g][1]:.2f}" + ("" if math.isnan(t[g][3]) else f" / {t[g][3]:.2f}")
                     for t in tables.values()]
            lines.append(f"| {g} | {n} | " + " | ".join(cells) + " |")
    leaks = [(name, *leakage(entry)) for name, entry in result["models"].items() if "leakage" in entry]
    if leaks:
        lines += ["", "| model | n | median dB | worst dB | share ≥ 20 dB |", "|---|---|---|---|---|"]
        lines += [f"| {name} | {n} | {median:.1f} | {worst:.1f} | {share:.0%} |"
                  for name, n, median, worst, share in leaks]
    return "\n".join(lines)


def per_mixture(rows: list[dict]) -> dict[str, tuple[float, bool]]:
    """``{file: (mean SI-SNRi of its sources, partly overlapped)}``."""
    by_file: dict[str, list[dict]] = {}
    for row in rows:
        by_file.setdefault(row["file"], []).append(row)
    return {f: (statistics.fmean(r["si_snri"] for r in rs), rs[0]["partial"]) for f, rs in by_file.items()}


def paired(result: dict, pairs: list[tuple[str, str]]) -> str:
    """A markdown table of ``other − base`` for each ``(base, other)``: SI-SNRi paired over the same mixtures
    (all, full, partial; mean ± 95 %) and the single-talker leakage medians' difference (dB; "—" unless both
    were measured)."""
    lines = ["| base → other | all | full | partial | leakage median |", "|---|---|---|---|---|"]
    for base, other in pairs:
        a, b = (per_mixture(result["models"][m]["sources"]) for m in (base, other))
        cells = []
        for keep in (lambda _: True, lambda partial: not partial, lambda partial: partial):
            diffs = [b[f][0] - a[f][0] for f in a if keep(a[f][1])]
            mean, half = mean_interval(diffs)
            cells.append(f"{mean:+.2f} ± {half:.2f} ({len(diffs)})")
        entries = [result["models"][m] for m in (base, other)]
        leak = [leakage(e)[1] for e in entries if "leakage" in e]
        cells.append(f"{leak[1] - leak[0]:+.1f}" if len(leak) == 2 else "—")
        lines.append(f"| {base} → {other} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def card_entry(result: dict, model: str, max_db: float | None = None) -> dict:
    """A model card's ``scores`` entry for ``model`` in a ``run`` result (``pretrained.card``'s form): SI-SNRi
    and SDRi over all mixtures (mean ± 95 %), the full- and partial-overlap means (``per_overlap``) and the
    single-talker leakage (``leakage``: utterances, median dB, share ≥ 20 dB). ``max_db``: the data's widest
    relative level, for the voices' description."""
    entry = result["models"][model]
    si, si_ci, n, sd, sd_ci = table(entry["sources"], lambda r: "all")["all"]
    overlap = table(entry["sources"], lambda r: "partial" if r["partial"] else "full")
    families: dict[str, list[str]] = {}
    for speaker in sorted({r["speaker"] for r in entry["sources"]}):
        family, _, person = speaker.rpartition("/")
        families.setdefault(family, []).append(person)
    people = "; ".join(f"{', '.join(names)} ({family})" if family else ", ".join(names)
                       for family, names in families.items())
    levels = "" if max_db is None else f"; level gaps 0–{max_db:g} dB"
    partial = overlap["partial"][2] if "partial" in overlap else 0
    count = sum(len(names) for names in families.values())
    voices = (f"{count} speaker groups held out of training: {people}{levels}; "
              f"{partial} of {n} mixtures partly overlapped")
    utterances, median, _, share = leakage(entry)
    return {
        "name": f"wide real {SPLIT_NAMES[result['split']]} set",
        "data": f"{result['data']} {result['split']}/ (docs/real-speech.md)",
        "voices": voices,
        "n_mixtures": n,
        "si_snri": {"mean": round(si, 2), "ci95": round(si_ci, 2)},
        "sdri": ({"mean": None, "ci95": None} if math.isnan(sd)
                 else {"mean": round(sd, 2), "ci95": round(sd_ci, 2)}),
        "per_overlap": {f"{k} overlap": round(v[0], 2) for k, v in overlap.items()},
        "leakage": {"utterances": utterances, "median_db": round(median, 1), "share_20db": round(share, 2)},
    }


def write_cards(result: dict) -> list[Path]:
    """Put ``card_entry`` of every shipped model in ``result`` into its card as ``scores["real-wide"]``
    (``scores["real-wide-valid"]`` for the validation split) and rewrite the card."""
    key = "real-wide" if result["split"] == "tt" else "real-wide-valid"
    manifest = layout.load_manifest(result["data"]) or {}
    written = []
    for model in result["models"]:
        if model in pretrained.SHIPPED:
            made = pretrained.card(model)
            made["scores"][key] = card_entry(result, model, manifest.get("max_db"))
            written.append(pretrained.write_card(made))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/real-wide"))
    parser.add_argument("--cache", type=Path, default=Path("data/natural-cache"))
    parser.add_argument("--split", choices=sorted(SPLIT_NAMES), default="tt")
    parser.add_argument("--models", nargs="+", default=[*MODELS, "irm"])
    parser.add_argument("--per-person", type=int, default=8,
                        help="single-talker utterances per person (0: no single-talker test)")
    parser.add_argument("--max-items", type=int, help="score only the first N mixtures of the split")
    parser.add_argument("--no-sdr", action="store_true", help="SI-SNRi only (BSS-Eval is the slow part)")
    parser.add_argument("--out", type=Path, help="write the per-source rows and leakage as JSON")
    parser.add_argument("--report", type=Path, nargs="+", help="print the tables of earlier --out files")
    parser.add_argument("--paired", nargs=2, action="append", metavar=("BASE", "OTHER"),
                        help="with --report: also OTHER − BASE paired over the same mixtures (repeatable)")
    parser.add_argument("--to-cards", action="store_true",
                        help="with --report: write the shipped models' scores into their model cards")
    args = parser.parse_args()
    if args.report:
        results = [json.loads(p.read_text()) for p in args.report]
        merged = {**results[0], "models": {k: v for r in results for k, v in r["models"].items()}}
        print(report(merged))
        if args.paired:
            print("\n" + paired(merged, args.paired))
        if args.to_cards:
            print("\n".join(f"wrote {path}" for path in write_cards(merged)))
        return
    torch.set_num_threads(1)
    result = run(args)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(report(result))


if __name__ == "__main__":
    main()
