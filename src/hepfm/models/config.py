"""Model configuration: JSON-serialisable dataclasses with strict key checking.

A :class:`ModelConfig` fully describes a model (architecture, inputs, heads), so a
checkpoint is ``config.json`` + ``model.safetensors`` and nothing else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from hepfm.config import check_keys
from hepfm.errors import InputError

FAMILIES = ("pet", "pt", "mlp")
TASK_KINDS = ("class", "regression")
CLASS_LOSSES = ("ce",)
REGRESSION_LOSSES = ("mse", "l1", "huber")


def _check_int(where: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(where, f"must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class InputSpec:
    """Widths of the model inputs: token core features, token types, extra token features, event features."""

    n_features: int = 4
    n_token_types: int = 1
    n_extra: int = 0
    n_event: int = 0

    def __post_init__(self) -> None:
        _check_int("inputs.n_features", self.n_features, 0)
        _check_int("inputs.n_token_types", self.n_token_types, 1)
        _check_int("inputs.n_extra", self.n_extra, 0)
        _check_int("inputs.n_event", self.n_event, 0)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "inputs") -> InputSpec:
        return cls(**check_keys(cls, data, where))


@dataclass(frozen=True)
class TaskSpec:
    """One prediction task; ``name`` is the label it is trained on.

    ``kind='class'`` needs ``num_classes >= 2`` and loss ``'ce'``; ``kind='regression'``
    predicts one value with loss ``'mse'``, ``'l1'`` or ``'huber'``. An empty ``loss``
    picks ``'ce'`` / ``'mse'``.
    """

    name: str
    kind: str = "class"
    num_classes: int = 0
    loss: str = ""
    weight: float = 1.0

    def __post_init__(self) -> None:
        where = f"tasks.{self.name}"
        if not isinstance(self.name, str) or not self.name or "." in self.name:
            raise InputError("tasks.name", f"task name must be a non-empty string without '.', got {self.name!r}")
        if self.kind not in TASK_KINDS:
            raise InputError(f"{where}.kind", f"must be one of {list(TASK_KINDS)}, got {self.kind!r}")
        allowed = CLASS_LOSSES if self.kind == "class" else REGRESSION_LOSSES
        if not self.loss:
            object.__setattr__(self, "loss", allowed[0])
        if self.loss not in allowed:
            raise InputError(f"{where}.loss", f"a {self.kind} task takes loss {list(allowed)}, got {self.loss!r}")
        if self.kind == "class":
            _check_int(f"{where}.num_classes", self.num_classes, 2)
        elif self.num_classes not in (0, 1):
            raise InputError(f"{where}.num_classes", f"a regression task has no classes, got {self.num_classes!r}")
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not self.weight >= 0:
            raise InputError(f"{where}.weight", f"must be a number >= 0, got {self.weight!r}")

    @property
    def out_dim(self) -> int:
        return self.num_classes if self.kind == "class" else 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "tasks") -> TaskSpec:
        data = check_keys(cls, data, where)
        if "name" not in data:
            raise InputError(f"{where}.name", "missing task name")
        return cls(**data)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build a model.

    ``dim``/``depth``/``heads``/``mlp_ratio`` size the token transformer (for ``mlp``:
    hidden width and number of hidden layers); ``class_blocks`` class-attention blocks
    pool ``num_class_tokens`` learnable tokens; ``k`` is the PET neighbour count and
    ``pair_hidden`` the width of the PET pairwise-bias MLP; ``head_hidden`` is the hidden
    width of each task head (0: a single linear layer); ``adapter_bottleneck > 0`` means the
    backbone blocks carry residual adapters of that width (see ``HepModel.add_adapters``).
    """

    family: str = "pet"
    size: str = "small"
    dim: int = 128
    depth: int = 8
    heads: int = 8
    mlp_ratio: float = 2.0
    class_blocks: int = 2
    num_class_tokens: int = 4
    k: int = 10
    pair_hidden: int = 16
    head_hidden: int = 128
    dropout: float = 0.0
    adapter_bottleneck: int = 0
    inputs: InputSpec = field(default_factory=InputSpec)
    tasks: tuple[TaskSpec, ...] = ()

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise InputError("model.family", f"must be one of {list(FAMILIES)}, got {self.family!r}")
        if not isinstance(self.size, str):
            raise InputError("model.size", f"must be a string, got {self.size!r}")
        for name, minimum in (("dim", 1), ("depth", 0), ("heads", 1), ("class_blocks", 0), ("num_class_tokens", 1),
                              ("k", 1), ("pair_hidden", 1), ("head_hidden", 0), ("adapter_bottleneck", 0)):
            _check_int(f"model.{name}", getattr(self, name), minimum)
        if self.dim % self.heads:
            raise InputError("model.heads", f"dim {self.dim} is not divisible by heads {self.heads}")
        if isinstance(self.mlp_ratio, bool) or not isinstance(self.mlp_ratio, (int, float)) or not self.mlp_ratio > 0:
            raise InputError("model.mlp_ratio", f"must be a number > 0, got {self.mlp_ratio!r}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise InputError("model.dropout", f"must be a number in [0, 1), got {self.dropout!r}")
        inputs = self.inputs
        if isinstance(inputs, dict):
            inputs = InputSpec.from_dict(inputs)
        if not isinstance(inputs, InputSpec):
            raise InputError("model.inputs", f"expected InputSpec or mapping, got {type(inputs).__name__}")
        object.__setattr__(self, "inputs", inputs)
        if isinstance(self.tasks, (str, bytes, dict)) or not hasattr(self.tasks, "__iter__"):
            raise InputError("model.tasks", f"expected a list of tasks, got {type(self.tasks).__name__}")
        tasks = tuple(
            t if isinstance(t, TaskSpec) else TaskSpec.from_dict(t, f"tasks[{i}]") for i, t in enumerate(self.tasks)
        )
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise InputError("model.tasks", f"duplicate task names in {names}")
        object.__setattr__(self, "tasks", tasks)
        if self.family != "mlp" and inputs.n_features < 2:
            raise InputError("model.inputs.n_features", "token models need at least (deta, dphi) core features")
        if self.family == "pet" and inputs.n_features < 4:
            raise InputError("model.inputs.n_features", "pet needs the core features (deta, dphi, log_pt, log_e)")

    @property
    def name(self) -> str:
        """Registry name of the preset this config derives from (``pet-small``, ``mlp``)."""
        return self.family if self.family == "mlp" else f"{self.family}-{self.size}"

    @property
    def mlp_hidden(self) -> int:
        return max(1, int(round(self.dim * self.mlp_ratio)))

    def replace(self, **overrides: Any) -> ModelConfig:
        """A copy with ``overrides`` applied; unknown field names raise InputError."""
        check_keys(ModelConfig, overrides, "model")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["inputs"] = self.inputs.to_dict()
        data["tasks"] = [t.to_dict() for t in self.tasks]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "model") -> ModelConfig:
        data = check_keys(cls, data, where)
        if "inputs" in data:
            data["inputs"] = InputSpec.from_dict(data["inputs"], f"{where}.inputs")
        if "tasks" in data:
            tasks = data["tasks"]
            if not isinstance(tasks, (list, tuple)):
                raise InputError(f"{where}.tasks", "expected a list of tasks")
            data["tasks"] = tuple(TaskSpec.from_dict(t, f"{where}.tasks[{i}]") for i, t in enumerate(tasks))
        return cls(**data)
