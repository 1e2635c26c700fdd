"""Reports: one self-contained HTML file, shared plots, and the model-evaluation block.

Plots use matplotlib's object API (``matplotlib.figure.Figure``, Agg canvas),
so nothing depends on a display or on pyplot's global state.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import jinja2
import numpy as np
import pandas as pd

from . import __version__
from .core import fit_metrics
from .plot_fonts import save_png

PALETTE = [
    "#4c72b0",
    "#55a868",
    "#c44e52",
    "#8172b2",
    "#ccb974",
    "#64b5cd",
    "#dd8452",
    "#937860",
    "#da8bc3",
    "#8c8c8c",
]

_TEMPLATE = jinja2.Template(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title|e }}</title>
<style>
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.7em;margin-bottom:.2em} h2{font-size:1.3em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
.sub{color:#666;margin-top:0} table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right} th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left} figure{margin:1em 0} figcaption{color:#555;font-size:.9em}
img{max-width:100%} .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:0 1.5em} .kv td{text-align:left} .headline{font-size:1.2em;background:#f6f8fa;border-left:4px solid #4c72b0;padding:.6em 1em}
.note{color:#555;font-size:.92em} .caveat{background:#fff8e6;border-left:4px solid #ccb974;padding:.5em 1em}
.wide{overflow-x:auto} @media print{.wide{overflow:visible} .wide table{font-size:.75em}}
</style></head><body>
<h1>{{ title|e }}</h1>
{% if subtitle %}<p class="sub">{{ subtitle|e }}</p>{% endif %}
{% for s in sections %}
{% if s.heading %}<h2>{{ s.heading|e }}</h2>{% endif %}
{% for b in s.blocks %}{{ b }}
{% endfor %}
{% endfor %}
<p class="note">Made by gmm_apps {{ version }}.</p>
</body></html>
"""
)


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return "–"
        if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
            return f"{v:.3g}"
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.1f}"
    if isinstance(v, (np.integer,)):
        return f"{int(v):,}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def _text_column(values):
    """Whether a column's cells are text (empty ones aside), so that its header is left-aligned as they are."""
    filled = [v for v in values if isinstance(v, str) or not (v is None or (isinstance(v, float) and math.isnan(v)))]
    return bool(filled) and all(isinstance(v, str) for v in filled)


def _align(v):
    """Left-align text cells; numbers stay right-aligned."""
    return ' style="text-align:left"' if isinstance(v, str) else ""


def _figure(png, caption=None, alt=""):
    """A PNG (bytes, a path, or a matplotlib Figure) as an HTML figure, embedded as base64."""
    raw = png_bytes(png) if hasattr(png, "savefig") else png  # a Figure drawn, else bytes or a path
    b64 = base64.b64encode(raw if isinstance(raw, (bytes, bytearray)) else Path(raw).read_bytes()).decode("ascii")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{html.escape(alt or caption or "")}" src="data:image/png;base64,{b64}">{cap}</figure>'


def figure(width=8.0, height=4.0):
    """A new Agg figure of the given size in inches (matplotlib is imported here, by the first plot: a run
    without plots never loads it)."""
    from matplotlib.figure import Figure  # start-up time: matplotlib loads only when plotting

    return Figure(figsize=(width, height), layout="constrained")


