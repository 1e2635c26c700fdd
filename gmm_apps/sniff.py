"""What a table file is, from its bytes and never its name: a workbook, Parquet, JSON records, or delimited text
(plain, gzip or the one file of a zip archive), its separator and its character encoding; markup, locked and
binary workbooks refused with what to do; whether a first row is data, not a header (:func:`data_names`).
:func:`gmm_apps.tabular.read_table` reads what this finds."""

from __future__ import annotations

import codecs
import gzip
import io
import logging
import re
import zipfile
from pathlib import PurePosixPath

from .errors import DataError

logger = logging.getLogger("gmm_apps")

_SEPARATORS = (",", ";", "\t", "|")
#: how many rows at the top of a file are searched for its header (a report's title, date and blank rows)
HEADER_SEARCH_ROWS = 30


def sniff_table(path):
    """How a table file is stored, from its first bytes, never from its name.

    Returns
    -------
    kind : {'excel', 'parquet', 'json', 'text'}
    sep : str or None
        For text: the one of ``, ; tab |`` the header line holds most; else white space between
        several names, or ``,`` for a single column.
    compression : {'gzip', 'zip', None}
        ``zip``: a zip archive holding one text table (a download), read by :func:`open_stored`.
    """
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise DataError(f"{path}: file is empty; expected a header and rows")
    compression = None
    if head.startswith(b"PK\x03\x04"):
        if _zip_member(path) is None:
            return "excel", None, None
        compression = "zip"
    if head.startswith(b"PAR1"):
        return "parquet", None, None
    if head.startswith(_OLE2):
        _refuse_locked(path)
        return "excel", None, None
    if head.startswith(b"\x1f\x8b"):
        compression = "gzip"
    try:
        with open_stored(path, compression) as fh:
            start = fh.read(4096)
        encoding = _wide_encoding(start) or "utf-8"
        _refuse_markup(path, start.decode(encoding, errors="replace"))
        if _JSON_START.match(start.decode(encoding, errors="replace").lstrip("\ufeff")):
            return "json", None, compression  # an API's or a database's export: records, one a line or a list
        with open_stored(path, compression, "rt", encoding=encoding, errors="replace") as fh:
            lines = [ln for ln in (fh.readline() for _ in range(HEADER_SEARCH_ROWS)) if ln.strip()]
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    # the header: the first line whose separator the next line holds as often (a title above it may hold none)
    header = next((a for a, b in zip(lines, lines[1:]) if _same_fields(a, b)), lines[0] if lines else "")
    if not header:
        raise DataError(f"{path}: the file holds no text; expected a header and rows")
    counts = {s: header.count(s) for s in _SEPARATORS}
    sep = max(counts, key=counts.get)
    if not counts[sep]:
        sep = r"\s+" if len(header.split()) > 1 else ","
    return "text", sep, compression


#: the first bytes of an OLE2 compound document: an Excel 97-2003 workbook (or a password-protected one)
_OLE2 = b"\xd0\xcf\x11\xe0"


