"""The anomaly pipeline: schema and encoding, the detector's PyOD contract, explanations, streaming apply."""

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

import gmm_apps
from gmm_apps import cli
from gmm_apps.core import FeatureScaler, load_arrays, save_arrays
from gmm_apps.errors import DataError, ModelFileError
from gmm_apps.pipelines.anomaly.config import AnomalyData
from gmm_apps.pipelines.anomaly.data import read_frame
from gmm_apps.pipelines.anomaly.features import Schema
from gmm_apps.pipelines.anomaly.model import GMMDetector
from gmm_apps.pipelines.anomaly.thresholds import score_spread
from gmm_apps.run_context import MARKER

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "gmm_apps" / "samples"
ODDS = REPO.parent / "shared" / "datasets" / "odds"


def planted(n=2000, d=5, n_out=40, seed=0):
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(0, 1, (n // 2, d)), rng.normal(6, 1, (n // 2, d))]
    out = rng.uniform(-8, 14, (n_out, d))
    out = out[np.min([np.linalg.norm(out - c, axis=1) for c in (0, 6)], axis=0) > 5]
    y = np.r_[np.zeros(len(X)), np.ones(len(out))].astype(int)
    return np.r_[X, out], y


def test_median_iqr_scaler_by_hand():
    X = np.array([[1.0, 5], [2, 5], [3, 5], [4, 5], [100, 5]])
    s = FeatureScaler.median_iqr(X)
    assert s.center.tolist() == [3.0, 5.0]
    assert s.scale[0] == pytest.approx(2 / 1.349) and s.scale[1] == 1.0  # constant column: unit scale


def test_detector_finds_planted_outliers_and_follows_the_pyod_contract():
    X, y = planted()
    det = GMMDetector(contamination=0.02, random_state=0, bags=3).fit(X)
    assert roc_auc_score(y, det.decision_scores_) > 0.99
    assert det.labels_.mean() == pytest.approx(0.02, abs=0.002)
    np.testing.assert_array_equal(det.predict(X), det.labels_)
    np.testing.assert_allclose(det.decision_function(X), det.decision_scores_)
    p = det.predict_proba(X)
    assert p.shape == (len(X), 2) and np.allclose(p.sum(1), 1) and p[y == 1, 1].mean() > p[y == 0, 1].mean()
    det.set_threshold(rate=0.01)
    assert (det.decision_scores_[y == 0] > det.threshold_).mean() <= 0.012
    det.set_threshold(value=3.0)
    assert det.threshold_ == 3.0


def test_score_is_the_largest_standardised_view_seeds_averaged_features_summed():
    X, _ = planted(n=600, n_out=20)
    d = X.shape[1]
    calls = []
    det = GMMDetector(n_components=[1, 4], seeds=3, random_state=0).fit(X, progress=lambda i, n: calls.append((i, n)))
    assert calls == [(1, 4 + d), (4, 4 + d), (4 + d, 4 + d)]  # K=1, the 3 seeds of K=4, then one per feature
    assert [g.n_components for _, g in det.members_][:4] == [1, 4, 4, 4]
    assert [list(c) for c, _ in det.members_[4:]] == [[j] for j in range(d)]
    assert det.view_names() == ["K=1", "K=4", "per-feature"]
    # by hand, with scipy's densities for the per-feature mixtures
    Z = (X - np.median(X, 0)) / ((np.percentile(X, 75, 0) - np.percentile(X, 25, 0)) / 1.349)
    joint = [-g.score_samples(Z) for _, g in det.members_[:4]]
    marg = sum(
        -np.log(
            sum(w * norm.pdf(Z[:, c[0]], m[0], np.sqrt(v[0])) for w, m, v in zip(g.weights_, g.means_, g.covariances_))
        )
        for c, g in det.members_[4:]
    )
    views = [joint[0], (joint[1] + joint[2] + joint[3]) / 3, marg]
    std = [(r - np.median(r)) / (np.percentile(r, 75) - np.percentile(r, 25)) for r in views]
    # (the detector takes the mixtures' exponentials in float32: about 1e-7 of a log-density)
    np.testing.assert_allclose(det.decision_scores_, np.max(std, axis=0), rtol=1e-6, atol=1e-6)
    mean = GMMDetector(n_components=[1, 4], seeds=3, random_state=0, combine="mean").fit(X)
    np.testing.assert_allclose(mean.decision_scores_, np.mean(std, axis=0), rtol=1e-6, atol=1e-6)
    # the three K=4 members are different starts, not copies
    assert not np.allclose(det.members_[1][1].means_, det.members_[2][1].means_)
    # K capped to the same value (at most one component per 10 records) is one view, not two
    small = GMMDetector(n_components=[1, 4, 8], seeds=2, random_state=0, marginal_components=0).fit(X[:40])
    assert [g.n_components for _, g in small.members_] == [1, 4, 4] and small.view_matrix_.shape == (3, 2)


def test_a_tight_far_cluster_absorbed_by_the_many_component_views_is_still_found():
    # 12 records close together, 5 deviations out in one feature: mixtures with 8-32 components give them a
    # component of their own; the one-component view sees them far out, and the largest view keeps that
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 6))
    X[:12] = rng.normal(0, 0.05, (12, 6)) + [0, 0, 5.0, 0, 0, 0]
    y = np.r_[np.ones(12), np.zeros(388)]
    largest = GMMDetector(random_state=0).fit(X)
    mean = GMMDetector(random_state=0, combine="mean").fit(X)
    assert roc_auc_score(y, largest.decision_scores_) > 0.95 > roc_auc_score(y, mean.decision_scores_) + 0.2


def test_the_per_feature_view_scores_a_missing_value_at_the_feature_s_mean():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(500, 4))
    det = GMMDetector(n_components=[1, 2], seeds=2, random_state=0, missing="marginalize").fit(X)
    marginal = ~np.isnan(det.member_fill_)
    assert [int(c[0]) for (c, _), m in zip(det.members_, marginal) if m] == [0, 1, 2, 3]
    Z = det.scaler_.transform(X)
    for i, (c, g) in enumerate(det.members_):
        if not np.isnan(det.member_fill_[i]):
            assert det.member_fill_[i] == pytest.approx(np.mean(-g.score_samples(Z[:, c])))
    holes = X[:20].copy()
    holes[:, 1] = np.nan
    raw = det._raw_members(det.scaler_.transform(holes))
    i1 = next(i for i, (c, _) in enumerate(det.members_) if len(c) == 1 and c[0] == 1)
    np.testing.assert_allclose(raw[:, i1], det.member_fill_[i1])
    assert np.isfinite(det.decision_function(holes)).all()


def test_an_explanation_names_no_feature_that_explains_nothing():
    X, _ = planted(n=600, n_out=0)
    det = GMMDetector(n_components=[1, 4], seeds=2, random_state=0).fit(X)
    odd = X[:1].copy()
    odd[0, 3] += 400  # odd in one feature alone, the others ordinary
    contrib, _ = det.contributions(odd)
    assert (contrib[0, [0, 1, 2, 4]] / np.nansum(contrib[0]) < 0.005).all()  # their shares round to 0%
    why = det.explain(odd, top=3, names=list("abcde"))[0]
    assert len(why) == 1 and why[0].startswith("d high"), why


def test_a_record_in_a_small_cluster_is_said_to_be_in_one(monkeypatch):
    X, _ = planted(n=600, n_out=0)
    det = GMMDetector(n_components=[1, 4, 16], seeds=1, random_state=0, combine="mean", marginal_components=0).fit(X)
    # with the mean of the views, the finest diagonal view explains every record: its share is the weight of the
    # record's most responsible component there, the share of the reference records that component holds
    g = det.members_[det._view_members(det.view_names().index("K=16"))[0]][1]
    Z = det.scaler_.transform(X[:50])
    np.testing.assert_array_equal(det.cluster_shares(X[:50]), g.weights_[g.predict(Z)])
    assert det.cluster_shares(X[:50]).min() > 0.01  # clusters of the planted halves: not small
    assert not any("small cluster" in e for why in det.explain(X[:50], names=list("abcde")) for e in why)
    # a cluster of fewer than 1% of the reference records is named, after the features
    monkeypatch.setattr(GMMDetector, "_cluster_shares", lambda self, P, view: np.array([0.004, 0.0004, 0.02]))
    said = det.explain(X[:3], top=1, names=list("abcde"))
    assert [why[1:] for why in said] == [
        ["in a small cluster: 0.4% of the reference records"],
        ["in a small cluster: 0.04% of the reference records"],
        [],
    ]


