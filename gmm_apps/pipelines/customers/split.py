"""The calibration and holdout periods of ``split``: checked against the log's dates, and the purchases they
leave out counted and said."""

from __future__ import annotations

import calendar
import logging
from typing import NamedTuple

import pandas as pd

from ...errors import DataError
from .segments import money

logger = logging.getLogger("gmm_apps.customers")

#: days of a calendar month the calibration period holds for its season to count as seen (half a month)
SEEN_DAYS = 15
#: ``calibration_weeks: auto`` with ``holdout_weeks: max``: Fader, Hardie and Lee's 39 weeks
AUTO_CALIBRATION = 39


class Window(NamedTuple):
    """The calibration period (``start`` to ``cal_end``, exclusive) and the holdout after it (to ``ho_end``, exclusive)."""

    start: pd.Timestamp
    cal_end: pd.Timestamp
    ho_end: pd.Timestamp | None
    has_holdout: bool
    last: pd.Timestamp

    @property
    def holdout_weeks(self):
        """The holdout's real length in weeks (None without one)."""
        return None if not self.has_holdout else (self.ho_end - self.cal_end).days / 7

    def periods(self):
        """Both periods' first and last days and lengths, as the summary states them."""
        day = pd.Timedelta(days=1)
        out = {
            "calibration": {
                "start": str(self.start.date()),
                "end": str((self.cal_end - day).date()),
                "weeks": round((self.cal_end - self.start).days / 7, 2),
            }
        }
        if self.has_holdout:
            out["holdout"] = {
                "start": str(self.cal_end.date()),
                "end": str((self.ho_end - day).date()),
                "weeks": round(self.holdout_weeks, 2),
            }
        return out

    def outside(self, purchases):
        """The purchases no period holds, as the summary's ``cleaning.outside_periods`` states them: ``before``
        ``split.start``, and ``after`` the holdout (a log longer than the split), each with its days, purchases
        and revenue; ``after`` also counts the customers first seen after the calibration period (in no
        segment). Empty when none."""
        out, total = {}, float(purchases["amount"].sum())
        masks = {"before": purchases["date"] < self.start}
        if self.has_holdout:
            masks["after"] = purchases["date"] >= self.ho_end
        for key, mask in masks.items():
            if n := int(mask.sum()):
                days, revenue = purchases.loc[mask, "date"], float(purchases.loc[mask, "amount"].sum())
                out[key] = {
                    "first": str(days.min().date()),
                    "last": str(days.max().date()),
                    "purchases": n,
                    "revenue": revenue,
                    "revenue_share": revenue / total if total else 0.0,
                }
        if "after" in out:
            first = purchases.groupby("customer_id")["date"].min()
            out["after"]["customers_first_seen_after_calibration"] = int((first >= self.cal_end).sum())
        return out


def calibration_weeks(sp):
    """The calibration period's weeks as the config sets them: ``split.calibration_weeks``, or with ``auto`` and
    ``holdout_weeks: max`` :data:`AUTO_CALIBRATION`; None when ``auto`` runs it to the log's last weeks."""
    if sp.calibration_weeks != "auto":
        return sp.calibration_weeks
    return AUTO_CALIBRATION if sp.holdout_weeks == "max" else None


def calibration_said(sp):
    """How a message names the calibration period's weeks: ``=39``, or ``: auto (39 weeks with
    split.holdout_weeks: max)`` (after ``split.calibration_weeks``)."""
    weeks = calibration_weeks(sp)
    return f"={weeks}" if weeks == sp.calibration_weeks else f": auto ({weeks} weeks with split.holdout_weeks: max)"


