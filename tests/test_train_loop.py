"""The training loop: learns, logs monotonic compute, writes best/last, respects a FLOP budget."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file
from test_train_fixtures import loaders, make_block, tiny_model

from hepfm.data import EventLoader
from hepfm.errors import InputError
from hepfm.models import HepModel
from hepfm.train import TrainConfig, evaluate, fit, read_metrics, step_flops


def test_fit_learns_and_logs(tmp_path) -> None:
    train, val = loaders()
    cfg = TrainConfig(lr=3e-3, epochs=3, log_every=3, ema_decay=0.8, warmup_steps=2, seed=3)
    model = tiny_model()
    untrained = evaluate(model, val, model.config.tasks)
    result = fit(model, train, val, cfg, tmp_path)

    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == sorted({r["step"] for r in records})  # one record per step
    for key in ("step", "epoch", "flops", "wall_time", "lr", "train_loss"):
        assert all(key in r for r in records), key
    for key in ("flops", "wall_time", "epoch"):
        values = [r[key] for r in records]
        assert values == sorted(values) and values[-1] > values[0], key
    vals = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in vals] == [8, 16, 24]  # once per epoch of 8 batches
    assert vals[-1]["val_loss"] < vals[0]["val_loss"] < untrained["val_loss"]
    assert vals[-1]["val_loss_label"] < untrained["val_loss_label"] - 0.05
    assert vals[-1]["val_acc_label"] > 0.8 > untrained["val_acc_label"]  # the label shifts log_pt by +-0.8
    assert vals[-1]["val_auc_label"] > 0.9 and 0.0 <= untrained["val_auc_label"] <= 1.0

    assert result.steps == 24 and result.stopped_by == "epochs" and result.epochs == 3
    assert result.flops == records[-1]["flops"] > 0
    assert result.best_val_loss == min(r["val_loss"] for r in vals)
    for name in ("best", "last"):
        assert {"model.safetensors", "config.json", "train_state.json"} <= {p.name for p in (tmp_path / name).iterdir()}
    info = json.loads((tmp_path / "last" / "train_state.json").read_text())
    assert info["step"] == 24 and info["flops"] == result.flops and info["config"]["ema_decay"] == 0.8

    # best/ holds the validated (EMA) weights, loadable by the model package
    best, report = HepModel.from_pretrained(tmp_path / "best")
    assert not report.skipped
    ema = {k[4:]: v for k, v in load_file(tmp_path / "last" / "train_state.safetensors").items() if k.startswith("ema.")}
    if result.best_step == 24:
        assert all(torch.equal(v, ema[k]) for k, v in best.state_dict().items())
    last = load_file(tmp_path / "last" / "model.safetensors")
    assert any(not torch.equal(v, ema[k]) for k, v in last.items())


def test_max_flops_budget_is_respected(tmp_path) -> None:
    train, _ = loaders(n_train=128, batch_size=16)
    model = tiny_model()
    per_step = step_flops(model, next(iter(train)))
    budget = 3.5 * per_step
    result = fit(model, train, None, TrainConfig(max_flops=budget, epochs=5), tmp_path)
    assert result.stopped_by == "max_flops"
    assert 0 < result.flops <= budget
    assert result.flops > budget - 2 * per_step  # stopped only when the next step would exceed it
    assert read_metrics(tmp_path / "metrics.jsonl")[-1]["flops"] == result.flops


def test_bf16_autocast_on_cpu_when_asked(tmp_path) -> None:
    train, val = loaders(n_train=32, n_val=16, batch_size=16)
    result = fit(tiny_model(), train, val, TrainConfig(max_steps=2, precision="bf16", optimizer="lion", lr=1e-4), tmp_path)
    assert result.steps == 2 and math.isfinite(result.last_val["val_loss"])


def test_empty_loader_is_an_input_error(tmp_path) -> None:
    with pytest.raises(InputError, match="train loader"):
        fit(tiny_model(), [], None, TrainConfig(max_steps=2), tmp_path)


def test_patience_stops_when_validation_gets_worse(tmp_path) -> None:
    train, _ = loaders(n_train=128, batch_size=16)
    flipped = make_block(64, 1)
    flipped.labels["label"] = 1 - flipped.labels["label"]  # learning the task makes this set worse
    val = EventLoader(flipped, 64, shuffle=False)
    cfg = TrainConfig(lr=3e-3, max_steps=60, val_every=4, patience=2)
    result = fit(tiny_model(), train, val, cfg, tmp_path)
    assert result.stopped_by == "patience" and result.steps < 60
    vals = [r for r in read_metrics(tmp_path / "metrics.jsonl") if "val_loss" in r]
    assert len(vals) >= 3 and min(r["val_loss"] for r in vals[-2:]) >= result.best_val_loss
