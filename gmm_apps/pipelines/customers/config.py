"""Config of the customers pipeline."""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from ...config import (
    ChunkedEngineSection,
    CovarianceTypes,
    EvaluationReport,
    NComponents,
    PathData,
    PipelineConfig,
    Section,
    SelectedModel,
    TimeZone,
    refuse_unread,
)

MODEL_FEATURES = (
    "recency",
    "frequency",
    "monetary",
    "tenure",
    "aov",
    "interpurchase_days",
    "gaps_since_last",
    "recent_spend",
    "total_spend",
)


class CustomersData(PathData):
    """A transaction log: one row per purchase or per line item, as exported.

    ``format``: 'auto' decides by the file's content (the CDNOW text format, a
    delimited table, Parquet, JSON records or an Excel workbook), never by its name.  The
    amount of a row is ``amount_column``, or ``quantity_column`` x
    ``price_column``.  Rows without a customer id, returns and cancellations
    are handled as ``missing_id`` and ``returns`` say, and counted in the report.
    Rows of orders not paid (a payment-status column) are left out and counted.
    """

    path: str = Field(
        "sample:cdnow_sample.txt",
        description="transaction log: CDNOW text, CSV / TSV (plain, gzip or zipped), Parquet, JSON records, or an Excel "
        ".xlsx / .xls or OpenDocument .ods workbook",
    )
    format: Literal["auto", "table", "excel", "json", "cdnow"] = Field(
        "auto",
        description="auto: by content; table: a delimited text or Parquet table with named columns; excel: an "
        "Excel or OpenDocument workbook; json: JSON records (a list of objects, or one a line); cdnow: id, "
        "YYYYMMDD date, quantity, amount, whitespace-separated",
    )
    sheet: str | int | list[str | int] | None = Field(
        None,
        description="Excel sheet of a workbook read (data.path, and files given to apply), by name or position from "
        "0; a list stacks sheets with the same columns; null: the first sheet shown (hidden ones passed over) holding the columns the config names "
        "(a summary sheet before the data is passed over), else the first holding a table (a README sheet of notes "
        "before it is passed over)",
    )
    id_column: str = Field("customer_id", description="customer id column")
    date_column: str = Field("date", description="purchase date or timestamp column")
    amount_column: str | None = Field(
        None, description="amount of each row; null: 'amount', or quantity x price when price_column is set"
    )
    quantity_column: str | None = Field(
        None,
        description="quantity column: with price_column the amount is quantity x "
        "price; a negative quantity marks a return; null: none",
    )
    price_column: str | None = Field(None, description="unit price column (amount = quantity x price); null: none")
    amount_scale: Annotated[float, Field(gt=0)] | None = Field(
        None,
        description="each amount, price and refund is multiplied by this: 0.01 for amounts in cents, as Stripe's "
        "and Adyen's APIs write them; null: as written (a warning names this key when every purchase is a whole "
        "number of 100 or more, as amounts in cents are; 1 reads them as written without it)",
    )
    order_column: str | None = Field(
        None,
        description="order (invoice, basket) id: lines of one order are one purchase; "
        "needed by cancel_pattern; null: none",
    )
    amount_per: Literal["auto", "line", "order"] = Field(
        "auto",
        description="with order_column, whether amount_column holds each line's amount or each order's total "
        "(written on the order's first line only, or repeated on every line: counted once); auto: order when "
        "the column shows it (blank on an order's other lines, or one amount repeated on every line of "
        "each order)",
    )
    cancel_pattern: str | None = Field(
        None, description="regular expression on the order id marking a cancellation, e.g. ^C"
    )
    returns: Literal["net", "drop", "error"] = Field(
        "net",
        description="returns and cancellations (negative amounts or quantities, cancel_pattern): net subtracts "
        "them from the customer's purchases (same day first, then earlier), drop leaves them out, "
        "error refuses the file",
    )
    status_column: str | None = Field(
        "auto",
        description="payment-status column (Financial Status, Payment Status, Order Status, Status ...): rows of "
        "orders not paid (pending, failed, cancelled, refunded ...) are left out and counted; an order's status "
        "on its first line only holds for its other lines (data.order_column); auto: such a column when the log "
        "has one; null: every row is a purchase",
    )
    refund_column: str | None = Field(
        "auto",
        description="column of the amount refunded on each paid order (Shopify's Refunded Amount, Stripe's "
        "Amount Refunded): subtracted from the order, never below zero, and counted; with data.order_column "
        "an order's refund is read once (its first line, or repeated on every line); auto: such a column "
        "when the log has one; null: refunds are not read",
    )
    keep: dict[str, list[str | int | float]] | None = Field(
        None,
        description="only the rows whose column holds one of these values, e.g. {Type: [Express Checkout Payment, "
        "Website Payment]} for a PayPal download (its conversions, withdrawals and fees are no purchases); every "
        "column named must match, values compared without case; the others are left out first and counted; "
        "null: every row",
    )

    @field_validator("keep", mode="before")
    @classmethod
    def _one_value_or_several(cls, v):
        """``{Type: Payment}`` is ``{Type: [Payment]}``."""
        if isinstance(v, dict):
            return {k: x if isinstance(x, list) else [x] for k, x in v.items()}
        return v

    currency: str | None = Field(
        None,
        description="the currency whose rows are read, by the log's currency column (Currency, currency_code ...) "
        "or, without one, by the signs its amounts carry ($12.00, 12,00 EUR); the others are left out and counted "
        "(a shop selling in several, a PayPal log's currency conversions); a log showing no currency is taken to be "
        "in it; the report's amounts are written in it; null: the log must hold one currency",
    )
    count_status: list[str] | None = Field(
        None,
        min_length=1,
        description="statuses that are purchases, e.g. [paid, partially_refunded], all others left out; null: "
        "the usual words for a payment made (paid, completed, succeeded ...) count, those for an order not "
        "paid or undone (pending, failed, cancelled, refunded ...) do not, and any other status is refused",
    )
    missing_id: Literal["drop", "error", "above"] = Field(
        "drop",
        description="rows without a customer id: drop (counted, with their revenue), error, or above: a row whose "
        "id cell is blank is the customer of the nearest row above it with one (a report that writes each "
        "customer once over their rows), blanks above the first id dropped",
    )
    placeholder_ids: list[str | int] = Field(
        [],
        description="customer ids that stand for no customer, e.g. [0] for a shop's guest checkouts or [Walk-in] "
        "for a till's: their rows are rows without a customer id (data.missing_id); compared as text, case aside",
    )
    timezone: TimeZone = Field(
        None,
        description="time zone a purchase's day is taken in, e.g. America/New_York "
        "(timestamps without an offset are read as UTC; dates alone stay as written); null: as written",
    )
    date_format: str | None = Field(None, description="e.g. %Y%m%d; default: inferred")
    decimal_mark: Literal["auto", ".", ","] = Field(
        "auto",
        description="the amounts' decimal mark: auto decides from the column (1,234.50 or 1.234,50) and refuses one "
        "that cannot tell (1,200 alone); '.' reads commas as thousands (¥1,200, whole dollars), ',' as decimals",
    )


