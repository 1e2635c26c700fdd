"""Which columns the anomaly pipeline fits: labels (named, or found by name and values) are read for evaluation
only, and numbers that count time in the file's order are left out unless named."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import gmm_apps
from gmm_apps.errors import DataError, UserError
from gmm_apps.pipelines.anomaly.config import AnomalyData
from gmm_apps.pipelines.anomaly.features import Schema

QUICK = ["model.seeds=1", "model.components=[1, 4]", "report.plots=false", "report.explain=1"]


def card_log(n=3000, seed=0, start=0):
    """Kaggle's credit-card shape: Time (seconds from ``start``, over a day), V1.., Amount and a rare 0/1 Class
    whose records sit apart in V1, V2."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 4)), columns=["V1", "V2", "V3", "V4"])
    df.insert(0, "Time", np.sort(rng.uniform(start, start + 86400, n)).round())
    df["Amount"] = np.exp(rng.normal(3, 1, n)).round(2)
    df["Class"] = (rng.uniform(size=n) < 0.01).astype(int)
    df.loc[df.Class == 1, ["V1", "V2"]] += 5
    return df


def learn(df, **data):
    return Schema.learn(df, AnomalyData(path="unused", score=None, id_column=None, **data), "t.csv")


def test_a_0_1_column_named_like_a_label_is_the_labels_not_a_feature(tmp_path):
    df = card_log()
    schema = learn(df)
    assert schema.label_column == "Class" and "Class" not in schema.features
    assert schema.features == ["V1", "V2", "V3", "V4", "Amount"]
    r = gmm_apps.run("anomaly", data=df, out=tmp_path / "r", set=QUICK + ["data.score=null"])
    ev = r.summary["evaluation"]
    scores = r.tables["scores"]
    assert ev["roc_auc"] == pytest.approx(roc_auc_score(df["Class"], scores["score"]))
    assert ev["roc_auc"] > 0.95 and ev["outlier_share"] == pytest.approx(df["Class"].mean())
    assert "ROC-AUC" in r.summary["headline"] and scores["label"].tolist() == df["Class"].tolist()
    # null means no labels: the column is then fitted like any other
    r0 = gmm_apps.run(
        "anomaly", data=df, out=tmp_path / "r0", set=QUICK + ["data.score=null", "data.label_column=null"]
    )
    assert r0.summary["features"] == ["V1", "V2", "V3", "V4", "Amount", "Class"] and r0.summary["evaluation"] is None


@pytest.mark.parametrize(
    "header", ["Class", "outlier", "label", "is_fraud", "isFraud", "Is Anomaly", "fraudulent", "ground_truth"]
)
def test_label_headers_found(header):
    df = card_log(n=200).rename(columns={"Class": header})
    assert learn(df).label_column == header


def test_what_is_not_taken_for_labels():
    df = card_log(n=400)
    # a system's own flag, and a 0/1 feature under an ordinary name, stay features
    flags = df.assign(isFlaggedFraud=0, card_present=np.arange(len(df)) % 2)
    schema = learn(flags)
    assert schema.label_column == "Class" and {"isFlaggedFraud", "card_present"} <= set(schema.features)
    # a class of three values is a feature (a travel class, a vehicle class), not labels
    assert learn(df.assign(Class=np.arange(len(df)) % 3 + 1)).label_column is None
    # a 0/1 column named in data.columns is the feature the user asked for
    named = learn(df, columns=["V1", "V2", "Class"])
    assert named.label_column is None and named.features == ["V1", "V2", "Class"]
    # an empty one answers nothing
    assert learn(df.assign(Class=np.nan)).label_column is None
    with pytest.raises(DataError, match="columns 'Class' and 'target' both look like labels"):
        learn(df.assign(target=df["Class"]))


