"""Loudness-honest listening: the players of one comparison sit near the loudness of their reference.

``viz.player_levels`` gives the level (dBFS) of each player that ``viz.listen`` shows; the tests pin it on
known signals, then rebuild the comparisons of chapters 00, 02, 03 and 04 and check that every estimate's
player is within ``TOLERANCE_DB`` of the player of the source it estimates.
"""

import math

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from tasnet_edu import inference, masks, metrics, pretrained, viz  # noqa: E402
from tasnet_edu.data import load_sample_mixture  # noqa: E402

TOLERANCE_DB = 3.0


def _sine(amplitude=1.0, hz=440.0, n=8000):
    return amplitude * torch.sin(2 * math.pi * hz * torch.arange(n) / 8000)


def test_player_levels_are_rms_dbfs_under_one_shared_peak():
    levels = viz.player_levels({"loud": _sine(1.0), "quiet": _sine(0.5)})
    assert levels["loud"] == pytest.approx(-3.01, abs=0.01)        # a full-scale sine
    assert levels["quiet"] == pytest.approx(-3.01 - 6.02, abs=0.01)  # half the amplitude, same peak scale
    scaled = viz.player_levels({"loud": 0.01 * _sine(1.0), "quiet": 0.01 * _sine(0.5)})
    assert scaled == pytest.approx(levels, abs=1e-6)                # the shared peak scale removes the gain


def test_level_to_mixture_restores_gain_and_sign_of_a_scale_free_output():
    mix, sources = load_sample_mixture(0)
    raw = {"s1": sources[0], "output": -80 * sources[0] + 0.01 * torch.randn(len(mix))}
    levelled = viz.level_to_mixture(raw, mix)
    assert torch.allclose(torch.as_tensor(viz.level_to_mixture({"mix": mix}, mix)["mix"]), mix, atol=1e-6)
    assert float(torch.as_tensor(levelled["output"]) @ sources[0]) > 0, "the sign is restored"
    levels = viz.player_levels(raw, mix=mix)
    assert abs(levels["output"] - levels["s1"]) < 0.5
    unlevelled = viz.player_levels(raw)
    assert unlevelled["output"] - unlevelled["s1"] > 30, "without mix= the players are as given"


def test_listen_keeps_its_default_and_levels_only_with_mix():
    mix, sources = load_sample_mixture(0)
    signals = {"mix": mix, "quiet output": 0.01 * sources[0]}
    assert viz.players_html(signals) == viz.players_html(signals, mix=None)
    assert viz.players_html(signals) != viz.players_html(signals, mix=mix)


def _assert_near_reference(levels, pairs):
    for estimate, reference in pairs.items():
        gap = levels[estimate] - levels[reference]
        assert abs(gap) < TOLERANCE_DB, f"{estimate} is {gap:+.1f} dB from {reference}"


def test_chapter_02_oracle_players_sit_near_the_source():
    mix, sources = load_sample_mixture(0)
    players = {"mix": mix, "s1 (true)": sources[0]}
    for name in ("ibm", "irm", "wfm"):
        players[f"s1 by {name}"] = masks.oracle_separate(mix, sources, mask=name)[0]
    for phase in ("mixture", "true"):
        players[f"s1, {phase} phase"] = masks.oracle_separate(mix, sources, mask="irm", phase=phase)[0]
    levels = viz.player_levels(players, mix=mix)
    _assert_near_reference(levels, {name: "s1 (true)" for name in players if name.startswith("s1 ")})


def test_chapter_00_course_small_players_sit_near_the_sources():
    mix, sources = load_sample_mixture(0)
    model = pretrained.load("course-small")
    with torch.no_grad():
        est = model(mix[None])
    _, perm = metrics.pit_si_snr(est, sources[None])
    est = inference.fit_to_mixture(metrics.apply_permutation(est, perm)[0], mix)
    levels = viz.player_levels({"mix": mix, "e1": est[0], "e2": est[1], "s1": sources[0], "s2": sources[1]},
                               mix=mix)
    _assert_near_reference(levels, {"e1": "s1", "e2": "s2"})


def test_chapter_04_deep_clustering_players_sit_near_the_sources():
    mix, sources = load_sample_mixture(1)
    model = pretrained.load("deep-clustering")
    with torch.no_grad():
        est = model(mix[None])
    _, perm = metrics.pit_si_snr(est, sources[None])
    est = metrics.apply_permutation(est, perm)[0]
    levels = viz.player_levels({"mix": mix, "e1": est[0], "e2": est[1], "s1": sources[0], "s2": sources[1]},
                               mix=mix)
    _assert_near_reference(levels, {"e1": "s1", "e2": "s2"})


def test_a_quiet_estimate_is_caught():
    mix, sources = load_sample_mixture(0)
    levels = viz.player_levels({"s1": sources[0], "too quiet": 0.3 * sources[0]})
    with pytest.raises(AssertionError, match="too quiet"):
        _assert_near_reference(levels, {"too quiet": "s1"})
