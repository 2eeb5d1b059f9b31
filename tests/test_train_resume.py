"""Exact resume: a run SIGKILLed mid-training and resumed ends where an uninterrupted run ends."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from test_train_fixtures import file_run, tiny_model, write_dataset

from hepfm.errors import InputError
from hepfm.train import TrainConfig, build_optimizer, read_metrics
from hepfm.train.checkpoint import find_resumable, load_checkpoint, read_info, rng_state, save_checkpoint
from hepfm.train.ema import EMA

TESTS = Path(__file__).parent


def _without_time(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_time"} for r in records]


def test_killed_run_resumes_exactly(tmp_path) -> None:
    write_dataset(tmp_path)
    model_a, result_a, _ = file_run(tmp_path, tmp_path / "a")  # uninterrupted: 3 epochs x 8 batches

    code = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); from test_train_fixtures import file_run; "
            f"file_run({str(tmp_path)!r}, {str(tmp_path / 'b')!r}, kill_at_step=11)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    killed = read_metrics(tmp_path / "b" / "metrics.jsonl")
    assert killed[-1]["step"] == 10  # steps 9 and 10 ran after the checkpoint at step 8
    state = load_file(tmp_path / "b" / "last" / "train_state.safetensors")
    assert any(k.startswith("optim.") for k in state) and any(k.startswith("rng.0.") for k in state)

    model_b, result_b, _ = file_run(tmp_path, tmp_path / "b")  # resumes from b/last (step 8)
    assert result_b.steps == result_a.steps == 24
    a, b = model_a.state_dict(), model_b.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ema_a = load_file(tmp_path / "a" / "last" / "train_state.safetensors")
    ema_b = load_file(tmp_path / "b" / "last" / "train_state.safetensors")
    assert all(torch.equal(ema_a[k], ema_b[k]) for k in ema_a if k.startswith(("ema.", "optim.")))

    # the log continues without duplicates; losses, FLOPs and validation match the uninterrupted run
    records_a, records_b = read_metrics(tmp_path / "a" / "metrics.jsonl"), read_metrics(tmp_path / "b" / "metrics.jsonl")
    assert _without_time(records_a) == _without_time(records_b)
    assert [r["step"] for r in records_b] == list(range(1, 25))
    times = [r["wall_time"] for r in records_b]
    assert times == sorted(times)
    assert result_b.best_val_loss == result_a.best_val_loss


def test_checkpoint_round_trip_and_bad_files(tmp_path) -> None:
    model = tiny_model()
    opt = build_optimizer(model, TrainConfig(epochs=1, optimizer="lion"))
    sum(o.float().sum() for o in model({"x": torch.randn(2, 5, 4), "token_type": torch.zeros(2, 5, dtype=torch.long),
                                        "extra": torch.zeros(2, 5, 0), "event": torch.zeros(2, 0),
                                        "mask": torch.ones(2, 5, dtype=torch.bool)}).values()).backward()
    opt.step()
    ema = EMA(model, 0.9)
    info = dict(step=3, epoch=0, batch_in_epoch=3, flops=1.0, wall_time=2.0, config={})
    state = rng_state()
    save_checkpoint(tmp_path / "last", model, info, optimizer=opt, ema=ema, rng=[state])
    expected = (torch.rand(3), np.random.rand(3), random.random())

    other = tiny_model(seed=1)
    other_opt = build_optimizer(other, TrainConfig(epochs=1, optimizer="lion"))
    assert find_resumable(tmp_path) == tmp_path / "last"
    assert load_checkpoint(tmp_path / "last", other, optimizer=other_opt, ema=EMA(other, 0.9))["step"] == 3
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))
    assert all(torch.equal(opt.state[p]["exp_avg"], other_opt.state[q]["exp_avg"])
               for p, q in zip(model.parameters(), other.parameters()) if p in opt.state)
    got = (torch.rand(3), np.random.rand(3), random.random())  # generators continue as after the save
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]) and got[2] == expected[2]

    # a crash between the two renames of an atomic swap leaves only the old copy: still found
    (tmp_path / "last").rename(tmp_path / ".last.old-123")
    assert find_resumable(tmp_path) == tmp_path / ".last.old-123"
    (tmp_path / ".last.old-123" / "train_state.json").write_text("{not json")
    with pytest.raises(InputError, match="train_state.json: not valid JSON"):
        read_info(tmp_path / ".last.old-123")


def test_run_recipe_resumes_unless_told_not_to(tmp_path, one_thread) -> None:
    from hepfm.experiments.run import Recipe, run_recipe

    write_dataset(tmp_path)

    def recipe(max_steps: int) -> Recipe:
        return Recipe.from_raw({
            "data": {"train": str(tmp_path / "train.h5"), "val": str(tmp_path / "val.h5"), "max_tokens": 16},
            "tasks": [{"label": "label"}],
            "model": {"name": "pet-tiny", "options": {"dim": 16, "depth": 1, "heads": 2, "head_hidden": 16}},
            "train": {"max_steps": max_steps, "batch_size": 32, "val_every": 2, "checkpoint_every": 2, "log_every": 1},
            "out": str(tmp_path / "run"),
        })

    run_recipe(recipe(4))
    run_recipe(recipe(6))  # continues at step 4
    assert [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl")] == [1, 2, 3, 4, 5, 6]
    first = read_metrics(tmp_path / "run" / "metrics.jsonl")[0]
    run_recipe(recipe(2), resume=False)  # starts afresh: the same first step, then stops at 2
    again = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in again] == [1, 2]
    assert again[0]["train_loss"] == pytest.approx(first["train_loss"])
