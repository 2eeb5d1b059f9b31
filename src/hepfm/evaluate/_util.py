"""Input checks and JSON conversion shared by the metric modules."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hepfm.errors import InputError


def as_float_array(x: Any, where: str, ndim: int) -> np.ndarray:
    """``x`` as a finite float64 array with ``ndim`` dimensions, else :class:`InputError`."""
    arr = to_numpy(x)
    if arr.ndim != ndim:
        raise InputError(where, f"expected a {ndim}-D array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != np.bool_:
        raise InputError(where, f"expected numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(where, f"non-finite value (NaN or inf) at index {tuple(int(i) for i in bad)}")
    return arr


def as_int_array(x: Any, where: str, low: int, high: int) -> np.ndarray:
    """``x`` as a 1-D int64 array of whole numbers in ``[low, high)``, else :class:`InputError`."""
    arr = to_numpy(x)
    if arr.ndim != 1:
        raise InputError(where, f"expected a 1-D array, got shape {arr.shape}")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.int64)
    elif not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise InputError(where, f"expected integer class indices, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < low or arr.max() >= high):
        raise InputError(where, f"values must lie in [{low}, {high - 1}], found [{arr.min()}, {arr.max()}]")
    return arr


def check_same_length(where: str, **arrays: np.ndarray) -> int:
    """The common first dimension of ``arrays``; :class:`InputError` if they differ or are empty."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise InputError(where, f"arrays have different lengths {lengths}")
    n = next(iter(lengths.values()))
    if n == 0:
        raise InputError(where, "no events")
    return n


def jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays to Python values; NaN and inf become ``None`` (strict JSON)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)