def test_a_runaway_value_in_the_reference_is_the_top_anomaly_not_a_failed_fit():
    X, _ = planted(n=600, n_out=0)
    before = GMMDetector(n_components=[1, 4], seeds=2, random_state=0).fit(X)
    X[11, 2] = 1e25  # an export's corrupted cell, far beyond the bound the mixtures learn within
    det = GMMDetector(n_components=[1, 4], seeds=2, random_state=0).fit(X)
    assert np.isfinite(det.decision_scores_).all() and int(np.argmax(det.decision_scores_)) == 11
    (why,) = det.explain(X[[11]], top=1, names=[f"x{j}" for j in range(5)])[0]
    assert re.fullmatch(r"x2 high \(z=\+\d(\.\d)?e\+2\d, 100%\)", why), why  # e.g. z=+3e+24
    others = np.delete(np.arange(len(X)), 11)  # the other records score about as without it
    assert np.corrcoef(det.decision_scores_[others], before.decision_scores_[others])[0, 1] > 0.9


def test_detector_files_of_every_version_load_and_score_as_written(tmp_path):
    X, _ = planted(n=400, n_out=10)
    det = GMMDetector(n_components=[1, 2], seeds=2, random_state=0).fit(X)
    det.save(tmp_path / "m", meta={})
    new, _ = GMMDetector.load(tmp_path / "m")
    assert new.combine == "max"
    np.testing.assert_allclose(new.weights_, det.weights_)
    np.testing.assert_allclose(new.view_matrix_, det.view_matrix_)
    np.testing.assert_allclose(new.member_fill_, det.member_fill_)
    np.testing.assert_allclose(new.decision_function(X), det.decision_scores_, rtol=1e-12)
    # older files: every member a view of its own, the weighted mean of the standardised members
    old_style = GMMDetector(n_components=[1, 2, 3], seeds=1, random_state=0, marginal_components=0, combine="mean").fit(
        X
    )
    old_style.save(tmp_path / "o", meta={})
    head, arrays = load_arrays(tmp_path / "o" / "detector.npz", format=GMMDetector.FORMAT, max_version=4)
    del arrays["view_matrix"], arrays["member_fill"], head["combine"]  # version 3 had none of them
    save_arrays(tmp_path / "o" / "detector.npz", arrays, format=GMMDetector.FORMAT, format_version=3, meta=head)
    v3, _ = GMMDetector.load(tmp_path / "o")
    assert v3.combine == "mean" and v3.member_fill_ is None
    np.testing.assert_allclose(v3.decision_function(X), old_style.decision_scores_, rtol=1e-12)
    # a version-1 detector.json as gmm_apps wrote it before detector.npz
    head = {
        "format": "gmm_apps.GMMDetector",
        "format_version": 1,
        "n_members": len(old_style.members_),
        "scaler_center": old_style.scaler_.center.tolist(),
        "scaler_scale": old_style.scaler_.scale.tolist(),
        "med": old_style.med_.tolist(),
        "iqr": old_style.iqr_.tolist(),
        "threshold": old_style.threshold_,
        "train_score_mean": old_style.score_mean_,
        "train_score_std": old_style.score_std_,
        "meta": {},
    }
    (tmp_path / "o" / "detector.npz").unlink()
    (tmp_path / "o" / "detector.json").write_text(json.dumps(head))
    v1, _ = GMMDetector.load(tmp_path / "o")
    np.testing.assert_allclose(v1.weights_, [1 / 3] * 3)
    np.testing.assert_allclose(v1.decision_function(X), old_style.decision_scores_, rtol=1e-12)
    # saved before the probability's spread: the reference scores' deviation, which those files kept, is the spread
    assert new.score_spread_ == det.score_spread_ and v1.score_spread_ == old_style.score_std_
    np.testing.assert_allclose(
        v1.predict_proba(X)[:, 1], norm.cdf((v1.decision_function(X) - v1.threshold_) / v1.score_std_)
    )


def test_probability_is_above_one_half_for_a_flagged_record_and_one_extreme_record_moves_no_other():
    X, _ = planted(n=1000, n_out=10)
    det = GMMDetector(n_components=[1, 2], seeds=2, random_state=0).fit(X)
    s, t = det.decision_scores_, det.threshold_
    p = det.predict_proba(X)[:, 1]
    # by hand: the normal CDF of the distance from the threshold, the median record at the share flagged
    r = np.mean(s > t)
    spread = (t - np.median(s)) / norm.ppf(1 - r)
    np.testing.assert_allclose(p, norm.cdf((s - t) / spread), rtol=1e-12, atol=1e-300)
    assert det.labels_.any() and (det.labels_ == (p > 0.5)).all()
    assert norm.cdf((np.median(s) - t) / spread) == pytest.approx(r)
    # new records: flagged above threshold_new_, and their probabilities say the same
    Xn, _ = planted(n=400, n_out=20, seed=1)
    det.set_threshold(rate=det.contamination, held_out=s + 0.4)
    assert det.threshold_new_ > det.threshold_
    assert ((det.predict_proba(Xn)[:, 1] > 0.5) == det.predict(Xn)).all()
    # one record a million times farther out than any other: PyOD's 'unify' (mean and deviation of the scores)
    # would put every other record's probability near 0; here they keep theirs
    far = GMMDetector(n_components=[1, 2], seeds=2, random_state=0).fit(np.r_[X, [[1e6] * X.shape[1]]])
    q = far.proba_from_scores(far.decision_scores_, reference=True)[:, 1]
    assert q[-1] == 1.0 and (q[:-1] > 0.5).sum() == far.labels_[:-1].sum() >= 0.09 * len(X)
    assert (erf_unify(far.decision_scores_)[:-1] > 0.5).sum() == 0  # what the extreme record did before
    assert score_spread(np.r_[s, 1e6 * s.max()], t) == pytest.approx(score_spread(s, t), rel=0.01)
    # a threshold set at a fixed value above every record: the scores' IQR sets the scale
    det.set_threshold(value=s.max() + 1)
    q75, q25 = np.percentile(s, [75, 25])
    np.testing.assert_allclose(det.predict_proba(X)[:, 1], norm.cdf((s - s.max() - 1) / ((q75 - q25) / 1.349)))
    det.set_threshold(rate=0.1).update(Xn)  # streaming: the spread follows the threshold
    assert ((det.predict_proba(Xn)[:, 1] > 0.5) == det.predict(Xn)).all() and det.predict(Xn).any()


def erf_unify(s):
    """PyOD's predict_proba(method='unify'): the normal CDF's erf form of the standardised score, clipped at 0."""
    from scipy.special import erf  # only this reference needs it

    return np.clip(erf((s - s.mean()) / (s.std() * np.sqrt(2))), 0, 1)


@pytest.mark.skipif(not ODDS.is_dir(), reason="../shared/datasets/odds not present")
def test_default_detector_beats_isolation_forest_on_small_odds_sets():
    from scipy.io import loadmat
    from sklearn.ensemble import IsolationForest

    ours, forest = [], []
    for name in ["glass", "hepatitis", "ionosphere", "wbc", "wine"]:
        d = loadmat(ODDS / f"{name}.mat")
        X, y = d["X"].astype(float), d["y"].ravel()
        ours.append(roc_auc_score(y, GMMDetector().fit(X).decision_scores_))
        forest.append(roc_auc_score(y, -IsolationForest(random_state=0).fit(X).score_samples(X)))
    assert np.mean(ours) > np.mean(forest) + 0.02, (ours, forest)


