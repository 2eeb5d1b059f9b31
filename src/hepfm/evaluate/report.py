"""Evaluate a checkpoint on a dataset: predictions file, metrics.json and plots in one folder.

Layout of ``out``::

    predictions.h5            outputs, labels, event ids (see hepfm.evaluate.predictions)
    metrics.json              {task: classification_report / regression_report}
    plots/<task>_roc.png      class tasks: signal (or one-vs-rest) ROC curves
    plots/<task>_confusion.png
    plots/<task>_response.png regression tasks: bias and resolution vs true value
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hepfm.errors import InputError
from hepfm.evaluate.classification import signal_scores
from hepfm.evaluate.inference import predict, task_metrics
from hepfm.evaluate.plots import plot_confusion, plot_response, plot_roc
from hepfm.evaluate.predictions import Predictions, write_predictions
from hepfm.utils import atomic_path


def write_report(
    predictions: Predictions,
    tasks: Sequence[Any],
    out: str | os.PathLike,
    *,
    class_names: Mapping[str, Sequence[str]] | None = None,
    signal: Mapping[str, str | int] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Score ``predictions`` (see :func:`task_metrics`), write predictions, metrics and plots."""
    out = Path(out)
    metrics = task_metrics(predictions, tasks, class_names=class_names, signal=signal)
    write_predictions(out / "predictions.h5", predictions.outputs, predictions.labels, predictions.event_ids, meta=meta)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n")
    for spec in tasks:
        m = metrics.get(spec.name)
        if not m or not m.get("n_events"):
            continue
        pred, true = predictions.outputs[spec.name], predictions.labels[spec.name]
        if spec.kind == "class":
            known = true >= 0
            _class_plots(spec.name, pred[known], true[known], m, out / "plots")
        else:
            known = np.isfinite(true)
            plot_response({spec.name: (pred[known], true[known])}, out / "plots" / f"{spec.name}_response.png",
                          relative=m["residual"] == "relative", xlabel=f"True {spec.name}")
    return metrics


def _class_plots(name: str, probs: np.ndarray, labels: np.ndarray, m: dict[str, Any], folder: Path) -> None:
    classes = m["classes"]
    plot_confusion(m["confusion"], classes, folder / f"{name}_confusion.png", title=name)
    if "auc" in m.get("signal", {}):
        sig, bkg = classes.index(m["signal"]["class"]), [classes.index(b) for b in m["signal"]["background"]]
        curves = {f"{classes[sig]} vs {'+'.join(m['signal']['background'])}": signal_scores(probs, labels, sig, bkg)}
    else:
        curves = {f"{c} vs rest": (probs[:, i], labels == i) for i, c in enumerate(classes) if 0 < np.sum(labels == i) < len(labels)}
    if curves:
        plot_roc(curves, folder / f"{name}_roc.png", title=name)


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    batch_size: int = 256,
    max_tokens: int | None = 128,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """Load a checkpoint folder, predict on dataset ``data`` and :func:`write_report` into ``out``."""
    from hepfm.data import EventLoader, open_events
    from hepfm.models import HepModel

    model, load = HepModel.from_pretrained(checkpoint)
    if load.new or load.skipped:
        raise InputError(str(checkpoint), f"weights do not match config.json ({str(load).splitlines()[0]})")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(device)
    tasks = list(model.config.tasks)
    present = {spec.name: spec for spec in open_events(data).schema.labels}
    for task in tasks:
        spec = present.get(task.name)
        if spec is not None and (spec.kind != task.kind or (task.kind == "class" and spec.num_classes != task.num_classes)):
            raise InputError(f"{data}:labels/{task.name}", f"dataset label is {spec.kind} with {spec.num_classes} classes, "
                             f"the model's task is {task.kind} with {task.num_classes}")
    loader = EventLoader(data, batch_size, shuffle=False, max_tokens=max_tokens,
                         labels=[t.name for t in tasks if t.name in present], with_index=True)
    preds = predict(model, loader, tasks, device=device, progress=progress)
    class_names = {t.name: list(present[t.name].classes) for t in tasks if t.name in present and t.kind == "class"}
    meta = {"checkpoint": str(checkpoint), "data": str(data), "max_tokens": max_tokens,
            "model": model.config.to_dict()}
    return write_report(preds, tasks, out, class_names=class_names, meta=meta)
