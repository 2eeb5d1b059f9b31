"""Shared helpers for the hepfm.train tests: a tiny learnable dataset and a tiny model (no tests here)."""

from __future__ import annotations

import numpy as np

from hepfm.data import EventBlock, EventLoader, EventSchema, LabelSpec
from hepfm.models import InputSpec, TaskSpec, create_model

SCHEMA = EventSchema(
    token_types=("track", "shower"),
    labels=(LabelSpec("label", "class", ("bkg", "sig")), LabelSpec("energy", "regression", unit="GeV")),
)
TASKS = (TaskSpec("label", "class", num_classes=2), TaskSpec("energy", "regression"))


def make_block(n: int = 256, seed: int = 0) -> EventBlock:
    """Events of 3-12 tokens; ``label`` shifts the log_pt column, ``energy`` is the mean log_e."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(3, 13, n)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    label = rng.integers(0, 2, n)
    owner = np.repeat(np.arange(n), counts)
    features = rng.normal(size=(int(offsets[-1]), 4)).astype(np.float32)
    features[:, 2] += np.where(label[owner] == 1, 0.8, -0.8)
    energy = np.bincount(owner, weights=features[:, 3]) / counts
    return EventBlock(SCHEMA, features, rng.integers(0, 2, int(offsets[-1])), offsets,
                      labels={"label": label, "energy": energy.astype(np.float32)})


def tiny_model(seed: int = 0, **overrides):
    import torch

    torch.manual_seed(seed)
    kw = dict(dim=16, depth=2, heads=2, head_hidden=16, pair_hidden=4, k=4, class_blocks=1,
              inputs=InputSpec(n_features=4, n_token_types=2), tasks=TASKS)
    return create_model("pet-tiny", **{**kw, **overrides})


def loaders(n_train: int = 256, n_val: int = 64, batch_size: int = 32, **kw) -> tuple[EventLoader, EventLoader]:
    train = EventLoader(make_block(n_train, 0), batch_size, seed=1, **kw)
    val = EventLoader(make_block(n_val, 1), 64, shuffle=False, **kw)
    return train, val


def write_dataset(directory) -> None:
    """``train.h5`` (64 events) and ``val.h5`` (32 events) in ``directory``."""
    from hepfm.data import write_events

    write_events(directory / "train.h5", make_block(64, 0))
    write_events(directory / "val.h5", make_block(32, 1))


def file_run(data_dir, out_dir, *, kill_at_step: int | None = None, **cfg):
    """Train a tiny PET with dropout from HDF5 files (under torchrun: DDP); return (model, result, loader).

    ``kill_at_step``: SIGKILL this process during the forward pass of that training step,
    as an out-of-memory killer or a pre-empted job would.
    """
    import os
    import signal
    from pathlib import Path

    from hepfm.train import TrainConfig, fit, setup_distributed

    ctx = setup_distributed("cpu")
    data_dir = Path(data_dir)
    train = EventLoader(data_dir / "train.h5", 8, seed=5, rank=ctx.rank, world_size=ctx.world_size)
    val = EventLoader(data_dir / "val.h5", 16, shuffle=False, rank=ctx.rank, world_size=ctx.world_size)
    model = tiny_model(dropout=0.2)
    if kill_at_step is not None:
        calls = []

        def hook(module, args):
            if module is model and module.training:  # not the FLOP counter's copy, not validation
                calls.append(1)
                if len(calls) == kill_at_step:
                    os.kill(os.getpid(), signal.SIGKILL)

        model.register_forward_pre_hook(hook)
    defaults = dict(lr=3e-3, epochs=3, val_every=3, checkpoint_every=4, log_every=1, ema_decay=0.9, device="cpu")
    return model, fit(model, train, val, TrainConfig(**{**defaults, **cfg}), out_dir), train
