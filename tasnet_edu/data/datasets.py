"""Torch datasets for two-speaker separation corpora: wsj0-2mix (and the course's mixtures), WHAM!, LibriMix.

Every dataset yields ``(mix, sources)``: ``mix`` a float tensor ``(time,)``, ``sources`` ``(n_src, time)``,
with ``mix`` equal to the sum of the sources (plus noise for the noisy WHAM!/LibriMix variants).

Layouts (``root`` is the folder that holds the split folders):

- wsj0-2mix and the course's generated data: ``root/{tr,cv,tt}/{mix,s1,s2}/<name>.wav``; for the real corpus
  ``root`` is ``…/2speakers/wav8k/min`` (or ``max``).
- WHAM!: ``root/{tr,cv,tt}/{mix_clean,mix_both,mix_single,s1,s2,noise}/<name>.wav``
  (``root`` = ``…/wham/wav8k/min``); ``mix_both`` is two speakers plus noise, ``mix_clean`` no noise.
- LibriMix: ``root/metadata/mixture_<split>_mix_<clean|both>.csv`` with columns ``mixture_ID, mixture_path,
  source_1_path, source_2_path, [noise_path,] length`` and the files under ``root/<split>/…``, where the
  splits are ``train-360, train-100, dev, test`` (``root`` = ``…/Libri2Mix/wav8k/min``).

Training on segments (``segment`` seconds, the paper uses 4 s): each item is a random crop whose offset is
drawn from ``(seed, epoch, index)``, so an epoch is reproducible and a new epoch gives new crops (the trainer
calls ``set_epoch``). Utterances shorter than a segment are **zero-padded** at the end (none is dropped: with
``min``-mode mixtures dropping would remove the most overlapped pairs). ``segment=None`` yields whole
utterances, as used for validation and testing.

Dynamic mixing (new pairs every epoch from a split's source files) is ``tasnet_edu.data.dynamic``; it finds
who speaks in each file with ``course_speakers`` and ``course_people`` here. This module reads files only: it
imports no speech generator.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from tasnet_edu import SAMPLE_RATE, audio
from tasnet_edu.data import layout
from tasnet_edu.data.layout import SPLIT_ALIASES, SPLIT_DIRS
from tasnet_edu.errors import CourseError

LIBRIMIX_ALIASES = {"tr": "train-360", "train": "train-360", "cv": "dev", "valid": "dev", "tt": "test"}


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """A random stream that depends only on (seed, epoch, index): the same crop whatever the worker order."""
    return np.random.default_rng([seed, epoch, index])


def random_crop(signals: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Random ``length``-sample crop of ``signals`` ``(channels, time)``; zero-padded at the end if short."""
    total = signals.shape[-1]
    if total >= length:
        start = int(rng.integers(0, total - length + 1))
        return signals[:, start:start + length]
    return np.pad(signals, ((0, 0), (0, length - total)))


#: A dataset of at most this many files keeps their samples after the first read: a chapter's training
#: reads the same few hundred files thousands of times (about 0.3 ms each). Larger ones read from disk.
CACHED_FILES = 2000


def _wav_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.wav"))


