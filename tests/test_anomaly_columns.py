"""Which columns the anomaly pipeline fits: labels (named, or found by name and values) are read for evaluation
only, and numbers that count time in the file's order are left out unless named."""

import re

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
    return Schema.learn(df, AnomalyData(path="unused", score=None, **{"id_column": None, **data}), "t.csv")


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
    ("keys", "message"),
    [
        ({"id_column": "Time"}, "column 'Time' is both a feature (data.columns) and the records' ids (data.id_column)"),
        (
            {"label_column": "Class"},
            "column 'Class' is both a feature (data.columns) and the labels (data.label_column)",
        ),
        ({"verdict_column": "Class"}, "column 'Class' is both a feature (data.columns) and the verdicts"),
    ],
)
def test_a_column_listed_as_a_feature_and_named_for_another_role_is_refused(keys, message):
    with pytest.raises(DataError, match=re.escape(message)) as refused:
        learn(card_log(n=200), columns=["V1", "Amount", "Time", "Class"], **keys)
    assert str(refused.value).endswith(
        f"leave it out of data.columns, or set data.{next(iter(keys))}: null to score it"
    )
    learn(card_log(n=200), columns=["V1", "Amount"], **keys)  # left out of the features: read


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
    assert "the header is row 3; the 2 rows above it (a title, an export's notes?) are left out" in gmm_log.text
    assert "the last 1 row(s) hold a report's totals, not records, and are left out: Total, " in gmm_log.text
    # a last record whose first cell merely starts like a total, every cell filled, is a record
    kept = pd.concat([invoices, invoices.head(1).assign(Invoice="Total-Care Ltd")])
    kept.to_csv(tmp_path / "k.csv", index=False)
    assert len(read_frame(tmp_path / "k.csv")) == n + 1
    # a bank statement's closing balance under its payments, as German, French and English banks write it
    for label in ("Kontostand am 31.10.2024", "Neuer Saldo", "Solde au 31/10/2024", "Closing balance"):
        closing = pd.DataFrame({"Vendor": [label], "Amount": [12_345.67]})
        pd.concat([invoices, closing]).to_csv(tmp_path / "s.csv", index=False)
        assert len(read_frame(tmp_path / "s.csv")) == n, label
        assert f"left out: {label}, 12345.67" in gmm_log.text, label


