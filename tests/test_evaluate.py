"""Evaluation: per-utterance SI-SNRi/SDRi of a model, the mean ± 95 % interval, and the CLI."""

import csv
import math
import sys

import numpy as np
import pytest
import torch
from fakes import write_wsj_split

from tasnet_edu import cli, evaluate, perceptual, pretrained, train
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
    assert "2 utterances" in text and "SI-SNRi        1.00 ± 0.00 dB" in text and "SDR " not in text


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


def test_a_separators_own_rate_is_the_default(tree):
    """A 16 kHz separator is scored at 16 kHz: an utterance of n samples lasts n / 16000 s (STOI and PESQ get
    that rate too), and ``real_time_factor`` feeds it 16000 samples a second."""
    data = WSJ0Mix(tree, "tt", segment=None)
    oracle = Oracle(data)
    oracle.sample_rate = 16000
    rows = evaluate.evaluate(oracle, data, with_sdr=False, progress=False)
    assert [r["seconds"] for r in rows] == [0.25, 0.3, 0.35]
    rows = evaluate.evaluate(oracle, data, with_sdr=False, progress=False, sample_rate=8000)
    assert [r["seconds"] for r in rows] == [0.5, 0.6, 0.7]  # an explicit rate wins
    model, lengths = two_output_model(torch.nn.Conv1d(1, 2, 3, padding="same")), []
    model.sample_rate = 16000
    model.register_forward_pre_hook(lambda _, args: lengths.append(args[0].shape[-1]))
    evaluate.real_time_factor(model, seconds=0.25, repeats=1)
    assert lengths == [4000, 4000]  # the warm-up, then one timed pass


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


# ---------------------------------------------------------------- --metrics, shipped names, the CSV's place


def test_sir_and_sar_columns_match_bss_eval(tree):
    data = WSJ0Mix(tree, "tt", segment=None)
    leaky = lambda mix, sources: sources + 0.1 * sources.flip(0)  # noqa: E731  (each keeps 20 dB of the other)
    rows = evaluate.score(leaky, data, progress=False, metrics=("si_snr", "sdr", "sir", "sar"))
    assert list(rows[0]) == [*evaluate.COLUMNS, "sir", "sar"]
    mix, sources = data[1]
    sdr, sir, sar = evaluate.scores.bss_eval(leaky(mix, sources), sources)
    assert rows[1]["sdr"] == pytest.approx(float(sdr.mean()), abs=1e-6)
    assert rows[1]["sir"] == pytest.approx(float(sir.mean()), abs=1e-6)
    assert rows[1]["sar"] == pytest.approx(float(sar.mean()), abs=1e-6)
    assert all(19 < r["sir"] < 21 and r["sar"] > 40 for r in rows)  # interference, and no artifacts
    summary = evaluate.summarize(rows)
    assert list(summary)[:6] == ["si_snri", "sdri", "si_snr", "sdr", "sir", "sar"]
    assert "SIR" in evaluate.format_summary(summary)


def test_default_rows_and_with_sdr_keep_their_columns(tree):
    data = WSJ0Mix(tree, "tt", segment=None)
    rows = evaluate.score(lambda mix, sources: sources, data, progress=False, with_sdr=False,
                          metrics=("sdr", "sar"))
    assert tuple(rows[0]) == (*evaluate.COLUMNS, "sar") and math.isnan(rows[0]["sdr"])  # with_sdr wins


def test_unknown_metric_is_one_clear_error(tree):
    with pytest.raises(evaluate.CourseError, match="unknown metric.*'snr'.*choose from si_snr, sdr"):
        evaluate.check_metrics("si_snr,snr")
    assert evaluate.check_metrics("pesq, sdr,si_snr" if perceptual.available("pesq") else "sar,sdr") in (
        ("si_snr", "sdr", "pesq"), ("sdr", "sar"))


