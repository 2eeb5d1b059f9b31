"""Validation: mean losses and accuracies of a model over a loader (summed over DDP ranks)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from hepfm.errors import InputError
from hepfm.models import compute_losses
from hepfm.train import distributed


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable[dict], tasks: Iterable[Any] | None = None, *,
             ctx: distributed.Context | None = None, amp: Any = None) -> dict[str, float]:
    """Mean loss (``val_loss``, ``val_loss_<task>``), accuracy and AUC of class tasks (``val_acc_<task>``, ``val_auc_<task>``).

    ``val_auc_<task>`` is the AUC of class 1 for a binary task and the mean one-vs-rest AUC
    otherwise (classes absent from the validation set left out).

    Over every batch of ``loader`` and, under DDP, over all ranks. ``tasks`` defaults to
    ``model.config.tasks``; missing labels (class < 0, NaN regression) are not counted.
    """
    ctx = ctx or distributed.Context(device=next(model.parameters()).device)
    tasks = list(model.config.tasks if tasks is None else tasks)
    was_training = model.training
    model.eval()
    sums = torch.zeros(2 + 3 * len(tasks), dtype=torch.float64, device=ctx.device)
    scores: dict[str, list[tuple[Any, Any]]] = {t.name: [] for t in tasks if t.kind == "class"}
    for batch in loader:
        batch = to_device(batch, ctx.device)
        with amp or contextlib.nullcontext():
            outputs = model(batch)
        total, per_task = compute_losses(tasks, outputs, batch["labels"])
        n = batch["mask"].shape[0]
        row = [total.double() * n, n]
        for task in tasks:
            label = batch["labels"][task.name]
            known = (label >= 0) if task.kind == "class" else ~torch.isnan(label)
            correct = (outputs[task.name].argmax(-1) == label)[known].sum() if task.kind == "class" else 0
            if task.kind == "class":
                probs = torch.softmax(outputs[task.name].float()[known], -1)
                scores[task.name].append((probs.cpu().numpy(), label[known].long().cpu().numpy()))
            row += [per_task[task.name].double() * known.sum(), known.sum(), correct]
        sums += torch.stack([torch.as_tensor(v, dtype=torch.float64, device=ctx.device) for v in row])
    model.train(was_training)
    if ctx.distributed:
        torch.distributed.all_reduce(sums)
    sums = sums.tolist()
    if not sums[1]:
        raise InputError("val loader", "yielded no batches")
    result = {"val_loss": sums[0] / max(sums[1], 1)}
    for i, task in enumerate(tasks):
        loss, known, correct = sums[2 + 3 * i : 5 + 3 * i]
        result[f"val_loss_{task.name}"] = loss / max(known, 1)
        if task.kind == "class":
            result[f"val_acc_{task.name}"] = correct / max(known, 1)
            auc = _auc(scores[task.name], ctx)
            if auc is not None:
                result[f"val_auc_{task.name}"] = auc
    return result


def _auc(parts: list[tuple[Any, Any]], ctx: distributed.Context) -> float | None:
    """AUC over the (probabilities, labels) batches of all ranks (None without both classes)."""
    import numpy as np

    from hepfm.evaluate.classification import one_vs_rest_auc, roc_auc

    if ctx.distributed:
        gathered: list[Any] = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(gathered, parts)
        parts = [p for rank_parts in gathered for p in rank_parts]
    if not parts:
        return None
    probs = np.concatenate([p for p, _ in parts])
    labels = np.concatenate([y for _, y in parts])
    if len(np.unique(labels)) < 2:
        return None
    if probs.shape[1] == 2:
        return float(roc_auc(probs[:, 1], labels == 1))
    return float(np.nanmean(one_vs_rest_auc(probs, labels)))


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a (nested) batch dict to ``device``."""
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch.to(device, non_blocking=True) if torch.is_tensor(batch) else batch
