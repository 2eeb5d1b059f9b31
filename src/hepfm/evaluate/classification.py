"""Classification metrics: ROC/AUC, working points, background rejection, confusion matrix.

Conventions (as in jet-tagging papers):

* an event is *selected* when ``score >= threshold``;
* signal efficiency ε_S = selected signal / all signal, background efficiency ε_B likewise,
  background rejection = 1/ε_B, purity = selected signal / all selected. Purity depends on
  the signal fraction of the sample it is measured on; efficiencies and rejection do not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hepfm.errors import InputError
from hepfm.evaluate._util import as_float_array, as_int_array, check_same_length, jsonable

DEFAULT_EFFICIENCIES = (0.5, 0.3)


def _binary_inputs(scores: Any, is_signal: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    s = as_float_array(scores, f"{where}:scores", ndim=1)
    y = as_int_array(is_signal, f"{where}:is_signal", 0, 2).astype(bool)
    check_same_length(where, scores=s, is_signal=y)
    n_sig = int(y.sum())
    if n_sig == 0 or n_sig == len(y):
        raise InputError(f"{where}:is_signal", "need both signal and background events")
    return s, y


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x``; tied values share the mean of their ranks."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], len(x)]
    mean_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def roc_auc(scores: Any, is_signal: Any) -> float:
    """Exact area under the ROC curve (Mann–Whitney U); ties count one half."""
    s, y = _binary_inputs(scores, is_signal, "roc_auc")
    n_sig, n_bkg = int(y.sum()), int((~y).sum())
    rank_sum = average_ranks(s)[y].sum()
    return float((rank_sum - n_sig * (n_sig + 1) / 2.0) / (n_sig * n_bkg))


def roc_curve(scores: Any, is_signal: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC points ``(eff_sig, eff_bkg, thresholds)``, one per distinct score, loosest last.

    The first point is ``(0, 0, +inf)`` (nothing selected); the last is ``(1, 1, min score)``.
    """
    s, y = _binary_inputs(scores, is_signal, "roc_curve")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last_of_group = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]
    n_sig_sel = np.cumsum(y)[last_of_group]
    n_bkg_sel = (last_of_group + 1) - n_sig_sel
    eff_sig = np.r_[0.0, n_sig_sel / y.sum()]
    eff_bkg = np.r_[0.0, n_bkg_sel / (~y).sum()]
    return eff_sig, eff_bkg, np.r_[np.inf, s[last_of_group]]


def background_rejection(scores: Any, is_signal: Any, signal_efficiency: float | Sequence[float] = 0.5) -> Any:
    """1/ε_B at the given ε_S (a float or a sequence), interpolating linearly along the ROC curve.

    Returns ``inf`` where no background survives. The interpolation is the usual jet-tagging
    convention; :func:`working_point` instead picks an actual score threshold.
    """
    targets = np.atleast_1d(np.asarray(signal_efficiency, dtype=np.float64))
    if np.any(~(targets > 0)) or np.any(targets > 1):
        raise InputError("background_rejection:signal_efficiency", f"must lie in (0, 1], got {targets.tolist()}")
    eff_sig, eff_bkg, _ = roc_curve(scores, is_signal)
    i = np.searchsorted(eff_sig, targets, side="left")  # first point with eff_sig >= target; i >= 1
    x0, x1, y0, y1 = eff_sig[i - 1], eff_sig[i], eff_bkg[i - 1], eff_bkg[i]
    eff_b = y0 + (y1 - y0) * (targets - x0) / (x1 - x0)
    with np.errstate(divide="ignore"):
        rejection = 1.0 / eff_b
    return float(rejection[0]) if np.ndim(signal_efficiency) == 0 else rejection


@dataclass(frozen=True)
class WorkingPoint:
    """A score threshold and what it selects (``score >= threshold``)."""

    threshold: float
    signal_efficiency: float
    background_efficiency: float
    purity: float
    background_rejection: float

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


