"""A copy of one split of a generated dataset with both talkers of each mixture heard in one room (issue 41).

Each mixture's sources go through ``dynamic.in_one_room`` (the room that ``tasnet-edu train --rooms`` draws),
drawn from ``[seed, index]``; each reverberant source keeps its stored RMS, so the manifest's relative levels
still hold. The sources are stored as heard (the targets of separation), as 16-bit samples with
``mix == s1 + s2`` exactly. The manifest is copied with a ``rooms`` record; the people stay as they were.

Usage (the 300 wide validation mixtures in about a minute):
    python scripts/make_roomy_split.py --data data/real-wide --split cv --out data/real-wide-rooms
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import numpy as np

from tasnet_edu import SAMPLE_RATE, audio
from tasnet_edu.data import WSJ0Mix, dynamic, layout, mixtures
from tasnet_edu.errors import CourseError

PEAK = 0.9  # of full scale, for the loudest of mix, s1 and s2


def reverberate(sources: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``sources`` ``(2, time)`` in one room, each rescaled to its own RMS, as int16 ``(mix, s1, s2)``."""
    dry = sources.astype(np.float64)
    heard = dynamic.in_one_room(dry, rng, SAMPLE_RATE)
    rms = np.sqrt((dry**2).mean(axis=1, keepdims=True))
    heard *= rms / (np.sqrt((heard**2).mean(axis=1, keepdims=True)) + 1e-12)
    return mixtures.to_int16(heard[0], heard[1], PEAK)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", choices=("cv", "tt"), default="cv")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    manifest = layout.load_manifest(args.data)
    if manifest is None:
        raise CourseError(f"{args.data}: no manifest.json; make the dataset with tasnet-edu make-data first")
    data = WSJ0Mix(args.data, args.split, segment=None)
    folders = [args.out / args.split / name for name in ("mix", "s1", "s2")]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    for index, (mix_path, _) in enumerate(data.rows):
        waves = reverberate(data[index][1].numpy(), np.random.default_rng([args.seed, index]))
        for folder, wav in zip(folders, waves, strict=True):
            audio.save(folder / Path(mix_path).name, wav, SAMPLE_RATE)
    out = copy.deepcopy(manifest)
    out["splits"] = {args.split: manifest["splits"][args.split]}
    out["counts"] = {args.split: len(data)}
    out["rooms"] = {"from": str(args.data), "split": args.split, "seed": args.seed,
                    "method": "tasnet_edu.data.dynamic.in_one_room", "rt60_s": list(dynamic.ROOM_RT60_S),
                    "drr_db": list(dynamic.ROOM_DRR_DB)}
    layout.write_manifest(args.out, out)
    print(f"{len(data)} mixtures in one room each → {args.out / args.split}")


if __name__ == "__main__":
    main()
