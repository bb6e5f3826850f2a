"""Fake corpora for the package tests, in the wsj0-2mix layout.

A plain module, not ``conftest.py``: tests import it by name, and ``tests/e2e`` has a conftest of its own
that would shadow a ``from conftest import ...`` depending on collection order."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from tasnet_edu import train

SR = 8000


def write_wav(path: Path, wav: np.ndarray, rate: int = SR) -> Path:
    """Write ``wav`` (float32, no clipping) to ``path``, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wav, rate, subtype="FLOAT")
    return path


def numbered(n: int, seconds: float) -> list[tuple[str, float]]:
    """``[("0000.wav", seconds), …]``: ``n`` file names of one length."""
    return [(f"{i:04d}.wav", seconds) for i in range(n)]


def write_wsj_split(root, split: str, items, *, mix_folders=("mix",), noise: bool = False,
                    s2_gain: float = 1.0, seed: int = 0) -> Path:
    """A fake wsj0-2mix (or WHAM!) split ``root/split/{s1,s2,<mix folders>[,noise]}``: for each
    ``(file name, seconds)`` in ``items``, two Gaussian sources (std 0.1; s2 scaled by ``s2_gain``) and
    their sum in each mix folder (plus low noise in ``mix_both``). Returns ``root``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for name, seconds in items:
        s = (0.1 * rng.standard_normal((2, int(seconds * SR)))).astype(np.float32)
        s[1] *= s2_gain
        n = (0.01 * rng.standard_normal(s.shape[1])).astype(np.float32)
        for k in range(2):
            write_wav(root / split / f"s{k + 1}" / name, s[k])
        for folder in mix_folders:
            write_wav(root / split / folder / name, s.sum(0) + (n if folder == "mix_both" else 0))
        if noise:
            write_wav(root / split / "noise" / name, n)
    return root


MICRO = dict(N=16, L=8, B=8, H=16, Sc=8, P=3, X=2, R=1)  # a ConvTasNet small enough for unit tests


class Toy(torch.utils.data.Dataset):
    """Random two-source mixtures held in memory: items ``(mix (time,), sources (2, time))``."""

    def __init__(self, n=16, time=400, seed=0):
        self.sources = torch.randn(n, 2, time, generator=torch.Generator().manual_seed(seed))
        self.sources[:, 1] *= 0.5

    def __len__(self):
        return len(self.sources)

    def __getitem__(self, i):
        return self.sources[i].sum(0), self.sources[i]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago: MASTER_PORT for a two-process gloo test."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_torchrun_process(rank: int, world: int, port: int) -> None:
    """Inside a spawned test process: the environment ``torchrun`` would give rank ``rank`` of ``world``
    (a ``Trainer`` then starts the gloo group itself), and one thread, as two processes share the cores."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)


def micro_config(**overrides) -> train.TrainConfig:
    """A training configuration of the ``MICRO`` Conv-TasNet: 3 short epochs on ``Toy`` data."""
    return train.TrainConfig(**{**dict(model_config=MICRO, batch_size=4, max_epochs=3, valid_items=4,
                                       segment=0.05), **overrides})
