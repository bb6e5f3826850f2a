"""``tasnet-edu models``: the table of shipped models, or one model's card as text or as its JSON data
(``tasnet_edu.pretrained``)."""

from __future__ import annotations

import argparse
import json

from tasnet_edu import pretrained


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tasnet-edu models``."""
    parser.add_argument("name", nargs="?", help=f"one model's card: {', '.join(pretrained.SHIPPED)}")
    parser.add_argument("--json", action="store_true", help="print the card as JSON, as stored")


def run(args: argparse.Namespace) -> int:
    if args.name is None:
        print(pretrained.models_table())
    elif args.json:
        # the data block, as stored
        print(json.dumps(pretrained.card(args.name), indent=1, ensure_ascii=False))
    else:
        print(pretrained.format_card(pretrained.card(args.name)))
    return 0
