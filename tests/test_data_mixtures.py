"""tasnet_edu.data.mixtures: wsj0-2mix layout and recipe, determinism, manifest, safe failure, samples."""

import json
import sys

import numpy as np
import pytest
import soundfile as sf

from tasnet_edu import cli
from tasnet_edu.data import layout, mixtures, plans, speech
from tasnet_edu.errors import CourseError

COUNTS = {"tr": 3, "cv": 2, "tt": 2}
SEED = 7
SUBS = ("mix", "s1", "s2")
VARIANT = {s.name: s.variant for s in speech.list_speakers()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("mix") / "d"
    return mixtures.make_mixtures(out, *COUNTS.values(), seed=SEED, progress=False)


def read(root, split, sub, name):
    return sf.read(root / split / sub / name, dtype="int16")


def rms_db(x):
    return 10 * np.log10(np.mean(x.astype(np.float64) ** 2))


def test_wsj0_2mix_layout(dataset):
    assert sorted(p.name for p in dataset.iterdir()) == ["cv", "manifest.json", "tr", "tt"]
    for split, n in COUNTS.items():
        names = [sorted(p.name for p in (dataset / split / sub).iterdir()) for sub in SUBS]
        assert names[0] == names[1] == names[2] and len(names[0]) == n
        for name in names[0]:
            info = sf.info(dataset / split / "mix" / name)
            assert info.samplerate == 8000 and info.channels == 1 and info.subtype == "PCM_16"


def test_recipe_levels_and_exact_mixture(dataset):
    manifest = json.loads((dataset / "manifest.json").read_text())
    for split in COUNTS:
        for plan in manifest["splits"][split]["mixtures"]:
            (mix, sr), (s1, _), (s2, _) = (read(dataset, split, sub, plan["file"]) for sub in SUBS)
            assert sr == 8000 and len(mix) == len(s1) == len(s2) == round(plan["seconds"] * sr)
            assert np.array_equal(mix.astype(np.int32), s1.astype(np.int32) + s2)  # mix == s1 + s2 exactly
            rel = rms_db(s1) - rms_db(s2)
            assert 0.0 - 0.05 <= rel <= mixtures.MAX_DB + 0.05  # s1 is the louder source by 0–5 dB
            assert abs(rel - plan["relative_db"]) < 0.05
            assert VARIANT[plan["s1"]["speaker"]] != VARIANT[plan["s2"]["speaker"]]  # truly different voices


def test_manifest_records_disjoint_speakers_and_texts(dataset):
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["seed"] == SEED and manifest["counts"] == COUNTS
    assert manifest["generator_version"] == mixtures.GENERATOR_VERSION and manifest["mode"] == "min"
    splits = manifest["splits"]
    for a, b in (("tr", "cv"), ("tr", "tt"), ("cv", "tt")):
        assert not set(splits[a]["speakers_used"]) & set(splits[b]["speakers_used"])
        assert not set(splits[a]["variants"]) & set(splits[b]["variants"])
    test_names = {s.name for s in speech.list_speakers("test")}
    assert set(splits["tt"]["speakers_used"]) <= test_names
    test_sentences = set(speech.sentence_splits()["test"])
    for plan in splits["tt"]["mixtures"]:
        for key in ("s1", "s2"):
            assert plan[key]["text"].startswith(tuple(test_sentences))


def test_voices_used_reads_each_talkers_variant_from_the_manifest(dataset, tmp_path):
    manifest = json.loads((dataset / "manifest.json").read_text())
    for split in COUNTS:
        plans = manifest["splits"][split]["mixtures"]
        expected = {VARIANT[plan[k]["speaker"]] for plan in plans for k in ("s1", "s2")}
        assert mixtures.voices_used(dataset, split) == expected
    assert not mixtures.voices_used(dataset, "tt") & set(speech.variant_splits()["train"])
    with pytest.raises(CourseError, match="no manifest.json with a 'tt' split"):
        mixtures.voices_used(tmp_path, "tt")


def test_same_command_same_bytes_other_seed_other_data(dataset, tmp_path):
    again = mixtures.make_mixtures(tmp_path / "again", *COUNTS.values(), seed=SEED, progress=False)
    files = sorted(p.relative_to(dataset) for p in dataset.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (dataset / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = mixtures.make_mixtures(tmp_path / "other", 1, 0, 0, seed=SEED + 1, progress=False)
    assert (other / "tr/mix/00000.wav").read_bytes() != (dataset / "tr/mix/00000.wav").read_bytes()


def test_interrupted_run_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    calls = []

    def interrupt(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    real = mixtures.render_mixture
    monkeypatch.setattr(mixtures, "render_mixture", interrupt)
    assert cli.main(["make-data", "--out", str(tmp_path / "d"), "--n-train", "3"]) == 130
    assert list(tmp_path.iterdir()) == []  # neither the output nor a hidden partial folder


def run_cli(capsys, *args):
    code = cli.main(["make-data", *args])
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("args, message", [
    (["--n-train", "-1"], "≥ 0"),
    (["--n-train", "0"], "0 mixtures"),
])
def test_cli_bad_counts(tmp_path, capsys, args, message):
    code, err = run_cli(capsys, "--out", str(tmp_path / "d"), *args)
    assert code == 1 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "d").exists()


def test_cli_unwritable_or_existing_output(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code, err = run_cli(capsys, "--out", str(blocker / "d"), "--n-test", "1")
    assert code == 1 and "cannot write" in err and len(err.splitlines()) == 1
    (tmp_path / "exists").mkdir()
    code, err = run_cli(capsys, "--out", str(tmp_path / "exists"), "--n-test", "1")
    assert code == 1 and "--overwrite" in err


def test_cli_without_speech_backend(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)
    speech.engine.cache_clear()
    try:
        code, err = run_cli(capsys, "--out", str(tmp_path / "d"), "--n-test", "1")
    finally:
        speech.engine.cache_clear()
    assert code == 1 and "no speech backend" in err and "pip install" in err
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_a_dataset(tmp_path, capsys):
    code, _ = run_cli(capsys, "--out", str(tmp_path / "d"), "--n-valid", "1", "--seed", "3")
    assert code == 0
    assert json.loads((tmp_path / "d/manifest.json").read_text())["counts"] == {"tr": 0, "cv": 1, "tt": 0}


def test_ensure_mixtures_generates_once_then_reuses(tmp_path, monkeypatch):
    root = mixtures.ensure_mixtures(1, 0, 1, seed=2, root=tmp_path)
    stamp = (root / "tt/mix/00000.wav").stat().st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError("regenerated a cached dataset")

    monkeypatch.setattr(mixtures, "make_mixtures", fail)
    assert mixtures.ensure_mixtures(1, 0, 1, seed=2, root=tmp_path) == root
    monkeypatch.undo()
    (root / "manifest.json").write_text("{broken")  # a damaged cache is regenerated, not trusted
    assert mixtures.ensure_mixtures(1, 0, 1, seed=2, root=tmp_path) == root
    assert mixtures.read_manifest(root)["seed"] == 2
    assert (root / "tt/mix/00000.wav").stat().st_mtime_ns != stamp


def test_ensure_mixtures_honours_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TASNET_EDU_DATA", str(tmp_path))
    assert mixtures.data_root() == tmp_path


def test_committed_samples():
    folder = mixtures.samples_dir()
    manifest = mixtures.read_manifest(folder)
    n = manifest["counts"]["tt"]
    assert n >= 4
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 5e6
    test_speakers = {s.name for s in speech.list_speakers("test")}
    assert set(manifest["splits"]["tt"]["speakers_used"]) <= test_speakers
    for i in range(n):
        mix, sources = mixtures.load_sample_mixture(i)
        assert mix.ndim == 1 and sources.shape == (2, len(mix))
        assert (mix - sources.sum(0)).abs().max() < 1e-6
        assert sources[0].pow(2).mean() >= sources[1].pow(2).mean() * 0.99  # s1 is the louder one
    with pytest.raises(CourseError, match="out of range"):
        mixtures.load_sample_mixture(n)


def test_committed_real_samples_are_held_out_people_with_their_licences():
    folder = mixtures.samples_dir() / "real"
    manifest = mixtures.read_manifest(folder)
    people = manifest["natural_speakers"]
    used = set(manifest["splits"]["tt"]["speakers_used"])
    assert used and all(people[s]["split"] == "test" for s in used)
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert all(s in readme for s in used) and "Menardi" in readme  # the attribution its licence asks for
    for i in range(manifest["counts"]["tt"]):
        mix, sources = mixtures.load_sample_mixture(i, real=True)
        assert sources.shape == (2, len(mix)) and (mix - sources.sum(0)).abs().max() < 1e-6


# --------------------------------------------------------------------------- partial overlap, wider levels
def test_place_lets_one_talker_start_later_or_stop_earlier():
    sr = 8000
    for start in (0.0, 0.3, 0.5, 0.7, 1.0):
        (a, b), length = mixtures.place((3 * sr, 2 * sr), start, sr)
        assert min(a, b) == 0 and length == max(a + 3 * sr, b + 2 * sr)
        overlap = min(a + 3 * sr, b + 2 * sr) - max(a, b)
        assert overlap >= mixtures.MIN_OVERLAP_S * sr  # they still talk at once for a second
    assert mixtures.place((3 * sr, 2 * sr), 0.0, sr)[0] == [sr, 0]  # the second starts first
    assert mixtures.place((3 * sr, 2 * sr), 1.0, sr)[0] == [0, 2 * sr]  # the second starts last
    short = mixtures.place((sr // 2, 3 * sr), 0.5, sr)  # shorter than MIN_OVERLAP_S: inside the other
    assert short[1] == 3 * sr


def test_options_leave_every_other_choice_as_it_was():
    plain = plans.recipe().plan("valid", 4, SEED)
    varied = plans.recipe(max_db=10.0, overlap="mixed").plan("valid", 4, SEED)

    def choices(plan):
        return plan.peak, [(s.talk, s.channel) for s in plan.sources]

    assert choices(plain) == choices(varied) and plain.overlap is None and varied.overlap is not None
    assert varied.relative_db == pytest.approx(2 * plain.relative_db, abs=1e-3)  # the same draw, scaled
    shares = [plans.plan_overlap("train", i, 0, "mixed", 0.3).partial for i in range(400)]
    assert 0.22 < np.mean(shares) < 0.38
    assert not any(plans.plan_overlap("train", i, 0, "full").partial for i in range(20))


def test_manifest_records_each_sources_speaker_group(dataset):
    """The espeak recipe's records: speaker, group (dialect and variant) and no kind or level (plain RMS,
    as the course's first manifests); the readers take the group from here."""
    group = {s.name: s.group for s in speech.list_speakers()}
    records = layout.sources_by_file(json.loads((dataset / "manifest.json").read_text()))
    assert len(records) == 2 * sum(COUNTS.values())
    for record in records.values():
        assert record["group"] == group[record["speaker"]] == layout.legacy_group(record["speaker"])
        assert "kind" not in record and "level" not in record
        assert layout.source_kind(record) == "espeak"


def test_a_manifest_without_groups_falls_back_to_the_names():
    old = {"speaker": "en-us+m3/p40r50w175"}
    assert layout.source_group(old) == "en-us+m3"
    assert layout.source_group({"speaker": "pico/en-GB/p64s105v0.9t0.12"}) == "pico/en-GB"
    assert layout.source_group({"speaker": "asterisk/June", "kind": "natural"}) == "asterisk/June"
    assert layout.source_group({**old, "group": "someone"}) == "someone"  # a recorded group wins


def test_partial_mixtures_pad_silence_and_record_offsets(tmp_path):
    out = mixtures.make_mixtures(tmp_path / "p", 0, 3, 0, seed=SEED, overlap="partial", max_db=10.0,
                                 progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert "0-10 dB" in manifest["level_convention"]
    for plan in manifest["splits"]["cv"]["mixtures"]:
        (mix, _), (s1, _), (s2, _) = (read(out, "cv", sub, plan["file"]) for sub in SUBS)
        assert np.array_equal(mix.astype(np.int32), s1.astype(np.int32) + s2)
        ends = [int(np.flatnonzero(s)[-1]) + 1 for s in (s1, s2)]
        starts = [int(np.flatnonzero(s)[0]) for s in (s1, s2)]
        assert starts == plan["offsets"] and max(ends) == len(mix)  # the mixture spans both talkers
        assert plan["overlap_s"] >= mixtures.MIN_OVERLAP_S - 1e-3


@pytest.mark.parametrize("kwargs, message", [
    ({"max_db": -1.0}, "max_db"), ({"overlap": "some"}, "overlap"), ({"partial_share": 2.0}, "partial_share"),
    ({"held_out": "wide"}, "--held-out"),
])
def test_bad_options_say_which(tmp_path, kwargs, message):
    with pytest.raises(CourseError, match=message):
        mixtures.make_mixtures(tmp_path / "x", 1, 0, 0, progress=False, **kwargs)
