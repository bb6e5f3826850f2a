"""``tasnet-edu fetch-speech``: download the Debian packages of recordings of people into a cache
(``tasnet_edu.data.natural``) and say how many speakers and hours each split gets."""

from __future__ import annotations

import argparse
from pathlib import Path

from tasnet_edu.data import natural


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tasnet-edu fetch-speech``."""
    parser.add_argument("--cache", required=True, type=Path, metavar="DIR", help="folder to fill")
    parser.add_argument("--packages", nargs="+", metavar="PKG",
                        help=f"a subset of: {' '.join(natural.SOURCES)}")


def run(args: argparse.Namespace) -> int:
    done = natural.fetch(args.cache, args.packages)
    recordings = natural.index(args.cache)
    splits = natural.speaker_splits(recordings)
    for split in natural.SPLITS:
        rows = [r for r in recordings if splits[r.speaker] == split]
        hours = sum(r.seconds for r in rows) / 3600
        print(f"{split}: {len({r.speaker for r in rows})} speakers, {hours:.2f} h")
    print(f"{len(done)} of {len(args.packages or natural.SOURCES)} packages in {args.cache}")
    return 0 if done else 1