def test_a_statements_balance_rows_are_no_records(tmp_path, gmm_log):
    from gmm_apps.pipelines.anomaly.data import data_rows, read_frame

    rng = np.random.default_rng(5)
    n = 300
    amount = -rng.gamma(2, 25, n).round(2)
    payments = pd.DataFrame(
        {
            "Date": pd.date_range("2025-01-02", periods=n, freq="D").strftime("%d/%m/%Y"),
            "Description": rng.choice(["TESCO", "AMAZON UK", "TOTAL GAS & POWER", "Opening balance transfer"], n),
            "Amount": amount,
            "Balance": (10_000 + np.cumsum(amount)).round(2),
        }
    )
    for opening, closing in (("Opening balance", "Closing balance"), ("Anfangssaldo", "Endsaldo")):
        # the date first, the balance row's words in its description, its amount empty, as banks export them;
        # a month's balance brought forward inside the statement
        row = lambda day, words, bal: pd.DataFrame({"Date": [day], "Description": [words], "Balance": [bal]})  # noqa: E731
        mid = row("01/06/2025", "Balance brought forward", payments.Balance.iloc[149])
        last = row("29/10/2025", closing, payments.Balance.iloc[-1])
        parts = [row("01/01/2025", opening, 10_000.0), payments[:150], mid, payments[150:], last]
        pd.concat(parts).to_csv(tmp_path / "statement.csv", index=False)
        for got in (
            read_frame(tmp_path / "statement.csv"),
            pd.concat(read_frame(tmp_path / "statement.csv", chunksize=100)),
        ):
            assert len(got) == n and got["Description"].tolist() == payments["Description"].tolist(), opening
        said = f"3 row(s) hold a statement's balance, not records, and are left out: 01/01/2025, {opening}, 10000; "
        assert said + "01/06/2025, Balance brought forward" in gmm_log.text, opening
    # the whole statement run: no balance row among the records, the running balance no feature
    r = gmm_apps.run("anomaly", data=tmp_path / "statement.csv", out=tmp_path / "r", set=QUICK + ["data.score=null"])
    assert len(r.tables["scores"]) == n and "Balance" not in r.summary["features"]
    # without ids, each record is numbered by its place in the file, the balance rows before it counted, read
    # whole or in chunks, from CSV or Parquet: the numbers find the records there
    raw = pd.read_csv(tmp_path / "statement.csv")
    raw.to_parquet(tmp_path / "statement.parquet", index=False)
    for name in ("statement.csv", "statement.parquet"):
        ids = gmm_apps.load_run(tmp_path / "r").apply(tmp_path / name, out=tmp_path / f"a{name}").tables["scores"]["id"]
        assert raw.iloc[ids]["Description"].tolist() == payments["Description"].tolist() and ids[0] == 1, name
        rows = np.concatenate([data_rows(c) for c in read_frame(tmp_path / name, chunksize=100)])  # as chunks come
        assert raw.iloc[rows - 1]["Description"].tolist() == payments["Description"].tolist(), name
    # a record that only mentions a balance, or a payment to a firm named Total, keeps every cell: a record
    payments.to_csv(tmp_path / "plain.csv", index=False)
    assert len(read_frame(tmp_path / "plain.csv")) == n


def test_the_row_numbers_pandas_saves_before_the_records_are_no_feature(tmp_path, gmm_log):
    # df.to_csv() without index=False: the row order scored as a feature, a detector flagging the file's last rows
    df = card_log(n=1500).drop(columns="Time")
    df.to_csv(tmp_path / "cards.csv")
    r = gmm_apps.run("anomaly", data=tmp_path / "cards.csv", out=tmp_path / "r", set=QUICK + ["data.score=null"])
    assert r.summary["features"] == ["V1", "V2", "V3", "V4", "Amount"]
    assert "cards.csv: the first column has no name and numbers the rows (0 to 1499)" in gmm_log.text
    assert r.tables["scores"]["id"].tolist() == list(range(1500))  # numbered as the index saved was
    # named as the records' ids, it is kept as them
    named = QUICK + ["data.score=null", 'data.id_column="Unnamed: 0"']
    df[df.Amount > 10].to_csv(tmp_path / "some.csv")
    r = gmm_apps.run("anomaly", data=tmp_path / "some.csv", out=tmp_path / "s", set=named)
    assert r.tables["scores"]["id"].tolist() == df.index[df.Amount > 10].tolist()
    assert "Unnamed: 0" not in r.summary["features"]
    # a frame indexed by its ids saved as Parquet: pandas keeps the ids out of the columns, the run finds them
    df.set_axis([f"T{i}" for i in range(len(df))]).rename_axis("tx").to_parquet(tmp_path / "cards.parquet")
    r = gmm_apps.run(
        "anomaly",
        data=tmp_path / "cards.parquet",
        out=tmp_path / "p",
        set=QUICK + ["data.score=null", "data.id_column=tx"],
    )
    assert r.tables["scores"]["id"].tolist()[:2] == ["T0", "T1"] and "tx" not in r.summary["features"]