def working_point(
    scores: Any,
    is_signal: Any,
    *,
    threshold: float | None = None,
    signal_efficiency: float | None = None,
    maximize: str = "youden",
) -> WorkingPoint:
    """Efficiency, purity and rejection at one working point.

    Give ``threshold`` to use it as is, or ``signal_efficiency`` for the tightest threshold
    whose ε_S reaches the target. With neither, the threshold maximises ``maximize``:

    * ``"youden"`` (default): ε_S − ε_B, the ROC point farthest from a random guess. It does
      not depend on the signal fraction of the sample, so it transfers between samples;
    * ``"efficiency_purity"``: ε_S × purity. It depends on the signal fraction and, for a
      weak classifier on a signal-rich sample, can mean selecting everything.
    """
    if threshold is not None and signal_efficiency is not None:
        raise InputError("working_point", "give threshold or signal_efficiency, not both")
    if maximize not in ("youden", "efficiency_purity"):
        raise InputError("working_point:maximize", f"must be 'youden' or 'efficiency_purity', got {maximize!r}")
    s, y = _binary_inputs(scores, is_signal, "working_point")
    if threshold is None:
        eff_sig, eff_bkg, thresholds = roc_curve(s, y)
        if signal_efficiency is not None:
            if not 0 < signal_efficiency <= 1:
                raise InputError("working_point:signal_efficiency", f"must lie in (0, 1], got {signal_efficiency}")
            i = int(np.searchsorted(eff_sig, signal_efficiency - 1e-12, side="left"))
        elif maximize == "youden":
            i = 1 + int(np.argmax(eff_sig[1:] - eff_bkg[1:]))
        else:
            n_sig_sel, n_bkg_sel = eff_sig[1:] * y.sum(), eff_bkg[1:] * (~y).sum()
            i = 1 + int(np.argmax(eff_sig[1:] * n_sig_sel / (n_sig_sel + n_bkg_sel)))
        threshold = float(thresholds[i])
    selected = s >= threshold
    n_sig_sel, n_bkg_sel = int(np.sum(selected & y)), int(np.sum(selected & ~y))
    eff_b = n_bkg_sel / int((~y).sum())
    return WorkingPoint(
        threshold=float(threshold),
        signal_efficiency=n_sig_sel / int(y.sum()),
        background_efficiency=eff_b,
        purity=n_sig_sel / (n_sig_sel + n_bkg_sel) if n_sig_sel + n_bkg_sel else float("nan"),
        background_rejection=1.0 / eff_b if eff_b > 0 else float("inf"),
    )


