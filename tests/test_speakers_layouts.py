"""Sets of recordings as datasets lay them out: lists (Common Voice's train.tsv / test.tsv, a spreadsheet) with
the files they name, the speakers they give and what is refused; speakers grouped in folders by region (TIMIT)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import gmm_apps
from gmm_apps import cli
from gmm_apps.errors import ConfigError, DataError
from gmm_apps.paths import resolve_inputs
from gmm_apps.pipelines.speakers.audio import AUDIO_SUFFIXES, load_audio
from gmm_apps.pipelines.speakers.config import SpeakersData
from gmm_apps.pipelines.speakers.data import list_of_recordings, speaker_labels

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "gmm_apps" / "samples" / "fsdd_sample"
QUICK = ["--quiet", "--set", "report.plots=false", "--set", "model.n_components=16"]


def common_voice(folder):
    """The sample laid out as Common Voice lays out a language: every clip in clips/ under a number, and
    train.tsv / test.tsv naming each clip's speaker (client_id) beside its sentence (quotes included)."""
    (folder / "clips").mkdir(parents=True)
    rows = {"enrol": [], "test": []}
    for i, f in enumerate(sorted(SAMPLES.rglob("*.wav"))):
        name = f"common_voice_en_{4000 + i}.wav"
        shutil.copy(f, folder / "clips" / name)
        speaker = f.stem.split("_")[1]
        rows[f.parent.name].append(
            {"client_id": speaker, "path": name, "sentence": 'He said "yes"', "up_votes": 2, "locale": "en"}
        )
    for part, name in (("enrol", "train.tsv"), ("test", "test.tsv")):
        pd.DataFrame(rows[part]).to_csv(folder / name, sep="\t", index=False)
    return folder


def run(tmp_path, name, *sets):
    out = tmp_path / name
    args = ["run", str(REPO / "configs" / "speakers.yaml"), "--out", str(out), *QUICK]
    assert cli.main(args + [a for s in sets for a in ("--set", s)]) == 0
    return out


def test_common_voice_lists_identify_as_the_speaker_folders_do(tmp_path):
    cv = common_voice(tmp_path / "cv")
    listed = run(
        tmp_path,
        "listed",
        f"data.enrol={cv / 'train.tsv'}",
        f"data.test={cv / 'test.tsv'}",
        "data.file_column=path",
        "data.speaker_column=client_id",
    )
    folders = run(tmp_path, "folders")
    a, b = (pd.read_csv(d / "identifications.csv") for d in (listed, folders))
    assert a["predicted"].tolist() == b["predicted"].tolist() and a["true"].tolist() == b["true"].tolist()
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-9)
    assert a["file"].str.contains("common_voice_en_").all()
    s = json.loads((listed / "summary.json").read_text())
    assert s["enrolment_recordings"] == 240 and s["accuracy"] >= 0.97


def test_what_a_list_may_hold_and_what_is_refused(tmp_path, gmm_log):
    cv = common_voice(tmp_path / "cv")
    train = pd.read_csv(cv / "train.tsv", sep="\t")
    # clips not downloaded: left out and counted; a list in Excel is read the same
    train.loc[:4, "path"] = [f"missing_{i}.mp3" for i in range(5)]
    train.to_excel(cv / "train.xlsx", index=False)
    files, speakers = list_of_recordings(
        cv / "train.xlsx", key="data.enrol", file_column="path", speaker_column="client_id"
    )
    assert len(files) == 235 and speakers[:2] == train["client_id"].iloc[5:7].tolist()
    assert "5 of the 240 recordings it lists are not found (e.g. 'missing_0.mp3')" in gmm_log.text
    # the recordings beside the list (no clips folder), a path with folders, a list without speakers
    beside = tmp_path / "beside.csv"
    pd.DataFrame({"file": ["cv/clips/common_voice_en_4000.wav"]}).to_csv(beside, index=False)
    files, speakers = list_of_recordings(beside, key="data.test", file_column="file", speaker_column="speaker")
    assert files == [(tmp_path / "cv" / "clips" / "common_voice_en_4000.wav").resolve()] and speakers is None
    with pytest.raises(DataError, match=r"column 'file' \(data.file_column\) not found; columns are client_id, path"):
        list_of_recordings(cv / "train.tsv", key="data.enrol", file_column="file", speaker_column="client_id")
    pd.DataFrame({"path": ["nowhere.wav"], "client_id": ["a"]}).to_csv(tmp_path / "none.csv", index=False)
    with pytest.raises(DataError, match="none of the recordings its 'path' column names was found"):
        list_of_recordings(tmp_path / "none.csv", key="data.enrol", file_column="path", speaker_column="client_id")
    twice = pd.concat([train.iloc[5:6], train.iloc[5:6].assign(client_id="someone else")])
    twice.to_csv(tmp_path / "cv" / "twice.csv", index=False)
    with pytest.raises(DataError, match="is listed for '.*' and for 'someone else'"):
        list_of_recordings(
            tmp_path / "cv" / "twice.csv", key="data.enrol", file_column="path", speaker_column="client_id"
        )


