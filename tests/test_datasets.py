"""Dataset loaders on small fake trees of each layout (wsj0-2mix, WHAM!, LibriMix) and dynamic mixing."""

import csv

import numpy as np
import pytest
import torch
from fakes import SR, write_wav, write_wsj_split

from tasnet_edu.data.datasets import LibriMix, WHAMMix, WSJ0Mix, wsj0_speaker
from tasnet_edu.data.dynamic import DynamicMix
from tasnet_edu.errors import CourseError


def make_wsj_tree(root, names_and_seconds, mix_folders=("mix",), noise=False, split="tr"):
    return write_wsj_split(root, split, names_and_seconds, mix_folders=mix_folders, noise=noise)


def _sources(rng, seconds):
    return (0.1 * rng.standard_normal((2, int(seconds * SR)))).astype(np.float32)


NAMES = [("011a010b_0.3_401o030n_-0.3.wav", 1.0), ("022c0205_1.2_401o030a_-1.2.wav", 0.5),
         ("033d0301_2.0_444o0301_-2.0.wav", 0.75)]


def test_wsj0mix_whole_utterances_sum_to_mixture(tmp_path):
    ds = WSJ0Mix(make_wsj_tree(tmp_path, NAMES), "train", segment=None)
    assert len(ds) == 3
    mix, sources = ds[0]
    assert mix.dtype == torch.float32 and sources.shape == (2, mix.shape[0])
    assert sorted(len(ds[i][0]) for i in range(3)) == [4000, 6000, 8000]
    torch.testing.assert_close(sources.sum(0), mix, atol=1e-6, rtol=0)


def test_wsj0mix_segments_are_seeded_per_epoch_and_short_ones_padded(tmp_path):
    ds = WSJ0Mix(make_wsj_tree(tmp_path, NAMES), "tr", segment=0.6, seed=3)
    lengths = {ds[i][0].shape[0] for i in range(3)}
    assert lengths == {int(0.6 * SR)}
    first = ds[0][0]
    torch.testing.assert_close(ds[0][0], first)  # same epoch, same crop
    ds.set_epoch(1)
    assert not torch.equal(ds[0][0], first)  # a new epoch gives a new crop
    short = [i for i in range(3) if ds.rows[i][0].name.startswith("022")][0]
    mix, sources = ds[short]  # 0.5 s utterance in a 0.6 s segment: zero padding at the end
    assert torch.all(mix[4000:] == 0) and torch.all(sources[:, 4000:] == 0) and mix[:4000].abs().sum() > 0


def test_a_small_dataset_reads_each_file_once_and_its_items_stay_independent(tmp_path, monkeypatch):
    from tasnet_edu.data import datasets

    reads, real_load = [], datasets.audio.load

    def counted_load(path, **kwargs):
        reads.append(path)
        return real_load(path, **kwargs)

    monkeypatch.setattr(datasets.audio, "load", counted_load)
    ds = WSJ0Mix(make_wsj_tree(tmp_path, NAMES), "tr", segment=None)
    first = ds[0][0].clone()
    ds[0][0].mul_(0)                          # an item is a copy: changing it changes no later item
    for _ in range(3):
        torch.testing.assert_close(ds[0][0], first)
        ds[1], ds[2]
    assert len(reads) == len(set(reads)) == 9  # 3 mixtures × (mix, s1, s2), each read once

    monkeypatch.setattr(datasets, "CACHED_FILES", 8)  # 9 files: too many to keep
    reads.clear()
    big = WSJ0Mix(tmp_path, "tr", segment=None)
    big[0], big[0]
    assert len(reads) == 6


def test_wsj0mix_wrong_layout_says_what_was_expected(tmp_path):
    make_wsj_tree(tmp_path, NAMES)
    with pytest.raises(CourseError, match=r"expected the wsj0-2mix .*'mix', 's1', 's2'.*does not exist"):
        WSJ0Mix(tmp_path, "cv")
    with pytest.raises(CourseError, match="split must be one of"):
        WSJ0Mix(tmp_path, "dev")
    (tmp_path / "tr" / "s2" / NAMES[0][0]).unlink()
    with pytest.raises(CourseError, match="lack a file here"):
        WSJ0Mix(tmp_path, "tr")


def test_whammix_reads_noisy_and_clean_mixtures(tmp_path):
    make_wsj_tree(tmp_path, NAMES, mix_folders=("mix_both", "mix_clean"), noise=True, split="tt")
    noisy = WHAMMix(tmp_path, "test", segment=None)
    clean = WHAMMix(tmp_path, "tt", segment=None, mix_type="clean")
    mix_n, src = noisy[0]
    mix_c, src_c = clean[0]
    torch.testing.assert_close(src, src_c)
    torch.testing.assert_close(mix_c, src.sum(0), atol=1e-6, rtol=0)
    assert (mix_n - mix_c).abs().max() > 1e-3  # the noise is in the mixture, not in the targets
    with pytest.raises(CourseError, match="WHAM! layout.*mix_both"):
        WHAMMix(tmp_path / "tt", "tt")


