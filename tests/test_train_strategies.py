"""Fine-tuning strategies: what trains, what stays frozen, and the new-parameter learning rate."""

from __future__ import annotations

import pytest
import torch
from test_train_fixtures import loaders, tiny_model

from hepfm.errors import InputError
from hepfm.train import TrainConfig, apply_strategy, build_optimizer, fit


def _train(model, tmp_path, strategy: str, **kw) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Fit two steps; return {name: (before, after)} for every parameter."""
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    train, _ = loaders(n_train=64, batch_size=16)
    cfg = TrainConfig(lr=1e-2, max_steps=2, strategy=strategy, grad_clip=0.0, **kw)
    fit(model, train, None, cfg, tmp_path / strategy)
    return {k: (before.get(k), v.detach()) for k, v in model.named_parameters()}


def _changed(params: dict) -> set[str]:
    return {k for k, (a, b) in params.items() if a is None or not torch.equal(a, b)}


def test_linear_probe_freezes_everything_transferable(tmp_path) -> None:
    model = tiny_model()
    params = _train(model, tmp_path, "linear-probe")
    prefixes = model.transferable_prefixes()
    assert {k for k in params if k.startswith("heads.")} <= _changed(params)
    assert not {k for k in _changed(params) if k.startswith(prefixes)}


def test_adapter_trains_adapters_and_heads_only(tmp_path) -> None:
    model = tiny_model()
    params = _train(model, tmp_path, "adapter", adapter_bottleneck=4)
    adapters = {k for k in params if ".adapter." in k}
    assert adapters and adapters <= {k for k, (a, _) in params.items() if a is None}  # newly created
    trained = {k for k, (a, b) in params.items() if a is not None and not torch.equal(a, b)}
    assert trained == {k for k in params if k.startswith("heads.")}
    # adapters moved away from their zero-initialised up-projection
    assert any(b.abs().sum() > 0 for k, (_, b) in params.items() if ".adapter." in k and "up" in k)


def test_last_k_changes_only_the_last_blocks_pooling_and_heads(tmp_path) -> None:
    model = tiny_model(depth=3)
    params = _train(model, tmp_path, "last-k", last_k=1)
    blocks = [n for n, m in model.named_modules() if m is model.backbone.blocks][0]
    last = f"{blocks}.{len(model.backbone.blocks) - 1}."
    expected = {k for k in params if k.startswith(("heads.", last, "backbone.pool."))}
    assert any(k.startswith("backbone.pool.") for k in expected)
    assert _changed(params) == expected


def test_new_params_train_under_linear_probe_with_lr_factor(tmp_path) -> None:
    model = tiny_model()
    new = {k for k, _ in model.named_parameters() if k.startswith("inputs.token_type.")}
    assert new, "the model should have a token-type embedding"
    summary = apply_strategy(model, "linear-probe", new_param_names=new)
    trainable = {k for k, p in model.named_parameters() if p.requires_grad}
    assert new <= trainable and summary.frozen > 0 and summary.trainable == sum(
        p.numel() for p in model.parameters() if p.requires_grad)
    opt = build_optimizer(model, TrainConfig(lr=1e-3, new_param_lr_factor=5.0, epochs=1), new)
    lrs = {n: g["lr"] for g in opt.param_groups for n in g["param_names"]}
    assert all(lrs[n] == pytest.approx(5e-3) for n in new)
    assert all(lrs[n] == pytest.approx(1e-3) for n in trainable - new)


def test_bad_last_k(tmp_path) -> None:
    with pytest.raises(InputError, match="last_k"):
        apply_strategy(tiny_model(), "last-k", last_k=99)


def test_adapter_strategy_is_idempotent() -> None:
    model = tiny_model()
    first = apply_strategy(model, "adapter", adapter_bottleneck=4)
    n_params = len(list(model.parameters()))
    second = apply_strategy(model, "adapter", adapter_bottleneck=4)
    assert first.added and not second.added and len(list(model.parameters())) == n_params
    assert (first.trainable, first.frozen) == (second.trainable, second.frozen)
