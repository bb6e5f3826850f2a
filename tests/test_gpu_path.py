"""The GPU path (issue 40), checked on the CPU where a CPU can show it, and on a GPU by ``-m cuda``.

CPU tests: the process-group backend and where its collectives reduce, ``torchrun`` with one process (gloo)
through a validation, a diverging process that stops the others instead of hanging them, the precision
decision on every torch the floor admits, fp16 with loss scaling (skip, do not raise), ``fit`` and
``evaluate`` leaving the model where it was, ``cudnn.benchmark`` for training steps only, the depthwise
kernel chosen per device, resume-if-exists and the archived data folder of chapter 10.
Tests marked ``cuda`` run only where CUDA is available (``scripts/gpu_check.sh``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from fakes import MICRO, Toy, as_torchrun_process, free_port, micro_config
from torch.nn.parallel import DistributedDataParallel

from tasnet_edu import _depthwise, evaluate, train, utils
from tasnet_edu.errors import CourseError
from tasnet_edu.models import ConvTasNet, DeepClustering

CUDA = torch.device("cuda", 0)
config = micro_config


@pytest.fixture
def torchrun_env(monkeypatch):
    """The environment ``torchrun --nproc_per_node 1`` gives its process; the group is destroyed after."""
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


# ---- 1. distributed training -------------------------------------------------------------------------------
def test_backend_and_collective_device_follow_the_training_device():
    assert train.distributed_backend(CUDA) == "nccl" and train.distributed_backend("cpu") == "gloo"
    # NCCL reduces CUDA tensors only: the validation total must go to the GPU, not stay a CPU tensor
    assert train.collective_device(torch.device("cuda", 1)) == torch.device("cuda", 1)
    assert train.collective_device("cpu") == torch.device("cpu")


def test_under_torchrun_the_gpu_is_chosen_before_the_nccl_group_starts(monkeypatch):
    calls = []
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: calls.append(("set_device", device)))
    monkeypatch.setattr(dist, "is_initialized", lambda: any(c[0] == "init" for c in calls))
    monkeypatch.setattr(dist, "init_process_group", lambda backend, **kw: calls.append(("init", backend)))
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    rank, world, device, started = train.start_distributed()
    assert (rank, world, device, started) == (1, 2, torch.device("cuda", 1), True)
    assert calls == [("set_device", torch.device("cuda", 1)), ("init", "nccl")]
    calls.clear()  # a CUDA device given without an index still means this process's GPU
    assert train.start_distributed("cuda")[2] == torch.device("cuda", 1)


def test_torchrun_with_one_process_trains_ddp_through_a_validation_and_destroys_its_group(
        torchrun_env, monkeypatch, tmp_path):
    reduced = []
    real_all_reduce = dist.all_reduce

    def spy(tensor, *args, **kwargs):
        reduced.append((tensor.dtype, tensor.device, dist.get_backend()))
        return real_all_reduce(tensor, *args, **kwargs)

    monkeypatch.setattr(dist, "all_reduce", spy)
    t = train.Trainer(config(), Toy(), Toy(4, seed=1), out_dir=tmp_path, progress=False)
    try:
        assert dist.is_initialized() and isinstance(t.objective, DistributedDataParallel)
        history = t.run(epochs=1)
    finally:
        t.close()
    assert not dist.is_initialized()  # the group the trainer started is gone
    assert len(history["valid_si_snri"]) == 1 and history["valid_si_snri"][0] == history["valid_si_snri"][0]
    assert (torch.float64, torch.device("cpu"), "gloo") in reduced  # the validation total, under gloo


def _diverging_worker(rank, world, port, out):
    as_torchrun_process(rank, world, port)

    class NaNOnRank1(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = torch.nn.Parameter(torch.tensor([1.0, 0.5]))

        def forward(self, mix):
            out = mix[:, None] * self.gain[:, None]
            return out * float("nan") if dist.get_rank() == 1 else out

    t = train.Trainer(config(), Toy(), None, model=NaNOnRank1(), progress=False)
    try:
        t.run(epochs=1)
        outcome = "finished"
    except train.TrainingDiverged as error:
        outcome = f"diverged: {error}"
    with open(os.path.join(out, f"rank{rank}.txt"), "w") as f:  # before close: a teardown fault shows apart
        f.write(outcome)
    t.close()
    assert not isinstance(t.objective, DistributedDataParallel)  # close() let go of the group's last holder


def test_one_diverging_process_stops_every_process_instead_of_hanging_them(tmp_path):
    """Rank 1's model outputs NaN: both ranks raise TrainingDiverged at the same step (before the fix rank 1
    raised before its backward pass and rank 0 waited in the gradient all-reduce until the timeout)."""
    context = mp.start_processes(_diverging_worker, args=(2, free_port(), str(tmp_path)), nprocs=2,
                                 join=False, start_method="spawn")
    try:
        for _ in range(60):
            if context.join(timeout=1):
                break
        else:
            pytest.fail("a process still hangs 60 s after the divergence")
    except mp.ProcessExitedException as error:  # name the phase: during training, or in the teardown after
        written = {p.name: p.read_text() for p in sorted(tmp_path.glob("rank*.txt"))}
        pytest.fail(f"{error}; outcomes written before close(): {written}")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
    outcomes = [(tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)]
    assert all(o.startswith("diverged: training stopped at step 1") for o in outcomes), outcomes


# ---- 3. the caller's model stays where it is ---------------------------------------------------------------
def test_fit_and_evaluate_leave_a_cpu_model_on_the_cpu_when_cuda_is_the_default(monkeypatch):
    """On a Colab GPU runtime ``default_device()`` is CUDA; stand in for it with the meta device (a model
    moved there cannot compute, so a move shows)."""
    monkeypatch.setattr(train, "default_device", lambda: torch.device("meta"))
    monkeypatch.setattr(evaluate, "default_device", lambda: torch.device("meta"))
    model = ConvTasNet(**MICRO)
    history = train.fit(model, Toy(), Toy(2, seed=1), steps=2, progress=False)
    assert next(model.parameters()).device.type == "cpu" and len(history["loss"]) == 2
    rows = evaluate.evaluate(model, Toy(2, seed=1), with_sdr=False, progress=False)
    assert len(rows) == 2 and next(model.parameters()).device.type == "cpu"
    assert model(Toy(1)[0][0][None]).shape == (1, 2, 400)  # a CPU tensor still works, as chapters 04-09 do


# ---- 4. the precision decision -----------------------------------------------------------------------------
@pytest.mark.parametrize("capability, expected", [((9, 0), torch.bfloat16), ((8, 9), torch.bfloat16),
                                                  ((8, 0), torch.bfloat16), ((7, 5), torch.float16),
                                                  ((7, 0), torch.float16), ((6, 0), None)])
def test_precision_is_decided_on_a_torch_without_the_including_emulation_keyword(monkeypatch, capability,
                                                                                   expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)  # torch 2.1's signature: no keyword
    assert utils.autocast_dtype("cuda") == expected
    assert utils.autocast_dtype("cuda", allowed=False) is None and utils.autocast_dtype("cpu") is None


# ---- 7. fp16 with loss scaling -----------------------------------------------------------------------------
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_a_training_step_runs_under_each_precision(precision):
    t = train.Trainer(config(), Toy(), None, model=ConvTasNet(**MICRO), progress=False, precision=precision)
    assert t.scaler.is_enabled() == (precision == "fp16")
    before = [p.detach().clone() for p in t.model.parameters()]
    history = t.run(steps=8)
    # fp16: the scaler starts at 2**16 and may skip a few first steps until the scale fits the gradients
    assert history["skipped_steps"] < 8 if precision == "fp16" else history["skipped_steps"] == 0
    assert sum(loss == loss for loss in history["loss"]) == 8 - history["skipped_steps"]  # NaN: skipped
    assert any(not torch.equal(a, b) for a, b in zip(before, t.model.parameters(), strict=True))


class OverflowsOnce(torch.nn.Module):
    """Scales the mixture into two outputs; call ``bad_call`` (and the ``repeat - 1`` after it) gives Inf."""

    def __init__(self, bad_call, repeat=1):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor([1.0, 0.5]))
        self.calls, self.bad = 0, range(bad_call, bad_call + repeat)

    def forward(self, mix):
        self.calls += 1
        out = mix[:, None] * self.gain[:, None]
        return out * float("inf") if self.calls in self.bad else out


def test_fp16_skips_a_step_with_non_finite_gradients_as_the_scaler_does(tmp_path):
    t = train.Trainer(config(checkpoint_every=1), Toy(), None, model=OverflowsOnce(bad_call=2),
                      out_dir=tmp_path, progress=False, precision="fp16")
    scale = t.scaler.get_scale()
    history = t.run(steps=3)
    assert history["loss"][1] != history["loss"][1] and history["skipped_steps"] == 1  # NaN: skipped
    assert t.scaler.get_scale() == scale / 2 and t.step == 3
    resumed = train.Trainer.resume(tmp_path / "last.pt", Toy(), None, model=OverflowsOnce(bad_call=0),
                                   progress=False, precision="fp16")
    assert resumed.scaler.get_scale() == scale / 2  # the loss scale is part of the run's state


def test_fp16_steps_that_never_recover_are_divergence():
    t = train.Trainer(config(), Toy(64), None, model=OverflowsOnce(bad_call=1, repeat=10**6),
                      progress=False, precision="fp16")
    with pytest.raises(train.TrainingDiverged, match=f"{train.MAX_SKIPPED_IN_A_ROW} fp16 steps in a row"):
        t.run(steps=train.MAX_SKIPPED_IN_A_ROW + 5)
    assert t.history["skipped_steps"] == train.MAX_SKIPPED_IN_A_ROW
    with pytest.raises(CourseError, match="precision must be one of"):
        train.Trainer(config(), Toy(), None, progress=False, precision="fp8")


# ---- 8. speed: cudnn.benchmark, the depthwise kernel -------------------------------------------------------
class RecordsBenchmarkFlag(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor([1.0, 0.5]))
        self.seen = []

    def forward(self, mix):
        self.seen.append((self.training, torch.backends.cudnn.benchmark))
        return mix[:, None] * self.gain[:, None]


def test_cudnn_benchmark_is_on_for_training_steps_only():
    model = RecordsBenchmarkFlag()
    before = torch.backends.cudnn.benchmark
    t = train.Trainer(config(), Toy(), Toy(2, seed=1), model=model, progress=False)
    t.run(steps=2, valid_every=2)
    assert {flag for training, flag in model.seen if training} == {True}
    assert {flag for training, flag in model.seen if not training} == {False}  # utterances vary in length
    assert torch.backends.cudnn.benchmark == before


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("P", [2, 3])
def test_depthwise_conv_uses_f_conv1d_on_devices_without_the_shifted_sum(monkeypatch, causal, P):
    torch.manual_seed(0)
    x, weight, bias = torch.randn(2, 6, 40), torch.randn(6, 1, P), torch.randn(6)
    shifted = _depthwise.depthwise_conv(x, weight, bias, 4, causal)  # the CPU's kernel
    assert "cuda" not in _depthwise.SHIFTED_SUM_DEVICES
    monkeypatch.setattr(_depthwise, "SHIFTED_SUM_DEVICES", set())  # the CPU treated as a GPU is
    monkeypatch.setattr(_depthwise._DepthwiseConv, "apply", None)  # the shifted sum must not run
    torch.testing.assert_close(_depthwise.depthwise_conv(x, weight, bias, 4, causal), shifted)


# ---- 5. chapter 10: one cell that resumes, a data folder kept as an archive --------------------------------
def test_resume_or_start_starts_fresh_then_resumes_and_refuses_a_run_without_last_pt(tmp_path):
    out = tmp_path / "run"
    first = train.resume_or_start(config(), Toy(), Toy(2, seed=1), out_dir=out, progress=False)
    assert first.step == 0
    first.run(epochs=1)
    again = train.resume_or_start(config(lr=5.0), Toy(), Toy(2, seed=1), out_dir=out, progress=False)
    assert again.step == first.step == 4 and again.epoch == 1 and again.config.lr == 1e-3  # the saved run
    again.run(epochs=2)
    log = (out / "log.csv").read_text().splitlines()
    assert log[0].startswith("epoch,") and [line.split(",")[0] for line in log[1:]] == ["1", "2"]
    (out / "last.pt").unlink()
    with pytest.raises(CourseError, match="no last.pt"):
        train.resume_or_start(config(), Toy(), None, out_dir=out, progress=False)


def test_archived_folder_is_made_once_then_unpacked_in_a_new_session(tmp_path):
    made = []

    def make():
        folder = tmp_path / "local" / "mix2-demo"
        (folder / "tr" / "mix").mkdir(parents=True)
        (folder / "tr" / "mix" / "00000.wav").write_bytes(b"RIFF")
        made.append(folder)
        return folder

    archive = tmp_path / "drive" / "mix2-demo.tar"
    folder = utils.archived_folder(archive, make, tmp_path / "local")
    assert archive.is_file() and len(made) == 1
    shutil.rmtree(tmp_path / "local")  # a new runtime: local disk is empty, the drive is not
    again = utils.archived_folder(archive, make, tmp_path / "local")
    assert again == folder and (again / "tr" / "mix" / "00000.wav").read_bytes() == b"RIFF" and len(made) == 1
    assert utils.archived_folder(archive, make, tmp_path / "local") == folder  # already unpacked: kept
    archive.write_bytes(b"")
    with pytest.raises(Exception):  # noqa: B017 (an empty file is no tar archive: tarfile's own error)
        utils.archived_folder(archive, make, tmp_path / "other")


# ---- on a CUDA GPU (scripts/gpu_check.sh) ------------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.parametrize("precision", [None, "fp16", "fp32"])
def test_cuda_training_steps_and_exact_state_under_each_precision(precision, tmp_path):
    t = train.Trainer(config(checkpoint_every=2), Toy(), Toy(2, seed=1), out_dir=tmp_path, progress=False,
                      precision=precision)
    assert t.device.type == "cuda"
    history = t.run(steps=4, valid_every=4)
    assert all(loss == loss for loss in history["loss"]) and history["valid_si_snri"][-1] == \
        history["valid_si_snri"][-1]
    resumed = train.Trainer.resume(tmp_path / "last.pt", Toy(), Toy(2, seed=1), progress=False,
                                   precision=precision)
    assert resumed.step == 4 and resumed.device.type == "cuda"
    assert resumed.run(steps=6)["loss"][-1] == resumed.history["loss"][-1]


@pytest.mark.cuda
def test_cuda_deep_clustering_validates_and_separates():
    model = DeepClustering.tiny().to(CUDA)
    t = train.Trainer(train.preset("deep-clustering", model_config=model.config, batch_size=2, segment=0.1),
                      Toy(4, time=800), Toy(2, time=800, seed=1), model=model, progress=False)
    t.train_step(*next(iter(t._batches())))
    assert t.validate() == t.validate()  # k-means with a CUDA generator: finite, deterministic
    assert model.separate(torch.randn(1, 800, device=CUDA)).device.type == "cuda"


@pytest.mark.cuda
def test_cuda_is_available_and_a_cpu_model_stays_on_the_cpu():
    model = ConvTasNet(**MICRO)
    train.fit(model, Toy(), None, steps=2, progress=False)
    evaluate.evaluate(model, Toy(2, seed=1), with_sdr=False, progress=False)
    assert next(model.parameters()).device.type == "cpu"
    model.to(CUDA)
    train.fit(model, Toy(), None, steps=1, progress=False)
    assert next(model.parameters()).device.type == "cuda"


@pytest.mark.cuda
def test_cuda_depthwise_kernels_agree():
    torch.manual_seed(0)
    x, weight, bias = (t.to(CUDA) for t in (torch.randn(2, 6, 300), torch.randn(6, 1, 3), torch.randn(6)))
    torch.testing.assert_close(_depthwise.depthwise_conv(x, weight, bias, 8, False),
                               _depthwise._DepthwiseConv.apply(x, weight, bias, [-8, 0, 8]))


@pytest.mark.cuda
def test_cuda_torchrun_one_process_nccl_through_a_validation(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        import torch, torch.distributed as dist
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_gpu_path import Toy, config
        from tasnet_edu import train
        t = train.Trainer(config(), Toy(), Toy(4, seed=1), out_dir={str(tmp_path / "run")!r}, progress=False)
        assert dist.get_backend() == "nccl", dist.get_backend()
        assert t.device == torch.device("cuda", 0), t.device
        history = t.run(epochs=1)
        t.close()
        assert not dist.is_initialized()
        print("validation SI-SNRi", history["valid_si_snri"])
    """))
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1",
                           "--master_port", str(free_port()), str(script)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "validation SI-SNRi" in done.stdout and (tmp_path / "run" / "log.csv").is_file()
