"""The steps of ``scripts/gpu_check.sh`` that need Python: throughput, the depthwise kernels, data, training.

    python scripts/gpu_check.py throughput OUT PRESET…   seconds of audio trained per second, per preset
    python scripts/gpu_check.py kernels OUT               F.conv1d vs the shifted sum on this device
    python scripts/gpu_check.py data OUT                  the training data: brought along, or made here
    python scripts/gpu_check.py train OUT PRESET SECONDS  train for SECONDS; checkpoint, curve and log in OUT

Environment: ``DATA`` (a wsj0-2mix-layout folder, or a .tar of one, e.g. ``data/mixed`` from ``make
natural-data``: espeak voices and people), ``NATURAL_CACHE`` (a ``tasnet-edu fetch-speech`` folder: people
are then mixed in here), ``N_TRAIN`` / ``N_VALID`` (mixtures to make when nothing is brought), ``TINY=1``
(CPU rehearsal: smaller everything).
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from tasnet_edu import _depthwise, train, utils
from tasnet_edu.checkpoints import save_checkpoint
from tasnet_edu.data import WSJ0Mix, make_mixtures

TINY = os.environ.get("TINY") == "1"
DEVICE = utils.default_device()


def precision_name(dtype) -> str:
    return {torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast + GradScaler", None: "fp32"}[dtype]


def device_name() -> str:
    if DEVICE.type == "cuda":
        return torch.cuda.get_device_name()
    return f"CPU ({torch.get_num_threads()} threads)"


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


class RandomSegments(torch.utils.data.Dataset):
    """``n`` random two-source items of ``samples`` samples (throughput does not depend on the content)."""

    def __init__(self, n: int, samples: int):
        self.n, self.samples = n, samples

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        sources = torch.randn(2, self.samples, generator=torch.Generator().manual_seed(i)) * 0.1
        return sources.sum(0), sources


def throughput(out: Path, presets: list[str]) -> None:
    """Training throughput (seconds of audio per second) of each preset's model and recipe, on random data."""
    steps, warmup = (4, 1) if TINY else (30, 5)
    rows = []
    for name in presets:
        config = train.preset(name, num_workers=0)
        samples = round(config.segment * config.sample_rate)
        trainer = train.Trainer(config, RandomSegments(config.batch_size * (steps + warmup), samples), None,
                                progress=False)
        if DEVICE.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        trainer.run(steps=warmup)
        sync()
        start, audio = time.perf_counter(), trainer.history["audio_seconds"]
        trainer.run(steps=warmup + steps)
        sync()
        rate = (trainer.history["audio_seconds"] - audio) / (time.perf_counter() - start)
        row = {"preset": name, "device": device_name(), "precision": precision_name(trainer.autocast_dtype),
               "parameters": utils.count_parameters(trainer.model), "batch": config.batch_size,
               "segment_s": config.segment, "audio_s_per_s": round(rate, 1),
               "skipped_steps": trainer.history["skipped_steps"],
               "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)
               if DEVICE.type == "cuda" else None}
        rows.append(row)
        print(json.dumps(row), flush=True)
        del trainer
    (out / "throughput.json").write_text(json.dumps(rows, indent=1) + "\n")


def kernels(out: Path) -> None:
    """Forward + backward time of the TCN's depthwise convolution (paper sizes) by both kernels."""
    H, frames, batch = (64, 2000, 2) if TINY else (512, 4000, 4)
    x = torch.randn(batch, H, frames, device=DEVICE, requires_grad=True)
    weight = torch.randn(H, 1, 3, device=DEVICE, requires_grad=True)
    bias = torch.randn(H, device=DEVICE, requires_grad=True)
    times = {}
    for kernel, devices in (("F.conv1d", set()), ("shifted sum", {DEVICE.type})):
        _depthwise.SHIFTED_SUM_DEVICES = devices
        runs = []
        for _ in range(3 if TINY else 20):  # the first run warms up (cuDNN's choice, the allocator)
            sync()
            start = time.perf_counter()
            for dilation in (1, 2, 4, 8, 16, 32, 64, 128):
                _depthwise.depthwise_conv(x, weight, bias, dilation, False).square().sum().backward()
            sync()
            runs.append(time.perf_counter() - start)
        times[kernel] = min(runs[1:])
    _depthwise.SHIFTED_SUM_DEVICES = {"cpu"}
    faster = min(times, key=times.get)
    row = {"device": device_name(), "shape": [batch, H, frames], "ms_per_8_dilations": {
        k: round(1000 * v, 2) for k, v in times.items()}, "faster": faster}
    print(json.dumps(row), flush=True)
    (out / "depthwise_kernels.json").write_text(json.dumps(row, indent=1) + "\n")


