"""scripts/score_real_wide.py's paired comparison: differences over the same mixtures, overlap kept apart."""

import math

import score_real_wide  # scripts/ is on pytest's pythonpath (pyproject.toml)


def rows(scores):
    """Two sources per mixture; mixtures 0-1 fully, 2-3 partly overlapped."""
    return [{"file": f"{i:05d}.wav", "k": k, "partial": i >= 2, "si_snri": s + k}
            for i, s in enumerate(scores) for k in (0, 1)]


def test_paired_differences_are_taken_per_mixture_and_per_overlap():
    result = {"models": {
        "base": {"sources": rows([1.0, 2.0, 3.0, 4.0]), "leakage": [{"db": 3.0}, {"db": 5.0}]},
        "new": {"sources": rows([2.0, 3.0, 3.5, 4.5]), "leakage": [{"db": 9.0}, {"db": 11.0}]}}}
    assert score_real_wide.per_mixture(result["models"]["base"]["sources"])["00002.wav"] == (3.5, True)
    line = score_real_wide.paired(result, [("base", "new")]).splitlines()[-1]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[0] == "base → new"
    assert cells[1].startswith("+0.75 ± ") and cells[1].endswith("(4)")
    assert cells[2] == "+1.00 ± 0.00 (2)" and cells[3] == "+0.50 ± 0.00 (2)"
    assert cells[4] == "+6.0"


def test_card_entry_has_the_card_form_with_overlap_and_leakage():
    sources = [{**row, "speaker": f"fam/p{row['k']}", "sdri": row["si_snri"] + 0.5}
               for row in rows([1.0, 2.0, 3.0, 4.0])]
    leakage = [{"speaker": "p0", "db": d} for d in (1.0, 3.0, 25.0, 30.0)]
    result = {"data": "d", "split": "tt", "models": {"m": {"sources": sources, "leakage": leakage}}}
    entry = score_real_wide.card_entry(result, "m", max_db=10.0)
    assert entry["n_mixtures"] == 4 and entry["si_snri"]["mean"] == 3.0 and entry["sdri"]["mean"] == 3.5
    assert entry["per_overlap"] == {"full overlap": 2.0, "partial overlap": 4.0}
    assert entry["leakage"] == {"utterances": 4, "median_db": 14.0, "share_20db": 0.5}
    assert entry["voices"] == ("2 speaker groups held out of training: p0, p1 (fam); level gaps 0–10 dB; "
                               "2 of 4 mixtures partly overlapped")
    assert entry["name"] == "wide real test set"


def test_models_scored_without_the_single_talker_test_report_and_pair_without_it():
    result = {"data": "d", "split": "cv", "models": {
        name: {"sources": [{**r, "speaker": "f/p", "family": "f", "sdri": math.nan} for r in rows(scores)]}
        for name, scores in (("base", [1.0, 2.0, 3.0, 4.0]), ("new", [2.0, 3.0, 4.0, 5.0]))}}
    text = score_real_wide.report(result)
    assert "| all | 4 | 3.00 ± 2.05 | 4.00 ± 2.05 |" in text and "median dB" not in text
    cells = score_real_wide.paired(result, [("base", "new")]).splitlines()[-1].strip("|").split("|")
    assert cells[1].strip().startswith("+1.00 ± 0.00") and cells[4].strip() == "—"