def calibration_window(purchases, sp, source, *, recent_weeks):
    """The calibration and holdout periods of ``split``, checked against the data's dates.

    A holdout may end at most a day after the last purchase (``holdout_weeks:
    max`` runs it to that day); a longer one is refused with the length the log
    allows, and so is a calibration period that leaves no day for it, so no
    figure is ever computed on a silently shorter (or missing) holdout. ``calibration_weeks: auto`` with a
    holdout of set weeks: the holdout is the log's last weeks (:func:`_latest_window`).
    """
    first, last = purchases["date"].min(), purchases["date"].max()
    day = pd.Timedelta(days=1)
    if not sp.enabled:
        win = Window(first, last + day, None, False, last)
        if (win.cal_end - first).days <= 7 * recent_weeks:
            raise DataError(
                f"{source}: features.recent_weeks={recent_weeks} covers the whole log "
                f"({(win.cal_end - first).days / 7:.1f} weeks), so recent spend would equal total spend; "
                "set features.recent_weeks below that"
            )
        return win
    start = pd.Timestamp(sp.start) if sp.start else first
    if sp.calibration_weeks == "auto" and sp.holdout_weeks != "max":  # every week before the log's last weeks
        return _latest_window(start, first, last, sp, source, recent_weeks)
    weeks, named = calibration_weeks(sp), calibration_said(sp)
    cal_end = start + pd.Timedelta(weeks=weeks)
    if cal_end <= first:
        raise DataError(f"{source}: no transactions in the calibration period ({start.date()} to {cal_end.date()})")
    if cal_end > last + pd.Timedelta(weeks=1):
        weeks = (last - start).days / 7
        raise DataError(
            f"{source}: split.calibration_weeks{named} is longer than the data "
            f"after the split start ({weeks:.0f} weeks, {start.date()} to {last.date()}); shorten it, "
            "or set split.enabled: false to segment the whole file"
        )
    if cal_end > last:  # the calibration period holds the last purchase: no day is left for the holdout
        ho = 0 if sp.holdout_weeks == "max" else sp.holdout_weeks
        allowed = ((last if ho == 0 else last + 2 * day) - start).days // 7 - ho  # a holdout that fits
        fix = f"set split.calibration_weeks: {allowed} or fewer to keep one, or " if allowed >= 1 else "set "
        raise DataError(
            f"{source}: split.calibration_weeks{named} runs to {(cal_end - day).date()}, past the "
            f"log's last purchase ({last.date()}), which leaves no day for the holdout "
            f"(split.holdout_weeks={sp.holdout_weeks}); {fix}split.enabled: false to segment the whole log"
        )
    if sp.holdout_weeks == "max":
        return Window(start, cal_end, last + day, True, last)
    ho_end = cal_end + pd.Timedelta(weeks=sp.holdout_weeks)
    if ho_end > last + 2 * day:  # its last day more than a day after the last purchase
        allowed = ((last + 2 * day) - cal_end).days // 7
        fix = (
            f"set split.holdout_weeks: {allowed}, or max to use all of it"
            if allowed >= 1
            else "set split.holdout_weeks: max to use all of it, or shorten split.calibration_weeks"
        )
        raise DataError(
            f"{source}: split.holdout_weeks={sp.holdout_weeks} runs to {(ho_end - day).date()}, past the "
            f"log's last purchase ({last.date()}); the log allows {allowed} whole weeks after the "
            f"calibration period: {fix}"
        )
    return Window(start, cal_end, ho_end, True, last)


def _latest_window(start, first, last, sp, source, recent_weeks):
    """``calibration_weeks: auto``: the holdout is the log's last ``holdout_weeks`` (to the day after its last
    purchase), the calibration period every week from ``start`` before it, refused when it is no longer than
    ``features.recent_weeks`` (recent spend would be all spend) or holds no purchase."""
    day = pd.Timedelta(days=1)
    ho_end = last + day
    cal_end = ho_end - pd.Timedelta(weeks=sp.holdout_weeks)
    weeks = (cal_end - start).days / 7
    if cal_end <= max(start, first) or weeks <= recent_weeks:
        allowed = (ho_end - max(start, first)).days // 7 - recent_weeks - 1  # a calibration a week past recent spend
        fix = f"set split.holdout_weeks: {allowed} or fewer, or " if allowed >= 1 else "set "
        latest = cal_end - pd.Timedelta(weeks=recent_weeks + 1)  # the latest start that leaves enough weeks
        if sp.start is not None and start > latest >= first:
            fix = f"set split.start: {latest.date()} or earlier, or " + fix.removeprefix("set ")
        raise DataError(
            f"{source}: split.calibration_weeks: auto leaves {max(weeks, 0):.1f} weeks before the holdout (the log's "
            f"last {sp.holdout_weeks} weeks, from {cal_end.date()}), not more than features.recent_weeks="
            f"{recent_weeks}; {fix}features.recent_weeks lower, or split.enabled: false to segment the whole log"
        )
    return Window(start, cal_end, ho_end, True, last)


