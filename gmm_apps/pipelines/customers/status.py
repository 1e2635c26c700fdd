"""Which rows of a shop's export are purchases: its payment-status column.

Shop and payment exports (Shopify's ``Financial Status``, Stripe's and PayPal's ``Status``,
WooCommerce's ``Order Status`` ...) list pending, failed, cancelled and refunded orders beside paid
ones, each with its amount; a CRM's deals (HubSpot's ``Deal Stage``) list the lost and the open ones
beside those won.  Summed as purchases they inflate revenue without a word, so a log with
such a column is read this way:

- the column is ``data.status_column``, or with ``auto`` the first column whose header is one of
  :data:`STATUS_COLUMNS` (``Fulfillment Status`` is not one: it says nothing about payment);
- an order's status may be written on its first line only: with ``data.order_column`` the other
  lines take it;
- rows whose status is a purchase (``data.count_status``, or else one of :data:`PAID_WORDS`) are
  read as usual; the others (:data:`UNPAID_WORDS`) are left out and counted, with their revenue;
  a status in neither list is refused, naming it and the key to set.

A paid order may have been refunded in part (Shopify's ``Refunded Amount``, Stripe's ``Amount
Refunded``): the amount in such a column (``data.refund_column``, auto-found by header like the
status) is subtracted from its order in :func:`gmm_apps.pipelines.customers.lines.customer_days`.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from ...errors import DataError

logger = logging.getLogger("gmm_apps")

#: a payment-status column's header (lower case, letters and digits only), most specific first; then in
#: French, Spanish, Chinese, Japanese and Korean
STATUS_COLUMNS = (
    "financialstatus",
    "paymentstatus",
    "orderstatus",
    "transactionstatus",
    "status",
    *("dealstage", "stage"),  # a CRM's deals (HubSpot's Deal Stage, Salesforce's Stage): won ones are sales
    "zahlungsstatus",
    "bestellstatus",
    *("statutdelacommande", "statutdupaiement", "estadodelpedido", "estadodelpago"),
    *("订单状态", "交易状态", "支付状态", "付款状态", "訂單狀態", "交易狀態", "状态", "狀態"),
    *("注文ステータス", "決済ステータス", "ステータス", "주문상태", "결제상태", "상태"),
)
#: status words of an order that was paid (``partially_refunded``: bought, part of it came back later)
PAID_WORDS = frozenset(
    {
        "paid",
        "completed",
        "complete",
        "succeeded",
        "success",
        "successful",
        "settled",
        "captured",
        "authorized",
        "processed",
        "processing",
        "fulfilled",
        "shipped",
        "delivered",
        "approved",
        "payment_received",
        "partially_paid",
        "partially_refunded",
        "closed_won",
        "won",
        "bezahlt",
        "abgeschlossen",
        "versendet",
        "geliefert",
        *("payée", "payé", "terminée", "expédiée", "livrée", "pagado", "completado", "enviado", "entregado"),
        # Chinese, Japanese and Korean shops' (Taobao's 交易成功; 待发货: paid, awaiting shipment)
        *("交易成功", "交易完成", "已付款", "已支付", "支付成功", "已完成", "待发货", "已发货", "待收货", "已签收"),
        *("已出貨", "支払済み", "支払い済み", "入金済み", "決済完了", "発送済み", "出荷済み", "完了"),
        *("결제완료", "배송준비중", "배송중", "배송완료", "구매확정"),
    }
)
#: status words of an order that was not paid, or was undone
UNPAID_WORDS = frozenset(
    {
        "pending",
        "pending_payment",
        "payment_pending",
        "unpaid",
        "awaiting_payment",
        "incomplete",
        "uncaptured",
        "requires_payment_method",
        "requires_capture",
        "on_hold",
        "failed",
        "failure",
        "payment_failed",
        "declined",
        "denied",
        "rejected",
        "cancelled",
        "canceled",
        "voided",
        "void",
        "uncollectible",  # Stripe's invoice written off unpaid
        "refunded",
        "returned",  # sent back whole: undone, as a refund is (a part sent back is partially_refunded's)
        "rto",  # returned to origin: Indian shops' undelivered order
        "reversed",
        "chargeback",
        "expired",
        "abandoned",
        "draft",
        "checkout_draft",
        "trash",
        "closed_lost",
        "lost",
        "ausstehend",
        "fehlgeschlagen",
        "storniert",
        "erstattet",
        *("annulée", "remboursée", "en_attente", "échouée", "cancelado", "reembolsado", "pendiente", "fallido"),
        *(
            "retourniert",
            "zurückgesendet",
            "retournée",
            "devuelto",
            "已退货",
            "退货成功",
            "返品",
            "返品済み",
            "반품완료",
        ),
        *("交易关闭", "交易關閉", "已关闭", "已取消", "已退款", "退款成功", "待付款", "未付款", "等待付款", "支付失败"),
        *("キャンセル", "キャンセル済み", "未入金", "入金待ち", "支払い待ち", "返金済み"),
        *("취소", "주문취소", "환불", "환불완료", "입금대기", "결제대기", "결제실패"),
    }
)


#: a refunded-amount column's header (lower case, letters and digits only): Shopify's, Stripe's, others'
REFUND_COLUMNS = (
    *("refundedamount", "amountrefunded", "refundamount", "totalrefunded", "erstattungsbetrag"),
    *("退款金额", "退款金額", "返金額", "환불금액"),
)


def _found(columns, named, headers):
    """``named``, or with ``'auto'`` the first column whose header is one of ``headers``; None for none."""
    if named != "auto":
        return named
    found = {re.sub(r"[\W_]", "", str(c).lower()): c for c in columns}  # letters of any script, digits
    return next((found[n] for n in headers if n in found), None)


def status_column(columns, named="auto"):
    """The log's payment-status column: ``named`` (``data.status_column``), or with ``'auto'`` the first
    column whose header is one of :data:`STATUS_COLUMNS`; None when there is none (or ``named`` is None)."""
    return _found(columns, named, STATUS_COLUMNS)


def refund_column(columns, named="auto"):
    """The log's refunded-amount column: ``named`` (``data.refund_column``), or with ``'auto'`` the first
    column whose header is one of :data:`REFUND_COLUMNS`; None when there is none (or ``named`` is None)."""
    return _found(columns, named, REFUND_COLUMNS)


def status_words(cells):
    """Status cells as words (``Partially Refunded``, ``partially-refunded`` and WooCommerce's
    ``wc-partially-refunded`` are one); blank cells <NA>."""
    words = cells.astype("string").str.strip().str.lower().str.replace(r"[\s\-]+", "_", regex=True)
    words = words.str.replace(r"^wc_(?=.)", "", regex=True)
    return words.mask(words == "")


def row_statuses(raw, spec, path):
    """Each row's status word; with an order column, an order's blank lines take the order's status."""
    col = spec["status"]
    words = status_words(raw[col]).reset_index(drop=True)
    if "order" in spec:
        words = words.groupby(raw[spec["order"]].astype(str).to_numpy(), sort=False).transform("first")
    blank = words.isna().to_numpy()
    if blank.any():
        i = int(blank.argmax())
        hint = "" if "order" in spec else " (if an order's status is on its first line only, set data.order_column)"
        raise DataError(
            f"{path}: column {col!r} (the payment status) is empty at data row {data_row(raw, i)}{hint}; fill it, "
            "or set "
            "data.status_column: null to count every row as a purchase"
        )
    return words


