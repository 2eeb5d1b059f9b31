"""Task heads and their losses.

A classification head returns logits [B, C]; a regression head returns values [B].
Missing labels are allowed: class labels < 0 and NaN regression labels are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hepfm.errors import InputError
from hepfm.models.config import TaskSpec


class Head(nn.Module):
    """Representation [B, D] -> task output: optional hidden layer, then a linear map."""

    def __init__(self, task: TaskSpec, dim: int, hidden: int = 0) -> None:
        super().__init__()
        self.kind = task.kind
        if hidden:
            self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, task.out_dim))
        else:
            self.net = nn.Sequential(nn.Linear(dim, task.out_dim))

    def forward(self, rep: Tensor) -> Tensor:
        out = self.net(rep)
        return out.squeeze(-1) if self.kind == "regression" else out


def make_heads(tasks: Iterable[TaskSpec], dim: int, hidden: int = 0) -> nn.ModuleDict:
    """One head per task, keyed by task name."""
    heads = nn.ModuleDict()
    for task in tasks:
        if task.name in heads or hasattr(heads, task.name):
            raise InputError(f"tasks.{task.name}", "task name clashes with another task or a reserved name")
        heads[task.name] = Head(task, dim, hidden)
    return heads


def task_loss(task: TaskSpec, output: Tensor, label: Tensor) -> Tensor:
    """Mean loss of one task over the events that have a label."""
    where = f"labels.{task.name}"
    if label.shape[0] != output.shape[0] or label.ndim != 1:
        raise InputError(where, f"expected shape ({output.shape[0]},), got {tuple(label.shape)}")
    if task.kind == "class":
        label = label.long()
        known = label >= 0
        if bool((label >= task.num_classes).any()):
            raise InputError(where, f"class labels must be < num_classes={task.num_classes}, got {int(label.max())}")
        if not bool(known.any()):
            return output.sum() * 0.0
        return F.cross_entropy(output.float()[known], label[known])
    label = label.to(torch.float32)
    known = ~torch.isnan(label)
    if not bool(known.any()):
        return output.sum() * 0.0
    pred, target = output.float()[known], label[known]
    if task.loss == "mse":
        return F.mse_loss(pred, target)
    if task.loss == "l1":
        return F.l1_loss(pred, target)
    return F.huber_loss(pred, target)


def compute_losses(
    tasks: Iterable[TaskSpec], outputs: Mapping[str, Tensor], labels: Mapping[str, Tensor]
) -> tuple[Tensor, dict[str, Tensor]]:
    """Weighted total loss and the per-task losses (each a mean over labelled events)."""
    losses: dict[str, Tensor] = {}
    total: Tensor | None = None
    for task in tasks:
        if task.name not in outputs:
            raise InputError(f"outputs.{task.name}", "the model has no head for this task")
        if task.name not in labels:
            raise InputError(f"labels.{task.name}", f"missing label; the batch has {sorted(labels)}")
        loss = task_loss(task, outputs[task.name], labels[task.name])
        losses[task.name] = loss
        total = loss * task.weight if total is None else total + loss * task.weight
    if total is None:
        raise InputError("tasks", "no tasks to compute a loss for")
    return total, losses