def unseen_months(cal_start, cal_end, start, weeks):
    """The calendar months the forward value's weeks (``weeks`` from ``start``) reach that the calibration period
    (``cal_start`` to ``cal_end``, exclusive) holds fewer than :data:`SEEN_DAYS` days of, in the order the forecast reaches them: a purchase
    model fitted there learnt no season of theirs (none once the calibration period spans a year).

    Returns
    -------
    list of int
        Month numbers, 1 to 12.
    """
    days = pd.Series(pd.date_range(cal_start, cal_end - pd.Timedelta(days=1), freq="D").month).value_counts()
    seen = set(days.index[days >= SEEN_DAYS])
    ahead = pd.date_range(start, start + pd.Timedelta(weeks=weeks) - pd.Timedelta(days=1), freq="D").month
    return [int(m) for m in dict.fromkeys(ahead) if m not in seen]


def month_names(months):
    """Month numbers as their English names (the summary's ``months_not_in_calibration``)."""
    return [calendar.month_name[m] for m in months]


def month_words(months):
    """``[10, 11, 12]`` (or their names) as "October to December": three or more consecutive months (December to
    January included) as a span, the others by name, joined by commas and "and"."""
    months = [m if isinstance(m, int) else list(calendar.month_name).index(m) for m in months]
    runs = []
    for m in months:
        if runs and m == runs[-1][-1] % 12 + 1:
            runs[-1].append(m)
        else:
            runs.append([m])
    name = []
    for r in runs:  # three or more in a row: "October to December"; one or two named
        name += (
            [f"{calendar.month_name[r[0]]} to {calendar.month_name[r[-1]]}"]
            if len(r) > 2
            else [calendar.month_name[m] for m in r]
        )
    return name[0] if len(name) == 1 else ", ".join(name[:-1]) + " and " + name[-1]


def unseen_note(summary):
    """The report's sentence on what the forward value cannot know, the months it reaches that the calibration
    period did not hold (``summary["forward_value"]["months_not_in_calibration"]``); empty when none."""
    months = summary["forward_value"].get("months_not_in_calibration")
    if not months:
        return ""
    cal = summary["calibration"]
    return (
        f" The calibration period ({cal['start']} to {cal['end']}) holds no {month_words(months)}, which these weeks "
        "reach: the purchase model learnt no season of theirs, so if customers buy more or less then (at Christmas, "
        "say) the forecast cannot show it"
        + ("; the holdout check below shows how it did there." if "holdout" in summary else ".")
    )


def horizon_weeks(cfg, win):
    """Weeks of the forward value: ``forward.horizon_weeks``, else the holdout's length, else 13."""
    if cfg.forward.horizon_weeks is not None:
        return float(cfg.forward.horizon_weeks)
    return win.holdout_weeks if win.has_holdout else 13.0


def log_outside(source, outside, code, holdout_weeks):
    """Say which purchases no period holds: a warning for those after the holdout (the log's latest), with the
    keys that use them."""
    if b := outside.get("before"):
        logger.info(
            "%s: %d purchases before split.start (%s to %s, %s) are left out",
            source,
            b["purchases"],
            b["first"],
            b["last"],
            money(b["revenue"], code),
        )
    if a := outside.get("after"):
        logger.warning(
            "%s: the log runs past the holdout: %d purchases from %s to %s (%.0f%% of the revenue) fall in no "
            "period, and the %d customers who first bought after the calibration period are in no segment; "
            "split.calibration_weeks: auto learns from every week before the log's last %s weeks and checks on "
            "those; apply with this run and the log gives every customer's segment and forward value as of its "
            "last purchase",
            source,
            a["purchases"],
            a["first"],
            a["last"],
            100 * a["revenue_share"],
            a["customers_first_seen_after_calibration"],
            holdout_weeks,
        )