class _MixtureFiles(Dataset):
    """Shared loading and cropping for datasets described by rows ``(mix_path, [source_paths])``."""

    def __init__(self, rows, n_src: int, sample_rate: int, segment: float | None, seed: int = 0):
        if segment is not None and segment <= 0:
            raise CourseError(f"segment must be positive seconds or None, got {segment}")
        self.rows = rows
        self.n_src = n_src
        self.sample_rate = sample_rate
        self.segment = segment
        self.seed = seed
        self.epoch = 0
        small = len(rows) * (n_src + 1) <= CACHED_FILES
        self._samples: dict[Path, np.ndarray] | None = {} if small else None

    def set_epoch(self, epoch: int) -> None:
        """Choose the crops of ``epoch`` (called by the trainer at the start of each epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.rows)

    def _load(self, path: Path) -> np.ndarray:
        """The samples of one file, read-only; a small dataset reads each file once (``CACHED_FILES``)."""
        if self._samples is not None and path in self._samples:
            return self._samples[path]
        wav = audio.load(path, sample_rate=self.sample_rate)[0]
        wav.flags.writeable = False
        if self._samples is not None:
            self._samples[path] = wav
        return wav

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        mix_path, source_paths = self.rows[index]
        signals = [self._load(mix_path)] + [self._load(p) for p in source_paths]
        length = min(len(s) for s in signals)
        if any(len(s) != length for s in signals):
            lengths = {str(p): len(s) for p, s in zip([mix_path, *source_paths], signals, strict=True)}
            raise CourseError(f"mixture and sources differ in length: {lengths}")
        stacked = np.stack(signals)
        if self.segment is not None:
            length = round(self.segment * self.sample_rate)
            stacked = random_crop(stacked, length, item_rng(self.seed, self.epoch, index))
        stacked = torch.from_numpy(np.ascontiguousarray(stacked))
        return stacked[0], stacked[1:]


def _check_folders(split_dir: Path, folders: list[str], layout: str) -> None:
    missing = [f for f in folders if not (split_dir / f).is_dir()]
    if missing:
        found = sorted(p.name for p in split_dir.iterdir() if p.is_dir()) if split_dir.is_dir() else []
        seen = f"found {found}" if split_dir.is_dir() else f"{split_dir} does not exist"
        raise CourseError(
            f"{split_dir}: expected the {layout} layout with folders {folders} holding .wav files; "
            f"missing {missing} ({seen})"
        )


class WSJ0Mix(_MixtureFiles):
    """wsj0-2mix layout ``root/{tr,cv,tt}/{mix,s1,s2}/*.wav``: the real corpus and the course's mixtures.

    Args:
        root: folder holding ``tr/ cv/ tt/`` (for wsj0-2mix: ``…/2speakers/wav8k/min`` or ``…/max``).
        split: ``"tr"``, ``"cv"`` or ``"tt"`` (aliases ``"train"``, ``"valid"``, ``"test"``).
        n_src: number of speakers (folders ``s1 … s<n_src>``).
        sample_rate: files at another rate are resampled on load (slow: prefer the matching ``wav8k`` folder).
        segment: seconds per training crop (paper: 4.0); ``None`` gives whole utterances.
        seed: seed of the random crops.

    Items: ``(mix (time,), sources (n_src, time))`` float32 tensors. In wsj0-2mix, ``s1`` is the source that
    was mixed at the higher level (the level difference is drawn in 0–5 dB), so ``s1`` is the louder one.

    Example:
        >>> ds = WSJ0Mix(ensure_mixtures(200, 50, 50), "tr", segment=2.0)  # doctest: +SKIP
        >>> mix, sources = ds[0]   # (16000,), (2, 16000)
    """

    layout = "wsj0-2mix"

    def __init__(self, root, split: str, n_src: int = 2, sample_rate: int = SAMPLE_RATE,
                 segment: float | None = 4.0, seed: int = 0):
        self.root = Path(root)
        self.split = SPLIT_ALIASES.get(split, split)
        if self.split not in SPLIT_DIRS.values():
            raise CourseError(f"split must be one of {', '.join(SPLIT_DIRS.values())} "
                              f"(or {', '.join(SPLIT_DIRS)}), got {split!r}")
        super().__init__(self._rows(self.root / self.split, n_src), n_src, sample_rate, segment, seed)

    def _mix_folder(self) -> str:
        return layout.MIX_DIR

    def _rows(self, split_dir: Path, n_src: int):
        mix_dir = self._mix_folder()
        sources = layout.source_dirs(n_src)
        _check_folders(split_dir, [mix_dir, *sources], self.layout)
        names = _wav_names(split_dir / mix_dir)
        if not names:
            raise CourseError(f"{split_dir / mix_dir}: no .wav files (expected one mixture per file)")
        for src in sources:
            missing = sorted(set(names) - set(_wav_names(split_dir / src)))
            if missing:
                raise CourseError(
                    f"{split_dir / src}: {len(missing)} mixture(s) lack a file here, e.g. {missing[0]!r}"
                )
        return [(split_dir / mix_dir / n, [split_dir / s / n for s in sources]) for n in names]


class WHAMMix(WSJ0Mix):
    """WHAM! (wsj0-2mix plus recorded ambient noise): ``root/{tr,cv,tt}/{mix_both,mix_clean,s1,s2,noise}``.

    Args:
        mix_type: ``"both"`` (speakers + noise, the WHAM! separation task) or ``"clean"`` (no noise).
        Other arguments as ``WSJ0Mix``; ``root`` is ``…/wham/wav8k/min``.

    The targets are the clean speakers ``s1 … s<n_src>``; the noise is in the mixture but not a target, so
    ``mix`` is *not* the sum of ``sources`` when ``mix_type="both"``.
    """

    layout = "WHAM!"

    def __init__(self, root, split: str, n_src: int = 2, sample_rate: int = SAMPLE_RATE,
                 segment: float | None = 4.0, seed: int = 0, mix_type: str = "both"):
        if mix_type not in ("both", "clean"):
            raise CourseError(f"mix_type must be 'both' (with noise) or 'clean', got {mix_type!r}")
        self.mix_type = mix_type
        super().__init__(root, split, n_src, sample_rate, segment, seed)

    def _mix_folder(self) -> str:
        return f"mix_{self.mix_type}"


class LibriMix(_MixtureFiles):
    """LibriMix (LibriSpeech speakers, optionally WHAM! noise) read through its metadata csv files.

    Args:
        root: the folder holding ``metadata/`` and the split folders, e.g. ``…/Libri2Mix/wav8k/min``.
        split: ``"train-360"``, ``"train-100"``, ``"dev"`` or ``"test"`` (aliases ``tr``/``train`` →
            ``train-360``, ``cv``/``valid`` → ``dev``, ``tt`` → ``test``).
        mix_type: ``"clean"`` (``mix_clean``) or ``"both"`` (speakers + noise, ``mix_both``).
        n_src, sample_rate, segment, seed: as ``WSJ0Mix``.

    The csv holds absolute paths from the machine that generated the corpus; a path that does not exist is
    looked up under ``root/<split>/<its folder>/<its file name>`` instead, so a moved corpus still loads.
    """

    def __init__(self, root, split: str, n_src: int = 2, sample_rate: int = SAMPLE_RATE,
                 segment: float | None = 4.0, seed: int = 0, mix_type: str = "clean"):
        if mix_type not in ("both", "clean"):
            raise CourseError(f"mix_type must be 'clean' or 'both' (with noise), got {mix_type!r}")
        self.root = Path(root)
        self.split = LIBRIMIX_ALIASES.get(split, split)
        self.mix_type = mix_type
        super().__init__(self._rows(n_src), n_src, sample_rate, segment, seed)

    def _resolve(self, recorded: str) -> Path:
        path = Path(recorded)
        if path.is_file():
            return path
        return self.root / self.split / path.parent.name / path.name

    def _rows(self, n_src: int):
        csv_path = self.root / "metadata" / f"mixture_{self.split}_mix_{self.mix_type}.csv"
        if not csv_path.is_file():
            listed = sorted(p.name for p in (self.root / "metadata").glob("*.csv"))
            raise CourseError(
                f"{csv_path}: not found; LibriMix expects root/metadata/mixture_<split>_mix_<clean|both>.csv "
                f"with root like …/Libri2Mix/wav8k/min" + (f" (found {listed})" if listed else "")
            )
        columns = ["mixture_path"] + [f"source_{k + 1}_path" for k in range(n_src)]
        with open(csv_path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise CourseError(f"{csv_path}: missing column(s) {missing}; found {reader.fieldnames}")
            rows = [(self._resolve(r[columns[0]]), [self._resolve(r[c]) for c in columns[1:]])
                    for r in reader]
        if not rows:
            raise CourseError(f"{csv_path}: no mixtures listed")
        if not rows[0][0].is_file():
            raise CourseError(f"{csv_path}: first mixture {rows[0][0]} does not exist (neither as recorded "
                              f"nor under {self.root / self.split})")
        return rows


# wsj0-2mix names a mixture "<utt1>_<level1>_<utt2>_<level2>.wav", and WSJ0 utterance ids start with a
# three-character speaker id (e.g. 011a010b → speaker 011).
_WSJ_NAME = re.compile(r"^([0-9a-z]{8})_(-?[0-9.]+)_([0-9a-z]{8})_(-?[0-9.]+)\.wav$")


def wsj0_speaker(path: Path, source: int) -> str:
    """Speaker of source ``source`` (0-based) of a wsj0-2mix file name; the file name itself if not one."""
    match = _WSJ_NAME.match(path.name)
    return match.group(1 + 2 * source)[:3] if match and source < 2 else f"{path.parent.name}/{path.name}"


def course_speakers(root) -> Callable[[Path, int], str] | None:
    """Speaker lookup for data made by ``tasnet-edu make-data`` (from its manifest); ``None`` for other data.

    The course's files are numbered (``00000.wav``), so the speaker comes from ``manifest.json``: each
    source's recorded speaker group (``layout.source_group``: an espeak dialect and variant ``en-us+m3``, a
    Pico voice, a person), which the generator never mixes with itself either. A file the manifest does not
    list falls back to ``wsj0_speaker``. A ``manifest.json`` that cannot be parsed: ``CourseError`` naming it.
    """
    manifest = layout.load_manifest(root)
    if manifest is None:
        return None
    groups = {key: layout.source_group(record) for key, record in layout.sources_by_file(manifest).items()}
    return lambda path, k: groups.get((path.parent.parent.name, path.name, k), wsj0_speaker(path, k))


def course_people(root) -> Callable[[Path, int], bool]:
    """``is_person(path, source_index)`` for data made by ``tasnet-edu make-data``: whether that source is a
    recording of a person (``kind`` ``natural`` in ``manifest.json``); always ``False`` without a manifest.
    A ``manifest.json`` that cannot be parsed: ``CourseError`` naming it."""
    manifest = layout.load_manifest(root) or {"splits": {}}
    people = {key for key, record in layout.sources_by_file(manifest).items()
              if layout.source_kind(record) == "natural"}
    return lambda path, k: (path.parent.parent.name, path.name, k) in people


class ShuffledOrder(Dataset):
    """``dataset`` with the order of the sources drawn at random per item and epoch.

    In wsj0-2mix (and the course's mixtures) ``s1`` is always the louder source, so "output the louder
    speaker first" is a rule a network can learn; a loss that compares outputs with references in a fixed
    order then works better than it should. Shuffling removes that cue: the order carries no information,
    which is the situation permutation-invariant training is made for. Items: as ``dataset``.
    """

    def __init__(self, dataset, seed: int = 0):
        self.dataset, self.seed, self.epoch = dataset, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        mix, sources = self.dataset[index]
        order = item_rng(self.seed + 1, self.epoch, index).permutation(sources.shape[0])
        return mix, sources[torch.from_numpy(order)]


#: The corpus layouts the course reads, by the name ``tasnet-edu train/evaluate --dataset`` takes.
CORPORA = {"wsj0-2mix": WSJ0Mix, "wham": WHAMMix, "librimix": LibriMix}


def corpus(kind: str, root, split: str, **kwargs) -> Dataset:
    """The split ``split`` of the corpus under ``root`` laid out as ``kind`` (a name in ``CORPORA``);
    ``kwargs`` as the loader's (``n_src``, ``sample_rate``, ``segment``, …)."""
    if kind not in CORPORA:
        raise CourseError(f"unknown corpus layout {kind!r}; choose one of {', '.join(CORPORA)}")
    return CORPORA[kind](root, split, **kwargs)