def plain_log_axis(ax):
    """Put the y axis of ``ax`` (its lines drawn) on a log scale labelled in plain numbers, as a price chart is
    read (800, 1,000, 2,000; 1.0, 1.5, 2.0), not in powers of ten (2 x 10^3)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # start-up time

    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    ratio = hi / lo if lo > 0 else np.inf
    if ratio > 20:
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    elif ratio > 3:
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    else:  # a narrow range looks linear: evenly spaced round numbers
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 100 else f"{v:.4g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def png_bytes(fig):
    buf = io.BytesIO()
    save_png(fig, buf)
    return buf.getvalue()


@dataclass
class _Section:
    heading: str | None
    blocks: list = field(default_factory=list)


class Report:
    """Builder of a self-contained HTML report.

    Parameters
    ----------
    title : str
    subtitle : str, optional

    Examples
    --------
    >>> r = Report("Regimes")
    >>> r.section("Summary"); r.text("Three regimes.")
    >>> html_text = r.render()
    """

    def __init__(self, title, subtitle=None):
        self.title = title
        self.subtitle = subtitle
        self.sections = [_Section(None)]

    def section(self, heading):
        """Start a new section with a heading."""
        self.sections.append(_Section(heading))
        return self

    def _add(self, block):
        self.sections[-1].blocks.append(block)
        return self

    def headline(self, text):
        """A highlighted one-line statement (e.g. today's regime)."""
        return self._add(f'<p class="headline">{html.escape(text)}</p>')

    def text(self, text, *, cls=None):
        """A paragraph of plain text."""
        c = f' class="{cls}"' if cls else ""
        return self._add(f"<p{c}>{html.escape(text)}</p>")

    def caveats(self, items):
        """A highlighted list of caveats."""
        li = "".join(f"<li>{html.escape(i)}</li>" for i in items)
        return self._add(f'<div class="caveat"><ul>{li}</ul></div>')

    def table(self, df, *, caption=None, index=False, formats=None):
        """A table from a DataFrame (numbers formatted for reading).

        Parameters
        ----------
        df : pandas.DataFrame
        caption : str, optional
        index : bool
            Show the index as the first column.
        formats : dict of column -> callable, optional
        """
        formats = formats or {}
        d = df.reset_index().rename(columns={"index": ""}) if index else df
        # a header sits over its column as the column's cells do: text left, numbers right
        text = [_text_column(d.iloc[:, i]) for i in range(d.shape[1])]
        head = "".join(
            f"<th{_align('') if left else ''}>{html.escape(str(c))}</th>" for c, left in zip(d.columns, text)
        )
        rows = []
        for _, r in d.iterrows():
            cells = "".join(
                f"<td{_align(v)}>{html.escape(formats[c](v) if c in formats else _fmt(v))}</td>" for c, v in r.items()
            )
            rows.append(f"<tr>{cells}</tr>")
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        # a table wider than the page scrolls in its own box, not past the page's edge
        return self._add(
            f'<div class="wide"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
        )

    def kv(self, mapping):
        """A two-column key/value table."""
        rows = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>" for k, v in mapping.items()
        )
        return self._add(f'<table class="kv"><tbody>{rows}</tbody></table>')

    def links(self, mapping):
        """A list of links, ``{label: relative address}`` (another report beside this one)."""
        items = "".join(
            f'<li><a href="{html.escape(quote(str(href)))}">{html.escape(str(label))}</a></li>'
            for label, href in mapping.items()
        )
        return self._add(f"<ul>{items}</ul>")

    def image(self, png, *, caption=None, alt=""):
        """Embed a PNG (bytes, a path, or a Figure) as base64; a list of ``(png, caption)`` side by side."""
        if isinstance(png, list):
            return self._add('<div class="grid">' + "".join(_figure(p, c) for p, c in png) + "</div>")
        return self._add(_figure(png, caption, alt))

    def render(self):
        """The HTML document as text."""
        secs = [s for s in self.sections if s.blocks]
        return _TEMPLATE.render(title=self.title, subtitle=self.subtitle, sections=secs, version=__version__)

    def write(self, path):
        """Write the HTML document to ``path``."""
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(self.render())
        return path


# ----------------------------------------------------------------------- plots
def plot_criterion_curve(table, *, criteria=("bic", "aic"), chosen=None, title="Model selection"):
    """Information criteria against K, one line per covariance type.

    Parameters
    ----------
    table : pandas.DataFrame
        With columns ``n_components``, ``covariance_type`` and the criteria.
    criteria : tuple of str
    chosen : tuple(int, str), optional
        The chosen (K, covariance type), marked with a star.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    crit = [c for c in criteria if c in table.columns and table[c].notna().any()]
    fig = figure(4.2 * max(1, len(crit)), 3.4)
    axes = fig.subplots(1, max(1, len(crit)), squeeze=False)[0]
    for ax, c in zip(axes, crit):
        for i, (ct, g) in enumerate(table.groupby("covariance_type", sort=False)):
            g = g.sort_values("n_components")
            ax.plot(g["n_components"], g[c], "o-", color=PALETTE[i % 10], label=ct)
            if chosen is not None and chosen[1] == ct:
                row = g[g["n_components"] == chosen[0]]
                if len(row):
                    ax.plot(row["n_components"], row[c], "*", ms=16, color="k", zorder=5)
        ax.set_xlabel("components K")
        ax.set_ylabel(c.upper() + (" (lower is better)" if c in ("bic", "aic", "icl") else ""))
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return fig


def _ellipse(ax, mean, cov2, color, n_std):
    from matplotlib.patches import Ellipse  # start-up time: matplotlib loads only when plotting

    vals, vecs = np.linalg.eigh(cov2)
    vals = np.clip(vals, 0, None)
    angle = math.degrees(math.atan2(vecs[1, -1], vecs[0, -1]))
    w, h = 2 * n_std * np.sqrt(vals[::-1])
    ax.add_patch(Ellipse(mean, w, h, angle=angle, fill=False, color=color, lw=1.4, alpha=0.9 - 0.2 * n_std))


def plot_ellipses(
    X2,
    labels,
    means2,
    covs2,
    *,
    names=None,
    colors=None,
    xlabel="",
    ylabel="",
    title=None,
    max_points=5000,
    random_state=0,
):
    """2-D scatter coloured by label with 1, 2 and 3 sigma ellipses per component.

    Parameters
    ----------
    X2 : ndarray of shape (n, 2)
    labels : ndarray of shape (n,)
    means2 : ndarray of shape (K, 2)
    covs2 : ndarray of shape (K, 2, 2)
    names : list of str, optional
    colors : list of str, optional
        One colour per component (default: the shared palette).
    max_points : int
        Points drawn at most (a random sample; all ellipses are drawn).

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    fig = figure(6.0, 5.0)
    ax = fig.add_subplot()
    n = len(X2)
    idx = np.arange(n)
    if n > max_points:
        idx = np.sort(np.random.default_rng(random_state).choice(n, max_points, replace=False))
    K = len(means2)
    for k in range(K):
        sel = idx[labels[idx] == k]
        col = colors[k] if colors is not None else PALETTE[k % 10]
        ax.scatter(X2[sel, 0], X2[sel, 1], s=6, alpha=0.45, color=col, label=names[k] if names else f"{k}")
        for s in (1, 2, 3):
            _ellipse(ax, means2[k], covs2[k], col, s)
        ax.plot(*means2[k], "x", color="k", ms=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, markerscale=2)
    if title:
        ax.set_title(title)
    return fig


