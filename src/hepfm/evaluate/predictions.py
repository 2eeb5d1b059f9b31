"""Predictions files: model outputs, true labels and event ids in one HDF5 file.

Layout: ``event_id`` [N] int64, ``outputs/<task>`` ([N, C] class probabilities or [N]
values), ``labels/<name>`` [N], and a root attribute ``hepfm_predictions`` (JSON:
format version, task and label names, free-form ``meta`` such as the model and data used).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hepfm.errors import InputError
from hepfm.evaluate._util import to_numpy
from hepfm.utils import atomic_path

FORMAT_VERSION = 1
ATTR = "hepfm_predictions"


@dataclass
class Predictions:
    """Contents of a predictions file."""

    outputs: dict[str, np.ndarray]
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    event_ids: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.event_ids) if self.event_ids is not None else len(next(iter(self.outputs.values())))


def write_predictions(
    path: str | os.PathLike,
    outputs: Mapping[str, Any],
    labels: Mapping[str, Any] | None = None,
    event_ids: Any = None,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write a predictions file atomically and return its path.

    ``event_ids`` defaults to ``0..N-1``; ``meta`` must be JSON-serialisable.
    Outputs must be finite; every array must have the same number of events.
    """
    path = Path(path)
    if not outputs:
        raise InputError(f"{path}:outputs", "no task outputs to write")
    out = {_check_name(k, f"{path}:outputs"): to_numpy(v) for k, v in outputs.items()}
    lab = {_check_name(k, f"{path}:labels"): to_numpy(v) for k, v in (labels or {}).items()}
    n = len(next(iter(out.values())))
    ids = np.arange(n, dtype=np.int64) if event_ids is None else to_numpy(event_ids).astype(np.int64)
    for group, arrays in (("outputs", out), ("labels", lab), ("event_id", {"": ids})):
        for name, arr in arrays.items():
            where = f"{path}:{group}/{name}".rstrip("/")
            if arr.ndim not in ((1,) if group == "event_id" else (1, 2)) or arr.shape[0] != n:
                raise InputError(where, f"shape {arr.shape}, expected ({n},) or ({n}, C)")
            if group == "outputs" and not np.all(np.isfinite(arr)):
                raise InputError(where, "non-finite value (NaN or inf) in model outputs")
    try:
        header = json.dumps({"version": FORMAT_VERSION, "tasks": list(out), "labels": list(lab), "meta": dict(meta or {})})
    except TypeError as err:
        raise InputError(f"{path}:meta", f"not JSON-serialisable ({err})") from None
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs[ATTR] = header
        f.create_dataset("event_id", data=ids)
        for group, arrays in (("outputs", out), ("labels", lab)):
            g = f.create_group(group)
            for name, arr in arrays.items():
                g.create_dataset(name, data=arr, compression="gzip" if arr.size > 4096 else None)
    return path


def read_predictions(path: str | os.PathLike) -> Predictions:
    """Read a file written by :func:`write_predictions`; bad files raise :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "predictions file not found")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise InputError(str(path), "not an HDF5 file, or truncated") from None
    with f:
        if ATTR not in f.attrs:
            raise InputError(f"{path}:{ATTR}", "attribute missing: not an hepfm predictions file")
        try:
            header = json.loads(f.attrs[ATTR])
            tasks, label_names, version = header["tasks"], header["labels"], int(header["version"])
        except (ValueError, KeyError, TypeError):
            raise InputError(f"{path}:{ATTR}", "corrupt header (not the expected JSON)") from None
        if version > FORMAT_VERSION:
            raise InputError(f"{path}:{ATTR}", f"format version {version}, this hepfm reads up to {FORMAT_VERSION}")
        ids = _read(f, "event_id", path)
        outputs = {t: _read(f, f"outputs/{t}", path) for t in tasks}
        labels = {t: _read(f, f"labels/{t}", path) for t in label_names}
    for group, arrays in (("outputs", outputs), ("labels", labels)):
        for name, arr in arrays.items():
            if arr.shape[:1] != ids.shape:
                raise InputError(f"{path}:{group}/{name}", f"{arr.shape[0] if arr.ndim else 0} events, event_id has {len(ids)}")
    return Predictions(outputs=outputs, labels=labels, event_ids=ids, meta=header.get("meta", {}))


def _read(f: h5py.File, key: str, path: Path) -> np.ndarray:
    if key not in f:
        raise InputError(f"{path}:{key}", "dataset missing")
    try:
        return np.asarray(f[key][()])
    except OSError:
        raise InputError(f"{path}:{key}", "dataset unreadable (truncated or corrupt file)") from None


def _check_name(name: str, where: str) -> str:
    if not isinstance(name, str) or not name or "/" in name or name == ".":
        raise InputError(where, f"bad task/label name {name!r} (must be a non-empty string without '/')")
    return name
