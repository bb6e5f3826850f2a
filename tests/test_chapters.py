"""The chapters read as a course a teacher can hand out: no developer notes in student cells, a Takeaways
cell before the exercises, and every player of model outputs levelled to the mixture first."""

import json
import re
from pathlib import Path

import pytest

ALL = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[01][0-9]_*.ipynb"))
TAUGHT = [p for p in ALL if p.name >= "01"]  # chapter 00 sets up; the others teach and end with a summary
#: Chapters whose players play model outputs: each such player is levelled to the mixture.
WITH_MODEL_PLAYERS = [p for p in ALL if p.name[:2] in ("05", "06", "07", "08", "09", "11")]
DEVELOPER_NOTES = re.compile(r"^\s*#.*(margins? of the run|measured \(|measured:|run measured)", re.I | re.M)


def _cells(path):
    return [(c["cell_type"], "".join(c["source"])) for c in json.loads(path.read_text())["cells"]]


def test_every_chapter_is_found():
    assert [p.name[:2] for p in ALL] == [f"{k:02d}" for k in range(13)]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name[:2])
def test_no_developer_notes_in_student_cells(path):
    notes = [DEVELOPER_NOTES.search(src).group(0) for kind, src in _cells(path)
             if kind == "code" and DEVELOPER_NOTES.search(src)]
    assert notes == [], "margin notes of a measured run belong in tests/ or the commit, not in the chapter"


@pytest.mark.parametrize("path", TAUGHT, ids=lambda p: p.name[:2])
def test_takeaways_close_the_chapter_before_the_exercises(path):
    markdown = [src for kind, src in _cells(path) if kind == "markdown"]
    headings = [src.splitlines()[0] for src in markdown if src.startswith("## ")]
    assert "## Takeaways" in headings and "## Exercises" in headings
    assert headings.index("## Exercises") == headings.index("## Takeaways") + 1
    takeaways = next(src for src in markdown if src.startswith("## Takeaways"))
    bullets = [line for line in takeaways.splitlines() if line.startswith("- ")]
    assert 3 <= len(bullets) <= 5, "3-5 bullets"
    if path != ALL[-1]:
        assert "chapter" in bullets[-1].lower(), "the last bullet says what the next chapter adds"


@pytest.mark.parametrize("path", WITH_MODEL_PLAYERS, ids=lambda p: p.name[:2])
def test_players_of_model_outputs_are_levelled_to_the_mixture(path):
    players = [src for kind, src in _cells(path) if kind == "code" and "viz.listen(" in src]
    assert players, "each of these chapters lets the reader listen"
    for src in players:
        levelled = "fit_to_mixture(" in src or "mix=" in src[src.index("viz.listen("):]
        assert levelled, f"level the outputs before the players:\n{src[:200]}"
