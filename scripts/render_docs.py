"""Rewrite what is made from the model cards: each card's text (from its data block) and README's table.

Usage: python scripts/render_docs.py   (after editing a card's data; tests/test_cards.py checks it was run)

A card (``tasnet_edu/resources/<name>.md``) is text for people followed by its data; the text is made from
the data by ``pretrained.write_card``. The README's table sits between two HTML comments (``MODELS_BEGIN`` /
``MODELS_END``) and holds only what a ship does not change (name, size, use, latency), so shipping new
weights touches the weights, the card and the tests' reference outputs, nothing else.
"""

from __future__ import annotations

from pathlib import Path

from tasnet_edu import pretrained

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- MODELS_BEGIN: made by scripts/render_docs.py from the model cards -->"
END = "<!-- MODELS_END -->"


def with_models_table(readme: str) -> str:
    """``readme`` with the text between the two markers replaced by the cards' table (no scores)."""
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    table = pretrained.models_table(link="tasnet_edu/resources/{name}.md", scores=False)
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def main() -> None:
    for name in pretrained.SHIPPED:
        pretrained.write_card(pretrained.card(name))
    readme = ROOT / "README.md"
    readme.write_text(with_models_table(readme.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
