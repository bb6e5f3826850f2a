"""`tasnet_edu.pretrained`: safe checkpoint loading, the shipped-model registry, configuration mismatches."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest
import torch

from tasnet_edu import checkpoints, pretrained, train
from tasnet_edu.compiled import FastConvTasNet
from tasnet_edu.errors import CourseError
from tasnet_edu.inference import ShiftAverage
from tasnet_edu.models import ConvTasNet, DeepClustering, TasNet
from tasnet_edu.separator import Separator

needs_onnx = pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime missing")


def write_checkpoint(path, model, **config) -> pathlib.Path:
    """A checkpoint of ``model`` exactly as the trainer writes it (through its own state and writer)."""
    config = train.TrainConfig(**config)
    trainer = train.Trainer(config, train_set=[], model=model, device="cpu", progress=False)
    return checkpoints.save_checkpoint(trainer.state(), path)


@pytest.fixture
def tiny_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = ConvTasNet.tiny(X=2, R=1)
    return write_checkpoint(tmp_path / "tiny.pt", model, sample_rate=16000), model


def test_load_path_gives_the_same_model_ready_to_use(tiny_checkpoint):
    path, original = tiny_checkpoint
    model = pretrained.load(path)
    assert isinstance(model, ConvTasNet) and not model.training
    assert model.config == original.config
    assert model.sample_rate == 16000  # the rate the checkpoint records, not the course default
    mix = torch.randn(2, 1000)
    torch.testing.assert_close(model(mix), original.eval()(mix))


@needs_onnx
def test_load_decides_the_engine_and_the_shifts_once(tiny_checkpoint, tmp_path, monkeypatch):
    """``load(…, engine, shifts)`` gives one ready separator, of the checkpoint's rate and sources."""
    monkeypatch.setenv("TASNET_EDU_CACHE", str(tmp_path / "cache"))
    path, original = tiny_checkpoint
    mix = torch.randn(2, 1000)
    fast = pretrained.load(path, engine="onnx")
    assert isinstance(fast, FastConvTasNet) and isinstance(fast, Separator)
    assert (fast.sample_rate, fast.n_src, fast.stride, fast.L) == (16000, 2, 8, 16)
    with torch.inference_mode():
        torch.testing.assert_close(fast(mix), original.eval()(mix), atol=1e-4, rtol=1e-4)
    averaged = pretrained.load(path, engine="auto", shifts=4)
    assert isinstance(averaged, ShiftAverage) and isinstance(averaged.model, FastConvTasNet)
    assert averaged.delays == [0, 2, 4, 6] and averaged.sample_rate == 16000
    assert isinstance(pretrained.load(path, shifts=2).model, ConvTasNet)  # eager by default
    with pytest.raises(CourseError, match="this is a DeepClustering"):
        pretrained.load("deep-clustering", engine="onnx")
    with pytest.raises(CourseError, match="engine must be one of"):
        pretrained.load(path, engine="fast")
    with pytest.raises(CourseError, match="shifts must be between 1 and the model's hop"):
        pretrained.load(path, shifts=9)


@pytest.mark.parametrize("model_class", ["ConvTasNet", "TasNet", "DeepClustering"])
def test_every_model_is_a_separator_built_for_its_rate(model_class):
    """``sample_rate`` is set where the model is built, and stays out of ``config`` (which a card and a
    checkpoint record as it was): ``Model(**model.config)`` rebuilds the network."""
    model = checkpoints.build_model(model_class, {}, n_src=3, sample_rate=16000)
    assert isinstance(model, Separator) and (model.sample_rate, model.n_src) == (16000, 3)
    assert "sample_rate" not in model.config and type(model)(**model.config).config == model.config


SHIPPED_CLASS = {"course-small": ConvTasNet, "course-small-espeak": ConvTasNet,
                 "course-small-causal": ConvTasNet, "deep-clustering": DeepClustering}


def test_every_shipped_model_has_a_class_and_a_card():
    assert set(SHIPPED_CLASS) == set(pretrained.SHIPPED)
    assert all(pretrained.card(name)["name"] == name for name in pretrained.SHIPPED)


@pytest.mark.parametrize("name", sorted(pretrained.SHIPPED))
def test_shipped_models_are_small_and_built_by_their_recipe(name):
    path = pretrained.shipped_path(name)
    assert path.is_file() and path.stat().st_size <= 20e6
    model = pretrained.load(name)
    assert isinstance(model, SHIPPED_CLASS[name]) and model.sample_rate == 8000
    assert isinstance(model, Separator)  # sample_rate, n_src, stride, L, config and a call
    assert "optimizer" not in torch.load(path, weights_only=True)
    if name in train.PRESETS:  # a Conv-TasNet trained by `tasnet-edu train --preset NAME`
        preset = train.PRESETS[name]
        assert {k: model.config[k] for k in preset.model_config} == preset.model_config
        # trained by `--preset NAME`, or (course-small-causal) a non-causal run's weights made causal
        recipe = pretrained.card(name)["recipe"]
        assert ["--preset", name] == recipe[1][2:4] or any("--causal" in command for command in recipe)


