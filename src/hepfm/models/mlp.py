"""MLP baseline on event-level features only."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from hepfm.errors import InputError
from hepfm.models.config import ModelConfig
from hepfm.models.inputs import Embedded
from hepfm.models.layers import AdaptableBlock


class HiddenLayer(AdaptableBlock):
    """LayerNorm -> Linear -> GELU (no BatchNorm, so a sample never depends on its batch)."""

    def __init__(self, dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x: Tensor) -> Tensor:
        x = F.dropout(F.gelu(self.fc(self.norm(x))), self.dropout, self.training)
        return self.adapt(x)


class MLPBackbone(nn.Module):
    """``depth`` hidden layers of width ``dim`` on the event embedding (``inputs.event``)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.inputs.n_event == 0:
            raise InputError("model.inputs.n_event", "the mlp family reads event-level features only; need n_event > 0")
        self.blocks = nn.ModuleList(HiddenLayer(config.dim, config.dropout) for _ in range(config.depth))

    def forward(self, emb: Embedded) -> Tensor:
        x = emb.context
        for block in self.blocks:
            x = block(x)
        return x