class CustomersFeatures(Section):
    """Per-customer features.

    ``rfm_convention``: 'repeat' counts frequency as repeat purchases and monetary
    as the mean value of repeat purchases (Fader-Hardie, without the first
    purchase); 'all' counts every purchase.  Recency is days from the last
    purchase to the end of the calibration period.  Same-day transactions are
    merged.  ``model`` lists the features the GMM sees (log1p, then standardised).
    ``one_time_buyers``: 'separate' (default) puts all of them in one fixed
    segment outside the GMM (features such as ``gaps_since_last`` are undefined
    for them); 'model' lets the GMM give them segments of their own (they sit at
    frequency 0).
    """

    rfm_convention: Literal["repeat", "all"] = Field(
        "repeat",
        description="repeat: frequency and monetary over repeat purchases (CLV convention); all: every purchase",
    )
    model: list[Literal[MODEL_FEATURES]] = Field(
        default_factory=lambda: ["gaps_since_last", "frequency", "aov", "recent_spend"],
        description="features the mixture is fitted on (log1p, standardised)",
    )
    recent_weeks: int = Field(
        26, ge=1, le=520, description="window of the recent_spend feature, in weeks before the calibration end"
    )
    one_time_buyers: Literal["model", "separate"] = Field(
        "separate", description="separate: one fixed segment for one-time buyers; model: fit them too"
    )
    weight_by: Literal["none", "spend", "sqrt_spend"] = Field(
        "none", description="weight customers in the fit by none, spend or sqrt_spend"
    )


