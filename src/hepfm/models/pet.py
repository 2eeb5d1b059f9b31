"""PET: point-edge transformer (local kNN edge features + pairwise-biased attention).

Per forward pass:

1. pairwise features of every token pair, from the kinematic core (deta, dphi, log_pt):
   ln dR, ln kT, ln z, ln m^2 as in ParT (massless m^2, computed in a stable form),
2. kNN in (deta, dphi) among real tokens, once,
3. one EdgeConv layer: an MLP over [h_i, h_j - h_i, pair_ij] of each token and its k
   nearest neighbours, max-aggregated and added (residual) to the token embedding,
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
    """Pairwise features [B, 4, M, M] (ln dR, ln kT, ln z, ln m^2) and dR^2 [B, M, M].

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
    ln_z = -F.softplus((lpt_i - lpt_j).abs())  # = min - logaddexp(lpt_i, lpt_j)
    s = torch.sinh(0.5 * deta).square() + torch.sin(0.5 * dphi).square()
    ln_m2 = math.log(4.0) + lpt_i + lpt_j + torch.log(s + _EPS)
    return torch.stack([ln_dr, ln_kt, ln_z, ln_m2], dim=1), dr2


def knn(dr2: Tensor, mask: Tensor, k: int) -> Tensor:
    """Indices [B, M, k'] of each token's nearest real tokens (itself first, then k neighbours).

    ``k' = min(k + 1, M)``. When an event has fewer real tokens than ``k'``, the spare slots
    point at the token itself, so a max over the slots is unaffected by them. Rows of
    padded tokens are meaningless and ignored downstream.
    """
    m = dr2.shape[-1]
    far = dr2.masked_fill(~mask[:, None, :], math.inf)
    dist, idx = torch.topk(far, min(k + 1, m), dim=-1, largest=False, sorted=False)
    itself = torch.arange(m, device=dr2.device).view(1, m, 1)
    return torch.where(torch.isinf(dist), itself, idx)


class EdgeConv(nn.Module):
    """EdgeConv (DGCNN) over the kNN graph: max_j GELU(W [h_i, h_j - h_i, pair_ij]) -> linear.

    The first linear layer is split into a per-token centre and neighbour projection, so
    the per-edge work is a gather, an add, a 4-wide matmul, the activation and the max.
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.center = nn.Linear(dim, hidden)
        self.neighbour = nn.Linear(dim, hidden, bias=False)
        self.pair = nn.Linear(N_PAIR, hidden, bias=False)
        self.out = nn.Linear(hidden, dim)

    def forward(self, h: Tensor, idx: Tensor, pairs: Tensor) -> Tensor:
        """``h`` [B, M, D] tokens, ``idx`` [B, M, k] neighbours, ``pairs`` [B, 4, M, M] pair features."""
        b, m, k = idx.shape
        hn = self.norm(h)
        flat = (idx + torch.arange(b, device=idx.device)[:, None, None] * m).view(-1)
        edges = self.neighbour(hn).reshape(b * m, -1).index_select(0, flat).view(b, m, k, -1)
        edges += self.center(hn)[:, :, None, :]  # in place: index_select's backward does not need its output
        pair_knn = torch.gather(pairs, 3, idx[:, None].expand(-1, pairs.shape[1], -1, -1)).permute(0, 2, 3, 1)
        edges = torch.addmm(edges.view(b * m * k, -1), pair_knn.reshape(b * m * k, -1), self.pair.weight.t())
        agg = F.gelu(edges).view(b, m, k, -1).max(dim=2).values
        return h + self.out(agg)


class PairBias(nn.Module):
    """Pairwise features [B, 4, M, M] -> per-head attention bias [B, H, M, M] (padding keys get NEG)."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(N_PAIR, hidden)
        self.fc2 = nn.Linear(hidden, heads)

    def forward(self, pairs: Tensor, mask: Tensor) -> Tensor:
        # channels-first 1x1 "convolution": [B, 4, M*M] -> [B, hidden, M*M] -> [B, H, M*M]
        b, c, m, _ = pairs.shape
        h = torch.baddbmm(self.fc1.bias[None, :, None], self.fc1.weight.expand(b, -1, -1), pairs.reshape(b, c, m * m))
        bias = torch.baddbmm(self.fc2.bias[None, :, None], self.fc2.weight.expand(b, -1, -1), F.gelu(h))
        return bias.view(b, -1, m, m).masked_fill_(~mask[:, None, None, :], NEG)  # in place: baddbmm keeps no output


class PETBackbone(nn.Module):
    """kNN edge features + pairwise-biased transformer blocks + class-token pooling."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d, h, hid = config.dim, config.heads, config.mlp_hidden
        self.k = config.k
        self.edge = EdgeConv(d, max(d // 2, 1))
        self.pair_bias = PairBias(config.pair_hidden, h)
        self.blocks = nn.ModuleList(Block(d, h, hid, config.dropout) for _ in range(config.depth))
        self.pool = ClassTokenPool(d, h, hid, config.class_blocks, config.num_class_tokens, config.dropout)

    def forward(self, emb: Embedded) -> Tensor:
        mask = emb.mask
        pairs, dr2 = pair_features(emb.core)
        x = self.edge(emb.tokens, knn(dr2, mask, self.k), pairs)
        bias = self.pair_bias(pairs, mask)
        for block in self.blocks:
            x = block(x, bias)
        return self.pool(x, mask, emb.context)