def _refuse_locked(path):
    """A password-protected workbook is an OLE2 document holding an encrypted package: say so."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if "EncryptionInfo".encode("utf-16-le") in head or "EncryptedPackage".encode("utf-16-le") in head:
        raise DataError(
            f"{path}: a password-protected workbook; open it in Excel, remove the password and save it again"
        )


def excel_engine(path):
    """The reader of a workbook: openpyxl for ``.xlsx`` / ``.xlsm``, calamine for Excel 97-2003 ``.xls``, an
    Excel binary workbook ``.xlsb`` and OpenDocument ``.ods`` (told apart by their bytes)."""
    with open(path, "rb") as fh:
        if fh.read(4) == _OLE2:
            return "calamine"
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
    return "calamine" if "mimetype" in names or "xl/workbook.bin" in names else "openpyxl"


def _zip_member(path):
    """The one file a zip archive holds (a downloaded table), or None for a workbook (Excel's and
    OpenDocument's are zip archives too); any other archive is refused saying what it holds."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if "[Content_Types].xml" in names:
                return None
            if "mimetype" in names and z.read("mimetype").startswith(b"application/vnd.oasis.opendocument.spreadsheet"):
                return None
            if "Index/Document.iwa" in names:  # Apple's Numbers (and Pages, Keynote) documents
                raise DataError(
                    f"{path}: an Apple Numbers document, not a table file; in Numbers, File > Export To > CSV (or "
                    "Excel), and name the exported file"
                )
            files = [
                n
                for n in names
                if not n.endswith("/") and not n.startswith("__MACOSX/") and not PurePosixPath(n).name.startswith(".")
            ]
            head = b""
            if len(files) == 1:
                with z.open(files[0]) as member:  # its first bytes only: a download may be large
                    head = member.read(4)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path}: a damaged zip archive or Excel workbook ({exc})") from None
    except RuntimeError:  # zipfile's word for an encrypted member
        raise DataError(
            f"{path}: a password-protected zip archive; unzip it with its password and name the file"
        ) from None
    except NotImplementedError as exc:  # Deflate64 (Windows' large archives), bzip2 members of old tools ...
        raise DataError(
            f"{path}: a zip archive this reader cannot unpack ({exc}); unzip it and name the file"
        ) from None
    if len(files) != 1:
        shown = ", ".join(files[:5]) + (", ..." if len(files) > 5 else "")
        raise DataError(
            f"{path}: a zip archive of {len(files)} files ({shown or 'none'}); unzip it and name the file to read"
        )
    if head.startswith((b"PK\x03\x04", b"PAR1", b"\xd0\xcf\x11\xe0", b"\x1f\x8b")):
        raise DataError(f"{path}: a zip archive holding {files[0]}; unzip it and name {files[0]} itself")
    return files[0]


def open_stored(path, compression, mode="rb", **text):
    """A table file opened as stored: plain, gzip, or the one file of a zip archive (``compression`` from
    :func:`sniff_table`); ``mode`` ``rb`` or ``rt`` (``text``: the encoding and error handling)."""
    if compression == "gzip":
        return gzip.open(path, mode, **text)
    if compression == "zip":
        with zipfile.ZipFile(path) as archive:  # closing the archive leaves its file open for the member
            raw = archive.open(_zip_member(path))
        return io.TextIOWrapper(raw, **text) if "t" in mode else raw
    return open(path, mode, **text)


def log_fields(rows):
    """The column names of a log written as Zeek (Bro) writes its logs (``conn.log``, ``dns.log``): ``#`` lines
    of directives above the rows (``#separator``, ``#fields ts uid ...``, ``#types``) and ``#close`` after them;
    None for any other table.  ``rows``: the file's first rows, as cells."""
    return next((row[1:] for row in rows if row and row[0] == "#fields" and len(row) > 2), None)


class WithoutDirectives(io.TextIOBase):
    """A text file read without its lines that start with ``#`` (a Zeek log's directives, wherever they are:
    logs joined end to end repeat them), as a file to hand to the CSV reader."""

    def __init__(self, fh):
        self._fh, self._left = fh, ""
        self._lines = (line for line in fh if not line.startswith("#"))

    def readable(self):
        return True

    def read(self, size=-1):
        parts, n = [self._left], len(self._left)
        for line in self._lines if size < 0 or n < size else ():
            parts.append(line)
            n += len(line)
            if 0 <= size <= n:
                break
        text = "".join(parts)
        cut = len(text) if size < 0 else size
        self._left = text[cut:]
        return text[:cut]

    def readline(self, size=-1):
        line = self._left
        while "\n" not in line and (more := next(self._lines, "")):
            line += more
        head, nl, self._left = line.partition("\n")
        return head + nl

    def close(self):
        self._fh.close()
        super().close()


#: JSON records start so (a list of objects or lists, an object with a quoted key); a delimited table whose
#: header is bracketed, as some SQL tools write it (``[Date],[Close]``), does not
_JSON_START = re.compile(r'\s*(\[\s*[\[{\]]|\{\s*["}])')

_MARKUP = re.compile(r"\s*<(!doctype html|html|table|\?xml)", re.IGNORECASE)


