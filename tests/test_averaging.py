"""Checkpoint averaging: --keep-epochs files, the mean of the weights, its validation score, bad input."""

import shutil

import pytest
import torch

from tasnet_edu import averaging, checkpoints, cli, pretrained
from tasnet_edu.errors import CourseError


@pytest.fixture
def kept_run(tmp_path, wsj_tree):
    """A cpu-tiny run of 3 epochs with ``--keep-epochs``: ``(run folder, data root)``."""
    out = tmp_path / "run"
    assert cli.main(["train", "--preset", "cpu-tiny", "--data", str(wsj_tree), "--out", str(out),
                     "--epochs", "3", "--keep-epochs", "--no-progress"]) == 0
    return out, wsj_tree


def test_keep_epochs_writes_each_epochs_weights_without_optimizer(kept_run):
    out, _ = kept_run
    kept = sorted((out / "epochs").glob("*.pt"))
    assert [p.name for p in kept] == ["epoch-001.pt", "epoch-002.pt", "epoch-003.pt"]
    last = checkpoints.load_checkpoint(out / "last.pt")
    third = checkpoints.load_checkpoint(kept[-1])
    assert "optimizer" not in third and "progress" not in third and third["epoch"] == 3
    assert all(torch.equal(third["state_dict"][k], v) for k, v in last["state_dict"].items())
    first = checkpoints.load_checkpoint(kept[0])
    assert any(not torch.equal(first["state_dict"][k], v) for k, v in last["state_dict"].items())


def test_the_average_is_the_mean_of_the_weights_and_loads(kept_run, tmp_path):
    out, _ = kept_run
    paths = [out / "epochs" / f"epoch-00{e}.pt" for e in (1, 2, 3)]
    averaged = averaging.average_files(paths, tmp_path / "avg.pt")
    states = [checkpoints.load_checkpoint(p)["state_dict"] for p in paths]
    for key, value in averaged["state_dict"].items():
        torch.testing.assert_close(value, (states[0][key] + states[1][key] + states[2][key]) / 3)
    assert averaged["epoch"] == 3 and averaged["metrics"]["averaged"] == {"epochs": [1, 2, 3]}
    assert len(averaged["metrics"]["epochs"]) == 3  # the curve of the latest epoch's checkpoint
    model = pretrained.load(tmp_path / "avg.pt")
    assert model(torch.randn(1, 800)).shape == (1, 2, 800)


def test_the_average_is_scored_as_the_run_validated(kept_run, tmp_path, capsys):
    """Two copies of one epoch average to that epoch: the recorded score equals the one training logged."""
    out, data = kept_run
    copy = tmp_path / "copy.pt"
    shutil.copy(out / "epochs" / "epoch-002.pt", copy)
    assert cli.main(["average", str(out / "epochs" / "epoch-002.pt"), str(copy), "--out",
                     str(tmp_path / "avg.pt"), "--valid-data", str(data)]) == 0
    record = checkpoints.load_checkpoint(tmp_path / "avg.pt")["metrics"]
    logged = record["epochs"][1]["valid_si_snri"]
    assert record["averaged"]["valid_si_snri"] == pytest.approx(logged, abs=1e-5)
    assert record["averaged"]["valid_data"] == str(data)
    printed = capsys.readouterr().out
    assert "averaged epochs 2, 2" in printed and f"{logged:.2f} dB" in printed


def test_bad_averaging_input_is_refused_with_the_file_named(kept_run, tmp_path, capsys):
    out, _ = kept_run
    one = out / "epochs" / "epoch-001.pt"
    with pytest.raises(CourseError, match="two or more"):
        averaging.average_files([one], tmp_path / "avg.pt")
    with pytest.raises(CourseError, match="named twice"):
        averaging.average_files([one, one], tmp_path / "avg.pt")
    other = checkpoints.load_checkpoint(one)
    other["config"]["model_config"] = {**other["config"]["model_config"], "H": 8}
    checkpoints.save_checkpoint(other, tmp_path / "other.pt")
    with pytest.raises(CourseError, match=r"other\.pt: not the same network .*model_config"):
        averaging.average_files([one, tmp_path / "other.pt"], tmp_path / "avg.pt")
    assert cli.main(["average", str(one), str(out / "epochs" / "epoch-002.pt"), "--out", str(one)]) == 1
    assert "--out is one of the checkpoints" in capsys.readouterr().err
    assert cli.main(["average", str(one), str(tmp_path / "missing.pt"), "--out", str(tmp_path / "a.pt")]) == 1
    assert "missing.pt: no such checkpoint file" in capsys.readouterr().err
    assert not (tmp_path / "avg.pt").exists() and not (tmp_path / "a.pt").exists()
