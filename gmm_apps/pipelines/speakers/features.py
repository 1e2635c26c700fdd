"""MFCC features as pure functions: arrays in, arrays out, keyword-only options."""

from __future__ import annotations

import functools
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

    librosa's MFCC (``feature.mfcc`` on the power mel spectrogram of a centred, zero-padded STFT with
    a periodic Hann window; Slaney mel filters; dB with an 80 dB floor; orthonormal DCT-II), computed
    with NumPy and SciPy alone so that a run does not pay librosa's import (2-3 s); the tests compare
    the two.

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
    from scipy.fft import dct  # start-up time: this part of SciPy loads only when used

    win, hop, n_fft = frame_lengths(sample_rate, window_ms=window_ms, hop_ms=hop_ms)
    y = np.asarray(y, dtype=np.float32)
    if y.size < win:
        y = np.pad(y, (0, win - y.size))
    S = power_spectrogram(y, n_fft=n_fft, hop=hop, win=win)
    mel = mel_filters(sample_rate, n_fft, n_mels) @ S
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    C = dct(db, axis=0, type=2, norm="ortho")[:n_mfcc]
    energy_db = 10 * np.log10(np.maximum(S.sum(axis=0), 1e-12))
    return C.T.astype(np.float32), energy_db


def power_spectrogram(y, *, n_fft, hop, win):
    """``|STFT|**2`` with frames centred on multiples of ``hop`` (zero padding), shape (1 + n_fft // 2, n_frames)."""
    window = np.zeros(n_fft, dtype=np.float32)
    left = (n_fft - win) // 2
    window[left : left + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)  # periodic Hann
    padded = np.pad(y, n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    spec = np.fft.rfft(frames * window, axis=1)
    return (spec.real**2 + spec.imag**2).T


@functools.lru_cache(maxsize=8)
def mel_filters(sample_rate, n_fft, n_mels):
    """Slaney-style mel filterbank from 0 Hz to the Nyquist frequency, area-normalised (librosa's default)."""

    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        lin = f / (200.0 / 3)
        return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), lin)

    def mel_to_hz(m):
        m = np.asarray(m, dtype=np.float64)
        return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))

    fft_freqs = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


def delta(C, width):
    """First-order deltas along frames, shape of ``C`` (n_frames, n_coefficients).

    The least-squares slope over ``width`` frames centred on each frame, and at each end the slope
    over the first or last ``width`` frames: librosa's ``feature.delta(order=1)`` (a Savitzky-Golay
    derivative with ``mode='interp'``), computed in float64 without its per-call fitting overhead.
    """
    C = np.asarray(C, dtype=np.float64)
    n, h = C.shape[0], width // 2
    x = np.arange(width) - h
    out = np.empty_like(C)
    out[h : n - h] = np.lib.stride_tricks.sliding_window_view(C, width, axis=0) @ (x / (x @ x))
    out[:h] = (x @ C[:width]) / (x @ x)
    out[n - h :] = (x @ C[n - width :]) / (x @ x)
    return out


def add_deltas(C, *, order=1, width=9):
    """Append delta (and delta-delta) coefficients, shape (n_frames, n_mfcc * (order + 1))."""
    if order == 0:
        return C
    n = C.shape[0]
    w = min(width, n if n % 2 else n - 1)
    if w < 3:
        return np.hstack([C] + [np.zeros_like(C)] * order)
    parts = [C, delta(C, w)]
    if order >= 2:
        import librosa  # reason: start-up (2-3 s); only delta-deltas need it

        parts += [librosa.feature.delta(C.T, width=w, order=o, axis=-1).T for o in range(2, order + 1)]
    return np.hstack(parts).astype(np.float32)


def voice_activity(energy_db, *, below_max_db=30.0):
    """Frames whose energy is within ``below_max_db`` of the loudest frame (boolean mask)."""
    return energy_db >= energy_db.max() - below_max_db


def cmvn(F):
    """Cepstral mean and variance normalisation per recording."""
    sd = F.std(axis=0)
    return (F - F.mean(axis=0)) / np.where(sd > 1e-8, sd, 1.0)


#: per-recording normalisations of the feature frames (``features.normalise``)
NORMALISATIONS = ("gain", "mean_variance", "none")


def normalise(F, how):
    """One recording's feature frames normalised per recording.

    Parameters
    ----------
    F : ndarray of shape (n_frames, n_features)
        MFCCs (first column: the zeroth coefficient, the frame's overall level), then their deltas.
    how : {'gain', 'mean_variance', 'none'}
        'gain' centres the zeroth coefficient only, so a recording's loudness (microphone gain,
        distance) drops out while the shape of its spectrum, which carries the voice, stays;
        'mean_variance' is CMVN: every column to zero mean and unit variance, which also removes the
        recording's average spectral shape (the channel, and on a short recording much of the
        speaker); 'none' leaves the frames as computed.

    Returns
    -------
    F : ndarray
    """
    if how not in NORMALISATIONS:
        raise ValueError(f"normalise must be one of {', '.join(NORMALISATIONS)}, got {how!r}")
    if how == "none" or F.shape[0] < 2:
        return F
    if how == "mean_variance":
        return cmvn(F)
    F = F.copy()
    F[:, 0] -= F[:, 0].mean()
    return F


#: a recording with less speech than this (seconds, after voice-activity detection) is not identified
MIN_SPEECH_S = 0.1
#: a recording whose loudest sample is below this (-60 dBFS) is silence, whatever its length
SILENCE_PEAK = 1e-3


def speech_seconds(y, n_frames, hop_ms):
    """Seconds of speech in a recording: its feature frames (:func:`recording_features`, speech only) times
    the hop, or 0 when the recording is silent (its loudest sample below :data:`SILENCE_PEAK`)."""
    if y.size == 0 or np.abs(y).max() < SILENCE_PEAK:
        return 0.0
    return n_frames * hop_ms / 1000.0


def recording_features(
    y, *, sample_rate, n_mfcc=20, n_mels=40, window_ms=25.0, hop_ms=10.0, deltas=1, normalisation="gain", vad_db=30.0
):
    """The feature frames of one recording: MFCC (+ deltas), speech frames only, normalised (:func:`normalise`).

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
    F = normalise(F, normalisation)
    return F.astype(np.float32)
