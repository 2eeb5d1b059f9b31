"""TrainConfig validation and YAML loading; optimiser groups, Lion and the schedule."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hepfm.errors import InputError
from hepfm.train import Lion, TrainConfig, build_optimizer
from hepfm.train.schedule import lr_factor


def test_from_dict_rejects_unknown_key_naming_it() -> None:
    with pytest.raises(InputError, match=r"train\.lrr: unknown key"):
        TrainConfig.from_dict({"lrr": 1e-3, "epochs": 1})


@pytest.mark.parametrize("bad", [{"optimizer": "sgd"}, {"lr": -1.0}, {"epochs": 1.5}, {"betas": [0.9]},
                                 {"ema_decay": 1.0}, {"precision": "fp16"}, {"strategy": "frozen"},
                                 {"warmup_steps": 5, "warmup_fraction": 0.1}, {"resume": "yes"}, {"lr": float("nan")}])
def test_bad_values_raise_input_error(bad: dict) -> None:
    with pytest.raises(InputError, match=rf"train\.{next(iter(bad))}" if len(bad) == 1 else r"train\.warmup"):
        TrainConfig.from_dict({"epochs": 1, **bad})


def test_needs_a_stopping_rule() -> None:
    with pytest.raises(InputError, match="epochs, max_steps, max_flops"):
        TrainConfig.from_dict({})


def test_yaml_round_trip(tmp_path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("train:\n  optimizer: lion\n  lr: 3e-4\n  betas: [0.9, 0.99]\n  max_flops: 1e15\n  strategy: last-k\n")
    cfg = TrainConfig.from_yaml(path)
    assert cfg.optimizer == "lion" and cfg.betas == (0.9, 0.99) and cfg.max_flops == 1e15 and cfg.lr == 3e-4
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    path.write_text("train:\n  epochs: 2\n  batchsize: 8\n")
    with pytest.raises(InputError, match=r"train\.yaml:train\.batchsize"):
        TrainConfig.from_yaml(path)


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(5, 4)
        self.lin = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)
        self.head = nn.Linear(4, 2)


def test_param_groups_decay_and_new_param_lr_factor() -> None:
    cfg = TrainConfig(lr=1e-3, weight_decay=0.1, new_param_lr_factor=10.0, epochs=1)
    opt = build_optimizer(_Net(), cfg, new_param_names={"head.weight", "head.bias"})
    groups = {g["name"]: g for g in opt.param_groups}
    assert sorted(groups["loaded"]["param_names"]) == ["lin.weight"]
    assert sorted(groups["loaded-no-decay"]["param_names"]) == ["emb.weight", "lin.bias", "norm.bias", "norm.weight"]
    assert groups["new"]["param_names"] == ["head.weight"] and groups["new-no-decay"]["param_names"] == ["head.bias"]
    assert groups["new"]["lr"] == pytest.approx(1e-2) and groups["loaded"]["lr"] == pytest.approx(1e-3)
    assert groups["loaded-no-decay"]["weight_decay"] == 0.0 and groups["new"]["weight_decay"] == 0.1


def test_lion_update_is_signed_and_decoupled_decay() -> None:
    p = nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
    opt = Lion([p], lr=0.1, betas=(0.9, 0.99), weight_decay=0.5)
    p.grad = torch.tensor([0.3, -4.0, 0.0])
    opt.step()
    # m = 0: update = sign(0.1 * g); p <- p * (1 - lr * wd) - lr * update
    assert torch.allclose(p.detach(), torch.tensor([1.0, -2.0, 3.0]) * 0.95 - 0.1 * torch.tensor([1.0, -1.0, 0.0]))
    assert torch.allclose(opt.state[p]["exp_avg"], 0.01 * torch.tensor([0.3, -4.0, 0.0]))


def test_lion_minimises_a_quadratic() -> None:
    p = nn.Parameter(torch.full((4,), 5.0))
    opt = Lion([p], lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        (p**2).sum().backward()
        opt.step()
    assert p.abs().max() < 0.1


def test_schedule_warmup_then_cosine_to_floor() -> None:
    cfg = TrainConfig(epochs=1, warmup_fraction=0.1, min_lr_factor=0.1)
    factors = [lr_factor(s, cfg, 100) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[9:], factors[10:]))
    assert factors[-1] == pytest.approx(0.1, abs=1e-3) and lr_factor(500, cfg, 100) == pytest.approx(0.1)