def test_robust_fit_survives_contaminated_reference():
    X, y = planted(n_out=400, seed=1)
    plain = GMMDetector(random_state=0, bags=0).fit(X)
    trimmed = GMMDetector(random_state=0, bags=0, trim=0.1).fit(X)
    assert roc_auc_score(y, trimmed.decision_scores_) >= roc_auc_score(y, plain.decision_scores_) - 1e-3


def test_explanations_name_the_feature_that_carries_the_score():
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (1000, 4)) @ np.diag([1.0, 3.0, 0.5, 2.0])
    det = GMMDetector(random_state=0, bags=0, n_components=[1, 2]).fit(X)
    for j in range(4):  # a planted deviation of 6 of that feature's own deviations, one feature at a time
        odd = np.zeros((1, 4))
        odd[0, j] = -6.0 * [1.0, 3.0, 0.5, 2.0][j]
        contrib, z = det.contributions(odd)
        assert np.argmax(contrib[0]) == j and contrib[0, j] / contrib[0].sum() > 0.8
        why = det.explain(odd, top=2, names=["a", "b", "c", "d"])[0]
        share = int(why[0].split(", ")[1].rstrip("%)"))
        assert why[0].startswith(f"{'abcd'[j]} low (z=") and share == round(100 * contrib[0, j] / contrib[0].sum())
    # the contributions are the record's negative log-likelihood under its component, up to the constant:
    # with combine="mean" in the finest joint view
    mean = GMMDetector(random_state=0, bags=0, n_components=[1, 2], combine="mean").fit(X)
    g = max((g for c, g in mean.members_ if len(c) == 4), key=lambda g: g.n_components)
    Z = mean.scaler_.transform(X[:5])
    k = g.predict(Z)
    nll = -g.component_log_density(Z)[np.arange(5), k]
    const = 0.5 * np.log(2 * np.pi * np.diagonal(g.covariance_matrices(), axis1=1, axis2=2)[k]).sum(axis=1)
    np.testing.assert_allclose(mean.contributions(X[:5])[0].sum(axis=1), nll - const, rtol=1e-9)
    # with combine="max" in the view that gives each record its score; in the per-feature view, feature
    # by feature under its own mixture's component (scipy's normal density as the reference)
    Z = det.scaler_.transform(X)
    S = (det._raw(Z) - det.med_) / det.iqr_
    per_feature = det.view_matrix_.shape[1] - 1
    rows = np.flatnonzero(S.argmax(axis=1) == per_feature)[:5]
    assert len(rows)
    contrib = det.contributions(X[rows])[0]
    for c, g in det.members_[-4:]:
        x = Z[rows, c[0]]
        k = g.predict(x[:, None])
        sd = np.sqrt(g.covariances_[k, 0])
        by_hand = -norm.logpdf(x, g.means_[k, 0], sd) - 0.5 * np.log(2 * np.pi * sd**2)
        np.testing.assert_allclose(contrib[:, c[0]], by_hand, rtol=1e-9)


def test_explanations_of_a_tight_far_cluster_name_its_feature():
    # the finest joint view gives the cluster a component of its own, so its deviations there are noise;
    # the view that flags the records (few components, or per feature) names the feature that moved
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 6))
    X[:12] = rng.normal(0, 0.05, (12, 6)) + [0, 0, 5.0, 0, 0, 0]
    det = GMMDetector(random_state=0).fit(X)
    contrib, z = det.contributions(X[:12])
    assert (contrib.argmax(axis=1) == 2).all() and (z[:, 2] > 3).all()
    assert (contrib[:, 2] / contrib.sum(axis=1) > 0.9).all()


def test_records_with_missing_values_are_scored_by_their_observed_features():
    X, y = planted(seed=3)
    Xm = X.copy()
    Xm[np.random.default_rng(1).random(X.shape) < 0.1] = np.nan
    Xm[0] = [np.nan, 0.5, np.nan, np.nan, np.nan]
    det = GMMDetector(random_state=0, n_components=[1, 4], seeds=2, missing="marginalize").fit(Xm)
    assert roc_auc_score(y, det.decision_scores_) > 0.95
    whole = GMMDetector(random_state=0, n_components=[1, 4], seeds=2).fit(X)
    # a complete record is scored exactly as without missing-value support
    complete = ~np.isnan(Xm).any(axis=1)
    assert complete.sum() > 900
    why = det.explain(Xm[:1], names=list("abcde"))[0]
    assert why[-1] == "missing: a, c, d, e" and why[0].startswith("b ")
    with pytest.raises(ValueError, match="NaN"):
        whole.decision_function(Xm[:5])


def test_missing_values_in_the_pipeline_and_apply_update(tmp_path):
    rng = np.random.default_rng(0)
    ref = pd.read_csv(SAMPLES / "cardio_reference.csv")
    feats = [c for c in ref.columns if c not in ("id", "outlier")]
    holey = ref.copy()
    v = holey[feats].to_numpy(float).copy()
    v[rng.random(v.shape) < 0.1] = np.nan
    holey[feats] = v
    holey.to_csv(tmp_path / "ref.csv", index=False)
    common = [
        "--quiet",
        "--set",
        f"data.path={tmp_path / 'ref.csv'}",
        "--set",
        "data.score=null",
        "--set",
        "model.seeds=2",
        "--set",
        "report.plots=false",
    ]
    cfg = str(REPO / "configs" / "anomaly.yaml")
    assert cli.main(["run", cfg, "--out", str(tmp_path / "no"), *common]) == 2  # refused, with the hint
    assert not (tmp_path / "no").exists()
    assert cli.main(["run", cfg, "--out", str(tmp_path / "r"), *common, "--set", "data.missing=marginalize"]) == 0
    sc = pd.read_csv(tmp_path / "r" / "scores.csv")
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert len(sc) == len(ref) and s["evaluation"]["roc_auc"] > 0.8
    assert sc.loc[sc["flag"], "top_features"].str.contains("missing: ").any()
    # apply --update learns from new reference data into the new folder; the run is left as it was
    before = {p.name: p.read_bytes() for p in (tmp_path / "r" / "model").iterdir()}
    new = SAMPLES / "cardio_new.csv"
    assert cli.main(["apply", str(tmp_path / "r"), str(new), "--out", str(tmp_path / "u"), "--update", "--quiet"]) == 0
    assert {p.name: p.read_bytes() for p in (tmp_path / "r" / "model").iterdir()} == before
    up = json.loads((tmp_path / "u" / "summary.json").read_text())
    assert up["update"]["records"] == 733 and up["updated_model"] == "model/detector.npz"
    det, _ = GMMDetector.load(tmp_path / "u" / "model")
    old, _ = GMMDetector.load(tmp_path / "r" / "model")
    assert det.n_updates_ == 1 and old.n_updates_ == 0
    last_joint = int(np.isnan(old.member_fill_).sum()) - 1  # the joint members come first
    assert not np.allclose(det.members_[last_joint][1].means_, old.members_[last_joint][1].means_)
    # the updated folder is applied like a run
    assert cli.main(["apply", str(tmp_path / "u"), str(new), "--out", str(tmp_path / "u2"), "--quiet"]) == 0
    assert len(pd.read_csv(tmp_path / "u2" / "scores.csv")) == 733


def statement(rng, n):
    """A bank statement as banks export it: money out and money in in two columns, each row filling one."""
    shops = rng.choice(["grocer", "fuel", "online", "travel", "coffee"], n)
    out = np.round(rng.gamma(2.0, 15.0, n), 2)
    paid_in = rng.random(n) < 0.08
    return pd.DataFrame(
        {
            "Date": pd.date_range("2024-01-01", periods=n, freq="11h").strftime("%d/%m/%Y %H:%M"),
            "Type": np.where(paid_in, "transfer", shops),
            "Paid out": np.where(paid_in, np.nan, out),
            "Paid in": np.where(paid_in, np.round(rng.gamma(5.0, 100.0, n), 2), np.nan),
        }
    )


