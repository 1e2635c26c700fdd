"""The words in the headers of shop, till and payment exports that say what a column holds.

``init --data`` reads a log's headers with them to write its column keys, and a column a config names but the
log lacks is answered with the one that looks like it.
"""

from __future__ import annotations

import re

#: the default column names, and words in the headers of shop exports that hold what they hold (English, then
#: German, French, Spanish, Italian, Portuguese, Dutch and Nordic shops' words, then Chinese, Japanese, Korean)
LOOKS_LIKE = {
    ("customer_id", "customer_id"): (
        *("customer", "email", "e-mail", "client", "household", "member", "buyer"),
        *("kunde", "klant", "kund"),
        *("客户", "顾客", "用户", "会员", "買家", "顧客", "会員", "고객", "회원"),
    ),
    ("date", "date"): (
        *("date", "time", "created", "paid at", "ordered", "datum", "fecha", "data", "dato"),
        *("日期", "时间", "時間", "日付", "日時", "注文日", "날짜", "일자", "일시"),
    ),
    ("amount", "amount"): (
        *("amount", "total", "sales", "revenue", "value", "spent", "gross"),
        *("betrag", "umsatz", "montant", "importe", "monto", "importo", "valor", "bedrag", "belopp", "beløb", "beløp"),
        *("金额", "金額", "实付", "合計", "금액", "합계"),
    ),
}

#: an amount column's header saying it is not what was paid (``init --data`` offers such a column last): a tax
#: is one when the header ends in it (Etsy's ``Order Sales Tax``), unless it says the tax is included
#: (``Total incl. Tax``)
_UNPAID = re.compile(
    r"\b(due|remaining|outstanding|balance|discount|shipping|fee|refund|tax amount)"
    r"|^(?!.*\b(incl|inkl|including|with|plus)\b).*\b(tax|vat|gst|mwst)\W*$",
    re.I,
)
#: an amount-like header whose last word numbers or counts (eBay's ``Sales Record Number``, ``Total Items``)
_COUNTS = re.compile(
    r"(?<![a-z])(numb\w*|nummer|num[ée]ro|número|no|nr|id|#|record|count|anzahl|menge|quantity|qty|items?|units?)\W*$",
    re.I,
)
#: when no header names the customer: words in the headers of the companies a business sells to (a CRM's
#: ``Associated Company``, ``Account Name``), then of phone numbers, by which shops in India and China know
#: their customers
OTHER_ID_WORDS = (
    ("company", "account", "organization", "organisation", "firma", "empresa", "entreprise", "société"),
    (
        *("phone", "mobile", "cell", "telefon", "téléphone", "teléfono", "telefone", "celular", "handy"),
        *("手机", "電話", "电话", "携帯", "휴대폰", "전화"),
    ),
)


#: words in the headers of a line-item log's quantity, unit price and order number (``init --data``)
LINE_WORDS = {
    "quantity_column": ("quantity", "qty", "menge", "anzahl", "units", "quantit", "qté", "cantidad", "aantal", "antal"),
    "price_column": ("unitprice", "unit price", "price", "preis", "prix", "precio", "prezzo", "preço", "prijs"),
    "order_column": (
        *("invoice", "order", "bestell", "receipt", "basket", "ticket"),
        *("rechnung", "commande", "facture", "pedido", "factura", "ordine", "fattura"),
        *("订单", "訂單", "注文", "주문"),
    ),
}


#: words in headers that hold something of an order other than its number (Order Date, orders_count, Order
#: Status, Order Currency, Date de commande ...)
NOT_ORDER_NUMBER = (
    *("count", "total", "date", "time", "status", "currency", "amount", "qty", "quantity", "price", "value"),
    *("type", "tax", "ship", "discount", "note", "sum", "state", "datum", "fecha", "statut", "estado"),
    *("日", "时间", "時間", "状态", "状態", "金额", "金額", "수량", "상태", "일자", "금액"),
)


def id_look_alike(cols):
    """The customer-id column when no header names the customer (:data:`OTHER_ID_WORDS`), or None."""
    return next((c for words in OTHER_ID_WORDS if (c := look_alike(cols, words)) is not None), None)


def amount_like(header):
    """Whether a header looks like an amount: it holds an amount's word (:data:`LOOKS_LIKE`), and its last word
    numbers or counts nothing (not eBay's ``Sales Record Number``)."""
    return any(w in header.lower() for w in LOOKS_LIKE[("amount", "amount")]) and not _COUNTS.search(header)


def look_alike(cols, words, name=None):
    """The column named ``name`` whatever its case, else the first whose header holds one of ``words`` (for the
    amount's words, :func:`amount_like`), one saying the amount is not what was paid (Stripe's ``Amount Due``, a
    ``Discount Amount``) after the others."""
    near = [c for c in cols if name is not None and c.lower() == str(name).lower()]
    amounts = words is LOOKS_LIKE[("amount", "amount")]
    alike = [c for c in cols if (amount_like(c) if amounts else any(w in c.lower() for w in words))]
    alike.sort(key=lambda c: bool(_UNPAID.search(c)))
    return (near or alike or [None])[0]
