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
    """Mean loss (``val_loss``, ``val_loss_<task>``) and accuracy of class tasks (``val_acc_<task>``).

    Over every batch of ``loader`` and, under DDP, over all ranks. ``tasks`` defaults to
    ``model.config.tasks``; missing labels (class < 0, NaN regression) are not counted.
    """
    ctx = ctx or distributed.Context(device=next(model.parameters()).device)
    tasks = list(model.config.tasks if tasks is None else tasks)
    was_training = model.training
    model.eval()
    sums = torch.zeros(2 + 3 * len(tasks), dtype=torch.float64, device=ctx.device)
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
    return result


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a (nested) batch dict to ``device``."""
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch.to(device, non_blocking=True) if torch.is_tensor(batch) else batch
