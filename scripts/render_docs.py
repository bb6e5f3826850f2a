"""Write what the model cards say into the pages people read: README's models table and docs/models.md.

Usage: python scripts/render_docs.py   (after a card changes; tests/test_cards.py checks both are current)

The README's table sits between two HTML comments (``MODELS_BEGIN`` / ``MODELS_END``) and is replaced
whole; docs/models.md is written from scratch, one section per card.
"""

from __future__ import annotations

from pathlib import Path

from tasnet_edu import pretrained

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- MODELS_BEGIN: made by scripts/render_docs.py from the model cards -->", "<!-- MODELS_END -->"


def with_models_table(readme: str) -> str:
    """``readme`` with the text between the two markers replaced by the cards' table."""
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    table = pretrained.models_table(link="docs/models.md#{name}")
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def models_doc() -> str:
    """docs/models.md: the table, then every card in full."""
    intro = ("# The shipped models\n\n"
             "Made by `scripts/render_docs.py` from the model cards (`tasnet_edu/resources/<name>.json`,\n"
             "`tasnet_edu.pretrained.card(name)`, `tasnet-edu models NAME`). Do not edit by hand.\n\n"
             "SI-SNRi in dB, mean ± 95 % interval.\n\n")
    cards = "\n\n".join(pretrained.format_card(pretrained.card(name)) for name in pretrained.SHIPPED)
    return f"{intro}{pretrained.models_table(link='#{name}')}\n\n{cards}\n"


def main() -> None:
    readme = ROOT / "README.md"
    readme.write_text(with_models_table(readme.read_text(encoding="utf-8")), encoding="utf-8")
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "models.md").write_text(models_doc(), encoding="utf-8")


if __name__ == "__main__":
    main()
