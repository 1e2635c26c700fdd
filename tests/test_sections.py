"""Reports in sections (QuickBooks' Sales by Customer Detail and its like) read as tables: each row given its
section, the sections' names and totals left out (gmm_apps.sections), checked against the rows written."""

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gmm_apps import cli
from gmm_apps.sections import Sections, section_column
from gmm_apps.tabular import read_table

REPO = Path(__file__).resolve().parents[1]
HEADER = ["", "Date", "Transaction Type", "Num", "Qty", "Sales Price", "Amount", "Balance"]


def _sales_by_customer(path, customers=12, seed=0):
    """A QuickBooks-style Sales by Customer Detail: title rows, each customer's name alone over their invoices,
    a ``Total for`` row after them, the report's TOTAL and the time it ran.  Returns the lines written."""
    rng = np.random.default_rng(seed)
    rows = [["Sales by Customer Detail"], ["Craig's Design and Landscaping"], ["January 1 - December 31, 2024"], []]
    rows.append(HEADER)
    lines, num = [], 1001
    for c in range(customers):
        name = f"Customer {c:02d}" if c != 3 else "Total Wine & More"  # a name that starts like a total
        rows.append([name] + [""] * (len(HEADER) - 1))
        balance = 0.0
        for d in np.sort(rng.choice(360, int(rng.integers(1, 6)), replace=False)):
            day = (pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(d))).strftime("%m/%d/%Y")
            qty, price = int(rng.integers(1, 5)), float(rng.choice([25, 75, 1200]))
            balance += qty * price
            rows.append(["", day, "Invoice", str(num), f"{qty:.2f}", f"{price:,.2f}", f"{qty * price:,.2f}", ""])
            lines.append((name, day, num, qty * price))
            num += 1
        rows.append([f"Total for {name}"] + [""] * 5 + [f"${balance:,.2f}", ""])
    rows += [[""] * len(HEADER), ["TOTAL"] + [""] * 5 + [f"${sum(x[3] for x in lines):,.2f}", ""], []]
    rows.append(["Monday, Jan 06, 2025 10:21:04 AM GMT-08:00"])
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return pd.DataFrame(lines, columns=["Customer", "Date", "Num", "Amount"]), rows


def _amounts(column):
    return column.astype(str).str.replace(",", "").astype(float).to_numpy()


def test_a_report_in_sections_gives_each_row_its_section_as_text_and_as_a_workbook(tmp_path, gmm_log):
    lines, rows = _sales_by_customer(tmp_path / "report.csv")
    padded = [row + [""] * (len(HEADER) - len(row)) for row in rows]
    pd.DataFrame(padded).replace("", None).to_excel(tmp_path / "report.xlsx", header=False, index=False)
    for name in ("report.csv", "report.xlsx"):
        for dtype in (None, str):
            gmm_log.clear()
            got = read_table(tmp_path / name, dtype=dtype)
            assert list(got.columns[:2]) == ["Customer", "Date"], name  # named from the title: by Customer
            assert got["Customer"].tolist() == lines["Customer"].tolist(), name
            np.testing.assert_allclose(_amounts(got["Amount"]), lines["Amount"].to_numpy())
            assert got["Num"].astype(float).astype(int).tolist() == lines["Num"].tolist()
            assert (
                f"a report in sections: 12 sections over their rows ('Customer 00', 'Customer 01', 'Customer 02', "
                f"...), each row given its section in column 'Customer'; 13 rows naming a section and 13 totals "
                f"left out, {len(lines)} rows read" in gmm_log.text
            ), name
    # without its title, a scale-out read (whose blocks would each start in a section unnamed) reads it whole
    pytest.importorskip("dask")
    from gmm_apps.engine import dask_frame

    (tmp_path / "bare.csv").write_text("".join((tmp_path / "report.csv").read_text().splitlines(True)[4:]))
    assert dask_frame(tmp_path / "bare.csv", chunk_rows=1000) is None
    assert "read in one process: a report in sections" in gmm_log.text
    assert read_table(tmp_path / "bare.csv")["Section"].tolist() == lines["Customer"].tolist()
    # read in chunks (apply of a long file), the open section carried from one chunk to the next
    chunks = list(read_table(tmp_path / "report.csv", chunksize=20))
    assert len(chunks) > 2
    assert pd.concat(chunks)["Customer"].tolist() == lines["Customer"].tolist()


