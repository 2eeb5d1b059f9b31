"""Config serialisation and validation, batch validation, losses, registry."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from hepfm.errors import InputError
from hepfm.models import (
    InputSpec,
    ModelConfig,
    TaskSpec,
    compute_losses,
    create_model,
    example_batch,
    list_models,
    model_config,
)

TASKS = [TaskSpec("y", "class", num_classes=4), TaskSpec("e", "regression", loss="mse", weight=0.5)]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_config_json_round_trip() -> None:
    cfg = model_config("pet-small", tasks=TASKS, inputs=InputSpec(n_token_types=5, n_extra=2, n_event=3), k=7)
    data = json.loads(json.dumps(cfg.to_dict()))
    assert ModelConfig.from_dict(data) == cfg
    assert data["inputs"] == {"n_features": 4, "n_token_types": 5, "n_extra": 2, "n_event": 3}
    assert data["tasks"][1] == {"name": "e", "kind": "regression", "num_classes": 0, "loss": "mse", "weight": 0.5}


@pytest.mark.parametrize(
    "data, where",
    [
        ({"family": "pet", "depht": 3}, "model.depht"),
        ({"inputs": {"n_features": 4, "n_tokens": 2}}, "model.inputs.n_tokens"),
        ({"tasks": [{"name": "y", "kind": "class", "num_classes": 2, "los": "ce"}]}, "model.tasks[0].los"),
    ],
)
def test_unknown_config_keys_raise(data: dict, where: str) -> None:
    with pytest.raises(InputError) as err:
        ModelConfig.from_dict(data)
    assert err.value.where == where
    assert "unknown key" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda: TaskSpec("y", "class", num_classes=1),
        lambda: TaskSpec("y", "class", num_classes=3, loss="mse"),
        lambda: TaskSpec("y", "regression", loss="ce"),
        lambda: TaskSpec("y", "ordinal"),
        lambda: TaskSpec("a.b", "regression"),
        lambda: InputSpec(n_token_types=0),
        lambda: ModelConfig(family="cnn"),
        lambda: ModelConfig(dim=100, heads=8),
        lambda: ModelConfig(tasks=[TaskSpec("y", "regression"), TaskSpec("y", "regression")]),
        lambda: ModelConfig(inputs=InputSpec(n_features=3)),
        lambda: create_model("pet-huge"),
        lambda: create_model("pet-tiny", widht=3),
        lambda: create_model("pet-tiny", family="pt"),
        lambda: create_model("mlp"),  # needs event features
        lambda: create_model("pt-tiny", tasks=[TaskSpec("keys", "regression")]),  # clashes with ModuleDict.keys
    ],
)
def test_bad_configs_raise_input_error(make) -> None:
    with pytest.raises(InputError):
        make()


def test_default_losses() -> None:
    assert TaskSpec("y", "class", num_classes=2).loss == "ce"
    assert TaskSpec("e", "regression").loss == "mse"


def test_bad_batches_raise_input_error() -> None:
    model = create_model("pt-tiny", tasks=TASKS, inputs=InputSpec(n_token_types=2, n_extra=1))
    batch = example_batch(model.config)
    bad_type = batch["token_type"].clone()
    bad_type[0, 0] = 2
    cases = {
        "x": {**batch, "x": batch["x"][..., :3]},
        "token_type": {**batch, "token_type": bad_type},
        "extra": {k: v for k, v in batch.items() if k != "extra"},
        "mask": {**batch, "mask": batch["mask"][:, :-1]},
    }
    for field, bad in cases.items():
        with pytest.raises(InputError, match=f"batch.{field}"):
            model(bad)


def test_compute_losses_matches_torch_and_ignores_missing_labels() -> None:
    torch.manual_seed(0)
    outputs = {"y": torch.randn(6, 4), "e": torch.randn(6)}
    labels = {"y": torch.tensor([0, 3, -1, 2, 1, -1]), "e": torch.tensor([0.5, float("nan"), 1.0, 2.0, -1.0, 0.0])}
    total, losses = compute_losses(TASKS, outputs, labels)
    keep_y, keep_e = labels["y"] >= 0, ~torch.isnan(labels["e"])
    ce = F.cross_entropy(outputs["y"][keep_y], labels["y"][keep_y])
    mse = F.mse_loss(outputs["e"][keep_e], labels["e"][keep_e])
    torch.testing.assert_close(losses["y"], ce)
    torch.testing.assert_close(losses["e"], mse)
    torch.testing.assert_close(total, ce + 0.5 * mse)

    l1 = TaskSpec("e", "regression", loss="l1")
    huber = TaskSpec("e", "regression", loss="huber")
    pred, target = outputs["e"][keep_e], labels["e"][keep_e]
    torch.testing.assert_close(compute_losses([l1], outputs, labels)[0], F.l1_loss(pred, target))
    torch.testing.assert_close(compute_losses([huber], outputs, labels)[0], F.huber_loss(pred, target))

    none = {"y": torch.full((6,), -1), "e": torch.full((6,), float("nan"))}
    total, _ = compute_losses(TASKS, outputs, none)
    assert total.item() == 0.0

    with pytest.raises(InputError, match="labels.e"):
        compute_losses(TASKS, outputs, {"y": labels["y"]})
    with pytest.raises(InputError, match="labels.y"):
        compute_losses(TASKS, outputs, {**labels, "y": torch.tensor([0, 4, 0, 0, 0, 0])})


def test_registry_lists_every_size() -> None:
    names = list_models()
    for family in ("pet", "pt"):
        for size in ("tiny", "small", "medium", "large"):
            assert f"{family}-{size}" in names
    assert "mlp" in names
    small = model_config("pet-small")
    shape = (small.depth, small.dim, small.heads, small.mlp_ratio, small.class_blocks, small.num_class_tokens)
    assert shape == (8, 128, 8, 2.0, 2, 4)
    large = model_config("pet-large")
    assert (large.depth, large.dim, large.heads, large.class_blocks) == (28, 1024, 32, 4)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n.endswith(("medium", "large")) else n for n in list_models()],
)
def test_every_registered_model_builds_and_runs(name: str) -> None:
    model = create_model(name, tasks=TASKS, inputs=InputSpec(n_token_types=2, n_extra=1, n_event=2))
    batch = example_batch(model.config, batch_size=2, n_tokens=5)
    with torch.no_grad():
        out = model(batch)
        rep = model.represent(batch)
    assert out["y"].shape == (2, 4) and out["e"].shape == (2,)
    assert rep.shape == (2, model.rep_dim)
    assert all(torch.isfinite(v).all() for v in out.values())
    assert len(model.backbone.blocks) == model.config.depth