def test_speakers_from_a_list_must_be_complete_and_come_from_a_list(tmp_path):
    cv = common_voice(tmp_path / "cv")
    train = pd.read_csv(cv / "train.tsv", sep="\t")
    train.loc[3, "client_id"] = ""
    train.to_csv(cv / "gap.tsv", sep="\t", index=False)
    sets = [f"data.enrol={cv / 'gap.tsv'}", "data.test=null", "data.file_column=path", "data.speaker_column=client_id"]
    with pytest.raises(DataError, match="has no speaker in the list's speaker column"):
        gmm_apps.run("speakers", out=tmp_path / "gap", set=sets)
    with pytest.raises(ValueError, match="label_from: table reads the speakers from a list of recordings"):
        SpeakersData(enrol=str(SAMPLES / "enrol"), label_from="table")


def test_a_list_without_speakers_reads_them_from_the_file_names(tmp_path):
    # a list of the sample's own files: speakers by data.pattern, as for a folder
    listing = tmp_path / "enrol.csv"
    pd.DataFrame({"file": [str(f) for f in sorted((SAMPLES / "enrol").glob("*.wav"))]}).to_csv(listing, index=False)
    out = run(tmp_path, "names", f"data.enrol={listing}", "data.test=null")
    s = json.loads((out / "summary.json").read_text())
    assert s["enrolment_recordings"] == 240 and len(s["speakers"]) == 6


def test_a_nemo_manifest_is_a_list_of_recordings(tmp_path):
    # NVIDIA NeMo's manifests: JSON Lines with each recording's absolute path, its length, text and speaker
    rows = [
        {"audio_filepath": str(f), "duration": 0.5, "text": "", "speaker": f.stem.split("_")[1]}
        for f in sorted((SAMPLES / "enrol").glob("*.wav"))
    ]
    (tmp_path / "train_manifest.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    files, speakers = list_of_recordings(
        tmp_path / "train_manifest.jsonl", key="data.enrol", file_column="audio_filepath", speaker_column="speaker"
    )
    assert files == [Path(r["audio_filepath"]) for r in rows] and speakers == [r["speaker"] for r in rows]


def test_a_list_named_as_the_set_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="data.enrol: .*absent.tsv"):
        gmm_apps.run("speakers", out=tmp_path / "x", set=[f"data.enrol={tmp_path / 'absent.tsv'}", "data.test=null"])


def timit(folder):
    """The sample laid out as TIMIT lays out its speakers: TRAIN/ and TEST/, a region folder, a folder per speaker
    (upper case), file names that say nothing of the speaker (SX...WAV) in NIST SPHERE, as LDC ships it."""
    import soundfile as sf  # reason: only this layout writes audio

    speakers = sorted({f.stem.split("_")[1] for f in SAMPLES.rglob("*.wav")})
    for f in sorted(SAMPLES.rglob("*.wav")):
        digit, speaker, take = f.stem.split("_")
        region = "DR1" if speakers.index(speaker) < 3 else "DR2"
        part = "TRAIN" if f.parent.name == "enrol" else "TEST"
        out = folder / part / region / speaker.upper() / f"SX{digit}{take}.WAV"
        out.parent.mkdir(parents=True, exist_ok=True)
        y, sr = sf.read(f, dtype="int16")
        sf.write(out, y, sr, format="NIST", subtype="PCM_16")
    return folder


def test_speakers_grouped_by_region_are_read_from_the_second_folder(tmp_path, gmm_log):
    t = timit(tmp_path / "timit")
    sets = [f"data.enrol={t / 'TRAIN'}", f"data.test={t / 'TEST'}"]
    # by default the regions are the first folders below: read as two speakers, and said so with the fix
    regions = json.loads((run(tmp_path, "regions", *sets) / "summary.json").read_text())
    assert regions["speakers"] == ["DR1", "DR2"]
    assert "they hold 6 folder(s) of their own (e.g. DR1/GEORGE)" in gmm_log.text
    assert "set data.speaker_folder: 2" in gmm_log.text
    out = run(tmp_path, "speakers", *sets, "data.speaker_folder=2")
    s = json.loads((out / "summary.json").read_text())
    assert s["speakers"] == ["GEORGE", "JACKSON", "LUCAS", "NICOLAS", "THEO", "YWEWELER"]
    ids = pd.read_csv(out / "identifications.csv")
    assert ids["true"].str.isupper().all() and s["accuracy"] >= 0.97
    # LDC's .sph is found in a folder and read as the same samples
    first = sorted((t / "TEST").rglob("*.WAV"))[0]
    (tmp_path / "sph").mkdir()
    shutil.copy(first, tmp_path / "sph" / "one.sph")
    found = resolve_inputs(str(tmp_path / "sph"), key="k", source="test", suffixes=AUDIO_SUFFIXES)
    assert [Path(f).name for f in found] == ["one.sph"]
    np.testing.assert_array_equal(
        load_audio(tmp_path / "sph" / "one.sph", sample_rate=8000), load_audio(first, sample_rate=8000)
    )
    # each recording's speaker is the folder that holds it, checked against the layout itself
    files = sorted((t / "TRAIN").rglob("*.WAV"))
    got = speaker_labels(
        files, label_from="folder", pattern="x", spec=str(t / "TRAIN"), key="k", required=True, level=2
    )
    assert got == [f.parent.name for f in files]


