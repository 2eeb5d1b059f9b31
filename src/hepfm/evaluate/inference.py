"""Run a model over a loader and score every task it was trained on.

Unknown labels are skipped when scoring, with the training loop's convention: a class
label ``< 0`` or a regression label that is NaN means "not known for this event".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from hepfm.errors import InputError
from hepfm.evaluate.classification import classification_report
from hepfm.evaluate.predictions import Predictions
from hepfm.evaluate.regression import regression_report


def predict(
    model: torch.nn.Module,
    loader: Iterable[Mapping[str, Any]],
    tasks: Sequence[Any] | None = None,
    *,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> Predictions:
    """Inference over ``loader`` (batch dicts, see docs/internals.md) in eval mode, no grad.

    ``tasks`` are ``TaskSpec`` objects or task names (default: ``model.config.tasks``).
    ``outputs[task]`` holds softmax probabilities [N, C] for class tasks and values [N] for
    regression, ``labels[task]`` the batches' labels (where they carry them), ``event_ids``
    the batches' ``index`` if present, else ``0..N-1`` in loader order. The model's
    train/eval mode is restored afterwards.
    """
    specs = resolve_tasks(model, tasks)
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    outputs: dict[str, list[np.ndarray]] = {s.name: [] for s in specs}
    labels: dict[str, list[np.ndarray]] = {s.name: [] for s in specs}
    ids: list[np.ndarray] = []
    n_batches = 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for batch in tqdm(loader, desc="evaluate", unit="batch", disable=not progress, leave=False):
                batch = _to_device(batch, device)
                out = model(batch)
                n_batches += 1
                for spec in specs:
                    if spec.name not in out:
                        raise InputError("model outputs", f"no output for task {spec.name!r}; model gave {sorted(out)}")
                    y = out[spec.name].float()
                    y = torch.softmax(y, dim=-1) if spec.kind == "class" else y.reshape(len(y))
                    outputs[spec.name].append(y.cpu().numpy())
                    label = batch.get("labels", {}).get(spec.name)
                    if label is not None:
                        labels[spec.name].append(label.cpu().numpy())
                if "index" in batch:
                    ids.append(batch["index"].cpu().numpy())
    finally:
        model.train(was_training)
    if n_batches == 0:
        raise InputError("loader", "no batches to evaluate")
    for name, parts in [*labels.items(), ("index", ids)]:
        if parts and len(parts) != n_batches:
            raise InputError(f"batch:{name}", f"present in {len(parts)} of {n_batches} batches")
    merged = {k: np.concatenate(v) for k, v in outputs.items()}
    n = len(next(iter(merged.values())))
    return Predictions(
        outputs=merged,
        labels={k: np.concatenate(v) for k, v in labels.items() if v},
        event_ids=np.concatenate(ids).astype(np.int64) if ids else np.arange(n, dtype=np.int64),
    )


#: relative residuals by default when at least this fraction of the true values is positive
MIN_POSITIVE_FRACTION = 0.99


def task_metrics(
    predictions: Predictions,
    tasks: Sequence[Any],
    *,
    class_names: Mapping[str, Sequence[str]] | None = None,
    signal: Mapping[str, str | int] | None = None,
    relative: bool | None = None,
) -> dict[str, dict[str, Any]]:
    """A :func:`classification_report` / :func:`regression_report` per task that has labels.

    Events with unknown labels are left out. Regression residuals are relative,
    (pred − true)/true, when ``relative`` is True, absolute when False, and by default
    relative when at least 99 % of the known true values are positive (energy-like targets
    such as E_available); relative residuals leave out the events whose true value is not
    positive and count them in ``n_nonpositive_true``.
    """
    metrics: dict[str, dict[str, Any]] = {}
    for spec in tasks:
        if spec.name not in predictions.labels:
            continue
        pred, true = predictions.outputs[spec.name], predictions.labels[spec.name]
        known = true >= 0 if spec.kind == "class" else np.isfinite(true)
        if not np.any(known):
            metrics[spec.name] = {"n_events": 0, "n_unknown_label": len(true)}
        elif spec.kind == "class":
            names = (class_names or {}).get(spec.name)
            report = classification_report(pred[known], true[known], names, signal=(signal or {}).get(spec.name))
            metrics[spec.name] = {**report, "n_unknown_label": int(np.sum(~known))}
        else:
            positive = true[known] > 0
            rel = bool(np.mean(positive) >= MIN_POSITIVE_FRACTION) if relative is None else relative
            use = positive if rel else np.ones_like(positive)
            report = regression_report(pred[known][use], true[known][use], relative=rel)
            metrics[spec.name] = {**report, "n_unknown_label": int(np.sum(~known)),
                                  "n_nonpositive_true": int(np.sum(~use))}
    return metrics


def evaluate_model(
    model: torch.nn.Module,
    loader: Iterable[Mapping[str, Any]],
    tasks: Sequence[Any] | None = None,
    *,
    class_names: Mapping[str, Sequence[str]] | None = None,
    signal: Mapping[str, str | int] | None = None,
    relative: bool | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """:func:`predict` then :func:`task_metrics`: returns ``(outputs, labels, metrics)``."""
    specs = resolve_tasks(model, tasks)
    preds = predict(model, loader, specs, device=device, progress=progress)
    metrics = task_metrics(preds, specs, class_names=class_names, signal=signal, relative=relative)
    return preds.outputs, preds.labels, metrics


def resolve_tasks(model: torch.nn.Module, tasks: Sequence[Any] | None) -> list[Any]:
    """Task specs from ``tasks`` (specs or names looked up in ``model.config.tasks``)."""
    known = list(getattr(getattr(model, "config", None), "tasks", None) or [])
    if tasks is None:
        if not known:
            raise InputError("evaluate:tasks", "model.config.tasks is empty; pass tasks explicitly")
        return known
    by_name = {s.name: s for s in known}
    specs = []
    for t in tasks:
        if isinstance(t, str):
            if t not in by_name:
                raise InputError("evaluate:tasks", f"unknown task {t!r}; model has {sorted(by_name)}")
            t = by_name[t]
        specs.append(t)
    return specs


def _to_device(obj: Any, device: torch.device | str) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, Mapping):
        return {k: _to_device(v, device) for k, v in obj.items()}
    return obj
