"""Regenerate the committed ``data_samples/``: a few 8 kHz test-split mixtures for the early chapters.

Usage: python scripts/make_data_samples.py [--natural-cache DIR]

It runs the same generator as ``tasnet-edu make-data`` (test split only, fixed seed), then writes the folder's
README.md; with ``--natural-cache`` also ``real/``, mixtures of held-out real speakers.
The output is byte-identical on every run with the same espeak-ng data.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from tasnet_edu.data.mixtures import make_mixtures

N_TEST = 8
N_REAL = 10
SEED = 3
OUT = Path(__file__).resolve().parent.parent / "data_samples"

README = f"""# data_samples

{N_TEST} two-speaker mixtures from the course's **test** split (voices never used for training), 8 kHz,
16-bit WAV, in the wsj0-2mix layout: `tt/mix/NNNNN.wav` = `tt/s1/NNNNN.wav` + `tt/s2/NNNNN.wav`
(exactly, sample by sample), `s1` the louder speaker by 0–5 dB. `manifest.json` lists each mixture's
speakers, sentences, levels and augmentations.

Made by

    python scripts/make_data_samples.py

which runs the generator of `tasnet-edu make-data` (equivalent to
`tasnet-edu make-data --out data_samples --n-test {N_TEST} --seed {SEED}`) and writes this README.
Read them with `tasnet_edu.data.load_sample_mixture(index)`.

Speech synthesised with espeak-ng (GPL-3.0 program; its output is not covered by its licence); sentences
from `tasnet_edu/resources/sentences.txt` (CC0). These audio files are released under CC0 1.0.
"""


REAL_README = """# data_samples/real

{n} two-speaker mixtures of **recordings of people** from the held-out (test) speakers of the natural speech
(`tasnet_edu.data.natural`: no model of the course trained or was selected on these speakers), made like the
espeak samples above (active-speech levels 0–5 dB apart, EQ, some reverberation, a faint noise floor).
Same layout: `tt/mix/NNNNN.wav` = `tt/s1/NNNNN.wav` + `tt/s2/NNNNN.wav`. Read them with
`tasnet_edu.data.load_sample_mixture(index, real=True)`.

Made by `python scripts/make_data_samples.py --natural-cache DIR` (DIR filled by
`tasnet-edu fetch-speech --cache DIR`); `manifest.json` lists, for each source, the files it was cut from.

Licences of the recordings (and so of these mixtures, which are adaptations of them):
{licences}
"""


def _without_empty_splits(root: Path) -> None:
    for empty in ("tr", "cv"):  # git keeps no empty folders; the samples are test mixtures only
        shutil.rmtree(root / empty)


def _real_samples(tmp: Path, cache: Path) -> Path:
    new = make_mixtures(tmp / "real", 0, 0, N_REAL, seed=SEED, speech_kind="natural", natural_cache=cache)
    _without_empty_splits(new)
    people = json.loads((new / "manifest.json").read_text(encoding="utf-8"))["natural_speakers"]
    licences = "\n".join(f"- {spk} ({', '.join(row['sources'])}): {'; '.join(sorted(set(row['licences'])))}"
                         for spk, row in sorted(people.items()) if row["split"] == "test")
    (new / "README.md").write_text(REAL_README.format(n=N_REAL, licences=licences), encoding="utf-8")
    return new


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--natural-cache", type=Path, metavar="DIR",
                        help="also write data_samples/real/ from the natural speech in DIR")
    args = parser.parse_args()
    real = OUT / "real"
    with tempfile.TemporaryDirectory(dir=OUT.parent) as tmp:
        new = make_mixtures(Path(tmp) / "samples", 0, 0, N_TEST, seed=SEED)
        _without_empty_splits(new)
        (new / "README.md").write_text(README, encoding="utf-8")
        if args.natural_cache:
            _real_samples(Path(tmp), args.natural_cache).rename(new / "real")
        elif real.exists():  # keep the committed real samples when no cache is given
            shutil.copytree(real, new / "real")
        if OUT.exists():
            shutil.rmtree(OUT)
        new.rename(OUT)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
