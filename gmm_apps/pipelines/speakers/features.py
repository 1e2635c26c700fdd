"""MFCC features as pure functions: arrays in, arrays out, keyword-only options."""

from __future__ import annotations

import math

import numpy as np


def frame_lengths(sample_rate, *, window_ms=25.0, hop_ms=10.0):
    """Window, hop and FFT sizes in samples for a sample rate.

    At 8 kHz, 25 ms / 10 ms gives a 200-sample window, an 80-sample hop and a
    256-point FFT (librosa's defaults, 2048 / 512, are 256 ms / 64 ms there).

    Returns
    -------
    win, hop, n_fft : int
    """
    win = int(round(sample_rate * window_ms / 1000))
    hop = int(round(sample_rate * hop_ms / 1000))
    n_fft = 1 << max(0, math.ceil(math.log2(max(win, 2))))
    return win, hop, n_fft


def mfcc(y, *, sample_rate, n_mfcc=20, n_mels=40, window_ms=25.0, hop_ms=10.0):
    """MFCCs and per-frame log energy.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
    sample_rate : int
    n_mfcc, n_mels : int
    window_ms, hop_ms : float

    Returns
    -------
    C : ndarray of shape (n_frames, n_mfcc)
    energy_db : ndarray of shape (n_frames,)
    """
    import librosa

    win, hop, n_fft = frame_lengths(sample_rate, window_ms=window_ms, hop_ms=hop_ms)
    if y.size < win:
        y = np.pad(y, (0, win - y.size))
    S = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, win_length=win, center=True)) ** 2
    mel = librosa.feature.melspectrogram(S=S, sr=sample_rate, n_mels=n_mels, fmax=sample_rate / 2)
    C = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=n_mfcc)
    energy_db = 10 * np.log10(np.maximum(S.sum(axis=0), 1e-12))
    return C.T.astype(np.float32), energy_db


def add_deltas(C, *, order=1, width=9):
    """Append delta (and delta-delta) coefficients, shape (n_frames, n_mfcc * (order + 1))."""
    import librosa

    if order == 0:
        return C
    n = C.shape[0]
    w = min(width, n if n % 2 else n - 1)
    if w < 3:
        return np.hstack([C] + [np.zeros_like(C)] * order)
    parts = [C] + [librosa.feature.delta(C.T, width=w, order=o, axis=-1).T for o in range(1, order + 1)]
    return np.hstack(parts).astype(np.float32)


def voice_activity(energy_db, *, below_max_db=30.0):
    """Frames whose energy is within ``below_max_db`` of the loudest frame (boolean mask)."""
    return energy_db >= energy_db.max() - below_max_db


def cmvn(F):
    """Cepstral mean and variance normalisation per recording."""
    sd = F.std(axis=0)
    return (F - F.mean(axis=0)) / np.where(sd > 1e-8, sd, 1.0)


def recording_features(
    y, *, sample_rate, n_mfcc=20, n_mels=40, window_ms=25.0, hop_ms=10.0, deltas=1, use_cmvn=True, vad_db=30.0
):
    """The feature frames of one recording: MFCC (+ deltas), speech frames only, CMVN.

    Returns
    -------
    F : ndarray of shape (n_speech_frames, n_mfcc * (deltas + 1))
    """
    C, e = mfcc(y, sample_rate=sample_rate, n_mfcc=n_mfcc, n_mels=n_mels, window_ms=window_ms, hop_ms=hop_ms)
    F = add_deltas(C, order=deltas)
    if vad_db is not None:
        keep = voice_activity(e, below_max_db=vad_db)
        if keep.sum() >= 3:
            F = F[keep]
    if use_cmvn and F.shape[0] > 1:
        F = cmvn(F)
    return F.astype(np.float32)
