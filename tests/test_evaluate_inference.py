from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from hepfm.errors import InputError
from hepfm.evaluate import evaluate_model, predict


@dataclass(frozen=True)
class Task:
    name: str
    kind: str
    num_classes: int = 0


class ToyModel(nn.Module):
    """Stand-in for HepModel: summed token features -> 3-class logits; energy = 1.1 x event[0]."""

    def __init__(self) -> None:
        super().__init__()
        self.config = SimpleNamespace(tasks=(Task("flavour", "class", 3), Task("energy", "regression")))
        self.lin = nn.Linear(2, 3)
        self.drop = nn.Dropout(0.5)  # must be off in evaluation

    def features(self, batch):
        return (batch["x"] * batch["mask"][..., None]).sum(1)

    def forward(self, batch):
        assert not torch.is_grad_enabled()
        return {"flavour": self.lin(self.drop(self.features(batch))), "energy": 1.1 * batch["event"][:, :1]}


def make_batches(n_batches=4, b=16, seed=0, with_index=False):
    g = torch.Generator().manual_seed(seed)
    batches = []
    for i in range(n_batches):
        m = 5
        mask = torch.rand(b, m, generator=g) < 0.7
        x = torch.randn(b, m, 2, generator=g) * mask[..., None]
        energy = torch.rand(b, generator=g) * 9 + 1
        batch = {
            "x": x,
            "token_type": torch.zeros(b, m, dtype=torch.int64),
            "extra": torch.zeros(b, m, 0),
            "mask": mask,
            "event": energy[:, None],
            "labels": {"flavour": torch.randint(0, 3, (b,), generator=g), "energy": energy},
        }
        if with_index:
            batch["index"] = torch.arange(b) + 100 * i
        batches.append(batch)
    return batches


def test_evaluate_model_outputs_labels_and_metrics():
    model = ToyModel().train()
    batches = make_batches()
    outputs, labels, metrics = evaluate_model(model, batches, progress=False, class_names={"flavour": ["b", "c", "light"]})
    assert model.training  # mode restored
    with torch.no_grad():
        expected = torch.cat([torch.softmax(model.lin(model.features(b)), -1) for b in batches]).numpy()
    np.testing.assert_allclose(outputs["flavour"], expected, rtol=1e-5, atol=1e-6)  # dropout was off
    np.testing.assert_allclose(outputs["flavour"].sum(1), 1.0, rtol=1e-5)
    assert outputs["energy"].shape == (64,)
    np.testing.assert_array_equal(labels["flavour"], torch.cat([b["labels"]["flavour"] for b in batches]).numpy())
    energy = metrics["energy"]
    assert energy["residual"] == "relative"
    assert energy["overall"]["bias_mean"] == pytest.approx(0.1, abs=1e-5)
    assert energy["overall"]["resolution_std"] == pytest.approx(0.0, abs=1e-5)
    flavour = metrics["flavour"]
    assert flavour["classes"] == ["b", "c", "light"] and flavour["n_events"] == 64
    assert flavour["accuracy"] == pytest.approx(np.mean(expected.argmax(1) == labels["flavour"]))
    assert "signal" not in flavour


def test_unknown_labels_are_skipped_and_ids_are_kept():
    batches = make_batches(with_index=True)
    batches[0]["labels"]["flavour"][:5] = -1
    batches[1]["labels"]["energy"][:3] = float("nan")
    preds = predict(ToyModel(), batches, progress=False)
    np.testing.assert_array_equal(preds.event_ids, np.concatenate([np.arange(16) + 100 * i for i in range(4)]))
    _, _, metrics = evaluate_model(ToyModel(), batches, ["flavour", "energy"], progress=False)
    assert metrics["flavour"]["n_events"] == 59 and metrics["flavour"]["n_unknown_label"] == 5
    assert metrics["energy"]["n_events"] == 61 and metrics["energy"]["n_unknown_label"] == 3


def test_task_selection_and_errors():
    model = ToyModel()
    batches = make_batches(n_batches=2)
    outputs, _, metrics = evaluate_model(model, batches, ["energy"], progress=False)
    assert set(outputs) == set(metrics) == {"energy"}
    for batch in batches:
        del batch["labels"]
    outputs, labels, metrics = evaluate_model(model, batches, progress=False)
    assert set(outputs) == {"flavour", "energy"} and labels == {} and metrics == {}
    with pytest.raises(InputError, match="unknown task"):
        evaluate_model(model, batches, ["charm"], progress=False)
    with pytest.raises(InputError, match="no output"):
        evaluate_model(model, batches, [Task("charm", "class", 2)], progress=False)
    with pytest.raises(InputError, match="no batches"):
        evaluate_model(model, [], progress=False)


def test_relative_residuals_skip_a_few_zero_truths() -> None:
    from types import SimpleNamespace

    from hepfm.evaluate.inference import task_metrics
    from hepfm.models import TaskSpec

    true = np.concatenate([np.zeros(3), np.linspace(1.0, 2.0, 997)])
    preds = SimpleNamespace(outputs={"e": 1.1 * true}, labels={"e": true})
    m = task_metrics(preds, [TaskSpec("e", "regression")])["e"]
    assert m["residual"] == "relative" and m["n_nonpositive_true"] == 3
    assert abs(m["overall"]["bias_mean"] - 0.1) < 1e-9
    many = np.concatenate([np.zeros(50), np.linspace(1.0, 2.0, 950)])
    m = task_metrics(SimpleNamespace(outputs={"e": many}, labels={"e": many}), [TaskSpec("e", "regression")])["e"]
    assert m["residual"] == "absolute" and m["n_nonpositive_true"] == 0
