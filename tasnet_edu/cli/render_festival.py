"""``tasnet-edu render-festival``: render Festival's voices into the natural-speech cache
(``tasnet_edu.data.festival``) and say how many minutes they hold."""

from __future__ import annotations

import argparse
from pathlib import Path

from tasnet_edu.data import festival, natural


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tasnet-edu render-festival``."""
    parser.add_argument("--cache", required=True, type=Path, metavar="DIR",
                        help="the natural-speech cache (`tasnet-edu fetch-speech --cache DIR`)")
    parser.add_argument("--voices", nargs="+", metavar="NAME",
                        help=f"a subset of: {' '.join(festival.VOICES)}")


def run(args: argparse.Namespace) -> int:
    done = festival.render(args.cache, args.voices)
    minutes = sum(r.seconds for r in natural.index(args.cache, log=lambda _: None, festival=True)
                  if r.source in done) / 60
    print(f"{len(done)} of {len(args.voices or festival.VOICES)} Festival voices in {args.cache}, "
          f"{minutes:.0f} min")
    return 0 if done else 1
