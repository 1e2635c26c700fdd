"""The customers report's cleaning table: what the reading rules did to the log's rows (orders not paid, rows
without an id, returns, purchases outside the periods), each with its lines and revenue."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .segments import money


def _left_out(rule, lines, counts):
    """A cleaning-table row of a rule that leaves rows out before their amounts are read: how many, by value."""
    other = ", ".join(f"{v} {n:,}" for v, n in counts.items())
    return {"rule": rule, "lines": lines, "revenue": np.nan, "what happened": f"left out: {other or 'none'}"}


def _left_out_rows(cleaning):
    """Cleaning-table rows of the rules that apply to some logs only: a report's total rows, rows data.keep
    leaves out, rows in other currencies, orders not paid, refunds."""
    rows = []
    if sc := cleaning.get("sections"):
        rows.append(
            {
                "rule": f"a report in sections, each row's section read into column {sc['column']!r}",
                "lines": sc["names"] + sc["totals"],
                "revenue": np.nan,
                "what happened": f"{sc['sections']:,} sections read; {sc['names']:,} rows naming a section and "
                f"{sc['totals']:,} total rows left out",
            }
        )
    if cleaning.get("total_rows"):
        rows.append(
            {
                "rule": "a report's total rows at the end of the log",
                "lines": cleaning["total_rows"],
                "revenue": np.nan,
                "what happened": "left out (no date; a blank id or a cell saying Total)",
            }
        )
    if kp := cleaning.get("kept"):
        named = "; ".join(f"{c} in {', '.join(v)}" for c, v in kp["columns"].items())
        counts = {v: n for b in kp["by_value"].values() for v, n in b.items()}
        rows.append(_left_out(f"rows not purchases by data.keep ({named})", kp["lines"], counts))
    if cu := cleaning.get("currency"):
        signs = "currency signs in " if cu.get("from") == "signs" else ""
        rule = f"rows in other currencies than {cu['read']} ({signs}column {cu['column']!r}, data.currency)"
        rows.append(_left_out(rule, cu["lines"], cu["by_currency"]))
    if st := cleaning.get("status"):
        left = ", ".join(f"{w} {n:,}" for w, n in st["left_out"].items())
        rows.append(
            {
                "rule": f"orders not paid (status column {st['column']!r})",
                "lines": st["lines"],
                "revenue": st["revenue"],
                "what happened": f"left out: {left or 'none'}; counted: {', '.join(st['counted']) or 'none'}",
            }
        )
    if rf := cleaning.get("refunds"):
        rows.append(
            {
                "rule": f"refunds of paid orders (column {rf['column']!r})",
                "lines": rf["lines"],
                "revenue": rf["amount"],
                "what happened": f"subtracted from their orders; {rf['purchases_cancelled']:,} refunded whole"
                if rf["lines"]
                else "none",
            }
        )
    return rows


def _missing_ids_said(m):
    """What became of the rows without a customer id, for the cleaning table."""
    said = [f"left out ({100 * m['revenue_share']:.1f}% of revenue)" if m["lines"] else "none"]
    if m.get("from_above"):
        said.append(f"{m['from_above']:,} given the customer above them")
    if m.get("written_once"):
        said.append(
            "each follows rows of one customer whose id is written once: data.missing_id: above gives each "
            "the customer above it"
        )
    if named := m.get("named_by"):
        said.append(
            f"column {named['column']!r} holds an e-mail address on {named['rows']:,} of them: data.id_column: "
            "that column keeps them"
        )
    return "; ".join(said)


def add_cleaning(rep, cleaning, cfg):
    """What the reading rules did: orders not paid, rows without an id, returns and cancellations, purchases
    left."""
    m, r, code = cleaning["missing_id"], cleaning["returns"], cleaning.get("amounts_in")
    rows = [
        {
            "rule": "rows read",
            "lines": cleaning["lines"],
            "revenue": np.nan,
            "what happened": "; ".join(
                t
                for t in (
                    "each order's total counted once (data.amount_per)"
                    if cleaning.get("amount_per") == "order"
                    else "",
                    f"amounts multiplied by {cleaning['amount_scale']:g} (data.amount_scale)"
                    if cleaning.get("amount_scale")
                    else "",
                )
                if t
            ),
        },
        *_left_out_rows(cleaning),
        {
            "rule": "rows without a customer id (data.missing_id)",
            "lines": m["lines"],
            "revenue": m["revenue"],
            "what happened": _missing_ids_said(m),
        },
        {
            "rule": "returns and cancellations (data.returns)",
            "lines": r["lines"],
            "revenue": r["amount"],
            "what happened": (
                "none"
                if not r["lines"]
                else "left out"
                if r["rule"] == "drop"
                else f"{money(r.get('netted', 0), code)} netted against purchases, {money(r.get('unmatched', 0), code)} with "
                f"no earlier purchase to net against; {r.get('purchases_cancelled', 0):,} purchases netted to zero"
            ),
        },
        {
            "rule": "purchases (customer-days)",
            "lines": cleaning["purchases"],
            "revenue": cleaning["revenue"],
            "what happened": "one purchase per customer and day",
        },
        *_outside_rows(cleaning.get("outside_periods") or {}),
    ]
    rep.table(
        pd.DataFrame(rows),
        formats={"revenue": lambda v: money(v, code) if np.isfinite(v) else "", "lines": lambda v: f"{v:,}"},
        caption="Data cleaning",
    )


def _outside_rows(outside):
    """Cleaning-table rows of the purchases no period holds (:meth:`.split.Window.outside`)."""
    rows = []
    if b := outside.get("before"):
        rows.append(
            {
                "rule": f"purchases before split.start ({b['first']} to {b['last']})",
                "lines": b["purchases"],
                "revenue": b["revenue"],
                "what happened": f"left out ({100 * b['revenue_share']:.1f}% of revenue)",
            }
        )
    if a := outside.get("after"):
        rows.append(
            {
                "rule": f"purchases after the holdout ({a['first']} to {a['last']})",
                "lines": a["purchases"],
                "revenue": a["revenue"],
                "what happened": f"in no period ({100 * a['revenue_share']:.1f}% of revenue; "
                f"{a['customers_first_seen_after_calibration']:,} customers first seen after the calibration in no "
                "segment): split.calibration_weeks: auto learns from every week before the holdout and checks on the "
                "log's last weeks",
            }
        )
    return rows