def _refuse_markup(path, start):
    """A web page or an XML spreadsheet saved under a table's name (some banks' "Excel" exports) is not a
    delimited table: refused with what to do, where it would have been read as nonsense columns."""
    if not _MARKUP.match(start):
        return
    if "urn:schemas-microsoft-com:office:spreadsheet" in start:
        what = "an Excel 2003 XML spreadsheet"
    else:
        what = "an XML file" if start.lstrip().startswith("<?xml") else "a web page (HTML)"
    raise DataError(
        f"{path}: {what}, not a table file (some banks and shops save their Excel export this way); "
        "open it in Excel or LibreOffice and save it as .xlsx or CSV"
    )


def _same_fields(line, following):
    """Whether ``line`` holds a separator, its most frequent one, as often as the line ``following`` it."""
    counts = {s: line.count(s) for s in _SEPARATORS}
    sep = max(counts, key=counts.get)
    return counts[sep] > 0 and following.count(sep) == counts[sep]


def _wide_encoding(head):
    """UTF-8 with a byte-order mark, or UTF-16 (with a mark, as Excel's "Unicode Text" writes it, or without,
    when every other byte of the first block is zero), from a file's first bytes; else None."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    even = head[: len(head) // 2 * 2]
    for zeros, name in ((even[1::2], "utf-16-le"), (even[0::2], "utf-16-be")):
        if len(zeros) > 8 and zeros.count(0) > 0.9 * len(zeros):
            return name
    return None


_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f]")


def _refuse_binary(path, raw):
    """Text tables hold no NUL and next to no other control bytes; a file that does is not one."""
    found = _CONTROL.search(raw)
    if found and (b"\x00" in raw or len(_CONTROL.findall(raw)) > 0.01 * len(raw)):
        raise DataError(
            f"{path}: not a text table (control byte 0x{found.group()[0]:02x} at offset {found.start()}); "
            "expected CSV / TSV (plain, gzip or zipped), Parquet or an Excel / OpenDocument workbook"
        )


def text_encoding(path, compression=None):
    """The character encoding of a text table, from its bytes.

    UTF-16 and marked UTF-8 by :func:`_wide_encoding`; a file that reads as UTF-8 throughout is UTF-8;
    Japanese, Chinese or Korean text in the encoding Excel on Windows saves there as "CSV" is read in it
    (:func:`_east_asian`); any other is Windows-1252 (what Excel on Windows saves as "CSV" in the West) when
    it reads as that, else Latin-1, and that reading is logged with the first line it changes, so that a
    wrong one shows.

    Returns
    -------
    encoding : str
        A name :func:`pandas.read_csv` accepts.
    """
    with open_stored(path, compression) as fh:
        head = fh.read(4096)
        wide = _wide_encoding(head)
        if wide:
            return wide
        _refuse_binary(path, head)
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            for block in iter(lambda: fh.read(1 << 22), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            fh.seek(0)
            raw = fh.read()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.start
    _refuse_binary(path, raw)
    name = _east_asian(raw)
    if name is None:
        try:
            raw.decode("cp1252")
            name = "cp1252"
        except UnicodeDecodeError:
            name = "latin-1"
    line = raw[raw.rfind(b"\n", 0, bad) + 1 :].split(b"\n", 1)[0].decode(name).strip()[:120]
    shown = {"cp1252": "Windows-1252", "latin-1": "Latin-1", **_EAST_ASIAN}[name]
    logger.info("%s: not UTF-8; read as %s text, e.g. line %d: %s", path, shown, raw.count(b"\n", 0, bad) + 1, line)
    return name


#: East Asian Windows encodings (what Excel there saves as "CSV"), as the log names them
_EAST_ASIAN = {
    "cp932": "Shift_JIS (Japanese Windows)",
    "gb18030": "GBK (Chinese Windows)",
    "cp949": "Korean Windows (cp949)",
    "cp950": "Big5 (Traditional Chinese Windows)",
}
_LATIN_BESIDE_ASCII = re.compile(r"(?<=[A-Za-z])[\u00c0-\u024f]|[\u00c0-\u024f](?=[A-Za-z])")
_HALFWIDTH_KANA = re.compile(r"[\uff61-\uff9f]")
_SJIS_LEAD = re.compile(rb"[\x81-\x9f]")
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7a3"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_CJK_IN_RUN = re.compile(f"(?<=[{_CJK}])[{_CJK}]|[{_CJK}](?=[{_CJK}])")
#: the characters of dates and money written beside their digits (2020年1月2日, 100元, 3월), alone in their word
_CJK_BY_DIGIT = re.compile(r"(?<=\d)\s?[年月日时時分秒元円号년월일원]")


def _east_asian(raw):
    """The East Asian double-byte encoding of text that is not UTF-8, or None when it reads as Western text.

    Windows-1252's accented letters sit beside plain ones (``Müller``, ``Catégorie``); Japanese, Chinese or
    Korean text read that way is accented letters and symbols among themselves (``ÈÕÆÚ``, ``¥x¿n``).  Such
    text is read in an encoding that decodes it into words of kanji, kana, hanzi or Hangul (most beside
    another, or a date's or an amount's beside its digits, ``2020年1月2日``, ``100元``; not one alone among
    Latin text as ``21.5°C`` would give), few half-width katakana: Shift_JIS writes kana and the common
    kanji with lead bytes below 0xA1, which GB2312 has none of; Korean's Hangul use lead bytes 0xB0-0xC8
    only, where Chinese text reaches past them; Big5's second bytes may be ASCII, GB2312's never are.  The first megabyte tells (whole lines of it)."""
    if len(raw) > 1 << 20:
        raw = raw[: raw.rfind(b"\n", 0, 1 << 20) + 1] or raw[: 1 << 20]
    western = raw.decode("latin-1")
    high = sum(c >= "\u0080" for c in western)
    if high < 2 or len(_LATIN_BESIDE_ASCII.findall(western)) >= 0.5 * high:
        return None

    def words(encoding):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            return False
        cjk = len(_CJK_CHAR.findall(text))
        if cjk < 2 or len(_CJK_IN_RUN.findall(text)) + len(_CJK_BY_DIGIT.findall(text)) < 0.6 * cjk:
            return False
        # half-width katakana: a Japanese bank's statements, or other text read as Shift_JIS; Shift_JIS's kanji
        # and kana are told by bytes 0x81-0x9F, which no Big5, GB2312 or EUC-KR text holds
        return len(_HALFWIDTH_KANA.findall(text)) < 0.1 * cjk or bool(encoding == "cp932" and _SJIS_LEAD.search(raw))

    if words("gb2312"):
        leads, i = [], 0
        while i < len(raw):
            if raw[i] >= 0x80:
                leads.append(raw[i])
                i += 2
            else:
                i += 1
        return "cp949" if words("cp949") and max(leads) <= 0xC8 else "gb18030"
    return next((name for name in ("cp932", "cp950", "gb18030", "cp949") if words(name)), None)


#: a cell of data, never a column's name: a number (``1.5``, ``-2e-3``, ``1.234,5``) or a date or time of day written
#: in digits (``2023.01.03``, ``31/12/2018``, ``00:00``, ``2024-01-02 10:00:00``)
_DATUM = re.compile(
    r"[+-]?(\d[\d.,]*|[.,]\d+)([eE][+-]?\d+)?|\d{1,4}([-/.:]\d{1,4}){1,2}([ T]\d{1,2}(:\d\d){1,2}(\.\d+)?)?"
)


def data_names(row):
    """Names for the columns of a table written without a header (MetaTrader 4's history, Binance's data
    downloads, a matrix saved by ``numpy.savetxt``), when its first row's cells are data: every one a number, a
    date or a time of day. None for a header, whole numbers rising along the row included (pandas' own
    ``0, 1, 2, ...``, wavelengths ``400, 410, ...`` over spectra, years)."""
    cells = [str(c).strip() for c in row]
    if not cells or not all(c and _DATUM.fullmatch(c) for c in cells):
        return None
    if all(re.fullmatch(r"\d+", c) for c in cells) and all(int(a) < int(b) for a, b in zip(cells, cells[1:])):
        return None
    return [f"column_{i + 1}" for i in range(len(cells))]