def tally(counts):
    """Rows by status word summed over blocks, most rows first (ties by word: the same order however read)."""
    total = counts.groupby(level=0).sum()
    order = sorted(total.index, key=lambda w: (-int(total[w]), w))
    return total.reindex(order).astype(int)


def counted_statuses(path, column, counts, count_status):
    """The status words read as purchases.

    Parameters
    ----------
    path, column : names for messages
    counts : pandas.Series
        Rows by status word, over the whole log.
    count_status : list of str or None
        ``data.count_status``: the words that are purchases, all others left out; None: those among
        :data:`PAID_WORDS`, while a word in neither list is refused.
    """
    if count_status is not None:
        wanted = set(status_words(pd.Series(count_status, dtype="string")).dropna())
        absent = sorted(wanted - set(counts.index))
        if absent:
            logger.warning(
                "%s: data.count_status names %s, which column %r never holds (it holds %s)",
                path,
                ", ".join(absent),
                column,
                ", ".join(counts.index),
            )
        return wanted
    unknown = [w for w in counts.index if w not in PAID_WORDS and w not in UNPAID_WORDS]
    if unknown:
        shown = ", ".join(f"{w!r} ({counts[w]:,} rows)" for w in unknown[:5])
        paid = sorted(set(counts.index) & PAID_WORDS) or unknown[:1]  # the example decides nothing unknown
        raise DataError(
            f"{path}: column {column!r} holds payment statuses, but whether {shown} is a purchase is not "
            f"known; name the statuses that are purchases with data.count_status (e.g. [{', '.join(paid)}]), "
            "or set data.status_column: null to count every row"
        )
    return set(counts.index) & PAID_WORDS


def status_summary(column, counts, counted, left):
    """What the status rule did, for the summary and the report: ``left`` holds the lines and revenue of the
    rows left out (from :func:`gmm_apps.pipelines.customers.lines.finish`)."""
    return {
        "column": str(column),
        "counted": {w: int(n) for w, n in counts.items() if w in counted},
        "left_out": {w: int(n) for w, n in counts.items() if w not in counted},
        **left,
    }


def data_row(frame, i):
    """The file's data row (from 1) of the ``i``-th row of ``frame``, whose index counts the file's rows, so
    that rows left out before (another currency's) do not shift the number."""
    label = frame.index[i]
    return int(label) + 1 if isinstance(label, (int, np.integer)) else i + 1
