"""HepModel: input branches -> backbone -> task heads."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hepfm.errors import InputError
from hepfm.models.config import InputSpec, ModelConfig
from hepfm.models.heads import make_heads
from hepfm.models.inputs import InputBranches, RunningNorm
from hepfm.models.io import LoadReport, load_matching, read_checkpoint, resolve_pretrained, save_checkpoint
from hepfm.models.layers import AdaptableBlock
from hepfm.models.mlp import MLPBackbone
from hepfm.models.particle_transformer import ParticleTransformerBackbone
from hepfm.models.pet import PETBackbone

BACKBONES: dict[str, type[nn.Module]] = {
    "pet": PETBackbone,
    "pt": ParticleTransformerBackbone,
    "mlp": MLPBackbone,
}


def _init_weights(module: nn.Module) -> None:
    """GPT-style init of the backbone and heads (the input branches keep PyTorch's default init)."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class HepModel(nn.Module):
    """A model for tokenised events.

    Submodules: ``inputs`` (``core``, ``token_type``, ``extra``, ``event`` branches; a
    branch of zero width is None), ``backbone`` (with ``blocks``), ``heads`` (ModuleDict by
    task name). ``forward(batch)`` returns ``{task: logits [B, C] or values [B]}``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.inputs = InputBranches(config)
        self.backbone = BACKBONES[config.family](config)
        self.heads = make_heads(config.tasks, config.dim, config.head_hidden)
        self.backbone.apply(_init_weights)
        self.heads.apply(_init_weights)
        if config.adapter_bottleneck:
            self._insert_adapters(config.adapter_bottleneck)

    @property
    def rep_dim(self) -> int:
        """Width of :meth:`represent`'s output."""
        return self.config.dim

    def represent(self, batch: dict[str, Tensor]) -> Tensor:
        """Event representation [B, D]."""
        return self.backbone(self.inputs(batch))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        rep = self.represent(batch)
        return {name: head(rep) for name, head in self.heads.items()}

    # ------------------------------------------------------------------ transfer
    def _adaptable_blocks(self) -> list[tuple[str, AdaptableBlock]]:
        return [(n, m) for n, m in self.named_modules() if isinstance(m, AdaptableBlock) and n.startswith("backbone.")]

    def _insert_adapters(self, bottleneck: int) -> list[str]:
        names = []
        for prefix, block in self._adaptable_blocks():
            block.add_adapter(self.config.dim, bottleneck)
            names += [f"{prefix}.adapter.{n}" for n, _ in block.adapter.named_parameters()]
        return names

    def add_adapters(self, bottleneck: int = 16) -> list[str]:
        """Insert zero-initialised residual bottleneck adapters after every backbone block.

        The output is unchanged at insertion. Returns the new parameter names.
        """
        if isinstance(bottleneck, bool) or not isinstance(bottleneck, int) or bottleneck < 1:
            raise InputError("add_adapters.bottleneck", f"must be an integer >= 1, got {bottleneck!r}")
        if self.config.adapter_bottleneck:
            raise InputError("add_adapters", "the model already has adapters")
        names = self._insert_adapters(bottleneck)
        self.config = self.config.replace(adapter_bottleneck=bottleneck)
        return names

    def transferable_prefixes(self) -> tuple[str, ...]:
        """Parameter-name prefixes of the pretrained part: the input branches and the backbone."""
        branches = ("core", "token_type", "extra", "event")
        present = tuple(f"inputs.{b}." for b in branches if getattr(self.inputs, b) is not None)
        return present + ("backbone.",)

    @torch.no_grad()
    def calibrate_inputs(self, batches: Iterable[dict[str, Tensor]], reset: bool = True) -> int:
        """Set the input standardisation statistics from ``batches`` (input branches only, no gradient).

        With ``reset`` the statistics learnt elsewhere (e.g. on the pretraining domain) are
        forgotten first, so a backbone moved to a new domain sees its new inputs standardised
        like its old ones. Returns the number of batches used.
        """
        norms = [m for m in self.inputs.modules() if isinstance(m, RunningNorm)]
        if reset:
            for norm in norms:
                norm.reset()
        was_training = self.inputs.training
        self.inputs.train()
        n = 0
        for batch in batches:
            self.inputs(batch)
            n += 1
        self.inputs.train(was_training)
        return n

    # ------------------------------------------------------------------ checkpoints
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json`` + ``model.safetensors`` into ``directory`` (atomically)."""
        return save_checkpoint(self, self.config, directory)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, **overrides: Any) -> tuple[HepModel, LoadReport]:
        """Build from a checkpoint directory or zoo name, with ``overrides`` of config fields.

        Tensors whose name and shape match are loaded; the report lists what was skipped
        and what is newly initialised. ``inputs`` may be a partial dict, merged with the
        checkpoint's inputs.
        """
        directory = resolve_pretrained(name_or_path)
        config, state = read_checkpoint(directory)
        if isinstance(overrides.get("inputs"), dict):
            overrides["inputs"] = InputSpec.from_dict({**config.inputs.to_dict(), **overrides["inputs"]})
        model = cls(config.replace(**overrides))
        return model, load_matching(model, state)