def test_money_out_and_in_in_two_columns_is_one_amount_with_empty_cells_zero(tmp_path, gmm_log):
    """An empty ``Paid in`` cell on a debit row means nothing came in: the statement scores exactly as the same
    statement with those cells written as 0, by run and by apply; a column merely missing values is still
    refused as missing."""
    rng = np.random.default_rng(7)
    ref, new = statement(rng, 500), statement(rng, 120)
    new.loc[5, "Paid out"] = 4800.0  # one large payment among the usual
    ref.to_csv(tmp_path / "ref.csv", index=False)
    new.to_csv(tmp_path / "new.csv", index=False)
    ref.fillna(0).to_csv(tmp_path / "ref0.csv", index=False)
    new.fillna(0).to_csv(tmp_path / "new0.csv", index=False)
    cfg = str(REPO / "configs" / "anomaly.yaml")
    common = [
        "--quiet",
        "--set",
        "data.label_column=null",
        "--set",
        "data.id_column=null",
        "--set",
        "report.plots=false",
    ]
    for name, ref_file, new_file in (("blank", "ref.csv", "new.csv"), ("zero", "ref0.csv", "new0.csv")):
        sets = ["--set", f"data.path={tmp_path / ref_file}", "--set", f"data.score={tmp_path / new_file}"]
        assert cli.main(["run", cfg, "--out", str(tmp_path / name), *common, *sets]) == 0
    assert "ref.csv: columns 'Paid out' and 'Paid in' are never filled in the same row" in gmm_log.text
    assert "ref0.csv: columns" not in gmm_log.text  # written as zeros, there is nothing to read
    blank, zero = (pd.read_csv(tmp_path / n / "scores.csv") for n in ("blank", "zero"))
    pd.testing.assert_frame_equal(blank, zero)
    assert blank["score"].idxmax() == 5 and "Paid out" in blank.loc[5, "top_features"]
    # measured against each type's usual amounts too: a type only ever paid out usually has 0 paid in
    grouped = ["--set", "data.group_column=Type"]
    for name, ref_file, new_file in (("blank_g", "ref.csv", "new.csv"), ("zero_g", "ref0.csv", "new0.csv")):
        sets = ["--set", f"data.path={tmp_path / ref_file}", "--set", f"data.score={tmp_path / new_file}"]
        assert cli.main(["run", cfg, "--out", str(tmp_path / name), *common, *sets, *grouped]) == 0
    blank_g, zero_g = (pd.read_csv(tmp_path / n / "scores.csv") for n in ("blank_g", "zero_g"))
    pd.testing.assert_frame_equal(blank_g, zero_g)
    assert (blank_g.loc[new["Type"] == "grocer", "Paid in usual for Type"] == 0).all()
    # the saved model remembers it: apply reads the blanks of a new statement as 0 too
    assert cli.main(["apply", str(tmp_path / "blank"), str(tmp_path / "new.csv"), "--out", str(tmp_path / "a")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a" / "scores.csv"), zero)
    # two sensors read in turn are not one amount: their gaps stay missing values, refused as before
    sensors = ref.rename(columns={"Paid out": "Sensor A (°C)", "Paid in": "Sensor B (°C)"})
    sensors.to_csv(tmp_path / "sensors.csv", index=False)
    sets = ["--set", f"data.path={tmp_path / 'sensors.csv'}", "--set", "data.score=null"]
    assert cli.main(["run", cfg, "--out", str(tmp_path / "sensors"), *common, *sets]) == 2
    # both filled on one row in twenty: not one amount, so an empty cell is a missing value, refused as before
    both = ref.copy()
    both.loc[::20, "Paid in"] = 1.0
    both.to_csv(tmp_path / "both.csv", index=False)
    sets = ["--set", f"data.path={tmp_path / 'both.csv'}", "--set", "data.score=null"]
    assert cli.main(["run", cfg, "--out", str(tmp_path / "both"), *common, *sets]) == 2


def test_a_running_balance_is_left_out_unless_named(gmm_log):
    """A balance moves by each row's amount, so it says where the account stood, not how unusual the row is:
    left out (logged) whether the statement lists money out and in apart or as one signed amount, oldest
    or newest first; named in data.columns it is scored; a column that merely trends is kept."""
    from gmm_apps.pipelines.anomaly.amounts import running_balances

    rng = np.random.default_rng(3)
    split = statement(rng, 300)
    signed = split["Paid in"].fillna(0) - split["Paid out"].fillna(0)
    split["Balance"] = (1000 + signed.cumsum()).round(2)
    one = pd.DataFrame({"Amount": signed, "Balance": split["Balance"], "Trend": np.arange(300) + rng.random(300)})
    cfg = AnomalyData(path="unused", score=None, id_column=None, label_column=None)
    for frame in (split, split.iloc[::-1].reset_index(drop=True), one, one.iloc[::-1].reset_index(drop=True)):
        assert "Balance" not in Schema.learn(frame, cfg, "s.csv").numeric
    assert Schema.learn(one, cfg, "s.csv").numeric == ["Amount", "Trend"]
    named = AnomalyData(path="unused", score=None, id_column=None, label_column=None, columns=["Amount", "Balance"])
    assert Schema.learn(one, named, "s.csv").numeric == ["Amount", "Balance"]
    assert "s.csv: column(s) 'Balance' are running totals" in gmm_log.text
    # by brute force: a balance off by a cent or more on one row in ten is no running total
    off = one["Balance"].to_numpy().copy()
    off[::10] += 0.5
    values = {"Amount": one["Amount"].to_numpy(float), "Balance": off}
    assert running_balances(values, [], "s.csv") == []
    values["Balance"] = one["Balance"].to_numpy(float)
    assert running_balances(values, [], "s.csv") == ["Balance"]
    # measurements that are small, or mostly zero (a histogram's bins), or a row counter beside counts of
    # one, are no running totals however little they move
    bins = rng.random((500, 8)) * 0.002 * (rng.random((500, 8)) < 0.4)
    small = {f"bin{i}": bins[:, i] for i in range(8)}
    small |= {"row": np.arange(500.0), "items": np.where(rng.random(500) < 0.97, 1.0, rng.integers(2, 5, 500))}
    assert running_balances(small, [], "s.csv") == []
    # a statement leaving the balance empty on rows that did not move it (a payment pending, or reverted):
    # still a running total over the rows it fills; empty on most rows, it is not judged one
    pending = rng.random(300) < 0.05
    amount = np.where(pending, -rng.gamma(2, 8, 300).round(2), one["Amount"])
    level = np.where(pending, np.nan, 1000 + np.cumsum(np.where(pending, 0, amount)))
    assert running_balances({"Amount": amount, "Balance": level}, [], "s.csv") == ["Balance"]
    sparse = np.where(rng.random(300) < 0.6, np.nan, level)
    assert running_balances({"Amount": amount, "Balance": sparse}, [], "s.csv") == []


def test_update_is_refused_where_a_pipeline_cannot_learn_in_apply(tmp_path, capsys):
    out = tmp_path / "c"
    assert (
        cli.main(
            [
                "run",
                str(REPO / "configs" / "customers.yaml"),
                "--out",
                str(out),
                "--quiet",
                "--set",
                "report.stability_seeds=1",
                "--set",
                "report.bootstrap=0",
                "--set",
                "report.plots=false",
            ]
        )
        == 0
    )
    assert (
        cli.main(["apply", str(out), str(SAMPLES / "cdnow_sample.txt"), "--update", "--out", str(tmp_path / "x")]) == 2
    )
    assert "cannot update its model" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_bags_and_missing_values_do_not_mix(tmp_path, capsys):
    code = cli.main(
        [
            "validate",
            str(REPO / "configs" / "anomaly.yaml"),
            "--set",
            "data.missing=marginalize",
            "--set",
            "model.bags=3",
        ]
    )
    assert code == 2 and "model.bags" in capsys.readouterr().err


@pytest.mark.parametrize("values", [0, 1])
def test_a_column_with_almost_no_values_is_named(tmp_path, capsys, values):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(200, 3)), columns=["amount", "hour", "fee"])
    df.loc[values:, "hour"] = np.nan
    df.to_csv(tmp_path / "ref.csv", index=False)
    code = cli.main(
        [
            "run",
            str(REPO / "configs" / "anomaly.yaml"),
            "--out",
            str(tmp_path / "r"),
            "--quiet",
            "--set",
            f"data.path={tmp_path / 'ref.csv'}",
            "--set",
            "data.score=null",
            "--set",
            "data.id_column=null",
            "--set",
            "data.label_column=null",
            "--set",
            "data.missing=marginalize",
        ]
    )
    err = capsys.readouterr().err
    if values == 0:  # a column never filled in is no feature: left out, and the others scored
        assert code == 0 and "hour" not in json.loads((tmp_path / "r" / "summary.json").read_text())["features"]
        return
    assert code == 2 and f"column 'hour' has {values} value(s) among the 200 reference records" in err
    assert "Traceback" not in err and "RuntimeWarning" not in err and not (tmp_path / "r").exists()