def _multiclass_inputs(probs: Any, labels: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    p = as_float_array(probs, f"{where}:probs", ndim=2)
    if p.shape[1] < 2:
        raise InputError(f"{where}:probs", f"need at least two class columns, got shape {p.shape}")
    y = as_int_array(labels, f"{where}:labels", 0, p.shape[1])
    check_same_length(where, probs=p, labels=y)
    return p, y


def accuracy(probs: Any, labels: Any) -> float:
    """Fraction of events whose highest-probability class is the true class."""
    p, y = _multiclass_inputs(probs, labels, "accuracy")
    return float(np.mean(p.argmax(axis=1) == y))


def confusion_matrix(labels: Any, predicted: Any, num_classes: int, normalize: bool = False) -> np.ndarray:
    """``[true, predicted]`` counts; with ``normalize`` each row sums to 1 (NaN for an empty row)."""
    y = as_int_array(labels, "confusion_matrix:labels", 0, num_classes)
    yp = as_int_array(predicted, "confusion_matrix:predicted", 0, num_classes)
    check_same_length("confusion_matrix", labels=y, predicted=yp)
    counts = np.bincount(y * num_classes + yp, minlength=num_classes**2).reshape(num_classes, num_classes)
    if not normalize:
        return counts
    rows = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return counts / rows


def one_vs_rest_auc(probs: Any, labels: Any) -> np.ndarray:
    """AUC of each class's probability, that class against all others; NaN for an absent class."""
    p, y = _multiclass_inputs(probs, labels, "one_vs_rest_auc")
    present = np.bincount(y, minlength=p.shape[1])
    return np.array(
        [roc_auc(p[:, c], y == c) if 0 < present[c] < len(y) else np.nan for c in range(p.shape[1])]
    )


def signal_scores(probs: np.ndarray, labels: np.ndarray, signal: int, background: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Scores and truth for ``signal`` against the ``background`` classes.

    With all other classes as background the score is ``p_signal``; with a subset it is
    ``p_s / (p_s + Σ p_b)`` on the events of those classes only (the ParticleNet/ParT convention).
    """
    background = list(background)
    keep = np.isin(labels, [signal, *background])
    p, y = probs[keep], labels[keep]
    p_sig = p[:, signal]
    if len(background) == probs.shape[1] - 1:
        return p_sig, y == signal
    denom = p_sig + p[:, background].sum(axis=1)
    return np.divide(p_sig, denom, out=np.full_like(p_sig, 0.5), where=denom > 0), y == signal


def classification_report(
    probs: Any,
    labels: Any,
    class_names: Sequence[str] | None = None,
    signal: str | int | None = None,
    background: Sequence[str | int] | None = None,
    efficiencies: Sequence[float] = DEFAULT_EFFICIENCIES,
) -> dict[str, Any]:
    """All classification metrics as a JSON-friendly dict (NaN/inf become ``None``).

    ``signal`` (name or index) adds a signal-vs-background section: event counts, AUC, the
    default :func:`working_point` (max ε_S − ε_B), and the working point and 1/ε_B at each
    ε_S of ``efficiencies`` (the metrics are left out if signal or background has no events).
    It defaults to class 1 for two classes. ``background`` restricts the background classes.
    """
    p, y = _multiclass_inputs(probs, labels, "classification_report")
    n_classes = p.shape[1]
    names = [str(c) for c in (class_names if class_names is not None else range(n_classes))]
    if len(names) != n_classes:
        raise InputError("classification_report:class_names", f"{len(names)} names for {n_classes} classes")
    aucs = one_vs_rest_auc(p, y)
    report: dict[str, Any] = {
        "n_events": len(y),
        "classes": names,
        "class_counts": np.bincount(y, minlength=n_classes),
        "accuracy": float(np.mean(p.argmax(axis=1) == y)),
        "auc": dict(zip(names, aucs)),
        "auc_macro": float(np.nanmean(aucs)) if np.any(np.isfinite(aucs)) else float("nan"),
        "confusion": confusion_matrix(y, p.argmax(axis=1), n_classes),
        "confusion_normalized": confusion_matrix(y, p.argmax(axis=1), n_classes, normalize=True),
    }
    if signal is None and n_classes == 2:
        signal = 1
    if signal is not None:
        report["signal"] = _signal_section(p, y, names, signal, background, efficiencies)
    return jsonable(report)


def _signal_section(
    p: np.ndarray, y: np.ndarray, names: list[str], signal: str | int,
    background: Sequence[str | int] | None, efficiencies: Sequence[float],
) -> dict[str, Any]:
    sig = _class_index(signal, names, "signal")
    bkg = [_class_index(b, names, "background") for b in background] if background else [c for c in range(len(names)) if c != sig]
    if sig in bkg or not bkg:
        raise InputError("classification_report:background", "must be non-empty and must not contain the signal class")
    s, is_sig = signal_scores(p, y, sig, bkg)
    section: dict[str, Any] = {
        "class": names[sig],
        "background": [names[b] for b in bkg],
        "n_signal": int(is_sig.sum()),
        "n_background": int((~is_sig).sum()),
    }
    if not 0 < is_sig.sum() < len(is_sig):  # e.g. a test set without background: nothing to measure
        return section
    return section | {
        "auc": roc_auc(s, is_sig),
        "working_point": {"maximize": "youden", **working_point(s, is_sig).to_dict()},
        "at_efficiency": {f"{e:g}": working_point(s, is_sig, signal_efficiency=e).to_dict() for e in efficiencies},
        "rejection": {f"{e:g}": r for e, r in zip(efficiencies, background_rejection(s, is_sig, list(efficiencies)))},
    }


def _class_index(cls: str | int, names: list[str], what: str) -> int:
    if isinstance(cls, (int, np.integer)) and not isinstance(cls, bool):
        if 0 <= cls < len(names):
            return int(cls)
    elif str(cls) in names:
        return names.index(str(cls))
    raise InputError(f"classification_report:{what}", f"unknown class {cls!r}; classes are {names}")
