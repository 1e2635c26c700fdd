"""Who spoke when: a recording of several speakers identified window by window (``data.window_seconds``)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from gmm_apps import cli
from gmm_apps.pipelines.speakers.frames import window_edges
from gmm_apps.pipelines.speakers.windows import NO_SPEECH, turns_of

REPO = Path(__file__).resolve().parents[1]
TEST = REPO / "gmm_apps" / "samples" / "fsdd_sample" / "test"
RATE = 8000


def test_windows_lie_on_a_grid_and_a_short_last_piece_joins_the_one_before():
    assert window_edges(10 * RATE, RATE, 3).tolist() == [0, 3 * RATE, 6 * RATE, 10 * RATE]  # 9-10 s joins 6-9 s
    assert window_edges(11 * RATE, RATE, 3).tolist() == [0, 3 * RATE, 6 * RATE, 9 * RATE, 11 * RATE]
    assert window_edges(9 * RATE, RATE, 3).tolist() == [0, 3 * RATE, 6 * RATE, 9 * RATE]
    assert window_edges(RATE, RATE, 3).tolist() == [0, RATE]  # shorter than a window: one window


def meeting(folder):
    """george says six digits, three seconds of silence, lucas six, george four; the turns (start, end, who)."""
    parts, turns, t = [], [], 0.0
    for who, n in (("george", 6), (None, 0), ("lucas", 6), ("george", 4)):
        start = t
        if who is None:
            parts.append(np.zeros(3 * RATE))
            t += 3.0
        for f in sorted(TEST.glob(f"*_{who}_*.wav"))[:n]:
            y, sr = sf.read(f)
            assert sr == RATE
            parts += [y, np.zeros(int(0.15 * RATE))]
            t += len(y) / RATE + 0.15
        turns.append((start, t, who))
    folder.mkdir()
    sf.write(folder / "meeting.wav", np.concatenate(parts), RATE)
    return turns


def test_a_meeting_is_told_window_by_window(tmp_path):
    turns = meeting(tmp_path / "meetings")
    out = tmp_path / "run"
    sets = [
        "--set",
        f"data.test={tmp_path / 'meetings'}",
        "--set",
        "data.window_seconds=1",
        "--set",
        "report.plots=true",
    ]
    assert cli.main(["run", str(REPO / "configs" / "speakers.yaml"), "--out", str(out), "--quiet", *sets]) == 0
    windows = pd.read_csv(out / "windows.csv", keep_default_na=False, na_values=[""])
    length = turns[-1][1]
    assert windows["start_s"].iloc[0] == 0 and windows["end_s"].iloc[-1] == pytest.approx(length, abs=1e-3)
    assert (windows["start_s"].iloc[1:].to_numpy() == windows["end_s"].iloc[:-1].to_numpy()).all()
    # the time each window gives its best speaker, against who spoke then
    said = 0.0
    for w in windows.itertuples():
        for a, b, who in turns:
            if who is not None and who == w.predicted:
                said += max(0.0, min(b, w.end_s) - max(a, w.start_s))
    spoken = sum(b - a for a, b, who in turns if who is not None)
    assert said / spoken > 0.85, said / spoken
    # the silence is no speech: the windows wholly inside it
    quiet = windows[(windows["start_s"] >= turns[1][0]) & (windows["end_s"] <= turns[1][1])]
    assert len(quiet) >= 2 and quiet["predicted"].isna().all() and quiet["unknown"].all()
    # turns are the windows of one answer in a row, by brute force
    found = pd.read_csv(out / "turns.csv")
    assert found.equals(turns_of(windows.assign(predicted=windows["predicted"].astype(object))))
    answer = [
        NO_SPEECH if p != p else ("(unknown)" if u else p) for p, u in zip(windows["predicted"], windows["unknown"])
    ]
    assert len(found) == 1 + sum(a != b for a, b in zip(answer, answer[1:]))
    assert found["windows"].sum() == len(windows) and NO_SPEECH in set(found["speaker"])
    summary = json.loads((out / "summary.json").read_text())
    talk = summary["talk_time_s"][str(tmp_path / "meetings" / "meeting.wav")]
    assert sum(talk.values()) == pytest.approx(length, abs=1e-3) and max(talk, key=talk.get) == "george"
    assert "who spoke when: " in summary["headline"] and (out / "plots" / "timeline.png").is_file()
    assert "Who spoke when" in (out / "report.html").read_text()
    # apply: the same windows for the same recording, from the saved model and the run's config
    assert cli.main(["apply", str(out), str(tmp_path / "meetings"), "--out", str(tmp_path / "later"), "--quiet"]) == 0
    assert (tmp_path / "later" / "windows.csv").read_bytes() == (out / "windows.csv").read_bytes()
    assert (tmp_path / "later" / "turns.csv").read_bytes() == (out / "turns.csv").read_bytes()
