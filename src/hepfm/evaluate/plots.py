"""Plots: ROC curves, confusion matrices, regression response, training curves.

Every function draws with the mplhep CMS style (no experiment label: these are not CMS
results), writes a PNG atomically and returns its path. Figures are built with
:class:`matplotlib.figure.Figure` directly, so no pyplot state or GUI backend is touched.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import matplotlib
import matplotlib.style
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

from hepfm.errors import InputError
from hepfm.evaluate.classification import roc_auc, roc_curve
from hepfm.evaluate.regression import binned_residual_stats
from hepfm.utils import atomic_path

log = logging.getLogger("hepfm.evaluate")

DPI = 100
F = TypeVar("F", bound=Callable[..., Path])


@functools.lru_cache(maxsize=1)
def _style() -> dict[str, Any]:
    import mplhep

    return dict(mplhep.style.CMS)


def hep_style() -> Any:
    """A context manager applying the HEP (mplhep CMS) plot style without touching global rcParams."""
    import matplotlib.pyplot as plt

    return plt.style.context(_style())


def _styled(fn: F) -> F:
    """Run ``fn`` inside the plotting style, without changing the global rcParams."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Path:
        with matplotlib.style.context(_style()):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")
    return path


def _set_scale(ax: Any, axis: str, log: bool) -> None:
    """Linear or log axis; on a log axis only decades are labelled (no crowded minor labels)."""
    getattr(ax, f"set_{axis}scale")("log" if log else "linear")
    if log:
        getattr(ax, f"{axis}axis").set_minor_formatter(matplotlib.ticker.NullFormatter())


def _colors() -> itertools.cycle:
    return itertools.cycle(matplotlib.rcParams["axes.prop_cycle"].by_key()["color"])


@_styled
def plot_roc(curves: Mapping[str, tuple[Any, Any]], path: str | os.PathLike, title: str | None = None) -> Path:
    """Background rejection 1/ε_B (log) against signal efficiency ε_S.

    ``curves`` maps a legend label to ``(scores, is_signal)``; the AUC goes in the legend.
    """
    fig = Figure(figsize=(10, 9))
    ax = fig.subplots()
    for label, (scores, is_signal) in curves.items():
        eff_s, eff_b, _ = roc_curve(scores, is_signal)
        keep = (eff_b > 0) & (eff_s > 0)
        ax.plot(eff_s[keep], 1.0 / eff_b[keep], label=f"{label} (AUC = {roc_auc(scores, is_signal):.4f})")
    grid = np.linspace(0.01, 1.0, 100)
    ax.plot(grid, 1.0 / grid, "k:", label="random")
    _set_scale(ax, "y", log=True)
    ax.set_xlim(0, 1)
    ax.set_xlabel(r"Signal efficiency $\varepsilon_S$")
    ax.set_ylabel(r"Background rejection $1/\varepsilon_B$")
    ax.legend(loc="upper right")
    if title:
        ax.set_title(title)
    return _save(fig, path)


