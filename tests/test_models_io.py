"""Checkpoints: exact round trip, partial loading across domains, clear errors, adapters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hepfm.errors import InputError
from hepfm.models import (
    HepModel,
    InputSpec,
    TaskSpec,
    create_model,
    example_batch,
    load_matching,
    resolve_pretrained,
)
from hepfm.models import io as model_io
from hepfm.models import zoo as zoo_module

JET_TASKS = [TaskSpec("jet_class", "class", num_classes=10)]
NU_TASKS = [TaskSpec("channel", "class", num_classes=3), TaskSpec("e_avail", "regression", loss="l1")]


pytestmark = pytest.mark.usefixtures("one_thread")


def _jet_model(name: str = "pet-tiny") -> HepModel:
    torch.manual_seed(0)
    return create_model(name, tasks=JET_TASKS, inputs=InputSpec(n_token_types=1, n_event=2)).eval()


def test_save_and_from_pretrained_round_trip_is_exact(tmp_path: Path) -> None:
    model = _jet_model().train()
    model(example_batch(model.config, seed=0))  # moves the input-normalisation statistics
    model.eval()
    assert model.inputs.core.norm.updates.item() == 1
    path = model.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    loaded, report = HepModel.from_pretrained(path)
    assert report.skipped == [] and report.new == []
    assert len(report.loaded) == len(model.state_dict())
    assert loaded.config == model.config
    batch = example_batch(model.config, seed=1)
    with torch.no_grad():
        assert torch.equal(loaded.eval()(batch)["jet_class"], model(batch)["jet_class"])
    # saving again over an existing checkpoint replaces it and leaves no temporary behind
    model.save_pretrained(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_transfer_to_new_domain_loads_backbone_and_reports_the_rest(tmp_path: Path) -> None:
    jet = _jet_model()
    jet.save_pretrained(tmp_path / "jet")
    nu_inputs = {"n_token_types": 4, "n_extra": 3}  # partial dict: merged with the checkpoint's inputs
    nu, report = HepModel.from_pretrained(tmp_path / "jet", tasks=NU_TASKS, inputs=nu_inputs)
    assert nu.config.inputs == InputSpec(n_features=4, n_token_types=4, n_extra=3, n_event=2)

    jet_state, nu_state = jet.state_dict(), nu.state_dict()
    for name in report.loaded:
        assert torch.equal(nu_state[name], jet_state[name]), name
    assert all(n.startswith(("backbone.", "inputs.core.", "inputs.event.")) for n in report.loaded)
    assert any(n.startswith("backbone.blocks.") for n in report.loaded)
    assert "inputs.token_type.weight" in report.skipped and "inputs.token_type.weight" in report.new
    assert {n for n in report.skipped if n.startswith("heads.")} == {n for n in jet_state if n.startswith("heads.")}
    assert {n for n in report.new if n.startswith("heads.")} == {n for n in nu_state if n.startswith("heads.")}
    assert {"inputs.extra.mlp.weight", "inputs.extra.mlp.bias", "inputs.extra.norm.mean"} <= set(report.new)
    assert set(report.loaded) | set(report.new) == set(nu_state)

    text = str(report)
    assert f"loaded {len(report.loaded)} tensors" in text
    assert "inputs.token_type.weight (checkpoint (1, 64) != model (4, 64))" in text
    assert "heads.jet_class.net.0.weight (not in model)" in text

    batch = example_batch(nu.config, seed=2)
    out = nu(batch)
    assert out["channel"].shape == (8, 3) and out["e_avail"].shape == (8,)


def test_load_matching_never_raises_on_mismatch() -> None:
    model = _jet_model("pt-tiny")
    state = {"backbone.blocks.0.norm1.weight": torch.full((64,), 2.0), "nonsense": torch.zeros(3),
             "backbone.blocks.0.norm1.bias": torch.zeros(5)}
    report = load_matching(model, state)
    assert report.loaded == ["backbone.blocks.0.norm1.weight"]
    assert sorted(report.skipped) == ["backbone.blocks.0.norm1.bias", "nonsense"]
    assert torch.equal(model.backbone.blocks[0].norm1.weight, torch.full((64,), 2.0))


def test_transferable_prefixes_cover_everything_but_heads() -> None:
    for name in ("pet-tiny", "pt-tiny", "mlp"):
        model = create_model(name, tasks=JET_TASKS, inputs=InputSpec(n_extra=2, n_event=3))
        prefixes = model.transferable_prefixes()
        assert "backbone." in prefixes
        for pname, _ in model.named_parameters():
            assert pname.startswith(prefixes) != pname.startswith("heads."), pname
    assert create_model("pet-tiny").transferable_prefixes() == ("inputs.core.", "inputs.token_type.", "backbone.")


@pytest.mark.parametrize("name", ["pet-tiny", "mlp"])
def test_adapters_leave_output_unchanged_and_round_trip(name: str, tmp_path: Path) -> None:
    model = _jet_model(name)
    batch = example_batch(model.config, seed=3)
    with torch.no_grad():
        before = model(batch)["jet_class"]
    names = model.add_adapters(bottleneck=4)
    n_blocks = len(model.backbone.blocks) + len(getattr(getattr(model.backbone, "pool", None), "blocks", []))
    assert len(names) == 4 * n_blocks
    params = dict(model.named_parameters())
    assert all(".adapter." in n and n in params for n in names)
    assert model.config.adapter_bottleneck == 4
    with torch.no_grad():
        assert torch.equal(model(batch)["jet_class"], before)
    with pytest.raises(InputError):
        model.add_adapters(4)
    # train the adapters a little so they matter, then check they survive a checkpoint
    with torch.no_grad():
        for n in names:
            params[n].add_(0.1 * torch.randn_like(params[n]))
        changed = model(batch)["jet_class"]
    assert not torch.allclose(changed, before, rtol=0, atol=1e-4)
    model.save_pretrained(tmp_path / "adapted")
    loaded, report = HepModel.from_pretrained(tmp_path / "adapted")
    assert report.new == [] and report.skipped == []
    with torch.no_grad():
        assert torch.equal(loaded.eval()(batch)["jet_class"], changed)


def test_resolve_pretrained_checks_directory_then_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zoo = tmp_path / "zoo"
    _jet_model().save_pretrained(zoo / "pet-tiny-jets")
    monkeypatch.setenv("HEPFM_ZOO", str(zoo))  # the local zoo
    monkeypatch.setattr(zoo_module, "ZOO_DIR", tmp_path / "no-shipped-zoo")
    assert resolve_pretrained("pet-tiny-jets") == zoo / "pet-tiny-jets"
    assert resolve_pretrained(tmp_path) == tmp_path
    model, report = HepModel.from_pretrained("pet-tiny-jets")
    assert report.new == []
    with pytest.raises(InputError, match="available: pet-tiny-jets"):
        resolve_pretrained("no-such-backbone")
    with pytest.raises(InputError):
        resolve_pretrained("../zoo/pet-tiny-jets")


def test_bad_checkpoints_raise_input_error(tmp_path: Path) -> None:
    path = _jet_model().save_pretrained(tmp_path / "ckpt")
    config = json.loads((path / "config.json").read_text())

    (path / "config.json").write_text(json.dumps({**config, "widht": 3}))
    with pytest.raises(InputError, match=r"config\.json:model\.widht: unknown key"):
        HepModel.from_pretrained(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        HepModel.from_pretrained(path)
    (path / "config.json").write_text(json.dumps(config))

    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="model.safetensors"):
        HepModel.from_pretrained(path)
    (path / "model.safetensors").unlink()
    with pytest.raises(InputError, match="missing"):
        HepModel.from_pretrained(path)


def test_failed_save_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _jet_model()
    path = model.save_pretrained(tmp_path / "ckpt")
    before = (path / "model.safetensors").read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(model_io, "save_file", boom)
    with torch.no_grad():
        model.backbone.blocks[0].norm1.weight.add_(1.0)
    with pytest.raises(OSError):
        model.save_pretrained(path)
    assert (path / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_calibrate_inputs_restandardises_a_transferred_model() -> None:
    model = create_model("pet-tiny", inputs=InputSpec(n_features=4, n_token_types=3, n_extra=2, n_event=2),
                         tasks=JET_TASKS, dim=16, depth=1, heads=2, head_hidden=16)
    old = example_batch(model.config, batch_size=8, n_tokens=10, seed=0)
    model.calibrate_inputs([old])
    norm = model.inputs.core.norm
    first = norm.mean.clone()
    new = example_batch(model.config, batch_size=8, n_tokens=10, seed=1)
    new["x"] = new["x"] * 3.0 - 5.0  # another domain: other scales and offsets
    assert model.calibrate_inputs([new]) == 1
    real = new["x"][new["mask"]]
    assert torch.allclose(norm.mean, real.mean(0), atol=1e-5) and not torch.allclose(norm.mean, first)
    model.calibrate_inputs([old], reset=False)  # without reset the statistics blend
    assert not torch.allclose(norm.mean, real.mean(0), atol=1e-3)
