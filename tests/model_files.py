"""Editing saved model files as a tamperer would (shared by the engine and the CLI safety tests)."""

import hashlib
import json

import numpy as np


def rewrite_npz(path, mutate, *, rechecksum=False, redigest=False):
    """Apply ``mutate(arrays, header)`` to a model file; optionally recompute its checksums to match.

    ``redigest`` recomputes each array's shape, dtype and SHA-256 in the header;
    ``rechecksum`` recomputes the header's own checksum.  Neither can forge a
    signature.
    """
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["__header__"].tobytes())
    mutate(arrays, header)
    if redigest:
        for name, spec in header["arrays"].items():
            a = arrays[name]
            spec.update(
                shape=list(a.shape),
                dtype=a.dtype.str,
                sha256=hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest(),
            )
    raw = json.dumps(header).encode()
    arrays["__header__"] = np.frombuffer(raw, dtype=np.uint8)
    if rechecksum:
        arrays["__checksum__"] = np.frombuffer(hashlib.sha256(raw).hexdigest().encode(), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def without_model_checksums(run):
    """The run folder as a gmm_apps that did not bind model files to their run wrote it (no ``model_sha256`` in its
    marker), so that a tampered file reaches the model's own checks instead of the run's checksum check."""
    from pathlib import Path

    marker_path = Path(run) / ".gmm_apps_run"
    marker = json.loads(marker_path.read_text())
    marker.pop("model_sha256", None)
    marker_path.write_text(json.dumps(marker))
    return run
