"""``tasnet-edu make-data``: write two-speaker mixtures in the wsj0-2mix layout
(``tasnet_edu.data.mixtures.make_mixtures``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tasnet_edu.data import families, mixtures, natural, plans


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tasnet-edu make-data``."""
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to create")
    parser.add_argument("--n-train", type=int, default=0, metavar="N", help="training mixtures (tr/)")
    parser.add_argument("--n-valid", type=int, default=0, metavar="N", help="validation mixtures (cv/)")
    parser.add_argument("--n-test", type=int, default=0, metavar="N", help="test mixtures (tt/)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed: same seed, same files")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--speech", choices=plans.SPEECH, default="espeak",
                        help="espeak: synthetic voices (default, needs nothing); natural: recordings of "
                             "people from --natural-cache; pico: SVOX Pico voices (pip install -e "
                             "\".[speech]\"); all: people and espeak voices; all+pico: people, espeak and "
                             "Pico voices")
    parser.add_argument("--natural-cache", type=Path, metavar="DIR",
                        help="folder filled by `tasnet-edu fetch-speech` (for --speech natural/all/all+pico)")
    parser.add_argument("--people-by", choices=families.PEOPLE_BY, default="speaker",
                        help="draw the people uniformly by speaker (default) or in proportion to the seconds "
                             "each recorded (continuous speech then outweighs the word lists)")
    parser.add_argument("--festival", action="store_true",
                        help="add the Festival voices rendered into --natural-cache (`tasnet-edu "
                             "render-festival`) to the training people")
    parser.add_argument("--held-out", choices=natural.HELD_OUT, default="default",
                        help="which people are held out: default (4 validation, 2 test speaker groups) or "
                             "wide (10 validation people of 4 sources, 6 test groups; none of them trains)")
    parser.add_argument("--max-db", type=float, default=mixtures.MAX_DB, metavar="DB",
                        help="relative level of the two talkers uniform in 0–DB dB (default 5, as wsj0-2mix)")
    parser.add_argument("--overlap", choices=plans.OVERLAP, default="full",
                        help="full: both talk from start to end (wsj0-2mix min mode, default); partial: "
                             "one starts later or stops earlier; mixed: a --partial-share of them partial")
    parser.add_argument("--partial-share", type=float, default=0.5, metavar="P",
                        help="share of partly overlapped mixtures with --overlap mixed (default 0.5)")
    parser.add_argument("--pseudo-speakers", action="store_true",
                        help="give each training person's utterance new formants and pitch, drawn "
                             "independently (tasnet_edu.data.voices); validation and test stay untouched")


def run(args: argparse.Namespace) -> int:
    out = mixtures.make_mixtures(
        args.out, args.n_train, args.n_valid, args.n_test, args.seed, overwrite=args.overwrite,
        speech_kind=args.speech, natural_cache=args.natural_cache, people_by=args.people_by,
        festival=args.festival, held_out=args.held_out, max_db=args.max_db, overlap=args.overlap,
        partial_share=args.partial_share, pseudo_speakers=args.pseudo_speakers,
    )
    print(f"wrote {args.n_train + args.n_valid + args.n_test} mixtures to {out}")
    return 0
