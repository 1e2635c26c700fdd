"""Who spoke when: a recording of several speakers identified window by window (``data.window_seconds``)."""

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from gmm_apps import cli
from gmm_apps.pipelines.speakers.frames import window_edges
from gmm_apps.pipelines.speakers.windows import NO_SPEECH, decode, turns_of

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
    # turns are the windows of one answer in a row, by brute force; a window without speech has none
    found = pd.read_csv(out / "turns.csv")
    assert found.equals(turns_of(windows))
    answer = windows["speaker"].tolist()
    assert len(found) == 1 + sum(a != b for a, b in zip(answer, answer[1:]))
    assert (windows["speaker"] == NO_SPEECH).tolist() == windows["predicted"].isna().tolist()
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
    # no penalty: each window keeps its own answer, and the turns are no fewer
    alone = tmp_path / "alone"
    sets += ["--set", "data.switch_penalty=0", "--set", "report.plots=false"]
    assert cli.main(["run", str(REPO / "configs" / "speakers.yaml"), "--out", str(alone), "--quiet", *sets]) == 0
    own = pd.read_csv(alone / "windows.csv", keep_default_na=False, na_values=[""])
    answer = [NO_SPEECH if p != p else ("(unknown)" if u else p) for p, u in zip(own["predicted"], own["unknown"])]
    assert own["speaker"].tolist() == answer and summary["switch_penalty"] == 1
    assert len(pd.read_csv(alone / "turns.csv")) >= len(found)


def brute_force_path(S, threshold, penalty, seconds):
    """The best sequence of answers over every sequence there is."""
    E = np.column_stack([S, np.full(len(S), threshold)]) * seconds[:, None]
    best, best_path = -np.inf, None
    for path in itertools.product(range(E.shape[1]), repeat=len(E)):
        total = E[np.arange(len(E)), path].sum() - penalty * sum(a != b for a, b in zip(path, path[1:]))
        if total > best:
            best, best_path = total, path
    return np.array(best_path)


@pytest.mark.parametrize("seed", range(6))
def test_decoding_finds_the_best_sequence_of_answers(seed):
    rng = np.random.default_rng(seed)
    S, seconds = rng.normal(size=(6, 3)), rng.uniform(0.2, 1.0, size=6)
    for penalty in (0.0, 0.3, 1.0, 5.0):
        assert decode(S, 0.2, penalty, seconds).tolist() == brute_force_path(S, 0.2, penalty, seconds).tolist()


def test_without_a_penalty_each_window_keeps_its_own_answer():
    rng = np.random.default_rng(0)
    S = rng.normal(size=(200, 4))
    own = np.where(S.max(axis=1) < 0.5, 4, S.argmax(axis=1))
    assert decode(S, 0.5, 0.0, np.ones(200)).tolist() == own.tolist()
    assert decode(S, None, 0.0, np.ones(200)).tolist() == S.argmax(axis=1).tolist()  # no threshold: never unknown


def test_a_short_flicker_inside_a_turn_is_absorbed_and_a_real_change_is_not():
    # speaker 0 for 6 windows with one window that leans to 1, then speaker 1 for 6 windows
    S = np.array([[2.0, 0.0]] * 3 + [[0.4, 0.9]] + [[2.0, 0.0]] * 2 + [[0.0, 2.0]] * 6)
    seconds = np.ones(len(S))
    assert decode(S, -1.0, 0.0, seconds).tolist() == [0, 0, 0, 1, 0, 0] + [1] * 6
    assert decode(S, -1.0, 1.0, seconds).tolist() == [0] * 6 + [1] * 6
    # a window with less speech weighs less: the same flicker over 0.1 s is absorbed by a smaller penalty
    seconds[3] = 0.1
    assert decode(S, -1.0, 0.06, seconds).tolist() == [0] * 6 + [1] * 6


def test_a_switch_penalty_without_windows_is_refused(capsys):
    code = cli.main(["run", str(REPO / "configs" / "speakers.yaml"), "--set", "data.switch_penalty=2", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "data.switch_penalty is read only with data.window_seconds" in err
    assert "Traceback" not in err