def test_time_stamps_give_their_hour_of_day_and_dates_alone_are_left_out(tmp_path, gmm_log):
    rng = np.random.default_rng(0)
    when = pd.Timestamp("2024-03-01") + pd.to_timedelta(rng.integers(0, 90 * 24 * 60, 40), unit="min")
    want = (when.hour + when.minute / 60).to_numpy()
    cfg = AnomalyData(path="unused", score=None, id_column=None, label_column=None)
    forms = {
        "stamps": when,  # as Excel and Parquet store them
        "iso": when.strftime("%Y-%m-%dT%H:%M:%S+05:00"),
        "us": when.strftime("%m/%d/%Y %I:%M %p"),
        "day first": when.strftime("%d.%m.%Y %H:%M"),
        # an export from New York across the change to summer time: two UTC offsets in one column
        "offsets": when.strftime("%Y-%m-%dT%H:%M:%S") + np.where(when < "2024-03-10", "-0500", "-0400"),
    }
    for name, cells in forms.items():
        df = pd.DataFrame({"amt": rng.normal(size=40), "When": cells, "Booked": when.strftime("%b %d, %Y")})
        sch = Schema.learn(df, cfg, "t.csv")
        assert sch.features == ["amt", "When (hour of day)"], name
        np.testing.assert_allclose(sch.records(df, "t.csv").X[:, 1], want, err_msg=name)
        assert "column(s) 'Booked' hold dates without a time of day and are left out" in gmm_log.text
        # saved and read back, the schema reads the scored file's times as written there
        again = Schema.from_dict(json.loads(json.dumps(sch.to_dict())))
        np.testing.assert_allclose(again.records(df.assign(When=forms["us"]), "new.csv").X[:, 1], want)
    with pytest.raises(DataError, match="column 'Booked' \\(data.columns\\) holds dates without a time of day"):
        Schema.learn(df, cfg.model_copy(update={"columns": ["amt", "Booked"]}), "t.csv")
    with pytest.raises(DataError, match="new.csv: column 'When' has a missing, infinite or non-numeric value 'soon'"):
        sch.records(df.assign(When=["soon"] * 40), "new.csv")
    # a stamp without its time among hundreds is a data error, named; codes that pandas could read as dates
    # (sizes 3/4, versions 1.2.3) stay categories
    many = pd.DataFrame({"When": [f"2024-01-01 {h % 24:02d}:15" for h in range(200)], "size": ["3/4", "1.2.3"] * 100})
    many.loc[150, "When"] = "2024-01-01"
    with pytest.raises(DataError, match="column 'When' holds times of day, but not at data row 151 \\('2024-01-01'\\)"):
        Schema.learn(many, cfg, "t.csv")
    assert Schema.learn(many.drop(index=150), cfg, "t.csv").features == [
        "When (hour of day)",
        "size=1.2.3",
        "size=3/4",
    ]
    # Unix time stamps are numbers like any other: read as times where the header says so (their hour in
    # UTC); a YYYYMMDD date is left out; a duration in seconds under a 'time' header stays a number
    secs = ((when - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)).to_numpy()
    logs = pd.DataFrame(
        {
            "event_time": secs,
            "created_at": secs * 1000,
            "order_date": when.strftime("%Y%m%d").astype(int),
            "time_spent": rng.integers(10_000, 90_000, 40),
            "phone": rng.integers(5_000_000_000, 5_999_999_999, 40),  # in the range of seconds, no time header
        }
    )
    sch = Schema.learn(logs, cfg, "t.csv")
    assert sch.features == ["time_spent", "phone", "event_time (hour of day)", "created_at (hour of day)"]
    assert sch.epochs == {"event_time": "s", "created_at": "ms"}
    X = Schema.from_dict(json.loads(json.dumps(sch.to_dict()))).records(logs, "t.csv").X
    np.testing.assert_allclose(
        X[:, 2:], np.c_[want + when.second.to_numpy() / 3600, want + when.second.to_numpy() / 3600]
    )
    # Excel's day numbers (a date cell saved unformatted) under a header naming a date: whole ones are dates,
    # left out; with a fraction, its hour; under 'time', or outside 1970-2100, they stay numbers
    serial = ((when - pd.Timestamp("1899-12-30")) / pd.Timedelta(days=1)).to_numpy()
    excel = pd.DataFrame(
        {
            "Datum": np.floor(serial),
            "Booking date": serial.round(6),
            "wait_time": np.floor(serial),
            "date_code": rng.integers(100, 20_000, 40),
        }
    )
    sch = Schema.learn(excel, cfg, "t.csv")
    assert sch.features == ["wait_time", "date_code", "Booking date (hour of day)"]
    assert sch.epochs == {"Booking date": "excel"} and "column(s) 'Datum' hold dates" in gmm_log.text
    X = Schema.from_dict(json.loads(json.dumps(sch.to_dict()))).records(excel, "t.csv").X
    np.testing.assert_allclose(X[:, 2], want, atol=1e-3)
    # written the Chinese way, a time stamp's hour is read and a date alone left out
    cn = pd.DataFrame(
        {
            "金额": np.arange(40.0),
            "交易时间": [f"{t.year}年{t.month}月{t.day}日 {t.hour:02d}:{t.minute:02d}" for t in when],
            "下单日期": [f"{t.year}年{t.month}月{t.day}日" for t in when],
        }
    )
    sch = Schema.learn(cn, cfg, "t.csv")
    assert sch.features == ["金额", "交易时间 (hour of day)"]
    np.testing.assert_allclose(sch.records(cn, "t.csv").X[:, 1], when.hour + when.minute / 60)
    # under a header that says length of time, h:mm:ss is hours (a call of 27 hours too), not a time of day
    calls = pd.DataFrame({"Call Duration": ["0:05:32", "27:10:00", "0:00:45"], "Start": ["13:05", "02:00", "9:30"]})
    sch = Schema.learn(calls, cfg, "t.csv")
    assert sch.features == ["Call Duration", "Start (hour of day)"]
    np.testing.assert_allclose(
        sch.records(calls, "t.csv").X, [[332 / 3600, 13 + 5 / 60], [27 + 1 / 6, 2], [45 / 3600, 9.5]]
    )
    # end to end: a 3 a.m. purchase among daytime ones is flagged for its hour, and said to be
    day = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.normal(14, 2, 600).clip(8, 21), unit="h")
    ref = pd.DataFrame({"id": range(600), "Time": day.strftime("%Y-%m-%d %H:%M"), "Amount": rng.lognormal(3, 0.3, 600)})
    ref.to_csv(tmp_path / "ref.csv", index=False)
    new = ref.iloc[:50].assign(id=range(1000, 1050))
    new.loc[0, "Time"] = "2024-02-03 03:10"
    new.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "r"
    sets = ["--set", f"data.path={tmp_path / 'ref.csv'}", "--set", f"data.score={tmp_path / 'new.csv'}"]
    sets += ["--set", "data.label_column=null", "--set", "threshold.rate=0.01"]
    assert cli.main(["run", str(REPO / "configs" / "anomaly.yaml"), "--out", str(out), "--quiet", *sets]) == 0
    scores = pd.read_csv(out / "scores.csv")
    top = scores.sort_values("score", ascending=False).iloc[0]
    assert top["id"] == 1000 and top["flag"] and top["top_features"].startswith("Time (hour of day) low")


