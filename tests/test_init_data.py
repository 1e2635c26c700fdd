"""``gmm-apps init <pipeline> my.yaml --data FILE``: a config for a user's own input, its path and the columns
its headers show filled in, that runs as written."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gmm_apps import cli

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "gmm_apps" / "samples"
QUICK = {
    "customers": ["report.stability_seeds=1", "report.bootstrap=0", "report.plots=false"],
    "anomaly": ["report.plots=false", "model.seeds=2"],
    "regimes": ["report.plots=false", "report.stability_seeds=1"],
    "speakers": ["report.plots=false"],
}


def _init_and_run(tmp_path, name, data, capsys):
    """The config init writes for ``data``, and that it runs (a few quick settings aside)."""
    cfg = tmp_path / f"{name}-{Path(data).stem}.yaml"
    assert cli.main(["init", name, str(cfg), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {cfg} with " in out and f"from {data}; check it" in out
    sets = [a for s in QUICK[name] for a in ("--set", s)]
    assert cli.main(["run", str(cfg), "--out", str(tmp_path / f"{cfg.stem}-run"), "--quiet", *sets]) == 0
    return yaml.safe_load(cfg.read_text())["data"], cfg.read_text()


def test_a_shops_own_export_gets_its_columns(tmp_path, capsys):
    # a German shop's export (; and decimal commas) and an online retailer's line items in a workbook
    rng = np.random.default_rng(0)
    n = 1500
    days = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 400, n), "D")  # 57 weeks: not 39 + 39
    shop = pd.DataFrame(
        {
            "Bestellnummer": [f"B{i}" for i in range(n)],
            "Kundennummer": [f"K{k}" for k in rng.integers(0, 200, n)],
            "Datum": days.strftime("%d.%m.%Y"),
            "Betrag": [f"{v:.2f}".replace(".", ",") for v in rng.gamma(2, 40, n)],
        }
    )
    shop.to_csv(tmp_path / "export.csv", sep=";", index=False)
    data, text = _init_and_run(tmp_path, "customers", tmp_path / "export.csv", capsys)
    assert data["id_column"] == "Kundennummer" and data["date_column"] == "Datum"
    assert data["amount_column"] == "Betrag" and data["order_column"] == "Bestellnummer"
    assert "  id_column: Kundennummer  # from " in text  # said where it came from, beside what the key does
    assert "  holdout_weeks: max  # from " in text and "calibration_weeks: auto  #" in text  # 39, the 18 weeks left
    lines = shop.rename(columns={"Kundennummer": "CustomerID", "Datum": "InvoiceDate", "Bestellnummer": "InvoiceNo"})
    lines = lines.drop(columns=["Betrag"]).assign(
        Quantity=rng.integers(1, 4, n), UnitPrice=rng.gamma(2, 10, n).round(2)
    )
    lines.assign(InvoiceDate=days).to_excel(tmp_path / "retail.xlsx", index=False)
    data, _ = _init_and_run(tmp_path, "customers", tmp_path / "retail.xlsx", capsys)
    assert (data["quantity_column"], data["price_column"]) == ("Quantity", "UnitPrice") and data[
        "amount_column"
    ] is None
    # a workbook of one sheet a year: every year read, as the run would otherwise warn it does not
    with pd.ExcelWriter(tmp_path / "by_year.xlsx") as xw:
        for year, part in lines.assign(InvoiceDate=days).groupby(days.year):
            part.to_excel(xw, sheet_name=str(year), index=False)
    data, _ = _init_and_run(tmp_path, "customers", tmp_path / "by_year.xlsx", capsys)
    assert data["sheet"] == [str(y) for y in sorted(set(days.year))]
    summary = json.loads((tmp_path / "customers-by_year-run" / "summary.json").read_text())
    assert summary["cleaning"]["lines"] == n
    # half a year of sales: two thirds of it to learn on, recent spend over half of that, the rest to check on
    short = lines.assign(InvoiceDate=pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 210, n), "D"))
    short.to_csv(tmp_path / "half_year.csv", index=False)
    _init_and_run(tmp_path, "customers", tmp_path / "half_year.csv", capsys)
    cfg = yaml.safe_load((tmp_path / "customers-half_year.yaml").read_text())
    assert cfg["split"] == {"enabled": True, "start": None, "calibration_weeks": 19, "holdout_weeks": "max"}
    assert cfg["features"]["recent_weeks"] == 9


def test_records_of_ones_own_are_scored_themselves_by_their_id(tmp_path, capsys):
    ref = pd.read_csv(SAMPLES / "cardio_reference.csv").rename(columns={"id": "Record ID"})
    ref.to_csv(tmp_path / "records.csv", index=False)
    data, _ = _init_and_run(tmp_path, "anomaly", tmp_path / "records.csv", capsys)
    assert data["id_column"] == "Record ID" and data["score"] is None
    scores = pd.read_csv(tmp_path / "anomaly-records-run" / "scores.csv")
    assert len(scores) == len(ref) and scores["id"].tolist() == ref["Record ID"].tolist()
    # a column of many categories (a customer per record) is left out of the columns scored, as the run would
    # have asked, and an unnamed column with a different value in every row is the id
    rng = np.random.default_rng(3)
    txns = ref.rename(columns={"Record ID": "ref"}).assign(customer=[f"C{k}" for k in rng.integers(0, 300, len(ref))])
    txns.to_csv(tmp_path / "txns.csv", index=False)
    data, _ = _init_and_run(tmp_path, "anomaly", tmp_path / "txns.csv", capsys)
    assert data["id_column"] == "ref" and data["columns"] == [
        c for c in ref.columns if c not in ("Record ID", "outlier")
    ]
    # and init says why, with what else would read it
    assert cli.main(["init", "anomaly", str(tmp_path / "again.yaml"), "--data", str(tmp_path / "txns.csv")]) == 0
    said = capsys.readouterr().err
    assert (
        "settled in the config (data.id_column, data.columns): " in said
        and "'customer' (292 values, e.g. 'C0')" in said
    )
    assert "score how common each value of 'customer' is: data.many_categories: frequency" in said
    # no column of ids: the rows are numbered
    ref.drop(columns=["Record ID"]).to_csv(tmp_path / "bare.csv", index=False)
    data, _ = _init_and_run(tmp_path, "anomaly", tmp_path / "bare.csv", capsys)
    assert data["id_column"] is None and data["missing"] == "error"
    # empty cells (an export with gaps): scored by the other features, as the run's refusal would have suggested
    gaps = ref.astype({"ASTV": float})
    gaps.loc[[5, 40], "ASTV"] = np.nan
    gaps.to_csv(tmp_path / "gaps.csv", index=False)
    data, text = _init_and_run(tmp_path, "anomaly", tmp_path / "gaps.csv", capsys)
    assert data["missing"] == "marginalize" and "  missing: marginalize  # from " in text
    scores = pd.read_csv(tmp_path / "anomaly-gaps-run" / "scores.csv")
    assert len(scores) == len(ref) and scores["score"].notna().all()


def test_prices_and_recordings_of_ones_own(tmp_path, capsys):
    days = pd.bdate_range("2012-01-02", "2019-12-31")
    prices = 100 * np.exp(np.cumsum(np.random.default_rng(2).normal(0, 0.01, len(days))))
    pd.DataFrame({"Date": days, "Close": prices}).to_csv(tmp_path / "prices.csv", index=False)
    data, _ = _init_and_run(tmp_path, "regimes", tmp_path / "prices.csv", capsys)
    assert data["path"] == str(tmp_path / "prices.csv") and (data["missing"], data["nonpositive"]) == ("refuse",) * 2
    # a crude oil contract as published: days without a price and one negative settle (WTI's 2020-04-20)
    crude = pd.DataFrame({"Date": days, "Price": prices.round(2).astype(object)})
    crude.loc[[300, 301, 1500], "Price"] = ""
    crude.loc[1200, "Price"] = -37.63
    crude.to_csv(tmp_path / "crude.csv", index=False)
    data, text = _init_and_run(tmp_path, "regimes", tmp_path / "crude.csv", capsys)
    assert (data["missing"], data["nonpositive"]) == ("drop", "drop") and "  nonpositive: drop  # from " in text
    summary = json.loads((tmp_path / "regimes-crude-run" / "summary.json").read_text())
    assert summary["cleaning"]["rows_dropped"] == {"missing": 3, "nonpositive": 1}
    # a yield below zero for months is a level, not a price with a misprint: not dropped, the run says what to set
    bund = pd.DataFrame({"Date": days, "Yield": np.linspace(-0.8, 2.0, len(days))})
    bund.to_csv(tmp_path / "bund.csv", index=False)
    assert cli.main(["init", "regimes", str(tmp_path / "bund.yaml"), "--data", str(tmp_path / "bund.csv")]) == 0
    assert yaml.safe_load((tmp_path / "bund.yaml").read_text())["data"]["nonpositive"] == "refuse"
    assert cli.main(["run", str(tmp_path / "bund.yaml"), "--out", str(tmp_path / "bund-run")]) == 2
    assert "data.values: levels" in capsys.readouterr().err
    # a wide file of many series: a run each (--each), or the ones the user names; init says the first
    pd.DataFrame({"Date": days, "Euro": prices, "Yen": prices * 90}).to_csv(tmp_path / "fx.csv", index=False)
    assert cli.main(["init", "regimes", str(tmp_path / "fx.yaml"), "--data", str(tmp_path / "fx.csv")]) == 0
    said = capsys.readouterr()
    assert said.err == "" and "(its series Euro; the other 1 alike)" in said.out
    assert said.out.rstrip().endswith(f"--each {tmp_path / 'fx.csv'}")
    assert cli.main(["run", str(tmp_path / "fx.yaml"), "--out", str(tmp_path / "fx-run")]) == 2
    assert (
        "cannot tell which column holds prices (columns: Euro, Yen); set data.price_column to one (or a list, modelled "
        "together), or give the file to run --each" in capsys.readouterr().err
    )
    data, _ = _init_and_run(tmp_path, "speakers", SAMPLES / "fsdd_sample" / "enrol", capsys)
    assert data["label_from"] == "auto" and data["test"] == str(SAMPLES / "fsdd_sample" / "test")  # the set beside
    # a list of recordings (Common Voice's train.tsv): its columns of paths and speakers
    files = sorted((SAMPLES / "fsdd_sample" / "enrol").glob("*.wav"))
    listed = pd.DataFrame({"client_id": [f.stem.split("_")[1] for f in files], "path": [str(f) for f in files]})
    listed.to_csv(tmp_path / "train.tsv", sep="\t", index=False)
    data, _ = _init_and_run(tmp_path, "speakers", tmp_path / "train.tsv", capsys)
    assert (data["label_from"], data["file_column"], data["speaker_column"]) == ("table", "path", "client_id")


def test_init_data_that_is_not_there_is_one_line(tmp_path, capsys):
    assert cli.main(["init", "customers", str(tmp_path / "c.yaml"), "--data", str(tmp_path / "none.csv")]) == 2
    assert capsys.readouterr().err == f"error: --data {tmp_path / 'none.csv'}: no such file or folder\n"
    assert not (tmp_path / "c.yaml").exists()
    assert cli.main(["init", "customers", "--data"]) == 2  # a flag without its path
    capsys.readouterr()
    (tmp_path / "logs").mkdir()
    assert cli.main(["init", "customers", "--data", str(tmp_path / "logs")]) == 2  # an empty folder, not a log
    assert (
        capsys.readouterr().err
        == f"error: {tmp_path / 'logs'}: an empty folder, expected a file or a folder of files (--data)\n"
    )


def test_a_payment_providers_activity_download(tmp_path, capsys, gmm_log):
    # PayPal's activity download: the amount paid is "Gross" (fees and net beside it), the customer an email,
    # the currency a column, refunds negative rows; day-first dates with the time in a column of its own
    rng = np.random.default_rng(5)
    n = 1200
    days = pd.Timestamp("2023-01-02") + pd.to_timedelta(np.sort(rng.integers(0, 640, n)), "D")
    gross = rng.gamma(2, 30, n).round(2) * np.where(rng.random(n) < 0.05, -1, 1)
    pd.DataFrame(
        {
            "Date": days.strftime("%d/%m/%Y"),
            "Time": "10:15:00",
            "Name": "x",
            "Type": np.where(gross < 0, "Payment Refund", "Website Payment"),
            "Status": "Completed",
            "Currency": "GBP",
            "Gross": [f"{v:,.2f}" for v in gross],
            "Fee": [f"{-0.03 * abs(v):.2f}" for v in gross],
            "Net": [f"{0.97 * v:,.2f}" for v in gross],
            "From Email Address": [f"c{k}@mail.com" for k in rng.integers(0, 150, n)],
            "Transaction ID": [f"{i:017d}" for i in range(n)],
        }
    ).to_csv(tmp_path / "paypal.csv", index=False)
    data, _ = _init_and_run(tmp_path, "customers", tmp_path / "paypal.csv", capsys)
    assert (data["id_column"], data["date_column"], data["amount_column"]) == ("From Email Address", "Date", "Gross")
    summary = json.loads((tmp_path / "customers-paypal-run" / "summary.json").read_text())
    assert summary["cleaning"]["amounts_in"] == "GBP" and summary["cleaning"]["returns"]["lines"] == (gross < 0).sum()
    refunds = -gross[gross < 0].sum()
    assert f"return or cancellation lines, worth £{refunds:,.2f}: netted" in gmm_log.text


def test_a_grocers_line_items_by_basket(tmp_path, capsys):
    # dunnhumby's Complete Journey shape: households, baskets of lines, sales value, time stamps
    rng = np.random.default_rng(6)
    baskets = np.repeat(np.arange(400), 3)
    stamps = pd.Timestamp("2017-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 500 * 86400, 400)), "s")
    pd.DataFrame(
        {
            "household_id": rng.integers(0, 60, 400)[baskets],
            "store_id": 1,
            "basket_id": baskets + 10**10,
            "product_id": rng.integers(0, 999, len(baskets)),
            "quantity": rng.integers(1, 4, len(baskets)),
            "sales_value": rng.gamma(2, 2, len(baskets)).round(2),
            "transaction_timestamp": stamps[baskets].strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ).to_csv(tmp_path / "transactions.csv", index=False)
    data, _ = _init_and_run(tmp_path, "customers", tmp_path / "transactions.csv", capsys)
    assert (data["id_column"], data["order_column"]) == ("household_id", "basket_id")
    assert (data["date_column"], data["amount_column"]) == ("transaction_timestamp", "sales_value")


def test_a_date_column_named_for_the_order_is_not_also_its_order_number(tmp_path, capsys):
    # a warehouse's export: order_created_at before order_id, or an order's time stamp alone (order_ts)
    rng = np.random.default_rng(7)
    n = 1200
    stamps = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 500 * 86400, n), "s")
    log = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 150, n),
            "order_created_at": stamps.strftime("%Y-%m-%dT%H:%M:%S"),
            "order_id": np.arange(n) + 10_000,
            "amount": rng.gamma(2, 30, n).round(2),
        }
    )
    log.to_csv(tmp_path / "created.csv", index=False)
    data, _ = _init_and_run(tmp_path, "customers", tmp_path / "created.csv", capsys)
    assert (data["date_column"], data["order_column"]) == ("order_created_at", "order_id")
    log.drop(columns="order_id").rename(columns={"order_created_at": "order_ts"}).to_csv(
        tmp_path / "ts.csv", index=False
    )
    data, _ = _init_and_run(tmp_path, "customers", tmp_path / "ts.csv", capsys)
    assert data["date_column"] == "order_ts" and data["order_column"] is None


def test_an_east_asian_shops_export_gets_its_columns(tmp_path, capsys):
    # a Chinese shop's order export as Excel on Windows saves it there (GBK)
    rng = np.random.default_rng(4)
    n = 1500
    stamps = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 600 * 86400, n), "s")
    shop = pd.DataFrame(
        {
            "订单号": [f"E{100000 + i}" for i in range(n)],
            "下单时间": stamps.strftime("%Y-%m-%d %H:%M:%S"),
            "用户ID": rng.integers(1, 300, n),
            "商品数量": rng.integers(1, 4, n),
            "实付金额": rng.gamma(2, 60, n).round(2),
        }
    ).sort_values("下单时间")
    shop.to_csv(tmp_path / "orders.csv", index=False, encoding="gbk")
    data, _ = _init_and_run(tmp_path, "customers", tmp_path / "orders.csv", capsys)
    assert (data["id_column"], data["date_column"], data["amount_column"]) == ("用户ID", "下单时间", "实付金额")
    assert data["order_column"] == "订单号"
    # its order status: closed and refunded orders are no purchases; amounts in yuan as the shop writes them
    status = rng.choice(["交易成功", "交易关闭", "已退款", "待发货"], n, p=[0.8, 0.1, 0.05, 0.05])
    shop = shop.assign(订单状态=status, 实付金额=[f"{a}元" for a in shop["实付金额"]])
    shop.to_csv(tmp_path / "status.csv", index=False, encoding="gbk")
    _init_and_run(tmp_path, "customers", tmp_path / "status.csv", capsys)
    summary = json.loads((tmp_path / "customers-status-run" / "summary.json").read_text())
    paid = shop["实付金额"].str.rstrip("元").astype(float)[np.isin(status, ["交易成功", "待发货"])].sum()
    assert summary["cleaning"]["revenue"] == pytest.approx(paid, abs=0.01)
    assert set(summary["cleaning"]["status"]["left_out"]) == {"交易关闭", "已退款"}
    assert summary["cleaning"]["amounts_in"] == "CNY"


def test_an_indian_shops_export_known_by_phone_numbers(tmp_path, capsys):
    # customers known by their mobile numbers, rupees grouped in lakhs, returned orders beside delivered ones
    rng = np.random.default_rng(7)
    n = 1500
    stamps = pd.Timestamp("2023-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 500 * 86400, n)), "s")
    value = rng.gamma(2, 40_000, n).round(2)

    def rupees(v):  # 12,34,567.50
        whole, paise = f"{v:.2f}".split(".")
        head, tail = whole[:-3], whole[-3:]
        pairs = [head[max(0, i - 2) : i] for i in range(len(head), 0, -2)][::-1]
        return "₹" + ",".join([*pairs, tail]) + "." + paise

    status = rng.choice(["Delivered", "Cancelled", "Returned", "RTO"], n, p=[0.7, 0.1, 0.15, 0.05])
    shop = pd.DataFrame(
        {
            "Order ID": [f"OD{10**9 + i}" for i in range(n)],
            "Order Date": stamps.strftime("%d-%b-%Y %H:%M"),
            "Mobile No.": [f"98{k:08d}" for k in rng.integers(0, 300, n)],
            "Order Value": [rupees(v) for v in value],
            "Status": status,
        }
    )
    assert "₹1,00," in " ".join(shop["Order Value"]) or (value < 100_000).all()
    shop.to_excel(tmp_path / "orders.xlsx", index=False)
    data, _ = _init_and_run(tmp_path, "customers", tmp_path / "orders.xlsx", capsys)
    assert (data["id_column"], data["date_column"], data["amount_column"]) == (
        "Mobile No.",
        "Order Date",
        "Order Value",
    )
    summary = json.loads((tmp_path / "customers-orders-run" / "summary.json").read_text())
    assert summary["cleaning"]["revenue"] == pytest.approx(value[status == "Delivered"].sum(), abs=0.01)
    assert summary["cleaning"]["status"]["left_out"] == {
        w: int((status == s).sum()) for w, s in (("cancelled", "Cancelled"), ("returned", "Returned"), ("rto", "RTO"))
    }
    assert summary["cleaning"]["amounts_in"] == "INR"
    from gmm_apps.pipelines.customers.segments import money  # reason: the report's way of writing rupees

    expected = summary["forward_value"]["expected_spend"]
    assert f"expected {money(expected, 'INR', 0)} over the next" in summary["headline"]
    assert [money(v, "INR", d) for v, d in ((12345678.9, 2), (100000, 0), (999, 0), (-1234567, 0))] == [
        "₹1,23,45,678.90",
        "₹1,00,000",
        "₹999",
        "₹-12,34,567",
    ]


def test_only_a_column_of_order_numbers_is_read_as_the_orders(tmp_path, capsys):
    # Shopify's orders API: one order a record, its customer nested with their order count; a refunded order
    # is no purchase. The count is no order number: read as one, every order of a customer with 3 orders
    # would take the first one's status
    rng = np.random.default_rng(5)
    orders = []
    for i in range(1500):
        who = int(rng.integers(1, 200))
        day = pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(rng.integers(0, 600)), hours=int(rng.integers(0, 24)))
        orders.append(
            {
                "id": 5_000_000 + i,
                "created_at": day.strftime("%Y-%m-%dT%H:%M:%S-05:00"),
                "total_price": f"{rng.gamma(2, 30):.2f}",
                "financial_status": "refunded" if i % 20 == 0 else "paid",
                "customer": {"id": 700_000 + who, "orders_count": 3},
            }
        )
    (tmp_path / "orders.json").write_text(json.dumps({"orders": orders}))
    data, _ = _init_and_run(tmp_path, "customers", tmp_path / "orders.json", capsys)
    assert (data["id_column"], data["amount_column"], data["order_column"]) == ("customer.id", "total_price", None)
    out = tmp_path / "customers-orders-run"
    assert json.loads((out / "summary.json").read_text())["cleaning"]["status"]["left_out"] == {"refunded": 75}
    # named by hand, the count is refused, saying what it is not
    run = ["run", str(tmp_path / "customers-orders.yaml"), "--out", str(tmp_path / "x"), "--quiet"]
    assert cli.main([*run, "--set", "data.order_column=customer.orders_count"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path / 'orders.json'}: column 'customer.orders_count' (data.order_column) does not hold order "
        "numbers: 1 of its 1 values are each shared by several customers (e.g. '3', by 199); set "
        "data.order_column to the order or invoice number, or null"
    )
    assert not (tmp_path / "x").exists()
    # beside an order's date, status and total, the column of its numbers is the orders
    frame = pd.DataFrame(
        {
            "Order Date": [o["created_at"][:10] for o in orders],
            "Order Status": "Completed",
            "Order ID": [o["id"] for o in orders],
            "Customer": [o["customer"]["id"] for o in orders],
            "Order Total": [o["total_price"] for o in orders],
        }
    )
    frame.to_csv(tmp_path / "shop.csv", index=False)
    data, _ = _init_and_run(tmp_path, "customers", tmp_path / "shop.csv", capsys)
    assert (data["order_column"], data["date_column"], data["amount_column"]) == (
        "Order ID",
        "Order Date",
        "Order Total",
    )
    # Shopify's CSV export: the order number under "Name" (#1001) on each of its lines, the order's status, date
    # and subtotal on its first line only: found by what it holds, so a pending order is no purchase
    rows = []
    for i, o in enumerate(orders):
        for line in range(1 + i % 3):
            first = {"Financial Status": "pending" if i % 25 == 0 else "paid", "Paid at": o["created_at"]}
            rows.append(
                {
                    "Name": f"#{1001 + i}",
                    "Email": f"c{o['customer']['id']}@shop.com",
                    **(first if line == 0 else {"Financial Status": "", "Paid at": ""}),
                    "Subtotal": o["total_price"] if line == 0 else "",
                    "Lineitem quantity": 1,
                    "Lineitem name": "Tee",
                    "Created at": o["created_at"],
                }
            )
    pd.DataFrame(rows).to_csv(tmp_path / "orders_export_1.csv", index=False)
    data, _ = _init_and_run(tmp_path, "customers", tmp_path / "orders_export_1.csv", capsys)
    assert (data["id_column"], data["order_column"], data["amount_column"]) == ("Email", "Name", "Subtotal")
    paid = sum(float(o["total_price"]) for i, o in enumerate(orders) if i % 25)
    cleaning = json.loads((tmp_path / "customers-orders_export_1-run" / "summary.json").read_text())["cleaning"]
    assert cleaning["revenue"] == pytest.approx(paid, abs=0.01) and cleaning["status"]["left_out"] == {
        "pending": sum(1 + i % 3 for i in range(0, len(orders), 25))  # its lines
    }


def test_a_shops_guest_checkouts_under_one_id_are_no_customer(tmp_path, capsys, gmm_log):
    # WooCommerce's orders export: every guest checkout under customer 0, the currency in "Order Currency"
    rng = np.random.default_rng(8)
    n = 3000
    guest = rng.random(n) < 0.35
    woo = pd.DataFrame(
        {
            "Order ID": np.arange(10000, 10000 + n),
            "Order Date": (pd.Timestamp("2023-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 600, n)), "D")),
            "Order Status": "wc-completed",
            "Customer User": np.where(guest, 0, rng.integers(1, 500, n)),
            "Order Total": rng.gamma(2, 40, n).round(2),
            "Order Currency": "EUR",
        }
    )
    woo.to_csv(tmp_path / "woo.csv", index=False)
    data, text = _init_and_run(tmp_path, "customers", tmp_path / "woo.csv", capsys)
    assert data["placeholder_ids"] == ["0"] and "  placeholder_ids: ['0']  # from " in text
    summary = json.loads((tmp_path / "customers-woo-run" / "summary.json").read_text())
    assert summary["cleaning"]["missing_id"]["lines"] == guest.sum() and summary["cleaning"]["amounts_in"] == "EUR"
    assert "customer '0' has" not in gmm_log.text  # settled in the config: nothing to warn of
    # run without it, the one customer with a third of the purchases is warned of, naming the key
    cfg = tmp_path / "customers-woo.yaml"
    out = [
        "--out",
        str(tmp_path / "as-is"),
        "--quiet",
        "--set",
        "data.placeholder_ids=[]",
        "--set",
        "report.plots=false",
    ]
    assert cli.main(["run", str(cfg), *out, "--set", "report.stability_seeds=1", "--set", "report.bootstrap=0"]) == 0
    assert "customer '0' has " in gmm_log.text and "set data.placeholder_ids: [0] to count its rows" in gmm_log.text


def test_guest_checkouts_named_by_their_e_mail_address_are_kept(tmp_path, capsys, gmm_log):
    # the same export with the billing address: a guest has no customer number, but an address, and comes back
    rng = np.random.default_rng(9)
    n = 3000
    person = rng.integers(0, 600, n)
    registered = person < 400  # the others check out as guests
    woo = pd.DataFrame(
        {
            "Order ID": np.arange(10000, 10000 + n),
            "Order Date": (pd.Timestamp("2023-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 600, n)), "D")),
            "Order Status": np.where(rng.random(n) < 0.05, "wc-failed", "wc-completed"),
            "Customer User": np.where(registered, 1000 + person, 0),
            "Billing Email": [f"Person{k}@example.com" for k in person],
            "Order Total": rng.gamma(2, 40, n).round(2),
        }
    )
    woo.to_csv(tmp_path / "woo.csv", index=False)
    paid = woo["Order Status"].eq("wc-completed")
    # run with the customer number, the guests' rows are dropped, and the address that would keep them is named
    cfg = tmp_path / "by-number.yaml"
    cfg.write_text(
        "pipeline: customers\ndata:\n  path: woo.csv\n  id_column: Customer User\n  date_column: Order Date\n"
        "  amount_column: Order Total\n  placeholder_ids: [0]\nsplit:\n  holdout_weeks: max\n"
    )
    sets = [a for x in QUICK["customers"] for a in ("--set", x)]
    assert cli.main(["run", str(cfg), "--set", f"data.path={tmp_path / 'woo.csv'}", "--out", str(tmp_path / "a"), "--quiet", *sets]) == 0  # fmt: skip
    dropped = int((paid & ~registered).sum())
    missing = json.loads((tmp_path / "a" / "summary.json").read_text())["cleaning"]["missing_id"]
    assert missing["lines"] == dropped and missing["named_by"] == {"column": "Billing Email", "rows": dropped}
    assert f"column 'Billing Email' holds an e-mail address on {dropped} of the rows without a customer id" in (
        gmm_log.text
    )
    assert (
        f"Billing Email&#x27; holds an e-mail address on {dropped:,} of them"
        in (tmp_path / "a" / "report.html").read_text()
    )
    # init reads the log and takes the address as the id: every paying person is a customer
    data, text = _init_and_run(tmp_path, "customers", tmp_path / "woo.csv", capsys)
    assert data["id_column"] == "Billing Email" and not data["placeholder_ids"]
    customers = pd.read_csv(tmp_path / "customers-woo-run" / "customers.csv")
    calibration = json.loads((tmp_path / "customers-woo-run" / "summary.json").read_text())["calibration"]
    seen = woo[paid & (woo["Order Date"] <= pd.Timestamp(calibration["end"]))]
    assert set(customers["customer_id"]) == set(seen["Billing Email"].str.lower())
    # a customer number on every row: no address offered
    gmm_log.clear()
    woo.assign(**{"Customer User": 1000 + person}).to_csv(tmp_path / "woo.csv", index=False)
    assert cli.main(["run", str(cfg), "--set", f"data.path={tmp_path / 'woo.csv'}", "--out", str(tmp_path / "b"), "--quiet", *sets]) == 0  # fmt: skip
    assert "e-mail address" not in gmm_log.text


def test_shops_exporting_in_french_and_spanish(tmp_path, capsys):
    # a French shop's export (;, day-first dates, "1 234,50 €" with a narrow no-break space) and a Spanish
    # shop's line items (quantity x price, an order number)
    rng = np.random.default_rng(4)
    n = 1500
    days = pd.Timestamp("2023-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 600, n)), "D")
    amounts = rng.gamma(2, 600, n).round(2)
    french = [f"{v:,.2f}".replace(",", "\u202f").replace(".", ",") + " €" for v in amounts]
    pd.DataFrame(
        {
            "N° client": [f"CL{c}" for c in rng.integers(0, 300, n)],
            "Date": days.strftime("%d/%m/%Y"),
            "Montant TTC": french,
        }
    ).to_csv(tmp_path / "ventes.csv", sep=";", index=False, encoding="utf-8-sig")
    data, _ = _init_and_run(tmp_path, "customers", tmp_path / "ventes.csv", capsys)
    assert (data["id_column"], data["date_column"], data["amount_column"]) == ("N° client", "Date", "Montant TTC")
    summary = json.loads((tmp_path / "customers-ventes-run" / "summary.json").read_text())
    assert summary["cleaning"]["revenue"] == pytest.approx(amounts.sum()) and summary["cleaning"]["amounts_in"] == "EUR"
    pd.DataFrame(
        {
            "Pedido": np.arange(n) // 2,
            "Cliente": [f"C{c}" for c in rng.integers(0, 300, n)[np.arange(n) // 2]],
            "Fecha": days.strftime("%Y-%m-%d"),
            "Cantidad": rng.integers(1, 4, n),
            "Precio unitario": rng.gamma(2, 10, n).round(2),
        }
    ).to_csv(tmp_path / "pedidos.csv", index=False)
    data, _ = _init_and_run(tmp_path, "customers", tmp_path / "pedidos.csv", capsys)
    assert (data["id_column"], data["date_column"], data["order_column"]) == ("Cliente", "Fecha", "Pedido")
    assert (data["quantity_column"], data["price_column"]) == ("Cantidad", "Precio unitario")


def test_photos_of_ones_own_with_a_broken_file_among_them(tmp_path, capsys):
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((40, 60, 3), 120, np.uint8)).save(photos / "a.png")
    (photos / "b.jpg").write_text("<html>404</html>")
    assert cli.main(["init", "images", str(tmp_path / "i.yaml"), "--data", str(photos)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("to settle in the config before it runs: ") and "b.jpg: not a readable image" in err
    assert "data.unreadable: skip leaves out the files that are no readable image" in err
    assert yaml.safe_load((tmp_path / "i.yaml").read_text())["data"]["unreadable"] == "error"  # not chosen unasked
    (tmp_path / "none").mkdir()
    assert cli.main(["init", "images", str(tmp_path / "n.yaml"), "--data", str(tmp_path / "none")]) == 2
    assert "folder " in capsys.readouterr().err and not (tmp_path / "n.yaml").exists()


def test_a_till_export_with_several_amounts_says_them_all(tmp_path, capsys, gmm_log):
    # Square's transactions export: Gross Sales first, then what was paid after discounts, with tax, after fees;
    # which one a customer's value is only the user knows: init writes the first and names the others
    rng = np.random.default_rng(4)
    n = 900
    gross = rng.gamma(2, 20, n).round(2)
    pd.DataFrame(
        {
            "Date": (pd.Timestamp("2023-01-02") + pd.to_timedelta(np.sort(rng.integers(0, 600, n)), "D")).strftime(
                "%m/%d/%Y"
            ),
            "Gross Sales": [f"${v:,.2f}" for v in gross],
            "Discounts": "$0.00",
            "Net Sales": [f"${v:,.2f}" for v in gross],
            "Tax": [f"${0.08 * v:,.2f}" for v in gross],
            "Total Collected": [f"${1.08 * v:,.2f}" for v in gross],
            "Net Total": [f"${1.05 * v:,.2f}" for v in gross],
            "Customer ID": [f"C{k}" for k in rng.integers(0, 120, n)],
        }
    ).to_csv(tmp_path / "square.csv", index=False)
    gmm_log.clear()
    data, _ = _init_and_run(tmp_path, "customers", tmp_path / "square.csv", capsys)
    assert data["amount_column"] == "Gross Sales"
    assert (
        "data.amount_column: Gross Sales, the first column that looks like amounts paid; others that look like "
        "amounts: Net Sales, Total Collected, Net Total (set the one that is what each customer paid you)"
    ) in gmm_log.text
    # Stripe's invoices: the amount due and the amount remaining come before the amount paid, which is chosen
    pd.DataFrame(
        {
            "Customer": [f"cus_{k}" for k in rng.integers(0, 120, n)],
            "Amount Due": 29.0,
            "Amount Remaining": 0.0,
            "Discount Amount": 0.0,
            "Amount Paid": rng.choice([19.0, 29.0, 49.0], n),
            "Date (UTC)": (pd.Timestamp("2023-01-02") + pd.to_timedelta(np.sort(rng.integers(0, 600, n)), "D")),
        }
    ).to_csv(tmp_path / "invoices.csv", index=False)
    gmm_log.clear()
    data, _ = _init_and_run(tmp_path, "customers", tmp_path / "invoices.csv", capsys)
    assert data["amount_column"] == "Amount Paid" and data["date_column"] == "Date (UTC)"
    assert "others that look like amounts: Amount Due, Amount Remaining, Discount Amount (set" in gmm_log.text
    # eBay's orders report: its record numbers and item counts sit under headers with 'Sales' and 'Total' in them
    days = pd.Timestamp("2023-01-02") + pd.to_timedelta(np.sort(rng.integers(0, 600, n)), "D")
    pd.DataFrame(
        {
            "Sales Record Number": np.arange(1001, 1001 + n),
            "Buyer Username": [f"buyer{k}" for k in rng.integers(0, 120, n)],
            "Total Items": rng.integers(1, 4, n),
            "Total Price": [f"${v:,.2f}" for v in rng.gamma(2, 20, n)],
            "Sale Date": days.strftime("%b-%d-%y"),
        }
    ).to_csv(tmp_path / "ebay.csv", index=False)
    gmm_log.clear()
    data, _ = _init_and_run(tmp_path, "customers", tmp_path / "ebay.csv", capsys)
    assert data["amount_column"] == "Total Price" and data["id_column"] == "Buyer Username"
    assert "others that look like amounts" not in gmm_log.text
    # Etsy's sold items: the order's sales tax comes before the item's total, a total with its tax would not
    pd.DataFrame(
        {
            "Sale Date": days.strftime("%m/%d/%y"),
            "Buyer": [f"buyer{k}" for k in rng.integers(0, 120, n)],
            "Order Sales Tax": 0.0,
            "Item Total": rng.gamma(2, 20, n).round(2),
            "Total incl. Tax": 1.0,
        }
    ).to_csv(tmp_path / "etsy.csv", index=False)
    gmm_log.clear()
    data, _ = _init_and_run(tmp_path, "customers", tmp_path / "etsy.csv", capsys)
    assert data["amount_column"] == "Item Total"
    assert "others that look like amounts: Order Sales Tax, Total incl. Tax (set" in gmm_log.text
    from gmm_apps.pipelines.customers.headers import LOOKS_LIKE, look_alike

    amounts = LOOKS_LIKE[("amount", "amount")]
    assert look_alike(["Order Sales Tax", "Total incl. Tax"], amounts) == "Total incl. Tax"
    assert look_alike(["VAT", "Gross (incl. VAT)"], amounts) == "Gross (incl. VAT)"


def test_a_column_of_time_stamps_under_a_header_that_says_nothing_is_the_date(tmp_path, capsys, monkeypatch):
    # an orders table saved by pandas: time stamps with their zone under 'ts', the order ids the saved index
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    n = 3000
    stamps = pd.to_datetime("2025-01-01", utc=True) + pd.to_timedelta(np.sort(rng.integers(0, 525_600, n)), "min")
    orders = pd.DataFrame(
        {"customer": rng.integers(1, 400, n).astype(str), "ts": stamps.tz_convert("Europe/Berlin"), "revenue": 20.0},
        index=pd.Index(np.arange(n), name="order_id"),
    )
    orders.to_parquet("orders.parquet")
    orders.assign(ts=orders["ts"].astype(str)).rename(columns={"ts": "when"}).to_csv("orders.csv")
    for name, header in (("orders.parquet", "ts"), ("orders.csv", "when")):
        assert cli.main(["init", "customers", f"{name}.yaml", "--data", name]) == 0
        data = yaml.safe_load(Path(f"{name}.yaml").read_text())["data"]
        assert (data["date_column"], data["id_column"], data["amount_column"]) == (header, "customer", "revenue"), name
    # run with the default date column, the refusal names the column of time stamps
    sets = [
        "--set",
        "data.path=orders.parquet",
        "--set",
        "data.id_column=customer",
        "--set",
        "data.amount_column=revenue",
    ]
    capsys.readouterr()
    assert cli.main(["run", str(Path(__file__).resolve().parents[1] / "configs" / "customers.yaml"), *sets]) == 2
    assert "column 'date' (data.date_column) not found; 'ts' looks like it: set data.date_column: ts" in (
        capsys.readouterr().err
    )
    # numbers and words are no dates
    pd.DataFrame({"customer": ["a", "b"], "n": ["1", "2"], "note": ["red", "blue"], "value": [1.0, 2.0]}).to_csv(
        "plain.csv", index=False
    )
    from gmm_apps.dates import time_stamp_column

    assert time_stamp_column(pd.read_csv("plain.csv", dtype=str), taken={"customer"}) is None


def test_a_report_writing_each_customer_once_over_their_rows_gives_each_row_that_customer(tmp_path, capsys, gmm_log):
    # an export grouped by customer without its merged cells: the id on a customer's first row, blank below
    rng = np.random.default_rng(4)
    rows = []
    for c in range(300):
        days = np.sort(rng.choice(700, int(rng.integers(1, 8)), replace=False))
        rows += [(f"C{c:04d}", pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(d))) for d in days]
    truth = pd.DataFrame(rows, columns=["Customer", "Order Date"]).assign(Total=rng.gamma(2, 40, len(rows)).round(2))
    written = truth.assign(Customer=truth["Customer"].where(~truth["Customer"].duplicated(), ""))
    written.to_csv(tmp_path / "by_customer.csv", index=False)
    blanks = int((written["Customer"] == "").sum())
    data, text = _init_and_run(tmp_path, "customers", tmp_path / "by_customer.csv", capsys)
    assert data["missing_id"] == "above" and "  missing_id: above  # from " in text
    summary = json.loads((tmp_path / "customers-by_customer-run" / "summary.json").read_text())
    assert summary["cleaning"]["missing_id"]["lines"] == 0 and summary["cleaning"]["missing_id"]["from_above"] == blanks
    assert summary["cleaning"]["revenue"] == pytest.approx(truth["Total"].sum())
    customers = pd.read_csv(tmp_path / "customers-by_customer-run" / "customers.csv")
    end = pd.Timestamp(summary["calibration"]["end"])
    spent = truth[truth["Order Date"] <= end].groupby("Customer")["Total"].sum()
    got = customers.set_index("customer_id")["total_spend"].sort_index()
    np.testing.assert_allclose(got.to_numpy(), spent.loc[got.index].to_numpy(), rtol=1e-9)
    # run as a plain log, its blank rows are left out, and the key that reads them is named
    cfg = tmp_path / "customers-by_customer.yaml"
    sets = ["data.missing_id=drop", "report.plots=false", "report.stability_seeds=1", "report.bootstrap=0"]
    cli.main(["run", str(cfg), "--out", str(tmp_path / "as-is"), "--quiet", *[a for s in sets for a in ("--set", s)]])
    assert f"{blanks} rows without a customer id dropped" in gmm_log.text
    assert "data.missing_id: above gives each the customer above it" in gmm_log.text
    # a log whose blank ids are guest checkouts among customers who come back is no such report
    from gmm_apps.pipelines.customers.rows import ids_from_above, written_once

    guests = truth.sample(frac=1, random_state=0).reset_index(drop=True)
    guests.loc[guests.index % 5 == 1, "Customer"] = ""
    assert not written_once(guests["Customer"])
    top = pd.DataFrame({"id": ["", "a", "", "b", ""]})
    assert ids_from_above(top, "id")[0]["id"].tolist()[1:] == ["a", "a", "b", "b"]
    assert ids_from_above(top, "id")[1] == 2 and pd.isna(ids_from_above(top, "id")[0]["id"][0])
