"""Numbers and dates as spreadsheets and brokers export them (gmm_apps.tabular)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gmm_apps.dates import day_month_order, dayfirst, numeric_dates
from gmm_apps.errors import DataError
from gmm_apps.number_text import as_numbers, decimal_mark, mark_evidence, mark_from, no_value, pool_evidence

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "cells, want, mark",
    [
        (["2,506.85", "1,202.08", "998.10"], [2506.85, 1202.08, 998.10], "."),
        (["$1,234.50", "(12.50)", "7", "-$3.00"], [1234.5, -12.5, 7.0, -3.0], "."),
        (["1.234,50", "12,5", "0,0625"], [1234.5, 12.5, 0.0625], ","),
        (["1 234,50 €", "3,2"], [1234.5, 3.2], ","),
        (["1\u202f234,5", "€ 2,25"], [1234.5, 2.25], ","),
        (["1,234,567", "12"], [1234567.0, 12.0], "."),
        (["12 USD", "1,000.5 USD"], [12.0, 1000.5], "."),
        (["USD 12.00", "USD -3.50"], [12.0, -3.5], "."),  # a currency code in front
        (["\u22127.50", "3.00"], [-7.5, 3.0], "."),  # the typographic minus (U+2212) of some locales' exports
        (["1.234,56-", "3,00", "12,5 -"], [-1234.56, 3.0, -12.5], ","),  # SAP's minus after the number
        (["12.00-", "(4.00)", "2"], [-12.0, -4.0, 2.0], "."),
        # yen, yuan and won as Japanese, Chinese and Korean shops write them, signs before or after
        (["￥1,200,000", "¥980", "12,000円"], [1200000.0, 980.0, 12000.0], "."),
        (["1,200.50元", "98元", "RMB 12,000"], [1200.5, 98.0, 12000.0], "."),
        (["₩1,200,000", "98,000원"], [1200000.0, 98000.0], "."),
        # Excel's accounting format: the sign apart from the number, zero as a dash, brackets for negatives
        (["$ 1,234.00 ", "$ -   ", "$ (12.50)", "($3.00)"], [1234.0, 0.0, -12.5, -3.0], "."),
        (["1 234,00 €", " -   € ", "(12,50) €"], [1234.0, 0.0, -12.5], ","),
        # the world's other currencies, by sign, word, prefixed dollar or code
        (["₹1,027,710", "₹ 12.50", "INR 3"], [1027710.0, 12.5, 3.0], "."),
        (["₹12,34,567.50", "₹1,00,000", "₹999"], [1234567.5, 100000.0, 999.0], "."),  # lakhs and crores
        (["1.234,50 zł", "12 zł", "PLN 1,5"], [1234.5, 12.0, 1.5], ","),
        (["100 kr", "12,50 kr.", "kr 3,00"], [100.0, 12.5, 3.0], ","),
        (["R$ 1.234,56", "R$ 5,00"], [1234.56, 5.0], ","),
        (["C$ 12.50", "C$5", "CAD 1,000.00"], [12.5, 5.0, 1000.0], "."),
        (["RM 12.50", "MYR 3"], [12.5, 3.0], "."),
        (["Rs. 1,200.00", "₹5"], [1200.0, 5.0], "."),
        (["₽ 100", "200 руб.", "RUB 1,5"], [100.0, 200.0, 1.5], ","),
        (["1 234,50 Kč", "3 Kč"], [1234.5, 3.0], ","),
        (["NT$ 3.5", "TWD 2"], [3.5, 2.0], "."),
    ],
)
def test_formatted_numbers_read_as_their_values(cells, want, mark):
    got, m = as_numbers(pd.Series(cells, dtype=object))
    assert m == mark
    np.testing.assert_array_equal(got.to_numpy(dtype=float), want)


def test_plain_columns_are_left_to_the_caller_and_text_stays_text():
    s = pd.Series([1.5, 2.0])
    assert as_numbers(s)[0] is s
    plain = pd.Series(["1.5", "2", None], dtype=object)
    assert as_numbers(plain)[0] is plain  # to_numeric reads them; nothing to unformat
    got, mark = as_numbers(pd.Series(["1,500.5", "n/a", "."], dtype=object))
    assert got.tolist() == [1500.5, "n/a", "."] and mark == "."  # the caller names the bad cell
    # a hyphen that is not a minus after a number stays text: codes, ranges
    assert as_numbers(pd.Series(["A1-", "10-20", "1,500.5"], dtype=object))[0].tolist() == ["A1-", "10-20", 1500.5]
    # a grouping that contradicts the column's decimal mark is not a number
    assert as_numbers(pd.Series(["1,234.5", "1,23.4"], dtype=object))[0].tolist() == [1234.5, "1,23.4"]


def test_amounts_in_several_currencies_are_refused_and_one_currency_however_written_is_read():
    with pytest.raises(ValueError, match="several currencies \\(USD as in '\\$12.00', EUR as in '€15.00'\\)"):
        as_numbers(pd.Series(["$12.00", "€15.00", "12 USD"]))
    with pytest.raises(ValueError, match="GBP as in '£1,000.00', CHF as in '7 CHF'"):
        as_numbers(pd.Series(["£1,000.00", "3.50 GBP", "7 CHF"]))
    assert as_numbers(pd.Series(["$1,000.00", "12 USD", "(3.00)"]))[0].tolist() == [1000.0, 12.0, -3.0]
    with pytest.raises(ValueError, match="JPY as in '1,200円', CNY as in '98元'"):
        as_numbers(pd.Series(["1,200円", "98元"]))
    # a prefixed dollar is its own currency, not the US dollar
    with pytest.raises(ValueError, match="CAD as in 'C\\$12.00', USD as in '\\$5.00'"):
        as_numbers(pd.Series(["C$12.00", "$5.00"]))
    with pytest.raises(ValueError, match="INR as in '₹1,200.00', IDR as in 'Rp 15.000'"):
        as_numbers(pd.Series(["₹1,200.00", "Rp 15.000"]))
    # letters before a number without a space are a code, not a currency: rooms RM1, RM2 stay text
    assert as_numbers(pd.Series(["RM1", "RM2", "RM 3.5"]))[0].tolist() == ["RM1", "RM2", 3.5]


def test_cells_that_stand_for_no_value():
    cells = ["1.5", "?", " - ", None, "#DIV/0!", "ND", "n.a.", "—", "x", "None", "0", "-1"]
    assert no_value(pd.Series(cells, dtype=object)).tolist() == [c not in ("1.5", "x", "0", "-1") for c in cells]
    assert no_value(pd.Series([1.0, np.nan])).tolist() == [False, True]


def test_a_comma_that_could_mean_either_is_refused():
    assert decimal_mark(["1,202", "3,400"]) is None
    with pytest.raises(ValueError, match="could group thousands or mark decimals"):
        as_numbers(pd.Series(["1,202", "3,400"], dtype=object))
    assert decimal_mark(["1,202", "3,400", "12.5"]) == "."  # another cell shows the decimal point
    assert decimal_mark(["1,202", "3,4"]) == ","  # another cell shows the decimal comma
    assert decimal_mark(["1.234,5", "1,234.5"]) is None  # both ways in one column


def test_a_dot_that_could_mean_either_is_refused_and_one_that_cannot_is_read():
    # whole euros or rupiahs grouped with dots: read as 1.5, every amount would be a thousandth of itself
    with pytest.raises(ValueError, match="dots in it could group thousands or mark decimals \\(e.g. '1.500'"):
        as_numbers(pd.Series(["1.500 €", "250 €"]))
    assert decimal_mark(["1.500", "250"]) is None
    assert decimal_mark(["1.500", "12.50"]) == "."  # another cell shows the decimal point
    assert decimal_mark(["1.250.000", "15.000"]) == ","  # two dots in a cell group thousands
    assert decimal_mark(["0.125", "1.250"]) == "."  # no thousands group starts with 0
    assert decimal_mark(["0,125", "3"]) == ","
    assert as_numbers(pd.Series(["Rp 15.000", "Rp 1.250.000"]))[0].tolist() == [15000.0, 1250000.0]
    assert as_numbers(pd.Series(["1.500 €", "250 €"]), mark=",")[0].tolist() == [1500.0, 250.0]
    assert as_numbers(pd.Series(["1.500 €", "250 €"]), mark=".")[0].tolist() == [1.5, 250.0]


def test_the_decimal_mark_of_a_column_read_in_parts_is_that_of_the_whole():
    rng = np.random.default_rng(0)
    columns = [
        ["1,202", "3,400", "12.5"],
        ["1,202", "3,4"],
        ["1.234,5", "1,234.5"],
        ["1,202", "3,400"],
        ["1.234", "1.234,50", "7"],
        ["1,234,567", "12"],
        ["0,25", "1.000"],
        ["1.500", "250", "3.000"],
        ["1.500", "250", "12.50"],
        ["1.250.000", "15.000"],
        ["0.125", "1.250", "7"],
    ]
    for cells in columns:
        for _ in range(20):
            cut = np.sort(rng.integers(0, len(cells) + 1, 2))
            parts = [cells[: cut[0]], cells[cut[0] : cut[1]], cells[cut[1] :]]
            assert mark_from(pool_evidence(mark_evidence(p) for p in parts)) == decimal_mark(cells), cells


def test_day_or_month_first_is_decided_by_the_whole_column():
    days = pd.date_range("2021-01-01", "2021-03-31")
    assert day_month_order(pd.Series(days.strftime("%d/%m/%Y"))) == "day"
    assert day_month_order(pd.Series(days.strftime("%m/%d/%Y %H:%M"))) == "month"
    assert day_month_order(pd.Series(days.strftime("%d.%m.%Y"))) == "day"
    assert day_month_order(pd.Series(days.strftime("%Y-%m-%d"))) is None
    assert day_month_order(pd.Series(days)) is None
    assert day_month_order(pd.Series(["01/02/2021", "03/04/2021"])) == "ambiguous"
    assert day_month_order(pd.Series(["13/01/2021", "01/13/2021"])) == "inconsistent"
    # read with the decision, every date is the day it was written for (pandas alone reads 01/02 as January 2)
    cells = pd.Series(days.strftime("%d/%m/%Y"))
    got = pd.to_datetime(cells, format="mixed", dayfirst=dayfirst(cells, where="x"))
    assert (got.to_numpy() == days.to_numpy()).all()
    assert not (pd.to_datetime(cells, format="mixed").to_numpy() == days.to_numpy()).all()
    with pytest.raises(ValueError, match="x: no date shows whether the day or the month comes first"):
        dayfirst(pd.Series(["01/02/2021"]), where="x")


def test_dates_written_the_east_asian_way_are_dates():
    from gmm_apps.dates import plain_dates

    cells = pd.Series(["2024年1月2日", "2024年12月31日 09:30", None], dtype=object)
    assert plain_dates(cells).tolist()[:2] == ["2024-1-2", "2024-12-31 09:30"] and pd.isna(plain_dates(cells)[2])
    assert plain_dates(pd.Series(["2024년 1월 2일"])).tolist() == ["2024-1-2"]
    other = pd.Series(["2024-01-02", "x年"])
    assert plain_dates(other) is other  # any other column as it is


def test_dates_written_as_numbers_are_told_apart_by_size_not_read_as_1970():
    stamps = pd.to_datetime(["2019-12-31 23:59:59", "2023-01-31 08:00:00", "2024-02-29 12:30:00"])
    seconds = (stamps - pd.Timestamp("1970-01-01")) // pd.Timedelta("1s")
    cases = {
        "yyyymmdd": (pd.Series([20191231, 20230131, 20240229]), stamps.normalize()),
        "s": (pd.Series(seconds), stamps),
        "ms": (pd.Series(seconds * 1000), stamps),
        "us": (pd.Series([str(v * 10**6) for v in seconds], dtype=object), stamps),  # digits read as text
        "ns": (pd.Series(seconds * 10**9), stamps),
        "excel": (pd.Series([43830.0, 44957.0, 45351.0]), stamps.normalize()),  # Excel's own day numbers
        "excel ": (pd.Series(["43830", "44957", "45351"], dtype=object), stamps.normalize()),  # read as text (Dask)
    }
    for style, (cells, want) in cases.items():
        got, how = numeric_dates(cells)
        assert how == style.strip()
        assert (pd.DatetimeIndex(got) == want).all(), style
    assert (pd.to_datetime(cases["s"][0]).dt.year == 1970).all()  # what pandas alone makes of them
    with_gap, how = numeric_dates(pd.Series([20230131.0, np.nan]))  # a column with a gap is read as floats
    assert how == "yyyymmdd" and with_gap.isna().tolist() == [False, True]
    for text in (["2023-01-31"], ["20230131"], ["31/01/2023"]):  # text pandas reads itself
        assert numeric_dates(pd.Series(text, dtype=object)) == (None, None)
    assert numeric_dates(pd.Series(stamps)) == (None, None)
    with pytest.raises(ValueError, match="numbers from 1 to 700, which are not dates"):
        numeric_dates(pd.Series([1, 700]))
    with pytest.raises(ValueError, match="Unix time stamps of one unit"):
        numeric_dates(pd.Series([1675123200, 1675123200000]))  # seconds and milliseconds mixed


def test_tables_are_read_by_content_whatever_their_name(tmp_path):
    from gmm_apps.errors import DataError
    from gmm_apps.tabular import check_sheet, read_table

    df = pd.DataFrame({"Date": ["2020-01-02", "2020-01-03"], "Close": [1.5, 2.25], "Name": ["a b", "c"]})
    files = {
        "comma.txt": lambda p: df.to_csv(p, index=False),
        "semicolon.csv": lambda p: df.to_csv(p, sep=";", index=False),
        "tabs.dat": lambda p: df.to_csv(p, sep="\t", index=False),
        "zipped.csv.gz": lambda p: df.to_csv(p, sep="\t", index=False, compression="gzip"),
        "columnar.bin": lambda p: df.to_parquet(p),
        "book.csv": lambda p: p.write_bytes(_xlsx(df)),  # a workbook, whatever its name
    }
    for name, write in files.items():
        write(tmp_path / name)
        pd.testing.assert_frame_equal(read_table(tmp_path / name), df, check_dtype=False, obj=name)
    chunks = list(read_table(tmp_path / "semicolon.csv", chunksize=1))
    assert len(chunks) == 2 and chunks[1]["Close"].tolist() == [2.25]
    with pd.ExcelWriter(tmp_path / "two.xlsx") as xw:
        pd.DataFrame({"note": ["cover"]}).to_excel(xw, sheet_name="About", index=False)
        df.to_excel(xw, sheet_name="Prices", index=False)
    for sheet in ("Prices", 1):
        pd.testing.assert_frame_equal(read_table(tmp_path / "two.xlsx", sheet=sheet), df)
    with pytest.raises(DataError, match="no sheet 'Sales' \\(data.sheet\\); the workbook has About, Prices"):
        read_table(tmp_path / "two.xlsx", sheet="Sales")
    with pytest.raises(DataError, match="no sheet 2 "):
        read_table(tmp_path / "two.xlsx", sheet=2)
    check_sheet(tmp_path / "two.xlsx", "Prices")
    with pytest.raises(DataError, match="tabs.dat: data.sheet is set, but the file is not an Excel workbook"):
        check_sheet(tmp_path / "tabs.dat", 0)
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    with pytest.raises(DataError, match="old.xls: cannot read as an Excel workbook"):
        read_table(tmp_path / "old.xls")
    (tmp_path / "blank.csv").write_text("\n\n")
    with pytest.raises(DataError, match="blank.csv: the file holds no text"):
        read_table(tmp_path / "blank.csv")


def test_a_downloaded_zip_of_one_table_is_read_and_other_archives_and_web_pages_are_refused(tmp_path):
    """A download often arrives zipped (a Mac adds ``__MACOSX`` copies); some banks' "Excel" export is a web
    page. Each is read as the table it holds, or refused saying what it is and what to do."""
    import zipfile

    from gmm_apps.errors import DataError
    from gmm_apps.tabular import read_table

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"Date": pd.date_range("2020-01-01", periods=40).astype(str), "Close": rng.random(40)})
    df.to_csv(tmp_path / "prices.csv", sep=";", index=False)
    with zipfile.ZipFile(tmp_path / "download.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.write(tmp_path / "prices.csv", "export/prices.csv")
        z.writestr("export/", b"")
        z.writestr("__MACOSX/export/._prices.csv", b"\0\x05\x16\x07 resource fork")
    pd.testing.assert_frame_equal(read_table(tmp_path / "download.zip"), df, obj="zip")
    chunks = list(read_table(tmp_path / "download.zip", chunksize=15))
    assert [len(c) for c in chunks] == [15, 15, 10]
    pd.testing.assert_frame_equal(pd.concat(chunks), df)

    def archive(name, members):
        with zipfile.ZipFile(tmp_path / name, "w") as z:
            for member, data in members.items():
                z.writestr(member, data)
        return tmp_path / name

    both = archive("both.zip", {"a.csv": "x\n1\n", "b.csv": "x\n2\n"})
    with pytest.raises(DataError, match=r"both.zip: a zip archive of 2 files \(a.csv, b.csv\); unzip it and name"):
        read_table(both)
    inner = archive("inner.zip", {"book.xlsx": _xlsx(df)})
    with pytest.raises(DataError, match="inner.zip: a zip archive holding book.xlsx; unzip it and name book.xlsx"):
        read_table(inner)
    locked = bytearray(archive("locked.zip", {"t.csv": "a,b\n1,2\n"}).read_bytes())
    locked[6] |= 1  # the "encrypted" flag, in the member's header and in the directory
    locked[locked.find(b"PK\x01\x02") + 8] |= 1
    (tmp_path / "locked.zip").write_bytes(bytes(locked))
    with pytest.raises(DataError, match="locked.zip: a password-protected zip archive; unzip it with its password"):
        read_table(tmp_path / "locked.zip")
    numbers = archive("sales.numbers", {"Index/Document.iwa": "\0", "Metadata/Properties.plist": "<plist/>"})
    with pytest.raises(DataError, match="sales.numbers: an Apple Numbers document, not a table file; in Numbers, File"):
        read_table(numbers)
    (tmp_path / "cut.zip").write_bytes(b"PK\x03\x04" + bytes(60))
    with pytest.raises(DataError, match="cut.zip: a damaged zip archive"):
        read_table(tmp_path / "cut.zip")
    (tmp_path / "statement.xls").write_text("<html><body>" + df.to_html(index=False) + "</body></html>")
    with pytest.raises(
        DataError, match=r"statement.xls: a web page \(HTML\), not a table file .* save it as .xlsx or CSV"
    ):
        read_table(tmp_path / "statement.xls")
    xml = '<?xml version="1.0"?>\n<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"></Workbook>'
    (tmp_path / "export.xls").write_text(xml)
    with pytest.raises(DataError, match="export.xls: an Excel 2003 XML spreadsheet, not a table file"):
        read_table(tmp_path / "export.xls")


def test_excel_97_binary_and_opendocument_workbooks_are_read_and_locked_ones_refused(tmp_path):
    """A bank's statement as Excel 97-2003 ``.xls`` (title rows, dates, a sheet named in German), a LibreOffice
    ``.ods`` and an Excel binary ``.xlsb`` read as pandas' own readers read them; a password-protected workbook
    is refused saying what to do."""
    import datetime

    import xlwt

    from gmm_apps.errors import DataError
    from gmm_apps.tabular import header_with, read_table

    book = xlwt.Workbook()
    sheet = book.add_sheet("Umsätze")
    sheet.write(0, 0, "Kontoauszug Girokonto")
    for j, name in enumerate(["Buchungstag", "Verwendungszweck", "Betrag"]):
        sheet.write(2, j, name)
    day = xlwt.easyxf(num_format_str="DD.MM.YYYY")
    for i in range(6):
        sheet.write(3 + i, 0, datetime.date(2024, 1, 2 + i), day)
        sheet.write(3 + i, 1, f"Lastschrift {i}")
        sheet.write(3 + i, 2, -12.5 * i + 3)
    book.save(tmp_path / "statement.xls")
    want = pd.DataFrame(
        {
            "Buchungstag": pd.date_range("2024-01-02", periods=6),
            "Verwendungszweck": [f"Lastschrift {i}" for i in range(6)],
            "Betrag": [-12.5 * i + 3 for i in range(6)],
        }
    )
    got = read_table(tmp_path / "statement.xls", header_has=header_with(["Buchungstag", "Betrag"]))
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert read_table(tmp_path / "statement.xls", sheet="Umsätze", header_has=header_with(["Betrag"])).shape == (6, 3)
    want.to_excel(tmp_path / "sheet.ods", index=False, engine="odf")
    pd.testing.assert_frame_equal(read_table(tmp_path / "sheet.ods"), want, check_dtype=False)
    locked = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500) + "EncryptionInfo".encode("utf-16-le") + bytes(100)
    (tmp_path / "locked.xlsx").write_bytes(locked)
    with pytest.raises(DataError, match="locked.xlsx: a password-protected workbook; open it in Excel, remove the"):
        read_table(tmp_path / "locked.xlsx")
    # an Excel binary workbook (tests/data/README.md), its first sheet hidden: the first shown, as written
    orders = read_table(REPO / "tests" / "data" / "orders.xlsb")
    assert orders["Customer"].tolist() == [f"c{i % 7}" for i in range(30)]
    assert orders["Date"].tolist() == list(pd.date_range("2024-01-01", periods=30, freq="3D"))
    assert orders["Amount"].tolist() == [10.5 + i for i in range(30)]
    assert read_table(REPO / "tests" / "data" / "orders.xlsb", sheet="lists")["status"].tolist() == ["paid", "refunded"]


def test_text_is_read_in_the_encoding_its_bytes_show_and_a_guess_is_logged(tmp_path, gmm_log):

    from gmm_apps.sniff import text_encoding
    from gmm_apps.tabular import read_table

    df = pd.DataFrame(
        {"Kunde": ["Müller", "Sørensen", "Ångström"], "Betrag": [1.5, 2.25, 3.0], "Ort": ["Köln", "€", "x"]}
    )
    files = {  # what Excel and other tools write
        "windows.csv": ("cp1252", {"sep": ";", "encoding": "cp1252"}),  # Excel on Windows, "CSV"
        "unicode.txt": ("utf-16", {"sep": "\t", "encoding": "utf-16"}),  # Excel, "Unicode Text" (with a mark)
        "bare16.txt": ("utf-16-le", {"sep": "\t", "encoding": "utf-16-le"}),  # UTF-16 without a mark
        "marked.csv": ("utf-8-sig", {"encoding": "utf-8-sig"}),  # Excel, "CSV UTF-8"
        "plain.csv": ("utf-8", {}),
        "zipped.csv.gz": ("cp1252", {"encoding": "cp1252", "compression": "gzip"}),
    }
    for name, (want, kwargs) in files.items():
        df.to_csv(tmp_path / name, index=False, **kwargs)
        gmm_log.clear()
        assert text_encoding(tmp_path / name, "gzip" if name.endswith(".gz") else None) == want, name
        pd.testing.assert_frame_equal(read_table(tmp_path / name), df, obj=name)
        if want == "cp1252":
            assert "not UTF-8; read as Windows-1252 text, e.g. line 2: Müller" in gmm_log.text, name
        else:
            assert "read as" not in gmm_log.text, name
    # Japanese, Chinese and Korean text as Excel on Windows saves "CSV" there; Western text whose accented
    # letters and signs sit alone (21.5°C, £12.50, à Paris, Øvergård) stays Windows-1252
    asian = {
        "cp932": ("日付", "終値", "銘柄", "トヨタ自動車", "Shift_JIS (Japanese Windows)"),
        "gb18030": ("日期", "收盘", "名称", "贵州茅台", "GBK (Chinese Windows)"),
        "cp949": ("날짜", "종가", "종목명", "삼성전자", "Korean Windows (cp949)"),
        "cp950": ("日期", "收盤價", "名稱", "台積電", "Big5 (Traditional Chinese Windows)"),
    }
    for encoding, (day, close, what, name, said) in asian.items():
        table = pd.DataFrame({day: ["2024-01-02", "2024-01-03"] * 5, close: [580.5, 581.0] * 5, what: [name] * 10})
        table.to_csv(tmp_path / f"{encoding}.csv", index=False, encoding=encoding)
        gmm_log.clear()
        assert text_encoding(tmp_path / f"{encoding}.csv") == encoding
        pd.testing.assert_frame_equal(read_table(tmp_path / f"{encoding}.csv"), table, obj=encoding)
        assert f"not UTF-8; read as {said} text, e.g. line 1: {day},{close},{what}" in gmm_log.text
    # a Japanese bank's statement: its payees in half-width katakana
    bank = pd.DataFrame({"日付": ["2024/01/04"] * 6, "摘要": ["ｶ)ﾄﾖﾀｼﾞﾄﾞｳｼｬ", "ﾃﾞﾝｷﾀﾞｲ", "ｽｲﾄﾞｳ"] * 2, "金額": [1200] * 6})
    bank.to_csv(tmp_path / "bank.csv", index=False, encoding="cp932")
    assert text_encoding(tmp_path / "bank.csv") == "cp932"
    western = pd.DataFrame(
        {"Temp (°C)": ["21.5°C"] * 9, "Prix": ["£12.50"] * 9, "Note": ["à Paris"] * 9, "Nom": ["Åse Øvergård"] * 9}
    )
    western.to_csv(tmp_path / "western.csv", index=False, encoding="cp1252")
    assert text_encoding(tmp_path / "western.csv") == "cp1252"
    pd.testing.assert_frame_equal(read_table(tmp_path / "western.csv"), western)
    # bytes Windows-1252 leaves undefined (0x81): read as Latin-1, byte for byte
    (tmp_path / "latin.csv").write_bytes("id,v\nab\x81,1\n".encode("latin-1"))
    assert text_encoding(tmp_path / "latin.csv") == "latin-1"
    assert read_table(tmp_path / "latin.csv")["id"].tolist() == ["ab\x81"]


def test_a_header_below_a_reports_title_rows_is_found_by_the_columns_named(tmp_path, gmm_log):

    from gmm_apps.tabular import header_with, read_table

    df = pd.DataFrame({"Customer": ["a", "b"], "Date": ["2020-01-02", "2020-01-03"], "Amount": [1.5, 2.25]})
    has = header_with(["customer", "AMOUNT", None])  # any case; None: a column the config does not name
    with open(tmp_path / "bare.csv", "w") as fh:  # title lines without separators, then a blank line
        fh.write("Sales report\nGenerated 2023-01-05 by the shop\n\n")
        df.to_csv(fh, index=False)
    with open(tmp_path / "padded.csv", "w") as fh:  # as Excel pads a title row with separators
        fh.write("Sales report;;\n;;\n")
        df.to_csv(fh, index=False, sep=";")
    with pd.ExcelWriter(tmp_path / "book.xlsx") as xw:
        pd.DataFrame([["Sales report"], ["2023-01-05"]]).to_excel(xw, index=False, header=False)
        df.to_excel(xw, index=False, startrow=3)
    for name, row in (("bare.csv", 4), ("padded.csv", 3), ("book.xlsx", 4)):
        gmm_log.clear()
        pd.testing.assert_frame_equal(read_table(tmp_path / name, header_has=has), df, obj=name)
        assert f"the header is row {row}; the {row - 1} rows above it (a title, an export's notes?)" in gmm_log.text
    # a first row that holds the names is the header; a data row holding them is not one (it has numbers)
    data = pd.DataFrame({"x": ["customer", "1"], "y": ["amount", "2"], "z": ["3", "4"]})
    data.to_csv(tmp_path / "plain.csv", index=False)
    pd.testing.assert_frame_equal(read_table(tmp_path / "plain.csv", header_has=has), data.astype({"z": int}))
    # a comma in one row of a table separated by spaces does not make it comma-separated
    (tmp_path / "spaced.txt").write_text("id amount note\n1 2.5 x\n2 3.5 a,b\n3 1.0 y\n")
    assert read_table(tmp_path / "spaced.txt")["note"].tolist() == ["x", "a,b", "y"]
    # no row holding them: the first row stays the header, and the caller names what is missing
    df.to_csv(tmp_path / "other.csv", index=False)
    assert list(read_table(tmp_path / "other.csv", header_has=header_with(["id"])).columns) == list(df.columns)
    # a workbook whose first sheet is a summary: the first sheet holding the named columns is read, and said
    with pd.ExcelWriter(tmp_path / "report.xlsx") as xw:
        pd.DataFrame({"Report": ["Sales"], "Rows": [2]}).to_excel(xw, sheet_name="Summary", index=False)
        pd.DataFrame({"Notes": ["none"]}).to_excel(xw, sheet_name="Notes", index=False)
        df.to_excel(xw, sheet_name="Orders", index=False, startrow=1)
    gmm_log.clear()
    pd.testing.assert_frame_equal(read_table(tmp_path / "report.xlsx", header_has=has), df)
    assert "the first sheet 'Summary' does not hold the columns the config names; sheet 'Orders' does" in gmm_log.text
    # a sheet named is read whatever it holds; a workbook with no such sheet reads its first
    assert list(read_table(tmp_path / "report.xlsx", sheet="Notes", header_has=has).columns) == ["Notes"]
    assert list(read_table(tmp_path / "report.xlsx", header_has=header_with(["id"])).columns) == ["Report", "Rows"]


def test_a_zeek_log_reads_its_columns_from_its_fields_line_and_leaves_its_directives_out(tmp_path, gmm_log):
    """Zeek (Bro) writes a log's columns on a '#fields' line among '#' directives, closes it with '#close', and
    logs joined end to end repeat them: the rows, under those names, typed as the plain table would be; read
    whole, in chunks, or gzipped alike."""
    import gzip

    from gmm_apps.tabular import read_table

    fields = ["ts", "uid", "id.orig_h", "duration", "orig_bytes", "service"]
    top = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", "#path\tconn"]
    top += [
        "#open\t2024-01-01-00-00-00",
        "#fields\t" + "\t".join(fields),
        "#types\ttime\tstring\taddr\tinterval\tcount\tstring",
    ]
    rows = [f"{1704067200 + i}.25\tC{i:04x}\t10.0.0.{i % 7}\t{0.5 * i:.3f}\t{100 + i}\tdns#{i % 3}" for i in range(40)]
    want = pd.DataFrame([r.split("\t") for r in rows[:20] + rows[30:]], columns=fields).astype(
        {"ts": float, "duration": float, "orig_bytes": int}
    )
    want.loc[5, "duration"] = np.nan  # written '-': unset
    rows[5] = rows[5].replace("\t2.500\t", "\t-\t")
    log = top + rows[:20] + ["#close\t2024-01-01-01-00-00"] + top + rows[30:] + ["#close\t2024-01-01-02-00-00"]
    text = "\n".join(log) + "\n"
    (tmp_path / "conn.log").write_text(text)
    with gzip.open(tmp_path / "conn.log.gz", "wt") as fh:
        fh.write(text)
    got = read_table(tmp_path / "conn.log")
    got["duration"] = pd.to_numeric(got["duration"].replace("-", np.nan))
    pd.testing.assert_frame_equal(got, want)
    assert "conn.log: a Zeek log: its columns from its #fields line, its # lines left out" in gmm_log.text
    parts = pd.concat(read_table(tmp_path / "conn.log.gz", chunksize=7), ignore_index=True)
    parts["duration"] = pd.to_numeric(parts["duration"].replace("-", np.nan))
    pd.testing.assert_frame_equal(parts, want)


def test_a_header_below_an_exports_notes_is_found_without_columns_named(tmp_path, gmm_log):
    """A bank's statement opens with its account, period and balance (a name and a value a row), then the table:
    its header is the first row of names as wide as the rows below it, whether or not the config names a column."""
    from gmm_apps.tabular import below_preamble, header_with, read_table

    df = pd.DataFrame(
        {
            "Buchungstag": ["30.05.2024", "22.03.2024", "02.01.2024"],
            "Empfänger": ["Amazon", "REWE", "Miete GmbH"],
            "Gläubiger-ID": ["", "DE98ZZZ", ""],
            "Betrag (EUR)": ["-26,97", "-130,92", "-950,00"],
        }
    )
    notes = '"Kontonummer:";"DE12 1203 0000 1234 5678 90 / Girokonto";\n\n"Von:";"01.01.2024";\n"Bis:";"30.06.2024";\n'
    with open(tmp_path / "statement.csv", "w", encoding="cp1252") as fh:
        fh.write(notes + '"Kontostand vom 30.06.2024:";"2.345,67 EUR";\n\n')
        df.to_csv(fh, index=False, sep=";")
    with pd.ExcelWriter(tmp_path / "statement.xlsx") as xw:
        pd.DataFrame([["Account", "12345678"], ["From", "2024-01-01"], ["To", "2024-06-30"]]).to_excel(
            xw, index=False, header=False
        )
        df.to_excel(xw, index=False, startrow=4)
    want = df.replace("", float("nan"))
    for name, row in (("statement.csv", 7), ("statement.xlsx", 5)):
        gmm_log.clear()
        pd.testing.assert_frame_equal(read_table(tmp_path / name, dtype=str), want, obj=name)
        assert f"the header is row {row}; the {row - 1} rows above it (a title, an export's notes?)" in gmm_log.text
    # Excel's separator line above the header
    with open(tmp_path / "sep.csv", "w") as fh:
        fh.write("sep=;\n")
        df.to_csv(fh, index=False, sep=";")
    gmm_log.clear()
    pd.testing.assert_frame_equal(read_table(tmp_path / "sep.csv", dtype=str), want)
    assert "the header is row 2; the row above it (a title, an export's note?) is left out" in gmm_log.text
    # no names, no header search: a config naming no column finds the header as one naming none does
    assert header_with([None]) is None and header_with([]) is None
    # a table's own first rows are no notes: its header on top, short rows under it, rows with no header
    header = [["Date", "Price", "Note"], ["2024-01-02", "5"], ["2024-01-03", "6", "x"], ["2024-01-04", "7", "y"]]
    assert below_preamble(header) is None
    assert below_preamble([["2024-01-02", "5"], ["2024-01-03", "6", "x"], ["2024-01-04", "7", "y"]]) is None
    assert below_preamble([["Account", "1"], ["Date", "Price", "Note"], ["2024-01-02", "5", "x"]]) is None  # 1 row
    assert below_preamble([["Account", "1"], ["Date", "Price", "Note"], ["2024-01-02", "5", "x"], ["3", "6", "y"]]) == 1


def test_a_header_below_a_title_block_holding_a_pair_of_names_is_the_one_data_follows(tmp_path, gmm_log):
    """FRED's Excel download: titles, the series' name beside its long title, a blank line and its frequency,
    then the header; the pair of names above is part of the title block, not the header."""
    from gmm_apps.tabular import below_title, read_table

    notes = [["FRED Graph Observations", None], ["Federal Reserve Economic Data", None], ["Link: https://fred", None]]
    notes += [[None, None], ["DCOILWTICO", "Crude Oil Prices: West Texas Intermediate (WTI), Daily"], [None, None]]
    notes += [["Frequency: Daily", None], ["observation_date", "DCOILWTICO"]]
    days = pd.bdate_range("2024-01-02", periods=30)
    body = [[d.to_pydatetime(), 70.0 + i] for i, d in enumerate(days)]
    pd.DataFrame(notes + body).to_excel(tmp_path / "fredgraph.xlsx", header=False, index=False)
    gmm_log.clear()
    got = read_table(tmp_path / "fredgraph.xlsx")
    assert list(got.columns) == ["observation_date", "DCOILWTICO"] and len(got) == 30
    assert "the header is row 8; the 7 rows above it" in gmm_log.text
    # FRED's newer workbook: a README sheet of notes, a line each, then the data on a sheet of its own
    readme = pd.DataFrame({"A": ["Title: Crude Oil Prices", "Series ID: DCOILWTICO", "Units: Dollars per Barrel"]})
    data = pd.DataFrame({"observation_date": days, "DCOILWTICO": [70.5 + i for i in range(30)]})
    with pd.ExcelWriter(tmp_path / "fredgraph2.xlsx") as xw:
        readme.to_excel(xw, sheet_name="README", index=False, header=False)
        data.to_excel(xw, sheet_name="Daily", index=False)
    gmm_log.clear()
    pd.testing.assert_frame_equal(read_table(tmp_path / "fredgraph2.xlsx"), data)
    assert (
        "the first sheet 'README' holds notes, not a table (a line of text a row); sheet 'Daily' is read"
        in gmm_log.text
    )
    # a first sheet of one column of numbers is a table, and read
    with pd.ExcelWriter(tmp_path / "one_column.xlsx") as xw:
        pd.DataFrame({"amount": [1.5, 2.5, 3.5]}).to_excel(xw, sheet_name="amounts", index=False)
        data.to_excel(xw, sheet_name="Daily", index=False)
    assert list(read_table(tmp_path / "one_column.xlsx").columns) == ["amount"]
    # a title, then the header and a data row whose one filled cell is its id: that header still
    assert below_title([["Sales 2024"], ["id", "amount", "note"], ["1"], ["2", "5", "x"]]) == 1
    assert below_title([["Sales 2024"], ["id", "amount"], ["1", "5"]]) == 1


def test_a_header_of_groups_over_their_columns_names_each_column_by_both(tmp_path, gmm_log):
    """A report's header of two rows (``Sales`` merged over ``Units`` and ``Revenue``, ``Store`` merged down), as
    Excel keeps it (merged cells, under a title) and as a CSV saved from it writes it (blank cells), and pandas'
    own grouped columns (``groupby().agg()`` saved with its index): each column named by its group and its name,
    the values those written."""
    from openpyxl import Workbook

    from gmm_apps.tabular import grouped_header, header_with, read_table

    rng = np.random.default_rng(0)
    want = pd.DataFrame(
        {
            "Store": [f"S{i:03d}" for i in range(40)],
            "Sales Units": rng.integers(50, 150, 40),
            "Sales Revenue": rng.gamma(5, 200, 40).round(2),
            "Returns Units": rng.integers(0, 10, 40),
            "Returns Value": rng.gamma(3, 10, 40).round(2),
            "Margin": rng.uniform(0.1, 0.4, 40).round(3),
        }
    )
    header = [["Store", "Sales", None, "Returns", None, "Margin"], [None, "Units", "Revenue", "Units", "Value", None]]
    book = Workbook()
    sheet = book.active
    for row in [["Weekly store report"], [], *header, *want.values.tolist()]:
        sheet.append(row)
    for cells in ("A3:A4", "B3:C3", "D3:E3", "F3:F4"):
        sheet.merge_cells(cells)
    book.save(tmp_path / "report.xlsx")
    with open(tmp_path / "report.csv", "w") as fh:
        fh.write("\n".join(",".join("" if c is None else c for c in row) for row in header) + "\n")
        want.to_csv(fh, index=False, header=False)
    # the same report from column B (a margin column left blank), as a workbook and as the CSV saved from it
    margin = Workbook()
    for row in [["Weekly store report"], [], *header, *want.values.tolist()]:
        margin.active.append([None, *row])
    for cells in ("B3:B4", "C3:D3", "E3:F3", "G3:G4"):
        margin.active.merge_cells(cells)
    margin.save(tmp_path / "margin.xlsx")
    pd.read_excel(tmp_path / "margin.xlsx", header=None).to_csv(tmp_path / "margin.csv", header=False, index=False)
    for name, rows in (("report.xlsx", "3-4"), ("report.csv", "1-2"), ("margin.xlsx", "3-4"), ("margin.csv", "3-4")):
        for has in (None, header_with(["Store"])):
            gmm_log.clear()
            pd.testing.assert_frame_equal(read_table(tmp_path / name, header_has=has), want, check_dtype=False)
            assert f"the header is rows {rows}, groups over their columns" in gmm_log.text
    # pandas' grouped columns: the group's name in each of its columns, the index named on a row of its own
    lines = pd.DataFrame({"store": rng.choice(["a", "b", "c", "d"], 200), "sales": rng.gamma(3, 20, 200)})
    lines["items"] = rng.integers(1, 9, 200)
    summary = lines.groupby("store").agg({"sales": ["sum", "mean"], "items": ["sum", "max"]})
    summary.to_csv(tmp_path / "summary.csv")
    summary.to_excel(tmp_path / "summary.xlsx")
    flat = summary.set_axis([" ".join(c) for c in summary.columns], axis=1).reset_index()
    for name in ("summary.csv", "summary.xlsx"):
        for has in (None, header_with(["store"])):
            pd.testing.assert_frame_equal(read_table(tmp_path / name, header_has=has), flat, check_dtype=False)
    # rows that are no such header: a title over one, names over a first row of text, a bank's period over its
    # columns, a units row (names distinct, no column named above alone)
    assert grouped_header([["Sales 2024"], ["id", "amount"], ["1", "5"]], 1) is None
    assert grouped_header([["Name", "City", "Notes"], ["Bob", "", ""], ["Ann", "Rome", "5"]], 1) is None
    assert grouped_header([["Period:", "01.01.-30.06."], ["Date", "Text", "Amount"], ["1", "x", "5"]], 1) is None
    assert grouped_header([["Temperature", "Pressure"], ["°C", "hPa"], ["20.5", "1013"]], 1) is None
    assert grouped_header([["Account:", "DE12 3456"], ["", "Date", "Amount"], ["0", "1", "5"]], 1) is None
    assert grouped_header([["Store", "Sales", ""], ["", "Units", ""], ["S1", "5", ""]], 1) is None  # one group of one


def test_values_merged_down_over_a_reports_rows_are_read_in_each_row(tmp_path, gmm_log):
    """A report merges a customer over the lines of their orders (under a title, its table from column B):
    each line reads its customer, as the workbook says; a merge across columns, or over a first cell left
    empty, stays as written, and rows merely left blank are not filled."""
    from openpyxl import Workbook

    from gmm_apps.tabular import read_table

    lines = pd.DataFrame(
        {
            "Customer": ["C1", "C1", "C1", "C2", "C3", "C3", None, "C4", "C4"],
            "Order": [f"#{i}" for i in range(9)],
            "Total": [10.0, 20.0, 30.0, 5.0, 7.5, 2.5, 4.0, 1.0, 2.0],
            "Note": ["gift", None, None, None, "wide", None, None, None, None],
        }
    )
    book = Workbook()
    sheet = book.active
    sheet.append(["Orders by customer"])
    sheet.append([])
    sheet.append([None, *lines.columns])
    written = lines.copy()
    written.loc[[1, 2, 5, 8], "Customer"] = None  # the merged cells' values, as a workbook keeps them
    for row in written.itertuples(index=False):
        sheet.append([None, *[None if pd.isna(v) else v for v in row]])
    for cells in ("B4:B6", "B8:B9", "B11:B12", "E4:E6"):  # customers C1, C3, C4 merged down; a note too
        sheet.merge_cells(cells)
    sheet.merge_cells("E8:F8")  # a note merged across a column: not down, left as written
    book.save(tmp_path / "report.xlsx")
    for dtype in (None, str):
        gmm_log.clear()
        got = read_table(tmp_path / "report.xlsx", dtype=dtype).replace({np.nan: None})
        assert got["Customer"].tolist() == ["C1"] * 3 + ["C2", "C3", "C3", None, "C4", "C4"]  # row 6 blank: left
        assert got["Note"].tolist() == ["gift"] * 3 + [None, "wide"] + [None] * 4
        assert got["Total"].astype(float).tolist() == lines["Total"].tolist()
        assert "4 cells of 'Customer', 2 cells of 'Note'" in gmm_log.text
    # a merge whose first cell is empty is no value merged down: the cells stay empty
    from gmm_apps.sheet_layout import merged_down, sheet_layout

    frame = pd.DataFrame({"a": [None, None, 1.0]})
    assert merged_down(frame, sheet_layout(tmp_path / "report.xlsx", 0)[0], 3, "x")["a"].isna().sum() == 2


def test_rows_a_workbook_hides_are_read_and_said(tmp_path, gmm_log):
    """Rows hidden by a filter are read like the others (what is hidden is the user's to leave out), and the log
    says how many and which, for the sheet read, by name or position."""
    from openpyxl import Workbook

    from gmm_apps.tabular import read_table

    book = Workbook()
    sheet = book.active
    sheet.title = "Summary"
    sheet.append(["see the next sheet"])
    data = book.create_sheet("Q1 R&D")  # a name the workbook stores escaped (R&amp;D)
    data.append(["id", "amount"])
    for i in range(10):
        data.append([f"r{i}", i * 1.5])
    data.auto_filter.ref = "A1:B11"
    for r in (3, 5, 6):
        data.row_dimensions[r].hidden = True
    book.save(tmp_path / "filtered.xlsx")
    for which in ("Q1 R&D", 1):
        gmm_log.clear()
        got = read_table(tmp_path / "filtered.xlsx", sheet=which)
        assert got["amount"].tolist() == [i * 1.5 for i in range(10)]
        assert "3 row(s) hidden in the workbook (a filter, a collapsed group), rows 3, 5, 6, are read" in gmm_log.text
    gmm_log.clear()
    read_table(tmp_path / "filtered.xlsx", sheet="Summary")
    assert "hidden" not in gmm_log.text


def test_a_hidden_first_sheet_is_passed_over_for_the_first_one_shown(tmp_path, gmm_log):
    """A workbook whose first sheet is hidden (the lists its drop-downs read from) opens on the next: that one is
    read, logged, unless data.sheet names the hidden one."""
    from openpyxl import Workbook

    from gmm_apps.tabular import header_with, read_table

    book = Workbook()
    lists = book.active
    lists.title = "lists"
    lists.append(["status"])
    lists.append(["paid"])
    lists.sheet_state = "hidden"
    orders = book.create_sheet("Orders")
    orders.append(["id", "amount"])
    orders.append(["a", 2.5])
    book.active = 1
    book.save(tmp_path / "book.xlsx")
    for has in (None, header_with(["amount"])):
        assert read_table(tmp_path / "book.xlsx", header_has=has)["amount"].tolist() == [2.5]
    assert "the first sheet 'lists' is hidden; 'Orders', the first shown, is read (data.sheet names another)" in (
        gmm_log.text
    )
    assert read_table(tmp_path / "book.xlsx", sheet="lists")["status"].tolist() == ["paid"]


def test_hidden_sheets_of_the_same_columns_are_neither_offered_nor_warned_of_as_unread(tmp_path, gmm_log):
    """A workbook split by year with a hidden backup of an old year (first) and a hidden scratch copy: init offers
    and run --each runs the shown sheets alone, the unread-sheets warning names the shown ones, and the log says
    the hidden ones hold the same columns."""
    from openpyxl import load_workbook

    from gmm_apps.registry import get_pipeline
    from gmm_apps.tabular import read_table, sheets_alike

    year = pd.DataFrame({"Customer": [1, 2], "Date": ["2024-01-02", "2024-02-03"], "Amount": [10.0, 20.0]})
    with pd.ExcelWriter(tmp_path / "sales.xlsx") as xw:
        for name in ("old 2022", "2023", "2024", "scratch"):
            year.to_excel(xw, sheet_name=name, index=False)
    book = load_workbook(tmp_path / "sales.xlsx")
    book["old 2022"].sheet_state = book["scratch"].sheet_state = "hidden"
    book.active = 1
    book.save(tmp_path / "sales.xlsx")
    assert sheets_alike(tmp_path / "sales.xlsx") == ["2023", "2024"]
    parts = get_pipeline("customers").parts(tmp_path / "sales.xlsx")
    assert [p.overrides["data.sheet"] for p in parts] == ["2023", "2024"]
    assert len(read_table(tmp_path / "sales.xlsx")) == 2
    assert "sheet(s) '2024' hold the same columns as the sheet read, '2023', and were not read" in gmm_log.text
    assert "hidden sheet(s) 'old 2022', 'scratch' hold the same columns and are not read" in gmm_log.text


def _xlsx(df):
    import io

    buf = io.BytesIO()
    df.to_excel(buf, index=False, engine="openpyxl")
    return buf.getvalue()


def test_json_records_read_by_every_pipelines_reader(tmp_path):
    import gzip
    import json

    from gmm_apps.tabular import read_table

    rows = [{"id": "007", "x": 1.5, "when": "2024-01-02", "card": {"kind": "visa"}}, {"id": "008", "x": 2.0}]
    (tmp_path / "a.jsonl").write_text("\ufeff" + "\n".join(json.dumps(r) for r in rows))  # with a byte-order mark
    df = read_table(tmp_path / "a.jsonl")
    assert list(df.columns) == ["id", "x", "when", "card.kind"] and df["x"].tolist() == [1.5, 2.0]
    assert df["card.kind"].iloc[0] == "visa" and pd.isna(df["card.kind"].iloc[1])
    # gzipped, read in one block when asked for chunks, ids kept as text
    with gzip.open(tmp_path / "a.json.gz", "wt") as fh:
        json.dump([{"id": 7, "x": 1}, {"id": 8, "x": None}], fh)
    (block,) = list(read_table(tmp_path / "a.json.gz", chunksize=1, dtype=str))
    assert block["id"].tolist() == ["7", "8"] and block["x"].iloc[0] == "1" and pd.isna(block["x"].iloc[1])
    # rows as lists: without column names (Binance's klines) named column_1 ..., or under a header row (Google
    # Sheets' values, rows cut short after their last filled cell)
    (tmp_path / "klines.json").write_text(json.dumps([[1704153600000, "1.5", "2.0"], [1704240000000, "1.6", "2.1"]]))
    got = read_table(tmp_path / "klines.json")
    assert got.columns.tolist() == ["column_1", "column_2", "column_3"] and got["column_2"].tolist() == ["1.5", "1.6"]
    sheet = {
        "range": "Sheet1!A1:C3",
        "values": [["Date", "Close", "Note"], ["2024-01-02", "1.5"], ["2024-01-03", "1.6", "x"]],
    }
    (tmp_path / "sheet.json").write_text(json.dumps(sheet))
    got = read_table(tmp_path / "sheet.json")
    assert got.columns.tolist() == ["Date", "Close", "Note"] and got["Note"].fillna("-").tolist() == ["-", "x"]
    # a list of lists holding objects is no table: refused in one line
    (tmp_path / "odd.json").write_text(json.dumps([[{"a": 1}], [{"a": 2}]]))
    with pytest.raises(DataError, match="JSON holding a list of lists \\(rows without column names\\), not a table"):
        read_table(tmp_path / "odd.json")
    # a delimited table whose header a SQL tool bracketed is still a table
    (tmp_path / "sql.csv").write_text("[Date],[Close]\n2024-01-02,1.5\n")
    assert list(read_table(tmp_path / "sql.csv").columns) == ["[Date]", "[Close]"]


def _json_table(tmp_path, data):
    from gmm_apps.tabular import read_table

    (tmp_path / "t.json").write_text(json.dumps(data))
    return read_table(tmp_path / "t.json")


def test_json_tables_in_the_shapes_apis_and_pandas_write(tmp_path):
    frame = pd.DataFrame({"open": [1.0, 2.0, 3.0], "close": [1.5, 2.5, 3.5]})
    dated = frame.set_index(pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04"], name="day"))
    # pandas' to_json, each orient a table of its own: row numbers dropped, dates kept as a first column
    for orient in ("columns", "index", "records", "split", "table"):
        got = _json_table(tmp_path, json.loads(frame.to_json(orient=orient)))
        if orient == "table":  # its index is one of the records' fields
            assert got.pop("index").tolist() == [0, 1, 2]
        pd.testing.assert_frame_equal(got, frame, obj=orient)
        got = _json_table(tmp_path, json.loads(dated.to_json(orient=orient, date_format="iso")))
        if orient == "records":
            continue  # records carry no index
        if orient == "table":
            got = got.rename(columns={"day": "date"})
        assert got.columns.tolist() == ["date", "open", "close"], orient
        assert pd.to_datetime(got["date"]).dt.strftime("%Y-%m-%d").tolist() == [
            "2024-01-02",
            "2024-01-03",
            "2024-01-04",
        ]
        pd.testing.assert_frame_equal(got[["open", "close"]], frame, obj=orient)
    # Unix milliseconds as the row labels (to_json's dates before pandas 3) are kept too, as text for the date reader
    ms = {"1704153600000": 1.0, "1704240000000": 2.0, "1704326400000": 3.0}
    got = _json_table(tmp_path, {"open": ms, "close": {k: v + 0.5 for k, v in ms.items()}})
    assert got["date"].tolist() == ["1704153600000", "1704240000000", "1704326400000"]
    # rows labelled by ids keep them, as pandas names an index it writes out
    got = _json_table(tmp_path, json.loads(frame.set_index(pd.Index(["a7", "b2", "c9"])).to_json()))
    assert got.columns.tolist() == ["index", "open", "close"] and got["index"].tolist() == ["a7", "b2", "c9"]
    # Alpha Vantage: rows keyed by date under a key, beside its metadata
    av = {
        "Meta Data": {"2. Symbol": "IBM", "5. Time Zone": "US/Eastern"},
        "Time Series (Daily)": {
            "2024-01-03": {"1. open": "2", "4. close": "2.5"},
            "2024-01-02": {"1. open": "1", "4. close": "1.5"},
        },
    }
    got = _json_table(tmp_path, av)
    assert got.values.tolist() == [["2024-01-03", "2", "2.5"], ["2024-01-02", "1", "1.5"]]
    assert got.columns.tolist() == ["date", "1. open", "4. close"]
    # Nasdaq Data Link (Quandl): a dataset's rows with its column names, metadata beside; a datatable's columns
    quandl = {
        "dataset": {
            "id": 9775409,
            "name": "Apple",
            "column_names": ["Date", "Close"],
            "data": [["2024-01-03", 2.5], ["2024-01-02", 1.5]],
            "frequency": "daily",
            "limit": None,
        }
    }
    got = _json_table(tmp_path, quandl)
    assert got.columns.tolist() == ["Date", "Close"] and got.values.tolist() == [
        ["2024-01-03", 2.5],
        ["2024-01-02", 1.5],
    ]
    table = {
        "datatable": {
            "data": [["AAPL", 1.5]],
            "columns": [{"name": "ticker", "type": "String"}, {"name": "close", "type": "double"}],
        },
        "meta": {"next_cursor_id": None},
    }
    assert _json_table(tmp_path, table).to_dict("list") == {"ticker": ["AAPL"], "close": [1.5]}
    # Finnhub / TradingView candles: arrays of one length are the columns; the status beside them is left
    got = _json_table(tmp_path, {"c": [1.5, 2.5], "t": [1704153600, 1704240000], "s": "ok"})
    assert got.columns.tolist() == ["c", "t"] and got["c"].tolist() == [1.5, 2.5]
    # CoinGecko: [time, value] pairs, joined on the time (a series missing a time leaves that cell empty)
    got = _json_table(tmp_path, {"prices": [[1, 10.0], [2, 11.0], [3, 12.0]], "total_volumes": [[1, 5.0], [3, 7.0]]})
    assert got.columns.tolist() == ["time", "prices", "total_volumes"] and got["time"].tolist() == [1, 2, 3]
    assert got["prices"].tolist() == [10.0, 11.0, 12.0] and got["total_volumes"].fillna(-1).tolist() == [5.0, -1, 7.0]
    # a list or an object inside a record's field (an event's tags) is that cell's JSON text, a plain value
    got = _json_table(tmp_path, [{"id": 1, "tags": ["a", "b"], "geo": [{"lat": 1}]}, {"id": 2, "tags": []}])
    assert got["tags"].tolist() == ['["a","b"]', "[]"] and got["geo"].tolist()[0] == '[{"lat":1}]'
    assert pd.isna(got["geo"].tolist()[1])
    # which table? two under keys, or one beside more than a note: refused rather than guessed
    two = {"orders": [{"id": 1}], "refunds": [{"id": 2}]}
    beside = {"orders": [{"id": 1}], "customer": {"addresses": [{"city": "x"}]}}
    for data, where in ((two, "'orders', 'refunds'"), (beside, "'orders', 'customer' > 'addresses'")):
        with pytest.raises(DataError, match=f"JSON holding several tables \\(under {where}\\); save the one"):
            _json_table(tmp_path, data)
    # one table deeper in an API's answer, beside its metadata, GraphQL's edges unwrapped to their nodes
    deep = {"data": {"transactions": [{"id": 1, "amt": 2.5}, {"id": 2, "amt": 3.0}]}, "meta": {"n": 2}}
    graphql = {"data": {"orders": {"edges": [{"node": r} for r in deep["data"]["transactions"]], "pageInfo": {}}}}
    for data in (deep, graphql):
        assert _json_table(tmp_path, data).to_dict("list") == {"id": [1, 2], "amt": [2.5, 3.0]}
    # arrays of different lengths are not columns
    with pytest.raises(DataError, match="JSON holding an object with keys 'c', 't'"):
        _json_table(tmp_path, {"c": [1.5, 2.5], "t": [1]})
    # Yahoo Finance's chart: one record's arrays nested in its objects, named by their keys (by their paths where
    # two are alike); the metadata's short lists are left
    chart = {
        "chart": {
            "result": [
                {
                    "meta": {"symbol": "X", "validRanges": ["1d", "5d"], "sessions": [1, 2, 3]},
                    "timestamp": [1, 2, 3, 4],
                    "indicators": {"quote": [{"close": [1.0, 2.0, None, 4.0]}], "adjclose": [{"close": [1, 2, 3, 4]}]},
                }
            ],
            "error": None,
        }
    }
    got = _json_table(tmp_path, chart)
    assert got.columns.tolist() == [
        "timestamp",
        "chart.result.0.indicators.quote.0.close",
        "chart.result.0.indicators.adjclose.0.close",
    ]
    assert got["timestamp"].tolist() == [1, 2, 3, 4]
    # arrays of two lengths, as many of each: which is the table cannot be told
    with pytest.raises(DataError, match="not a table"):
        _json_table(tmp_path, {"a": {"x": [1, 2], "y": [1, 2], "z": [1, 2], "u": [1], "v": [2], "w": [3]}})


def test_a_table_written_without_a_header_keeps_its_first_row(tmp_path, gmm_log):
    from gmm_apps.tabular import data_names, read_table

    X = np.random.default_rng(0).normal(size=(5, 3))
    np.savetxt(tmp_path / "matrix.csv", X, delimiter=",")
    got = read_table(tmp_path / "matrix.csv")
    assert got.columns.tolist() == ["column_1", "column_2", "column_3"] and np.allclose(got.to_numpy(), X)
    assert "the first row holds data, not column names: read as a row; the columns are named column_1 to column_3" in (
        gmm_log.text
    )
    # a workbook's sheet likewise (its cells typed: dates and numbers)
    pd.DataFrame(X).to_excel(tmp_path / "matrix.xlsx", index=False, header=False)
    got = read_table(tmp_path / "matrix.xlsx")
    assert got.columns.tolist() == ["column_1", "column_2", "column_3"] and np.allclose(got.to_numpy(), X)
    pd.DataFrame(X).to_excel(tmp_path / "named.xlsx", index=False)  # pandas' own header 0, 1, 2 stays one
    assert read_table(tmp_path / "named.xlsx").columns.tolist() == [0, 1, 2]
    # MetaTrader 4's history: dates and times in digits, numbers with a decimal comma under ';'
    (tmp_path / "mt4.csv").write_text("2023.01.03,00:00,1.069,1.07,1.05,1.054,66345\n2023.01.04,00:00,1,1,1,1,1\n")
    assert len(read_table(tmp_path / "mt4.csv")) == 2
    (tmp_path / "eu.csv").write_text("31/12/2018;1,5;-2\n01/01/2019;2,5;3\n")
    assert read_table(tmp_path / "eu.csv")["column_1"].tolist() == ["31/12/2018", "01/01/2019"]
    # a header stays one: names, pandas' own 0, 1, 2 (a DataFrame of an array), years beside a name
    pd.DataFrame(X).to_csv(tmp_path / "pandas.csv", index=False)
    assert read_table(tmp_path / "pandas.csv").columns.tolist() == ["0", "1", "2"]
    for header in (
        ["Date", "Close"],
        ["2019", "2020", "Region"],
        ["1", "2", "3"],
        ["", "2019"],
        ["12.5 kg"],
        ["400", "410"],
    ):
        assert data_names(header) is None, header
    assert data_names(["2024-01-02 10:00:00", "-1.5e-3", "1.234,5", "7"]) == [f"column_{i}" for i in range(1, 5)]


def test_a_note_under_a_reports_table_is_no_row(tmp_path, gmm_log):
    from gmm_apps.tabular import read_table

    # Barchart's download ends with a line saying where it came from; a workbook may end with a source line
    table = pd.DataFrame({"Time": ["12/03/2026", "12/02/2026"], "Last": [70.1, 69.8], "Volume": [10, 12]})
    with open(tmp_path / "cl.csv", "w") as fh:
        table.to_csv(fh, index=False)
        fh.write('"Downloaded from Barchart.com as of 12-04-2026 05:12pm CST"\n')
    pd.concat([table, pd.DataFrame({"Time": ["Source: Federal Reserve, H.10 release"]})]).to_excel(
        tmp_path / "cl.xlsx", index=False
    )
    for name in ("cl.csv", "cl.xlsx"):
        got = read_table(tmp_path / name)
        assert got["Time"].tolist() == table["Time"].tolist() and len(got) == 2, name
    assert "the last 1 row(s) are a note, not data, and are left out: Downloaded from Barchart.com" in gmm_log.text
    # a last row holding a date alone (its price missing), a word or a number is data, left for the reader to judge
    for last in ("Dec 04, 2026", "n/a", "Total", "1234"):
        pd.concat([table, pd.DataFrame({"Time": [last]})]).to_csv(tmp_path / "x.csv", index=False)
        assert len(read_table(tmp_path / "x.csv")) == 3, last


def test_a_column_without_name_or_value_is_no_column(tmp_path):
    from gmm_apps.tabular import read_table

    # the ECB's exchange-rate history ends every line with a comma; a sheet may hold an empty column beside its table
    (tmp_path / "fx.csv").write_text("Date,USD,JPY,\n2025-11-28,1.1961,130.25,\n2025-11-27,1.1951,N/A,\n")
    pd.DataFrame({"Date": ["2025-11-28"], "USD": [1.19], "": [None], "JPY": [130.2]}).to_excel(
        tmp_path / "fx.xlsx", index=False
    )
    assert list(read_table(tmp_path / "fx.csv").columns) == ["Date", "USD", "JPY"]
    assert list(read_table(tmp_path / "fx.xlsx").columns) == ["Date", "USD", "JPY"]
    # an unnamed column that holds values stays: it is data
    (tmp_path / "codes.csv").write_text(",a\nx,1.0\ny,2.0\n")
    assert list(read_table(tmp_path / "codes.csv").columns) == ["Unnamed: 0", "a"]


def test_the_row_index_a_table_was_saved_with_is_no_column(tmp_path, gmm_log):
    from gmm_apps.engine import dask_frame
    from gmm_apps.tabular import read_table

    # pandas' to_csv and to_excel and R's write.csv write the row numbers first, under a blank header: a model that
    # read them would score the row order as a feature, and a wide price file would show them as a series
    frame = pd.DataFrame({"amount": [3.5, 1.25, 8.0, 2.0], "shop": ["a", "b", "a", "c"]})
    frame.to_csv(tmp_path / "pandas.csv")
    frame.to_excel(tmp_path / "pandas.xlsx")
    frame[frame.amount > 1.5].to_csv(tmp_path / "filtered.csv")  # rows 0, 2, 3 of a filtered frame
    lines = ['"","amount","shop"'] + [f'"{i}",{a},"{s}"' for i, (a, s) in enumerate(frame.to_numpy(), 1)]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    for name in ("pandas.csv", "pandas.xlsx", "filtered.csv", "r.csv"):
        got = read_table(tmp_path / name)
        assert list(got.columns) == ["amount", "shop"], name
        want = [3.5, 8.0, 2.0] if name == "filtered.csv" else [3.5, 1.25, 8.0, 2.0]
        assert got["amount"].tolist() == want, name
    assert "pandas.csv: the first column has no name and numbers the rows (0 to 3)" in gmm_log.text
    assert "r.csv: the first column has no name and numbers the rows (1 to 4)" in gmm_log.text
    assert read_table(tmp_path / "r.csv", dtype=str)["amount"].tolist() == ["3.5", "1.25", "8.0", "2.0"]  # ids as text
    # read in chunks, every chunk alike; on the cluster, as locally
    chunks = list(read_table(tmp_path / "pandas.csv", chunksize=3))
    assert [list(c.columns) for c in chunks] == [["amount", "shop"]] * 2 and len(chunks[1]) == 1
    blocks = dask_frame(tmp_path / "pandas.csv", chunk_rows=10).compute()
    assert list(blocks.columns) == ["amount", "shop"]
    # a config that names it keeps it (data.id_column: 'Unnamed: 0'); numbers that are data stay
    assert list(read_table(tmp_path / "pandas.csv", keep=["Unnamed: 0"]).columns) == ["Unnamed: 0", "amount", "shop"]
    assert "Unnamed: 0" in dask_frame(tmp_path / "pandas.csv", chunk_rows=10, keep=["Unnamed: 0"]).columns
    for first in ([2001, 2002, 2003, 2004], [3, 1, 2, 0], [0, 1, None, 3], [0.5, 1, 2, 3]):
        pd.DataFrame({"": first, "amount": frame.amount}).to_csv(tmp_path / "data.csv", index=False)
        assert "Unnamed: 0" in read_table(tmp_path / "data.csv").columns, first


def test_the_index_pandas_saved_in_a_parquet_file_is_read_as_a_text_file_holds_it(tmp_path, gmm_log):
    from gmm_apps.engine import dask_frame
    from gmm_apps.tabular import read_table

    frame = pd.DataFrame({"tx_id": ["a", "b", "c", "d", "e"], "amount": [3.5, 1.25, 8.0, 2.0, 4.0]})
    frame.set_index("tx_id").to_parquet(tmp_path / "ids.parquet")  # the ids: the index, not a column, to pandas
    frame[frame.amount > 1.5].to_parquet(tmp_path / "kept.parquet")  # row numbers 0, 2, 3, 4
    dated = pd.DataFrame({"Close": [1.0, 2.0, 3.0]}, index=pd.date_range("2026-01-05", periods=3))
    dated.to_parquet(tmp_path / "dated.parquet")
    got = read_table(tmp_path / "ids.parquet")
    assert list(got.columns) == ["tx_id", "amount"] and got["tx_id"].tolist() == list("abcde")
    got = read_table(tmp_path / "kept.parquet")
    assert list(got.columns) == ["tx_id", "amount"] and got.index.tolist() == [0, 1, 2, 3]
    assert "kept.parquet: the rows are numbered 0 to 4 (a row index saved with the table" in gmm_log.text
    got = read_table(tmp_path / "dated.parquet")
    assert list(got.columns) == ["index", "Close"] and got["index"].tolist() == dated.index.tolist()
    # in chunks: the same columns, the rows numbered on as the CSV reader numbers them, said once
    chunks = list(read_table(tmp_path / "kept.parquet", chunksize=3))
    assert [list(c.columns) for c in chunks] == [["tx_id", "amount"]] * 2
    assert [c.index.tolist() for c in chunks] == [[0, 1, 2], [3]]
    assert "the rows are numbered 0 to 3 (" in gmm_log.text and "numbered 4 to 4" not in gmm_log.text  # said once
    # on the cluster: the ids a column, the row numbers left out; an index of dates is read locally
    assert list(dask_frame(tmp_path / "ids.parquet", chunk_rows=10).columns) == ["tx_id", "amount"]
    assert list(dask_frame(tmp_path / "kept.parquet", chunk_rows=10).columns) == ["tx_id", "amount"]
    assert dask_frame(tmp_path / "dated.parquet", chunk_rows=10) is None


def test_a_workbook_split_by_year_is_not_read_in_part_unsaid(tmp_path, gmm_log):
    from gmm_apps.tabular import read_table, sheets_alike

    year = pd.DataFrame({"Customer": [1, 2], "Date": ["2024-01-02", "2024-02-03"], "Amount": [10.0, 20.0]})
    with pd.ExcelWriter(tmp_path / "sales.xlsx") as xw:
        for name in ("2024", "2025", "Notes"):
            (year if name != "Notes" else pd.DataFrame({"Note": ["prices incl. VAT"]})).to_excel(
                xw, sheet_name=name, index=False
            )
    assert len(read_table(tmp_path / "sales.xlsx")) == 2  # the first sheet, as before, but said
    assert (
        "sales.xlsx: sheet(s) '2025' hold the same columns as the sheet read, '2024', and were not read; set "
        "data.sheet: [2024, 2025] to stack them (rows that continue each other, a log split by month), give the "
        "workbook to run --each to run each sheet as a run of its own" in gmm_log.text
    )
    assert sheets_alike(tmp_path / "sales.xlsx") == ["2024", "2025"]
    assert len(read_table(tmp_path / "sales.xlsx", sheet=["2024", "2025"])) == 4
    # a workbook whose other sheet is of another table: nothing to say
    with pd.ExcelWriter(tmp_path / "one.xlsx") as xw:
        year.to_excel(xw, sheet_name="Orders", index=False)
        pd.DataFrame({"Note": ["x"]}).to_excel(xw, sheet_name="Notes", index=False)
    gmm_log.clear()
    read_table(tmp_path / "one.xlsx")
    assert "were not read" not in gmm_log.text and sheets_alike(tmp_path / "one.xlsx") is None


def test_whole_numbers_beyond_64_bits_are_read_as_the_text_they_were_written_as(tmp_path):
    from gmm_apps.tabular import read_table

    accounts = [str(10**24 + 7 * i) for i in range(5)]  # 25-digit account numbers: beyond int64 and exact float
    text = (
        "account,n,x\n" + "".join(f"{a},{i},{i}.5\n" for i, a in enumerate(accounts)) + f"{accounts[0]},9,{'9' * 400}\n"
    )
    (tmp_path / "t.csv").write_text(text)
    df = read_table(tmp_path / "t.csv")
    assert df["account"].tolist() == [*accounts, accounts[0]]  # every digit kept, as text
    assert df["n"].dtype == np.int64 and df["x"].dtype == np.float64  # other columns as pandas reads them
    chunks = list(read_table(tmp_path / "t.csv", chunksize=4))
    assert pd.concat(chunks)["account"].tolist() == df["account"].tolist()
    (tmp_path / "t.json").write_text("[" + ", ".join(f'{{"account": {a}, "n": 1}}' for a in accounts) + "]")
    assert read_table(tmp_path / "t.json")["account"].tolist() == accounts  # JSON records too
    # the anomaly detector names each record by its account
    import gmm_apps

    rows = "".join(f"{10**24 + i},{i % 7},{(i * 37) % 11}\n" for i in range(60))
    (tmp_path / "ref.csv").write_text("account,a,b\n" + rows)
    sets = [f"data.path={tmp_path / 'ref.csv'}", "data.id_column=account", "model.seeds=1", "report.plots=false"]
    r = gmm_apps.run("anomaly", out=tmp_path / "r", set=sets)
    assert str(10**24 + 59) in (tmp_path / "r" / "scores.csv").read_text()
    assert r.tables["scores"]["id"].astype(str).str.len().eq(25).all()


def test_files_joined_end_to_end_read_as_one_table(tmp_path, gmm_log):
    from gmm_apps.tabular import read_table

    jan = pd.DataFrame({"id": ["007", "008"], "amount": [12.5, 3.0], "n": [1, 2], "when": ["2024-01-02", "2024-01-05"]})
    feb = pd.DataFrame({"id": ["009", "010"], "amount": [7.25, 1.0], "n": [3, 4], "when": ["2024-02-01", "2024-02-03"]})
    both = pd.concat([jan, feb], ignore_index=True)
    (tmp_path / "both.csv").write_text(both.to_csv(index=False))
    (tmp_path / "cat.csv").write_text(jan.to_csv(index=False) + feb.to_csv(index=False))  # cat jan.csv feb.csv
    one, joined = read_table(tmp_path / "both.csv"), read_table(tmp_path / "cat.csv")
    pd.testing.assert_frame_equal(joined.reset_index(drop=True), one)  # numbers read as numbers again
    assert "1 row(s) repeat the header" in gmm_log.text and "data row 3" in gmm_log.text
    as_text = read_table(tmp_path / "cat.csv", dtype=str)  # ids asked for as text stay text
    assert as_text["id"].tolist() == ["007", "008", "009", "010"] and as_text["n"].tolist() == ["1", "2", "3", "4"]
    chunks = pd.concat(read_table(tmp_path / "cat.csv", chunksize=2)).reset_index(drop=True)
    pd.testing.assert_frame_equal(chunks, one)
    # pandas' own saved index joined twice: its blank header repeats as a blank cell, and the row numbers that
    # start again from 0 in the second file are still the index, not a column
    (tmp_path / "indexed.csv").write_text(jan.to_csv() + feb.to_csv())
    assert read_table(tmp_path / "indexed.csv")["amount"].tolist() == [12.5, 3.0, 7.25, 1.0]
    months = [pd.concat([jan] * 6, ignore_index=True), pd.concat([feb] * 6, ignore_index=True)]
    (tmp_path / "long.csv").write_text(months[0].to_csv() + months[1].to_csv())  # 12 rows each
    (tmp_path / "one.csv").write_text(pd.concat(months, ignore_index=True).to_csv())  # the same rows, one file
    got = read_table(tmp_path / "long.csv").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, read_table(tmp_path / "one.csv"))
    assert "numbers the rows (0 to 11, from 0 again 1 time(s): files joined end to end)" in gmm_log.text
    for first in (
        [0, 1, 2, 3] * 5,
        list(range(12)) + [3, 4, 5, 6, 7, 8, 9, 10],
    ):  # a count restarting early, or not at 0
        pd.DataFrame({"": first, "amount": range(len(first))}).to_csv(tmp_path / "data.csv", index=False)
        assert "Unnamed: 0" in read_table(tmp_path / "data.csv").columns, first
    # a row that only looks like the header in some columns is data
    (tmp_path / "data.csv").write_text("kind,x\nkind,1\nother,2\n")
    assert read_table(tmp_path / "data.csv")["kind"].tolist() == ["kind", "other"]
