"""Particle transformer: plain pre-norm transformer blocks over tokens + class-token pooling."""

from __future__ import annotations

from torch import Tensor, nn

from hepfm.models.config import ModelConfig
from hepfm.models.inputs import Embedded
from hepfm.models.layers import Block, ClassTokenPool, key_padding_bias


class ParticleTransformerBackbone(nn.Module):
    """Transformer blocks (padding masked, no pairwise bias, no kNN) + class-token pooling."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d, h, hid = config.dim, config.heads, config.mlp_hidden
        self.blocks = nn.ModuleList(Block(d, h, hid, config.dropout) for _ in range(config.depth))
        self.pool = ClassTokenPool(d, h, hid, config.class_blocks, config.num_class_tokens, config.dropout)

    def forward(self, emb: Embedded) -> Tensor:
        bias = key_padding_bias(emb.mask)
        x = emb.tokens
        for block in self.blocks:
            x = block(x, bias)
        return self.pool(x, emb.mask, emb.context)
