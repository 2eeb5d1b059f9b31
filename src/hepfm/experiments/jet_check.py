"""Check a jet backbone on fresh jets: top-vs-QCD AUC, and against a random-init twin.

Used by the tests of the shipped backbones and by ``scripts/make_jet_backbones.sh`` for their
model cards. Fresh jets come from :mod:`hepfm.simulate.jets` with a seed never used for the
training corpus.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from hepfm.data import EventBlock, EventLoader, LabelSpec, write_events
from hepfm.evaluate.classification import roc_auc

QCD_CLASSES = ("q", "g")
TOP_CLASS = "tbqq"


def fresh_jets(n_per_class: int, seed: int, *, pthat_factor: float = 0.8, n_shards: int = 1,
               workers: int = 1) -> EventBlock:
    """``n_per_class`` light-quark, gluon and top jets generated now with ``seed`` (``n_shards`` shards)."""
    from hepfm.simulate.jets import JetConfig, generate_jets

    return generate_jets(n_per_class, classes=(*QCD_CLASSES, TOP_CLASS), seed=seed, n_shards=n_shards,
                         workers=min(workers, n_shards), config=JetConfig(pthat_factor=pthat_factor))


def top_label(block: EventBlock) -> EventBlock:
    """The q, g and top jets of ``block`` with one more label, ``top`` (0: QCD, 1: top)."""
    names = block.schema.label("label").classes
    codes = [names.index(c) for c in (*QCD_CLASSES, TOP_CLASS)]
    sub = block.select(np.flatnonzero(np.isin(block.labels["label"], codes)))
    is_top = (sub.labels["label"] == names.index(TOP_CLASS)).astype(np.int64)
    schema = dataclasses.replace(sub.schema, labels=(*sub.schema.labels, LabelSpec("top", "class", ("qcd", "top"))))
    return dataclasses.replace(sub, schema=schema, labels={**sub.labels, "top": is_top})


def _probabilities(model: Any, block: EventBlock, task: str, max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    from hepfm.evaluate.inference import predict

    with tempfile.TemporaryDirectory() as tmp:
        path = write_events(Path(tmp) / "jets.h5", block)[0]
        loader = EventLoader(path, 256, shuffle=False, max_tokens=max_tokens, labels=[task])
        preds = predict(model, loader, [task], progress=False)
    return preds.outputs[task], preds.labels[task]


def top_vs_qcd_auc(model: Any, block: EventBlock, *, max_tokens: int = 128) -> float:
    """AUC of p(top) / (p(top) + p(q) + p(g)) from a model's 9-class jet head, on the q/g/top jets of ``block``."""
    names = block.schema.label("label").classes
    probs, labels = _probabilities(model, block, "label", max_tokens)
    top, qcd = names.index(TOP_CLASS), [names.index(c) for c in QCD_CLASSES]
    keep = np.isin(labels, [top, *qcd])
    score = probs[keep, top] / np.maximum(probs[keep][:, [top, *qcd]].sum(axis=1), 1e-12)
    return roc_auc(score, labels[keep] == top)


def compare_with_random_init(backbone: str | Path, train: EventBlock, test: EventBlock, out: Path, *,
                             steps: int = 40, seed: int = 0, max_tokens: int = 128) -> dict[str, float]:
    """Fine-tune ``backbone`` and its random-init twin for ``steps`` on top vs QCD; test AUC of each.

    Same architecture, data, seed, learning-rate recipe and number of steps for both.
    """
    from hepfm.experiments.run import Recipe, run_recipe

    out = Path(out)
    train, test = top_label(train), top_label(test)
    write_events(out / "data" / "train.h5", train)
    write_events(out / "data" / "test.h5", test)
    results = {}
    for init in ("pretrained", "random"):
        recipe = Recipe.from_raw({
            "data": {"train": str(out / "data" / "train.h5"), "val": str(out / "data" / "test.h5"),
                     "test": str(out / "data" / "test.h5"), "max_tokens": max_tokens},
            "model": {"backbone": str(backbone), "init": init},
            "tasks": [{"label": "top"}],
            "train": {"max_steps": steps, "batch_size": 64, "lr": 1e-3, "warmup_steps": 5,
                      "val_every": steps, "seed": seed},
            "out": str(out / init),
        })
        report = run_recipe(recipe, resume=False)
        results[init] = float(report["test"]["top"]["signal"]["auc"])
    return results


def check_backbone(checkpoint: str | Path, *, n_per_class: int = 500, seed: int = 20261124, steps: int = 40,
                   workers: int = 1, out: Path | None = None) -> dict[str, Any]:
    """Top-vs-QCD AUC of ``checkpoint`` on fresh jets, and fine-tuned against its random-init twin."""
    from hepfm.models import HepModel

    block = fresh_jets(n_per_class, seed, workers=workers)
    order = np.random.default_rng(seed).permutation(len(block))
    half = len(block) // 2
    train, test = block.select(np.sort(order[:half])), block.select(np.sort(order[half:]))
    model, _ = HepModel.from_pretrained(checkpoint)
    metrics: dict[str, Any] = {"top_vs_qcd_auc": top_vs_qcd_auc(model, test),
                               "fresh_jets": {"n_per_class": n_per_class, "seed": seed, "test_jets": len(test)}}
    with tempfile.TemporaryDirectory() as tmp:
        finetuned = compare_with_random_init(checkpoint, train, test, out or Path(tmp), steps=steps, seed=0)
    metrics["finetune_top_vs_qcd_auc"] = {**finetuned, "steps": steps, "train_jets": len(train)}
    return metrics


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Check a jet backbone on freshly generated jets.")
    parser.add_argument("checkpoint", help="checkpoint folder or zoo name")
    parser.add_argument("--out", required=True, help="JSON file for the metrics")
    parser.add_argument("--n-per-class", type=int, default=500)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    result = check_backbone(args.checkpoint, n_per_class=args.n_per_class, seed=args.seed, steps=args.steps,
                            workers=args.workers)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
