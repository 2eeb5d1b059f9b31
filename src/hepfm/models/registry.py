"""Model registry (timm style): ``create_model("pet-small", tasks=[...], inputs=...)``."""

from __future__ import annotations

from typing import Any

from hepfm.errors import InputError
from hepfm.models.config import ModelConfig
from hepfm.models.model import HepModel

# token-transformer sizes; small/medium/large match OmniLearned PET2 (blocks, width, heads, class blocks)
TOKEN_SIZES: dict[str, dict[str, Any]] = {
    "tiny": dict(dim=64, depth=4, heads=4, class_blocks=1, head_hidden=64),
    "small": dict(dim=128, depth=8, heads=8, class_blocks=2, head_hidden=128),
    "medium": dict(dim=512, depth=12, heads=16, class_blocks=2, head_hidden=512),
    "large": dict(dim=1024, depth=28, heads=32, class_blocks=4, head_hidden=1024, pair_hidden=32),
}

PRESETS: dict[str, ModelConfig] = {
    **{
        f"{fam}-{size}": ModelConfig(family=fam, size=size, **kw)
        for fam in ("pet", "pt")
        for size, kw in TOKEN_SIZES.items()
    },
    "mlp": ModelConfig(family="mlp", size="base", dim=128, depth=3, head_hidden=0),
}


def list_models() -> list[str]:
    """All registered model names."""
    return sorted(PRESETS)


def model_config(name: str, **overrides: Any) -> ModelConfig:
    """The preset config of ``name`` with ``overrides`` (ModelConfig fields) applied."""
    if name not in PRESETS:
        raise InputError("model", f"unknown model {name!r}; known models: {', '.join(list_models())}")
    base = PRESETS[name]
    if "family" in overrides and overrides["family"] != base.family:
        wanted = overrides["family"]
        raise InputError("model.family", f"{name!r} is a {base.family!r} model; cannot change it to {wanted!r}")
    return base.replace(**overrides)


def create_model(name: str, **overrides: Any) -> HepModel:
    """Build a freshly initialised model from a registered name and config overrides."""
    return HepModel(model_config(name, **overrides))
