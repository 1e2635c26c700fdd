"""Anomaly detection with an analyst's verdicts: the blend is cross-fitted, helps, keeps the unsupervised views,
changes nothing without verdicts, and travels through files, apply --update and clear errors."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from gmm_apps import cli
from gmm_apps.errors import DataError
from gmm_apps.pipelines.anomaly.answers import parse_verdicts
from gmm_apps.pipelines.anomaly.config import AnomalyData
from gmm_apps.pipelines.anomaly.features import Schema
from gmm_apps.pipelines.anomaly.model import GMMDetector
from gmm_apps.pipelines.anomaly.verdicts import (
    LOCAL,
    NEAR,
    ecdf,
    nearest,
    percentile_grid,
    precision_at,
    pu_auc,
    to_percentiles,
)

SMALL = dict(n_components=(1, 4), seeds=2)


def two_kinds(seed=0, n=3000, d=6):
    """Normal records, a tight cluster of one kind of anomaly (moderately unusual to a density) and a few
    scattered anomalies of another kind (very unusual)."""
    rng = np.random.default_rng(seed)
    normal = rng.normal(0, 1, (n, d))
    kind_a = np.r_[2.2, 2.2, np.zeros(d - 2)] + rng.normal(0, 0.15, (60, d))
    direction = rng.normal(size=(15, d))
    kind_b = 7 * direction / np.linalg.norm(direction, axis=1, keepdims=True)
    X = np.r_[normal, kind_a, kind_b]
    kind = np.r_[np.zeros(n), np.ones(60), np.full(15, 2)].astype(int)
    return X, kind


def reveal(kind, rng, n_a=10, n_n=10):
    v = np.full(len(kind), np.nan)
    v[rng.choice(np.flatnonzero(kind == 1), n_a, replace=False)] = 1
    v[rng.choice(np.flatnonzero(kind == 0), n_n, replace=False)] = 0
    return v


def test_verdicts_of_one_kind_lift_it_and_leave_the_other_kind_found():
    X, kind = two_kinds()
    v = reveal(kind, np.random.default_rng(1))
    hidden = np.isnan(v)
    plain = GMMDetector(**SMALL).fit(X)
    det = GMMDetector(**SMALL).fit(X, verdicts=v)
    normal = hidden & (kind == 0)

    def auc(scores, k):
        rows = normal | (hidden & (kind == k))
        return roc_auc_score(kind[rows] == k, scores[rows])

    # the same unsupervised score underneath, byte for byte
    assert np.array_equal(det.unsupervised_scores_, plain.decision_scores_)
    assert auc(plain.decision_scores_, 1) < 0.97
    assert auc(det.decision_scores_, 1) > 0.995 > auc(plain.decision_scores_, 1)
    # the kind no verdict showed is still ranked above (nearly) every normal record
    assert auc(det.decision_scores_, 2) > 0.98
    v_kind = det.verdict_scores(X[kind > 0])
    names, near = v_kind.flagged_by, v_kind.nearest
    assert np.mean(np.isin(names[:60], [NEAR, LOCAL, "verdict classifier"])) > 0.8
    assert not np.isin(names[60:], [NEAR, LOCAL]).any()  # far from every confirmed anomaly: a view flagged them
    assert set(near[:60]) <= set(np.flatnonzero(v == 1).astype(str))


def test_a_labelled_record_is_never_scored_by_its_own_verdict():
    X, kind = two_kinds()
    v = reveal(kind, np.random.default_rng(2))
    planted = int(np.argmin(np.linalg.norm(X, axis=1)))  # the most ordinary record, labelled an anomaly
    v[planted] = 1
    det = GMMDetector(**SMALL).fit(X, verdicts=v)
    rank = (det.decision_scores_ < det.decision_scores_[planted]).mean()
    assert rank < 0.5  # cross-fitted: its distance is to the other confirmed anomalies
    # scored as a new record (its own verdict an anchor at distance 0) it would look anomalous
    assert det.decision_function(X[[planted]])[0] > np.quantile(det.decision_scores_, 0.75)


def test_without_anomaly_verdicts_the_fit_is_the_unsupervised_one():
    X, kind = two_kinds(n=800)
    plain = GMMDetector(**SMALL).fit(X)
    for v in (np.full(len(X), np.nan), np.where(kind == 0, 0.0, np.nan)):
        det = GMMDetector(**SMALL).fit(X, verdicts=v)
        assert det.verdicts_ is None
        assert np.array_equal(det.decision_scores_, plain.decision_scores_)
        assert det.threshold_ == plain.threshold_


def test_blend_round_trips_through_the_model_files(tmp_path):
    X, kind = two_kinds(n=800)
    det = GMMDetector(**SMALL).fit(
        X, verdicts=reveal(kind, np.random.default_rng(3), 5, 5), ids=np.arange(len(X)) + 100
    )
    det.save(tmp_path / "m", meta={})
    back, _ = GMMDetector.load(tmp_path / "m")
    np.testing.assert_array_equal(back.decision_function(X), det.decision_function(X))
    np.testing.assert_array_equal(back.verdict_scores(X).nearest, det.verdict_scores(X).nearest)
    assert np.array_equal(back.verdict_ids_, det.verdict_ids_) and min(back.verdict_ids_.astype(int)) >= 100


def test_helpers_against_brute_force():
    rng = np.random.default_rng(0)
    Q, anchors = rng.normal(size=(50, 3)), rng.normal(size=(4, 3))
    d, idx = nearest(Q, anchors)
    brute = np.linalg.norm(Q[:, None] - anchors[None], axis=2)
    np.testing.assert_allclose(d, brute.min(1), atol=1e-9)
    assert np.array_equal(idx, brute.argmin(1))
    # leaving out an anchor: the distance to the next nearest
    d2, _ = nearest(anchors, anchors, exclude=np.arange(4))
    np.testing.assert_allclose(d2, np.sort(np.linalg.norm(anchors[:, None] - anchors[None], axis=2), 1)[:, 1])
    # pu_auc equals scikit-learn's ROC-AUC of anomalies against negatives
    s = rng.normal(size=200)
    s[:20] += 1
    assert pu_auc(s, np.arange(20), np.arange(20, 200)) == pytest.approx(
        roc_auc_score(np.r_[np.ones(20), np.zeros(180)], s)
    )
    # percentiles: the reference's own values map to their ranks
    P = rng.normal(size=(1000, 2))
    qp = to_percentiles(P, percentile_grid(P))
    ranks = (np.argsort(np.argsort(P, axis=0), axis=0) + 0.5) / 1000
    assert np.abs(qp - ranks).max() < 0.01


def test_percentiles_beyond_the_reference_keep_their_order():
    rng = np.random.default_rng(5)
    ref = np.sort(np.round(rng.normal(size=500), 2))  # ties among them
    inside = rng.uniform(ref[0], ref[-1], 300)
    brute = ((ref[None] < inside[:, None]).sum(1) + 0.5 * (ref[None] == inside[:, None]).sum(1)) / len(ref)
    np.testing.assert_allclose(ecdf(ref, inside), brute)
    # beyond either end: strictly in order, never 0 or 1, from where the top (bottom) value alone would be
    above = ref[-1] + np.array([1e-12, 0.1, 1.0, 10.0, 1e3, 1e6])
    p = ecdf(ref, above)
    assert np.all(np.diff(p) > 0) and p[-1] < 1 and p[0] == pytest.approx(1 - 0.5 / len(ref))
    q = ecdf(ref, ref[0] - np.array([1e6, 10.0, 1e-12]))
    assert np.all(np.diff(q) > 0) and q[0] > 0 and q[-1] == pytest.approx(0.5 / len(ref))


def test_verdicts_on_the_records_ranked_highest_leave_them_in_order():
    # an analyst reviews the records the unsupervised score ranks highest: every one of them lies beyond every
    # unknown record, where all of them tied at a score of 1 and the precision with the verdicts read as 0
    X, kind = two_kinds(n=1500)
    plain = GMMDetector(**SMALL).fit(X)
    top = np.argsort(-plain.decision_scores_)[:30]
    v = np.full(len(X), np.nan)
    v[top] = kind[top] > 0
    assert 0 < np.nansum(v) < 30
    det = GMMDetector(**SMALL).fit(X, verdicts=v)
    labelled = det.decision_scores_[top]
    assert len(np.unique(labelled)) == 30 and labelled.max() < 1
    n = int(np.nansum(v))
    assert precision_at(det.verdicts_.labelled_scores_, v[np.sort(top)], n) >= 0.5


def test_verdict_values_other_than_0_1_empty_are_one_clear_error():
    v, bad = parse_verdicts(pd.Series([1, 0, None, "", "1", 1.0], dtype=object))
    assert bad is None and np.array_equal(np.isnan(v), [False, False, True, True, False, False])
    # yes / no and true / false (a spreadsheet's booleans) are verdicts too
    v, bad = parse_verdicts(pd.Series(["Yes", " no", "TRUE", "false", True, False, "y", "N"], dtype=object))
    assert bad is None and v.tolist() == [1, 0, 1, 0, 1, 0, 1, 0]
    # and an analyst's findings as case tools write them
    found = ["Fraud", "Legit", "False Positive", "true-positive", "TP", "fp", "Confirmed", "Not Fraud", "Genuine"]
    v, bad = parse_verdicts(pd.Series(found, dtype=object))
    assert bad is None and v.tolist() == [1, 0, 0, 1, 1, 0, 1, 0, 0]
    closed = ["Cleared", "Dismissed", "Confirmed Legitimate", "confirmed-fraud", "Not an anomaly"]
    v, bad = parse_verdicts(pd.Series(closed, dtype=object))
    assert bad is None and v.tolist() == [0, 0, 0, 1, 0]
    # a word that does not say which (a chargeback may be a dispute, not fraud) is refused, never guessed
    assert parse_verdicts(pd.Series(["Fraud", "Chargeback", "Suspicious"], dtype=object))[1] == 1
    df = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [3.0, 1, 2, 2], "seen": ["1", "", "maybe", "0"]})
    schema = Schema.learn(df, AnomalyData(id_column=None, label_column=None, verdict_column="seen"), "f.csv")
    assert schema.features == ["a", "b"]  # the verdict is never a feature
    with pytest.raises(DataError, match=r"f.csv: column 'seen' \(data.verdict_column\) has 'maybe' at data row 3"):
        schema.records(df, "f.csv")
    with pytest.raises(DataError, match="column 'Seen' .* not found, but 'seen' is"):
        Schema.learn(df, AnomalyData(id_column=None, label_column=None, verdict_column="Seen"), "f.csv")


def _files(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in Path(folder).rglob("*")
        if p.is_file()
    }


def test_pipeline_with_verdicts_empty_verdicts_and_apply_update(tmp_path, capsys):
    X, kind = two_kinds(n=1500)
    ref = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    ref.insert(0, "id", np.arange(len(ref)))
    ref["outlier"] = (kind > 0).astype(int)
    plain, empty = tmp_path / "plain.csv", tmp_path / "empty.csv"
    ref.to_csv(plain, index=False)
    ref.assign(seen="").to_csv(empty, index=False)
    quick = [
        "--quiet",
        "--set",
        "model.seeds=2",
        "--set",
        "model.components=[1, 4]",
        "--set",
        "report.plots=false",
        "--set",
        "data.score=null",
    ]
    cfg = str(Path(__file__).resolve().parents[1] / "configs" / "anomaly.yaml")
    assert cli.main(["run", cfg, "--out", str(tmp_path / "a"), *quick, "--set", f"data.path={plain}"]) == 0
    assert (
        cli.main(
            [
                "run",
                cfg,
                "--out",
                str(tmp_path / "b"),
                *quick,
                "--set",
                f"data.path={empty}",
                "--set",
                "data.verdict_column=seen",
            ]
        )
        == 0
    )
    # an empty verdict column adds nothing: the same scores, byte for byte
    assert (tmp_path / "a" / "scores.csv").read_bytes() == (tmp_path / "b" / "scores.csv").read_bytes()
    assert "verdicts" not in json.loads((tmp_path / "b" / "summary.json").read_text())

    # verdicts arrive with new records through apply --update
    v = reveal(kind, np.random.default_rng(4))
    new = tmp_path / "new.csv"
    ref.assign(seen=pd.array(np.where(np.isnan(v), pd.NA, v), dtype="Int64")).to_csv(new, index=False)
    before = _files(tmp_path / "b")
    assert cli.main(["apply", str(tmp_path / "b"), str(new), "--update", "--out", str(tmp_path / "u"), "--quiet"]) == 0
    assert _files(tmp_path / "b") == before  # the run itself is never changed
    updated, _ = GMMDetector.load(tmp_path / "u" / "model")
    original, _ = GMMDetector.load(tmp_path / "b" / "model")
    assert original.verdicts_ is None and updated.verdicts_ is not None
    assert updated.verdicts_.n_anomalies_ == 10 and updated.verdicts_.n_normals_ == 10
    summary = json.loads((tmp_path / "u" / "summary.json").read_text())
    assert summary["update"]["verdicts"] == {"anomalies": 10, "normals": 10}
    # the same column from Python, with the records in memory
    import gmm_apps

    via_api = gmm_apps.load_run(tmp_path / "b").apply(pd.read_csv(new), out=tmp_path / "api", update=True)
    assert via_api.summary["update"]["verdicts"] == {"anomalies": 10, "normals": 10}
    assert _files(tmp_path / "b") == before
    assert cli.main(["apply", str(tmp_path / "u"), str(plain), "--out", str(tmp_path / "s"), "--quiet"]) == 0
    scores = pd.read_csv(tmp_path / "s" / "scores.csv")
    hidden = np.isnan(v) & (kind != 2)
    assert (
        roc_auc_score(kind[hidden] == 1, scores["score"][hidden])
        > roc_auc_score(kind[hidden] == 1, scores["unsupervised_score"][hidden]) + 0.02
    )

    # a run with verdicts: the report shows the loop, the summary the precision before and after
    verdict_file = tmp_path / "ref_v.csv"
    ref.assign(seen=pd.array(np.where(np.isnan(v), pd.NA, v), dtype="Int64")).to_csv(verdict_file, index=False)
    assert (
        cli.main(
            [
                "run",
                cfg,
                "--out",
                str(tmp_path / "c"),
                *quick,
                "--set",
                f"data.path={verdict_file}",
                "--set",
                "data.verdict_column=seen",
            ]
        )
        == 0
    )
    s = json.loads((tmp_path / "c" / "summary.json").read_text())["verdicts"]
    assert s["used"] and s["anomalies"] == 10 and s["precision_after"] >= s["precision_before"]
    html = (tmp_path / "c" / "report.html").read_text()
    assert "Learning from the verdicts" in html and "near a confirmed anomaly" in html

    # a bad verdict: one line naming the file, column and row; nothing written
    ref.assign(seen=["maybe"] + [""] * (len(ref) - 1)).to_csv(tmp_path / "bad.csv", index=False)
    capsys.readouterr()
    assert (
        cli.main(
            [
                "run",
                cfg,
                "--out",
                str(tmp_path / "x"),
                *quick,
                "--set",
                f"data.path={tmp_path / 'bad.csv'}",
                "--set",
                "data.verdict_column=seen",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "column 'seen' (data.verdict_column) has 'maybe' at data row 1" in err[0]
    assert not (tmp_path / "x").exists()


def test_verdicts_in_a_table_of_their_own_are_joined_by_record_id(tmp_path, capsys):
    """A case tool's export (case id, record id under its own header, outcome as yes / no) gives the same fit as
    the same verdicts written in a column of the records; apply --update joins the verdicts given since."""
    import gmm_apps

    X, kind = two_kinds(n=1500)
    ref = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    ref.insert(0, "id", [f"T{i:05d}" for i in range(len(ref))])
    v = reveal(kind, np.random.default_rng(4))
    words = pd.Series(np.where(np.isnan(v), "", np.where(v == 1, "yes", "no")))
    cases = pd.DataFrame({"case": range(len(ref)), "Transaction ID": ref["id"], "outcome": words})[~np.isnan(v)]
    cases = pd.concat([cases, pd.DataFrame({"case": [-1], "Transaction ID": ["T99999"], "outcome": ["yes"]})])
    cases.to_excel(tmp_path / "cases.xlsx", index=False)
    ref.to_csv(tmp_path / "ref.csv", index=False)
    ref.assign(outcome=words).to_csv(tmp_path / "ref_col.csv", index=False)
    quick = ["model.seeds=2", "model.components=[1, 4]", "report.plots=false", "data.score=null"]
    table = gmm_apps.run(
        "anomaly",
        out=tmp_path / "t",
        set=[
            *quick,
            f"data.path={tmp_path / 'ref.csv'}",
            f"data.verdicts={tmp_path / 'cases.xlsx'}",
            "data.verdict_column=outcome",
        ],
    )
    gmm_apps.run(
        "anomaly",
        out=tmp_path / "c",
        set=[*quick, f"data.path={tmp_path / 'ref_col.csv'}", "data.verdict_column=outcome"],
    )
    assert table.summary["verdicts"]["anomalies"] == 10 and table.summary["verdicts"]["normals"] == 10
    assert (tmp_path / "t" / "scores.csv").read_bytes() == (tmp_path / "c" / "scores.csv").read_bytes()

    # apply --update: verdicts for new records, given since in the same table, are learned from
    new = ref.assign(id=[f"N{i:05d}" for i in range(len(ref))])
    new.to_csv(tmp_path / "new.csv", index=False)
    later = pd.DataFrame({"Transaction ID": new["id"], "outcome": words})[~np.isnan(v)]
    pd.concat([cases, later]).to_excel(tmp_path / "cases.xlsx", index=False)
    u = table.apply(tmp_path / "new.csv", out=tmp_path / "u", update=True)
    assert u.summary["update"]["verdicts"] == {"anomalies": 20, "normals": 20}  # the run's and the new ones

    # what is refused, in one line
    def refused(*sets):
        return gmm_apps.run("anomaly", out=tmp_path / "x", set=[*quick, f"data.path={tmp_path / 'ref.csv'}", *sets])

    with pytest.raises(DataError, match=r"cases.xlsx: column 'verdict' \(data.verdict_column\) not found"):
        refused(f"data.verdicts={tmp_path / 'cases.xlsx'}")
    pd.DataFrame({"id": ["T00001", "T00001"], "verdict": [1, 0]}).to_csv(tmp_path / "twice.csv", index=False)
    with pytest.raises(DataError, match="record 'T00001' has two different verdicts"):
        refused(f"data.verdicts={tmp_path / 'twice.csv'}")
    pd.DataFrame({"ref": ["x", "y"], "verdict": [1, 0]}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(DataError, match="no column 'id' \\(data.id_column\\) to name the records by, and no column"):
        refused(f"data.verdicts={tmp_path / 'other.csv'}")
    with pytest.raises(DataError, match="the records hold a column 'outcome' and data.verdicts"):
        gmm_apps.run(
            "anomaly",
            out=tmp_path / "x",
            set=[
                *quick,
                f"data.path={tmp_path / 'ref_col.csv'}",
                f"data.verdicts={tmp_path / 'cases.xlsx'}",
                "data.verdict_column=outcome",
            ],
        )


def test_verdicts_written_beside_a_runs_scores_are_read_back_for_records_without_ids(tmp_path, gmm_log):
    """Records without an id column are named in scores.csv by their place in the file: an analyst's verdicts
    written in a copy of it (its id column) are joined by that place, as the same verdicts in a column of the
    records are, with data.id_column null or left at its default."""
    import gmm_apps

    X, kind = two_kinds(n=1500)
    ref = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    ref.to_csv(tmp_path / "ref.csv", index=False)
    quick = ["model.seeds=2", "model.components=[1, 4]", "report.plots=false", "data.score=null"]
    first = gmm_apps.run("anomaly", out=tmp_path / "first", set=[*quick, f"data.path={tmp_path / 'ref.csv'}"])
    reviewed = first.tables["scores"].sort_values("score", ascending=False).head(30)
    reviewed = reviewed.assign(verdict=np.where(kind[reviewed["id"]] > 0, "confirmed", "dismissed"))
    reviewed.to_excel(tmp_path / "reviewed.xlsx", index=False)
    v = np.full(len(ref), np.nan)
    v[reviewed["id"]] = kind[reviewed["id"]] > 0
    ref.assign(verdict=v).to_csv(tmp_path / "ref_col.csv", index=False)
    want = gmm_apps.run(
        "anomaly",
        out=tmp_path / "col",
        set=[*quick, f"data.path={tmp_path / 'ref_col.csv'}", "data.verdict_column=verdict"],
    )
    assert want.summary["verdicts"]["anomalies"] == int((kind[reviewed["id"]] > 0).sum()) > 0
    for name, ids in (("default", []), ("null", ["data.id_column=null"])):
        sets = [*quick, f"data.path={tmp_path / 'ref.csv'}", f"data.verdicts={tmp_path / 'reviewed.xlsx'}", *ids]
        got = gmm_apps.run("anomaly", out=tmp_path / name, set=sets)
        assert (tmp_path / name / "scores.csv").read_bytes() == (tmp_path / "col" / "scores.csv").read_bytes(), name
    assert "column 'id' names them by their place in" in gmm_log.text
    assert got.summary["verdicts"] == want.summary["verdicts"]
    # an id column named outright must be there
    with pytest.raises(DataError, match="column 'case' \\(data.id_column\\) not found"):
        gmm_apps.run("anomaly", out=tmp_path / "x", set=[*sets[:-1], "data.id_column=case"])