def test_labels_as_words_and_the_values_that_are_refused():
    df = card_log(n=300)
    words = learn(df.assign(Class=df["Class"].map({1: "Yes", 0: "no"})))
    assert words.records(df.assign(Class=df["Class"].map({1: "Yes", 0: "no"})), "t.csv").labels.tolist() == (
        df["Class"].tolist()
    )
    # scikit-learn's -1 (outlier) / 1 (inlier) would be read backwards: refused, naming the value and row
    sk = df.assign(Class=np.where(df["Class"] == 1, -1, 1))
    schema = learn(df, label_column="Class")
    with pytest.raises(DataError, match=r"t.csv: column 'Class' \(data.label_column\) has '-1' at data row \d+"):
        schema.records(sk, "t.csv")


def test_named_labels_in_the_scored_records_only_are_evaluated(tmp_path):
    df = card_log()
    ref, new = df.iloc[:2000].drop(columns="Class"), df.iloc[2000:]
    ref.to_csv(tmp_path / "ref.csv", index=False)
    new.to_csv(tmp_path / "new.csv", index=False)
    sets = QUICK + [f"data.path={tmp_path / 'ref.csv'}", f"data.score={tmp_path / 'new.csv'}"]
    r = gmm_apps.run("anomaly", out=tmp_path / "r", set=sets + ["data.label_column=Class"])
    assert r.summary["evaluation"]["roc_auc"] == pytest.approx(roc_auc_score(new["Class"], r.tables["scores"]["score"]))
    with pytest.raises(UserError, match="column 'class' \\(data.label_column\\) not found, but 'Class' is"):
        gmm_apps.run("anomaly", out=tmp_path / "x", set=sets + ["data.label_column=class"])


def test_labels_found_by_name_in_the_scored_records_only_are_evaluated(tmp_path, gmm_log):
    # outcomes known by the time the new records are scored: the reference has none, the new file a Class column
    df = card_log(n=5000)
    ref, new = df.iloc[:2000].drop(columns="Class"), df.iloc[2000:].reset_index(drop=True)
    ref.to_csv(tmp_path / "ref.csv", index=False)
    new.to_csv(tmp_path / "new.csv", index=False)
    sets = QUICK + [f"data.path={tmp_path / 'ref.csv'}", f"data.score={tmp_path / 'new.csv'}"]
    r = gmm_apps.run("anomaly", out=tmp_path / "r", set=sets + ["engine.chunk_rows=1000"])  # apply reads 3 blocks
    assert r.summary["evaluation"]["roc_auc"] == pytest.approx(roc_auc_score(new["Class"], r.tables["scores"]["score"]))
    assert r.tables["scores"]["label"].tolist() == new["Class"].tolist()
    a = r.apply(tmp_path / "new.csv", out=tmp_path / "a")
    assert a.summary["evaluation"] == r.summary["evaluation"]
    # read in blocks, one of them without a label filled in: not comparable, said, and nothing evaluated
    gap = new.astype({"Class": "Int64"})
    gap.loc[1000:1999, "Class"] = pd.NA
    gap.to_csv(tmp_path / "gap.csv", index=False)
    b = r.apply(tmp_path / "gap.csv", out=tmp_path / "b")
    assert b.summary["evaluation"] is None and "labels found in 2 of 3 blocks" in gmm_log.text
    # a text column under a label's name, or two 0/1 columns that could be the labels: nothing evaluated, no error
    two = new.assign(label=new["Class"])
    two.to_csv(tmp_path / "two.csv", index=False)
    assert r.apply(tmp_path / "two.csv", out=tmp_path / "c").summary["evaluation"] is None
    text = new.drop(columns="Class").assign(label="groceries")
    text.to_csv(tmp_path / "text.csv", index=False)
    assert r.apply(tmp_path / "text.csv", out=tmp_path / "d").summary["evaluation"] is None


def test_the_columns_suggested_for_a_wide_file_leave_the_labels_out():
    df = card_log(n=300).assign(nameOrig=[f"C{i}" for i in range(300)], nameDest=[f"M{i}" for i in range(300)])
    with pytest.raises(DataError, match=r"data.columns: \[V1, V2, V3, V4, Amount\]"):
        learn(df.rename(columns={"Class": "isFraud"}))


