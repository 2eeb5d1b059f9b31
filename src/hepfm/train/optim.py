"""Optimisers (AdamW, Lion) and their parameter groups."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from hepfm.train.config import TrainConfig


class Lion(torch.optim.Optimizer):
    """Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms").

    ``update = sign(beta1 * m + (1 - beta1) * g)``; ``p -= lr * (update + wd * p)``;
    ``m = beta2 * m + (1 - beta2) * g``. Use a ~3-10x smaller lr than AdamW.
    """

    def __init__(self, params: Iterable, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                m = state["exp_avg"]
                p.mul_(1 - lr * wd)
                p.add_(torch.lerp(p.grad, m, beta1).sign_(), alpha=-lr)
                m.lerp_(p.grad, 1 - beta2)
        return loss


def _no_decay_names(model: nn.Module) -> set[str]:
    """Biases, norm scales (anything 0/1-D) and embedding tables get no weight decay."""
    names = {n for n, p in model.named_parameters() if p.ndim < 2}
    for mod_name, mod in model.named_modules():
        if isinstance(mod, nn.Embedding):
            names.update(f"{mod_name}.{n}" if mod_name else n for n, _ in mod.named_parameters(recurse=False))
    return names


def param_groups(model: nn.Module, cfg: TrainConfig, new_param_names: Iterable[str] = ()) -> list[dict]:
    """Trainable parameters split by (weight decay or not) x (newly initialised or loaded).

    Each group carries ``base_lr`` (``cfg.lr``, times ``cfg.new_param_lr_factor`` for new
    parameters), which the schedule scales, and a ``name`` for logs.
    """
    no_decay, new = _no_decay_names(model), set(new_param_names)
    groups: dict[tuple[bool, bool], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        key = (name not in no_decay, name in new)
        if key not in groups:
            lr = cfg.lr * (cfg.new_param_lr_factor if key[1] else 1.0)
            groups[key] = dict(params=[], param_names=[], weight_decay=cfg.weight_decay if key[0] else 0.0,
                               lr=lr, base_lr=lr, name=("new" if key[1] else "loaded") + ("" if key[0] else "-no-decay"))
        groups[key]["params"].append(p)
        groups[key]["param_names"].append(name)
    return [groups[k] for k in sorted(groups)]


def build_optimizer(model: nn.Module, cfg: TrainConfig, new_param_names: Iterable[str] = ()) -> torch.optim.Optimizer:
    """The optimizer named by ``cfg.optimizer`` over the trainable parameters of ``model``."""
    groups = param_groups(model, cfg, new_param_names)
    if not groups:
        raise ValueError("the model has no trainable parameters")
    if cfg.optimizer == "lion":
        return Lion(groups, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
