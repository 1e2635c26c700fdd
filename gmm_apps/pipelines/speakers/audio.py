"""Reading a recording's samples: any format libsndfile or FFmpeg opens, one channel, at one sample rate."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np

from ...errors import DataError

logger = logging.getLogger("gmm_apps.speakers")

#: what to do with a file no reader can open
UNREADABLE = (
    "expected WAV, FLAC, OGG / Opus, MP3, AIFF, AU, or audio in M4A / AAC / MP4 / WebM / 3GP / WMA / AVI: "
    "re-export the file, or move it out of the folder (data.unreadable: skip leaves such files out)"
)
#: read by libsndfile (.opus: WhatsApp voice notes; .au / .snd: Sun audio; .w64 / .rf64: a field recorder's WAV past
#: 4 GB)
SNDFILE_SUFFIXES = {
    *(".wav", ".flac", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".aifc", ".mp3", ".caf", ".sph"),
    *(".au", ".snd", ".w64", ".rf64"),
}
#: read by FFmpeg through PyAV: phone voice memos (.m4a, .3gp, .amr), an audiobook's chapters (.m4b), meeting and
#: video recordings' sound (.avi, .flv: a screen recorder's; .mpg)
CONTAINER_SUFFIXES = {
    *(".m4a", ".m4b", ".aac", ".mp4", ".mov", ".webm", ".mkv", ".mka", ".3gp", ".amr", ".wma"),
    *(".avi", ".flv", ".mpg", ".mpeg"),
}
AUDIO_SUFFIXES = SNDFILE_SUFFIXES | CONTAINER_SUFFIXES


def load_audio(path, *, sample_rate, channel="mix"):
    """Read an audio file as mono float32 at ``sample_rate`` (:func:`read_audio`, then :func:`resampled`)."""
    return resampled(*read_audio(path, channel=channel), sample_rate)


def resampled(y, sr, sample_rate):
    """The recording ``y`` of ``sr`` Hz at ``sample_rate`` Hz, as contiguous float32."""
    if sr != sample_rate:
        import librosa  # reason: start-up (2-3 s); only recordings at another rate

        y = librosa.resample(y, orig_sr=sr, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(y, dtype=np.float32)


def read_audio(path, *, channel="mix"):
    """Read an audio file as mono float32 at its own sample rate.

    libsndfile reads WAV, FLAC, OGG / Opus, MP3, AIFF and NIST SPHERE (LDC's ``.sph``, TIMIT's ``.WAV``;
    not shorten-compressed); anything else (a phone's M4A voice memo, the
    sound of an MP4 meeting recording) is decoded with FFmpeg through PyAV.

    Parameters
    ----------
    path : str or Path
    channel : 'mix' or int
        'mix': the channels averaged; a number: that channel alone, from 0 (``data.channel``).

    Returns
    -------
    y : ndarray of shape (n_samples,)
    sample_rate : int
    """
    import soundfile as sf  # start-up time: soundfile loads only when audio is read or written

    path = Path(path)
    try:
        y, sr = sf.read(path, dtype="float32", always_2d=True)
        y = y.T
    except Exception as exc:  # soundfile raises several types for unreadable files
        y, sr = _decode(path, exc, channel)
    y = _one_channel(y, channel, path)
    if y.size == 0:
        raise DataError(f"{path}: the recording is empty (0 samples)")
    if not np.all(np.isfinite(y)):
        raise DataError(f"{path}: the recording holds NaN or infinite samples")
    return y, int(sr)


def _audio_stream(container, path, sndfile_error):
    """The first sound track FFmpeg found in a file libsndfile could not read; one without a sample rate (FFmpeg
    guesses a format from the name of a text file saved as .flac) is no sound."""
    if not container.streams.audio:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "nothing"
        raise DataError(f"{path}: the file holds no sound track (only {kinds}); {UNREADABLE}")
    stream = container.streams.audio[0]
    if not stream.rate:
        raise DataError(
            f"{path}: cannot read audio ({type(sndfile_error).__name__}: {sndfile_error}; FFmpeg: no sample rate "
            f"in a {container.format.name} sound track); {UNREADABLE}"
        )
    return stream


def _decode(path, sndfile_error, channel):
    """Samples (float32, one row) and rate of the first sound track of a file libsndfile could not read, its
    channels reduced as ``data.channel`` says block by block, so that an hour's meeting is never held in
    every channel at once."""
    import av  # reason: start-up; only files libsndfile cannot read

    def one(block):
        return _one_channel(block, channel, path)[None, :]

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream = _audio_stream(container, path, sndfile_error)
            # planar float keeps every channel apart, so they are averaged as libsndfile's are
            resampler = av.AudioResampler(format="fltp", rate=stream.rate)
            blocks = [one(out.to_ndarray()) for frame in container.decode(stream) for out in resampler.resample(frame)]
            blocks += [one(out.to_ndarray()) for out in resampler.resample(None)]
            rate = stream.rate
    except av.FFmpegError as exc:
        raise DataError(
            f"{path}: cannot read audio ({type(sndfile_error).__name__}: {sndfile_error}; FFmpeg: {exc}); {UNREADABLE}"
        ) from None
    if not blocks:
        return np.zeros((1, 0), dtype=np.float32), rate
    return np.concatenate(blocks, axis=1).astype(np.float32, copy=False), rate


def _one_channel(y, channel, path):
    """The recording ``y`` (channels, samples) as one channel: their mean, or the one ``data.channel`` names
    (a mono recording, such as an enrolment clip beside two-channel calls, is its own channel)."""
    if channel == "mix" or y.shape[0] == 1:
        return y.mean(axis=0) if y.shape[1] else np.zeros(0, dtype=np.float32)
    if channel >= y.shape[0]:
        raise DataError(
            f"{path}: has {y.shape[0]} channel(s), so no channel {channel} (data.channel counts from 0); set "
            "data.channel: mix, or a channel the recordings have"
        )
    return y[channel]


def native_rate(path):
    """A recording's own sample rate (Hz), from its header."""
    import soundfile as sf  # start-up time: soundfile loads only when audio is read or written

    try:
        return int(sf.info(str(path)).samplerate)
    except Exception as exc:  # soundfile raises several types for unreadable files
        import av  # reason: start-up; only files libsndfile cannot read

        try:
            with av.open(str(path), metadata_errors="ignore") as container:
                return int(_audio_stream(container, path, exc).rate)
        except av.FFmpegError as err:
            raise DataError(
                f"{path}: cannot read audio ({type(exc).__name__}: {exc}; FFmpeg: {err}); {UNREADABLE}"
            ) from None


