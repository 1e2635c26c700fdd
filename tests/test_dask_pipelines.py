"""Pipelines with ``engine.kind: dask`` (a real LocalCluster of 2 worker processes) give the local engine's outputs."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

from gmm_apps import cli  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "gmm_apps" / "samples"
DASK = ["--set", "engine.kind=dask", "--set", "engine.n_workers=2", "--set", "engine.chunk_rows=1000"]


def run(args):
    return cli.main([*args, "--quiet"])


def test_customers_on_dask_read_the_currency_a_header_names_as_here(tmp_path):
    """Plain numbers under ``amount (€)``: the report's amounts are in euros on the workers as here (the whole-log
    pass has nothing else to read: ISO dates, numbers, no currency or status column)."""
    tx = pd.read_csv(SAMPLES / "cdnow_sample.txt", sep=r"\s+", header=0, names=["cust", "date", "n", "amount (€)"])
    tx["date"] = pd.to_datetime(tx["date"].astype(str), format="%Y%m%d").dt.strftime("%Y-%m-%d")
    tx.drop(columns="n").to_csv(tmp_path / "tx.csv", index=False)
    keys = ["data.id_column=cust", "data.amount_column=amount (€)", "model.n_components=3", "report.bootstrap=0"]
    keys += ["report.stability_seeds=1", "report.plots=false", f"data.path={tmp_path / 'tx.csv'}"]
    common = [a for k in keys for a in ("--set", k)]
    cfg = str(REPO / "configs" / "customers.yaml")
    assert run(["run", cfg, "--out", str(tmp_path / "local"), *common]) == 0
    assert run(["run", cfg, "--out", str(tmp_path / "dask"), *common, *DASK]) == 0
    summaries = [json.loads((tmp_path / k / "summary.json").read_text()) for k in ("local", "dask")]
    assert [s["cleaning"]["amounts_in"] for s in summaries] == ["EUR", "EUR"]
    assert all("expected €" in s["headline"] for s in summaries)


def test_customers_on_dask_read_excel_day_numbers_and_say_so_as_here(tmp_path):
    """Dates as Excel's day numbers (whole, so the workers read them as five-digit text): the same customers, and
    the same line in both logs, though the workers read the dates."""
    tx = pd.read_csv(SAMPLES / "cdnow_sample.txt", sep=r"\s+", header=0, names=["cust", "date", "n", "amount"])
    days = pd.to_datetime(tx["date"].astype(str), format="%Y%m%d") - pd.Timestamp("1899-12-30")
    tx.assign(date=days.dt.days).drop(columns="n").to_csv(tmp_path / "tx.csv", index=False)
    keys = ["data.id_column=cust", "model.n_components=3", "report.bootstrap=0", "report.stability_seeds=1"]
    keys += ["report.plots=false", f"data.path={tmp_path / 'tx.csv'}"]
    common = [a for k in keys for a in ("--set", k)]
    cfg = str(REPO / "configs" / "customers.yaml")
    assert run(["run", cfg, "--out", str(tmp_path / "local"), *common]) == 0
    assert run(["run", cfg, "--out", str(tmp_path / "dask"), *common, *DASK]) == 0
    a, b = (pd.read_csv(tmp_path / k / "customers.csv") for k in ("local", "dask"))
    pd.testing.assert_frame_equal(a, b)
    for k in ("local", "dask"):
        assert "column 'date' read as Excel serial day numbers" in (tmp_path / k / "run.log").read_text(), k


def test_customers_aggregate_the_log_on_dask(tmp_path, capsys):
    tx = pd.read_csv(
        SAMPLES / "cdnow_sample.txt",
        sep=r"\s+",
        header=0,
        names=["cust", "date", "quantity", "amount"],
        dtype={"cust": str, "date": str},
    )
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d").dt.strftime("%Y-%m-%d")
    # a return and a row without a customer: netted and counted on the workers as here
    extra = pd.DataFrame(
        {
            "cust": [tx["cust"].iloc[0], None],
            "date": ["1997-06-01", "1997-06-02"],
            "quantity": [-1, 1],
            "amount": [-5.0, 9.0],
        }
    )
    log = tmp_path / "tx.csv"
    log_rows = pd.concat([tx, extra], ignore_index=True).assign(Currency="USD", Status="Succeeded")
    log_rows.loc[::500, "Status"] = "failed"  # payments that failed, all down the log: left out on the workers
    # Stripe's Amount Refunded: part of some payments came back, subtracted on the workers as here
    log_rows["Amount Refunded"] = "0.00"
    part = log_rows.index[7::400]
    log_rows.loc[part, "Amount Refunded"] = (log_rows.loc[part, "amount"] / 4).map("{:.2f}".format)
    log_rows.to_csv(log, index=False)
    common = [
        "--set",
        f"data.path={log}",
        "--set",
        "data.id_column=cust",
        "--set",
        "data.quantity_column=quantity",
        "--set",
        "model.n_components=3",
        "--set",
        "report.stability_seeds=1",
        "--set",
        "report.bootstrap=0",
        "--set",
        "report.plots=false",
    ]
    cfg = str(REPO / "configs" / "customers.yaml")
    assert run(["run", cfg, "--out", str(tmp_path / "local"), *common]) == 0
    assert run(["run", cfg, "--out", str(tmp_path / "dask"), *common, *DASK]) == 0
    a = pd.read_csv(tmp_path / "local" / "customers.csv")
    b = pd.read_csv(tmp_path / "dask" / "customers.csv")
    pd.testing.assert_frame_equal(a, b)
    ca, cb = (json.loads((tmp_path / k / "summary.json").read_text())["cleaning"] for k in ("local", "dask"))
    assert ca == cb and ca["returns"]["lines"] == 1 and ca["missing_id"]["lines"] == 1 and ca["amounts_in"] == "USD"
    failed = log_rows["Status"] == "failed"
    assert ca["status"]["left_out"] == {"failed": int(failed.sum())} and failed.sum() > 5
    assert ca["status"]["revenue"] == pytest.approx(log_rows.loc[failed, "amount"].sum())
    refunded = log_rows["Amount Refunded"].astype(float).where(~failed & (log_rows["amount"] > 0), 0.0)
    assert ca["refunds"]["column"] == "Amount Refunded" and ca["refunds"]["lines"] == (refunded > 0).sum() > 5
    assert ca["refunds"]["amount"] == pytest.approx(refunded.sum())
    # a second currency, however far down the log: refused on the workers as here
    mixed = pd.read_csv(log, dtype=str)
    mixed.loc[len(mixed) - 1, "Currency"] = "eur"
    mixed.to_csv(log, index=False)
    for engine in ([], DASK):
        code = run(["run", cfg, "--out", str(tmp_path / "mixed"), *common, *engine])
        err = capsys.readouterr().err
        assert code == 2 and "column 'Currency' names 2 currencies" in err and ", EUR 1 rows)" in err, err
        assert not (tmp_path / "mixed").exists()


def test_day_first_dates_and_decimal_marks_are_decided_on_the_whole_log_not_per_block(tmp_path):
    # the log's first megabytes (the first blocks the workers read) hold only days 1-12, which cannot tell
    # day from month alone, and amounts like "$1,234" only, which cannot tell a thousands comma from a
    # decimal one; the whole file can, and the workers read it as the local reader does
    rng = np.random.default_rng(0)
    n = 150_000
    month = rng.integers(1, 13, n)
    dom = np.where(np.arange(n) < 100_000, rng.integers(1, 13, n), rng.integers(13, 29, n))  # days 1-12 first
    day = pd.to_datetime(pd.DataFrame({"year": 2020, "month": month, "day": dom}))
    cust = rng.integers(0, 3000, n).astype(str)
    amount = np.where(np.arange(n) < 100_000, rng.integers(1000, 5000, n), rng.gamma(2, 20, n).round(2) + 1000)
    formatted = [f"${v:,.0f}" if i < 100_000 else f"${v:,.2f}" for i, v in enumerate(amount)]
    log = pd.DataFrame({"cust": cust, "date": day.dt.strftime("%d/%m/%Y"), "amount": formatted})
    log.to_csv(tmp_path / "tx.csv", index=False)
    assert (tmp_path / "tx.csv").stat().st_size > 3 << 20  # several blocks, the first two of days 1-12 only
    common = [
        "--set",
        f"data.path={tmp_path / 'tx.csv'}",
        "--set",
        "data.id_column=cust",
        "--set",
        "report.plots=false",
    ]
    common += ["--set", "report.stability_seeds=1", "--set", "report.bootstrap=0", "--set", "split.holdout_weeks=max"]
    cfg = str(REPO / "configs" / "customers.yaml")
    assert run(["run", cfg, "--out", str(tmp_path / "local"), *common]) == 0
    assert run(["run", cfg, "--out", str(tmp_path / "dask"), *common, *DASK]) == 0
    a, b = (pd.read_csv(tmp_path / k / "customers.csv") for k in ("local", "dask"))
    pd.testing.assert_frame_equal(a, b)
    marks = [
        json.loads((tmp_path / k / "summary.json").read_text())["cleaning"]["decimal_marks"] for k in ("local", "dask")
    ]
    assert marks == [{"amount": "."}] * 2  # recorded for apply, decided the same way


def test_anomaly_apply_scores_partitions_on_dask(tmp_path):
    cfg = str(REPO / "configs" / "anomaly.yaml")
    fast = ["--set", "model.bags=0", "--set", "report.plots=false"]
    assert run(["run", cfg, "--out", str(tmp_path / "fit"), *fast]) == 0
    new = pd.read_csv(SAMPLES / "cardio_new.csv")
    big = pd.concat([new] * 40, ignore_index=True)
    big["id"] = [f"Praxis Müller {i}" for i in range(len(big))]
    path = tmp_path / "big.csv"
    big.to_csv(path, index=False, sep=";", encoding="cp1252")  # as Excel on Windows saves; ~29k rows, 1 MB blocks
    assert run(["apply", str(tmp_path / "fit"), str(path), "--out", str(tmp_path / "local")]) == 0
    import yaml

    c = yaml.safe_load((tmp_path / "fit" / "config.yaml").read_text())
    c["engine"] = {"kind": "dask", "n_workers": 2, "chunk_rows": 5000}
    (tmp_path / "fit" / "config.yaml").write_text(yaml.safe_dump(c))
    assert run(["apply", str(tmp_path / "fit"), str(path), "--out", str(tmp_path / "dask")]) == 0
    a = pd.read_csv(tmp_path / "local" / "scores.csv")
    b = pd.read_csv(tmp_path / "dask" / "scores.csv")
    assert len(b) == len(big) and b["id"].iloc[-1] == f"Praxis Müller {len(big) - 1}"
    pd.testing.assert_frame_equal(a, b)
    # the comparison with the reference adds the partitions' sums: the same figures as one process
    sa, sb = (
        json.loads((tmp_path / k / "summary.json").read_text())["compared_with_reference"] for k in ("local", "dask")
    )
    assert sa["records"] == sb["records"] == len(big) and sa["flagged_share"] == sb["flagged_share"]
    assert [f["feature"] for f in sa["features"]] == [f["feature"] for f in sb["features"]]
    assert [f["effect"] for f in sa["features"]] == pytest.approx([f["effect"] for f in sb["features"]], abs=1e-9)


def test_images_segment_a_folder_on_dask_workers(tmp_path):
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        img = np.zeros((40, 60, 3), np.uint8)
        img[:, 30:] = (200, 40 * i, 30)
        img[:20, :30] = (20, 90, 200)
        img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(photos / f"p{i}.png")
    cfg = str(REPO / "configs" / "images.yaml")
    common = ["--set", f"data.path={photos}", "--set", "report.plots=false", "--set", "model.n_components=[2,3]"]
    assert run(["run", cfg, "--out", str(tmp_path / "local"), *common, "--set", "run.n_jobs=1"]) == 0
    assert run(["run", cfg, "--out", str(tmp_path / "dask"), *common, *DASK[:4]]) == 0
    for f in sorted((tmp_path / "local" / "labels").iterdir()):
        assert f.read_bytes() == (tmp_path / "dask" / "labels" / f.name).read_bytes()
    assert (tmp_path / "local" / "palettes.csv").read_bytes() == (tmp_path / "dask" / "palettes.csv").read_bytes()
    # what the workers logged is said in the run's log as one process says it
    logs = [(tmp_path / k / "run.log").read_text().splitlines() for k in ("local", "dask")]
    said = [[ln.split(" ", 3)[-1] for ln in log if " seg" not in ln and "Dask engine" not in ln] for log in logs]
    assert said[0][1:] == said[1][1:] and any("candidate K=3" in ln for ln in said[1]), said


def test_unreachable_scheduler_is_a_clean_error(tmp_path, capsys):
    code = cli.main(
        [
            "run",
            str(REPO / "configs" / "images.yaml"),
            "--out",
            str(tmp_path / "r"),
            "--quiet",
            "--set",
            "engine.kind=dask",
            "--set",
            "engine.address=tcp://127.0.0.1:9",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: engine.address") and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_anomaly_apply_on_dask_names_the_global_row_of_a_bad_value(tmp_path, capsys):
    cfg = str(REPO / "configs" / "anomaly.yaml")
    assert (
        run(["run", cfg, "--out", str(tmp_path / "fit"), "--set", "model.bags=0", "--set", "report.plots=false"]) == 0
    )
    new = pd.read_csv(SAMPLES / "cardio_new.csv")
    big = pd.concat([new] * 40, ignore_index=True)
    big["id"] = np.arange(len(big))
    big.loc[20_000, "ASTV"] = np.nan  # far beyond the first partition
    path = tmp_path / "bad.csv"
    big.to_csv(path, index=False)
    capsys.readouterr()
    assert cli.main(["apply", str(tmp_path / "fit"), str(path), "--out", str(tmp_path / "local"), "--quiet"]) == 2
    local_err = capsys.readouterr().err
    import yaml

    c = yaml.safe_load((tmp_path / "fit" / "config.yaml").read_text())
    c["engine"] = {"kind": "dask", "n_workers": 2, "chunk_rows": 5000}
    (tmp_path / "fit" / "config.yaml").write_text(yaml.safe_dump(c))
    assert cli.main(["apply", str(tmp_path / "fit"), str(path), "--out", str(tmp_path / "dask"), "--quiet"]) == 2
    dask_err = capsys.readouterr().err
    assert "at data row 20001" in local_err
    assert len(local_err.strip().splitlines()) == 1
    # (the test runner also shows Python's ResourceWarnings, which a plain run does not)
    assert [ln for ln in dask_err.splitlines() if ln.startswith("error:")] == local_err.strip().splitlines()
    assert "Compute Failed" not in dask_err and "Traceback" not in dask_err


def test_anomaly_apply_on_dask_leaves_out_a_statements_balance_and_total_rows_as_one_process_does(tmp_path):
    """Opening and closing balances between the months of a long statement, on every worker, a header repeated
    where two months' files were joined, and a total row at its end: left out on Dask as in one process, not
    refused as records with an empty amount; records without ids are numbered by their place in the file, so
    that the numbers find them there whatever was left out before them."""
    ref = pd.read_csv(SAMPLES / "cardio_reference.csv").drop(columns=["id"])
    ref.to_csv(tmp_path / "ref.csv", index=False)
    fit = ["--set", f"data.path={tmp_path / 'ref.csv'}", "--set", "data.score=null", "--set", "data.id_column=null"]
    fit += ["--set", "model.bags=0", "--set", "report.plots=false"]
    assert run(["run", str(REPO / "configs" / "anomaly.yaml"), "--out", str(tmp_path / "fit"), *fit]) == 0
    new = pd.read_csv(SAMPLES / "cardio_new.csv").drop(columns=["id"])
    months = []
    for m in range(24):  # about 18,000 records: four partitions of 5,000 rows
        month = new.assign(LB=new["LB"] + m / 100)
        months += [pd.DataFrame({"LB": ["Opening balance"]}), month, pd.DataFrame({"LB": ["Closing balance"]})]
    table = pd.concat(months[:-1], ignore_index=True)  # this month's not closed yet (a closing row at the end
    table.to_csv(tmp_path / "statement.csv", index=False)  # is a total: the file would be read in one process)
    lines = (tmp_path / "statement.csv").read_text().splitlines()
    joined = lines[:9000] + lines[:1] + lines[9000:]  # the header again where two files were joined
    (tmp_path / "joined.csv").write_text("\n".join(joined) + "\n")
    (tmp_path / "totalled.csv").write_text("\n".join([*joined, f"Total,,,{new['AC'].sum() * 24}"]) + "\n")
    names = ("statement.csv", "joined.csv", "totalled.csv")
    for name in names:
        assert run(["apply", str(tmp_path / "fit"), str(tmp_path / name), "--out", str(tmp_path / f"l{name}")]) == 0
    import yaml

    c = yaml.safe_load((tmp_path / "fit" / "config.yaml").read_text())
    c["engine"] = {"kind": "dask", "n_workers": 2, "chunk_rows": 5000}
    (tmp_path / "fit" / "config.yaml").write_text(yaml.safe_dump(c))
    for name in names:
        assert run(["apply", str(tmp_path / "fit"), str(tmp_path / name), "--out", str(tmp_path / f"d{name}")]) == 0
        a = pd.read_csv(tmp_path / f"l{name}" / "scores.csv")
        b = pd.read_csv(tmp_path / f"d{name}" / "scores.csv")
        pd.testing.assert_frame_equal(a, b)
        assert len(a) == 24 * len(new)
        raw = pd.read_csv(tmp_path / name, dtype=str)  # each id is the record's place in the file
        found = raw.iloc[a["id"].to_numpy()]
        assert pd.to_numeric(found["LB"], errors="coerce").notna().all() and found["AC"].notna().all()
        log = (tmp_path / f"d{name}" / "run.log").read_text()
        assert "hold a statement's balance, not records, and are left out: Opening balance" in log
        # said for each of the three partitions, or of the four chunks of 5,000 rows read in one process
        assert log.count("hold a statement's balance") == (4 if name == "totalled.csv" else 3)


def test_files_the_workers_cannot_split_by_bytes_are_left_to_one_process(tmp_path):
    from gmm_apps.engine import dask_frame
    from gmm_apps.tabular import header_with

    df = pd.DataFrame({"Kunde": ["Müller", "Sørensen"] * 50, "Betrag": ["1,5", "2,25"] * 50})
    df.to_csv(tmp_path / "windows.csv", sep=";", index=False, encoding="cp1252")
    blocks = dask_frame(tmp_path / "windows.csv", chunk_rows=10, header_has=header_with(["Kunde"]))
    got = blocks.compute().reset_index(drop=True)  # separator and encoding as read locally
    assert got.astype(object).equals(df.astype(object))
    df.to_csv(tmp_path / "unicode.txt", sep="\t", index=False, encoding="utf-16")
    assert dask_frame(tmp_path / "unicode.txt", chunk_rows=10) is None
    with open(tmp_path / "titled.csv", "w") as fh:
        fh.write("Report\n\n")
        df.to_csv(fh, index=False)
    assert dask_frame(tmp_path / "titled.csv", chunk_rows=10, header_has=header_with(["Kunde"])) is None
    assert dask_frame(tmp_path / "windows.csv", chunk_rows=10, header_has=header_with(["id"])) is not None
    df.to_csv(tmp_path / "zipped.csv.gz", index=False)
    assert dask_frame(tmp_path / "zipped.csv.gz", chunk_rows=10) is None
    (tmp_path / "headerless.csv").write_text("".join(f"{i},{i / 4}\n" for i in range(100)))  # its first row is data
    assert dask_frame(tmp_path / "headerless.csv", chunk_rows=10) is None


def test_files_joined_end_to_end_or_ending_in_a_note_give_the_local_readers_outputs_on_dask(tmp_path):
    from gmm_apps.engine import _repeated_header_lines

    rng = np.random.default_rng(8)
    months = []
    for m in range(1, 5):  # four monthly exports, each with its header, 2,000 rows each: blocks cut inside them
        n = 2000
        months.append(
            pd.DataFrame(
                {
                    "customer": rng.integers(0, 300, n).astype(str),
                    "date": pd.Timestamp(f"2024-{m:02d}-01") + pd.to_timedelta(rng.integers(0, 28, n), "D"),
                    "amount": rng.gamma(2, 20, n).round(2),
                }
            )
        )
    joined, one = tmp_path / "joined.csv", tmp_path / "one.csv"
    for eol, bom in (("\n", ""), ("\r\n", "\ufeff")):  # Windows line ends and a byte-order mark as Excel writes
        joined.write_bytes((bom + "".join(m.to_csv(index=False, lineterminator=eol) for m in months)).encode())
        by_hand = pd.read_csv(joined, dtype=str)
        same = (by_hand["customer"] == "customer").to_numpy()
        assert _repeated_header_lines(joined) == (3, int(np.flatnonzero(same)[0]) + 1)  # data row 2001
    pd.concat(months).to_csv(one, index=False)
    assert _repeated_header_lines(one) == (0, None)
    common = [
        "--set",
        "data.id_column=customer",
        "--set",
        "data.date_column=date",
        "--set",
        "data.amount_column=amount",
    ]
    common += ["--set", "split.enabled=false", "--set", "features.recent_weeks=8", "--set", "model.n_components=3"]
    common += ["--set", "report.stability_seeds=1"]
    cfg = str(REPO / "configs" / "customers.yaml")
    assert run(["run", cfg, "--out", str(tmp_path / "local"), "--set", f"data.path={one}", *common]) == 0
    assert run(["run", cfg, "--out", str(tmp_path / "dask"), "--set", f"data.path={joined}", *common, *DASK]) == 0
    said = (tmp_path / "dask" / "run.log").read_text()
    assert "Dask engine" in said and "3 row(s) repeat the header" in said and "the first at data row 2001" in said
    for name in ("customers.csv", "segments.csv"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "dask" / name).read_bytes(), name
    # a note under the table ("Downloaded from ... as of ..."): read in one process, which leaves it out
    with open(joined, "a", encoding="utf-8") as fh:
        fh.write('"Downloaded from the shop as of 2024-05-01",,\n')
    assert run(["run", cfg, "--out", str(tmp_path / "noted"), "--set", f"data.path={joined}", *common, *DASK]) == 0
    said = (tmp_path / "noted" / "run.log").read_text()
    assert "read in one process: it ends in a note under the table" in said and "are a note, not data" in said
    for name in ("customers.csv", "segments.csv"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "noted" / name).read_bytes(), name
    # a report's total row at the end: read in one process too, the same figures
    totalled = tmp_path / "totalled.csv"
    totalled.write_text(one.read_text() + "Total,,99999.99\n")
    assert run(["run", cfg, "--out", str(tmp_path / "total"), "--set", f"data.path={totalled}", *common, *DASK]) == 0
    assert "hold a report's totals, not purchases" in (tmp_path / "total" / "run.log").read_text()
    for name in ("customers.csv", "segments.csv"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "total" / name).read_bytes(), name
