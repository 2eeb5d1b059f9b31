"""Checkpoints: ``config.json`` + ``model.safetensors`` (never pickle), and partial loading.

:func:`load_matching` copies every tensor whose name and shape match and reports the
rest, so a backbone pretrained in one domain loads into a model with other heads, token
types or extra features.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from hepfm.errors import InputError
from hepfm.models.config import ModelConfig
from hepfm.utils import atomic_path

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
ZOO_DIR = Path(__file__).resolve().parent.parent / "zoo"
ZOO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHOW = 8  # names listed per group in LoadReport.__str__


@dataclass
class LoadReport:
    """Which tensors were ``loaded``, ``skipped`` (in the checkpoint but unusable) or ``new`` (left at init)."""

    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"loaded {len(self.loaded)} tensors, skipped {len(self.skipped)}, new {len(self.new)}"]
        for title, names in (("skipped", self.skipped), ("new", self.new)):
            for name in names[:_SHOW]:
                reason = self.reasons.get(name)
                lines.append(f"  {title}: {name}" + (f" ({reason})" if reason else ""))
            if len(names) > _SHOW:
                lines.append(f"  {title}: ... and {len(names) - _SHOW} more")
        return "\n".join(lines)


def load_matching(model: nn.Module, state: dict[str, Tensor]) -> LoadReport:
    """Copy the tensors of ``state`` whose name and shape match ``model``; never raises on mismatch."""
    report = LoadReport()
    own = model.state_dict()
    with torch.no_grad():
        for name, value in state.items():
            if name not in own:
                report.skipped.append(name)
                report.reasons[name] = "not in model"
            elif tuple(own[name].shape) != tuple(value.shape):
                report.skipped.append(name)
                report.reasons[name] = f"checkpoint {tuple(value.shape)} != model {tuple(own[name].shape)}"
            else:
                own[name].copy_(value)
                report.loaded.append(name)
    loaded = set(report.loaded)
    report.new = [name for name in own if name not in loaded]
    return report


def save_checkpoint(model: nn.Module, config: ModelConfig, directory: str | Path) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into ``directory`` atomically."""
    directory = Path(directory)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    with atomic_path(directory) as tmp:
        tmp.mkdir(parents=True)
        save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format": "pt", "hepfm": "model"})
        (tmp / CONFIG_NAME).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    return directory


def list_zoo() -> list[str]:
    """Names of the zoo backbones (shipped and local; see :mod:`hepfm.models.zoo`)."""
    from hepfm.models.zoo import list_backbones

    return [e.name for e in list_backbones()]


def resolve_pretrained(name_or_path: str | Path) -> Path:
    """A checkpoint directory: ``name_or_path`` if it is one, else the zoo backbone of that name."""
    from hepfm.models.zoo import get_backbone

    path = Path(name_or_path)
    if path.is_dir():
        return path
    if path.suffix or len(path.parts) > 1:
        raise InputError(str(name_or_path), "no such checkpoint directory")
    return get_backbone(str(name_or_path)).path


def read_checkpoint(directory: Path) -> tuple[ModelConfig, dict[str, Tensor]]:
    """Read and validate ``config.json`` and ``model.safetensors`` of a checkpoint directory."""
    cfg_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    for p in (cfg_path, weights_path):
        if not p.is_file():
            raise InputError(str(p), "missing; a checkpoint holds config.json and model.safetensors")
    try:
        data: Any = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(str(cfg_path), f"not valid JSON: {e}") from None
    try:
        config = ModelConfig.from_dict(data)
    except InputError as e:
        raise InputError(f"{cfg_path}:{e.where}", e.what) from None
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as e:
        raise InputError(str(weights_path), f"not a readable safetensors file: {e}") from None
    return config, state