def test_a_speaker_folder_deeper_than_the_recordings_is_refused(tmp_path):
    t = timit(tmp_path / "timit")
    sets = [f"data.enrol={t / 'TRAIN' / 'DR1'}", "data.test=null", "data.speaker_folder=2"]
    with pytest.raises(DataError, match=r"data.speaker_folder: 2 .* not that deep \(120 file\(s\)\)"):
        gmm_apps.run("speakers", out=tmp_path / "deep", set=sets)
    assert not (tmp_path / "deep").exists()
    with pytest.raises(ValueError, match="speaker_folder: 2 reads the speakers from folders, but data.label_from"):
        SpeakersData(label_from="pattern", speaker_folder=2)


def test_one_speakers_folder_is_refused_as_one_speaker_not_as_names_that_do_not_match(tmp_path):
    """Recordings of one person in a folder of their own, named 0.wav, 1.wav ...: read as one speaker, and
    refused for it, not for file names the pattern does not fit (which the folder already answers)."""
    one = tmp_path / "enrol" / "jackson"
    one.mkdir(parents=True)
    for i, f in enumerate(sorted((SAMPLES / "enrol").glob("*_jackson_*.wav"))):
        shutil.copy(f, one / f"{i}.wav")
    sets = [f"data.enrol={tmp_path / 'enrol'}", "data.test=null"]
    with pytest.raises(DataError, match=r"every recording sits in one folder \(jackson\).*identification needs two"):
        gmm_apps.run("speakers", out=tmp_path / "one", set=sets)
    assert not (tmp_path / "one").exists()
    shutil.copytree(one, tmp_path / "enrol" / "theo")  # a second speaker's folder beside it: read as two
    labels = speaker_labels(
        sorted((tmp_path / "enrol").rglob("*.wav")),
        label_from="auto",
        pattern=SpeakersData().pattern,
        spec=str(tmp_path / "enrol"),
        key="data.enrol",
        required=True,
    )
    assert sorted(set(labels)) == ["jackson", "theo"]


def librispeech(folder):
    """The sample laid out as LibriSpeech lays out its sets: train-clean-100/ and test-clean/ side by side, a
    folder per speaker, one per chapter in it, FLAC files named by numbers only."""
    import soundfile as sf  # reason: only this layout writes audio

    for f in sorted(SAMPLES.rglob("*.wav")):
        digit, speaker, take = f.stem.split("_")
        part = "train-clean-100" if f.parent.name == "enrol" else "test-clean"
        out = folder / part / speaker / "1234" / f"1234-{digit}{take}.flac"
        out.parent.mkdir(parents=True, exist_ok=True)
        y, sr = sf.read(f, dtype="int16")
        sf.write(out, y, sr, format="FLAC")
    return folder


