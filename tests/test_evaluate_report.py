import json

import numpy as np
import pytest

from hepfm.data import EventBlock, EventSchema, LabelSpec, write_events
from hepfm.errors import InputError
from hepfm.evaluate import evaluate_checkpoint, read_predictions
from hepfm.models import InputSpec, TaskSpec, create_model


def dataset(path, n=60, n_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 8, n)
    offsets = np.r_[0, np.cumsum(counts)]
    schema = EventSchema(
        token_types=("track", "shower"),
        event=("e_vis",),
        labels=(LabelSpec("channel", "class", tuple(f"c{i}" for i in range(n_classes))), LabelSpec("e_avail", "regression")),
    )
    e_vis = rng.uniform(0.5, 5.0, n).astype(np.float32)
    labels = {"channel": rng.integers(0, n_classes, n), "e_avail": e_vis * rng.uniform(0.9, 1.2, n)}
    labels["channel"][:2] = [0, 1]
    block = EventBlock(schema, rng.normal(size=(offsets[-1], 4)), rng.integers(0, 2, offsets[-1]), offsets,
                       event=e_vis[:, None], labels=labels)
    write_events(path, block)
    return block


def checkpoint(path):
    model = create_model("mlp", inputs=InputSpec(4, 2, 0, 1),
                         tasks=[TaskSpec("channel", "class", num_classes=2), TaskSpec("e_avail", "regression")])
    model.save_pretrained(path)


def test_evaluate_checkpoint_writes_predictions_metrics_and_plots(tmp_path):
    block = dataset(tmp_path / "data")
    checkpoint(tmp_path / "ckpt")
    metrics = evaluate_checkpoint(tmp_path / "ckpt", tmp_path / "data", tmp_path / "eval", batch_size=16, device="cpu", progress=False)
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text()) == metrics
    channel, energy = metrics["channel"], metrics["e_avail"]
    assert channel["classes"] == ["c0", "c1"] and channel["signal"]["class"] == "c1" and 0 <= channel["signal"]["auc"] <= 1
    assert energy["n_events"] == 60 and energy["residual"] == "relative"
    preds = read_predictions(tmp_path / "eval" / "predictions.h5")
    np.testing.assert_array_equal(np.sort(preds.event_ids), np.arange(60))
    order = np.argsort(preds.event_ids)
    np.testing.assert_array_equal(preds.labels["channel"][order], block.labels["channel"])
    assert preds.outputs["channel"].shape == (60, 2) and preds.meta["model"]["family"] == "mlp"
    for name in ("channel_roc", "channel_confusion", "e_avail_response"):
        assert (tmp_path / "eval" / "plots" / f"{name}.png").stat().st_size > 1000


def test_evaluate_checkpoint_rejects_mismatched_labels(tmp_path):
    dataset(tmp_path / "data", n_classes=3)
    checkpoint(tmp_path / "ckpt")
    with pytest.raises(InputError, match="labels/channel"):
        evaluate_checkpoint(tmp_path / "ckpt", tmp_path / "data", tmp_path / "eval", progress=False)
    assert not (tmp_path / "eval").exists()