def make_librimix(root, moved=False):
    rng = np.random.default_rng(1)
    rows = []
    for i, seconds in enumerate([0.5, 0.8]):
        name = f"19-198-000{i}_26-495-000{i}.wav"
        s = _sources(rng, seconds)
        write_wav(root / "dev" / "s1" / name, s[0])
        write_wav(root / "dev" / "s2" / name, s[1])
        write_wav(root / "dev" / "mix_clean" / name, s.sum(0))
        base = "/elsewhere/Libri2Mix/wav8k/min/dev" if moved else str(root / "dev")
        rows.append([name[:-4], f"{base}/mix_clean/{name}", f"{base}/s1/{name}", f"{base}/s2/{name}",
                     s.shape[1]])
    (root / "metadata").mkdir()
    with open(root / "metadata" / "mixture_dev_mix_clean.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mixture_ID", "mixture_path", "source_1_path", "source_2_path", "length"])
        w.writerows(rows)
    return root


@pytest.mark.parametrize("moved", [False, True])
def test_librimix_metadata_layout(tmp_path, moved):
    ds = LibriMix(make_librimix(tmp_path, moved=moved), "cv", segment=None)
    assert len(ds) == 2
    mix, sources = ds[1]
    assert mix.shape == (int(0.8 * SR),) and sources.shape == (2, int(0.8 * SR))
    torch.testing.assert_close(sources.sum(0), mix, atol=1e-6, rtol=0)


def test_librimix_missing_metadata_names_expected_file(tmp_path):
    make_librimix(tmp_path)
    with pytest.raises(CourseError, match=r"mixture_test_mix_clean.csv: not found.*found \['mixture_dev"):
        LibriMix(tmp_path, "test")
    with pytest.raises(CourseError, match="mixture_dev_mix_both.csv"):
        LibriMix(tmp_path, "dev", mix_type="both")


def test_wsj0_speaker_ids():
    from pathlib import Path
    p = Path("tr/s1/011a010b_0.3_401o030n_-0.3.wav")
    assert (wsj0_speaker(p, 0), wsj0_speaker(p, 1)) == ("011", "401")
    assert wsj0_speaker(Path("tr/s1/0007.wav"), 0) == "s1/0007.wav"


def test_dynamic_mix_new_pairs_each_epoch_with_wsj_levels(tmp_path):
    ds = DynamicMix(make_wsj_tree(tmp_path, NAMES), "tr", segment=0.4, epoch_size=8, seed=0)
    assert len(ds) == 8
    mix, sources = ds[0]
    assert sources.shape == (2, int(0.4 * SR))
    torch.testing.assert_close(sources.sum(0), mix)
    torch.testing.assert_close(ds[0][1], sources)  # deterministic within an epoch
    diffs = []
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            s = ds[i][1]
            diffs.append(float(10 * torch.log10(s[0].pow(2).mean() / s[1].pow(2).mean())))
    assert min(diffs) >= -1e-3 and max(diffs) <= 5 + 1e-3  # s1 louder by 0–5 dB
    assert len({round(d, 4) for d in diffs}) > 20  # new gains for every item and epoch
    ds.set_epoch(1)
    assert not torch.equal(ds[0][1], sources)


def test_dynamic_mix_reads_course_speakers_from_the_manifest(tmp_path):
    import json

    from tasnet_edu.data.datasets import course_speakers

    names = [(f"{i:05d}.wav", 0.5) for i in range(3)]
    root = make_wsj_tree(tmp_path, names)
    # Five of the six utterances share one voice (at two pitches): every pair must hold the sixth.
    voices = [("en-us+m1/p40", "en-us+m1/p60"), ("en-us+m1/p40", "en-gb+f2/p50"),
              ("en-us+m1/p60", "en-us+m1/p40")]
    mixtures = [{"file": n, "s1": {"speaker": a}, "s2": {"speaker": b}}
                for (n, _), (a, b) in zip(names, voices, strict=True)]
    (root / "manifest.json").write_text(json.dumps({"splits": {"tr": {"mixtures": mixtures}}}))
    other = root / "tr" / "s2" / "00001.wav"
    assert course_speakers(root)(other, 1) == "en-gb+f2"
    assert course_speakers(tmp_path / "tr") is None  # no manifest: not course data
    ds = DynamicMix(root, "tr", segment=0.2, epoch_size=6, seed=0)
    assert sorted({spk for _, spk in ds.pool}) == ["en-gb+f2", "en-us+m1"]
    for seed in range(20):
        assert other in ds._pick(np.random.default_rng(seed))
    # A manifest that records the groups is read as recorded, never from the names.
    for mix, group in zip(mixtures, ("a", "b", "a"), strict=True):
        mix["s1"]["group"] = mix["s2"]["group"] = group
    (root / "manifest.json").write_text(json.dumps({"splits": {"tr": {"mixtures": mixtures}}}))
    assert course_speakers(root)(other, 1) == "b"
    assert {spk for _, spk in DynamicMix(root, "tr", segment=0.2).pool} == {"a", "b"}


