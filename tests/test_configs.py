"""Every shipped YAML recipe parses: no unknown keys, valid training options, known models."""

from __future__ import annotations

from pathlib import Path

import pytest

from hepfm.config import load_yaml
from hepfm.experiments.run import Recipe
from hepfm.models import create_model
from hepfm.train import TrainConfig

CONFIGS = sorted(p for p in (Path(__file__).parents[1] / "configs").rglob("*.yaml") if p.parent.name not in ("ntuples", "transfer"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_recipe_parses(path: Path) -> None:
    recipe = Recipe.from_raw(load_yaml(path), where=str(path))
    TrainConfig.from_dict(recipe.train, where=f"{path}:train")
    if not recipe.model.backbone:
        create_model(recipe.model.name, **recipe.model.options)


def test_configs_exist() -> None:
    assert len(CONFIGS) >= 3