def test_a_column_of_ids_is_offered_as_the_id_column_and_the_suggestion_keeps_time_stamps():
    n = 60
    df = pd.DataFrame(
        {
            "Transaction ID": [f"T{i:05d}" for i in range(n)],
            "When": [f"2024-01-01 {h % 24:02d}:15" for h in range(n)],
            "Amount": np.linspace(1, 2, n),
        }
    )
    cfg = AnomalyData(path="unused", score=None, label_column=None)  # the default id column, id, absent
    with pytest.raises(
        DataError, match="a different value in every row, as an id does: set data.id_column: Transaction ID$"
    ):
        Schema.learn(df, cfg, "t.csv")
    assert Schema.learn(df, cfg.model_copy(update={"id_column": "Transaction ID"}), "t.csv").features == [
        "Amount",
        "When (hour of day)",
    ]
    # beside another wide column, both are named, and the columns to keep include the time stamp
    notes = df.assign(Note=[f"note {i % 30}" for i in range(n)])
    with pytest.raises(
        DataError, match="set data.id_column: Transaction ID .* others out with data.columns: \\[When, Amount\\]"
    ):
        Schema.learn(notes, cfg, "t.csv")
    # a log line, different in every row, is free text: left out first, named as the id only if it names records
    raw = df.drop(columns="Transaction ID").assign(_raw=[f"{i:02d}:15 GET /item/{7 * i} 200" for i in range(n)])
    with pytest.raises(DataError, match="free text, .*: leave it out with data.columns: \\[When, Amount\\], or, if it"):
        Schema.learn(raw, cfg, "t.csv")


def test_schema_one_hot_and_errors(tmp_path, gmm_log):
    df = pd.DataFrame({"id": ["r1", "r2", "r3"], "amt": [1.0, 2.0, 3.0], "kind": ["x", "y", "x"], "y": [0, 1, 0]})
    cfg = AnomalyData(path="unused", score=None, id_column="id", label_column="y")
    sch = Schema.learn(df, cfg, "t.csv")
    assert sch.features == ["amt", "kind=x", "kind=y"]
    rec = sch.records(df, "t.csv")
    np.testing.assert_array_equal(rec.X, [[1, 1, 0], [2, 0, 1], [3, 1, 0]])
    assert rec.labels.tolist() == [0, 1, 0] and rec.ids.tolist() == ["r1", "r2", "r3"]
    with pytest.raises(DataError, match="column 'kind' is not numeric"):
        Schema.learn(df, cfg.model_copy(update={"categorical": "reject"}), "t.csv")
    bad = df.assign(amt=[1.0, np.inf, 3.0])
    with pytest.raises(DataError, match="t.csv: column 'amt' has a missing, infinite or non-numeric value"):
        sch.records(bad, "t.csv")
    with pytest.raises(DataError, match="column 'kind' \\(used by the model\\) not found; the file's columns are"):
        sch.records(df.drop(columns=["kind"]), "new.csv")
    # a later export that spells the columns otherwise (case, spaces, underscores): named, all at once
    respelled = df.rename(columns={"amt": "AMT", "kind": " Kind"})
    with pytest.raises(DataError, match="columns 'amt', 'kind' .*: rename 'AMT' to 'amt', ' Kind' to 'kind'$"):
        sch.records(respelled, "new.csv")
    # a row counter left among the features is scored, and said to be
    counted = pd.DataFrame({"n": np.arange(60), "amt": np.linspace(1, 2, 60)})
    Schema.learn(counted, AnomalyData(path="unused", score=None, id_column=None, label_column=None), "t.csv")
    assert "never had" not in gmm_log.text
    new = sch.records(df.assign(kind=["x", "z", "w"]), "new.csv")  # categories the reference never had
    assert "column 'n' looks like a row id" in gmm_log.text and "'amt'" not in gmm_log.text
    assert "new.csv: column 'kind' has 2 record(s) with a value the reference records never had ('z', 'w')" in (
        gmm_log.text
    )
    # Unix time stamps in order are no row id: read as time stamps (their hour of day), and said to be only that
    gmm_log.clear()
    stamped = counted.rename(columns={"n": "created"}).assign(created=1_700_000_000 + 3600 * np.arange(60))
    got = Schema.learn(stamped, AnomalyData(path="unused", score=None, id_column=None, label_column=None), "t.csv")
    assert got.times == ["created"] and "holds Unix time stamps" in gmm_log.text and "row id" not in gmm_log.text
    # whole numbers under a header naming an id or a code are labels, not sizes: said, with the columns to keep
    rng = np.random.default_rng(0)
    coded = pd.DataFrame(
        {
            "CustomerID": rng.integers(1000, 9999, 80),
            "zip code": rng.integers(10000, 99999, 80).astype(float),
            "Paid": rng.integers(1, 500, 80),  # ends in "id", is not one
            "Amount": rng.gamma(2, 10, 80),
            "Items": rng.integers(1, 5, 80),
        }
    )
    gmm_log.clear()
    Schema.learn(coded, AnomalyData(path="unused", score=None, id_column=None, label_column=None), "t.csv")
    assert (
        "t.csv: column(s) 'CustomerID', 'zip code' are named as ids or codes and hold whole numbers, which are scored "
        "by their size; if the size means nothing, leave them out with data.columns: [Paid, Amount, Items]"
    ) in gmm_log.text
    np.testing.assert_array_equal(new.X[1:, 1:], 0)  # scored as none of the known categories
    # a column of many distinct words is no category: refused with the data.columns that leaves it out
    stamped = df.assign(ts=["call back", "VIP", "new card"])
    with pytest.raises(
        DataError,
        match="'ts' \\(3 values, e.g. 'VIP'\\) is categorical with more than "
        "data.max_categories=2 values; leave it out with data.columns: \\[amt, kind\\]",
    ):
        Schema.learn(stamped, cfg.model_copy(update={"max_categories": 2}), "t.csv")
    # several such columns are named at once, with the data.columns that leaves all of them out
    with pytest.raises(DataError, match="columns 'kind' \\(2 values, e.g. 'x'\\) and 'ts' .* \\[amt\\]"):
        Schema.learn(stamped, cfg.model_copy(update={"max_categories": 1}), "t.csv")
    # a column never filled in (Notes, or unnamed after a trailing separator) is no feature: left out
    # unasked, and not offered in data.columns; named in data.columns, it is refused
    blank = stamped.assign(Notes=[None, " ", ""], **{"Unnamed: 5": np.nan})
    with pytest.raises(DataError, match="leave it out with data.columns: \\[amt, kind\\], or raise"):
        Schema.learn(blank, cfg.model_copy(update={"max_categories": 2}), "t.csv")
    assert Schema.learn(blank.drop(columns="ts"), cfg, "t.csv").features == ["amt", "kind=x", "kind=y"]
    with pytest.raises(DataError, match="column 'Notes' \\(data.columns\\) holds no value in any row"):
        Schema.learn(blank, cfg.model_copy(update={"columns": ["amt", "Notes"]}), "t.csv")
    # amounts as a bank exports them are numbers, not 3 categories: the same records as the plain column
    exported = df.assign(amt=["$1.00", "(2.00)", "$3.00"]).astype({"amt": object})
    sch2 = Schema.learn(exported, cfg, "t.csv")
    assert sch2.features == ["amt", "kind=x", "kind=y"]
    np.testing.assert_array_equal(sch2.records(exported, "t.csv").X[:, 0], [1.0, -2.0, 3.0])
    # and percentages as spreadsheets write them are their numbers, beside numbers an Excel cell kept as such
    rates = df.assign(amt=["12.5%", " -3 %", 7]).astype({"amt": object})
    sch3 = Schema.learn(rates, cfg, "t.csv")
    assert sch3.features == ["amt", "kind=x", "kind=y"]
    np.testing.assert_array_equal(sch3.records(rates, "t.csv").X[:, 0], [12.5, -3.0, 7.0])
    whole = df.assign(amt=["1,000", "2,000", "3,000"])
    with pytest.raises(DataError, match="t.csv: column 'amt': commas in it could group thousands.*data.decimal_mark"):
        Schema.learn(whole, cfg, "t.csv")
    for mark, want in ((".", [1000.0, 2000.0, 3000.0]), (",", [1.0, 2.0, 3.0])):  # data.decimal_mark settles it
        told = Schema.learn(whole, cfg.model_copy(update={"decimal_mark": mark}), "t.csv")
        assert told.marks == {"amt": mark} and told.records(whole, "t.csv").X[:, 0].tolist() == want
    # the decimal mark learned on the reference reads every later file the same way, even a chunk that alone
    # could be read either way; a schema of plain numbers is written as before
    assert sch2.marks == {"amt": "."} and "marks" not in sch.to_dict()
    later = Schema.from_dict(sch2.to_dict()).records(
        df.assign(amt=["1,202", "3,400", "5"]).astype({"amt": object}), "n.csv"
    )
    np.testing.assert_array_equal(later.X[:, 0], [1202.0, 3400.0, 5.0])
    # so is the currency its amounts showed: a file in another is refused (euros scored as dollars), one that
    # shows none is read as it is (above); a schema of amounts without a currency is written as before
    assert sch2.units == {"amt": "USD"} and "units" not in sch3.to_dict()
    euros = df.assign(amt=["€1.00", "€4.00", "5"]).astype({"amt": object})
    with pytest.raises(DataError, match=r"^n.csv: column 'amt' holds amounts in EUR \(as in '€1.00'\); the model"):
        Schema.from_dict(sch2.to_dict()).records(euros, "n.csv")
    assert Schema.learn(euros, cfg, "t.csv").records(euros, "t.csv").X[:, 0].tolist() == [1.0, 4.0, 5.0]
    # a workbook's sheet and a tab-separated export read as the CSV
    from gmm_apps.pipelines.anomaly.data import read_frame

    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    with pd.ExcelWriter(tmp_path / "t.xlsx") as xw:
        df.to_excel(xw, sheet_name="Records", index=False)
    want = read_frame(tmp_path / "t.csv")
    pd.testing.assert_frame_equal(read_frame(tmp_path / "t.tsv"), want)
    pd.testing.assert_frame_equal(read_frame(tmp_path / "t.xlsx", sheet="Records"), want, check_dtype=False)  # 1.0 is 1


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "anomaly"
    assert cli.main(["run", str(REPO / "configs" / "anomaly.yaml"), "--out", str(out), "--quiet"]) == 0
    return out