class Split(Section):
    """Calibration / holdout split by date (Fader, Hardie and Lee 2005: 39 + 39 weeks).

    The calibration period starts at ``start`` (default: the first transaction) and, by default (``auto``),
    runs to the holdout, the log's last ``holdout_weeks`` (39 + 39 weeks on a 78-week log such as CDNOW's).
    ``enabled: false`` uses all transactions for the segmentation, with no holdout.
    """

    enabled: bool = Field(
        True, description="split the log into a calibration and a holdout period (false: segment everything)"
    )
    start: date | None = Field(None, description="first day of the calibration period; null: the first purchase")
    calibration_weeks: int | Literal["auto"] = Field(
        "auto",
        description="weeks the segments are learned on (1 to 5200); auto: every week before the holdout, which is "
        "then the log's last holdout_weeks (with holdout_weeks: max, 39 weeks)",
    )
    holdout_weeks: int | Literal["max"] = Field(
        39,
        description="weeks after calibration whose revenue validates the segments (1 to 5200); max: up to the end of "
        "the log; a holdout running past the log's end is an error",
    )

    @field_validator("calibration_weeks", "holdout_weeks")
    @classmethod
    def _positive(cls, v, info):
        if isinstance(v, int) and not 1 <= v <= 5200:  # a century at most: dates beyond pandas' end otherwise
            raise ValueError(
                f"must be from 1 to 5200 weeks, or {'max' if info.field_name == 'holdout_weeks' else 'auto'}, got {v}"
            )
        return v


class Forward(Section):
    """The forward value: each customer's expected purchases and spend over the next weeks, from a BG/NBD purchase
    model with Gamma-Gamma spend per purchase, fitted on the calibration period."""

    horizon_weeks: int | None = Field(
        None, ge=1, le=520, description="weeks ahead; null: the holdout's length (13 weeks without a holdout)"
    )


class CustomersModel(SelectedModel):
    """Model options.  Each candidate is fitted from ``n_init`` starts run to the loose
    ``explore_tol``; the chosen one is then converged to ``tol``, so that seeds
    which find the same optimum give identical segments."""

    n_components: NComponents = Field(default_factory=lambda: {"min": 2, "max": 8})
    covariance_type: CovarianceTypes = "diag"
    n_init: int = Field(10, ge=1, le=100, description="EM restarts; the best is kept")
    init: Literal["kmeans", "hierarchical"] = Field(
        "hierarchical", description="hierarchical: Ward clustering, the same start for every seed"
    )
    explore_tol: float = Field(
        1e-2, gt=0, description="EM tolerance while comparing candidates; the chosen one is polished to model.tol"
    )
    tol: float = Field(1e-8, gt=0)
    max_iter: int = Field(2000, ge=1)
    reg_covar: float = Field(
        0.2,
        ge=0,
        le=1e6,
        description="variance floor in standardised units: keeps components off the integer lattice of counts",
    )
    min_segment_size: int = Field(
        20,
        ge=1,
        description="the criterion chooses among candidates whose every segment holds at least this many customers",
    )


class CustomersReport(EvaluationReport):
    top_share: float = Field(0.2, gt=0, lt=1, description="share of customers targeted in the holdout comparison")
    stability_seeds: int = Field(3, ge=1, le=50, description="seeds compared for label agreement (ARI)")
    bootstrap: int = Field(3, ge=0, le=100, description="bootstrap refits for segment stability")


class CustomersConfig(PipelineConfig):
    pipeline: Literal["customers"] = "customers"
    data: CustomersData = CustomersData()
    features: CustomersFeatures = CustomersFeatures()
    model: CustomersModel = CustomersModel()
    split: Split = Split()
    forward: Forward = Forward()
    report: CustomersReport = CustomersReport()
    engine: ChunkedEngineSection = ChunkedEngineSection()

    renamed: ClassVar[dict] = {"report.boundary_below": "report.uncertain_below"}

    def check_unread_keys(self, where):
        """Refuse the split's windows set while the log is not split, and the size of a Dask block without Dask
        (:func:`~gmm_apps.config.refuse_unread`)."""
        super().check_unread_keys(where)
        if self.engine.kind == "local":
            refuse_unread(where, "engine", self.engine, ("chunk_rows",), "with engine.kind: dask")
        if not self.split.enabled:
            keys = ("start", "calibration_weeks", "holdout_weeks")
            refuse_unread(where, "split", self.split, keys, "with split.enabled: true (a calibration and a holdout)")
