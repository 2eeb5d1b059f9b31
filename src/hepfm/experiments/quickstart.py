"""``hepfm quickstart``: a reduced transfer study on the jet sample shipped in the package.

1. Pretrain ``pet-tiny`` on multi-class jet tagging with the pretraining classes.
2. Fine-tune it on a task it never saw (Z → qq̄ vs H → bb̄) with few labels, and a
   random-init twin with an identical recipe and budget.
3. Print and save the comparison (test AUC, accuracy, best validation loss, FLOPs).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from hepfm.data import EventBlock, LabelSpec, read_all, split_events, write_events
from hepfm.errors import InputError
from hepfm.experiments.run import Recipe, run_recipe

log = logging.getLogger("hepfm.quickstart")

PRETRAIN_CLASSES = ("q", "g", "tbqq", "wqq", "hcc", "hgg", "h4q")
FINETUNE_CLASSES = ("zqq", "hbb")
FINETUNE_LABELS = 600  # labelled training jets for the fine-tuning task


def select_classes(block: EventBlock, classes: tuple[str, ...], label: str = "label") -> EventBlock:
    """Events of the named classes, relabelled 0..len(classes)-1 in that order."""
    names = block.schema.label(label).classes
    missing = [c for c in classes if c not in names]
    if missing:
        raise InputError(f"label {label!r}", f"classes {missing} not in the sample (has {list(names)})")
    codes = np.array([names.index(c) for c in classes])
    keep = np.flatnonzero(np.isin(block.labels[label], codes))
    sub = block.select(keep)
    remap = np.full(len(names), -1, dtype=np.int64)
    remap[codes] = np.arange(len(classes))
    labels = tuple(LabelSpec(label, "class", classes) if s.name == label else s for s in block.schema.labels)
    schema = dataclasses.replace(block.schema, labels=labels)
    return EventBlock(schema, sub.features, sub.token_type, sub.offsets, sub.extra, sub.event,
                      {**sub.labels, label: remap[sub.labels[label]]})


def _prepare(block: EventBlock, folder: Path, fractions: tuple[float, float, float], seed: int) -> Path:
    write_events(folder / "all", block)
    split_events(folder / "all", folder, fractions=fractions, seed=seed)
    return folder / "train"


def run_quickstart(out: Path, *, steps: int | None = None, seed: int = 0) -> str:
    """Run the reduced study into ``out``; return a printable summary."""
    from hepfm.simulate.jets import sample_path

    out = Path(out)
    sample = read_all(sample_path())
    log.info("shipped jet sample: %d jets, classes %s", len(sample), sample.schema.label("label").classes)

    pre = select_classes(sample, PRETRAIN_CLASSES)
    ft = select_classes(sample, FINETUNE_CLASSES)
    n_ft = len(ft)
    train_frac = min(FINETUNE_LABELS / n_ft, 0.5)
    pre_train = _prepare(pre, out / "data" / "pretrain", (0.8, 0.1, 0.1), seed)
    ft_train = _prepare(ft, out / "data" / "finetune", (train_frac, 0.15, 0.85 - train_frac), seed)

    common = {"batch_size": 64, "lr": 1e-3, "warmup_steps": 20, "val_every": 25, "seed": seed}
    pretrain = Recipe.from_raw({
        "data": {"train": str(pre_train), "max_tokens": 64},
        "model": {"name": "pet-tiny"},
        "train": {**common, "max_steps": 300},
        "out": str(out / "pretrain"),
    })
    log.info("pretraining pet-tiny on %d jets (%s)", len(pre), ", ".join(PRETRAIN_CLASSES))
    run_recipe(pretrain)

    results: dict[str, Any] = {}
    for init in ("pretrained", "random"):
        recipe = Recipe.from_raw({
            "data": {"train": str(ft_train), "max_tokens": 64},
            "model": {"backbone": str(out / "pretrain" / "best"), "init": init},
            "train": {**common, "max_steps": steps or 150, "lr": 5e-4},
            "out": str(out / f"finetune-{init}"),
        })
        log.info("fine-tuning (%s init) on Z->qq vs H->bb", init)
        report = run_recipe(recipe)
        results[init] = _headline(report)

    comparison = {
        "task": "Z->qq (background) vs H->bb (signal), shipped Pythia 8 sample",
        "finetune_training_jets": int(round(train_frac * n_ft)),
        "pretraining_jets": int(round(0.8 * len(pre))),
        "results": results,
    }
    path = out / "comparison.json"
    path.write_text(json.dumps(comparison, indent=2))
    return _format(comparison, path)


def _headline(report: dict[str, Any]) -> dict[str, Any]:
    test = report.get("test", {}).get("label", {})
    fit = report.get("fit", {})
    signal = test.get("signal", {})
    return {
        "test_auc": signal.get("auc"),
        "test_accuracy": test.get("accuracy"),
        "best_val_loss": fit.get("best_val_loss"),
        "train_flops": fit.get("flops"),
    }


def _format(comparison: dict[str, Any], path: Path) -> str:
    lines = [f"quickstart: {comparison['task']}",
             f"  fine-tuned on {comparison['finetune_training_jets']} labelled jets, "
             f"backbone pretrained on {comparison['pretraining_jets']} jets",
             f"  {'init':<12}{'test AUC':>10}{'accuracy':>10}{'best val loss':>15}"]
    for init, r in comparison["results"].items():
        fmt = lambda v, spec: format(v, spec) if isinstance(v, (int, float)) else "n/a"  # noqa: E731
        lines.append(f"  {init:<12}{fmt(r['test_auc'], '.4f'):>10}{fmt(r['test_accuracy'], '.4f'):>10}"
                     f"{fmt(r['best_val_loss'], '.4f'):>15}")
    lines.append(f"  saved: {path}")
    return "\n".join(lines)