def test_seconds_since_the_first_record_are_left_out_or_every_later_record_is_flagged(tmp_path):
    day1, day2 = card_log(n=4000, seed=1), card_log(n=4000, seed=2, start=86400)
    day1.to_csv(tmp_path / "day1.csv", index=False)
    day2.to_csv(tmp_path / "day2.csv", index=False)
    sets = QUICK + [f"data.path={tmp_path / 'day1.csv'}", f"data.score={tmp_path / 'day2.csv'}", "data.id_column=null"]
    r = gmm_apps.run("anomaly", out=tmp_path / "r", set=sets)
    assert "Time" not in r.summary["features"]
    share = r.tables["scores"]["flag"].mean()
    assert share == pytest.approx(0.1, abs=0.03)  # threshold.rate: about the reference's own share
    # named, it is fitted as asked: the second day's times lie past everything learned
    named = gmm_apps.run("anomaly", out=tmp_path / "n", set=sets + ["data.columns=[Time, V1, V2, V3, V4, Amount]"])
    assert "Time" in named.summary["features"] and named.tables["scores"]["flag"].mean() > 0.5


def test_what_counts_time():
    df = card_log(n=600).drop(columns="Class")
    # PaySim's step (hours, many records in each), newest first, or a day number: left out
    steps = df.assign(step=np.repeat(np.arange(1, 61), 10)[::-1], Day=np.repeat(np.arange(30), 20))
    assert learn(steps).features == ["V1", "V2", "V3", "V4", "Amount"]
    # an export sorted by its amount is in order too, but its header says nothing of time: kept
    by_amount = df.sort_values("Amount", ignore_index=True).drop(columns="Time")
    assert learn(by_amount).features == ["V1", "V2", "V3", "V4", "Amount"]
    # a gap in it changes nothing; a time column out of order, and a few batch numbers, are kept
    assert "Time" not in learn(df.assign(Time=df["Time"].where(df.index != 7)), missing="marginalize").features
    assert "Time" in learn(df.sample(frac=1, random_state=0)).features
    assert "step" in learn(df.assign(step=np.repeat(np.arange(5), 120))).features
    # a row counter under such a header is warned of as a row id (set data.id_column), not left out
    assert "seq" in learn(df.drop(columns="Time").assign(seq=np.arange(600))).features


def test_a_report_with_a_title_above_and_totals_below_reads_as_its_records(tmp_path, gmm_log):
    # an accounts-payable export from Excel: a title in A1, a blank row, the header, the invoices and a total
    rng = np.random.default_rng(1)
    n = 300
    invoices = pd.DataFrame(
        {
            "Invoice": [f"INV{i}" for i in range(n)],
            "Vendor": rng.choice(["Acme", "Globex", "Initech"], n),
            "Amount": rng.lognormal(5, 0.5, n).round(2),
            "Days to pay": rng.integers(10, 40, n),
        }
    )
    total = pd.DataFrame({"Invoice": ["Total"], "Amount": [invoices["Amount"].sum()]})
    with pd.ExcelWriter(tmp_path / "ap.xlsx") as xw:
        pd.DataFrame([["Accounts payable, November 2026"]]).to_excel(xw, index=False, header=False)
        pd.concat([invoices, total]).to_excel(xw, index=False, startrow=2)
    with open(tmp_path / "ap.csv", "w") as fh:  # the same as text
        fh.write('"Accounts payable, November 2026"\n\n')
        pd.concat([invoices, total]).to_csv(fh, index=False)
    from gmm_apps.pipelines.anomaly.data import read_frame

    for name in ("ap.xlsx", "ap.csv"):
        got = read_frame(tmp_path / name)
        assert got.columns.tolist() == invoices.columns.tolist(), name
        assert len(got) == n and got["Invoice"].tolist() == invoices["Invoice"].tolist(), name
    assert "the header is row 3; the 2 rows above it (a title?) are left out" in gmm_log.text
    assert "the last 1 row(s) hold a report's totals, not records, and are left out: Total, " in gmm_log.text
    # a last record whose first cell merely starts like a total, every cell filled, is a record
    kept = pd.concat([invoices, invoices.head(1).assign(Invoice="Total-Care Ltd")])
    kept.to_csv(tmp_path / "k.csv", index=False)
    assert len(read_frame(tmp_path / "k.csv")) == n + 1
