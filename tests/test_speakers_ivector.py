"""i-vectors: the total-variability EM against a per-recording brute force, the structure it recovers, the files."""

import json
from pathlib import Path

import numpy as np
import pytest

from gmm_apps import cli
from gmm_apps.core import GaussianMixture
from gmm_apps.pipelines.speakers import ivector
from gmm_apps.pipelines.speakers.ivector import (
    CosineBackend,
    TotalVariability,
    baum_welch_statistics,
    length_normalise,
)
from gmm_apps.pipelines.speakers.model import SpeakerModels

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "gmm_apps" / "samples"


def _ubm(rng, K=6, d=3):
    return GaussianMixture.from_parameters(
        np.full(K, 1 / K), rng.normal(scale=3, size=(K, d)), 0.5 + rng.random((K, d)), covariance_type="diag"
    )


def _brute_force_em(N, F, T, n_iter):
    """The same EM written one recording and one component at a time, in supervector form."""
    U, K, d = F.shape
    R = T.shape[2]
    for _ in range(n_iter):
        big = T.reshape(K * d, R)
        A = np.zeros((K, R, R))
        C = np.zeros((K, d, R))
        second_sum = np.zeros((R, R))
        for u in range(U):
            n_big = np.repeat(N[u], d)
            L = np.eye(R) + big.T @ (n_big[:, None] * big)
            cov = np.linalg.inv(L)
            w = cov @ big.T @ F[u].ravel()
            second = cov + np.outer(w, w)
            second_sum += second
            for c in range(K):
                A[c] += N[u, c] * second
                C[c] += np.outer(F[u, c], w)
        T = np.stack([C[c] @ np.linalg.inv(A[c]) for c in range(K)])
        T = T @ np.linalg.cholesky(second_sum / U)
    return T


def test_statistics_by_hand(monkeypatch):
    monkeypatch.setattr(ivector, "FRAMES_PER_BLOCK", 30)  # the recordings in three blocks
    rng = np.random.default_rng(0)
    ubm = _ubm(rng)
    frames = [rng.normal(scale=3, size=(n, 3)) for n in (5, 40, 1)]
    N, F = baum_welch_statistics(ubm, frames)
    for u, X in enumerate(frames):
        g = ubm.predict_proba(X)
        np.testing.assert_allclose(N[u], g.sum(axis=0), rtol=1e-12)
        for c in range(6):
            want = (g[:, c, None] * (X - ubm.means_[c])).sum(axis=0) / np.sqrt(ubm.covariances_[c])
            np.testing.assert_allclose(F[u, c], want, rtol=1e-9, atol=1e-12)


def test_total_variability_em_against_brute_force(monkeypatch):
    monkeypatch.setattr(ivector, "RECORDINGS_PER_BLOCK", 7)  # the sums over recordings in four blocks
    rng = np.random.default_rng(1)
    ubm = _ubm(rng)
    frames = [rng.normal(loc=rng.normal(scale=2, size=3), scale=2.5, size=(rng.integers(20, 60), 3)) for _ in range(25)]
    N, F = baum_welch_statistics(ubm, frames)
    tv = TotalVariability(4, n_iter=3, random_state=5, dtype=np.float64).fit(N, F)
    start = np.random.default_rng(5).normal(scale=np.sqrt(1.0 / 18), size=(6, 3, 4))
    np.testing.assert_allclose(tv.T_, _brute_force_em(N, F, start, 3), rtol=1e-8, atol=1e-10)
    fast = TotalVariability(4, n_iter=3, random_state=5).fit(N, F)  # float32 posteriors: close, not equal
    np.testing.assert_allclose(fast.T_, tv.T_, rtol=1e-3, atol=1e-4)


def test_em_never_lowers_the_likelihood_of_the_statistics():
    rng = np.random.default_rng(2)
    ubm = _ubm(rng, K=8, d=4)
    frames = [rng.normal(loc=rng.normal(scale=2, size=4), scale=2.5, size=(50, 4)) for _ in range(40)]
    N, F = baum_welch_statistics(ubm, frames)

    def loglik(T):  # log p(F | N, T) up to a constant: w integrated out of the factor-analysis model
        K, d, R = T.shape
        total = 0.0
        for u in range(len(F)):
            L = np.eye(R) + np.einsum("k,kdr,kds->rs", N[u], T, T)
            b = np.einsum("kd,kdr->r", F[u], T)
            total += 0.5 * b @ np.linalg.solve(L, b) - 0.5 * np.linalg.slogdet(L)[1]
        return total

    values = [loglik(TotalVariability(5, n_iter=i, random_state=0, dtype=np.float64).fit(N, F).T_) for i in range(1, 8)]
    assert all(b >= a - 1e-9 for a, b in zip(values, values[1:])), values