def common_rate(paths):
    """The most common sample rate of ``paths`` (the higher on a tie), and the count of each rate."""
    counts = Counter(native_rate(p) for p in paths)
    return max(counts, key=lambda r: (counts[r], r)), dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def _say_mixed_sources(cfg, files, rates):
    """Say so when the enrolment recordings come in several formats or sample rates while each keeps its spectral
    shape (``features.normalise: gain``): recorded through different devices or codecs, their channels differ,
    which removing each recording's mean and variance copes with better
    (``python benchmarks/bench_speakers_codecs.py``)."""
    kinds = Counter(Path(str(f)).suffix.lower() or "(none)" for f in files)
    if cfg.features.normalise != "gain" or (len(kinds) < 2 and len(rates) < 2):
        return
    seen = []
    if len(kinds) > 1:
        seen.append(f"{len(kinds)} formats ({', '.join(f'{k} x {n}' for k, n in kinds.most_common())})")
    if len(rates) > 1:
        seen.append(f"{len(rates)} sample rates")
    logger.info(
        "the enrolment recordings come in %s: if they were recorded through different devices or codecs, "
        "features.normalise: mean_variance removes each one's channel (steadier across codecs, weaker across words)",
        " and ".join(seen),
    )


def sample_rate(cfg, files):
    """The rate every recording is resampled to: ``data.sample_rate``, or with ``auto`` the most common rate of the
    enrolment recordings ``files`` (logged)."""
    if cfg.data.sample_rate != "auto":
        _say_mixed_sources(cfg, files, {})
        return int(cfg.data.sample_rate)
    rate, counts = common_rate(files)
    seen = ", ".join(f"{r} Hz x {n}" for r, n in counts.items())
    logger.info(
        "sample rate %d Hz: the enrolment recordings' most common (%s); every recording is resampled to it", rate, seen
    )
    _say_mixed_sources(cfg, files, counts)
    if not 4000 <= rate <= 96000:
        raise DataError(
            f"data.enrol: the recordings' most common sample rate is {rate} Hz; set data.sample_rate to "
            "a rate from 4000 to 96000 Hz to resample them to"
        )
    return rate