def test_nested_sections_are_named_by_their_path_and_sections_without_totals_follow_each_other():
    frame = pd.DataFrame(
        [
            ["Income", None, None],
            ["Design", None, None],
            [None, "2024-01-02", 10.0],
            ["Total for Design", None, 10.0],
            ["Landscaping", None, None],
            [None, "2024-01-03", 5.0],
            [None, "2024-01-04", 6.0],
            ["Total for Landscaping", None, 11.0],
            ["Total for Income", None, 21.0],
            ["Expenses", None, None],
            [None, "2024-01-05", -3.0],
        ],
        columns=["Account", "Date", "Amount"],
    )
    got = Sections("x").read(frame)
    assert got["Account"].tolist() == ["Income: Design", "Income: Landscaping", "Income: Landscaping", "Expenses"]
    assert got["Amount"].tolist() == [10.0, 5.0, 6.0, -3.0]
    siblings = pd.DataFrame(
        [["North", None], [None, 1.0], [None, 2.0], ["South", None], [None, 3.0]], columns=["Unnamed: 0", "x"]
    )
    assert Sections("x").read(siblings)["Section"].tolist() == ["North", "North", "South"]
    # read in chunks, a section starting a chunk follows the last one's rows as their sibling
    east = pd.DataFrame([["East", None], [None, 4.0]], columns=siblings.columns, index=[5, 6])
    sections = Sections("x")
    parts = [sections.read(siblings), sections.read(east, first=False)]
    assert pd.concat(parts)["Section"].tolist() == ["North", "North", "South", "East"]
    # a report's own column of that name keeps it; the sections are named apart
    named = siblings.assign(Customer=siblings["x"].map({1.0: "a", 2.0: "b", 3.0: "c"}))
    assert list(Sections("x", [["Sales by Customer"]]).read(named).columns) == ["Customer (section)", "x", "Customer"]
    assert section_column("Unnamed: 0", [["Transaction Detail by Account"]]) == "Account"
    assert section_column("Unnamed: 0", [["sales by region"]]) == "Region"


@pytest.mark.parametrize(
    "rows",
    [
        # a log whose id is missing on some rows, and a note row: rows with both an id and values are no section
        [["c1", "2024-01-02", 5.0], [None, "2024-01-03", 6.0], ["note", None, None], [None, "2024-01-04", 1.0]],
        # one name over rows: too few to be sections
        [["North", None, None], [None, "2024-01-03", 6.0], [None, "2024-01-04", 1.0]],
        # rows before the first name
        [[None, "2024-01-01", 1.0], ["A", None, None], [None, "2024-01-03", 6.0], ["B", None, None], [None, "x", 1]],
    ],
)
def test_tables_that_are_no_report_in_sections_are_left_as_read(rows):
    frame = pd.DataFrame(rows, columns=["id", "date", "amount"])
    assert Sections("x").read(frame) is frame


def test_customers_from_a_report_in_sections_count_each_line_once_and_no_total(tmp_path):
    lines, _ = _sales_by_customer(tmp_path / "report.csv", customers=60, seed=1)
    out = tmp_path / "run"
    sets = ["data.id_column=Customer", "data.date_column=Date", "data.amount_column=Amount"]
    sets += ["report.stability_seeds=1", "report.bootstrap=0", "report.plots=false", "split.holdout_weeks=12"]
    sets += [f"data.path={tmp_path / 'report.csv'}", "model.n_components=2"]
    args = ["run", str(REPO / "configs" / "customers.yaml"), "--out", str(out), "--quiet"]
    assert cli.main([*args, *[a for s in sets for a in ("--set", s)]]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cleaning"]["lines"] == len(lines)
    assert summary["cleaning"]["revenue"] == pytest.approx(lines["Amount"].sum())
    assert summary["cleaning"]["missing_id"]["lines"] == 0
    assert summary["cleaning"]["sections"] == {"column": "Customer", "sections": 60, "names": 61, "totals": 61}
    assert "60 sections read; 61 rows naming a section and 61 total rows left out" in (out / "report.html").read_text()


def test_anomaly_scores_a_report_in_sections_line_by_line_and_says_how_it_was_read(tmp_path):
    lines, _ = _sales_by_customer(tmp_path / "report.csv", customers=40, seed=2)
    out = tmp_path / "run"
    sets = [f"data.path={tmp_path / 'report.csv'}", "data.score=null", "data.id_column=Num", "report.plots=false"]
    sets += ["data.columns=[Qty, Sales Price, Amount]", "model.seeds=1", "model.components=[1, 2]"]
    args = ["run", "anomaly", "--out", str(out), "--quiet"]
    assert cli.main([*args, *[a for s in sets for a in ("--set", s)]]) == 0
    scores = pd.read_csv(out / "scores.csv")
    assert sorted(scores["id"]) == sorted(lines["Num"])  # every invoice, no customer's name and no total
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sections"] == {"data.path": {"column": "Customer", "sections": 40, "names": 41, "totals": 41}}
    assert "40 sections, each row&#x27;s in column &#x27;Customer&#x27;; 41 rows naming a section and 41 totals" in (
        (out / "report.html").read_text()
    )