def test_a_speakers_ivectors_are_closer_to_each_other_than_to_others():
    rng = np.random.default_rng(3)
    K, d, S = 16, 6, 5
    ubm = GaussianMixture.from_parameters(
        np.full(K, 1 / K), rng.normal(scale=4, size=(K, d)), np.ones((K, d)), covariance_type="diag"
    )
    # each speaker shifts every component's mean along their own direction in a 3-dimensional subspace
    basis = rng.normal(size=(3, K, d))
    offsets = rng.normal(scale=1.2, size=(S, 3))
    frames, labels = [], []
    for s in range(S):
        shifted = ubm.means_ + np.einsum("j,jkd->kd", offsets[s], basis)
        for _ in range(12):
            comp = rng.integers(0, K, 150)
            frames.append(shifted[comp] + rng.normal(size=(150, d)))
            labels.append(s)
    labels = np.array(labels)
    N, F = baum_welch_statistics(ubm, frames)
    V = length_normalise(TotalVariability(3, n_iter=8, random_state=0).fit(N, F).transform(N, F))
    sim = V @ V.T
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(len(V), dtype=bool)
    assert sim[same & off_diagonal].mean() > 0.8 > 0.3 > sim[~same].mean()
    # and the back end, trained on half the recordings, identifies the other half
    train = np.arange(len(V)) % 2 == 0
    be = CosineBackend(lda_dim=S - 1).fit(V[train], labels[train])
    Z = be.transform(V)
    models = length_normalise(np.stack([Z[train & (labels == s)].mean(axis=0) for s in range(S)]))
    assert ((Z[~train] @ models.T).argmax(axis=1) == labels[~train]).mean() >= 0.95


def test_ivector_models_save_load_and_score_the_same(tmp_path):
    rng = np.random.default_rng(4)
    ubm = GaussianMixture(8, covariance_type="diag", random_state=0).fit(rng.normal(size=(3000, 3)) * 3)
    centres = np.array([[2.0, 0, 0], [0, 2, 0], [0, 0, 2], [-2, -2, 0]])  # cosine scoring tells directions apart
    frames = [rng.normal(loc=centres[c], scale=1.5, size=(80, 3)) for c in range(4) for _ in range(6)]
    labels = [f"s{c}" for c in range(4) for _ in range(6)]
    N, F = baum_welch_statistics(ubm, frames)
    tv = TotalVariability(4, n_iter=4).fit(N, F)
    with pytest.raises(ValueError, match="TotalVariability"):
        SpeakerModels(ubm, kind="ivector")
    sm = SpeakerModels(ubm, kind="ivector", extractor=tv, lda_dim=3, score_norm="snorm").fit(frames, labels)
    test = [rng.normal(loc=centres[c], scale=1.5, size=(60, 3)) for c in range(4)]
    assert (sm.score(test).argmax(axis=1) == np.arange(4)).all()
    sm.threshold = 0.5
    sm.save(tmp_path / "m.npz", meta={"pipeline": "speakers"})
    back, meta = SpeakerModels.load(tmp_path / "m.npz")
    assert meta["kind"] == "ivector" and back.speakers == sm.speakers
    np.testing.assert_array_equal(back.score(test), sm.score(test))
    back.save(tmp_path / "again.npz", meta={"pipeline": "speakers"})
    assert (tmp_path / "again.npz").read_bytes() == (tmp_path / "m.npz").read_bytes()
    # enrolling one more speaker uses the fitted back end
    back.enrol("s9", rng.normal(loc=[0, -3, 3], scale=1.5, size=(200, 3)))
    assert back.score_norm == "snorm" and back.norm_mean is None
    back.score_norm = "none"
    assert back.score([rng.normal(loc=[0, -3, 3], scale=1.5, size=(60, 3))]).argmax() == 4


def test_ivector_run_and_apply(tmp_path, capsys):
    out = tmp_path / "run"
    sets = ["model.kind=ivector", "model.ivector_dim=20", "model.ivector_iterations=3", "model.n_components=32"]
    assert (
        cli.main(
            [
                "run",
                str(REPO / "configs" / "speakers.yaml"),
                "--out",
                str(out),
                "--quiet",
                *sum((["--set", s] for s in sets), []),
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model_kind"] == "ivector" and summary["ivector_dim"] == 20
    assert summary["accuracy"] > 1 / 6  # better than chance on the sample's six speakers
    assert summary["ivector_scored_dim"] == 5  # LDA keeps the six speakers minus one
    assert "LDA (to 5 dimensions)" in (out / "report.html").read_text()
    assert cli.main(["apply", str(out), str(SAMPLES / "fsdd_sample" / "test"), "--out", str(tmp_path / "a")]) == 0
    applied = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert applied["accuracy"] == pytest.approx(summary["accuracy"])
