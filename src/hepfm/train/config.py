"""Training configuration: one dataclass for pretraining and fine-tuning, loadable from YAML."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hepfm.config import check_keys, coerce
from hepfm.errors import InputError

OPTIMIZERS = ("adamw", "lion")
SCHEDULES = ("cosine", "constant")
PRECISIONS = ("auto", "fp32", "bf16")
STRATEGIES = ("full", "linear-probe", "adapter", "last-k")


@dataclass
class TrainConfig:
    """Every knob of :func:`hepfm.train.fit`.

    Training stops at the first of ``epochs``, ``max_steps`` or ``max_flops`` (cumulative
    forward+backward FLOPs over all ranks; a step that would exceed it is not taken).
    ``warmup_steps`` or ``warmup_fraction`` (of the planned steps) ramp the learning rate
    linearly, then ``schedule='cosine'`` decays it to ``lr * min_lr_factor``.
    ``val_every``/``checkpoint_every`` are in steps (0: at the end of every epoch).
    ``patience`` stops after that many validations without a lower validation loss.
    ``precision='auto'`` uses bf16 autocast on a GPU that supports it, fp32 otherwise.
    ``strategy`` (with ``last_k``, ``adapter_bottleneck``) picks what trains, see
    :mod:`hepfm.train.finetune`; ``new_param_lr_factor`` scales the lr of newly initialised
    parameters. ``batch_size`` is per rank and used by whoever builds the loaders.
    ``resume``: continue from ``out_dir/last`` if it exists (the lr schedule keeps the
    length planned at the start of the run).
    """

    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "cosine"
    warmup_steps: int = 0
    warmup_fraction: float = 0.0
    min_lr_factor: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.0
    precision: str = "auto"
    epochs: int | None = None
    max_steps: int | None = None
    max_flops: float | None = None
    batch_size: int = 64
    seed: int = 0
    val_every: int = 0
    log_every: int = 10
    checkpoint_every: int = 0
    strategy: str = "full"
    last_k: int = 1
    adapter_bottleneck: int = 16
    new_param_lr_factor: float = 1.0
    patience: int | None = None
    device: str = "auto"
    resume: bool = True

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, coerce(_HINTS[f.name], getattr(self, f.name), f"train.{f.name}"))
        choices = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "precision": PRECISIONS, "strategy": STRATEGIES}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise InputError(f"train.{name}", f"must be one of {list(allowed)}, got {getattr(self, name)!r}")
        positive = ("lr", "batch_size", "last_k", "adapter_bottleneck", "new_param_lr_factor",
                    "epochs", "max_steps", "max_flops", "patience")
        for name in positive:
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise InputError(f"train.{name}", f"must be > 0, got {value!r}")
        for name in ("weight_decay", "warmup_steps", "grad_clip", "val_every", "log_every", "checkpoint_every", "seed"):
            if getattr(self, name) < 0:
                raise InputError(f"train.{name}", f"must be >= 0, got {getattr(self, name)!r}")
        for name in ("warmup_fraction", "ema_decay"):
            if not 0 <= getattr(self, name) < 1:
                raise InputError(f"train.{name}", f"must be in [0, 1), got {getattr(self, name)!r}")
        if not 0 <= self.min_lr_factor <= 1:
            raise InputError("train.min_lr_factor", f"must be in [0, 1], got {self.min_lr_factor!r}")
        if not all(0 <= b < 1 for b in self.betas):
            raise InputError("train.betas", f"each beta must be in [0, 1), got {list(self.betas)}")
        if self.warmup_steps and self.warmup_fraction:
            raise InputError("train.warmup_fraction", "set warmup_steps or warmup_fraction, not both")
        if self.epochs is None and self.max_steps is None and self.max_flops is None:
            raise InputError("train.epochs", "set at least one of epochs, max_steps, max_flops")
        if not self.device or not (self.device in ("auto", "cpu") or self.device.startswith("cuda")):
            raise InputError("train.device", f"must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["betas"] = list(self.betas)
        return data

    def replace(self, **changes: Any) -> TrainConfig:
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    @classmethod
    def from_dict(cls, data: Any, where: str = "train") -> TrainConfig:
        """Build from a mapping; an unknown key raises InputError naming it."""
        data = check_keys(cls, data, where)
        try:
            return cls(**data)
        except InputError as err:
            raise InputError(err.where.replace("train", where, 1), err.what) from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """Load from a YAML file: either the options at top level or under a ``train:`` key."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as err:
            raise InputError(str(path), f"cannot read ({err.strerror})") from None
        except yaml.YAMLError as err:
            raise InputError(str(path), f"not valid YAML ({str(err).splitlines()[0]})") from None
        if isinstance(data, dict) and set(data) == {"train"}:
            data = data["train"]
        return cls.from_dict(data if data is not None else {}, where=f"{path}:train")


_HINTS = typing.get_type_hints(TrainConfig)
