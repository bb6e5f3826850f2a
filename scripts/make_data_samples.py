"""Regenerate the committed ``data_samples/``: a few 8 kHz test-split mixtures for the early chapters.

Usage: python scripts/make_data_samples.py

It runs the same generator as ``tasnet-edu make-data`` (test split only, fixed seed), then writes the folder's
README.md. The output is byte-identical on every run with the same espeak-ng data.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from tasnet_edu.data.mixtures import make_mixtures

N_TEST = 8
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


def main() -> int:
    with tempfile.TemporaryDirectory(dir=OUT.parent) as tmp:
        new = make_mixtures(Path(tmp) / "samples", 0, 0, N_TEST, seed=SEED)
        for empty in ("tr", "cv"):  # git keeps no empty folders; the samples are test mixtures only
            shutil.rmtree(new / empty)
        (new / "README.md").write_text(README, encoding="utf-8")
        if OUT.exists():
            shutil.rmtree(OUT)
        new.rename(OUT)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
