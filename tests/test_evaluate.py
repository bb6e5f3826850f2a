"""Evaluation: per-utterance SI-SNRi/SDRi of a model, the mean ± 95 % interval, and the CLI."""

import csv
import math

import numpy as np
import pytest
import torch
from fakes import write_wsj_split

from tasnet_edu import cli, evaluate, train
from tasnet_edu.data import WSJ0Mix


class Oracle(torch.nn.Module):
    """Returns the true sources, swapped, plus a little noise: SI-SNRi must be high despite the swap."""

    def __init__(self, dataset):
        super().__init__()
        self.by_len = {int(m.shape[-1]): s for m, s in (dataset[i] for i in range(len(dataset)))}

    def forward(self, mix):
        s = self.by_len[int(mix.shape[-1])].flip(0)[None]
        return s + 1e-3 * torch.randn(s.shape, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def tree(tmp_path):
    names = [("000.wav", 0.5), ("001.wav", 0.6), ("002.wav", 0.7)]
    return write_wsj_split(tmp_path, "tt", names, s2_gain=0.5)


def test_evaluate_matches_permutation_and_scores_every_utterance(tree):
    data = WSJ0Mix(tree, "tt", segment=None)
    rows = evaluate.evaluate(Oracle(data), data, progress=False)
    assert [r["utterance"] for r in rows] == ["000", "001", "002"]
    assert [r["seconds"] for r in rows] == [0.5, 0.6, 0.7]
    assert all(r["si_snri"] > 30 and r["sdri"] > 30 for r in rows)  # the swap is undone
    assert all(r["si_snr"] - r["si_snri"] < 5 for r in rows)  # mixture SI-SNR is ~0 to ~6 dB here


def test_mean_interval_is_student_t():
    mean, half = evaluate.mean_interval([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert half == pytest.approx(3.182446 * np.std([1, 2, 3, 4], ddof=1) / 2, rel=1e-5)
    assert math.isnan(evaluate.mean_interval([5.0])[1])
    text = evaluate.format_summary(evaluate.summarize([{"si_snri": 1.0, "sdri": 2.0, "si_snr": 3.0,
                                                        "sdr": math.nan}] * 2))
    assert "2 utterances" in text and "SI-SNRi    1.00 ± 0.00 dB" in text and "SDR " not in text


def test_cli_evaluate_on_a_trained_checkpoint(tree, tmp_path, capsys):
    data = WSJ0Mix(tree, "tt", segment=0.25)
    cfg = train.TrainConfig(model_config=dict(N=16, L=8, B=8, H=16, Sc=8, P=3, X=2, R=1), batch_size=3)
    train.Trainer(cfg, data, None, out_dir=tmp_path / "run", progress=False).run(epochs=1)
    out_csv = tmp_path / "scores.csv"
    code = cli.main(["evaluate", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--data", str(tree),
                     "--csv", str(out_csv)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "3 utterances (mean ± 95 % interval)" in printed and "SDRi" in printed
    with open(out_csv) as f:
        table = list(csv.DictReader(f))
    assert [r["utterance"] for r in table] == ["000", "001", "002"]
    assert all(np.isfinite(float(r["sdri"])) for r in table)
    shifted_csv = tmp_path / "shifted.csv"
    assert cli.main(["evaluate", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--data", str(tree),
                     "--csv", str(shifted_csv), "--shifts", "4", "--no-sdr"]) == 0
    with open(shifted_csv) as f:
        shifted = list(csv.DictReader(f))
    assert [r["si_snri"] for r in shifted] != [r["si_snri"] for r in table]  # four passes, averaged
    assert cli.main(["evaluate", "--checkpoint", str(out_csv), "--data", str(tree)]) == 1
    assert "not a readable checkpoint" in capsys.readouterr().err


def test_cli_evaluate_scores_alike_with_either_engine(tree, tmp_path, monkeypatch):
    monkeypatch.setenv("TASNET_EDU_CACHE", str(tmp_path / "cache"))
    data = WSJ0Mix(tree, "tt", segment=0.25)
    cfg = train.TrainConfig(model_config=dict(N=16, L=8, B=8, H=16, Sc=8, P=3, X=2, R=1), batch_size=3)
    train.Trainer(cfg, data, None, out_dir=tmp_path / "run", progress=False).run(epochs=1)
    scores = {}
    for engine in ("eager", "onnx"):
        out_csv = tmp_path / f"{engine}.csv"
        assert cli.main(["evaluate", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--data", str(tree),
                         "--csv", str(out_csv), "--no-sdr", "--engine", engine]) == 0
        with open(out_csv) as f:
            scores[engine] = [float(r["si_snri"]) for r in csv.DictReader(f)]
    np.testing.assert_allclose(scores["onnx"], scores["eager"], atol=1e-3)


def test_score_accepts_any_separator_and_oracles_may_look_at_the_sources(tree):
    data = WSJ0Mix(tree, "tt", segment=None)
    perfect = evaluate.score(lambda mix, sources: sources.flip(0), data, progress=False)
    assert [r["utterance"] for r in perfect] == ["000", "001", "002"]
    assert all(r["si_snr"] > 60 and r["si_snri"] > 60 and r["sdri"] > 60 for r in perfect)
    halves = evaluate.score(lambda mix, _: torch.stack([mix, mix]) / 2, data, with_sdr=False, progress=False)
    assert all(abs(r["si_snri"]) < 1e-4 and math.isnan(r["sdri"]) for r in halves)  # the mixture itself
    again = evaluate.score(lambda mix, sources: sources.flip(0), data, progress=False,
                           mixture_sdr=evaluate.mixture_sdrs(perfect))  # the mixtures' SDR reused
    assert [r["sdri"] for r in again] == pytest.approx([r["sdri"] for r in perfect], abs=1e-9)
    with pytest.raises(evaluate.CourseError, match="mixture_sdr has 2 values for 3"):
        evaluate.score(lambda mix, sources: sources, data, progress=False, mixture_sdr=[0.0, 0.0])


def test_real_time_factor_is_positive_and_checks_its_arguments():
    model = torch.nn.Conv1d(1, 2, 15, padding="same")
    rtf = evaluate.real_time_factor(two_output_model(model), seconds=0.5, repeats=2)
    assert 0 < rtf < 1
    with pytest.raises(evaluate.CourseError, match="seconds > 0"):
        evaluate.real_time_factor(two_output_model(model), seconds=0)


def two_output_model(conv):
    """A (batch, time) → (batch, 2, time) module around a conv layer."""

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv

        def forward(self, mix):
            return self.conv(mix[:, None])

    return Wrap()


def test_paper_table_iv_holds_the_numbers_the_course_quotes():
    table = evaluate.PAPER_TABLE_IV
    assert table["Conv-TasNet-gLN"][:2] == (15.3, 15.6) and table["Conv-TasNet-cLN"][3] is True
    assert table["IBM"][0] == 13.0 and table["IRM"][0] == 12.2 and table["WFM"][0] == 13.4
    assert all(len(v) == 4 for v in table.values())
