"""The detector's files: ``detector.npz`` plus one checked file per member, and the older layouts still read.

:class:`DetectorFileMixin` gives :class:`~gmm_apps.pipelines.anomaly.model.GMMDetector`
``save(folder, meta=...)`` and ``load(folder) -> (detector, meta)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...core import (
    SIGNING_KEY_ENV,
    FeatureScaler,
    file_digest,
    load_arrays,
    load_model,
    loads_json,
    save_arrays,
    save_model,
)
from ...errors import ModelFileError
from .verdicts import VerdictModel


def _folder(path):
    """The detector's folder, from the folder or from its ``detector.npz``."""
    path = Path(path)
    return path.parent if path.name == "detector.npz" else path


class DetectorFileMixin:
    """Saving and loading a :class:`~gmm_apps.pipelines.anomaly.model.GMMDetector`."""

    FORMAT = "gmm_apps.GMMDetector"
    #: 3: detector.npz (checked container), member files bound by their SHA-256;
    #: 4: views (view_matrix, member_fill) and the combination rule;
    #: 5: the verdict blend (written only when there are verdicts)
    FORMAT_VERSION = 5

    def save(self, path, *, meta):
        """Write the members (``member_NNN.npz``) and the detector (``detector.npz``) to the folder ``path``.

        ``path`` may also name the ``detector.npz`` file itself.  The detector
        file records each member file's SHA-256, so a member edited, swapped or
        taken from another run is refused on load.
        """
        folder = _folder(path)
        folder.mkdir(parents=True, exist_ok=True)
        digests = []
        for i, (cols, g) in enumerate(self.members_):
            f = save_model(g, folder / f"member_{i:03d}.npz", arrays={"columns": cols})
            digests.append(file_digest(f))
        head = {
            "n_members": len(self.members_),
            "member_sha256": digests,
            "threshold": self.threshold_,
            "threshold_new": self.threshold_new_,
            "score_spread": self.score_spread_,
            # the reference scores' mean and deviation: what gmm_apps before score_spread made probabilities from
            "train_score_mean": self.score_mean_,
            "train_score_std": self.score_std_,
            "meta": meta,
            "threshold_rate": getattr(self, "threshold_rate_", None),
            "n_updates": getattr(self, "n_updates_", 0),
            "combine": self.combine,
        }
        arrays = {
            "weights": self.weights_,
            "scaler_center": self.scaler_.center,
            "scaler_scale": self.scaler_.scale,
            "med": self.med_,
            "iqr": self.iqr_,
            "view_matrix": self.view_matrix_,
        }
        if self.member_fill_ is not None:
            arrays["member_fill"] = self.member_fill_
        if self.projection_ is not None:
            arrays.update(
                projection=self.projection_,
                projection_mean=self.projection_mean_,
                residual_var=np.array([self.residual_var_]),
            )
        version = self.FORMAT_VERSION - 1  # a detector without verdicts is read by the version before them
        if getattr(self, "verdicts_", None) is not None:
            version = self.FORMAT_VERSION
            head["verdicts"] = self.verdicts_.to_meta()
            arrays.update(
                self.verdicts_.to_arrays(),
                verdict_sample=self.verdict_sample_,
                verdict_X=self.verdict_X_,
                verdict_y=self.verdict_y_,
                verdict_ids=self.verdict_ids_,
                percentile_grid=self.percentile_grid_,
            )
        save_arrays(folder / "detector.npz", arrays, format=self.FORMAT, format_version=version, meta=head)

    # long: every part of a detector file (three layouts) read and cross-checked in one pass, each inconsistency named with the file
    @classmethod
    def load(cls, path):
        """Load a saved detector from its folder (or its ``detector.npz``); returns ``(detector, meta)``.

        Raises
        ------
        ModelFileError
            If a file is missing, altered, unsigned while a signing key is set,
            or inconsistent with the others.
        """
        folder = _folder(path)
        f = folder / "detector.npz"
        if f.is_file():
            head, a = load_arrays(f, format=cls.FORMAT, max_version=cls.FORMAT_VERSION)
            legacy = False
        elif (folder / "detector.json").is_file():
            f = folder / "detector.json"
            head, a, legacy = _read_legacy(f), None, True
        else:
            raise ModelFileError(f"{folder}: no detector.npz; not a saved anomaly model")

        def bad(what):
            return ModelFileError(f"{f}: inconsistent detector: {what}; rerun 'gmm-apps run' to write it again")

        try:
            if legacy:
                a = {
                    k: np.asarray(head[src], dtype=np.float64)
                    for k, src in (
                        ("scaler_center", "scaler_center"),
                        ("scaler_scale", "scaler_scale"),
                        ("med", "med"),
                        ("iqr", "iqr"),
                    )
                }
                n = head["n_members"]
                a["weights"] = (
                    np.asarray(head["weights"], dtype=np.float64) if "weights" in head else np.full(n, 1.0 / n)
                )
            n = head["n_members"]
            threshold, mean, std = head["threshold"], head["train_score_mean"], head["train_score_std"]
            new = head.get("threshold_new", threshold)  # a model saved before there was one: the same
            spread = head.get("score_spread", std)  # saved before there was one: the deviation, as it was used
            meta = head.get("meta", {})
        except (KeyError, TypeError, ValueError) as exc:
            raise bad(f"entry {exc} missing or malformed") from None
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise bad(f"n_members {n!r}")
        for name, v in (
            ("threshold", threshold),
            ("threshold_new", new),
            ("train_score_mean", mean),
            ("train_score_std", std),
            ("score_spread", spread),
        ):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v):
                raise bad(f"{name} {v!r} is not a finite number")
        d = np.shape(a["scaler_center"])
        for name in ("scaler_center", "scaler_scale"):
            if np.ndim(a[name]) != 1 or np.shape(a[name]) != d or not np.all(np.isfinite(a[name])):
                raise bad(f"{name} of shape {np.shape(a[name])}")
        if np.any(np.asarray(a["scaler_scale"]) <= 0):
            raise bad("a scaler scale is not positive")
        projected = "projection" in a
        if projected != ("projection_mean" in a) or projected != ("residual_var" in a):
            raise bad("projection incomplete")
        joint_d = d[0]
        if projected:
            proj, pmean = np.asarray(a["projection"], float), np.asarray(a["projection_mean"], float)
            if proj.ndim != 2 or proj.shape[0] != d[0] or pmean.shape != d or not np.all(np.isfinite(proj)):
                raise bad(f"projection of shape {proj.shape} for {d[0]} features")
            joint_d = proj.shape[1]
            rvar = np.asarray(a["residual_var"], float)
            if rvar.shape != (1,) or not rvar[0] > 0:
                raise bad("residual_var is not a positive number")
        columns = n + projected  # the members' scores and the residual
        if "view_matrix" in a:  # version 4
            A = np.asarray(a["view_matrix"], float)
            combine = head.get("combine")
            if combine not in ("max", "mean"):
                raise bad(f"combine {combine!r}")
        else:  # versions 1-3: every member and the residual a view of its own, weighted mean
            A, combine = np.eye(columns), "mean"
        if A.ndim != 2 or A.shape[0] != columns or A.shape[1] < 1 or not np.all(np.isfinite(A)) or np.any(A < 0):
            raise bad(f"view_matrix of shape {A.shape} for {n} members")
        views = A.shape[1]
        for name in ("weights", "med", "iqr"):
            if np.shape(a[name]) != (views,) or not np.all(np.isfinite(a[name])):
                raise bad(f"{name} of shape {np.shape(a[name])} for {views} views")
        fill = a.get("member_fill")
        if fill is not None:
            fill = np.asarray(fill, float)
            if fill.shape != (n,):
                raise bad(f"member_fill of shape {fill.shape} for {n} members")
        digests = head.get("member_sha256") if not legacy else None
        if not legacy and (not isinstance(digests, list) or len(digests) != n):
            raise bad("member checksums missing")
        det = cls()
        det.members_ = []
        for i in range(n):
            mf = folder / f"member_{i:03d}.npz"
            g, extra = load_model(mf, with_extra=True)
            if digests is not None and file_digest(mf) != digests[i]:
                raise ModelFileError(
                    f"{mf}: does not match the checksum recorded in {f.name}; a member was edited, "
                    "swapped or copied from another run"
                )
            cols = extra["arrays"].get("columns")
            if (
                cols is None
                or cols.ndim != 1
                or not np.issubdtype(cols.dtype, np.integer)
                or len(cols) != g.means_.shape[1]
                or np.any(cols < 0)
                or np.any(cols >= joint_d)
            ):
                raise bad(f"member {i}'s feature columns do not fit the {joint_d} features of the detector")
            det.members_.append((cols, g))
        det.scaler_ = FeatureScaler(a["scaler_center"], a["scaler_scale"])
        det.projection_, det.projection_mean_ = (proj, pmean) if projected else (None, None)
        det.residual_var_ = float(rvar[0]) if projected else None
        det.med_, det.iqr_ = np.asarray(a["med"], float), np.asarray(a["iqr"], float)
        det.weights_ = np.asarray(a["weights"], float)
        det.view_matrix_, det.member_fill_, det.combine = A, fill, combine
        det.threshold_, det.threshold_new_ = float(threshold), float(new)
        det.score_mean_, det.score_std_ = float(mean), float(std)
        if not spread > 0:
            raise bad(f"score_spread {spread!r} is not positive")
        det.score_spread_ = float(spread)
        rate, n_updates = (head.get("threshold_rate"), head.get("n_updates", 0)) if not legacy else (None, 0)
        if rate is not None and (not isinstance(rate, float) or not 0 < rate < 1):
            raise bad(f"threshold_rate {rate!r}")
        if not isinstance(n_updates, int) or isinstance(n_updates, bool) or n_updates < 0:
            raise bad(f"n_updates {n_updates!r}")
        det.threshold_rate_, det.n_updates_ = rate, n_updates
        det.missing = det.members_[0][1].missing
        det.verdicts_ = None
        if "verdicts" in head:
            det._load_verdicts(head["verdicts"], a, bad, d[0], joint_d)
        return det, meta

    def _load_verdicts(self, meta, a, bad, d, joint_d):
        if not isinstance(meta, dict):
            raise bad("verdicts entry malformed")
        self.verdicts_ = VerdictModel.from_arrays(a, meta, bad)
        try:
            sample, vx = np.asarray(a["verdict_sample"], float), np.asarray(a["verdict_X"], float)
            vy, grid = np.asarray(a["verdict_y"], float), np.asarray(a["percentile_grid"], float)
            ids = np.asarray(a["verdict_ids"]).astype(str)
        except (KeyError, TypeError, ValueError) as exc:
            raise bad(f"verdict entry {exc} missing or malformed") from None
        if (
            sample.ndim != 2
            or sample.shape[1] != d
            or vx.ndim != 2
            or vx.shape[1] != d
            or vy.shape != (len(vx),)
            or ids.shape != vy.shape
            or not np.all(np.isin(vy, (0.0, 1.0)))
            or grid.ndim != 2
            or grid.shape[1] != joint_d
            or self.verdicts_.sample_.shape[1] != joint_d
        ):
            raise bad("verdict records do not fit the detector's features")
        self.verdict_sample_, self.verdict_X_, self.verdict_y_, self.verdict_ids_ = sample, vx, vy, ids
        self.percentile_grid_ = grid


def _read_legacy(f):
    """A ``detector.json`` of versions 1-2 (no checksum): read only when no signing key is set."""
    if os.environ.get(SIGNING_KEY_ENV):
        raise ModelFileError(
            f"{f}: an unsigned detector of an older gmm_apps, and {SIGNING_KEY_ENV} is set; "
            "rerun 'gmm-apps run' to write a signed one"
        )
    try:
        head = loads_json(f.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{f}: not valid JSON ({exc}); the file was altered or truncated") from None
    version = head.get("format_version") if isinstance(head, dict) else None
    if (
        not isinstance(head, dict)
        or head.get("format") != "gmm_apps.GMMDetector"
        or not isinstance(version, int)
        or isinstance(version, bool)
        or not 1 <= version <= 2
    ):
        got = (head.get("format"), version) if isinstance(head, dict) else (None, None)
        raise ModelFileError(
            f"{f}: unknown detector format {got[0]!r} version {got[1]!r}; expected gmm_apps.GMMDetector version 1 or 2"
        )
    return head