@_styled
def plot_confusion(
    matrix: Any, class_names: Sequence[str], path: str | os.PathLike, normalize: bool = True, title: str | None = None
) -> Path:
    """Confusion matrix from ``[true, predicted]`` counts; ``normalize`` shows row fractions."""
    counts = np.asarray(matrix, dtype=np.float64)
    n = len(class_names)
    if counts.shape != (n, n):
        raise InputError("plot_confusion:matrix", f"shape {counts.shape}, expected ({n}, {n}) for {n} class names")
    with np.errstate(invalid="ignore", divide="ignore"):
        values = counts / counts.sum(axis=1, keepdims=True) if normalize else counts
    fig = Figure(figsize=(2.2 * n + 4, 2.2 * n + 2.5))
    ax = fig.subplots()
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=ax, label="fraction of true class" if normalize else "events")
    high = np.nanmax(values) if np.any(np.isfinite(values)) else 1.0
    for (i, j), v in np.ndenumerate(values):  # one text per cell
        text = "-" if not np.isfinite(v) else (f"{v:.2f}" if normalize else f"{int(v)}")
        ax.text(j, i, text, ha="center", va="center", color="white" if v > 0.6 * high else "black")
    ax.set_xticks(range(n), class_names, rotation=30, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.minorticks_off()
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    if title:
        ax.set_title(title)
    return _save(fig, path)


@_styled
def plot_response(
    results: Mapping[str, tuple[Any, Any]],
    path: str | os.PathLike,
    bins: int | Any = 10,
    relative: bool = True,
    xlabel: str = "True value",
    title: str | None = None,
) -> Path:
    """Bias (top) and resolution (bottom) of the residual against the true value.

    ``results`` maps a legend label to ``(pred, true)``. Filled markers are the robust
    estimates (median, half 16–84 % width), open markers the mean and standard deviation.
    """
    fig = Figure(figsize=(10, 11))
    top, bottom = fig.subplots(2, 1, sharex=True)
    what = r"$(\mathrm{pred} - \mathrm{true})/\mathrm{true}$" if relative else r"$\mathrm{pred} - \mathrm{true}$"
    for color, (label, (pred, true)) in zip(_colors(), results.items()):
        st = binned_residual_stats(pred, true, bins, relative)
        edges, x = st["edges"], st["centers"]
        xerr = np.vstack([x - edges[:-1], edges[1:] - x])
        for ax, robust, plain in ((top, "bias_median", "bias_mean"), (bottom, "resolution_q68", "resolution_std")):
            ax.errorbar(x, st[robust], xerr=xerr, fmt="o", color=color, label=label)
            ax.plot(x, st[plain], "s", mfc="none", color=color)
    top.axhline(0.0, color="k", ls=":")
    top.set_ylabel(f"Bias of {what}")
    bottom.set_ylabel(f"Resolution of {what}")
    bottom.set_xlabel(xlabel)
    bottom.set_ylim(bottom=0)
    bottom.plot([], [], "ko", label="median, half 16-84%")
    bottom.plot([], [], "ks", mfc="none", label="mean, std")
    bottom.legend(loc="lower right", fontsize="small", ncol=2)
    if title:
        top.set_title(title)
    return _save(fig, path)


def metric_curve(records: Sequence[Mapping[str, Any]], x: str = "flops", y: str = "val_loss") -> list[tuple[float, float]]:
    """``(x, y)`` pairs from training-log records (``metrics.jsonl``) that carry both keys."""
    return [(float(r[x]), float(r[y])) for r in records if r.get(x) is not None and r.get(y) is not None]


def curve_band(
    runs: Sequence[tuple[np.ndarray, np.ndarray]], logx: bool = True, band: str = "minmax", n_points: int = 200
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Mean and spread of several runs' ``(x, y)`` curves on a common x grid.

    Each run is interpolated (linearly in log x when ``logx``) onto ``n_points`` spanning the
    x range that *all* runs cover. ``band`` is ``"minmax"`` (every seed inside) or ``"std"``
    (mean ± standard deviation). Returns ``(x, mean, low, high)``, or ``None`` when the runs
    share no x range. A single run is returned at its own points.
    """
    if band not in ("minmax", "std"):
        raise InputError("curve_band:band", f"must be 'minmax' or 'std', got {band!r}")
    if len(runs) == 1:
        x, y = runs[0]
        return x, y, y, y
    start, stop = max(x[0] for x, _ in runs), min(x[-1] for x, _ in runs)
    if not start < stop:
        return None
    grid = np.geomspace(start, stop, n_points) if logx else np.linspace(start, stop, n_points)
    tr = np.log if logx else (lambda v: v)
    ys = np.stack([np.interp(tr(grid), tr(x), y) for x, y in runs])
    mean = ys.mean(axis=0)
    if band == "minmax":
        return grid, mean, ys.min(axis=0), ys.max(axis=0)
    std = ys.std(axis=0)
    return grid, mean, mean - std, mean + std


def _clean_run(run: Any, logx: bool, logy: bool, where: str) -> tuple[np.ndarray, np.ndarray]:
    """A run as sorted ``(x, y)``; non-finite points and non-positive values on log axes dropped."""
    arr = np.asarray(run, dtype=np.float64)
    if arr.size == 0:
        return np.empty(0), np.empty(0)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InputError(where, f"a run must be a list of (x, y) pairs, got shape {arr.shape}")
    keep = np.isfinite(arr).all(axis=1)
    if logx:
        keep &= arr[:, 0] > 0
    if logy:
        keep &= arr[:, 1] > 0
    if not keep.all():
        log.debug("%s: dropped %d of %d points (non-finite or not positive on a log axis)", where, (~keep).sum(), len(arr))
    arr = arr[keep]
    arr = arr[np.argsort(arr[:, 0], kind="stable")]
    return arr[:, 0], arr[:, 1]


@_styled
def plot_curves(
    groups: Mapping[str, Sequence[Any]],
    xlabel: str,
    ylabel: str,
    path: str | os.PathLike,
    logx: bool = True,
    logy: bool = False,
    band: str = "minmax",
    show_runs: bool = True,
    title: str | None = None,
) -> Path:
    """Overlay groups of runs (e.g. pretrained vs. random init), each as mean ± spread.

    ``groups`` maps a legend label to a list of runs (seeds); a run is a list of ``(x, y)``
    pairs, e.g. (cumulative FLOPs, validation AUC). Each group is drawn as the mean over
    runs with a shaded :func:`curve_band`, plus each run as a thin line if ``show_runs``.
    Points that cannot be drawn (NaN, or x ≤ 0 on a log axis such as FLOPs at step 0)
    are skipped.
    """
    fig = Figure(figsize=(11, 8))
    ax = fig.subplots()
    drawn = 0
    for color, (label, runs) in zip(_colors(), groups.items()):
        cleaned = [_clean_run(run, logx, logy, f"plot_curves:groups[{label!r}][{i}]") for i, run in enumerate(runs)]
        cleaned = [(x, y) for x, y in cleaned if len(x)]
        if not cleaned:
            log.warning("plot_curves: group %r has no drawable points", label)
            continue
        drawn += 1
        if show_runs and len(cleaned) > 1:
            for x, y in cleaned:
                ax.plot(x, y, color=color, lw=0.8, alpha=0.4)
        stats = curve_band(cleaned, logx, band)
        name = f"{label} ({len(cleaned)} runs)" if len(cleaned) > 1 else label
        if stats is None:  # runs share no x range: individual runs only
            ax.plot([], [], color=color, label=name)
            continue
        x, mean, low, high = stats
        ax.plot(x, mean, color=color, lw=2, label=name, marker="o" if len(x) == 1 else None)
        if len(cleaned) > 1:
            ax.fill_between(x, low, high, color=color, alpha=0.25, lw=0)
    if not drawn:
        raise InputError("plot_curves:groups", "nothing to draw (no group has a finite point)")
    _set_scale(ax, "x", logx)
    _set_scale(ax, "y", logy)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(title="mean, band: " + ("min-max" if band == "minmax" else r"$\pm 1\sigma$"), title_fontsize="small")
    if title:
        ax.set_title(title)
    return _save(fig, path)