def test_a_folder_of_sets_is_read_as_its_enrolment_and_test_sets(tmp_path, capsys):
    lib = librispeech(tmp_path / "LibriSpeech")
    # the sets' folders read as two speakers would give a meaningless run: refused, naming the keys that read them
    with pytest.raises(DataError) as err:
        gmm_apps.run("speakers", out=tmp_path / "sets", set=[f"data.enrol={lib}", "data.test=null"])
    assert str(err.value) == (
        f"data.enrol: the folders under {lib} are named as sets of recordings (test-clean, train-clean-100), not as "
        f"speakers; set data.enrol: {lib / 'train-clean-100'} and data.test: {lib / 'test-clean'} (each holding one "
        "folder a speaker), or data.label_from: folder if these are the speakers"
    )
    assert not (tmp_path / "sets").exists()
    # init writes those keys, and the run reads the speakers' folders of each set
    cfg = tmp_path / "lib.yaml"
    assert cli.main(["init", "speakers", str(cfg), "--data", str(lib)]) == 0
    assert capsys.readouterr().err == ""
    out = tmp_path / "lib-run"
    assert cli.main(["run", str(cfg), "--out", str(out), *QUICK]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["speakers"] == sorted({f.stem.split("_")[1] for f in SAMPLES.rglob("*.wav")}) and s["accuracy"] >= 0.97
    ids = pd.read_csv(out / "identifications.csv")
    assert len(ids) == len(list((SAMPLES / "test").glob("*.wav")))
    assert (ids["true"] == ids["file"].map(lambda f: Path(f).parts[-3])).all()
    # the enrolment set given alone finds its test set beside it
    assert cli.main(["init", "speakers", str(tmp_path / "train.yaml"), "--data", str(lib / "train-clean-100")]) == 0
    for name in ("lib.yaml", "train.yaml"):
        data = yaml.safe_load((tmp_path / name).read_text())["data"]
        assert (data["enrol"], data["test"]) == (str(lib / "train-clean-100"), str(lib / "test-clean"))
    # a broken recording is said as init writes the config, with the key that leaves it out, not chosen unasked
    (lib / "test-clean" / "george" / "1234" / "1234-broken.flac").write_text("<html>Not Found</html>")
    assert cli.main(["init", "speakers", str(tmp_path / "broken.yaml"), "--data", str(lib)]) == 0
    said = capsys.readouterr().err
    assert said.startswith("to settle in the config before it runs: ") and "1234-broken.flac: cannot read audio" in said
    assert "data.unreadable: skip leaves such files out" in said
    assert yaml.safe_load((tmp_path / "broken.yaml").read_text())["data"]["unreadable"] == "error"
    # FFmpeg takes that text for FLAC by its name, with no sample rate: no recording, not an empty one
    with pytest.raises(DataError, match="1234-broken.flac: cannot read audio .*FFmpeg: no sample rate in a flac"):
        load_audio(lib / "test-clean" / "george" / "1234" / "1234-broken.flac", sample_rate=8000)


def test_speakers_named_as_sets_are_read_when_asked(tmp_path):
    files = [tmp_path / who / f"{i}.wav" for who in ("Dev", "Val") for i in range(2)]
    for f in files:
        f.parent.mkdir(exist_ok=True)
    spec = dict(pattern="x", spec=str(tmp_path), key="data.enrol", required=True)
    with pytest.raises(DataError, match=r"named as sets of recordings \(Dev, Val\)"):
        speaker_labels(files, label_from="auto", **spec)
    assert speaker_labels(files, label_from="folder", **spec) == ["Dev", "Dev", "Val", "Val"]


def test_keys_that_would_change_nothing_are_refused(tmp_path):
    # the columns of a list, with no list nor claims; a file-name pattern where speakers come from folders
    for sets, needle in (
        (["data.speaker_column=who"], "data.speaker_column is read only with a list of recordings"),
        (["data.file_column=path"], "data.file_column is read only with a list of recordings"),
        (["data.label_from=folder", "data.pattern=^(?P<speaker>[a-z]+)"], "data.pattern is read only with data.label"),
    ):
        with pytest.raises(ConfigError, match=needle):
            gmm_apps.run("speakers", out=tmp_path / "x", set=sets)
        assert not (tmp_path / "x").exists()
    # with a list of recordings, or claims, they are read
    lists = [f"data.enrol={tmp_path / 'train.tsv'}", "data.test=null", "data.speaker_column=client_id"]
    with pytest.raises(ConfigError, match="data.enrol: file not found: .*train.tsv"):  # past the keys: no list
        gmm_apps.run("speakers", out=tmp_path / "x", set=lists)
    # recordings straight in the enrolment folder have no speaker folders: said, not only "one speaker"
    with pytest.raises(DataError, match=r"only speaker\(s\) \['enrol'\] \(the name of .*sit directly in it"):
        gmm_apps.run("speakers", out=tmp_path / "flat", set=["data.label_from=folder"])


def test_recordings_from_several_devices_or_codecs_get_the_normalisation_that_copes_offered(tmp_path, gmm_log):
    import soundfile as sf

    mixed = tmp_path / "enrol"
    mixed.mkdir()
    for i, f in enumerate(sorted((SAMPLES / "enrol").glob("*.wav"))):
        y, sr = sf.read(f)
        sf.write(mixed / f"{f.stem}.{'flac' if i % 3 else 'wav'}", y, sr)
    hint = "features.normalise: mean_variance removes each one's channel"
    run(tmp_path, "mixed", f"data.enrol={mixed}", f"data.test={SAMPLES / 'test'}")
    assert "the enrolment recordings come in 2 formats (.flac x " in gmm_log.text and hint in gmm_log.text
    gmm_log.clear()
    run(tmp_path, "taken", f"data.enrol={mixed}", f"data.test={SAMPLES / 'test'}", "features.normalise=mean_variance")
    run(tmp_path, "one", f"data.enrol={SAMPLES / 'enrol'}", f"data.test={SAMPLES / 'test'}")
    assert hint not in gmm_log.text
