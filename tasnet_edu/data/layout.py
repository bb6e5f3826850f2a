"""The on-disk contract of a generated dataset, shared by its writer (``mixtures``) and its readers
(``datasets``, ``dynamic``): folder and file names, the manifest and the keys a reader may rely on.

A dataset's root holds the split folders ``tr/ cv/ tt/`` (``SPLIT_DIRS``), each with ``mix/ s1/ s2/``
(``MIX_DIR``, ``source_dirs``) holding files of the same name (``00000.wav``, …: ``file_name``), and
``manifest.json`` (``MANIFEST``). The manifest's ``splits.<tr|cv|tt>.mixtures`` lists each mixture with its
``file`` and one record per source under ``s1`` and ``s2`` (``SOURCE_KEYS``). A source's record holds:

- ``speaker``: the talker's name, in its family's own format (``en-us+m3/p40r50w175``, ``pico/en-GB/…``,
  ``asterisk/Allison``). Readers do not take it apart;
- ``group``: its speaker group, the unit of identity: two talkers of one group are never mixed together,
  and a held-out split holds out whole groups (an espeak dialect and voice variant, a Pico voice, one
  person's recordings). Manifests written before groups were recorded lack it: ``source_group`` then
  derives it from the name (``legacy_group``);
- ``kind``: ``"espeak"``, ``"pico"`` or ``"natural"`` (a person); absent from the espeak recipe's manifests,
  whose sources are all espeak voices (``source_kind``).

The rest of a record (texts, levels, augmentations) documents how the audio was made; readers need none of
it.
"""

from __future__ import annotations

import json
from pathlib import Path

from tasnet_edu.errors import CourseError

SPLIT_DIRS = {"train": "tr", "valid": "cv", "test": "tt"}
SPLIT_ALIASES = {**SPLIT_DIRS, "validation": "cv"}
MIX_DIR = "mix"
SOURCE_KEYS = ("s1", "s2")  # the manifest's keys of a mixture's sources, also their folders
MANIFEST = "manifest.json"
#: A partly overlapped pair still talks at once this long (or the shorter utterance); the manifest records
#: it as ``overlap.min_overlap_s``.
MIN_OVERLAP_S = 1.0


def source_dirs(n_src: int) -> list[str]:
    """The folders of ``n_src`` sources: ``["s1", "s2", …]``."""
    return [f"s{k + 1}" for k in range(n_src)]


def file_name(index: int) -> str:
    """The file name of mixture ``index`` of a split (the same in ``mix/`` and each source folder)."""
    return f"{index:05d}.wav"


def load_manifest(root) -> dict | None:
    """The manifest of a generated dataset, or ``None`` when ``root`` holds none; ``CourseError`` naming the
    file when it is there but cannot be read or parsed (its readers would otherwise take the data for another
    corpus)."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CourseError(f"{path} cannot be read ({err}); regenerate the dataset with tasnet-edu make-data, "
                          "or remove the file to read the folder as another corpus") from None


def read_manifest(root) -> dict | None:
    """The manifest of a generated dataset, or ``None`` when ``root`` holds none or an unreadable one (the
    generator's cache check: either way the dataset is made again)."""
    try:
        return load_manifest(root)
    except CourseError:
        return None


def write_manifest(root: Path, manifest: dict) -> None:
    """Write ``manifest`` into ``root``: sorted keys, one space of indent, UTF-8 (the same bytes for the
    same content)."""
    text = json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False, default=str)
    (root / MANIFEST).write_text(text + "\n", encoding="utf-8")


def legacy_group(name: str) -> str:
    """The speaker group of a source named ``name`` in a manifest written before groups were recorded:
    espeak ``dialect+variant/prosody`` → ``dialect+variant``, Pico ``pico/voice/prosody`` → ``pico/voice``,
    a person's name (``asterisk/June``) as it is. Never used for a manifest that records its groups."""
    if "+" in name:
        return name.split("/")[0]
    if name.startswith("pico/"):
        return "/".join(name.split("/")[:2])
    return name


def source_group(record: dict) -> str:
    """The speaker group of a source's manifest ``record``: the recorded one, else ``legacy_group``."""
    return record.get("group") or legacy_group(record["speaker"])


def source_kind(record: dict) -> str:
    """``"espeak"``, ``"pico"`` or ``"natural"``: the family of a source's manifest ``record``."""
    return record.get("kind", "espeak")


def sources_by_file(manifest: dict) -> dict[tuple[str, str, int], dict]:
    """``{(split folder, file name, source index): source record}`` of every mixture in ``manifest``."""
    return {(split, mix["file"], k): mix[key]
            for split, info in manifest["splits"].items()
            for mix in info["mixtures"]
            for k, key in enumerate(SOURCE_KEYS)}