@pytest.mark.parametrize("missing", ["pystoi", "pesq", "speechmos"])
def test_missing_extra_is_one_line_naming_it(tree, monkeypatch, capsys, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # as if not installed
    monkeypatch.delitem(sys.modules, "speechmos.dnsmos", raising=False)  # else the cached submodule answers
    metric = {"pystoi": "stoi", "pesq": "pesq", "speechmos": "dnsmos"}[missing]
    assert cli.main(["evaluate", "--checkpoint", "course-small", "--data", str(tree), "--metrics",
                     f"si_snr,{metric}"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert f"{metric} needs the package '{missing}'" in err and 'pip install "tasnet-edu[metrics]"' in err


def test_perceptual_columns(tree):
    pytest.importorskip("pystoi", reason="the metrics extra (pystoi) is not installed")
    pytest.importorskip("pesq", reason="the metrics extra (pesq: built with a C compiler) is not installed")
    data = WSJ0Mix(tree, "tt", segment=None)
    near = evaluate.score(lambda mix, sources: sources + 0.01 * sources.flip(0), data, progress=False,
                          with_sdr=False, metrics=("stoi", "pesq"))
    unprocessed = evaluate.score(lambda mix, _: torch.stack([mix, mix]), data, progress=False, with_sdr=False,
                                 metrics=("stoi", "pesq"))
    assert list(near[0])[-2:] == ["stoi", "pesq"]
    for good, bad in zip(near, unprocessed, strict=True):
        assert good["stoi"] > bad["stoi"] + 0.2 and good["pesq"] > bad["pesq"] + 1
    mix, sources = data[0]
    assert near[0]["pesq"] == pytest.approx(float(perceptual.pesq(sources + 0.01 * sources.flip(0), sources,
                                                                  8000).mean()), abs=1e-6)
    assert "PESQ" in evaluate.format_summary(evaluate.summarize(near)) and "narrow-band" in \
        evaluate.format_summary(evaluate.summarize(near))


def test_dnsmos_columns_score_each_estimate_at_the_mixture_level():
    pytest.importorskip("speechmos", reason="the metrics extra (speechmos) is not installed")
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    g = torch.Generator().manual_seed(0)
    sources = 0.1 * torch.randn(2, 4800, generator=g)  # 0.6 s: repeated to 9.6 s, one DNSMOS window
    mix = sources.sum(0)
    rows = evaluate.score(lambda m, s: 80 * s, [(mix, sources)], progress=False, with_sdr=False,
                          metrics=("dnsmos",))  # 80 times too loud, as SI-SNR training allows
    assert list(rows[0])[-3:] == ["dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"]
    expected = perceptual.dnsmos(sources, 8000)  # fit_to_mixture gives back the true level
    assert rows[0]["dnsmos_ovrl"] == pytest.approx(float(expected.ovrl.mean()), abs=1e-3)
    assert 1 <= rows[0]["dnsmos_ovrl"] <= 5


def _no_csv_in_the_package():
    return sorted(p.name for p in pretrained.RESOURCES.glob("*.csv"))


@pytest.mark.parametrize("by", ["name", "path"])
def test_cli_evaluate_takes_a_shipped_model_and_writes_the_csv_in_the_current_directory(tree, tmp_path,
                                                                                       monkeypatch, by):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = _no_csv_in_the_package()
    checkpoint = "course-small" if by == "name" else str(pretrained.shipped_path("course-small"))
    assert cli.main(["evaluate", "--checkpoint", checkpoint, "--data", str(tree), "--no-sdr",
                     "--max-items", "2", "--engine", "eager"]) == 0
    with open(work / "course-small_tt.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["utterance"] for r in table] == ["000", "001"]
    assert _no_csv_in_the_package() == before  # nothing written inside the installed package


def test_cli_evaluate_names_a_missing_checkpoint(tree, capsys):
    assert cli.main(["evaluate", "--checkpoint", "no-such-model", "--data", str(tree)]) == 1
    assert "not a shipped model name" in capsys.readouterr().err


def test_paper_tables_vi_vii_hold_the_pesq_and_mos_the_course_quotes():
    table = evaluate.PAPER_TABLES_VI_VII
    assert table["IRM"] == (3.74, 3.51, 3.74) and table["Conv-TasNet-gLN"] == (3.24, 4.03, 3.22)
    assert table["Clean"] == (None, 4.23, 4.5) and table["IBM"][0] == 3.33 and table["WFM"][0] == 3.70
    # the lesson of the two tables: PESQ prefers the IRM, the listeners prefer Conv-TasNet
    assert table["IRM"][0] > table["Conv-TasNet-gLN"][0] and table["IRM"][1] < table["Conv-TasNet-gLN"][1]
