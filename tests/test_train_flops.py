"""FLOP accounting: exact against analytic counts, calibration against direct measurement."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from test_train_fixtures import loaders, tiny_model
from torch import nn

from hepfm.train import apply_strategy, forward_flops, step_flops
from hepfm.train.flops import count_flops, resize_batch

B, M, FEAT, HID, C, HEADS, DHEAD = 5, 7, 4, 24, 3, 2, 12


def _batch(b: int = B, m: int = M) -> dict:
    mask = torch.ones(b, m, dtype=torch.bool)
    mask[0, m - 2 :] = False  # padding does not change the cost of dense layers
    return {"x": torch.randn(b, m, FEAT), "token_type": torch.zeros(b, m, dtype=torch.long), "mask": mask,
            "extra": torch.zeros(b, m, 0), "event": torch.zeros(b, 0), "labels": {"y": torch.zeros(b, dtype=torch.long)}}


class LinearModel(nn.Module):
    """Per-token linear embedding, masked mean, linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(FEAT, HID)
        self.head = nn.Linear(HID, C)

    def forward(self, batch: dict) -> dict:
        h = self.embed(batch["x"]) * batch["mask"][..., None]
        return {"y": self.head(h.sum(1) / batch["mask"].sum(1, keepdim=True))}


class AttentionModel(LinearModel):
    """Adds one self-attention layer (SDPA, no output projection)."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(HID, 3 * HID, bias=False)

    def forward(self, batch: dict) -> dict:
        h = self.embed(batch["x"])
        b, m, _ = h.shape
        q, k, v = self.qkv(h).view(b, m, 3, HEADS, DHEAD).permute(2, 0, 3, 1, 4)
        mask = batch["mask"][:, None, None, :]
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(b, m, HID)
        return {"y": self.head(h.mean(1))}


def _linear(b: int, m: int, n_in: int, n_out: int) -> int:
    return 2 * b * m * n_in * n_out  # multiply-adds of one matmul


def test_linear_model_matches_analytic_count() -> None:
    model, batch = LinearModel(), _batch()
    fwd = _linear(B, M, FEAT, HID) + _linear(B, 1, HID, C)
    # backward: weight gradients of both layers, input gradient of the head only (x needs none)
    bwd = _linear(B, M, FEAT, HID) + 2 * _linear(B, 1, HID, C)
    assert count_flops(model, batch, backward=False) == fwd
    assert count_flops(model, batch) == fwd + bwd
    # the calibrated per-event polynomial reproduces it for a width it was not measured at
    assert step_flops(model, batch) == fwd + bwd
    assert forward_flops(model, batch) == fwd


def test_frozen_layer_gets_no_weight_gradient_flops() -> None:
    model, batch = LinearModel(), _batch()
    model.embed.requires_grad_(False)
    fwd = _linear(B, M, FEAT, HID) + _linear(B, 1, HID, C)
    assert step_flops(model, batch) == fwd + _linear(B, 1, HID, C)  # head weight gradient only


def test_attention_is_counted_on_cpu() -> None:
    model, batch = AttentionModel(), _batch()
    dense = _linear(B, M, FEAT, HID) + _linear(B, M, HID, 3 * HID) + _linear(B, 1, HID, C)
    attention = 4 * B * HEADS * M**2 * DHEAD  # Q·Kᵀ and P·V
    assert count_flops(model, batch, backward=False) == dense + attention
    dense_bwd = _linear(B, M, FEAT, HID) + 2 * _linear(B, M, HID, 3 * HID) + 2 * _linear(B, 1, HID, C)
    attention_bwd = 10 * B * HEADS * M**2 * DHEAD  # recomputed scores + dQ, dK, dV, dP
    assert count_flops(model, batch) == dense + attention + dense_bwd + attention_bwd
    assert step_flops(model, _batch(3, 40)) == count_flops(model, _batch(3, 40))


def test_count_leaves_model_untouched() -> None:
    model, batch = LinearModel(), _batch()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    count_flops(model, batch)
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state()) and model.training


def test_resize_batch_tiles_real_tokens() -> None:
    batch = _batch()
    out = resize_batch(batch, 2, 11)
    assert out["x"].shape == (2, 11, FEAT) and out["mask"].all() and out["labels"]["y"].shape == (2,)
    n0 = int(batch["mask"][0].sum())
    assert torch.equal(out["x"][0, n0], batch["x"][0, 0])  # wraps around after the real tokens


def test_pet_calibration_matches_direct_measurement() -> None:
    model = tiny_model()
    train, _ = loaders(n_train=64, batch_size=24)
    batch = next(iter(train))  # 24 events, width not among the calibration widths
    full = step_flops(model, batch)
    assert abs(full - count_flops(model, batch)) <= 0.01 * full
    apply_strategy(model, "linear-probe")  # frozen backbone: no weight gradients there
    assert count_flops(model, batch, backward=False) < count_flops(model, batch) < 0.8 * full
