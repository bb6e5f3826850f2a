"""Training with utterance-level PIT on SI-SNR: one plain PyTorch loop, a config dataclass, presets as data.

The recipe is the paper's (Luo & Mesgarani 2019, Sec. IV-B): 4-second segments, Adam with learning rate
1e-3, the learning rate halved when the validation score has not improved for 3 consecutive epochs,
gradient clipping at an L2 norm of 5, and the negative SI-SNR of the best speaker assignment (uPIT) as loss.
Early stopping (``stop_patience``) is the course's addition; the paper simply trains 100 epochs.

Read in this order: ``TrainConfig`` and ``PRESETS`` → ``Trainer.train_step`` (one optimisation step) →
``Trainer.run`` (epochs, validation, learning-rate schedule, checkpoints) → ``fit`` (the notebook helper,
which is the same loop without files). The checkpoint file is ``tasnet_edu.checkpoints``; the ``tasnet-edu
train`` command runs ``run_training``.

One loop for every model: a model with a ``loss(mix, sources)`` method is trained on that loss (deep
clustering's affinity loss lives on its embeddings, not on separated signals: preset ``deep-clustering``);
any other model on the uPIT SI-SNR of its output (``si_snr_loss``).

Mixed precision (``tasnet_edu.utils.autocast_dtype``): on GPUs with bf16 units (A100, L4, H100) the forward
pass runs under bf16 autocast; on GPUs whose tensor cores multiply fp16 but not bf16 (T4, V100) under fp16
autocast with loss scaling (``torch.amp.GradScaler``: a step whose unscaled gradients are not finite is
skipped and the scale lowered, as the scaler does); elsewhere in float32. The SI-SNR loss is always computed
in float32 on float32-cast outputs (``tasnet_edu.metrics`` turns autocast off for it): fp16's largest number
is 65504, so a sum of squares over a 4 s segment would overflow (at 8 kHz, 32000 samples, once the
segment's RMS exceeds √(65504 / 32000) ≈ 1.43), and ŝ − s_target would cancel most of its ≈ 3.3
significant digits at high SI-SNR. Deep clustering's affinity loss is computed in float32 too.

Several GPUs or machines: launch the same command under ``torchrun --nproc_per_node=K -m tasnet_edu.cli
train …``; every process then trains on its share of each epoch (DistributedSampler) and
DistributedDataParallel averages the gradients (NCCL between GPUs, gloo between CPU processes:
``distributed_backend``).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from tasnet_edu import SAMPLE_RATE, metrics
from tasnet_edu.checkpoints import (  # noqa: F401 (model_from_checkpoint: chapter 10 reads it here)
    CHECKPOINT_FORMAT,
    TrainingCheckpoint,
    build_model,
    causal_checkpoint,
    inference_part,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
    versions,
)
from tasnet_edu.data import datasets, dynamic
from tasnet_edu.errors import CourseError
from tasnet_edu.models.conv_tasnet import TINY as TINY_MODEL
from tasnet_edu.utils import (
    PRECISIONS,
    autocast,
    autocast_dtype,
    cudnn_benchmark,
    default_device,
    defer_non_finite,
    grad_scaler,
    module_device,
)

#: fp16 training: this many skipped steps in a row (non-finite gradients even with the loss scale shrunk
#: 2**25-fold) is divergence, not an overflow that a smaller scale cures.
MAX_SKIPPED_IN_A_ROW = 25


@dataclass
class TrainConfig:
    """Everything that decides a training run (saved in every checkpoint).

    Model: ``model_class`` (a name in ``tasnet_edu.models``) built with ``model_config`` (its keyword
    arguments; for ``ConvTasNet`` the paper's symbols N, L, B, H, Sc, P, X, R).
    Data: ``segment`` seconds per training crop, ``batch_size`` crops per step, ``sample_rate``, ``n_src``,
    ``dynamic_mix`` (new training mixtures every epoch) with source levels set on the whole crop's RMS
    (``level="rms"``) or on its active speech (``"active"``, for natural speech with pauses), their difference
    uniform in 0–``max_db`` dB, a ``partial`` share of mixtures in which one talker starts later or stops
    earlier, and people turned into ``pseudo_speakers`` (``data.voices``); ``num_workers`` loader processes.
    ``single``: with dynamic mixing, this share of crops holds one talker alone; the other source is digital
    silence. Plain SI-SNR is undefined for a silent reference, so with ``single > 0`` the loss is
    ``metrics.pit_silence_aware_si_snr``: the silent source's output is scored by how far it stays below the
    mixture (at most 30 dB). At 0 (the default) the loss and the data are exactly as without it.
    ``rooms``: with dynamic mixing, this share of crops has its talkers heard in one synthetic room
    (``dynamic.in_one_room``); the targets are the reverberant voices.
    Optimisation: Adam at ``lr``; ``clip`` the gradient's L2 norm; ``max_epochs``; ``steps_per_epoch``
    (``None``: one pass over the training set); the learning rate halves after ``lr_patience`` epochs without
    a better validation SI-SNRi (``None``: never) and training stops after ``stop_patience`` such epochs
    (``None``: never); ``valid_items`` caps the validation set (``None``: all of it); ``pit=False`` uses the
    fixed-order loss (for the demonstration in chapter 09); ``amp`` allows mixed precision on a GPU (bf16, or
    fp16 with loss scaling where there are no bf16 units: ``utils.autocast_dtype``); ``checkpoint_every``
    also writes ``last.pt`` every that many steps inside an epoch (a Colab session can end at any moment).
    Randomness: ``seed`` draws the data order of every epoch, and the initial weights of a model the trainer
    builds itself (``model_from_config``); the global random state is never reseeded.
    """

    model_class: str = "ConvTasNet"
    model_config: dict = field(default_factory=dict)
    segment: float = 4.0
    batch_size: int = 4
    sample_rate: int = SAMPLE_RATE
    n_src: int = 2
    dynamic_mix: bool = False
    level: str = "rms"
    max_db: float = 5.0  # wsj0-2mix's range; real recordings need wider (one person nearer the microphone)
    partial: float = 0.0  # share of partly overlapped mixtures (real talk has turns and pauses)
    pseudo_speakers: bool = False  # each person's crops get new pitch and formant factors: more voices
    single: float = 0.0  # share of crops of one talker alone: a lone voice must leave one output silent
    rooms: float = 0.0  # share of crops whose two talkers share a reverberant room (meetings, laptops)
    num_workers: int = 0
    lr: float = 1e-3
    clip: float = 5.0
    max_epochs: int = 100
    steps_per_epoch: int | None = None
    lr_patience: int | None = 3
    stop_patience: int | None = 10
    valid_items: int | None = None
    pit: bool = True
    amp: bool = True
    checkpoint_every: int | None = None
    seed: int = 0


#: Named configurations; the comment beside each value says why it is what it is.
#: Two CPU cores cannot train the paper's model, so ``course-small`` shrinks it where accuracy costs least.
COURSE_SMALL = TrainConfig(
    # L = 32 (4 ms): half the paper's frame rate halves every layer's work; N, H halved and R = 2 repeats
    # keep a 2 s receptive field at a third of the parameters.
    model_config=dict(N=256, L=32, B=128, H=256, Sc=128, P=3, X=8, R=2),
    segment=2.0,  # 2 s crops: twice the steps of 4 s crops per CPU hour
    batch_size=4,  # the paper gives no batch size; 4 crops make a step of about 0.6 s on 2 cores
    dynamic_mix=True,  # new pairs every step: a few thousand generated utterances never repeat a mixture
    max_epochs=14, steps_per_epoch=750,  # 7-10 min an epoch on 2 cores: a checkpoint that often
    valid_items=100,  # all of the course data's validation mixtures (make-data --n-valid 100)
    num_workers=0, checkpoint_every=200)
PRESETS: dict[str, TrainConfig] = {
    # A 0.1 M-parameter model that learns something in minutes: for tests and chapter 09.
    "cpu-tiny": TrainConfig(model_config=TINY_MODEL, segment=1.0, batch_size=4, max_epochs=4,
                            steps_per_epoch=100, valid_items=20, num_workers=0),
    # The paper's window (L = 16) with N and H halved and two repeats (1.6 M parameters): a free Colab T4
    # (16 GB, a few hours per session) trains it on the paper's 4 s segments.
    "colab-t4": TrainConfig(model_config=dict(N=256, L=16, B=128, H=256, Sc=128, P=3, X=8, R=2),
                            segment=4.0, batch_size=8, max_epochs=30, steps_per_epoch=1000,
                            valid_items=500, num_workers=2, checkpoint_every=200),
    "course-small": COURSE_SMALL,
    # The same network causal (cLN, left padding only), from random weights; 8 epochs show the gap to the
    # non-causal model. The shipped causal model starts from non-causal weights instead (its model card).
    "course-small-causal": dataclasses.replace(
        COURSE_SMALL, model_config={**COURSE_SMALL.model_config, "causal": True, "norm": "cLN"},
        max_epochs=8),
    # The paper's model and recipe (4 s segments, 100 epochs); we found no batch size in the paper: 4 per
    # process is our choice.
    "paper": TrainConfig(model_config=dict(N=512, L=16, B=128, H=512, Sc=128, P=3, X=8, R=3),
                         segment=4.0, batch_size=4, max_epochs=100, num_workers=4, checkpoint_every=1000),
    # Hershey et al.'s BLSTM (2 × 192 cells, D = 20, bins 20 dB below the loudest left out), trained on its
    # affinity loss; 1 s crops suffice for a recurrent model and let a batch of 16 fit a CPU step.
    "deep-clustering": TrainConfig(
        model_class="DeepClustering", model_config=dict(D=20, hidden=192, layers=2, silence_db=20.0),
        segment=1.0, batch_size=16, dynamic_mix=True, lr=2e-3, max_epochs=20, steps_per_epoch=500,
        valid_items=50, checkpoint_every=100),
}


def preset(name: str, **overrides) -> TrainConfig:
    """A copy of ``PRESETS[name]`` with some fields replaced, e.g. ``preset("paper", batch_size=8)``."""
    if name not in PRESETS:
        raise CourseError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides)


class TrainingDiverged(CourseError):
    """The loss or the model output became NaN/Inf: training stopped before writing anything from it."""


def fixed_order_si_snr_loss(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Negative mean SI-SNR with estimate k scored against reference k (no permutation search)."""
    return -metrics.si_snr(est, ref).mean()


def si_snr_loss(est: torch.Tensor, ref: torch.Tensor, pit: bool = True) -> torch.Tensor:
    """Training loss of estimates ``(batch, n_src, time)`` against references: uPIT or fixed-order SI-SNR."""
    return metrics.pit_si_snr(est, ref)[0] if pit else fixed_order_si_snr_loss(est, ref)


def silence_aware_loss(est: torch.Tensor, ref: torch.Tensor, mix: torch.Tensor,
                       pit: bool = True) -> torch.Tensor:
    """Training loss of estimates ``(batch, n_src, time)`` against references that may be digital silence,
    given the mixtures ``(batch, time)``: the negative mean ``metrics.silence_aware_si_snr``, uPIT or
    fixed-order."""
    if pit:
        return metrics.pit_silence_aware_si_snr(est, ref, mix)[0]
    return -metrics.silence_aware_si_snr(est, ref, mix).mean()


class Objective(torch.nn.Module):
    """A model and its training loss as one module: ``(mix, sources) → scalar loss``.

    The model's own ``loss(mix, sources)`` when it has one (``DeepClustering``: the affinity loss on its
    embeddings); otherwise the uPIT (or, with ``pit=False``, fixed-order) SI-SNR loss of ``model(mix)``,
    computed in float32 even under autocast. ``silence_aware=True`` (``TrainConfig.single > 0``) scores
    silent references too (``metrics.pit_silence_aware_si_snr``, or its fixed-order form with ``pit=False``).
    One module, so that DistributedDataParallel wraps the whole forward pass of a step, whichever loss it is.

    A non-finite output raises nothing here: it makes the loss NaN (``utils.defer_non_finite``), which
    ``Trainer.train_step`` checks once per step on every process at the same point (a process that raised
    here, before the backward pass, would leave the others waiting in the gradient all-reduce).
    """

    def __init__(self, model: torch.nn.Module, pit: bool = True, silence_aware: bool = False):
        super().__init__()
        self.model, self.pit, self.silence_aware = model, pit, silence_aware

    def forward(self, mix: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
        own_loss = getattr(self.model, "loss", None)
        if callable(own_loss):
            return own_loss(mix, sources)
        est, factor = defer_non_finite(self.model(mix).float())
        if self.silence_aware:
            return silence_aware_loss(est, sources, mix, self.pit) * factor
        return si_snr_loss(est, sources, self.pit) * factor


def validation_total(model: torch.nn.Module, valid_set, valid_items: int | None = None, *, device="cpu",
                     dtype: torch.dtype | None = None, rank: int = 0, world: int = 1) -> torch.Tensor:
    """``[sum of SI-SNRi (dB), utterances]`` (float64) of ``model`` (put in eval mode) on the first
    ``valid_items`` whole utterances of ``valid_set`` (all when ``None``), scored one at a time with
    ``metrics.pit_si_snri`` under ``dtype`` autocast; this process's share: every ``world``-th item from
    ``rank``."""
    n = len(valid_set) if valid_items is None else min(len(valid_set), valid_items)
    model.eval()
    total = torch.zeros(2, dtype=torch.float64)
    for i in range(rank, n, world):
        mix, sources = (x[None].to(device) for x in valid_set[i])
        with autocast(device, dtype), torch.no_grad():
            score = metrics.pit_si_snri(model(mix), sources, mix)[0].mean(-1)
        total += torch.tensor([float(score.sum()), 1.0], dtype=torch.float64)
    return total


def _collate(items):
    lengths = {mix.shape[-1] for mix, _ in items}
    if len(lengths) > 1:
        raise CourseError(f"a training batch needs items of equal length, got lengths {sorted(lengths)}; "
                          "give the training set a segment length (e.g. segment=4.0)")
    return torch.stack([m for m, _ in items]), torch.stack([s for _, s in items])


def distributed_backend(device) -> str:
    """The process-group backend for training on ``device``: NCCL between CUDA GPUs, gloo between CPUs."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def collective_device(device) -> torch.device:
    """Where a tensor must be for a collective of the process group that ``distributed_backend(device)``
    chose: NCCL reduces CUDA tensors only ("No backend type associated with device type cpu"), gloo CPU
    tensors."""
    device = torch.device(device)
    return device if distributed_backend(device) == "nccl" else torch.device("cpu")


def launched_by_torchrun() -> bool:
    """True when the environment describes a process group (``torchrun`` sets RANK and WORLD_SIZE), even
    one of a single process (``torchrun --nproc_per_node 1``)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def start_distributed(device=None) -> tuple[int, int, torch.device, bool]:
    """``(rank, world size, device, started)`` of this process.

    Under ``torchrun`` (``launched_by_torchrun``) the device is GPU ``LOCAL_RANK`` when CUDA is available
    (or the CUDA ``device`` given without an index) and made this process's current GPU *before* the
    process group starts, so that NCCL does not put every process's communicator on GPU 0; the group is then
    started with ``distributed_backend(device)``. ``started``: this call started it (``Trainer.close``
    destroys only a group it started). Outside ``torchrun``: ``(0, 1, device, False)``.
    """
    if not launched_by_torchrun() and not dist.is_initialized():
        return 0, 1, torch.device(device) if device is not None else default_device(), False
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    started = False
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(distributed_backend(device))
        started = True
    return dist.get_rank(), dist.get_world_size(), device, started


class Trainer:
    """The training loop. Build one from a ``TrainConfig`` and datasets, then call ``run()``.

    Args:
        config: the run's ``TrainConfig`` (see ``PRESETS``).
        train_set: dataset of ``(mix (time,), sources (n_src, time))`` items of equal length (segments).
        valid_set: dataset of whole utterances (any lengths; scored one at a time), or ``None``.
        model: a module ``(batch, time) → (batch, n_src, time)``; default: built from the config.
        out_dir: folder for ``last.pt``, ``best.pt`` and ``log.csv``; ``None`` writes nothing.
        device: where to train. Default: where ``model`` is when one is given (a model on the CPU stays
            there), else CUDA when available; under ``torchrun``, GPU ``LOCAL_RANK``.
        progress: show a tqdm bar.
        valid_name: the validation set's name, recorded with each epoch (scores on two sets do not compare).
        keep_epochs: also write each epoch's weights to ``out_dir/epochs/epoch-NNN.pt`` (no optimizer state;
            ``tasnet_edu.averaging`` averages them).
        precision: ``"bf16"``, ``"fp16"`` or ``"fp32"`` to override ``utils.autocast_dtype``'s choice
            (``None``: that choice, which ``config.amp=False`` makes fp32).

    State that makes a resumed run continue exactly: model and optimizer state, the plateau scheduler,
    ``epoch`` and ``step_in_epoch`` (the data order of an epoch is drawn from ``(seed, epoch)``, so the
    remaining batches of an interrupted epoch are known), the best score and the history.
    """

    def __init__(self, config: TrainConfig, train_set, valid_set=None, *, model=None, out_dir=None,
                 device=None, progress: bool = True, valid_name: str | None = None,
                 keep_epochs: bool = False, precision: str | None = None):
        self.config = config = dataclasses.replace(config)  # a copy: never change a preset in place
        if precision is not None and precision not in PRECISIONS:
            raise CourseError(f"precision must be one of {sorted(PRECISIONS)} or None, got {precision!r}")
        if device is None and model is not None and not launched_by_torchrun():
            device = module_device(model, default_device())
        self.rank, self.world, self.device, self._started_group = start_distributed(device)
        if model is None:
            model = model_from_config(config)
        else:
            config.model_class = type(model).__name__
            config.model_config = dict(getattr(model, "config", config.model_config))
        self.model = model.to(self.device)
        objective = Objective(self.model, config.pit, silence_aware=config.single > 0)
        self.distributed = dist.is_initialized()
        self.objective = DistributedDataParallel(objective) if self.distributed else objective
        self.train_set, self.valid_set, self.valid_name = train_set, valid_set, valid_name
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.keep_epochs = keep_epochs
        self.progress = progress and self.rank == 0
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        # PyTorch's patience counts the bad epochs it *tolerates*: halving after the 3rd needs patience=2.
        # With lr_patience=None the scheduler is kept (its state is in every checkpoint) but never stepped.
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="max", factor=0.5, patience=(config.lr_patience or 1) - 1,
            threshold=0.0, threshold_mode="abs")
        self.autocast_dtype = (autocast_dtype(self.device, config.amp) if precision is None
                               else PRECISIONS[precision])
        self.scaler = grad_scaler(self.device, self.autocast_dtype)  # enabled for fp16 only
        self.skipped_in_a_row = 0
        self.epoch, self.step_in_epoch, self.step = 0, 0, 0
        self.best, self.bad_epochs = -math.inf, 0
        self.history = {"step": [], "loss": [], "valid_step": [], "valid_si_snri": [], "epochs": [],
                        "train_seconds": 0.0, "audio_seconds": 0.0, "skipped_steps": 0}

    # ---- data -------------------------------------------------------------------------------------------
    def steps_in_epoch(self) -> int:
        per_epoch = len(self.train_set) // (self.config.batch_size * self.world)
        if per_epoch == 0:
            raise CourseError(f"the training set has {len(self.train_set)} items, fewer than one batch of "
                              f"{self.config.batch_size} per process; lower batch_size or add data")
        return min(per_epoch, self.config.steps_per_epoch or per_epoch)

    def _batches(self):
        """This process's remaining batches of the current epoch, in an order drawn from (seed, epoch)."""
        sampler = DistributedSampler(self.train_set, num_replicas=self.world, rank=self.rank, shuffle=True,
                                     seed=self.config.seed, drop_last=True)
        sampler.set_epoch(self.epoch)
        if hasattr(self.train_set, "set_epoch"):  # new random crops / dynamic mixtures every epoch
            self.train_set.set_epoch(self.epoch)
        bs = self.config.batch_size
        indices = list(sampler)[self.step_in_epoch * bs: self.steps_in_epoch() * bs]
        # The loader's own generator: its worker seeds come from (seed, epoch), not from torch's global state.
        workers = torch.Generator().manual_seed(self.config.seed * 100_003 + self.epoch)
        return DataLoader(self.train_set, batch_size=bs, sampler=indices, collate_fn=_collate,
                          num_workers=self.config.num_workers, pin_memory=self.device.type == "cuda",
                          generator=workers)

    # ---- one step -------------------------------------------------------------------------------------
    def train_step(self, mix: torch.Tensor, sources: torch.Tensor) -> float:
        """One optimisation step on a batch ``mix (batch, time)``, ``sources (batch, n_src, time)``; returns
        the loss (NaN for an fp16 step skipped by the loss scaler).

        The step reads one pair of numbers back from the GPU, the loss (for the log) and whether the loss
        and gradients are finite (for every process alike); everything else stays queued on the GPU.
        """
        self.objective.train()
        mix = mix.to(self.device, non_blocking=True)
        sources = sources.to(self.device, non_blocking=True)
        with cudnn_benchmark(True):  # fixed crop length: the fastest convolution algorithm is worth finding
            with autocast(self.device, self.autocast_dtype):
                loss = self.objective(mix, sources)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)  # no-op unless fp16: the clip and the check see true gradients
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
        loss = loss.detach().float()
        bad = torch.stack([~torch.isfinite(loss), ~torch.isfinite(grad_norm)]).float()
        if self.distributed:  # one process's NaN stops (or skips) the step on all of them
            bad = bad.to(collective_device(self.device))
            dist.all_reduce(bad)
        loss_value, bad_loss, bad_grad = torch.cat([loss[None], bad.to(loss.device)]).tolist()
        if self.scaler.is_enabled():
            if bad_loss and not bad_grad:  # an output overflow whose gradients were cut off: skip it as well
                self.scaler.update(self.scaler.get_scale() * self.scaler.get_backoff_factor())
            else:
                self.scaler.step(self.optimizer)  # skipped when the unscaled gradients are not finite
                self.scaler.update()
            skipped = bool(bad_loss or bad_grad)
            self.skipped_in_a_row = self.skipped_in_a_row + 1 if skipped else 0
            self.history["skipped_steps"] += int(skipped)
            if self.skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW:
                self._diverged(f"the gradients of {MAX_SKIPPED_IN_A_ROW} fp16 steps in a row")
        elif bad_loss or bad_grad:
            self._diverged("the loss" if bad_loss else "the gradient norm")
        else:
            self.optimizer.step()
        self.step += 1
        self.step_in_epoch += 1
        seconds = mix.numel() / self.config.sample_rate
        self.history["audio_seconds"] += seconds * self.world
        return loss_value if not (bad_loss or bad_grad) else math.nan

    def _diverged(self, what: str):
        last = self.out_dir / "last.pt" if self.out_dir and (self.out_dir / "last.pt").exists() else None
        raise TrainingDiverged(
            f"training stopped at step {self.step + 1} (epoch {self.epoch + 1}): {what} became NaN/Inf, "
            f"so no checkpoint was written from it; last good checkpoint: {last or 'none'}. Lower lr, keep "
            "clip on, and check the data for silent or broken files")

    # ---- validation -------------------------------------------------------------------------------------
    def validate(self) -> float:
        """Mean SI-SNRi (dB) over the validation set (at most ``valid_items`` utterances), all processes."""
        with cudnn_benchmark(False):  # every utterance has its own length: no per-shape search
            total = validation_total(self.model, self.valid_set, self.config.valid_items, device=self.device,
                                     dtype=self.autocast_dtype, rank=self.rank, world=self.world)
        if self.distributed:
            total = total.to(collective_device(self.device))
            dist.all_reduce(total)
        return float(total[0] / total[1])

    def _record_validation(self) -> float:
        score = self.validate()
        self.history["valid_step"].append(self.step)
        self.history["valid_si_snri"].append(score)
        return score

    # ---- epochs -----------------------------------------------------------------------------------------
    def run(self, *, epochs: int | None = None, steps: int | None = None, time_budget_s: float | None = None,
            valid_every: int | None = None) -> dict:
        """Train until ``epochs`` epochs (default ``config.max_epochs``) or ``steps`` steps in all, a
        wall-clock budget (``time_budget_s``; not reproducible, prefer ``steps``) or early stopping.
        Returns the history.

        At the end of each epoch: validation, learning-rate plateau rule, early stopping, ``log.csv`` and
        checkpoints (``last.pt`` always, ``best.pt`` when the validation SI-SNRi improved). ``valid_every``
        also validates every that many steps (for a learning curve; the schedule only sees epoch ends).
        """
        epochs = epochs or (None if steps else self.config.max_epochs)
        start = time.perf_counter()
        bar = tqdm(total=steps or (epochs * self.steps_in_epoch()), initial=self.step, desc="training",
                   unit="step", disable=not self.progress)
        done = steps is not None and self.step >= steps
        while not done and (epochs is None or self.epoch < epochs):
            losses = []
            for mix, sources in self._batches():
                t0 = time.perf_counter()
                losses.append(self.train_step(mix, sources))
                self.history["train_seconds"] += time.perf_counter() - t0
                self.history["step"].append(self.step)
                self.history["loss"].append(losses[-1])
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.2f}", epoch=self.epoch + 1)
                if valid_every and self.valid_set is not None and self.step % valid_every == 0:
                    self._record_validation()
                if self.config.checkpoint_every and self.step % self.config.checkpoint_every == 0:
                    self._save("last.pt")
                out_of_time = time_budget_s is not None and time.perf_counter() - start > time_budget_s
                if (steps is not None and self.step >= steps) or out_of_time:
                    done = True
                    break
            if self.step_in_epoch >= self.steps_in_epoch():
                done = self._end_epoch(losses) or done
        bar.close()
        if valid_every and self.valid_set is not None and self.history["valid_step"][-1:] != [self.step]:
            self._record_validation()
        return self.history

    def _end_epoch(self, losses: list[float]) -> bool:
        """Validate, schedule, log and checkpoint after a full epoch; True when early stopping says stop."""
        losses = [loss for loss in losses if math.isfinite(loss)]  # fp16: the scaler's skipped steps
        if self.valid_set is None:
            score = -sum(losses) / max(len(losses), 1)
        elif self.history["valid_step"][-1:] == [self.step]:  # just validated (valid_every)
            score = self.history["valid_si_snri"][-1]
        else:
            score = self._record_validation()
        improved = score > self.best
        self.best, self.bad_epochs = (score, 0) if improved else (self.best, self.bad_epochs + 1)
        if self.config.lr_patience is not None:
            self.scheduler.step(score)
        record = {"epoch": self.epoch + 1, "step": self.step,
                  "train_loss": sum(losses) / max(len(losses), 1),
                  "valid_si_snri": score if self.valid_set is not None else float("nan"),
                  "lr": self.optimizer.param_groups[0]["lr"], "train_seconds": self.history["train_seconds"]}
        if self.valid_name is not None:
            record["valid_data"] = self.valid_name
        self.history["epochs"].append(record)
        self.epoch, self.step_in_epoch = self.epoch + 1, 0
        self._log(record)
        self._save("last.pt")
        if improved:
            self._save("best.pt")
        if self.keep_epochs:
            self._save(f"epochs/epoch-{self.epoch:03d}.pt", resumable=False)
        patience = self.config.stop_patience
        return patience is not None and self.bad_epochs >= patience

    def _log(self, record: dict) -> None:
        if self.out_dir is None or self.rank != 0:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / "log.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(record))
            if new:
                writer.writeheader()
            writer.writerow(record)

    # ---- checkpoints ------------------------------------------------------------------------------------
    def state(self) -> TrainingCheckpoint:
        """Everything a training checkpoint holds (``checkpoints.TrainingCheckpoint``: plain types and tensors
        only, so ``weights_only`` loading works)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "config": dataclasses.asdict(self.config),
            "state_dict": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch,
            "metrics": {"best_valid_si_snri": self.best, "bad_epochs": self.bad_epochs,
                        "epochs": self.history["epochs"]},
            "progress": {"step": self.step, "step_in_epoch": self.step_in_epoch,
                         "history": {k: v for k, v in self.history.items() if k != "epochs"},
                         "grad_scaler": self.scaler.state_dict(), "skipped_in_a_row": self.skipped_in_a_row},
            "versions": versions(),
        }

    def _save(self, name: str, resumable: bool = True) -> None:
        """Write ``state()`` to ``out_dir/name``; ``resumable=False`` leaves out what only resuming needs."""
        if self.out_dir is not None and self.rank == 0:
            state = self.state()
            save_checkpoint(state if resumable else inference_part(state), self.out_dir / name)

    def load_state(self, checkpoint: dict) -> None:
        """Continue from ``checkpoint`` (as returned by ``load_checkpoint``): ``warm_start``, then the
        optimizer, the schedule and the position inside the epoch, so the run goes on exactly."""
        self.warm_start(checkpoint)
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        progress = checkpoint["progress"]
        self.step, self.step_in_epoch = progress["step"], progress["step_in_epoch"]
        epochs = list(checkpoint["metrics"]["epochs"])
        self.history = {"skipped_steps": 0, **progress["history"], "epochs": epochs}
        if self.scaler.is_enabled() and progress.get("grad_scaler"):  # an fp16 run goes on at its loss scale
            self.scaler.load_state_dict(progress["grad_scaler"])
            self.skipped_in_a_row = progress.get("skipped_in_a_row", 0)

    def warm_start(self, checkpoint: dict, lr: float | None = None) -> None:
        """Go on from ``checkpoint``'s weights, epoch count, learning rate (or ``lr``: a warm restart) and
        validation curve, with Adam's moments and the plateau counter of the schedule started afresh.

        For a checkpoint without optimizer state, such as a shipped model (``pretrained.export`` drops it).
        Not an exact resume: Adam re-estimates its moments over the first steps. When this trainer validates
        on another set than the checkpoint's last epoch did (``valid_name``), the best score starts afresh:
        scores on two validation sets are not comparable.
        """
        self.model.load_state_dict(checkpoint["state_dict"])
        epochs = list(checkpoint["metrics"]["epochs"])
        self.epoch = checkpoint["epoch"]
        self.best = checkpoint["metrics"]["best_valid_si_snri"]
        self.bad_epochs = checkpoint["metrics"]["bad_epochs"]
        if (epochs[-1].get("valid_data") if epochs else None) != self.valid_name:
            self.best, self.bad_epochs = -math.inf, 0
        self.history["epochs"] = epochs
        if epochs:  # a converted checkpoint may not know its training time (NaN): count from 0
            seconds = epochs[-1]["train_seconds"]
            self.step = epochs[-1]["step"]
            self.history["train_seconds"] = seconds if math.isfinite(seconds) else 0.0
        for group in self.optimizer.param_groups:
            group["lr"] = lr or (epochs[-1]["lr"] if epochs else group["lr"])

    @classmethod
    def resume(cls, path, train_set, valid_set=None, **kwargs) -> Trainer:
        """A trainer that continues the run saved at ``path``, same config (kwargs as ``__init__``)."""
        checkpoint = load_checkpoint(path)
        trainer = cls(TrainConfig(**checkpoint["config"]), train_set, valid_set, **kwargs)
        trainer.load_state(checkpoint)
        return trainer

    def close(self) -> None:
        """Destroy the process group if this trainer started it (``torchrun``); nothing otherwise.

        The DistributedDataParallel wrapper holds the group too, so it goes first: the group is then freed
        here, while the other processes still run, and not at interpreter exit.
        """
        if self._started_group and dist.is_initialized():
            if isinstance(self.objective, DistributedDataParallel):
                self.objective = self.objective.module
            dist.destroy_process_group()
        self._started_group = False


def resume_or_start(config: TrainConfig, train_set, valid_set=None, *, out_dir, **kwargs) -> Trainer:
    """The trainer of a notebook cell that is simply run again after a disconnect.

    When ``out_dir/last.pt`` exists the run saved there goes on (``Trainer.resume``, with its own config;
    ``config`` is then not used); otherwise a new run starts with ``config``. A folder that holds ``log.csv``
    or ``best.pt`` but no ``last.pt`` is refused (``CourseError``) rather than mixing two runs in its files.
    Keyword arguments as ``Trainer``.
    """
    out_dir = Path(out_dir)
    if (out_dir / "last.pt").is_file():
        return Trainer.resume(out_dir / "last.pt", train_set, valid_set, out_dir=out_dir, **kwargs)
    leftovers = [name for name in ("log.csv", "best.pt") if (out_dir / name).exists()]
    if leftovers:
        raise CourseError(f"{out_dir} holds {', '.join(leftovers)} but no last.pt, so that run cannot go on; "
                          "delete those files or pick another folder for the new run")
    return Trainer(config, train_set, valid_set, out_dir=out_dir, **kwargs)


def model_from_config(config: TrainConfig) -> torch.nn.Module:
    """A freshly initialised model named by ``config.model_class`` with ``config.model_config``.

    Its initial weights are drawn from ``config.seed`` on a private copy of torch's random state: the same
    config gives the same model, and the caller's random state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return build_model(config.model_class, config.model_config, config.n_src, config.sample_rate)