@pytest.mark.parametrize("name", sorted(pretrained.SHIPPED))
def test_a_missing_shipped_file_says_how_to_get_one(tmp_path, monkeypatch, name):
    monkeypatch.setattr(pretrained, "RESOURCES", tmp_path)
    with pytest.raises(CourseError, match=f"'{name}' is missing") as err:
        pretrained.load(name)
    message = str(err.value)
    recipe = pretrained.card(name)["recipe"]
    assert all(pretrained.command_line(args) in message for args in recipe) and str(tmp_path) in message
    best = pretrained.card(name)["checkpoint"]
    assert best in message and best.startswith("runs/") and best.endswith(".pt")


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(CourseError, match=r"nope\.pt: no such checkpoint file, and not a shipped model"):
        pretrained.load(tmp_path / "nope.pt")
    with pytest.raises(CourseError, match="no shipped model named 'course-huge'"):
        pretrained.shipped_path("course-huge")


def test_load_weights_names_the_mismatched_hyper_parameters(tiny_checkpoint):
    path, original = tiny_checkpoint
    with pytest.raises(CourseError, match="tiny.pt: its weights do not fit") as err:
        pretrained.load_weights(ConvTasNet.tiny(N=32, X=2, R=2), path)
    message = str(err.value)
    assert "checkpoint has N=64, model has N=32" in message and "checkpoint has R=1, model has R=2" in message
    assert "X=" not in message  # X agrees, so it is not blamed

    with pytest.raises(CourseError, match="holds a ConvTasNet, the model is a TasNet"):
        pretrained.load_weights(TasNet(), path)
    unnamed = ConvTasNet.tiny(X=2, R=2)
    del unnamed.config  # a model that does not record its hyper-parameters: the tensor shapes still tell
    with pytest.raises(CourseError, match="tiny.pt: its weights do not fit this model: .*tcn"):
        pretrained.load_weights(unnamed, path)

    with pytest.raises(CourseError, match="checkpoint has sample_rate=16000, model has sample_rate=8000"):
        pretrained.load_weights(ConvTasNet.tiny(X=2, R=1), path)  # built for another rate: say so
    model = pretrained.load_weights(ConvTasNet.tiny(X=2, R=1, sample_rate=16000), path)
    mix = torch.randn(1, 800)
    torch.testing.assert_close(model.eval()(mix), original.eval()(mix))


class Trap:
    """Unpickling this object would create ``marker``: the code a malicious checkpoint would run."""

    def __init__(self, marker):
        self.marker = pathlib.Path(marker)

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def test_checkpoint_with_pickled_code_is_refused_and_never_run(tmp_path, tiny_checkpoint):
    path, _ = tiny_checkpoint
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["metrics"] = Trap(tmp_path / "pwned")
    torch.save(checkpoint, tmp_path / "evil.pt")
    with pytest.raises(CourseError, match="evil.pt: not a readable checkpoint"):
        pretrained.load(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(tiny_checkpoint):
    with pytest.raises(CourseError, match="no CUDA GPU"):
        pretrained.load(tiny_checkpoint[0], device="cuda")


def test_export_keeps_what_inference_needs_and_drops_the_optimizer(tmp_path, tiny_checkpoint):
    path, original = tiny_checkpoint
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["optimizer"]["state"] = {0: {"exp_avg": torch.zeros(10**5)}}  # as after training steps
    torch.save(checkpoint, tmp_path / "trained.pt")

    out = pretrained.export(tmp_path / "trained.pt", tmp_path / "shipped.pt")

    assert out.stat().st_size < (tmp_path / "trained.pt").stat().st_size - 4e5
    assert "optimizer" not in torch.load(out, weights_only=True)
    mix = torch.randn(1, 800)
    torch.testing.assert_close(pretrained.load(out)(mix), original.eval()(mix))


def test_record_describes_a_checkpoint_without_its_weights(tiny_checkpoint):
    path, _ = tiny_checkpoint
    info = pretrained.record(path)
    assert set(info) == {"config", "epoch", "metrics", "versions"}
    assert info["config"]["sample_rate"] == 16000 and info["epoch"] == 0
    assert info["versions"]["torch"] == torch.__version__


def test_checkpoints_are_written_with_the_usual_file_mode(tmp_path):
    """Written through a private temporary file, a checkpoint still ends with the umask's mode (0644 under
    umask 022), so a shipped model is readable by everyone who can read the package."""
    import os

    old = os.umask(0o022)
    try:
        path = checkpoints.save_checkpoint({"format": checkpoints.CHECKPOINT_FORMAT}, tmp_path / "c.pt")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
