"""Evaluation: metrics (numpy only), predictions files, plots and model inference.

>>> from hepfm.evaluate import roc_auc
>>> roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
0.75

The metric functions import only numpy; ``plots`` (matplotlib), ``inference`` (torch) and
``predictions`` (h5py) and ``report`` are imported on first use of one of their names.
"""

from __future__ import annotations

import importlib
from typing import Any

from hepfm.evaluate.classification import (
    WorkingPoint,
    accuracy,
    background_rejection,
    classification_report,
    confusion_matrix,
    one_vs_rest_auc,
    roc_auc,
    roc_curve,
    working_point,
)
from hepfm.evaluate.regression import binned_residual_stats, regression_report, residual_stats, residuals

_LAZY = {
    "Predictions": "predictions",
    "read_predictions": "predictions",
    "write_predictions": "predictions",
    "plot_roc": "plots",
    "plot_confusion": "plots",
    "plot_response": "plots",
    "plot_curves": "plots",
    "curve_band": "plots",
    "metric_curve": "plots",
    "evaluate_model": "inference",
    "predict": "inference",
    "task_metrics": "inference",
    "evaluate_checkpoint": "report",
    "write_report": "report",
}

__all__ = [
    "WorkingPoint",
    "accuracy",
    "background_rejection",
    "binned_residual_stats",
    "classification_report",
    "confusion_matrix",
    "one_vs_rest_auc",
    "regression_report",
    "residual_stats",
    "residuals",
    "roc_auc",
    "roc_curve",
    "working_point",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"hepfm.evaluate.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'hepfm.evaluate' has no attribute {name!r}")
