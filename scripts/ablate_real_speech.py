"""What each ingredient of the training data with recordings of people is worth, measured at pilot scale.

Every variant starts from ``course-small-espeak`` (the espeak-only model ``course-small`` went on from) and
trains ``--steps`` steps of 4 × 2 s crops, dynamic mixing, Adam at 5e-4 (the settings of a command of the
recipe in ``course-small``'s model card), then is scored on whole utterances: the 150 mixtures of the held-out
real validation speakers (``data/real`` cv, per source family) and the 200 synthetic test mixtures. Each
variant changes one thing against ``all``, the data ``course-small`` was trained on:

- ``espeak-only``: the same mixed set with its recordings of people left out of the pool (natural speech);
- ``rms-levels``: crops levelled on their whole RMS instead of their active speech (``audio.active_rms``);
- ``dry``: the sources with synthetic room reverberation left out of the pool (40 % of the files);
- ``by-seconds``: people drawn in proportion to what they recorded (``make-data --people-by seconds``);
- ``pico``: ``make-data --speech all+pico`` with ``all``'s seed: the same people and levels, half of the
  espeak talkers made SVOX Pico speakers (``tasnet_edu.data.pico``; needs ``pip install -e ".[speech]"``);
- ``festival``: ``make-data --speech all --festival`` with ``all``'s seed: the twelve Festival voices
  (``tasnet_edu.data.festival``, rendered with ``tasnet-edu render-festival``) join the training people;
- ``few-people``: only every fourth speaker group of the people (15 of 60 names in sorted order) stays, so
  the pool holds fewer people *and* less of them (a fifth of its files instead of half): an upper bound on
  what the other 45 groups are worth;
- ``none``: no training at all (the espeak-only model as shipped).

Pilot scale: a few hundred steps show which way an ingredient pushes early on, not what it is worth after
hours. Static mixtures (no dynamic mixing) are not a variant: in a few hundred steps a static set of 6000
mixtures never repeats, so the two cannot differ yet. Run ``all`` with two seeds to see the noise of one run.

Usage (each variant about 6 minutes on 2 cores for 400 steps):
    python scripts/ablate_real_speech.py --steps 400 --out runs/ablation.json all espeak-only dry

``all`` and the variants made from it read ``data/mixed`` (``make natural-data``), ``by-seconds``
``data/mixed-seconds`` (the recipe in ``course-small``'s model card), and the other two their own sets:
    C="--natural-cache data/natural-cache --n-train 6000 --seed 2"
    tasnet-edu make-data --out data/mixed-pico --speech all+pico $C
    tasnet-edu render-festival --cache data/natural-cache
    tasnet-edu make-data --out data/mixed-fest --speech all --festival $C
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
from pathlib import Path

import torch

from tasnet_edu import compiled, pretrained
from tasnet_edu.data import DynamicMix, WSJ0Mix, ensure_mixtures
from tasnet_edu.data.mixtures import read_manifest
from tasnet_edu.evaluate import evaluate, mean_interval
from tasnet_edu.train import fit

VARIANTS = {  # name: (which data set, which of its files stay in the pool, level rule)
    "none": None,
    "all": ("mixed", None, "active"),
    "espeak-only": ("mixed", lambda src, root: src["kind"] == "espeak", "active"),
    "rms-levels": ("mixed", None, "rms"),
    "dry": ("mixed", lambda src, root: not src["rt60_s"], "active"),
    "by-seconds": ("seconds", None, "active"),
    "pico": ("pico", None, "active"),
    "festival": ("festival", None, "active"),
    "few-people": ("mixed", lambda src, root: src["kind"] == "espeak" or src["speaker"] in few_people(root),
                   "active"),
}


@functools.cache
def few_people(root: Path) -> set[str]:
    """Every fourth name, in sorted order, of the training speaker groups of people in ``root``'s manifest."""
    people = read_manifest(root)["natural_speakers"]
    return set(sorted(name for name, info in people.items() if info["split"] == "train")[::4])


def source_plans(root: Path) -> dict[tuple[str, str], dict]:
    """``{(s1|s2, file name): the source's plan}`` of ``root``'s training split, from its manifest."""
    mixtures = read_manifest(root)["splits"]["tr"]["mixtures"]
    return {(key, m["file"]): m[key] for m in mixtures for key in ("s1", "s2")}


def train_set(root: Path, accept, level: str, seed: int) -> DynamicMix:
    """2 s dynamic mixtures of ``root``'s training sources that ``accept(plan, root)`` keeps (all if None)."""
    keep = None
    if accept is not None:
        plans = source_plans(root)
        keep = lambda path, _: accept(plans[path.parent.name, path.name], root)  # noqa: E731
    return DynamicMix(root, "tr", segment=2.0, seed=seed, level=level, keep=keep)


