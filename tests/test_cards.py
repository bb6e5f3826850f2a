"""Model cards (`pretrained.card`): complete, true to the weights beside them, the source of every table."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from tasnet_edu import cli, pretrained
from tasnet_edu.errors import CourseError
from tasnet_edu.utils import count_parameters

ROOT = Path(__file__).resolve().parent.parent
NAMES = sorted(pretrained.SHIPPED)
#: How far a fresh score may sit from the card's (dB): float rounding across thread counts and CPUs only.
CHECK_TOLERANCE_DB = 0.02


@pytest.mark.parametrize("name", NAMES)
def test_card_describes_the_network_it_ships_with(name):
    made, model = pretrained.card(name), pretrained.load(name)
    arch = made["architecture"]
    assert arch["class"] == type(model).__name__ and arch["config"] == model.config
    assert arch["parameters"] == count_parameters(model) and arch["sample_rate"] == model.sample_rate
    if hasattr(model, "receptive_field"):
        assert arch["receptive_field_s"] == pytest.approx(model.receptive_field / model.sample_rate, abs=1e-3)
    if getattr(model, "causal", model.config.get("causal", False)):
        assert arch["algorithmic_latency_ms"] == pytest.approx(1000 * model.config["L"] / model.sample_rate)
    else:
        assert arch["algorithmic_latency_ms"] is None  # offline: gLN or a BLSTM sees the whole input


@pytest.mark.parametrize("name", NAMES)
def test_card_history_is_the_checkpoints_own_curve(name):
    curve = pretrained.card(name)["history"]["curve"]
    epochs = pretrained.record(name)["metrics"]["epochs"]
    assert [row[0] for row in curve] == [e["epoch"] for e in epochs]
    assert [row[1] for row in curve] == pytest.approx([e["valid_si_snri"] for e in epochs], abs=1e-3)
    assert curve[-1][0] == pretrained.record(name)["epoch"]


@pytest.mark.parametrize("name", NAMES)
def test_card_recipe_is_argument_lists_ending_at_the_shipped_checkpoint(name):
    made = pretrained.card(name)
    assert all(isinstance(args, list) and args[0] == "tasnet-edu" and all(isinstance(a, str) for a in args)
               for args in made["recipe"])
    last = made["recipe"][-1]
    assert last[1] == "train" and made["checkpoint"] == f"{last[last.index('--out') + 1]}/best.pt"
    commands = {args[1] for args in made["recipe"]}
    assert commands <= {name for name in cli.COMMANDS}  # every step is a command the CLI has


@pytest.mark.parametrize("name", NAMES)
def test_card_scores_are_complete(name):
    scores = pretrained.card(name)["scores"]
    assert {"synthetic", "real"} <= set(scores)
    for entry in scores.values():
        assert entry["n_mixtures"] > 0 and entry["name"] and entry["voices"]
        assert math.isfinite(entry["si_snri"]["mean"])
    for test_set in ("synthetic", "real"):  # the two test sets carry both metrics with their intervals
        for metric in ("si_snri", "sdri"):
            assert scores[test_set][metric]["ci95"] > 0


@pytest.fixture(scope="module")
def first_test_mixtures(tmp_path_factory):
    from tasnet_edu.data import WSJ0Mix, make_mixtures

    root = make_mixtures(tmp_path_factory.mktemp("mix") / "d", 0, 0, 8, seed=0, progress=False)
    return WSJ0Mix(root, "tt", segment=None)


@pytest.mark.parametrize("name", NAMES)
def test_card_agrees_with_a_fresh_evaluation_of_its_weights(name, first_test_mixtures):
    """The card's per-mixture check scores are recomputed from the weights beside it: a card cannot
    silently disagree with its model. (Chapter 11 checks the synthetic means on all 200 mixtures.)"""
    from tasnet_edu.evaluate import evaluate

    expected = pretrained.card(name)["check"]["per_mixture"]
    rows = evaluate(pretrained.load(name), first_test_mixtures, with_sdr=False, progress=False, device="cpu")
    fresh = {row["utterance"]: row["si_snri"] for row in rows}
    assert fresh.keys() == expected.keys()
    assert fresh == pytest.approx(expected, abs=CHECK_TOLERANCE_DB)


def test_models_command_prints_the_table_and_a_card(capsys):
    assert cli.main(["models"]) == 0
    table = capsys.readouterr().out
    assert table.strip() == pretrained.models_table()
    for name in NAMES:
        assert f"`{name}`" in table
    assert f"{pretrained.card('course-small')['scores']['real']['si_snri']['mean']:.2f}" in table

    assert cli.main(["models", "course-small"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# Model card: course-small")
    assert "tasnet-edu train --init runs/real-2/best.pt" in text
    assert cli.main(["models", "course-small", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == pretrained.card("course-small")


def test_models_command_names_an_unknown_model(capsys):
    assert cli.main(["models", "course-huge"]) == 1
    err = capsys.readouterr().err
    assert "no shipped model named 'course-huge'" in err and "Traceback" not in err


def test_broken_or_missing_card_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "CARDS", tmp_path)
    with pytest.raises(CourseError, match="the model card of 'course-small' is missing"):
        pretrained.card("course-small")
    path = tmp_path / "course-small.md"
    path.write_text("# Model card: course-small\n\nno data here\n")
    with pytest.raises(CourseError, match="course-small.md: not a readable model card: no JSON block"):
        pretrained.card("course-small")
    path.write_text(f"{pretrained.CARD_DATA}\n\n```json\n{{\"name\": \"course-small\"}}\n```\n")
    with pytest.raises(CourseError, match="the model card lacks summary, architecture"):
        pretrained.card("course-small")


@pytest.mark.parametrize("name", NAMES)
def test_card_text_is_made_from_its_data(name, tmp_path, monkeypatch):
    """The words a reader sees say what the data says (scripts/render_docs.py rewrites them)."""
    shipped, data = pretrained.card_path(name).read_text(encoding="utf-8"), pretrained.card(name)
    monkeypatch.setattr(pretrained, "CARDS", tmp_path)
    assert pretrained.write_card(data).read_text(encoding="utf-8") == shipped


def test_readme_table_is_made_from_the_cards_and_holds_no_score():
    """README's models table is rendered from the cards without scores, so a ship leaves README alone."""
    spec = importlib.util.spec_from_file_location("render_docs", ROOT / "scripts" / "render_docs.py")
    render_docs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render_docs)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert render_docs.with_models_table(readme) == readme
    table = readme.split(render_docs.BEGIN)[1].split(render_docs.END)[0]
    assert "SI-SNRi" not in table and all(f"resources/{name}.md" in table for name in NAMES)


def test_make_natural_data_runs_the_steps_of_course_smalls_recipe():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = makefile.split("\nnatural-data:", 1)[1].split("\n\n", 1)[0]
    steps = [line.strip().replace("$(VENV)/bin/", "").split() for line in target.splitlines()[1:]]
    assert len(steps) == 3 and all(step in pretrained.card("course-small")["recipe"] for step in steps)


def test_card_text_shows_overlap_means_and_the_single_talker_leakage():
    made = pretrained.card("course-small")
    made["scores"]["extra"] = {"name": "extra set", "voices": "v", "n_mixtures": 3,
                               "si_snri": {"mean": 5.0, "ci95": 1.0}, "sdri": {"mean": None, "ci95": None},
                               "per_overlap": {"full overlap": 4.0, "partial overlap": 6.0},
                               "leakage": {"utterances": 8, "median_db": 12.3, "share_20db": 0.25}}
    text = pretrained.format_card(made)
    assert "| extra set | 3 | 5.00 ± 1.00 (full overlap 4.00, partial overlap 6.00) | — | v |" in text
    assert "One person alone (extra set, 8 utterances): ideally one output stays silent" in text
    assert "Median gap: 12.3 dB; 25 % reach 20 dB." in text
