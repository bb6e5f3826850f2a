"""Dynamic mixing: new two-speaker mixtures every epoch from the single-speaker source files of a split.

``DynamicMix`` reads a dataset in the wsj0-2mix layout (the course's or the real corpus) through
``datasets.WSJ0Mix`` and pairs its source files anew for every item and epoch, with the wsj0-2mix level rule
(relative level uniform in 0–5 dB) by default; wider levels (``max_db``), a share of partly overlapped
mixtures (``partial``), pseudo-speakers (``pseudo_speakers``, which change a person's voice with
``voices``), a share of one talker alone (``single``) and a share of talkers heard in one room (``rooms``)
are options. Who speaks in each file comes from the dataset's manifest (``datasets.course_speakers``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.signal
import torch
from torch.utils.data import Dataset

from tasnet_edu import SAMPLE_RATE, audio
from tasnet_edu.data import datasets, voices
from tasnet_edu.data.layout import MIN_OVERLAP_S
from tasnet_edu.data.mixtures import synthetic_rir
from tasnet_edu.errors import CourseError

ROOM_RT60_S = (0.2, 0.8)  # one reverberation time per room: a furnished office to a bare meeting room
ROOM_DRR_DB = (-3.0, 9.0)  # each talker's direct-to-reverberant ratio: across a table to near the microphone


def shift_partly(source: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """``source`` ``(time,)`` moved by a random lag with silence filled in, so that its talker starts later or
    stops earlier and still overlaps the other for ``MIN_OVERLAP_S`` (or a quarter of the crop)."""
    n = len(source)
    most = n - min(round(MIN_OVERLAP_S * sample_rate), n // 4)
    lag = int(rng.integers(-most, most + 1))
    out = np.zeros_like(source)
    if lag >= 0:
        out[lag:] = source[:n - lag]
    else:
        out[:lag] = source[-lag:]
    return out


def in_one_room(sources: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """``sources`` ``(n_src, time)`` as one microphone in one room hears them: one reverberation time for
    the room (``ROOM_RT60_S``), and for each talker an impulse response of their own with their own
    direct-to-reverberant ratio (``ROOM_DRR_DB``; ``mixtures.synthetic_rir``). Each keeps its length."""
    rt60 = rng.uniform(*ROOM_RT60_S)
    heard = np.empty_like(sources)
    for k, source in enumerate(sources):
        tail = 10 ** (-rng.uniform(*ROOM_DRR_DB) / 20)
        heard[k] = scipy.signal.fftconvolve(source, synthetic_rir(rt60, sample_rate, rng, tail))[:len(source)]
    return heard


class DynamicMix(Dataset):
    """Dynamic mixing: new mixtures every epoch from the single-speaker source files of a split.

    The pool is every file in ``root/<split>/s1 … s<n_src>`` (wsj0-2mix layout). Item ``index`` of epoch ``e``
    draws, from ``(seed, e, index)``: ``n_src`` utterances of distinct speakers, a crop of ``segment`` seconds
    of each (zero-padded when short), and levels. Each crop is scaled to unit RMS, then — the wsj0-2mix rule —
    the two sources are set apart by a level difference uniform in 0–5 dB, ``s1`` the louder. With more than
    two sources each gets an independent level uniform in ±2.5 dB (the course's choice).

    Args:
        root, split, n_src, sample_rate, segment, seed: as ``WSJ0Mix`` (``segment`` must be a number).
        epoch_size: mixtures per epoch (default: as many as the split has).
        level: ``"rms"`` scales each crop to unit RMS; ``"active"`` to unit RMS of its active speech
            (``audio.active_rms``), for natural speech whose pauses would otherwise make it louder.
        speaker_of: ``speaker_of(path, source_index) -> str``; the default reads the course manifest
            (``course_speakers``) when there is one, else wsj0-2mix file names, else treats every file as its
            own speaker.
        keep: ``keep(path, source_index) -> bool``: only the files it accepts join the pool (default: all),
            e.g. the espeak voices of a mixed set, to measure what the rest was worth.
        max_db: the two sources' relative level is uniform in 0–``max_db`` dB (wsj0-2mix: 5).
        partial: the share of items whose second source is shifted by a random lag (``shift_partly``):
            one talker starts later or stops earlier, the other talks alone meanwhile (0: none).
        pseudo_speakers: each crop of a person (``is_person``) gets its own formant and pitch factors
            (``voices.draw``, ``voices.transform``) before it is levelled; espeak voices stay as they are.
        is_person: ``is_person(path, source_index) -> bool``; default ``course_people(root)``.
        single: the share of items whose last source is digital silence (zeros): the first talker alone
            (with two sources), so that the model learns to keep one output silent (0: none). The source
            is silenced after levelling, so no level is computed on silence.
        rooms: the share of items whose talkers are heard in one room (``in_one_room``) before they are
            levelled: the targets are the reverberant voices, as the microphone heard them (0: none).

    The options draw from random streams of their own: left at their defaults, the items are the ones made
    without them.

    Items: ``(mix (time,), sources (n_src, time))`` with ``mix == sources.sum(0)``.
    """

    def __init__(self, root, split: str = "tr", n_src: int = 2, sample_rate: int = SAMPLE_RATE,
                 segment: float = 4.0, seed: int = 0, epoch_size: int | None = None,
                 speaker_of: Callable[[Path, int], str] | None = None, level: str = "rms",
                 keep: Callable[[Path, int], bool] | None = None, max_db: float = 5.0, partial: float = 0.0,
                 pseudo_speakers: bool = False, is_person: Callable[[Path, int], bool] | None = None,
                 single: float = 0.0, rooms: float = 0.0):
        if segment is None or segment <= 0:
            raise CourseError("DynamicMix needs a segment length in seconds (mixtures are built from crops)")
        files = datasets.WSJ0Mix(root, split, n_src=n_src, sample_rate=sample_rate, segment=None).rows
        speaker_of = speaker_of or datasets.course_speakers(root) or datasets.wsj0_speaker
        self.pool = [(p, speaker_of(p, k)) for _, sources in files for k, p in enumerate(sources)
                     if keep is None or keep(p, k)]
        if len({spk for _, spk in self.pool}) < n_src:
            raise CourseError(f"{root}: fewer than {n_src} distinct speakers; cannot mix")
        if level not in ("rms", "active"):
            raise CourseError(f"level must be 'rms' or 'active', got {level!r}")
        if not 0 <= max_db <= 30 or not all(0 <= share <= 1 for share in (partial, single, rooms)):
            raise CourseError(f"max_db must be in 0–30 dB, the partial, single and rooms shares in 0–1, got "
                              f"{max_db}, {partial}, {single}, {rooms}")
        self.max_db = float(max_db)
        self.partial, self.single, self.rooms = (float(share) for share in (partial, single, rooms))
        self.people = None  # the files of people, when they become pseudo-speakers
        if pseudo_speakers:
            is_person = is_person or datasets.course_people(root)
            self.people = {p for _, sources in files for k, p in enumerate(sources) if is_person(p, k)}
        self.n_src, self.sample_rate, self.segment, self.seed = n_src, sample_rate, segment, seed
        self.level = level
        self.epoch_size = epoch_size or len(files)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the mixtures of ``epoch`` (called by the trainer at the start of each epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.epoch_size

    def _pick(self, rng: np.random.Generator) -> list[Path]:
        chosen, speakers = [], set()
        for i in rng.permutation(len(self.pool)):
            path, speaker = self.pool[i]
            if speaker not in speakers:
                chosen.append(path)
                speakers.add(speaker)
                if len(chosen) == self.n_src:
                    return chosen
        raise AssertionError("unreachable: the constructor checked there are enough speakers")

    def levels_db(self, rng: np.random.Generator) -> np.ndarray:
        """Source levels in dB relative to unit RMS (wsj0-2mix rule for two sources, up to ``max_db``)."""
        if self.n_src == 2:
            diff = rng.uniform(0.0, self.max_db)
            return np.array([diff / 2, -diff / 2])
        return rng.uniform(-2.5, 2.5, size=self.n_src)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = datasets.item_rng(self.seed, self.epoch, index)
        length = round(self.segment * self.sample_rate)
        picked = self._pick(rng)
        crops = [datasets.random_crop(audio.load(p, self.sample_rate)[0][None], length, rng)[0]
                 for p in picked]
        if self.people is not None:
            crops = self._pseudo(picked, crops, np.random.default_rng([self.seed, self.epoch, index, 8]))
        sources = np.stack(crops)
        room = np.random.default_rng([self.seed, self.epoch, index, 10]) if self.rooms else None
        if room is not None and room.random() < self.rooms:
            sources = in_one_room(sources, room, self.sample_rate)
        if self.level == "active":
            rms = np.array([[audio.active_rms(c, self.sample_rate)] for c in sources]) + 1e-8
        else:
            rms = np.sqrt((sources ** 2).mean(axis=1, keepdims=True)) + 1e-8
        sources = sources / rms * 10 ** (self.levels_db(rng)[:, None] / 20)
        shifts = np.random.default_rng([self.seed, self.epoch, index, 7]) if self.partial else None
        if shifts is not None and shifts.random() < self.partial:
            sources[-1] = shift_partly(sources[-1], shifts, self.sample_rate)
        if self.single and np.random.default_rng([self.seed, self.epoch, index, 9]).random() < self.single:
            sources[-1] = 0.0
        sources = torch.from_numpy(sources.astype(np.float32))
        return sources.sum(0), sources

    def _pseudo(self, picked: list[Path], crops: list[np.ndarray], rng: np.random.Generator) -> list:
        """The crops of people spoken by pseudo-speakers (new factors per crop); the others unchanged."""
        return [voices.transform(c, self.sample_rate, **voices.draw(rng)) if p in self.people and np.any(c)
                else c for p, c in zip(picked, crops, strict=True)]
