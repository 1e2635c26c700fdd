"""Currency signs, words and codes as exports write them, read off amounts and told apart.

:func:`unformatted` takes a cell's sign or code, grouping spaces and accounting brackets off its number;
:func:`currencies` says which currencies a column shows (``$`` and ``USD`` are one; ``$`` and ``C$`` are two),
and :func:`refuse_mixed_currencies` refuses to add amounts in several.  Decimal marks and whole columns are
:mod:`gmm_apps.tabular`'s.
"""

from __future__ import annotations

import re

#: currency signs: one character, written before an amount or after it (円, 元, 원: yen, yuan, won), and words
#: and prefixed dollars written with a space or dot before the number (``Rs. 1,200``, ``RM 12.50``, ``C$ 5``) or
#: after it (``100 kr``, ``12,50 zł``), and ISO codes
_SIGNS = "$€£¥￥₩₹₽₺₫₪₱฿₦₴₡₵₸₮₼₾"
_SIGNS_BEFORE, _SIGNS_AFTER = _SIGNS, _SIGNS + "円元원"
_PREFIXES = r"(?:US|CA?|AU?|NZ|HK|SG?|R|MX|NT)\$"
_WORDS_BEFORE = r"Rs\.?|Rp\.?|RM|kr\.?|Kč|zł"
_WORDS_AFTER = r"kr\.?|Kč|zł|Ft|lei|руб\.?|TL|Rs\.?"
_CODES = (
    "USD|EUR|GBP|JPY|CHF|CNY|RMB|KRW|INR|CAD|AUD|NZD|HKD|SGD|SEK|NOK|DKK|ISK|PLN|CZK|HUF|RON|BGN|RUB|UAH|TRY|ILS"
    "|AED|SAR|ZAR|NGN|EGP|BRL|MXN|ARS|CLP|COP|PEN|THB|PHP|IDR|MYR|VND|TWD"
)
_BEFORE = rf"{_PREFIXES}|[{_SIGNS_BEFORE}]|(?:{_WORDS_BEFORE}|{_CODES})(?=[\s.]|$)"
_AFTER = rf"[{_SIGNS_AFTER}]|(?<![A-Za-z])(?:{_WORDS_AFTER}|{_CODES})"
_CURRENCY = re.compile(rf"^[+-]?\s*(?:{_BEFORE})\.?\s*|\s*(?:{_AFTER})$")
_SPACES = re.compile(r"[\s\u00a0\u202f']")
_SIGN_OUTSIDE_BRACKETS = re.compile(rf"^(?:{_BEFORE})\s*\((?P<a>[^()]*)\)$|^\((?P<b>[^()]*)\)\s*(?:{_AFTER})$")
_ACCOUNTING_ZERO = re.compile(rf"^(?:(?:{_BEFORE})\s*[-\u2013\u2014]|[-\u2013\u2014]\s*(?:{_AFTER}))$")


def unformatted(text):
    """A cell without its currency sign (or code, before or after), spaces used to group digits, and accounting
    brackets; a minus sign that is the typographic one (U+2212) or follows the number (SAP's ``1.234,56-``) as a
    minus in front."""
    t = text.strip().replace("\u2212", "-")
    if outside := _SIGN_OUTSIDE_BRACKETS.match(t):  # Excel's accounting format: '$ (12.50)', '(12,50) €'
        t = f"({outside['a'] if outside['a'] is not None else outside['b']})"
    negative = t.startswith("(") and t.endswith(")")
    if negative:
        t = t[1:-1].strip()
    if t.endswith("-") and t[:-1].rstrip()[-1:].isdigit() and "-" not in t[:-1]:
        t = "-" + t[:-1].rstrip()
    if _ACCOUNTING_ZERO.match(t):  # Excel's accounting format writes zero as a dash beside the sign: '$ -'
        return "0"
    sign = "-" if t.startswith("-") else ""
    t = _CURRENCY.sub("", t.lstrip("+-").strip())
    t = _SPACES.sub("", t)
    return ("-" if negative or sign else "") + t


#: a sign's or word's currency (``kr`` stays itself: Swedish, Norwegian, Danish or Icelandic)
_SAME_CURRENCY = {
    **{"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "￥": "JPY", "円": "JPY", "元": "CNY"},
    **{"RMB": "CNY", "₩": "KRW", "원": "KRW", "₹": "INR", "Rs": "INR", "Rs.": "INR", "₽": "RUB", "руб": "RUB"},
    **{"руб.": "RUB", "₺": "TRY", "TL": "TRY", "₫": "VND", "₪": "ILS", "₱": "PHP", "฿": "THB", "₦": "NGN"},
    **{"₴": "UAH", "₡": "CRC", "₵": "GHS", "₸": "KZT", "₮": "MNT", "₼": "AZN", "₾": "GEL", "zł": "PLN"},
    **{"Kč": "CZK", "Ft": "HUF", "lei": "RON", "Rp": "IDR", "Rp.": "IDR", "RM": "MYR", "C$": "CAD", "CA$": "CAD"},
    **{"A$": "AUD", "AU$": "AUD", "NZ$": "NZD", "HK$": "HKD", "S$": "SGD", "SG$": "SGD", "R$": "BRL"},
    **{"MX$": "MXN", "NT$": "TWD", "kr.": "kr"},
}
_CURRENCY_MARK = re.compile(
    rf"{_PREFIXES}|[{_SIGNS_AFTER}]|(?<![A-Za-z])(?:{_WORDS_BEFORE}|{_WORDS_AFTER})(?![A-Za-z])|\b(?:{_CODES})\b"
)


def currencies(cells):
    """The currencies ``cells`` carry (a sign or a code; ``$`` and ``USD`` are one), each with its first cell."""
    found = {}
    for c in cells:
        for m in _CURRENCY_MARK.finditer(str(c)):
            found.setdefault(_SAME_CURRENCY.get(m.group(), m.group()), str(c))
    return found


def named_currency(column):
    """The one currency a column's name says its amounts are in (``Line Total (€)``, ``Price (USD)``,
    ``amount_eur``), or None: an export's numbers often carry no sign when its header does."""
    found = currencies([str(column).replace("_", " ")]) if column is not None else {}
    return next(iter(found)) if len(found) == 1 else None


def row_currencies(cells):
    """Each cell's currency from its sign or code (``$`` and ``USD`` are one), or NA where it shows none."""
    found = cells.astype("string").str.extract(f"({_CURRENCY_MARK.pattern})", expand=True)[0]
    return found.map(lambda m: _SAME_CURRENCY.get(m, m), na_action="ignore")


def refuse_mixed_currencies(found):
    """Raise ValueError when ``found`` (:func:`currencies` of a column, or of its blocks pooled) names several."""
    if len(found) > 1:
        shown = ", ".join(f"{c} as in {cell!r}" for c, cell in found.items())
        raise ValueError(
            f"amounts in several currencies ({shown}) cannot be added; keep the rows of one currency, or convert "
            "them to one first"
        )
