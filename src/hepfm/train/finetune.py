"""Fine-tuning strategies: which parameters train when a pretrained backbone moves to a new task.

* ``full``: everything trains.
* ``linear-probe``: the transferable parameters (``model.transferable_prefixes()``) are
  frozen; heads and task-specific input branches train.
* ``adapter``: as linear-probe, plus zero-initialised bottleneck adapters after every
  backbone block (``model.add_adapters``), which train. A model that has adapters
  already (strategy applied before, or loaded from an adapter run) gets no second set.
* ``last-k``: as linear-probe, plus the last ``k`` blocks of ``model.backbone.blocks`` and the
  backbone's pooling after them (``model.backbone.pool``, where the backbone has one).

In every strategy, parameters listed in ``new_param_names`` (newly initialised, e.g. a
token-type embedding whose vocabulary changed) train: a frozen random tensor helps nobody.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from torch import nn

from hepfm.errors import InputError
from hepfm.train.config import STRATEGIES


@dataclass(frozen=True)
class StrategySummary:
    strategy: str
    trainable: int  # number of trainable scalars
    frozen: int
    added: tuple[str, ...] = ()  # names of parameters the strategy created (adapters)

    def __str__(self) -> str:
        total = self.trainable + self.frozen
        added = f", {len(self.added)} adapter tensors added" if self.added else ""
        return (f"strategy {self.strategy}: {self.trainable:,} trainable / {total:,} parameters "
                f"({100 * self.trainable / max(total, 1):.1f}%){added}")


def apply_strategy(model: nn.Module, strategy: str = "full", last_k: int = 1, adapter_bottleneck: int = 16,
                   new_param_names: Iterable[str] = ()) -> StrategySummary:
    """Set ``requires_grad`` on ``model``'s parameters for ``strategy`` (adding adapters if asked)."""
    if strategy not in STRATEGIES:
        raise InputError("train.strategy", f"must be one of {list(STRATEGIES)}, got {strategy!r}")
    added: tuple[str, ...] = ()
    adapters: set[str] = set()
    if strategy == "adapter":
        if getattr(model.config, "adapter_bottleneck", 0):  # has adapters already (applied before, or loaded)
            adapters = {n for n, _ in model.named_parameters() if ".adapter." in n}
        else:
            added = tuple(model.add_adapters(adapter_bottleneck))
    trainable = _trainable_prefixes(model, strategy, last_k)
    keep = set(new_param_names) | set(added) | adapters
    for name, p in model.named_parameters():
        p.requires_grad_(name in keep or name.startswith(trainable) or not name.startswith(model.transferable_prefixes()))
    counts = [sum(p.numel() for p in model.parameters() if p.requires_grad == flag) for flag in (True, False)]
    return StrategySummary(strategy, counts[0], counts[1], added)


def _trainable_prefixes(model: nn.Module, strategy: str, last_k: int) -> tuple[str, ...]:
    """Name prefixes that train even though they are transferable."""
    if strategy == "full":
        return ("",)
    if strategy != "last-k":
        return ()
    blocks = model.backbone.blocks
    if not 1 <= last_k <= len(blocks):
        raise InputError("train.last_k", f"must be between 1 and the {len(blocks)} backbone blocks, got {last_k}")
    names = {mod: name for name, mod in model.named_modules()}
    pool = getattr(model.backbone, "pool", None)
    after = (f"{names[pool]}.",) if pool is not None else ()
    return tuple(f"{names[blocks]}.{i}." for i in range(len(blocks) - last_k, len(blocks))) + after