def test_default_run_scores_new_records(default_run):
    sc = pd.read_csv(default_run / "scores.csv")
    assert list(sc.columns) == ["id", "score", "flag", "probability", "top_features", "label"]
    assert len(sc) == 733 and sc["id"].str.startswith("ctg").all()
    s = json.loads((default_run / "summary.json").read_text())
    assert (sc["flag"] == (sc["score"] > s["threshold"])).all()
    assert (sc["flag"] == (sc["probability"] > 0.5)).all()
    named = sc.loc[sc["flag"], "top_features"].str.split("; ")
    assert (named.map(lambda parts: sum(not p.startswith("in a small cluster") for p in parts)) == 3).all()
    assert s["evaluation"]["roc_auc"] == pytest.approx(roc_auc_score(sc["label"], sc["score"]))
    assert s["evaluation"]["roc_auc"] > 0.85
    html = (default_run / "report.html").read_text()
    assert "Top 20 anomalies" in html and "ROC" in html


def test_apply_streams_in_chunks_and_matches_run(tmp_path, default_run):
    out = tmp_path / "applied"
    assert cli.main(["apply", str(default_run), str(SAMPLES / "cardio_new.csv"), "--out", str(out), "--quiet"]) == 0
    a = pd.read_csv(out / "scores.csv")
    r = pd.read_csv(default_run / "scores.csv")
    np.testing.assert_allclose(a["score"], r["score"], rtol=1e-9)
    # many small chunks give the same scores (streaming a file larger than memory)
    cfgp = tmp_path / "run_copy"
    import shutil

    shutil.copytree(default_run, cfgp)
    text = (cfgp / "config.yaml").read_text().replace("chunk_rows: 200000", "chunk_rows: 1000")
    (cfgp / "config.yaml").write_text(text)
    big = pd.concat([pd.read_csv(SAMPLES / "cardio_new.csv")] * 3, ignore_index=True)
    big.to_parquet(tmp_path / "big.parquet")
    out2 = tmp_path / "applied2"
    assert cli.main(["apply", str(cfgp), str(tmp_path / "big.parquet"), "--out", str(out2), "--quiet"]) == 0
    b = pd.read_csv(out2 / "scores.csv")
    assert len(b) == 3 * len(r)
    np.testing.assert_allclose(b["score"].to_numpy()[: len(r)], r["score"], rtol=1e-9)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("data.chunk_rows=1000", "data.chunk_rows was renamed to engine.chunk_rows"),
        ("model.n_init=3", "model.n_init is no longer a key; random starts are model.seeds"),
    ],
)
def test_the_old_chunk_and_random_start_keys_are_refused_with_the_key_to_use(tmp_path, capsys, key, message):
    code = cli.main(["run", str(REPO / "configs" / "anomaly.yaml"), "--set", key, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "r").exists()


def test_a_run_written_with_the_old_keys_still_applies(tmp_path, default_run):
    import shutil

    import yaml

    old = tmp_path / "old_run"
    shutil.copytree(default_run, old)
    raw = yaml.safe_load((old / "config.yaml").read_text())
    raw["data"]["chunk_rows"] = raw["engine"].pop("chunk_rows")  # the layout before one chunk-size key
    raw["model"]["n_init"] = 1
    (old / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    marker = json.loads((old / MARKER).read_text())  # ... and the settings its marker recorded,
    marker["model_settings"]["model"]["n_init"] = 1
    del marker["model_settings"]["model"]["marginal_components"]  # without a key added since (at its default)
    (old / MARKER).write_text(json.dumps(marker))
    out = tmp_path / "applied"
    assert cli.main(["apply", str(old), str(SAMPLES / "cardio_new.csv"), "--out", str(out), "--quiet"]) == 0
    np.testing.assert_allclose(
        pd.read_csv(out / "scores.csv")["score"], pd.read_csv(default_run / "scores.csv")["score"], rtol=1e-9
    )


def test_the_detectors_defaults_are_the_configs():
    import inspect

    from gmm_apps.pipelines.anomaly.config import AnomalyConfig

    ours = {k: p.default for k, p in inspect.signature(GMMDetector).parameters.items()}
    from_config = vars(GMMDetector.from_config(AnomalyConfig()))
    assert set(ours) == set(from_config)
    for name, default in ours.items():
        value = list(default) if isinstance(default, tuple) else default
        assert value == from_config[name], name


def test_tampered_detector_is_refused(tmp_path, default_run):
    import shutil

    bad = tmp_path / "run"
    shutil.copytree(default_run, bad)
    raw = (bad / "model" / "detector.npz").read_bytes()
    (bad / "model" / "detector.npz").write_bytes(raw[:-40])
    with pytest.raises(ModelFileError, match="truncated"):
        GMMDetector.load(bad / "model")


@pytest.mark.skipif(not ODDS.is_dir(), reason="../shared/datasets/odds not present")
def test_odds_mat_reader():
    df = read_frame(ODDS / "wbc.mat")
    assert df.shape == (378, 32) and df["outlier"].sum() == 21


def test_same_seed_same_bytes(tmp_path, default_run):
    out = tmp_path / "again"
    assert cli.main(["run", str(REPO / "configs" / "anomaly.yaml"), "--out", str(out), "--quiet"]) == 0
    assert (out / "scores.csv").read_bytes() == (default_run / "scores.csv").read_bytes()
    for f in sorted((default_run / "model").iterdir()):
        assert (out / "model" / f.name).read_bytes() == f.read_bytes(), f.name


def test_many_features_are_seen_through_principal_components_and_the_residual(tmp_path):
    rng = np.random.default_rng(4)
    n, d = 1500, 120
    factors = rng.normal(size=(n, 4)) * [3.0, 2.5, 2.0, 1.5]
    X = factors @ rng.normal(size=(4, d)) + rng.normal(0, 0.3, (n, d))  # four strong directions and noise
    X[:6, 7] += [6.0, -7.0, 8.0, -6.0, 7.0, -8.0]  # off the principal subspace, in one feature
    y = np.r_[np.ones(6), np.zeros(n - 6)].astype(int)
    det = GMMDetector(random_state=0, n_components=[1, 4], seeds=2).fit(X)
    # views: K=1, K=4 (two seeds), the per-feature view of the 4 components, the residual
    assert det.projection_.shape == (d, 4) and det.view_matrix_.shape == (len(det.members_) + 1, 4)
    assert det.view_matrix_[-1].tolist() == [0, 0, 0, 1] and det.view_matrix_[:-1, -1].sum() == 0
    assert det.view_names() == ["K=1", "K=4", "per-feature", "residual"]
    assert len(det.members_) == 1 + 2 + 4
    assert roc_auc_score(y, det.decision_scores_) > 0.99
    raw = GMMDetector(random_state=0, n_components=[1, 4], seeds=2, max_joint_features=1000).fit(X)
    assert raw.projection_ is None
    contrib, _ = det.contributions(X[:6])
    assert (contrib.argmax(axis=1) == 7).all()  # the explanation names the planted feature
    det.save(tmp_path / "m", meta={})
    back, _ = GMMDetector.load(tmp_path / "m")
    np.testing.assert_allclose(back.decision_function(X[:50]), det.decision_function(X[:50]), rtol=1e-12)


def test_views_fitted_on_samples_of_a_large_reference_and_the_log_says_so(tmp_path):
    out = tmp_path / "r"
    args = ["run", str(REPO / "configs" / "anomaly.yaml"), "--out", str(out), "--quiet", "--set", "report.plots=false"]
    assert cli.main(args + ["--set", "model.max_fit_rows=1000"]) == 0
    assert "sample of 1000 of the 1098 reference records" in (out / "run.log").read_text()
    det, _ = GMMDetector.load(out / "model")
    # the K=1 view saw 1,000 records, not 1,098: its mean differs from the whole reference's (robust-scaled)
    whole = det.scaler_.transform(
        pd.read_csv(SAMPLES / "cardio_reference.csv").drop(columns=["id", "outlier"]).to_numpy()
    )
    assert np.abs(det.members_[0][1].means_[0] - whole.mean(axis=0)).max() > 1e-3
    full = tmp_path / "f"
    assert cli.main(args[:2] + ["--out", str(full)] + args[4:]) == 0
    assert "sample of" not in (full / "run.log").read_text()
    det_full, _ = GMMDetector.load(full / "model")
    # (the fits' products run in float32: a mean to about 1e-6)
    np.testing.assert_allclose(det_full.members_[0][1].means_[0], whole.mean(axis=0), atol=1e-5)


def test_apply_reads_categories_in_the_order_the_model_was_fitted_on(tmp_path):
    # two categorical columns whose names are not in alphabetical order: the model file's header sorts its
    # keys, and read back in that order one column's values were read as the other's (every record then
    # scored as an outlier); the same records scored by apply score as the run scored them, new files and
    # files written before the order was stored alike
    from model_files import rewrite_npz, without_model_checksums

    rng = np.random.default_rng(0)
    n = 600
    df = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "amount": rng.gamma(2, 20, n).round(2),
            "kind": rng.choice(["card", "cash", "transfer"], n, p=[0.6, 0.3, 0.1]),
            "channel": rng.choice(["web", "shop"], n, p=[0.8, 0.2]),
        }
    )
    df.to_csv(tmp_path / "ref.csv", index=False)
    sets = [f"data.path={tmp_path / 'ref.csv'}", "data.score=null", "data.id_column=id", "report.plots=false"]
    args = ["run", str(REPO / "configs" / "anomaly.yaml"), "--out", str(tmp_path / "r"), "--quiet"]
    assert cli.main([*args, *(a for s in sets for a in ("--set", s))]) == 0
    run = pd.read_csv(tmp_path / "r" / "scores.csv")
    assert run["flag"].mean() == pytest.approx(0.1, abs=0.02)
    assert (
        cli.main(["apply", str(tmp_path / "r"), str(tmp_path / "ref.csv"), "--out", str(tmp_path / "a"), "--quiet"])
        == 0
    )
    pd.testing.assert_series_equal(pd.read_csv(tmp_path / "a" / "scores.csv")["score"], run["score"])

    def as_before(arrays, header):  # a detector written before the order was stored
        del header["extra"]["meta"]["schema"]["category_order"]

    rewrite_npz(tmp_path / "r" / "model" / "detector.npz", as_before, rechecksum=True)
    without_model_checksums(tmp_path / "r")
    assert (
        cli.main(["apply", str(tmp_path / "r"), str(tmp_path / "ref.csv"), "--out", str(tmp_path / "b"), "--quiet"])
        == 0
    )
    pd.testing.assert_series_equal(pd.read_csv(tmp_path / "b" / "scores.csv")["score"], run["score"])


