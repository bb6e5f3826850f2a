"""Trainer and fit: exact resume, checkpoint errors, NaN stop, LR plateau rule, 2-process DDP (gloo), CLI."""

import dataclasses
import os
import random

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from fakes import MICRO, Toy, as_torchrun_process, free_port, micro_config, numbered, write_wsj_split

from tasnet_edu import checkpoints, cli, train
from tasnet_edu.errors import CourseError
from tasnet_edu.models import ConvTasNet

config = micro_config


def test_presets_are_data_and_paper_is_the_paper():
    paper = train.PRESETS["paper"]
    assert dataclasses.is_dataclass(paper)
    assert ConvTasNet(**paper.model_config).config == ConvTasNet.paper().config
    assert (paper.segment, paper.lr, paper.clip, paper.lr_patience, paper.pit) == (4.0, 1e-3, 5.0, 3, True)
    assert set(train.PRESETS) == {"cpu-tiny", "colab-t4", "course-small", "course-small-causal", "paper",
                                  "deep-clustering"}
    small, causal = train.PRESETS["course-small"], train.PRESETS["course-small-causal"]
    assert causal.model_config == {**small.model_config, "causal": True, "norm": "cLN"}  # only causality
    assert ConvTasNet(**causal.model_config).config["causal"]
    assert train.preset("paper", batch_size=8).batch_size == 8 and paper.batch_size != 8
    with pytest.raises(CourseError, match="unknown preset"):
        train.preset("large")


@pytest.mark.parametrize("checkpoint_every", [None, 3])
def test_resume_continues_with_the_same_next_step_loss(tmp_path, checkpoint_every):
    """Interrupted after epoch 1 (or mid-epoch at step 3): resumed losses equal the uninterrupted ones."""
    cfg = config(checkpoint_every=checkpoint_every)
    full = train.Trainer(cfg, Toy(), Toy(4, seed=1), progress=False).run(epochs=2)["loss"]
    stop_after = checkpoint_every or 4  # 16 items / batch 4 = 4 steps per epoch
    first = train.Trainer(cfg, Toy(), Toy(4, seed=1), out_dir=tmp_path, progress=False)
    first.run(steps=stop_after)
    resumed = train.Trainer.resume(tmp_path / "last.pt", Toy(), Toy(4, seed=1), progress=False)
    assert resumed.step == stop_after
    rest = resumed.run(epochs=2)["loss"]
    assert rest[:stop_after] == full[:stop_after]  # history carried over
    assert rest[stop_after] == full[stop_after]  # the next step: bit-identical
    assert rest == full


def test_checkpoint_holds_the_contract_keys_and_rebuilds_the_model(tmp_path):
    t = train.Trainer(config(), Toy(), Toy(4), out_dir=tmp_path, progress=False)
    t.run(epochs=1)
    ckpt = checkpoints.load_checkpoint(tmp_path / "best.pt")
    assert set(checkpoints.CHECKPOINT_KEYS) <= set(ckpt)
    assert ckpt["versions"]["torch"] == torch.__version__ and ckpt["epoch"] == 1
    model = checkpoints.model_from_checkpoint(ckpt)
    mix = torch.randn(1, 400)
    torch.testing.assert_close(model(mix), t.model.eval()(mix))
    assert not list(tmp_path.glob("*.part"))  # temporary files renamed, none left over
    log = (tmp_path / "log.csv").read_text().splitlines()
    assert log[0].startswith("epoch,step,train_loss,valid_si_snri,lr") and len(log) == 2