def test_dynamic_mix_keep_leaves_files_out_of_the_pool(tmp_path):
    root = make_wsj_tree(tmp_path, NAMES)
    everything = DynamicMix(root, "tr", segment=0.2, seed=0)
    only_s1 = DynamicMix(root, "tr", segment=0.2, seed=0, keep=lambda path, k: k == 0)
    assert len(everything.pool) == 2 * len(only_s1.pool)
    assert {p.parent.name for p, _ in only_s1.pool} == {"s1"}
    for seed in range(20):  # every mixture is drawn from the kept files only
        assert {p.parent.name for p in only_s1._pick(np.random.default_rng(seed))} == {"s1"}


def test_shuffled_order_permutes_sources_per_item_not_the_mixture(tmp_path):
    from tasnet_edu.data.datasets import ShuffledOrder

    base = WSJ0Mix(make_wsj_tree(tmp_path, NAMES * 1), "tr", segment=None)
    ds = ShuffledOrder(base, seed=0)
    swapped = []
    for epoch in range(4):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            mix, sources = ds[i]
            torch.testing.assert_close(mix, base[i][0])
            same = torch.equal(sources, base[i][1])
            assert same or torch.equal(sources, base[i][1].flip(0))
            swapped.append(not same)
    assert 0 < sum(swapped) < len(swapped)  # both orders occur


def test_dynamic_mix_options_wider_levels_and_partial_overlap(tmp_path):
    root = make_wsj_tree(tmp_path, NAMES)
    plain = DynamicMix(root, "tr", segment=0.4, epoch_size=40, seed=0)
    wide = DynamicMix(root, "tr", segment=0.4, epoch_size=40, seed=0, max_db=10.0)
    diffs = []
    for i in range(len(wide)):
        s = wide[i][1]
        diffs.append(float(10 * torch.log10(s[0].pow(2).mean() / s[1].pow(2).mean())))
        torch.testing.assert_close(plain[i][1][0] / plain[i][1][0].std(), s[0] / s[0].std())  # same crops
    assert min(diffs) >= -1e-3 and max(diffs) <= 10 + 1e-3 and max(diffs) > 6
    partial = DynamicMix(root, "tr", segment=0.4, epoch_size=40, seed=0, partial=1.0)
    silent = 0
    for i in range(len(partial)):
        mix, s = partial[i]
        torch.testing.assert_close(s.sum(0), mix)
        torch.testing.assert_close(s[0], plain[i][1][0])  # the first talker is as it was
        silent += int((s[1] == 0).sum() > 0.1 * s.shape[1])  # the second starts later or stops earlier
    assert silent > 30
    with pytest.raises(CourseError, match="max_db"):
        DynamicMix(root, "tr", segment=0.4, max_db=-2)


def test_dynamic_mix_pseudo_speakers_change_people_only(tmp_path):
    root = make_wsj_tree(tmp_path, NAMES)
    plain = DynamicMix(root, "tr", segment=0.4, epoch_size=4, seed=0)
    nobody = DynamicMix(root, "tr", segment=0.4, epoch_size=4, seed=0, pseudo_speakers=True,
                        is_person=lambda path, k: False)
    people = DynamicMix(root, "tr", segment=0.4, epoch_size=4, seed=0, pseudo_speakers=True,
                        is_person=lambda path, k: True)
    for i in range(4):
        torch.testing.assert_close(nobody[i][1], plain[i][1])
        assert not torch.allclose(people[i][1], plain[i][1], atol=1e-3)
        torch.testing.assert_close(people[i][1].sum(0), people[i][0])


def test_course_lookups_name_a_manifest_that_cannot_be_parsed(tmp_path):
    """A manifest.json cut short is an error naming it, not a corpus of other naming (every file its own
    speaker, nobody a person); the generator's cache check still reads it as no manifest, and remakes it."""
    from tasnet_edu.data.datasets import course_people, course_speakers
    from tasnet_edu.data.layout import read_manifest

    (tmp_path / "manifest.json").write_text('{"splits": {"tr": ')
    for lookup in (course_speakers, course_people):
        with pytest.raises(CourseError, match=r"manifest\.json cannot be read .*tasnet-edu make-data"):
            lookup(tmp_path)
    assert read_manifest(tmp_path) is None
    assert course_speakers(tmp_path / "none") is None and not course_people(tmp_path / "none")(tmp_path, 0)
