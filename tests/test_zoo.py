"""The model zoo: register a trained backbone with its card, list/show it, fine-tune from its name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hepfm.data import read_all, split_events, write_events
from hepfm.errors import InputError
from hepfm.models import HepModel
from hepfm.models.zoo import list_backbones, register_run
from hepfm.simulate.jets import sample_path


@pytest.fixture()
def local_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HEPFM_ZOO", str(tmp_path / "zoo"))
    return tmp_path / "zoo"


def test_zoo_add_list_show_and_finetune_by_name(tmp_path: Path, local_zoo: Path, cli, tiny: list[str]) -> None:
    _run = cli
    block = read_all(sample_path())
    write_events(tmp_path / "jets.h5", block.select(np.arange(0, len(block), 4)))
    split_events(tmp_path / "jets.h5", tmp_path / "split", seed=0)
    _run("pretrain", "--data", str(tmp_path / "split" / "train"), "--model", "pet-tiny",
         "--out", str(tmp_path / "pre"), "--set", "train.max_steps=4", "--set", "train.val_every=2", *tiny)
    (tmp_path / "extra.json").write_text(json.dumps({"top_vs_qcd_auc": 0.5}))
    _run("zoo", "add", str(tmp_path / "pre"), "--name", "tiny-test", "--data-command", "hepfm simulate jets x",
         "--metrics", str(tmp_path / "extra.json"))

    entry = next(e for e in list_backbones() if e.name == "tiny-test")
    assert entry.source == "local" and entry.path == local_zoo / "tiny-test"
    card = entry.card
    assert card["architecture"] == "pet-tiny" and card["parameters"] > 0
    assert card["data"]["train"]["events"] > 0 and card["data"]["command"] == "hepfm simulate jets x"
    assert card["training"]["steps"] == 4 and card["test_metrics"]["top_vs_qcd_auc"] == 0.5
    assert [r["step"] for r in card["curve"]][-1] == 4
    assert (entry.path / "training_curve.png").stat().st_size > 1000
    assert "tiny-test" in _run("zoo", "list")
    shown = _run("zoo", "show", "tiny-test")
    assert "## Training" in shown and "top_vs_qcd_auc" in shown

    model, report = HepModel.from_pretrained("tiny-test")
    assert report.new == [] and model.config.name == "pet-tiny"
    out = _run("finetune", "--backbone", "tiny-test", "--data", str(tmp_path / "split" / "train"),
               "--out", str(tmp_path / "ft"), "--set", "train.max_steps=2", *tiny)
    assert "accuracy" in out

    with pytest.raises(InputError, match="already exists"):
        register_run(tmp_path / "pre", "tiny-test")
    with pytest.raises(InputError, match="best"):
        register_run(tmp_path / "split", "other")