def merchant_log(n=6000, n_odd=60, seed=0):
    """Card payments at 400 merchants whose popularity falls as 1/rank, amounts the same everywhere; the odd
    records (``odd`` 1) pay at the 200 least visited merchants or at ones nobody else visited."""
    rng = np.random.default_rng(seed)
    names = np.array([f"shop {i:03d}" for i in range(400)])
    p = 1 / np.arange(1, 401)
    merchants = rng.choice(names, n, p=p / p.sum())
    odd = rng.choice(n, n_odd, replace=False)
    merchants[odd] = np.where(
        rng.uniform(size=n_odd) < 0.7, rng.choice(names[200:], n_odd), [f"unseen {i}" for i in range(n_odd)]
    )
    df = pd.DataFrame({"amount": np.exp(rng.normal(3, 0.6, n)).round(2), "merchant": merchants, "odd": 0})
    df.loc[odd, "odd"] = 1
    return df


def test_a_column_of_repeating_groups_is_offered_as_the_group_column():
    rng = np.random.default_rng(1)
    n = 3000
    amounts = np.exp(rng.normal(3, 0.6, n)).round(2)
    cards = pd.Series([f"card {k}" for k in rng.integers(0, 100, n)])  # 30 payments a card
    pairs = pd.Series([f"order {k}" for k in rng.integers(0, n // 2, n)])  # about 2 a value: no group
    for column, offered in ((cards, True), (pairs, False)):
        df = pd.DataFrame({"amount": amounts, "who": column})
        with pytest.raises(DataError) as refused:
            learn(df, label_column=None)
        said = str(refused.value)
        assert "data.many_categories: frequency" in said
        assert ("score each record against its group's usual values: data.group_column: who" in said) is offered
        if offered:  # and the suggestion runs as said
            assert learn(df, label_column=None, group_column="who", columns=["amount"]).features[0] == "amount"
            with pytest.raises(DataError) as again:  # a group column set already: not offered a second time
                learn(df.assign(shop=df["who"].str.replace("card", "shop")), label_column=None, group_column="who")
            assert "data.group_column" not in str(again.value) and "'shop'" in str(again.value)


def test_a_column_of_many_merchants_is_scored_by_how_common_each_is(tmp_path, gmm_log):
    df = merchant_log()
    sets = QUICK + ["data.score=null", "data.label_column=odd"]
    with pytest.raises(UserError, match="'merchant' .* score how common each value of 'merchant' is: data.many_"):
        gmm_apps.run("anomaly", data=df, out=tmp_path / "refused", set=sets)
    schema = learn(df, label_column="odd", many_categories="frequency")
    assert schema.features == ["amount", "merchant (rarity rank)"]
    visits = df["merchant"].map(df["merchant"].value_counts())
    assert _ranked_by_visits(schema.records(df, "t.csv").X[:, 1], df["merchant"], visits)
    r = gmm_apps.run("anomaly", data=df, out=tmp_path / "r", set=sets + ["data.many_categories=frequency"])
    without = gmm_apps.run("anomaly", data=df, out=tmp_path / "amounts", set=sets + ["data.columns=[amount]"])
    auc = roc_auc_score(df["odd"], r.tables["scores"]["score"])
    oracle = roc_auc_score(df["odd"], -visits)  # ranked by how rare the merchant is, as generated
    assert auc > oracle - 0.04 and auc > 0.88, (auc, oracle)  # the amounts, noise here, cost a little
    assert roc_auc_score(df["odd"], without.tables["scores"]["score"]) < 0.65
    # the log of each merchant's share as the feature would miss them: 200 rare merchants at nearly one share
    # are common together (``python benchmarks/bench_anomaly_categories.py``)
    # scored later: the saved counts are used; a merchant nobody visited is rarer than any, and said
    new = pd.DataFrame({"amount": [20.0, 20.0, 20.0], "merchant": ["shop 000", "shop 399", "brand new"], "odd": 0})
    gmm_log.clear()
    scored = r.apply(new, out=tmp_path / "later").tables["scores"]["score"].to_numpy()
    assert scored[0] < scored[1] < scored[2]
    assert "column 'merchant' has 1 record(s) with a value the reference records never had ('brand new')" in (
        gmm_log.text
    )
    again = r.apply(df, out=tmp_path / "again").tables["scores"]
    np.testing.assert_array_equal(again["score"], r.tables["scores"]["score"])


def _ranked_by_visits(rank, values, visits):
    """Whether ``rank`` numbers the values 0, 1, ... from the most visited down (ties in the values' order)."""
    order = sorted(set(values), key=lambda v: (-int(visits[values == v].iloc[0]), v))
    return np.array_equal(rank, values.map({v: i for i, v in enumerate(order)}).to_numpy(dtype=float))


def test_how_common_says_nothing_of_ids_or_notes():
    df = merchant_log(n=400, n_odd=4).assign(note=[f"call {i // 2 if i < 100 else i}" for i in range(400)])
    with pytest.raises(DataError, match="'note' .* most of its records hold a value seen once, as ids and notes do"):
        learn(df, label_column="odd", many_categories="frequency")
    # an empty cell is a value of its own, or missing where missing values are scored without them
    df.loc[:9, "merchant"] = None
    schema = learn(df.drop(columns="note"), label_column="odd", many_categories="frequency")
    filled = df["merchant"].fillna("")
    assert _ranked_by_visits(schema.records(df, "t.csv").X[:, 1], filled, filled.map(filled.value_counts()))
    marginal = learn(df.drop(columns="note"), label_column="odd", many_categories="frequency", missing="marginalize")
    assert np.isnan(marginal.records(df, "t.csv").X[:10, 1]).all()


def priced_log(n=4000, n_odd=40, seed=0):
    """Payments at 60 merchants, each with its own price level; the odd records (``odd`` 1) pay an amount of
    another merchant's level."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(2, 6, 60)
    shop = rng.integers(0, 60, n)
    amount = np.exp(rng.normal(level[shop], 0.3))
    odd = rng.choice(n, n_odd, replace=False)
    amount[odd] = np.exp(rng.normal(level[(shop[odd] + rng.integers(10, 50, n_odd)) % 60], 0.3))
    df = pd.DataFrame({"amount": amount.round(2), "merchant": [f"shop {k}" for k in shop], "odd": 0})
    df.loc[odd, "odd"] = 1
    return df


def test_amounts_against_their_merchants_usual_ones_by_brute_force():
    from gmm_apps.pipelines.anomaly.data import category_text as group_keys
    from gmm_apps.pipelines.anomaly.groups import MIN_GROUP, learn_groups, relative

    rng = np.random.default_rng(1)
    keys = pd.Series(["a"] * 9 + ["b"] * 7 + ["tiny"] * (MIN_GROUP - 1) + ["flat"] * 6)
    x = np.r_[rng.normal(10, 2, 9), rng.normal(500, 50, 7), rng.normal(0, 1, MIN_GROUP - 1), np.full(6, 3.0)]
    stats = learn_groups(group_keys(keys), {"x": x})
    q75, q25 = np.percentile(x, [75, 25])
    overall = (q75 - q25) / 1.349
    assert stats["names"] == ["a", "b", "flat"] and stats["overall_median"] == [np.median(x)]
    later = pd.Series(["a", "b", "tiny", "flat", "new", None])
    z = relative(group_keys(later), {"x": np.full(6, 42.0)}, stats)[0][:, 0]
    for i, g in enumerate(["a", "b"]):
        own = x[keys == g]
        spread = np.subtract(*np.percentile(own, [75, 25])) / 1.349
        assert z[i] == pytest.approx((42 - np.median(own)) / spread)
    # too few records, no spread of its own, a new group, no group: against everyone's
    assert z[2] == pytest.approx((42 - np.median(x)) / overall) and z[4] == z[2] and z[5] == z[2]
    assert z[3] == pytest.approx((42 - 3.0) / overall)


def test_an_amount_odd_for_its_merchant_is_found_with_the_group_column(tmp_path, gmm_log):
    df = priced_log()
    sets = QUICK + ["data.score=null", "data.label_column=odd", "data.columns=[amount]"]
    alone = gmm_apps.run("anomaly", data=df, out=tmp_path / "alone", set=sets)
    r = gmm_apps.run("anomaly", data=df, out=tmp_path / "r", set=sets + ["data.group_column=merchant"])
    assert r.summary["features"] == ["amount", "amount vs merchant"]
    auc = roc_auc_score(df["odd"], r.tables["scores"]["score"])
    assert auc > 0.75 and auc > roc_auc_score(df["odd"], alone.tables["scores"]["score"]) + 0.2, auc
    # beside each score, the usual amount of the record's merchant (its median in the reference)
    medians = df.groupby("merchant")["amount"].median()
    usual = r.tables["scores"]["amount usual for merchant"].to_numpy()
    np.testing.assert_allclose(usual, df["merchant"].map(medians).to_numpy())
    assert "<th>amount usual for merchant</th>" in (tmp_path / "r" / "report.html").read_text()  # top anomalies
    # scored later from the saved model: the same scores; a new merchant is measured against every merchant
    again = r.apply(df, out=tmp_path / "again").tables["scores"]
    np.testing.assert_array_equal(again["score"], r.tables["scores"]["score"])
    # groups numbered (card numbers): the same groups when a later file holds them as floats beside a blank
    numbered = df.assign(merchant=df["merchant"].str.slice(5).astype(int) + 4000)
    n = gmm_apps.run("anomaly", data=numbered, out=tmp_path / "n", set=sets + ["data.group_column=merchant"])
    later = numbered.astype({"merchant": float}).head(50)
    later.loc[0, "merchant"] = np.nan
    floats = n.apply(later, out=tmp_path / "floats").tables["scores"]["score"].to_numpy()
    np.testing.assert_allclose(floats[1:], n.tables["scores"]["score"].to_numpy()[1:50])
    with pytest.raises(UserError, match="column 'merchant' \\(used by the model\\) not found"):
        r.apply(df.drop(columns="merchant"), out=tmp_path / "none")
    with pytest.raises(UserError, match="data.group_column 'merchant' measures numeric features .* none is numeric"):
        gmm_apps.run(
            "anomaly",
            data=df.assign(size=["S", "M"] * 2000),
            out=tmp_path / "words",
            set=QUICK
            + ["data.score=null", "data.label_column=odd", "data.columns=[size]", "data.group_column=merchant"],
        )
    with pytest.raises(UserError, match="column 'shop' \\(data.group_column\\) not found; the file's columns are"):
        gmm_apps.run("anomaly", data=df, out=tmp_path / "typo", set=sets + ["data.group_column=shop"])


def test_a_code_read_as_a_number_in_a_later_file_is_the_same_category():
    # the reference's codes are text ("A7" among them); a later file of numeric codes beside an empty cell is
    # read as floats (1234.0): still code 1234, not a value the reference never had
    ref = pd.DataFrame({"amount": np.arange(1.0, 41.0), "code": ["1234", "A7", "5", "1234"] * 10})
    for many in ("error", "frequency"):
        schema = learn(ref, label_column=None, max_categories=2 if many == "frequency" else 20, many_categories=many)
        later = pd.DataFrame({"amount": [1.0, 2.0, 3.0], "code": [1234.0, np.nan, 5.0]})
        X = schema.records(later, "later.csv").X
        np.testing.assert_array_equal(X[[0, 2]], schema.records(ref.iloc[[0, 2]], "t.csv").X)


def test_cells_written_as_no_value_are_missing_values_as_empty_ones_are(tmp_path, gmm_log):
    # the UCI archive's '?', a dash, a spreadsheet's #DIV/0!: a column of numbers with a few of them is numbers
    df = card_log(n=800).drop(columns="Class")
    marks = ["?", "-", "#DIV/0!", "n.a."]
    written = df.astype({"V3": object})
    gaps = np.arange(5, 800, 37)
    for j, i in enumerate(gaps):
        written.loc[i, "V3"] = marks[j % len(marks)]
    empty = df.copy()
    empty.loc[gaps, "V3"] = np.nan
    written.to_csv(tmp_path / "marks.csv", index=False)
    empty.to_csv(tmp_path / "empty.csv", index=False)
    runs = {}
    for name in ("marks", "empty"):
        sets = [*QUICK, f"data.path={tmp_path / name}.csv", "data.score=null", "data.missing=marginalize"]
        runs[name] = gmm_apps.run("anomaly", out=tmp_path / name, set=sets)
    assert (tmp_path / "marks" / "scores.csv").read_bytes() == (tmp_path / "empty" / "scores.csv").read_bytes()
    assert "column 'V3': 22 cell(s) written '?', '-', '#DIV/0!' hold no value" in gmm_log.text
    # refused where missing values are: the cell as written, and the setting that scores such a record
    with pytest.raises(UserError, match="column 'V3' has a missing.* value '\\?' at data row 6; .*data.missing: marg"):
        gmm_apps.run(
            "anomaly", out=tmp_path / "x", set=[*QUICK, f"data.path={tmp_path / 'marks.csv'}", "data.score=null"]
        )
    assert not (tmp_path / "x").exists()


def test_lengths_of_time_are_hours_however_they_are_stored(tmp_path):
    # a session's length as a DataFrame or Parquet stores it (timedelta), or as pandas writes it to CSV
    # ('0 days 00:05:32'): one feature in hours, the same scores as the hours written as numbers
    rng = np.random.default_rng(1)
    secs = rng.integers(1, 4 * 3600, 400)
    secs[7] = 40 * 3600  # a session of 40 hours among minutes
    stored = pd.DataFrame({"amt": rng.lognormal(3, 1, 400).round(2), "session": pd.to_timedelta(secs, unit="s")})
    stored.loc[9, "session"] = pd.NaT
    hours = stored.assign(session=secs / 3600).astype({"session": float})
    hours.loc[9, "session"] = np.nan
    sch = learn(stored, missing="marginalize")
    assert sch.features == ["amt", "session"]
    want = learn(hours, missing="marginalize").records(hours, "t").X
    np.testing.assert_allclose(sch.records(stored, "t").X, want)
    stored.to_csv(tmp_path / "written.csv", index=False)
    assert pd.read_csv(tmp_path / "written.csv")["session"].iloc[0].endswith(f"{secs[0] % 60:02d}")  # text as written
    stored.to_parquet(tmp_path / "stored.parquet")
    hours.to_csv(tmp_path / "hours.csv", index=False)
    scores = {}
    for name in ("written.csv", "stored.parquet", "hours.csv"):
        sets = [*QUICK, f"data.path={tmp_path / name}", "data.score=null", "data.missing=marginalize"]
        scores[name] = gmm_apps.run("anomaly", out=tmp_path / name.split(".")[0], set=sets).tables["scores"]
    for name in ("written.csv", "stored.parquet"):
        np.testing.assert_allclose(scores[name]["score"], scores["hours.csv"]["score"], rtol=1e-9, err_msg=name)
    assert scores["hours.csv"]["score"].idxmax() == 7


def test_numbers_written_with_their_unit_are_read_in_one_unit_and_scored_later_in_it(tmp_path):
    # a dashboard's export of formatted data: '20 ms' and '1.2 s' in one column, '3.12 GiB', '36.5 °C' (and
    # '101A', room numbers, no measure): the same scores as the numbers written in ms, GiB and °C
    rng = np.random.default_rng(2)
    n = 600
    ms = rng.gamma(3, 60, n).round()
    ms[5] = 9000.0
    plain = pd.DataFrame(
        {"latency": ms, "memory": rng.normal(3.2, 0.2, n).round(2), "temp": rng.normal(36, 1, n).round(1)}
    )
    written = pd.DataFrame(
        {
            "latency": [f"{v / 1000:.3f} s" if v >= 1000 else f"{v:.0f} ms" for v in ms],
            "memory": [f"{v:.2f} GiB" for v in plain["memory"]],
            "temp": [f"{v:.1f} °C" for v in plain["temp"]],
            "room": [f"{k}A" for k in rng.integers(100, 104, n)],
        }
    )
    sch = learn(written)
    assert sch.measures == {"latency": "ms", "memory": "GiB", "temp": "°C"}
    assert sch.features[:3] == ["latency", "memory", "temp"] and "room=100A" in sch.features
    np.testing.assert_allclose(sch.records(written, "t").X[:, :3], plain.to_numpy())
    # scored later in other units of the same kinds: converted (°F to °C, GiB to MiB), the model file read back
    later = written.head(20).assign(
        latency=[f"{v / 1000:.4f} s" for v in ms[:20]],
        memory=[f"{v * 1024:.1f} MiB" for v in plain["memory"][:20]],
        temp=[f"{v * 9 / 5 + 32:.2f} °F" for v in plain["temp"][:20]],
    )
    again = Schema.from_dict(sch.to_dict())
    np.testing.assert_allclose(again.records(later, "t").X[:, :3], plain.head(20).to_numpy(), atol=0.01)
    with pytest.raises(DataError, match="column 'memory' holds '3.10 kg', in kg, where the model learned GiB; write"):
        again.records(later.assign(memory="3.10 kg"), "t")
    # a meter's readings in kWh and Wh, a parcel's weight in kg and lb: one unit each; '12B' (a flat) is no bytes
    kwh = rng.gamma(3, 0.5, n).round(3)
    kg = rng.gamma(2, 1.5, n).round(2)
    more = written.assign(
        energy=[f"{v * 1000:.0f} Wh" if v < 1 else f"{v:.3f} kWh" for v in kwh],
        weight=[f"{v / 0.45359237:.2f} lb" if i % 5 == 0 else f"{v} kg" for i, v in enumerate(kg)],
        flat=[f"{k}B" for k in rng.integers(10, 14, n)],
    )
    sch = learn(more)
    assert sch.measures["energy"] == "kWh" and sch.measures["weight"] == "kg" and "flat" not in sch.measures
    X = sch.records(more, "t").X
    np.testing.assert_allclose(X[:, sch.features.index("energy")], kwh, atol=5e-4)
    np.testing.assert_allclose(X[:, sch.features.index("weight")], kg, atol=0.003)
    # words that are no units, and amounts in two currencies, stay what they were
    assert learn(written.assign(temp=rng.choice(["3 apples", "4 pears"], n))).categories["temp"] == [
        "3 apples",
        "4 pears",
    ]
    with pytest.raises(DataError, match="EUR.*USD|USD.*EUR"):
        learn(written.assign(temp=rng.choice(["12.50 EUR", "10.00 USD"], n)))
    # a run scores the planted slow request first
    written.to_csv(tmp_path / "dash.csv", index=False)
    r = gmm_apps.run(
        "anomaly", out=tmp_path / "r", set=[*QUICK, f"data.path={tmp_path / 'dash.csv'}", "data.score=null"]
    )
    assert r.tables["scores"]["score"].idxmax() == 5


def _statement(n=1500, seed=3):
    """A card statement as a bank exports it: dates, a description, a column that happens to be named 'score'
    (a merchant rating), an empty memo and the amount."""
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    return pd.DataFrame(
        {
            "Transaction Date": days.strftime("%m/%d/%Y"),
            "Description": rng.choice(["WHOLEFDS #123", "SHELL OIL 5744", "STARBUCKS"], n),
            "score": rng.integers(1, 6, n),
            "Memo": np.nan,
            "Amount": -np.exp(rng.normal(3, 0.5, n)).round(2),
        }
    )


def _top_rows(html):
    """The cells of each row of the report's top-anomalies table, and its header."""
    table = html[html.index("anomalies</h2>") :].split("</table>")[0]
    head = re.findall(r"<th(?: [^>]*)?>(.*?)</th>", table)
    return head, [re.findall(r"<td(?: [^>]*)?>(.*?)</td>", row) for row in table.split("<tr>")[2:]]


def test_the_columns_shown_beside_a_record_are_those_scored_then_the_others_never_one_the_same_throughout():
    """A German statement's amount is its eighth column: shown, with the payee and the dates, before columns
    the same on every row (the account number, the booking text) or empty ones, which are not shown."""
    from gmm_apps.pipelines.anomaly.data import SHOWN, shown_columns

    n = 50
    df = pd.DataFrame(
        {
            "id": range(n),
            "Buchungstag": pd.date_range("2024-01-01", periods=n).strftime("%d.%m.%Y"),
            "Wertstellung": pd.date_range("2024-01-02", periods=n).strftime("%d.%m.%Y"),
            "Buchungstext": "Lastschrift",
            "Empfänger": ["REWE", "Aral"] * (n // 2),
            "Konto": "DE00",
            "BLZ": np.nan,
            "Notiz": ["a", "b", "c", "d", "e"] * (n // 5),
            "Referenz": [f"r{i}" for i in range(n)],
            "Betrag": np.arange(n) - 30.5,
        }
    )
    assert shown_columns(df, {"Empfänger", "Betrag"}, aside={"id"}) == [
        "Buchungstag",
        "Wertstellung",
        "Empfänger",
        "Notiz",
        "Referenz",
        "Betrag",
    ]
    assert len(shown_columns(df, set(), aside={"id"})) == SHOWN == 6
    # one record alone: every column it fills
    one = shown_columns(df.iloc[:1], {"Betrag"}, aside={"id"})
    assert one == ["Buchungstag", "Wertstellung", "Buchungstext", "Empfänger", "Konto", "Betrag"]  # BLZ: empty
    # more scored columns than are shown: the file's first of them
    wide = pd.DataFrame({f"x{i}": np.arange(n) * i for i in range(1, 10)})
    assert shown_columns(wide, set(wide.columns)) == ["x1", "x2", "x3", "x4", "x5", "x6"]


def test_the_report_shows_each_top_anomaly_as_written_in_the_file_the_scored_one_when_another_is_scored(tmp_path):
    ref, new = _statement(), _statement(seed=4).iloc[:300].copy()
    new.loc[17, ["Transaction Date", "Description", "Amount"]] = ["07/04/2024", "JEWELLERS OF BOND STREET", -9850.0]
    ref.to_csv(tmp_path / "ref.csv", index=False)
    new.to_csv(tmp_path / "new.csv", index=False)
    sets = QUICK + [f"data.path={tmp_path / 'ref.csv'}", f"data.score={tmp_path / 'new.csv'}"]
    r = gmm_apps.run("anomaly", out=tmp_path / "r", set=sets)
    scores = r.tables["scores"]
    assert list(scores.columns) == ["id", "score", "flag", "probability", "top_features"]  # scores.csv as before
    head, rows = _top_rows((tmp_path / "r" / "report.html").read_text())
    # the record's columns after the scores', the empty memo left out, the file's 'score' told from the score
    assert head == [
        "id",
        "score",
        "probability",
        "flag",
        "top_features",
        "Transaction Date",
        "Description",
        "score (record)",
        "Amount",
    ]
    assert rows[0][0] == "17" and rows[0][5:] == [
        "07/04/2024",
        "JEWELLERS OF BOND STREET",
        str(new.loc[17, "score"]),
        "-9850",
    ]
    # every row shown is the scored file's record of that id
    for row in rows:
        i = int(row[0].replace(",", ""))
        assert row[5:7] == [new.loc[i, "Transaction Date"], new.loc[i, "Description"]]
