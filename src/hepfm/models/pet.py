"""PET: point-edge transformer (local kNN edge features + pairwise-biased attention).

Per forward pass:

1. pairwise features of every token pair, from the kinematic core (deta, dphi, log_pt):
   ln dR, ln kT, ln z, ln m^2 as in ParT (massless m^2, computed in a stable form),
2. kNN in (deta, dphi) among real tokens, once,
3. one EdgeConv layer: an MLP over [h_i, h_j - h_i, pair_ij] of each token's k neighbours,
   mean- and max-aggregated and added to the token embedding,
4. transformer blocks whose attention carries a per-head bias computed once from the
   pairwise features by a small MLP (shared by all blocks),
5. class-token blocks (see :class:`~hepfm.models.layers.ClassTokenPool`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hepfm.models.config import ModelConfig
from hepfm.models.inputs import Embedded
from hepfm.models.layers import NEG, Block, ClassTokenPool

N_PAIR = 4
_EPS = 1e-8


def pair_features(core: Tensor) -> tuple[Tensor, Tensor]:
    """Pairwise features [B, M, M, 4] (ln dR, ln kT, ln z, ln m^2) and dR^2 [B, M, M].

    ``core`` columns are (deta, dphi, log_pt, ...); dphi differences are wrapped to [-pi, pi].
    m^2 = 2 pT_i pT_j (cosh deta - cos dphi) = 4 pT_i pT_j (sinh^2(deta/2) + sin^2(dphi/2)).
    """
    eta, phi, lpt = core[..., 0], core[..., 1], core[..., 2]
    deta = eta[:, :, None] - eta[:, None, :]
    dphi = torch.remainder(phi[:, :, None] - phi[:, None, :] + math.pi, 2 * math.pi) - math.pi
    dr2 = deta.square() + dphi.square()
    ln_dr = 0.5 * torch.log(dr2 + _EPS)
    lpt_i, lpt_j = lpt[:, :, None], lpt[:, None, :]
    lpt_min = torch.minimum(lpt_i, lpt_j)
    ln_kt = lpt_min + ln_dr
    ln_z = lpt_min - torch.logaddexp(lpt_i, lpt_j)
    s = torch.sinh(0.5 * deta).square() + torch.sin(0.5 * dphi).square()
    ln_m2 = math.log(4.0) + lpt_i + lpt_j + torch.log(s + _EPS)
    return torch.stack([ln_dr, ln_kt, ln_z, ln_m2], dim=-1), dr2


def knn(dr2: Tensor, mask: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Indices [B, M, k'] of each token's nearest real neighbours (self excluded) and their validity.

    ``k' = min(k, M - 1)``; a neighbour slot is invalid when the event has fewer than k'+1
    real tokens. Rows of padded tokens are meaningless and ignored downstream.
    """
    m = dr2.shape[-1]
    k = max(1, min(k, m - 1))
    eye = torch.eye(m, dtype=torch.bool, device=dr2.device)
    far = (~mask)[:, None, :] | eye
    dist, idx = torch.topk(dr2.masked_fill(far, math.inf), k, dim=-1, largest=False, sorted=False)
    return idx, torch.isfinite(dist)


class EdgeConv(nn.Module):
    """EdgeConv over kNN neighbours: GELU(W [h_i, h_j - h_i, pair_ij]) -> mean & max -> linear.

    The first linear layer is split into a per-token centre and neighbour projection, so
    the only per-edge work is a gather, an add and the activation.
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.center = nn.Linear(dim, hidden)
        self.neighbour = nn.Linear(dim, hidden, bias=False)
        self.pair = nn.Linear(N_PAIR, hidden, bias=False)
        self.out = nn.Linear(2 * hidden, dim)

    def forward(self, h: Tensor, idx: Tensor, valid: Tensor, pairs: Tensor) -> Tensor:
        b, m, k = idx.shape
        hn = self.norm(h)
        flat = (idx + torch.arange(b, device=idx.device)[:, None, None] * m).view(-1)
        nbr = self.neighbour(hn).reshape(b * m, -1).index_select(0, flat).view(b, m, k, -1)
        pair_knn = torch.gather(pairs, 2, idx[..., None].expand(-1, -1, -1, pairs.shape[-1]))
        e = F.gelu(self.center(hn)[:, :, None, :] + nbr + self.pair(pair_knn))
        w = valid[..., None].to(e.dtype)
        count = w.sum(2)
        mean = (e * w).sum(2) / count.clamp(min=1)
        mx = e.masked_fill(~valid[..., None], -math.inf).amax(2)
        mx = torch.where(count > 0, mx, 0.0)
        return h + self.out(torch.cat([mean, mx], dim=-1))


class PairBias(nn.Module):
    """Pairwise features -> per-head attention bias [B, H, M, M] (padding keys get NEG)."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(N_PAIR, hidden)
        self.fc2 = nn.Linear(hidden, heads)

    def forward(self, pairs: Tensor, mask: Tensor) -> Tensor:
        bias = self.fc2(F.gelu(self.fc1(pairs))).permute(0, 3, 1, 2)
        return bias.masked_fill(~mask[:, None, None, :], NEG)


class PETBackbone(nn.Module):
    """kNN edge features + pairwise-biased transformer blocks + class-token pooling."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d, h, hid = config.dim, config.heads, config.mlp_hidden
        self.k = config.k
        self.edge = EdgeConv(d, d)
        self.pair_bias = PairBias(config.pair_hidden, h)
        self.blocks = nn.ModuleList(Block(d, h, hid, config.dropout) for _ in range(config.depth))
        self.pool = ClassTokenPool(d, h, hid, config.class_blocks, config.num_class_tokens, config.dropout)

    def forward(self, emb: Embedded) -> Tensor:
        mask = emb.mask
        pairs, dr2 = pair_features(emb.core)
        idx, valid = knn(dr2, mask, self.k)
        x = self.edge(emb.tokens, idx, valid, pairs)
        bias = self.pair_bias(pairs, mask)
        for block in self.blocks:
            x = block(x, bias)
        return self.pool(x, mask, emb.context)
