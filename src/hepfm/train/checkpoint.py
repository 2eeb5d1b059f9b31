"""Checkpoints: safetensors + JSON only (no pickle), written atomically.

A checkpoint directory holds

* ``model.safetensors`` + ``config.json``: written by ``model.save_pretrained``;
* ``train_state.safetensors``: optimizer state (``optim.<index>.<key>``), EMA weights
  (``ema.<name>``) and the random-number states of every rank (``rng.<rank>.<source>``,
  uint8) — only in resumable checkpoints;
* ``train_state.json``: step, epoch, batch in epoch, cumulative FLOPs and wall time, best
  validation loss, the training config, and the optimizer's non-tensor state.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file
from torch import nn

from hepfm.errors import InputError
from hepfm.train.ema import EMA
from hepfm.utils import atomic_path

STATE_JSON = "train_state.json"
STATE_TENSORS = "train_state.safetensors"


# ---------------------------------------------------------------- random-number states


def rng_state() -> dict[str, torch.Tensor]:
    """This process's Python, NumPy, torch (and CUDA) generator states as uint8 tensors."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": _pack(np.concatenate([keys, [pos, has_gauss]]), gauss),
        "python": _pack(np.array([version, gauss_next is not None, *internal]), gauss_next or 0.0),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(state["torch"])
    ints, gauss = _unpack(state["numpy"])
    np.random.set_state(("MT19937", ints[:-2], int(ints[-2]), int(ints[-1]), gauss))
    ints, gauss = _unpack(state["python"])
    random.setstate((int(ints[0]), tuple(int(i) for i in ints[2:]), gauss if ints[1] else None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _pack(ints: np.ndarray, value: float) -> torch.Tensor:
    raw = np.asarray(ints, dtype=np.uint32).tobytes() + np.float64(value).tobytes()
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8)


def _unpack(tensor: torch.Tensor) -> tuple[np.ndarray, float]:
    raw = tensor.numpy().tobytes()
    return np.frombuffer(raw[:-8], dtype=np.uint32), float(np.frombuffer(raw[-8:], dtype=np.float64)[0])


# ---------------------------------------------------------------- save / load


def save_checkpoint(path: str | Path, model: nn.Module, info: dict[str, Any], *,
                    optimizer: torch.optim.Optimizer | None = None, ema: EMA | None = None,
                    rng: list[dict[str, torch.Tensor]] | None = None) -> None:
    """Write a checkpoint directory atomically (a crash leaves the previous one intact).

    ``rng`` is one state per rank (from :func:`rng_state`).
    """
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    if optimizer is not None:
        for index, entry in optimizer.state_dict()["state"].items():
            for key, value in entry.items():
                if torch.is_tensor(value):
                    tensors[f"optim.{index}.{key}"] = value
                else:
                    scalars.setdefault(str(index), {})[key] = value
    if ema is not None:
        tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    for rank, state in enumerate(rng or ()):
        tensors.update({f"rng.{rank}.{k}": v for k, v in state.items()})
    with atomic_path(path) as tmp:
        tmp.mkdir(parents=True)
        model.save_pretrained(tmp)
        if tensors:
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp / STATE_TENSORS))
        (tmp / STATE_JSON).write_text(json.dumps({**info, "optimizer_scalars": scalars}, indent=1, sort_keys=True))


def find_resumable(out_dir: str | Path) -> Path | None:
    """``out_dir/last`` if it holds a resumable checkpoint (or the copy a crash mid-swap left)."""
    out_dir = Path(out_dir)
    candidates = [out_dir / "last", *sorted(out_dir.glob(".last.old-*"))]
    return next((c for c in candidates if (c / STATE_JSON).is_file() and (c / STATE_TENSORS).is_file()), None)


def read_info(path: str | Path) -> dict[str, Any]:
    """The JSON part of a checkpoint."""
    file = Path(path) / STATE_JSON
    try:
        info = json.loads(file.read_text())
    except OSError as err:
        raise InputError(str(file), f"cannot read ({err.strerror})") from None
    except json.JSONDecodeError as err:
        raise InputError(str(file), f"not valid JSON ({err.msg})") from None
    for key in ("step", "epoch", "batch_in_epoch", "flops", "wall_time", "config"):
        if key not in info:
            raise InputError(str(file), f"missing field {key!r}")
    return info


def load_checkpoint(path: str | Path, model: nn.Module, *, optimizer: torch.optim.Optimizer | None = None,
                    ema: EMA | None = None, rank: int = 0) -> dict[str, Any]:
    """Restore model, optimizer, EMA and this rank's RNG states from ``path``; return the JSON info."""
    path = Path(path)
    info = read_info(path)
    try:
        load_model(model, str(path / "model.safetensors"), strict=True)
        tensors = load_file(str(path / STATE_TENSORS))
    except (SafetensorError, OSError) as err:
        raise InputError(str(path), f"unreadable checkpoint ({err})") from None
    except RuntimeError as err:
        reason = " ".join(str(err).split())[:300]
        raise InputError(str(path / "model.safetensors"), f"weights do not fit this model ({reason})") from None
    if optimizer is not None:
        state: dict[int, dict[str, Any]] = {}
        for name, value in tensors.items():
            if name.startswith("optim."):
                _, index, key = name.split(".", 2)
                state.setdefault(int(index), {})[key] = value
        for index, entry in info["optimizer_scalars"].items():
            state.setdefault(int(index), {}).update(entry)
        optimizer.load_state_dict({"state": state, "param_groups": optimizer.state_dict()["param_groups"]})
    if ema is not None:
        ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    rng = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"rng.{rank}.")}
    if rng:
        set_rng_state(rng)
    return info