def families(root: Path) -> list[list[str]]:
    """The source families (``asterisk``, ``tuxpaint`` …) of the two talkers of each cv mixture."""
    mixtures = read_manifest(root)["splits"]["cv"]["mixtures"]
    return [sorted({m[k]["speaker"].split("/")[0] for k in ("s1", "s2")}) for m in mixtures]


def score(model, real: Path, synthetic: WSJ0Mix, max_items: int | None = None) -> dict:
    """SI-SNRi per real cv mixture and per synthetic test mixture, and the real means per family."""
    fast = compiled.for_engine(model.eval(), "auto")
    rows = {name: evaluate(fast, data, with_sdr=False, progress=False, max_items=max_items)
            for name, data in (("real", WSJ0Mix(real, "cv", segment=None)), ("synthetic", synthetic))}
    per = collections.defaultdict(list)
    for row, fams in zip(rows["real"], families(real)[:len(rows["real"])], strict=True):
        for family in fams:
            per[family].append(row["si_snri"])
    return {**{k: [r["si_snri"] for r in v] for k, v in rows.items()},
            "real_by_family": {k: sum(v) / len(v) for k, v in sorted(per.items())}}


def run(name: str, seed: int, args) -> dict:
    """Train variant ``name`` with ``seed`` (nothing for ``none``) and score it."""
    model = pretrained.load("course-small-espeak")
    if VARIANTS[name] is not None:
        which, accept, level = VARIANTS[name]
        root = {"mixed": args.data, "seconds": args.seconds_data, "pico": args.pico_data,
                "festival": args.festival_data}[which]
        data = train_set(root, accept, level, seed)
        fit(model.train(), data, steps=args.steps, batch_size=4, lr=5e-4, seed=seed, progress=False)
    synthetic = WSJ0Mix(ensure_mixtures(0, 0, 200, seed=0), "tt", segment=None)
    return score(model, args.real, synthetic, args.max_items)


def report(results: dict) -> str:
    """A markdown table: each run's real and synthetic SI-SNRi, and its paired difference to ``all``."""
    lines = ["| variant | seed | real cv SI-SNRi | per family | synthetic tt | real minus `all` (paired) |",
             "|---|---|---|---|---|---|"]
    for key, res in results.items():
        name, seed = key.rsplit(" seed ", 1)
        base = results.get(f"all seed {seed}") or results.get("all seed 0")
        diff = "" if base is None or name == "all" else "{:+.2f} ± {:.2f}".format(
            *mean_interval([a - b for a, b in zip(res["real"], base["real"], strict=True)]))
        fams = ", ".join(f"{k} {v:.2f}" for k, v in res["real_by_family"].items())
        real, synthetic = ("{:.2f} ± {:.2f}".format(*mean_interval(res[k])) for k in ("real", "synthetic"))
        lines.append(f"| {name} | {seed} | {real} | {fams} | {synthetic} | {diff} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("variants", nargs="+", choices=sorted(VARIANTS))
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--data", type=Path, default=Path("data/mixed"))
    parser.add_argument("--seconds-data", type=Path, default=Path("data/mixed-seconds"))
    parser.add_argument("--pico-data", type=Path, default=Path("data/mixed-pico"))
    parser.add_argument("--festival-data", type=Path, default=Path("data/mixed-fest"))
    parser.add_argument("--real", type=Path, default=Path("data/real"))
    parser.add_argument("--max-items", type=int,
                        help="score only this many mixtures of each set (a smoke test)")
    parser.add_argument("--out", type=Path, required=True,
                        help="JSON file; the runs already in it (same --steps and --max-items) are kept")
    args = parser.parse_args()
    torch.set_num_threads(2)
    setting = {"steps": args.steps, "max_items": args.max_items}
    saved = json.loads(args.out.read_text()) if args.out.exists() else {**setting, "runs": {}}
    if {k: saved[k] for k in setting} != setting:
        parser.error(f"{args.out} holds runs of {saved['steps']} steps and --max-items {saved['max_items']}: "
                     "use another --out")
    runs = saved["runs"]
    for name in args.variants:
        for seed in ([0] if name == "none" else args.seeds):
            key = f"{name} seed {seed}"
            if key not in runs:
                runs[key] = run(name, seed, args)
                args.out.write_text(json.dumps(saved))
                print(report({key: runs[key]}).splitlines()[-1], flush=True)
    print(report(runs))


if __name__ == "__main__":
    main()
