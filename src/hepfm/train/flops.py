"""FLOP accounting measured on the real model.

``torch.utils.flop_counter.FlopCounterMode`` counts the matmuls, convolutions and
attention kernels of a forward (+ backward) pass as it really runs: frozen parameters get
no weight gradients, so each fine-tuning strategy is counted at its true cost. The CPU
flash-attention kernels that FlopCounterMode does not know are added with the standard
attention formulas (forward ``4·B·H·M²·d``).

Counting every step would slow training, so the cost per event is calibrated once per
(model, trainable set) as ``a + b·M + c·M²`` from a few measured token counts ``M`` on a
two-event batch; a batch of ``B`` events padded to ``M`` tokens then costs
``B·(a + b·M + c·M²)``. This is exact for dense token models (checked to the FLOP for PET
and the particle transformer from 5 to 200 tokens) except that PET's kNN edges make events
with fewer tokens than neighbours ``k`` cost slightly less (<1% off). ``M`` is the padded
width, which is what dense layers compute on. Element-wise ops (activations, norms,
softmax) are not counted, as is usual for FLOP budgets.
"""

from __future__ import annotations

import copy
import logging
import weakref
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

log = logging.getLogger("hepfm.train")


def _sdpa_forward(query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    return flop_counter.sdpa_flop_count(query, key, value)


def _sdpa_backward(grad_out: Any, query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None,
                   **kwargs: Any) -> int:
    return flop_counter.sdpa_backward_flop_count(grad_out, query, key, value)


# kernels FlopCounterMode does not count by itself (CPU flash attention)
_EXTRA_FORMULAS = {
    getattr(torch.ops.aten, name): formula
    for name, formula in (("_scaled_dot_product_flash_attention_for_cpu", _sdpa_forward),
                          ("_scaled_dot_product_flash_attention_for_cpu_backward", _sdpa_backward))
    if hasattr(torch.ops.aten, name)
}
CALIBRATION_TOKENS = (16, 32, 64, 128)
CALIBRATION_EVENTS = 2
_cache: weakref.WeakKeyDictionary[nn.Module, dict[tuple, np.ndarray]] = weakref.WeakKeyDictionary()


def count_flops(model: nn.Module, batch: dict[str, Any], backward: bool = True) -> int:
    """FLOPs of one forward (and backward, as in a training step) of ``model`` on ``batch``.

    Runs on a copy (in train mode with backward, eval mode without), so the model, its
    gradients, buffers and the random-number state are left as they were.
    """
    clone = copy.deepcopy(model).train(backward)
    for p in clone.parameters():
        p.grad = None
        if not backward:  # (not just no_grad: FlopCounterMode trips on no_grad views of leaves)
            p.requires_grad_(False)
    devices = [p.device for p in clone.parameters() if p.device.type == "cuda"][:1]
    with torch.random.fork_rng(devices=devices), FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS) as fc:
        with torch.set_grad_enabled(backward):
            outputs = clone(batch)
            loss = sum(o.float().sum() for o in outputs.values() if o.requires_grad)
            if backward and torch.is_tensor(loss):
                loss.backward()
    return int(fc.get_total_flops())


def resize_batch(batch: dict[str, Any], events: int, tokens: int) -> dict[str, Any]:
    """The first ``events`` events of ``batch`` with exactly ``tokens`` real tokens each.

    Tokens are repeated cyclically (every token is real, mask all True), so the cost of a
    batch of any width can be measured from one real batch.
    """
    mask = batch["mask"][:events]
    n_real = mask.sum(1).clamp(min=1)
    index = torch.arange(tokens, device=mask.device)[None, :] % n_real[:, None]  # [b, tokens]

    def resize(key: str, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: resize(k, v) for k, v in value.items()}
        if not torch.is_tensor(value) or value.ndim == 0:
            return value
        value = value[:events]
        if key != "event" and value.ndim >= 2 and value.shape[:2] == mask.shape:
            idx = index.reshape(index.shape + (1,) * (value.ndim - 2)).expand(-1, -1, *value.shape[2:])
            value = torch.gather(value, 1, idx)
        return value

    out = {k: resize(k, v) for k, v in batch.items()}
    out["mask"] = torch.ones(mask.shape[0], tokens, dtype=torch.bool, device=mask.device)
    return out


def _signature(model: nn.Module, backward: bool) -> tuple:
    return (backward, tuple((n, p.requires_grad, p.dtype, p.shape) for n, p in model.named_parameters()))


def _coefficients(model: nn.Module, batch: dict[str, Any], backward: bool) -> np.ndarray:
    """Per-event ``(a, b, c)`` of ``a + b·M + c·M²`` for this model and trainable set (cached)."""
    per_model = _cache.setdefault(model, {})
    key = _signature(model, backward)
    if key not in per_model:
        events = min(CALIBRATION_EVENTS, batch["mask"].shape[0])
        ms = np.array(CALIBRATION_TOKENS, dtype=np.float64)
        measured = np.array([count_flops(model, resize_batch(batch, events, int(m)), backward) / events for m in ms])
        design = np.stack([np.ones_like(ms), ms, ms**2], axis=1)
        coef, *_ = np.linalg.lstsq(design, measured, rcond=None)
        worst = np.max(np.abs(design @ coef - measured) / np.maximum(measured, 1.0))
        if worst > 0.01:
            log.warning("FLOPs per event are not quadratic in the token count (misfit %.1f%%); "
                        "per-step FLOPs are approximate", 100 * worst)
        per_model[key] = coef
    return per_model[key]


def _evaluate(coef: np.ndarray, batch: dict[str, Any]) -> int:
    # token models drop the slots that are padding in every event (models/inputs.py), so the
    # width they compute on is the number of occupied slots, not the padded width
    mask = batch["mask"]
    events, tokens = mask.shape[0], max(1, int(mask.bool().any(0).sum()))
    return int(round(events * max(0.0, coef[0] + coef[1] * tokens + coef[2] * tokens**2)))


def step_flops(model: nn.Module, batch: dict[str, Any]) -> int:
    """Forward + backward FLOPs of one training step of ``model`` on ``batch`` (as it is frozen now)."""
    return _evaluate(_coefficients(model, batch, backward=True), batch)


def forward_flops(model: nn.Module, batch: dict[str, Any]) -> int:
    """Inference (forward-only, no grad) FLOPs of ``model`` on ``batch``."""
    return _evaluate(_coefficients(model, batch, backward=False), batch)
