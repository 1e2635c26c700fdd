"""New records compared with the reference: a flagged share beyond the reference's, and the features that moved."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

import gmm_apps
from gmm_apps import cli
from gmm_apps.core.persistence import load_arrays, save_arrays
from gmm_apps.core.thresholds import threshold_at_rate
from gmm_apps.pipelines.anomaly.config import AnomalyConfig
from gmm_apps.pipelines.anomaly.model import GMMDetector
from gmm_apps.pipelines.anomaly.pipeline import held_out_scores
from gmm_apps.pipelines.anomaly.shift import CLIP, HELD_OUT_FOLDS, Profile, Tally, shift_sentence, shift_summary

QUICK = ["model.seeds=2", "model.components=[1, 4]", "report.plots=false", "data.id_column=tx"]


def records(n, seed, *, scale=1.0, e_share=0.0):
    """Card payments: an amount (log-normal), an hour, and one of four merchant kinds (a share of kind E)."""
    rng = np.random.default_rng(seed)
    kind = np.where(rng.random(n) < e_share, "E", rng.choice(list("ABCD"), n))
    return pd.DataFrame(
        {
            "tx": [f"t{seed}-{i}" for i in range(n)],
            "amount": (rng.lognormal(3, 0.6, n) * scale).round(2),
            "hour": rng.integers(8, 20, n),
            "kind": kind,
        }
    )


def test_the_figures_are_those_computed_by_hand_and_add_up_over_chunks():
    rng = np.random.default_rng(0)
    ref = np.c_[rng.lognormal(0, 1, 2000), rng.random(2000) < 0.3]
    new = np.c_[rng.lognormal(0.4, 1, 900), rng.random(900) < 0.5]
    new[5, 0] = np.nan  # a missing value is left out of its feature's mean
    ref_flags, new_flags = ref[:, 0] > np.quantile(ref[:, 0], 0.9), new[:, 0] > np.quantile(ref[:, 0], 0.9)
    profile = Profile.of(ref, ref_flags)
    assert profile.binary.tolist() == [False, True] and profile.expected_share == pytest.approx(0.1)
    q1, q3 = np.percentile(ref[:, 0], [25, 75])
    z = lambda x: np.clip((x - np.median(ref[:, 0])) / ((q3 - q1) / 1.349), -CLIP, CLIP)  # noqa: E731
    found = shift_summary(profile, profile.tally(new, new_flags), ["amount", "kind=E"])
    by_name = {f["feature"]: f for f in found["features"]}
    assert by_name["amount"]["effect"] == pytest.approx(np.nanmean(z(new[:, 0])) - z(ref[:, 0]).mean())
    h = 2 * np.arcsin(np.sqrt(new[:, 1].mean())) - 2 * np.arcsin(np.sqrt(ref[:, 1].mean()))
    assert by_name["kind=E"]["effect"] == pytest.approx(h) and by_name["kind=E"]["new"] == pytest.approx(
        new[:, 1].mean()
    )
    assert found["p_value"] == pytest.approx(binomtest(int(new_flags.sum()), 900, ref_flags.mean()).pvalue)
    # scored in three chunks, the sums give the same figures
    parts = sum((profile.tally(new[i : i + 300], new_flags[i : i + 300]) for i in range(0, 900, 300)), Tally())
    again = shift_summary(profile, parts, ["amount", "kind=E"])
    assert [f["effect"] for f in again["features"]] == pytest.approx([f["effect"] for f in found["features"]])
    assert again["flagged_share"] == found["flagged_share"] and again["p_value"] == pytest.approx(found["p_value"])
    # a profile read back from the model file is the one saved
    back = Profile.from_dict(json.loads(json.dumps(profile.to_dict())))
    assert shift_summary(back, parts, ["amount", "kind=E"])["features"] == again["features"]
    # one saved before variances were kept still compares, its levels counted as one record each
    older = {k: v for k, v in profile.to_dict().items() if k not in ("variance", "count")}
    old = shift_summary(Profile.from_dict(older), parts, ["amount", "kind=E"])
    assert [f["effect"] for f in old["features"]] == pytest.approx([f["effect"] for f in again["features"]])
    assert not any(f["named"] for f in old["features"]) and old["p_value"] == pytest.approx(again["p_value"])


def test_records_like_the_reference_say_nothing_and_moved_ones_are_named(tmp_path):
    records(5000, 1).to_csv(tmp_path / "ref.csv", index=False)
    records(800, 2).to_csv(tmp_path / "same.csv", index=False)
    records(800, 3, scale=1.6).to_csv(tmp_path / "rise.csv", index=False)  # prices raised by 60%
    sets = [f"data.path={tmp_path / 'ref.csv'}", *QUICK]
    r = gmm_apps.run("anomaly", out=tmp_path / "same", set=[*sets, f"data.score={tmp_path / 'same.csv'}"])
    found = r.summary["compared_with_reference"]
    assert found["shifted"] is None and found["p_value"] > 1e-3 and not any(f["named"] for f in found["features"])
    assert r.summary["headline"] == f"{r.summary['flagged']} of 800 records flagged in same.csv"
    # flagged far beyond the reference's rate, and the amount named as what moved
    r = gmm_apps.run("anomaly", out=tmp_path / "rise", set=[*sets, f"data.score={tmp_path / 'rise.csv'}"])
    found = r.summary["compared_with_reference"]
    assert found["shifted"] == "more unusual" and found["flagged_share"] > 2 * found["expected_share"]
    moved = found["features"][0]
    assert (
        moved["feature"] == "amount"
        and moved["named"]
        and moved["new"] / moved["reference"] == pytest.approx(1.6, rel=0.1)
    )
    assert (
        r.summary["headline"].endswith(shift_sentence(found)) and "moved as a whole (amount " in r.summary["headline"]
    )
    assert "Compared with the reference" in (tmp_path / "rise" / "report.html").read_text()


def test_a_file_applied_in_chunks_is_compared_as_one_scored_whole(tmp_path, gmm_log):
    records(5000, 1).to_csv(tmp_path / "ref.csv", index=False)
    records(2500, 4, e_share=0.3).to_csv(tmp_path / "new.csv", index=False)  # a kind of merchant never seen
    sets = [f"data.path={tmp_path / 'ref.csv'}", f"data.score={tmp_path / 'new.csv'}", *QUICK, "engine.chunk_rows=1000"]
    whole = gmm_apps.run("anomaly", out=tmp_path / "run", set=sets).summary["compared_with_reference"]
    assert cli.main(["apply", str(tmp_path / "run"), str(tmp_path / "new.csv"), "--out", str(tmp_path / "a")]) == 0
    chunked = json.loads((tmp_path / "a" / "summary.json").read_text())["compared_with_reference"]
    assert chunked["records"] == whole["records"] == 2500 and chunked["flagged_share"] == whole["flagged_share"]
    assert [f["feature"] for f in chunked["features"]] == [f["feature"] for f in whole["features"]]
    assert [f["effect"] for f in chunked["features"]] == pytest.approx([f["effect"] for f in whole["features"]])
    # the merchants of the new kind are in none of the four: each kind's share falls, the largest fall named
    assert {f["feature"] for f in whole["features"][:4]} == {"kind=A", "kind=B", "kind=C", "kind=D"}
    assert all(f["new"] < f["reference"] for f in whole["features"][:4]) and whole["features"][0]["named"]


def test_new_records_like_a_small_reference_are_flagged_at_its_rate(tmp_path, gmm_log):
    # 300 records of 20 features: a detector fitted on them scores new ones like them as more unusual, so its
    # own 10% threshold would flag more of them; the threshold for new records is set on held-out folds
    rng = np.random.default_rng(6)
    frame = pd.DataFrame(rng.standard_t(5, (5300, 20)), columns=[f"x{i}" for i in range(20)])
    frame.iloc[:300].to_csv(tmp_path / "ref.csv", index=False)
    frame.iloc[300:].to_csv(tmp_path / "new.csv", index=False)
    sets = [f"data.path={tmp_path / 'ref.csv'}", f"data.score={tmp_path / 'new.csv'}", "data.id_column=null"]
    r = gmm_apps.run("anomaly", out=tmp_path / "r", set=[*sets, "model.seeds=2", "report.plots=false"])
    s, scores = r.summary, r.tables["scores"]
    assert s["threshold"] == s["threshold_new_records"] > s["threshold_reference"]
    assert (scores["flag"] == (scores["score"] > s["threshold_new_records"])).all()
    # the 5,000 new records (binomial sd 0.4 points) are flagged near the rate; the reference's own threshold
    # would have flagged far more of them
    assert 0.06 < scores["flag"].mean() < 0.14
    assert (scores["score"] > s["threshold_reference"]).mean() > 0.15
    found = s["compared_with_reference"]
    assert found["expected_from"] == "held-out folds of the reference" and 0.09 < found["expected_share"] <= 0.1
    assert found["shifted"] is None  # as many as expected: nothing said
    assert "new records are flagged above" in gmm_log.text
    assert s["new_records_flagged_expected"] == {"share": found["expected_share"], "from": found["expected_from"]}
    html = (tmp_path / "r" / "report.html").read_text()
    assert "threshold for new records" in html and "share of new records like the reference it flags" in html
    # the reference scored itself keeps its own threshold: at most the rate of it flagged
    own = gmm_apps.run(
        "anomaly", out=tmp_path / "own", set=[*sets[:1], *sets[2:], "model.seeds=2", "report.plots=false"]
    )
    assert own.summary["threshold"] == own.summary["threshold_reference"] == s["threshold_reference"]
    assert own.tables["scores"]["flag"].sum() == 30
    # and so does the reference file named again as the records to score
    again = [*sets[:1], f"data.score={tmp_path / 'ref.csv'}", *sets[2:], "model.seeds=2", "report.plots=false"]
    twice = gmm_apps.run("anomaly", out=tmp_path / "twice", set=again)
    assert twice.tables["scores"]["flag"].sum() == 30 and "compared_with_reference" not in twice.summary


def test_held_out_scores_are_those_of_detectors_fitted_without_each_fold():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3))
    cfg = AnomalyConfig.model_validate({"model": {"seeds": 1, "components": [1, 2]}})
    det = GMMDetector.from_config(cfg).fit(X)
    train = type("Records", (), {"X": X})()
    held = held_out_scores(cfg, det, train)
    fold = np.random.default_rng(cfg.model.random_state).permutation(60) % HELD_OUT_FOLDS
    for k in range(HELD_OUT_FOLDS):  # brute force: a detector fitted on the other folds scores fold k
        alone = GMMDetector.from_config(cfg).fit(X[fold != k])
        np.testing.assert_allclose(held[fold == k], alone.decision_function(X[fold == k]), rtol=1e-12)
    assert held_out_scores(cfg, det, type("Records", (), {"X": X[:12]})()) is None  # 9 left to fit on
    assert held_out_scores(cfg, det, type("Records", (), {"X": X[:13]})()) is not None


def test_the_threshold_for_new_records_is_set_on_held_out_scores_and_saved(tmp_path):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 3))
    det = GMMDetector(n_components=[1, 2], seeds=2, random_state=0).fit(X)
    held = det.decision_scores_ + rng.gamma(2.0, 0.3, 400)  # held-out scores run higher than the fit's own
    det.set_threshold(rate=0.1, held_out=held)
    assert det.threshold_ == threshold_at_rate(det.decision_scores_, 0.1) and det.labels_.sum() == 40
    assert det.threshold_new_ == threshold_at_rate(held, 0.1) > det.threshold_
    assert np.sum(held > det.threshold_new_) == 40
    new = rng.normal(size=(300, 3))
    np.testing.assert_array_equal(det.predict(new), det.decision_function(new) > det.threshold_new_)
    det.save(tmp_path / "m", meta={})
    back, _ = GMMDetector.load(tmp_path / "m")
    assert (back.threshold_, back.threshold_new_) == (det.threshold_, det.threshold_new_)
    # a file saved before there was a threshold for new records: new records get the reference's
    head, arrays = load_arrays(tmp_path / "m" / "detector.npz", format=GMMDetector.FORMAT, max_version=5)
    del head["threshold_new"]
    save_arrays(tmp_path / "m" / "detector.npz", arrays, format=GMMDetector.FORMAT, format_version=5, meta=head)
    old, _ = GMMDetector.load(tmp_path / "m")
    assert old.threshold_new_ == old.threshold_ == det.threshold_
    # learning from new records moves both thresholds by the same step
    gap = det.threshold_new_ - det.threshold_
    before = det.threshold_
    det.update(rng.normal(size=(200, 3)))
    assert det.threshold_ != before and det.threshold_new_ - det.threshold_ == pytest.approx(gap)
    # a fixed score is the threshold of every record
    det.set_threshold(value=2.5, held_out=held)
    assert det.threshold_ == det.threshold_new_ == 2.5


def test_a_detector_that_learns_from_new_records_compares_the_next_with_them_too(tmp_path):
    rng = np.random.default_rng(1)
    ref, new = rng.normal(0, 1, (1000, 2)), rng.normal(0.5, 1, (600, 2))
    profile = Profile.of(ref, np.zeros(1000, bool))
    both = profile.merged(profile.tally(new, np.zeros(600, bool)))
    z = lambda x: np.clip((x - profile.centre) / profile.scale, -CLIP, CLIP)  # noqa: E731
    pooled = np.r_[z(ref), z(new)]
    np.testing.assert_allclose(both.level, pooled.mean(axis=0))
    np.testing.assert_allclose(both.variance, pooled.var(axis=0))
    assert both.count.tolist() == [1600, 1600] and (both.centre == profile.centre).all()
    # end to end: apply --update saves the pooled levels with the updated detector
    records(3000, 1).to_csv(tmp_path / "ref.csv", index=False)
    records(1000, 3, scale=1.6).to_csv(tmp_path / "rise.csv", index=False)
    gmm_apps.run("anomaly", out=tmp_path / "r", set=[f"data.path={tmp_path / 'ref.csv'}", *QUICK])
    argv = ["apply", str(tmp_path / "r"), str(tmp_path / "rise.csv"), "--update", "--out", str(tmp_path / "u")]
    assert cli.main([*argv, "--quiet"]) == 0
    from gmm_apps.pipelines.anomaly.model import GMMDetector

    _, before = GMMDetector.load(tmp_path / "r" / "model")
    _, after = GMMDetector.load(tmp_path / "u" / "model")
    b, a = Profile.from_dict(before["reference_profile"]), Profile.from_dict(after["reference_profile"])
    assert a.count[0] == b.count[0] + 1000 and a.level[0] > b.level[0]  # the amounts risen, pooled in