def plot_score_histogram(
    groups,
    threshold,
    *,
    xlabel,
    ylabel,
    threshold_label="threshold",
    title="Score distribution",
    bins=60,
    upper_quantile=None,
    density=False,
    alpha=0.7,
    size=(7, 3.4),
):
    """Histograms of scores, one per group, with the decision threshold as a dashed line.

    The score plot of every pipeline that thresholds a score (anomalies,
    unknown speakers).

    Parameters
    ----------
    groups : list of (str or None, ndarray, int)
        ``(label, scores, palette index)``; a single unlabelled group is drawn opaque.
    threshold : float
    xlabel, ylabel, threshold_label, title : str
    bins : int
    upper_quantile : float, optional
        Clip the bins' range at this quantile of all scores (long right tails); the scores above it are
        counted in the last bar, which the axis label says.
    density : bool
    alpha : float
    size : (float, float)

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    every = np.concatenate([np.asarray(s, dtype=float) for _, s, _ in groups])
    top = np.quantile(every, upper_quantile) if upper_quantile is not None else every.max()
    edges = np.linspace(every.min(), top, bins)
    fig = figure(*size)
    ax = fig.add_subplot()
    single = len(groups) == 1 and groups[0][0] is None
    for label, s, colour in groups:
        s = np.minimum(np.asarray(s, dtype=float), top)  # the long tail in the last bar, not left out
        ax.hist(s, bins=edges, color=PALETTE[colour], alpha=1.0 if single else alpha, label=label, density=density)
    ax.axvline(threshold, color="k", ls="--", label=threshold_label)
    above = int((every > top).sum())
    ax.set_xlabel(xlabel + (f"; the last bar holds the {above:,} above {top:.3g}" if above else ""))
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return fig


def plot_confidence_histogram(max_proba, *, threshold=0.6, title="Assignment confidence"):
    """Histogram of each row's top posterior probability with the uncertainty threshold.

    Parameters
    ----------
    max_proba : ndarray of shape (n,)
    threshold : float

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    fig = figure(6.0, 3.2)
    ax = fig.add_subplot()
    ax.hist(max_proba, bins=np.linspace(0, 1, 41), color=PALETTE[0])
    ax.axvline(threshold, color=PALETTE[2], ls="--", label=f"uncertain below {threshold:g}")
    ax.set_xlabel("top component probability")
    ax.set_ylabel("rows")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def projection_2d(means, covariances, X, *, features=(0, 1)):
    """Data, means and 2x2 covariances on two features.

    Parameters
    ----------
    means : ndarray of shape (K, d)
    covariances : ndarray of shape (K, d, d)
        Full covariance matrices (``GaussianMixture.covariance_matrices()``).
    X : ndarray of shape (n, d)
    features : tuple of int

    Returns
    -------
    X2, means2, covs2
    """
    i, j = features
    means, covariances = np.asarray(means), np.asarray(covariances)
    return X[:, [i, j]], means[:, [i, j]], covariances[:, [i, j]][:, :, [i, j]]