def test_truncated_foreign_and_missing_checkpoints_give_clear_errors(tmp_path):
    t = train.Trainer(config(), Toy(), None, out_dir=tmp_path, progress=False)
    t.run(epochs=1)
    data = (tmp_path / "last.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CourseError, match="cut.pt: not a readable checkpoint"):
        checkpoints.load_checkpoint(tmp_path / "cut.pt")
    torch.save({"model": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CourseError, match=r"other.pt: not a tasnet-edu checkpoint.*found \['model'\]"):
        checkpoints.load_checkpoint(tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CourseError, match="not a readable checkpoint"):
        checkpoints.load_checkpoint(tmp_path / "text.pt")
    with pytest.raises(CourseError, match="no such checkpoint"):
        checkpoints.load_checkpoint(tmp_path / "missing.pt")


class GoesNaN(torch.nn.Module):
    """Scales the mixture into two outputs; from call ``bad_call`` on, returns NaN (a diverged network)."""

    def __init__(self, bad_call):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor([1.0, 0.5]))
        self.calls, self.bad_call = 0, bad_call

    def forward(self, mix):
        self.calls += 1
        out = mix[:, None] * self.gain[:, None]
        return out * float("nan") if self.calls >= self.bad_call else out


def test_nan_stops_training_without_a_poisoned_checkpoint(tmp_path):
    t = train.Trainer(config(checkpoint_every=1), Toy(), None, model=GoesNaN(bad_call=3), out_dir=tmp_path,
                      progress=False)
    with pytest.raises(train.TrainingDiverged, match=r"step 3 .*NaN/Inf.*last good checkpoint: .*last.pt"):
        t.run(epochs=1)
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    assert ckpt["progress"]["step"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())


def test_learning_rate_halves_after_three_bad_epochs_and_early_stopping():
    t = train.Trainer(config(lr_patience=3, stop_patience=5), Toy(), None, progress=False)
    lrs, stops = [], []
    for loss in [1.0, 2.0, 2.0, 2.0, 2.0, 2.0]:  # score = −loss: one good epoch, then no improvement
        stops.append(t._end_epoch([loss]))
        lrs.append(t.optimizer.param_groups[0]["lr"])
    assert lrs == [1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 5e-4]
    assert stops == [False, False, False, False, False, True]
    never = train.Trainer(config(lr_patience=None, stop_patience=None), Toy(), None, progress=False)
    assert not any(never._end_epoch([2.0]) for _ in range(20))  # None: no early stopping
    assert never.optimizer.param_groups[0]["lr"] == 1e-3        # None: the learning rate never halves


def test_training_seeds_only_what_it_owns():
    """The trainer draws a model's start from config.seed on its own copy of torch's random state; fit
    reseeds nothing global, so a notebook's random state goes on where it was."""
    torch.manual_seed(7)
    before = torch.get_rng_state()
    first, second = (train.model_from_config(config(seed=3)) for _ in range(2))
    assert torch.equal(torch.get_rng_state(), before)
    torch.testing.assert_close(first.state_dict(), second.state_dict(), rtol=0, atol=0)
    random.seed(5)
    np.random.seed(5)
    model = ConvTasNet(**MICRO)
    python_state, numpy_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    train.fit(model, Toy(), steps=2, seed=0, progress=False)
    assert random.getstate() == python_state
    assert np.array_equal(np.random.get_state()[1], numpy_state[1])
    assert torch.equal(torch.get_rng_state(), torch_state)  # the data loader draws from its own generator


def test_fit_returns_a_plottable_history_and_fixed_order_option():
    model = ConvTasNet(**MICRO)
    history = train.fit(model, Toy(), Toy(4, seed=1), steps=6, log_every=3, progress=False)
    assert history["step"] == list(range(1, 7)) and len(history["loss"]) == 6
    assert history["valid_step"] == [3, 4, 6] and all(np.isfinite(history["valid_si_snri"]))
    assert history["audio_seconds"] == pytest.approx(6 * 4 * 400 / 8000)
    assert history["audio_per_second"] > 0 and not model.training
    # pit=False scores estimate k against reference k; on a swapped model it sees the swap, uPIT does not
    est, ref = Toy(2)[0][1][None].flip(1), Toy(2)[0][1][None]
    assert train.si_snr_loss(est, ref, pit=True) < train.si_snr_loss(est, ref, pit=False)
    with pytest.raises(CourseError, match="needs steps"):
        train.fit(model, Toy(), progress=False)


def _ddp_worker(rank, world, port, out):
    as_torchrun_process(rank, world, port)
    t = train.Trainer(config(), Toy(), Toy(4, seed=1), out_dir=out, progress=False)
    try:
        history = t.run(epochs=1)
        torch.save({"params": [p.detach() for p in t.model.parameters()], "steps": t.step,
                    "valid": history["valid_si_snri"]}, os.path.join(out, f"rank{rank}.pt"))
    finally:
        t.close()
    assert not torch.distributed.is_initialized()  # the trainer started the group, so close() ended it


def test_ddp_two_processes_gloo(tmp_path):
    """torchrun-style: 2 CPU processes, gloo; each takes half of every epoch and gradients are averaged."""
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("this torch build has no gloo backend")
    mp.spawn(_ddp_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["steps"] == r1["steps"] == 2  # 16 items / (batch 4 × 2 processes)
    for a, b in zip(r0["params"], r1["params"], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # replicas stay identical
    assert r0["valid"] == r1["valid"]  # validation reduced over both processes
    assert (tmp_path / "last.pt").exists()  # written by rank 0 only


def test_cli_train_then_resume(tmp_path, wsj_tree, capsys):
    out = tmp_path / "run"
    base = ["train", "--preset", "cpu-tiny", "--data", str(wsj_tree), "--out", str(out), "--no-progress"]
    assert cli.main([*base, "--epochs", "1"]) == 0
    assert "trained 1 epoch(s), 2 steps" in capsys.readouterr().out  # 8 items / batch 4
    assert cli.main([*base, "--epochs", "1"]) == 1  # refuses to overwrite a run
    assert "pass --resume" in capsys.readouterr().err
    assert cli.main([*base, "--epochs", "2", "--resume"]) == 0
    assert "trained 2 epoch(s), 4 steps" in capsys.readouterr().out
    assert len((out / "log.csv").read_text().splitlines()) == 3
    assert cli.main(["train", "--data", str(tmp_path), "--out", str(out / "x")]) == 1
    assert "expected the wsj0-2mix layout" in capsys.readouterr().err


def test_cli_init_goes_on_from_an_exported_model(tmp_path, wsj_tree, capsys):
    """A shipped-style file (no optimizer state) warm-starts a run: weights, epochs, curve and lr carry on."""
    from tasnet_edu import pretrained

    first = tmp_path / "first"
    base = ["train", "--preset", "cpu-tiny", "--data", str(wsj_tree), "--no-progress"]
    assert cli.main([*base, "--out", str(first), "--epochs", "2"]) == 0
    exported = pretrained.export(first / "last.pt", tmp_path / "exported.pt")
    assert "optimizer" not in checkpoints.load_checkpoint(exported)
    more = tmp_path / "more"
    assert cli.main([*base, "--out", str(more), "--epochs", "3", "--init", str(exported)]) == 0
    assert "trained 3 epoch(s), 6 steps" in capsys.readouterr().out
    old, new = checkpoints.load_checkpoint(first / "last.pt"), checkpoints.load_checkpoint(more / "last.pt")
    assert new["metrics"]["epochs"][:2] == old["metrics"]["epochs"]  # the curve goes on from epoch 2
    assert new["metrics"]["epochs"][2]["train_seconds"] > old["metrics"]["epochs"][1]["train_seconds"]
    assert new["optimizer"]["param_groups"][0]["lr"] == old["metrics"]["epochs"][-1]["lr"]
    assert any(not torch.equal(new["state_dict"][k], old["state_dict"][k]) for k in old["state_dict"])
    assert cli.main([*base, "--out", str(more), "--init", str(exported)]) == 1  # never overwrites a run
    assert cli.main([*base, "--out", str(more), "--init", str(exported), "--resume"]) == 1
    assert "pass one" in capsys.readouterr().err


def test_cli_init_with_lr_is_a_warm_restart(tmp_path, wsj_tree, capsys):
    """``--init CKPT --lr X`` restarts at X (recorded in the config); ``--resume`` refuses ``--lr``."""
    base = ["train", "--preset", "cpu-tiny", "--data", str(wsj_tree), "--no-progress", "--epochs", "1"]
    first, more = tmp_path / "first", tmp_path / "more"
    assert cli.main([*base, "--out", str(first)]) == 0
    assert cli.main([*base, "--out", str(more), "--epochs", "2", "--init", str(first / "last.pt"),
                     "--lr", "3e-4"]) == 0
    new = checkpoints.load_checkpoint(more / "last.pt")
    assert new["config"]["lr"] == 3e-4 and new["metrics"]["epochs"][1]["lr"] == 3e-4
    assert new["metrics"]["epochs"][0]["lr"] == 1e-3  # the first run's epoch, kept in the curve
    assert cli.main([*base, "--out", str(first), "--epochs", "2", "--resume", "--lr", "3e-4"]) == 1
    assert "--init OUT/last.pt" in capsys.readouterr().err


def test_cli_segment_overrides_the_crop_length(tmp_path, wsj_tree, capsys):
    """``--segment`` sets the training crop length and is recorded in the config; it goes with ``--init``."""
    base = ["train", "--preset", "cpu-tiny", "--data", str(wsj_tree), "--no-progress"]
    first, more = tmp_path / "first", tmp_path / "more"
    assert cli.main([*base, "--out", str(first), "--epochs", "1", "--segment", "0.5"]) == 0
    assert checkpoints.load_checkpoint(first / "last.pt")["config"]["segment"] == 0.5
    assert cli.main([*base, "--out", str(more), "--epochs", "2", "--init", str(first / "last.pt"),
                     "--segment", "0.25"]) == 0
    assert checkpoints.load_checkpoint(more / "last.pt")["config"]["segment"] == 0.25
    kept = tmp_path / "kept"  # without --segment, --init keeps the checkpoint's crop, not the preset's
    assert cli.main([*base, "--out", str(kept), "--epochs", "2", "--init", str(first / "last.pt")]) == 0
    assert train.preset("cpu-tiny").segment != 0.5
    assert checkpoints.load_checkpoint(kept / "last.pt")["config"]["segment"] == 0.5
    assert cli.main([*base, "--out", str(tmp_path / "x"), "--segment", "0"]) == 1
    assert "--segment 0.0: a training crop must be longer than 0 seconds" in capsys.readouterr().err


def test_cli_valid_data_validates_elsewhere_and_starts_the_best_score_afresh(tmp_path, wsj_tree, capsys):
    """``--init … --valid-data DIR``: a new validation set, so the checkpoint's best score is not the bar,
    nor the best that the closing line reports."""
    other = tmp_path / "other"
    write_wsj_split(other, "cv", numbered(3, 1.2))
    base = ["train", "--preset", "cpu-tiny", "--data", str(wsj_tree), "--no-progress"]
    first, more = tmp_path / "first", tmp_path / "more"
    assert cli.main([*base, "--out", str(first), "--epochs", "1"]) == 0
    checkpoint = checkpoints.load_checkpoint(first / "last.pt")
    checkpoint["metrics"]["best_valid_si_snri"] = 1e3  # a bar no epoch on the new set can pass
    checkpoint["metrics"]["epochs"][0]["valid_si_snri"] = 1e3
    checkpoints.save_checkpoint(checkpoint, first / "high.pt")
    assert cli.main([*base, "--out", str(more), "--epochs", "2", "--init", str(first / "high.pt"),
                     "--valid-data", str(other), "--level", "active"]) == 0
    closing = capsys.readouterr().out.splitlines()[-1]
    assert f"best validation SI-SNRi on {other} " in closing and "1000.00" not in closing
    best = checkpoints.load_checkpoint(more / "best.pt")
    assert best["epoch"] == 2 and best["config"]["level"] == "active"
    assert best["metrics"]["epochs"][-1]["valid_data"] == str(other)
    assert "valid_data" not in best["metrics"]["epochs"][0]
    assert best["metrics"]["best_valid_si_snri"] < 1e3


@pytest.mark.parametrize("name", ["course-small", "course-small-espeak", "course-small-causal",
                                  "deep-clustering"])
def test_cli_init_then_resume_works_for_every_shipped_model(name, tmp_path, wsj_tree, capsys):
    """Every shipped file, deep clustering's included, is a common-format checkpoint that ``--init`` goes
    on from and whose run ``--resume`` continues (short crops and batches keep it quick)."""
    from tasnet_edu import pretrained

    shipped = checkpoints.load_checkpoint(pretrained.shipped_path(name))
    out, epochs = tmp_path / "run", shipped["epoch"]
    base = ["train", "--data", str(wsj_tree), "--out", str(out), "--no-progress", "--batch-size", "4",
            "--segment", "0.25"]
    assert cli.main([*base, "--init", str(pretrained.shipped_path(name)), "--epochs", str(epochs + 1)]) == 0
    assert f"trained {epochs + 1} epoch(s)" in capsys.readouterr().out
    assert cli.main([*base, "--resume", "--epochs", str(epochs + 2)]) == 0
    resumed = checkpoints.load_checkpoint(out / "last.pt")
    assert resumed["epoch"] == epochs + 2
    assert resumed["config"]["model_class"] == shipped["config"]["model_class"]
    def curve(checkpoint):
        return [(e["step"], e["valid_si_snri"]) for e in checkpoint["metrics"]["epochs"][:epochs]]
    assert curve(resumed) == curve(shipped)  # the shipped model's validation curve goes on


def test_cli_init_causal_starts_a_causal_model_from_non_causal_weights(tmp_path, wsj_tree, capsys):
    """``--init CKPT --causal``: a cLN causal model with the checkpoint's weights cut (``causal_copy``), its
    own fresh curve; without --init, or from a causal or non-Conv-TasNet checkpoint, one clear line."""
    from tasnet_edu import pretrained
    from tasnet_edu.models.conv_tasnet import causal_copy

    first, causal = tmp_path / "first", tmp_path / "causal"
    base = ["train", "--preset", "cpu-tiny", "--data", str(wsj_tree), "--no-progress"]
    assert cli.main([*base, "--out", str(first), "--epochs", "1"]) == 0
    assert cli.main([*base, "--out", str(causal), "--epochs", "1", "--init", str(first / "last.pt"),
                     "--causal"]) == 0
    assert "trained 1 epoch(s), 2 steps" in capsys.readouterr().out
    ckpt = checkpoints.load_checkpoint(causal / "last.pt")
    assert ckpt["config"]["model_config"]["causal"] and ckpt["config"]["model_config"]["norm"] == "cLN"
    assert [e["epoch"] for e in ckpt["metrics"]["epochs"]] == [1]  # its own curve, not the non-causal one's
    start = causal_copy(checkpoints.model_from_checkpoint(checkpoints.load_checkpoint(first / "last.pt")))
    assert checkpoints.model_from_checkpoint(ckpt).config == start.config
    for args, message in (([], "pass it with --init"),
                          (["--init", str(causal / "last.pt")], "causal already"),
                          (["--init", str(pretrained.shipped_path("deep-clustering"))], "a DeepClustering")):
        assert cli.main([*base, "--out", str(tmp_path / "x"), "--causal", *args]) == 1
        assert message in capsys.readouterr().err


def test_cli_passes_the_real_recording_conditions_to_dynamic_mixing(tmp_path, wsj_tree, capsys):
    """--max-db, --partial, --pseudo-speakers and --seed reach the training set and the checkpoint."""
    out = tmp_path / "run"
    args = ["train", "--preset", "cpu-tiny", "--data", str(wsj_tree), "--out", str(out), "--epochs", "1",
            "--dynamic-mix", "--max-db", "10", "--partial", "0.5", "--pseudo-speakers", "--seed", "3",
            "--no-progress"]
    assert cli.main(args) == 0
    config = torch.load(out / "last.pt", weights_only=True)["config"]
    recorded = config["max_db"], config["partial"], config["pseudo_speakers"], config["seed"]
    assert recorded == (10, 0.5, True, 3)
    train_set, _ = train.make_datasets("wsj0-2mix", wsj_tree, train.TrainConfig(**config))
    assert (train_set.max_db, train_set.partial, train_set.people is not None) == (10.0, 0.5, True)
    plain, _ = train.make_datasets("wsj0-2mix", wsj_tree, train.preset("cpu-tiny", dynamic_mix=True))
    assert (plain.max_db, plain.partial, plain.people) == (5.0, 0.0, None)  # defaults: wsj0-2mix's rules
