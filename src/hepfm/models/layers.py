"""Transformer building blocks shared by the token backbones.

All attention goes through :func:`torch.nn.functional.scaled_dot_product_attention` with an
additive float mask that carries both the padding (``NEG`` on padded keys) and, for PET,
the pairwise interaction bias.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NEG = -1e9  # additive attention-mask value for keys that must be ignored


def key_padding_bias(mask: Tensor) -> Tensor:
    """[B, M] bool (True = real) -> [B, 1, 1, M] float: 0 for real keys, NEG for padding."""
    return torch.zeros(mask.shape, dtype=torch.float32, device=mask.device).masked_fill_(~mask, NEG)[:, None, None, :]


class FeedForward(nn.Module):
    """Linear -> GELU -> Linear."""

    def __init__(self, dim: int, hidden: int, out: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, out or dim)
        self.dropout = dropout

    def forward(self, x: Tensor) -> Tensor:
        x = F.gelu(self.fc1(x))
        return F.dropout(self.fc2(x), self.dropout, self.training)


class Adapter(nn.Module):
    """Residual bottleneck adapter; the up-projection starts at zero so it is an identity at insertion."""

    def __init__(self, dim: int, bottleneck: int) -> None:
        super().__init__()
        self.down = nn.Linear(dim, bottleneck)
        self.up = nn.Linear(bottleneck, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.up(F.gelu(self.down(x)))


class AdaptableBlock(nn.Module):
    """A block that may carry an :class:`Adapter` applied to its output."""

    adapter: Adapter | None

    def __init__(self) -> None:
        super().__init__()
        self.adapter = None

    def add_adapter(self, dim: int, bottleneck: int) -> None:
        ref = next(self.parameters())
        self.adapter = Adapter(dim, bottleneck).to(device=ref.device, dtype=ref.dtype)

    def adapt(self, x: Tensor) -> Tensor:
        return x if self.adapter is None else self.adapter(x)


def _split_heads(x: Tensor, heads: int) -> Tensor:
    b, n, d = x.shape
    return x.view(b, n, heads, d // heads).transpose(1, 2)


def _merge_heads(x: Tensor) -> Tensor:
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


class SelfAttention(nn.Module):
    """Multi-head self-attention with an additive mask / bias."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), dropout_p=p)
        return F.dropout(self.proj(_merge_heads(out)), self.dropout, self.training)


class Block(AdaptableBlock):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, dim: int, heads: int, mlp_hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, mlp_hidden, dropout=dropout)

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x), bias)
        x = x + self.mlp(self.norm2(x))
        return self.adapt(x)


class ClassAttentionBlock(AdaptableBlock):
    """Class tokens attend to themselves and the (fixed) tokens, as in CaiT / ParT."""

    def __init__(self, dim: int, heads: int, mlp_hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, mlp_hidden, dropout=dropout)
        self.dropout = dropout

    def forward(self, cls: Tensor, tokens: Tensor, bias: Tensor) -> Tensor:
        """``cls`` [B, C, D], ``tokens`` [B, M, D], ``bias`` [B, 1, 1, C + M]."""
        both = self.norm1(torch.cat([cls, tokens], dim=1))
        q = _split_heads(self.q(both[:, : cls.shape[1]]), self.heads)
        k, v = (_split_heads(t, self.heads) for t in self.kv(both).chunk(2, dim=-1))
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), dropout_p=p)
        cls = cls + F.dropout(self.proj(_merge_heads(out)), self.dropout, self.training)
        cls = cls + self.mlp(self.norm2(cls))
        return self.adapt(cls)


class ClassTokenPool(nn.Module):
    """Learnable class tokens (plus an optional per-event context) read out the tokens.

    The representation is the mean of the class tokens after the final LayerNorm.
    """

    def __init__(
        self, dim: int, heads: int, mlp_hidden: int, depth: int, num_tokens: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.tokens = nn.Parameter(torch.zeros(1, num_tokens, dim))
        nn.init.trunc_normal_(self.tokens, std=0.02)
        self.blocks = nn.ModuleList(ClassAttentionBlock(dim, heads, mlp_hidden, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: Tensor, mask: Tensor, context: Tensor | None) -> Tensor:
        b = tokens.shape[0]
        cls = self.tokens.expand(b, -1, -1)
        if context is not None:
            cls = cls + context[:, None, :]
        if self.blocks:
            cls_mask = torch.ones(b, cls.shape[1], dtype=torch.bool, device=mask.device)
            bias = key_padding_bias(torch.cat([cls_mask, mask], dim=1))
            for block in self.blocks:
                cls = block(cls, tokens, bias)
        else:  # no class attention: masked mean of the tokens
            w = mask.to(tokens.dtype)[..., None]
            cls = cls + (tokens * w).sum(1, keepdim=True) / w.sum(1, keepdim=True).clamp(min=1)
        return self.norm(cls).mean(dim=1)