# ------------------------------------------------------------ model evaluation
def model_evaluation(
    X,
    proba,
    means,
    *,
    log_likelihood,
    n_rows,
    bic,
    aic,
    n_components,
    covariance_type,
    converged,
    n_iter,
    uncertain_below=0.6,
    silhouette_sample=5000,
    random_state=0,
):
    """The figures every report carries about a fitted model, from plain numbers.

    Any soft-assignment model fits (a core GMM, an HMM's states): pass the data,
    the posterior probabilities, the component means and the model's own
    likelihood and criteria.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        The data in model space.
    proba : ndarray of shape (n, K)
        Posterior probabilities.
    means : ndarray of shape (K, d)
    log_likelihood : float
        Total log-likelihood of the fitted data.
    n_rows : float
        Rows (or total weight) it was computed on.
    bic, aic : float
    n_components : int
    covariance_type : str
    converged : bool
    n_iter : int
    uncertain_below : float
    silhouette_sample : int
        Rows sampled for the silhouette score.
    random_state : int

    Returns
    -------
    evaluation : dict
        ``log_likelihood`` (total), ``log_likelihood_per_row``, ``bic``, ``aic``,
        ``silhouette``, ``n_uncertain``, ``share_uncertain``, ``min_mean_distance``,
        ``mean_distances`` (K x K Euclidean distances between means),
        ``converged``, ``n_iter``, ``n_components``, ``covariance_type``.
    """
    from sklearn.metrics import silhouette_score  # start-up time: scikit-learn loads only where it does the work

    X = np.asarray(X)
    labels = proba.argmax(axis=1)
    sil = float("nan")
    if 2 <= len(np.unique(labels)) < X.shape[0]:
        rng = np.random.default_rng(random_state)
        idx = np.arange(X.shape[0])
        if X.shape[0] > silhouette_sample:
            idx = np.sort(rng.choice(X.shape[0], silhouette_sample, replace=False))
        if len(np.unique(labels[idx])) >= 2:
            sil = float(silhouette_score(X[idx], labels[idx]))
    top = proba.max(axis=1)
    n_unc = int((top < uncertain_below).sum())
    m = np.asarray(means, dtype=np.float64)
    D = np.sqrt(((m[:, None, :] - m[None, :, :]) ** 2).sum(-1))
    off = D[~np.eye(len(m), dtype=bool)]
    return {
        "n_components": int(n_components),
        "covariance_type": covariance_type,
        "log_likelihood": float(log_likelihood),
        "log_likelihood_per_row": float(log_likelihood) / n_rows if n_rows else float("nan"),
        "bic": float(bic),
        "aic": float(aic),
        "silhouette": sil,
        "n_uncertain": n_unc,
        "share_uncertain": n_unc / max(1, X.shape[0]),
        "min_mean_distance": float(off.min()) if off.size else float("nan"),
        "mean_distances": D,
        "converged": bool(converged),
        "n_iter": int(n_iter),
    }


def mixture_evaluation(model, X, *, sample_weight=None, **options):
    """:func:`model_evaluation` of a fitted core :class:`~gmm_apps.core.GaussianMixture` on its data.

    Parameters
    ----------
    model : gmm_apps.core.GaussianMixture
    X : ndarray of shape (n, d)
    sample_weight : ndarray of shape (n,), optional
    **options
        ``uncertain_below``, ``silhouette_sample``, ``random_state``.

    Returns
    -------
    evaluation : dict
    """
    X = np.asarray(X)
    n = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
    m = fit_metrics(model, X, sample_weight)
    return model_evaluation(
        X,
        model.predict_proba(X),
        model.means_,
        log_likelihood=m["log_likelihood"],
        n_rows=n,
        bic=m["bic"],
        aic=m["aic"],
        n_components=m["n_components"],
        covariance_type=m["covariance_type"],
        converged=m["converged"],
        n_iter=m["n_iter"],
        **options,
    )


def add_model_evaluation(report, evaluation, *, uncertain_below=0.6, names=None, extra=None):
    """Append the standard model-evaluation block to a report.

    Parameters
    ----------
    report : Report
    evaluation : dict
        From :func:`model_evaluation`.
    uncertain_below : float
    names : list of str, optional
        Component names for the distance table.
    extra : dict, optional
        More key figures to list.
    """
    e = evaluation
    report.section("Model evaluation")
    kv = {
        "components": e["n_components"],
        "covariance type": e["covariance_type"],
        "log-likelihood (total)": e["log_likelihood"],
        "log-likelihood per row": e["log_likelihood_per_row"],
        "BIC": e["bic"],
        "AIC": e["aic"],
        "silhouette score": e["silhouette"],
        f"uncertain assignments (top probability < {uncertain_below:g})": f"{e['n_uncertain']:,} ({100 * e['share_uncertain']:.1f}%)",
        "smallest distance between component means": e["min_mean_distance"],
        "EM converged": "yes" if e["converged"] else "no",
        "EM iterations": e["n_iter"],
    }
    kv.update(extra or {})
    report.kv(kv)
    D = np.asarray(e["mean_distances"])
    if D.shape[0] > 1:
        labels = names or [str(k) for k in range(D.shape[0])]
        report.table(
            pd.DataFrame(D, index=labels, columns=labels),
            index=True,
            caption="Euclidean distance between component means (model space)",
        )
    return report
