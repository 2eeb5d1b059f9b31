"""Padding and token order never change a model output; gradients reach every parameter."""

from __future__ import annotations

import copy

import pytest
import torch

from hepfm.models import InputSpec, TaskSpec, create_model, example_batch, model_config

TASKS = [TaskSpec("flavour", "class", num_classes=3), TaskSpec("energy", "regression", loss="huber")]
INPUTS = InputSpec(n_features=4, n_token_types=3, n_extra=2, n_event=2)


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(name: str, **kw):
    torch.manual_seed(0)
    return create_model(name, tasks=TASKS, inputs=INPUTS, **kw).eval()


def pad_and_permute(batch: dict, extra_pad: int, seed: int) -> dict:
    """Shuffle each event's real tokens among all slots, add ``extra_pad`` slots, fill padding with garbage."""
    g = torch.Generator().manual_seed(seed)
    b, m = batch["mask"].shape
    m2 = m + extra_pad

    def grow(t: torch.Tensor) -> torch.Tensor:
        return torch.cat([t, torch.zeros((b, extra_pad) + t.shape[2:], dtype=t.dtype)], dim=1)

    x, tt, extra, mask = grow(batch["x"]), grow(batch["token_type"]), grow(batch["extra"]), grow(batch["mask"])
    order = torch.argsort(torch.rand(b, m2, generator=g), dim=1)  # real tokens land anywhere, in any order

    def take(t: torch.Tensor) -> torch.Tensor:
        idx = order.view(b, m2, *([1] * (t.ndim - 2))).expand_as(t)
        return torch.gather(t, 1, idx)

    x, tt, extra, mask = take(x), take(tt), take(extra), take(mask)
    pad = ~mask
    x[pad] = 1e3 * torch.randn(int(pad.sum()), x.shape[-1], generator=g)
    x[..., 0][pad] = float("nan")
    tt[pad] = 999
    extra[pad] = float("inf")
    return {**batch, "x": x, "token_type": tt, "extra": extra, "mask": mask}


@pytest.mark.parametrize("name, overrides", [("pet-tiny", {}), ("pt-tiny", {}), ("pt-tiny", {"class_blocks": 0})])
@pytest.mark.parametrize("n_real", [None, 3])  # random multiplicities 1..12, or all below k=10
def test_padding_and_permutation_do_not_change_outputs(name: str, overrides: dict, n_real: int | None) -> None:
    model = _model(name, **overrides)
    batch = example_batch(model.config, batch_size=6, n_tokens=12, n_real=n_real, seed=1)
    with torch.no_grad():
        ref = model(batch)
        rep = model.represent(batch)
        for seed in range(3):
            other = pad_and_permute(batch, extra_pad=5 + seed, seed=seed)
            out = model(other)
            for task in ref:
                torch.testing.assert_close(out[task], ref[task], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(model.represent(other), rep, atol=1e-5, rtol=1e-5)
    assert all(torch.isfinite(v).all() for v in ref.values())


@pytest.mark.parametrize("name", ["pet-tiny", "pt-tiny"])
def test_event_output_does_not_depend_on_batch_mates(name: str) -> None:
    model = _model(name)
    batch = example_batch(model.config, batch_size=5, n_tokens=14, seed=2)
    with torch.no_grad():
        full = model(batch)["flavour"]
        for i in range(5):
            single = {k: (v[i : i + 1] if torch.is_tensor(v) else v) for k, v in batch.items()}
            torch.testing.assert_close(model(single)["flavour"], full[i : i + 1], atol=1e-5, rtol=1e-5)


def test_single_token_events_and_pet_neighbours_beyond_k() -> None:
    model = _model("pet-tiny", k=4)
    batch = example_batch(model.config, batch_size=3, n_tokens=9, n_real=1, seed=3)
    with torch.no_grad():
        out = model(batch)
        other = model(pad_and_permute(batch, extra_pad=3, seed=4))
    torch.testing.assert_close(other["energy"], out["energy"], atol=1e-5, rtol=1e-5)
    assert torch.isfinite(out["energy"]).all()


@pytest.mark.parametrize("name", ["pet-tiny", "pt-tiny", "mlp"])
def test_gradient_reaches_every_parameter_and_never_padding(name: str) -> None:
    from hepfm.models import compute_losses

    model = _model(name).train()
    batch = example_batch(model.config, batch_size=6, n_tokens=12, seed=5)
    x = batch["x"].clone().requires_grad_(True)
    total, losses = compute_losses(model.config.tasks, model({**batch, "x": x}), batch["labels"])
    total.backward()
    assert set(losses) == {"flavour", "energy"}
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        if pname != "inputs.token_type.weight":  # some token types may be absent from the batch
            assert p.grad.abs().sum() > 0, pname
    if name != "mlp":
        assert (x.grad[~batch["mask"]] == 0).all()
        assert x.grad[batch["mask"]].abs().sum() > 0


def test_pet_attention_bias_depends_on_pair_kinematics() -> None:
    """Moving one token changes the other tokens' pairwise bias, so the output must change."""
    model = _model("pet-tiny")
    batch = example_batch(model.config, batch_size=2, n_tokens=8, n_real=8, seed=6)
    moved = {**batch, "x": batch["x"].clone()}
    moved["x"][:, 3, :2] += 0.3
    with torch.no_grad():
        assert not torch.allclose(model(batch)["flavour"], model(moved)["flavour"], atol=1e-6)


def test_config_k_is_used() -> None:
    assert model_config("pet-small").k == 10
    assert _model("pet-tiny", k=3).backbone.k == 3


def test_input_normalisation_learns_statistics_of_real_tokens_only() -> None:
    model = _model("pt-tiny")
    untouched = copy.deepcopy(model)
    batch = example_batch(model.config, batch_size=16, n_tokens=20, seed=7)
    garbage = pad_and_permute(batch, extra_pad=4, seed=8)
    with torch.no_grad():
        first = model.train().represent(garbage)  # uses the statistics from before this batch
        torch.testing.assert_close(first, untouched.represent(batch), atol=1e-5, rtol=1e-5)
        model.eval()
    norm = model.inputs.core.norm
    real = batch["x"][batch["mask"]]
    torch.testing.assert_close(norm.mean, real.mean(0))
    torch.testing.assert_close(norm.sq_mean - norm.mean.square(), real.var(0, unbiased=False), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(model.inputs.event.norm.mean, batch["event"].mean(0))
    with torch.no_grad():
        model(batch)  # eval mode: statistics stay fixed
    assert norm.updates.item() == 1
    standardised = norm(real)
    torch.testing.assert_close(standardised.mean(0), torch.zeros(4), atol=1e-4, rtol=0)
    torch.testing.assert_close(standardised.std(0, unbiased=False), torch.ones(4), atol=1e-3, rtol=0)