def fit(model, train_set, valid_set=None, *, steps: int | None = None, epochs: int | None = None,
        time_budget_s: float | None = None, batch_size: int = 4, lr: float = 1e-3, pit: bool = True,
        clip: float = 5.0, seed: int = 0, device=None, log_every: int | None = None, valid_items=None,
        progress: bool = True) -> dict:
    """Train ``model`` in a notebook: the ``Trainer`` loop with a fixed number of steps and no files.

    Args:
        model: ``(batch, time) → (batch, n_src, time)``, trained in place.
        train_set: items ``(mix (time,), sources (n_src, time))`` of equal length.
        valid_set: whole utterances for the validation SI-SNRi curve, or ``None``.
        steps / epochs: how long (give one; ``steps`` is the reproducible choice for notebooks).
        time_budget_s: optional wall-clock cap (stops early on a slow machine; the numbers then vary). Given
            alone, training ends at the budget or after ``TrainConfig.max_epochs`` epochs.
        batch_size, lr, clip: as in ``TrainConfig``; ``pit=False`` trains with the fixed-order loss.
        seed: the data order (which training items form each batch). It is all that ``fit`` draws at random:
            the model arrives initialised, so seed its construction yourself (``utils.seed_everything``).
            Python's, NumPy's and torch's global random states are not reseeded.
        log_every: validate every that many steps (default: 10 points along the run).
        valid_items: at most this many validation utterances.
        device: where to train; default: where ``model`` already is (it is not moved behind your back).

    Returns:
        history dict: ``step``/``loss`` (every step, loss = −SI-SNR in dB), ``valid_step``/``valid_si_snri``,
        ``train_seconds`` (time in training steps), ``audio_seconds`` (seconds of mixture seen) and
        ``audio_per_second`` (their ratio: training throughput).

    Example:
        >>> history = fit(ConvTasNet.tiny(), train, valid, steps=300)  # doctest: +SKIP
        >>> plt.plot(history["step"], history["loss"])                  # doctest: +SKIP
    """
    if steps is None and epochs is None and time_budget_s is None:
        raise CourseError("fit needs steps=…, epochs=… or time_budget_s=… to know when to stop")
    config = TrainConfig(batch_size=batch_size, lr=lr, pit=pit, clip=clip, seed=seed, valid_items=valid_items,
                         stop_patience=None)
    trainer = Trainer(config, train_set, valid_set, model=model, device=device, progress=progress)
    if log_every is None:
        planned = steps or (epochs or 1) * trainer.steps_in_epoch()
        log_every = max(1, planned // 10)
    history = trainer.run(epochs=epochs, steps=steps, time_budget_s=time_budget_s, valid_every=log_every)
    history["audio_per_second"] = history["audio_seconds"] / max(history["train_seconds"], 1e-9)
    model.eval()
    return history


# ---- whole runs: what `tasnet-edu train` does --------------------------------------------------------------
DATASETS = tuple(datasets.CORPORA)


def make_datasets(kind: str, root, config: TrainConfig, split_train="tr", split_valid="cv", valid_root=None):
    """(train, valid) datasets of a corpus ``kind`` in ``DATASETS`` under ``root`` for ``config``.

    ``valid_root``: take the validation split from this dataset instead (e.g. held-out real speakers).
    """
    common = dict(n_src=config.n_src, sample_rate=config.sample_rate)
    if config.dynamic_mix:
        if kind != "wsj0-2mix":
            raise CourseError("dynamic mixing reads the wsj0-2mix layout (s1/ s2/ folders): "
                              "use --dataset wsj0-2mix")
        train = dynamic.DynamicMix(root, split_train, segment=config.segment, seed=config.seed,
                                   level=config.level, max_db=config.max_db, partial=config.partial,
                                   pseudo_speakers=config.pseudo_speakers, single=config.single,
                                   rooms=config.rooms, **common)
    else:
        train = datasets.corpus(kind, root, split_train, segment=config.segment, seed=config.seed, **common)
    valid = datasets.corpus(kind, valid_root or root, split_valid, segment=None, **common)
    return train, valid


def run_training(out_dir, data, *, preset_name: str = "cpu-tiny", overrides: dict | None = None,
                 dataset: str = "wsj0-2mix", valid_data=None, resume: bool = False, init=None,
                 causal: bool = False, **kwargs) -> Trainer:
    """Train the run in ``out_dir`` on the corpus under ``data`` (what ``tasnet-edu train`` does); returns its
    trainer once the run has ended.

    The run starts in one of three ways. A new run: preset ``preset_name``, and ``out_dir`` must not hold a
    ``last.pt`` yet. ``resume``: ``out_dir/last.pt`` goes on exactly, at its own learning rate. ``init``: the
    weights and configuration of that checkpoint, with a fresh optimizer (``Trainer.warm_start``);
    ``causal`` first makes it causal (``checkpoints.causal_checkpoint``).

    Args:
        overrides: ``TrainConfig`` fields replaced in the preset's or the checkpoint's configuration, e.g.
            ``{"max_epochs": 20}``; with ``init``, ``lr`` restarts at that rate.
        dataset: the layout of ``data``, one of ``DATASETS``.
        valid_data: validate on this root's ``cv/`` instead of ``data``'s (e.g. held-out real speakers).
        kwargs: as ``Trainer`` (``device``, ``progress``, ``keep_epochs``).

    Raises:
        CourseError: ``resume`` with ``init`` or with a new ``lr``, a new run over an existing one, ``causal``
            without ``init``, or any error of the checkpoint or the data.
    """
    out_dir = Path(out_dir)
    overrides = overrides or {}
    lr = overrides.get("lr")
    if resume and init:
        raise CourseError("--resume continues OUT/last.pt, --init starts from another checkpoint: pass one")
    if resume and lr:
        raise CourseError("--resume continues OUT/last.pt exactly, at its own learning rate; to restart at "
                          "--lr, start a new run from it: --init OUT/last.pt --out NEW")
    if not resume and (out_dir / "last.pt").exists():
        raise CourseError(f"{out_dir / 'last.pt'} exists: pass --resume to continue it, or another --out")
    if causal and not init:
        raise CourseError("--causal makes a causal model from a non-causal checkpoint: pass it with --init")
    checkpoint = load_checkpoint(out_dir / "last.pt" if resume else init) if resume or init else None
    if checkpoint is None:
        config = preset(preset_name, **overrides)
    else:
        checkpoint = causal_checkpoint(checkpoint) if causal else checkpoint
        config = dataclasses.replace(TrainConfig(**checkpoint["config"]), **overrides)
    valid_name = None if valid_data is None else str(valid_data)
    trainer = Trainer(config, *make_datasets(dataset, data, config, valid_root=valid_data), out_dir=out_dir,
                      valid_name=valid_name, **kwargs)
    if resume:
        trainer.load_state(checkpoint)
    elif init:
        trainer.warm_start(checkpoint, lr=lr)
    try:
        trainer.run()
    finally:
        trainer.close()
    return trainer
