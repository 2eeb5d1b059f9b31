"""Regression metrics: bias and resolution of the residual, overall and in bins of the truth.

The residual is relative, ``(pred - true) / true`` (energy-like targets), or absolute,
``pred - true`` (targets that can be zero or negative, e.g. a vertex position).
For each set of events we report

* ``bias_mean`` and ``resolution_std``: mean and standard deviation of the residual;
* ``bias_median`` and ``resolution_q68``: the median and half the 16–84 % interquantile
  width, which equal the Gaussian mean and sigma but ignore tails and outliers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hepfm.errors import InputError
from hepfm.evaluate._util import as_float_array, check_same_length, jsonable

STAT_NAMES = ("n", "bias_mean", "resolution_std", "bias_median", "resolution_q68")


def residuals(pred: Any, true: Any, relative: bool = True) -> np.ndarray:
    """``(pred - true) / true`` if ``relative`` else ``pred - true``."""
    p = as_float_array(pred, "residuals:pred", ndim=1)
    t = as_float_array(true, "residuals:true", ndim=1)
    check_same_length("residuals", pred=p, true=t)
    if not relative:
        return p - t
    if np.any(t == 0):
        raise InputError("residuals:true", "relative residual needs non-zero true values; use relative=False")
    return (p - t) / t


def residual_stats(residual: np.ndarray) -> dict[str, float]:
    """Bias and resolution (plain and robust) of a 1-D residual array; NaN when empty."""
    r = np.asarray(residual, dtype=np.float64)
    if r.size == 0:
        return {"n": 0, **{k: float("nan") for k in STAT_NAMES[1:]}}
    q16, q50, q84 = np.quantile(r, [0.16, 0.5, 0.84])
    return {
        "n": int(r.size),
        "bias_mean": float(r.mean()),
        "resolution_std": float(r.std()),
        "bias_median": float(q50),
        "resolution_q68": float((q84 - q16) / 2),
    }


def bin_edges(true: np.ndarray, bins: int | Any) -> np.ndarray:
    """Edges from ``bins``: an int gives equal-population bins of ``true``, an array is used as is."""
    if np.ndim(bins) == 0:
        if int(bins) < 1:
            raise InputError("bins", f"need at least one bin, got {bins}")
        return np.unique(np.quantile(true, np.linspace(0.0, 1.0, int(bins) + 1)))
    edges = as_float_array(bins, "bins", ndim=1)
    if len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise InputError("bins", "edges must be at least two strictly increasing values")
    return edges


def binned_residual_stats(pred: Any, true: Any, bins: int | Any = 10, relative: bool = True) -> dict[str, np.ndarray]:
    """:func:`residual_stats` in bins of the true value; events outside the edges are dropped.

    Returns ``edges`` [K+1], ``centers`` [K] (mean true value in the bin, or the bin middle if
    empty) and one [K] array per statistic.
    """
    r = residuals(pred, true, relative)
    t = as_float_array(true, "true", ndim=1)
    edges = bin_edges(t, bins)
    index = np.searchsorted(edges, t, side="right") - 1
    index[t == edges[-1]] = len(edges) - 2  # the last bin includes its upper edge
    inside = (index >= 0) & (index < len(edges) - 1)
    index, r, t = index[inside], r[inside], t[inside]
    per_bin = [residual_stats(r[index == k]) for k in range(len(edges) - 1)]
    counts = np.bincount(index, minlength=len(edges) - 1)
    sums = np.bincount(index, weights=t, minlength=len(edges) - 1)
    middles = (edges[:-1] + edges[1:]) / 2
    out = {"edges": edges, "centers": np.divide(sums, counts, out=middles.copy(), where=counts > 0)}
    out.update({k: np.array([s[k] for s in per_bin]) for k in STAT_NAMES})
    return out


def regression_report(pred: Any, true: Any, bins: int | Any = 10, relative: bool = True) -> dict[str, Any]:
    """MSE, MAE, overall and binned bias/resolution as a JSON-friendly dict (NaN becomes ``None``)."""
    p = as_float_array(pred, "regression_report:pred", ndim=1)
    t = as_float_array(true, "regression_report:true", ndim=1)
    check_same_length("regression_report", pred=p, true=t)
    diff = p - t
    mse = float(np.mean(diff**2))
    return jsonable(
        {
            "n_events": len(t),
            "mse": mse,
            "rmse": float(np.sqrt(mse)),
            "mae": float(np.mean(np.abs(diff))),
            "residual": "relative" if relative else "absolute",
            "overall": residual_stats(residuals(p, t, relative)),
            "binned": binned_residual_stats(p, t, bins, relative),
        }
    )