def test_records_to_score_without_the_id_column_are_refused_naming_it(default_run, tmp_path, capsys):
    new = pd.read_csv(SAMPLES / "cardio_new.csv").drop(columns=["id"])
    new.to_csv(tmp_path / "no_ids.csv", index=False)
    out = tmp_path / "a"
    assert cli.main(["apply", str(default_run), str(tmp_path / "no_ids.csv"), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and not out.exists()
    assert "no_ids.csv: column 'id' (data.id_column, the records' ids) not found; columns are LB, AC" in err


def test_a_web_servers_json_log_is_fitted_without_warnings_a_user_cannot_act_on(tmp_path):
    # status codes, one-hot fields and an hour of day: the views of many components meet repeated values, and a
    # component that collapses there is re-seeded inside the ensemble (it was printed as a Python warning with a
    # source path, advising fewer components)
    rng = np.random.default_rng(0)
    with open(tmp_path / "access.jsonl", "w") as f:
        for i in range(3000):
            rec = {
                "time": f"2024-03-01T{(i // 120) % 24:02d}:{(i // 2) % 60:02d}:{i % 60:02d}+00:00",
                "request": {
                    "method": str(rng.choice(["GET", "POST"])),
                    "path": str(rng.choice(["/", "/api", "/login"])),
                },
                "status": int(rng.choice([200, 200, 200, 404, 500], p=[0.5, 0.3, 0.15, 0.04, 0.01])),
                "bytes": int(rng.gamma(2, 2000)),
                "rt": round(float(rng.gamma(2, 0.02)), 4),
                "ua": {"browser": str(rng.choice(["Chrome", "Firefox"]))},
            }
            if i == 1234:  # a large, slow response
                rec.update(bytes=9_000_000, rt=12.5)
            f.write(json.dumps(rec) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = gmm_apps.run(
            "anomaly",
            out=tmp_path / "r",
            set=[f"data.path={tmp_path / 'access.jsonl'}", "data.score=null", "report.plots=false"],
        )
    assert [str(w.message) for w in caught if "collapsed" in str(w.message)] == []
    assert "request.path=/api" in r.summary["features"] and r.tables["scores"]["score"].idxmax() == 1234