def _make_shard(args) -> str:
    folder, n_train, n_valid, seed, kind, cache = args
    extra = {"speech_kind": kind, "natural_cache": cache} if cache else {}
    return str(make_mixtures(folder, n_train, n_valid, 0, seed, progress=False, **extra))


def data(out: Path) -> list[Path]:
    """Roots of the training data: ``DATA`` when brought along, else shards made in parallel here."""
    if os.environ.get("DATA"):
        brought = Path(os.environ["DATA"])
        if brought.suffix == ".tar":
            brought = utils.archived_folder(brought, lambda: None, out.parent / "gpu_check_data")
        print(f"data brought along: {brought}", flush=True)
        return [brought]
    cache = os.environ.get("NATURAL_CACHE") or ("data/natural-cache" if Path("data/natural-cache").is_dir()
                                                 else None)
    kind = "all" if cache else "espeak"
    if not cache:
        print("NO PEOPLE DATA: no DATA or NATURAL_CACHE was brought and this machine cannot fetch Debian's "
              "recordings; training on espeak voices only, made here", flush=True)
    n_train = int(os.environ.get("N_TRAIN", 24 if TINY else 2400))
    n_valid = int(os.environ.get("N_VALID", 6 if TINY else 120))
    workers = max(1, min(os.cpu_count() or 1, 16 if not TINY else 2))
    shards = [(out.parent / "gpu_check_data" / f"shard{k}", n_train // workers, n_valid if k == 0 else 0,
               1000 + k, kind, cache) for k in range(workers)]
    start = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        roots = [Path(root) for root in pool.map(_make_shard, shards)]
    print(f"made {n_train // workers * workers} training and {n_valid} validation mixtures ({kind}) with "
          f"{workers} processes in {time.perf_counter() - start:.0f} s", flush=True)
    return roots


class Shards(torch.utils.data.ConcatDataset):
    """Training sets of several roots as one, with ``set_epoch`` passed on (new crops every epoch)."""

    def set_epoch(self, epoch: int) -> None:
        for dataset in self.datasets:
            dataset.set_epoch(epoch)


def train_for(out: Path, name: str, seconds: float) -> None:
    """Train ``name`` for ``seconds`` (data included); write the checkpoint, its validation curve, a log."""
    start = time.perf_counter()
    roots = data(out)
    overrides = dict(steps_per_epoch=20, valid_items=6, segment=1.0) if TINY else dict(
        steps_per_epoch=250, valid_items=120)
    config = train.preset(name, num_workers=0 if TINY else min(6, max(0, (os.cpu_count() or 1) - 2)),
                          checkpoint_every=100, **overrides)
    train_set = Shards([WSJ0Mix(root, "tr", segment=config.segment, seed=config.seed) for root in roots])
    valid_set = WSJ0Mix(roots[0], "cv", segment=None)
    run_dir = out / f"run-{name}"
    trainer = train.resume_or_start(config, train_set, valid_set, out_dir=run_dir, progress=False)
    left = seconds - (time.perf_counter() - start)
    print(f"training {name} on {device_name()} in {precision_name(trainer.autocast_dtype)} for {left:.0f} s; "
          f"{len(train_set)} training mixtures", flush=True)
    history = trainer.run(time_budget_s=max(left, 1.0), valid_every=config.steps_per_epoch)
    save_checkpoint(trainer.state(), run_dir / "last.pt")
    with open(out / "validation_curve.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "valid_si_snri_db"])
        writer.writerows(zip(history["valid_step"], history["valid_si_snri"], strict=True))
    summary = {"preset": name, "device": device_name(), "precision": precision_name(trainer.autocast_dtype),
               "steps": trainer.step, "epochs": trainer.epoch, "skipped_steps": history["skipped_steps"],
               "train_seconds": round(history["train_seconds"], 1),
               "audio_s_per_s": round(history["audio_seconds"] / max(history["train_seconds"], 1e-9), 1),
               "valid_si_snri_db": [round(v, 2) for v in history["valid_si_snri"]],
               "checkpoint": str(run_dir / "last.pt")}
    (out / "train_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary), flush=True)


def main(argv: list[str]) -> int:
    command, out = argv[0], Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    if command == "throughput":
        throughput(out, argv[2:])
    elif command == "kernels":
        kernels(out)
    elif command == "data":
        data(out)
    elif command == "train":
        train_for(out, argv[2], float(argv[3]))
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
