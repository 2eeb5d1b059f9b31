"""Learning-rate schedule: linear warm-up, then cosine decay (or constant).

A pure function of the step, so resuming needs nothing but the step count.
"""

from __future__ import annotations

import math

import torch

from hepfm.train.config import TrainConfig


def warmup_steps(cfg: TrainConfig, total_steps: int) -> int:
    return cfg.warmup_steps if cfg.warmup_steps else int(round(cfg.warmup_fraction * total_steps))


def lr_factor(step: int, cfg: TrainConfig, total_steps: int) -> float:
    """Multiplier of the base learning rate for optimizer step ``step`` (0-based)."""
    warm = warmup_steps(cfg, total_steps)
    if step < warm:
        return (step + 1) / warm
    if cfg.schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warm) / max(1, total_steps - warm))
    return cfg.min_lr_factor + (1 - cfg.min_lr_factor) * 0.5 * (1 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, step: int, cfg: TrainConfig, total_steps: int) -> float:
    """Set every group's lr to ``base_lr * lr_factor``; return the factor times ``cfg.lr``."""
    factor = lr_factor(step, cfg, total_steps)
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
    return cfg.lr * factor
