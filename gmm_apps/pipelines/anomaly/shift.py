"""Whether new records differ from the reference as a whole, and in which features.

A detector's threshold flags about ``threshold.rate`` of records like the reference. When a file of new
records is flagged at two or three times that rate, the usual cause is not a wave of anomalies but records
that changed as a whole (prices raised, a unit changed, a new shop): the flags then say "the data moved", not
"look at these records". Scoring compares the share flagged with the reference's (a binomial test) and each
feature's level with the reference's: a numeric feature's mean in robust units (its distance from the
reference median over the reference's spread, clipped at 5 so that the anomalies themselves cannot make the
shift), a 0/1 feature's share (Cohen's h). Sums only, so records scored in chunks or on a Dask cluster give
the same figures as records scored at once. A detector flags more of new records than of those it was fitted on,
the more so the fewer they are (18.5% of the other half of ODDS' wdbc against 9.8% of the 184 records fitted
on): on a reference of 5,000 records or fewer the threshold for new records is set on five held-out folds
(the pipeline's ``held_out_scores``), and the share to expect is the share of those held-out scores it flags.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Profile", "Tally", "shift_summary", "shift_sentence", "shift_verdict"]

#: robust units beyond which a numeric feature's value counts as its limit (so a few anomalies cannot move a mean)
CLIP = 5.0
#: a flagged share this many times the reference's (or below its inverse), at p below SIGNIFICANT, is a shift
RATIO = 1.5
SIGNIFICANT = 1e-3
#: references of at most this many records have their threshold for new records and their expected share set on
#: held-out folds (above, a detector flags new records like the reference at about its own rate: 0.95-0.97 times
#: on the four ODDS halves above it)
HELD_OUT_MAX = 5000
HELD_OUT_FOLDS = 5
#: effects worth naming: robust units for a numeric feature, Cohen's h for a 0/1 one (a small effect and more),
#: and this many standard errors from none (the chance of a feature of a few hundred records moving that far)
NAMED_EFFECT = {"level": 0.25, "share": 0.2}
SURE = 4.0


def _scale(x):
    """The robust spread of one column's finite values: the interquartile range / 1.349, else the MAD x 1.4826,
    else the standard deviation, else 1."""
    if not len(x):
        return 1.0
    q1, q3 = np.percentile(x, [25, 75])
    for s in ((q3 - q1) / 1.349, 1.4826 * np.median(np.abs(x - np.median(x))), np.std(x)):
        if s > 0:
            return float(s)
    return 1.0


@dataclass
class Profile:
    """The reference records as the comparison needs them: each feature's centre and spread (or 0/1), its level
    in those terms with the variance and count of its values, and the share of records like the reference the
    threshold flags."""

    centre: np.ndarray
    scale: np.ndarray
    binary: np.ndarray
    level: np.ndarray
    variance: np.ndarray
    count: np.ndarray
    expected_share: float
    expected_from: str = "the reference records"

    @classmethod
    def of(cls, X, flagged, *, expected=None):
        """From the reference's feature matrix ``X`` (NaN where missing) and its flags; ``expected``: the share of
        records like the reference flagged, estimated out of sample (default: the share of the reference)."""
        X = np.asarray(X, dtype=np.float64)
        finite = [X[np.isfinite(X[:, j]), j] for j in range(X.shape[1])]
        binary = np.array([len(v) > 0 and bool(np.isin(v, (0.0, 1.0)).all()) for v in finite])
        centre = np.array([float(np.median(v)) if len(v) else 0.0 for v in finite])
        scale = np.array([_scale(v) for v in finite])
        own = float(np.mean(flagged))
        zeros = np.zeros(X.shape[1])
        profile = cls(centre, scale, binary, zeros, zeros, zeros, own if expected is None else float(expected))
        if expected is not None:
            profile.expected_from = "held-out folds of the reference"
        t = profile.tally(X, flagged)
        profile.level, profile.variance, profile.count = t.means(), t.variances(), t.counts
        return profile

    def tally(self, X, flagged):
        """The sums of a chunk of records (:class:`Tally`)."""
        X = np.asarray(X, dtype=np.float64)
        v = np.where(self.binary, X, np.clip((X - self.centre) / self.scale, -CLIP, CLIP))
        ok = np.isfinite(v)
        v = np.where(ok, v, 0.0)
        return Tally(len(X), int(np.sum(flagged)), v.sum(axis=0), (v * v).sum(axis=0), ok.sum(axis=0))

    def merged(self, tally):
        """The profile of the reference and the records of ``tally`` together (a detector that learned from them,
        ``apply --update``): each feature's level, variance and count pooled; its centre, spread and the share to
        expect kept."""
        count = self.count + tally.counts
        with np.errstate(invalid="ignore", divide="ignore"):
            level = (self.level * self.count + tally.sums) / np.maximum(count, 1)
            second = ((self.variance + self.level**2) * self.count + tally.squares) / np.maximum(count, 1)
        return Profile(
            self.centre,
            self.scale,
            self.binary,
            np.where(count > 0, level, self.level),
            np.where(count > 0, np.maximum(second - level**2, 0.0), self.variance),
            count,
            self.expected_share,
            self.expected_from,
        )

    def to_dict(self):
        return {
            "centre": self.centre.tolist(),
            "scale": self.scale.tolist(),
            "binary": self.binary.tolist(),
            "level": self.level.tolist(),
            "variance": self.variance.tolist(),
            "count": self.count.tolist(),
            "expected_share": self.expected_share,
            "expected_from": self.expected_from,
        }

    @classmethod
    def from_dict(cls, d):
        """A profile as saved; one saved before variances were kept counts its levels as one record each, of the
        new records' variance (a feature's move then needs four of their spreads to be named)."""
        centre, scale, level = (np.asarray(d[k], dtype=np.float64) for k in ("centre", "scale", "level"))
        variance = np.asarray(d.get("variance", np.full_like(level, np.nan)), dtype=np.float64)
        count = np.asarray(d.get("count", np.ones_like(level)), dtype=np.float64)
        return cls(
            centre,
            scale,
            np.asarray(d["binary"], dtype=bool),
            level,
            variance,
            count,
            float(d["expected_share"]),
            d.get("expected_from", "the reference records"),
        )


@dataclass
class Tally:
    """Records counted, flagged, and each feature's sum, sum of squares and count of values (0/1, or clipped
    robust units)."""

    n: int = 0
    flagged: int = 0
    sums: np.ndarray = field(default_factory=lambda: np.zeros(0))
    squares: np.ndarray = field(default_factory=lambda: np.zeros(0))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    def __add__(self, other):
        if not self.n:
            return other
        return Tally(
            self.n + other.n,
            self.flagged + other.flagged,
            self.sums + other.sums,
            self.squares + other.squares,
            self.counts + other.counts,
        )

    def means(self):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.sums / np.maximum(self.counts, 1), np.nan)

    def variances(self):
        m = self.means()
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.maximum(np.where(self.counts > 0, self.squares / np.maximum(self.counts, 1) - m * m, np.nan), 0)


def _effect(profile, new):
    """Each feature's move from the reference: robust units for a numeric one, Cohen's h for a 0/1 one."""
    ref = profile.level
    with np.errstate(invalid="ignore"):
        h = 2 * np.arcsin(np.sqrt(np.clip(new, 0, 1))) - 2 * np.arcsin(np.sqrt(np.clip(ref, 0, 1)))
    return np.where(profile.binary, h, new - ref)


def _standard_error(profile, tally):
    """Each effect's standard error: of a difference of means (numeric), of Cohen's h (0/1: 1/n each side)."""
    n_new, n_ref = np.maximum(tally.counts, 1), np.maximum(profile.count, 1)
    new_var = tally.variances()
    ref_var = np.where(np.isfinite(profile.variance), profile.variance, new_var)  # not saved: the new records'
    return np.where(profile.binary, np.sqrt(1 / n_new + 1 / n_ref), np.sqrt(new_var / n_new + ref_var / n_ref))


def shift_summary(profile, tally, names, *, top=5):
    """How the scored records compare with the reference.

    Returns
    -------
    dict
        ``flagged_share``, ``expected_share`` (the reference's), ``p_value`` (two-sided binomial test of the
        flags), ``shifted`` (``"more unusual"``, ``"less unusual"`` or None) and ``features``: the ``top``
        features that moved most, each with its ``kind`` (``level``: the winsorised mean in the feature's
        units; ``share``: of records with the value), reference and new value, ``effect`` and ``named``
        (large enough to name, and beyond chance: :data:`NAMED_EFFECT`, :data:`SURE` standard errors).
    """
    from scipy.stats import binomtest  # start-up time: scipy.stats loads when records are compared

    expected = min(max(profile.expected_share, 1e-12), 1 - 1e-12)
    p = float(binomtest(tally.flagged, tally.n, expected).pvalue) if tally.n else 1.0
    share = tally.flagged / tally.n if tally.n else 0.0
    shifted = None
    if p < SIGNIFICANT and share >= RATIO * expected:
        shifted = "more unusual"
    elif p < SIGNIFICANT and share <= expected / RATIO:
        shifted = "less unusual"
    new = tally.means()
    effect = _effect(profile, new)
    se = _standard_error(profile, tally)
    order = [j for j in np.argsort(-np.abs(np.nan_to_num(effect)), kind="stable") if np.isfinite(effect[j])][:top]
    features = []
    for j in order:
        kind = "share" if profile.binary[j] else "level"
        back = (lambda m: m) if profile.binary[j] else (lambda m, j=j: profile.centre[j] + m * profile.scale[j])
        features.append(
            {
                "feature": str(names[j]),
                "kind": kind,
                "reference": float(back(profile.level[j])),
                "new": float(back(new[j])),
                "effect": float(effect[j]),
                "named": bool(abs(effect[j]) >= NAMED_EFFECT[kind] and abs(effect[j]) >= SURE * se[j]),
            }
        )
    return {
        "records": int(tally.n),
        "flagged_share": share,
        "expected_share": profile.expected_share,
        "expected_from": profile.expected_from,
        "p_value": p,
        "shifted": shifted,
        "features": features,
    }


def _moved(f):
    if f["kind"] == "share":
        return f"{f['feature']} {100 * f['reference']:.0f}% -> {100 * f['new']:.0f}% of records"
    return f"{f['feature']} {f['reference']:.4g} -> {f['new']:.4g}"


def shift_verdict(found):
    """What a shift of the records as a whole means, with the features that moved (empty when they did not)."""
    if found is None or found["shifted"] is None:
        return ""
    if found["shifted"] == "less unusual":
        return "the records are less unusual than the reference as a whole"
    named = [_moved(f) for f in found["features"] if f["named"]][:3]
    if not named:
        return "no feature moved as a whole: more anomalies than usual"
    return (
        f"the records moved as a whole ({', '.join(named)}); if that move "
        "is expected (prices, units, a new source), the flags follow it: learn from recent records before "
        "trusting them"
    )


def shift_sentence(found):
    """What the headline adds when the records moved as a whole (empty when they did not)."""
    verdict = shift_verdict(found)
    if not verdict:
        return ""
    return (
        f"{100 * found['flagged_share']:.1f}% flagged, against {100 * found['expected_share']:.1f}% of records like "
        f"the reference: "
        f"{verdict}"
    )
