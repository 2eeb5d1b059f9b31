"""Input branches: turn a batch into token embeddings and an event context.

Each branch is its own module so a backbone can move to a new domain: ``core``
(kinematic core -> D) and the backbone transfer, while ``token_type``, ``extra`` and
``event`` are re-created when the new domain has a different number of token types,
extra features or event features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hepfm.errors import InputError
from hepfm.models.config import ModelConfig
from hepfm.models.layers import FeedForward


@dataclass
class Embedded:
    """What the input branches hand to a backbone.

    ``tokens`` [B, M, D] embeddings, ``core`` [B, M, F] kinematic core (zero where padded),
    ``mask`` [B, M] bool, ``context`` [B, D] event embedding or None.
    """

    tokens: Tensor | None
    core: Tensor | None
    mask: Tensor | None
    context: Tensor | None


def _get(batch: dict[str, Tensor], key: str, ndim: int, width: int | None = None) -> Tensor:
    if key not in batch:
        raise InputError(f"batch.{key}", "missing from the batch")
    t = batch[key]
    if not isinstance(t, Tensor) or t.ndim != ndim:
        shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
        raise InputError(f"batch.{key}", f"expected a {ndim}-d tensor, got {shape}")
    if width is not None and t.shape[-1] != width:
        raise InputError(f"batch.{key}", f"model expects {width} columns, batch has {t.shape[-1]}")
    return t


class InputBranches(nn.Module):
    """``core``, ``token_type``, ``extra`` and ``event`` branches; a branch of zero width is None."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        spec, dim = config.inputs, config.dim
        tokens = config.family != "mlp"
        self.core: nn.Module | None = FeedForward(spec.n_features, dim, dim) if tokens else None
        self.token_type: nn.Embedding | None = nn.Embedding(spec.n_token_types, dim) if tokens else None
        self.extra: nn.Linear | None = nn.Linear(spec.n_extra, dim) if tokens and spec.n_extra else None
        self.event: nn.Module | None = None
        if spec.n_event:
            self.event = nn.Linear(spec.n_event, dim) if not tokens else FeedForward(spec.n_event, dim, dim)
        self.spec = spec

    def forward(self, batch: dict[str, Tensor]) -> Embedded:
        spec = self.spec
        context = None
        if self.event is not None:
            context = self.event(_get(batch, "event", 2, spec.n_event).float())
        if self.core is None:
            return Embedded(None, None, None, context)

        x = _get(batch, "x", 3, spec.n_features)
        mask = _get(batch, "mask", 2)
        if mask.shape != x.shape[:2]:
            raise InputError("batch.mask", f"shape {tuple(mask.shape)} does not match x {tuple(x.shape[:2])}")
        mask = mask.bool()
        keep = mask[..., None]
        # padded positions may hold anything (even NaN): replace them by zeros first
        core = torch.where(keep, x.float(), 0.0)
        tokens = self.core(core)

        tt = _get(batch, "token_type", 2)
        if tt.shape != mask.shape:
            raise InputError("batch.token_type", f"shape {tuple(tt.shape)} does not match x {tuple(x.shape[:2])}")
        tt = torch.where(mask, tt.long(), 0)
        if tt.numel() and (int(tt.min()) < 0 or int(tt.max()) >= spec.n_token_types):
            raise InputError("batch.token_type", f"token types must lie in [0, {spec.n_token_types}), "
                             f"got range [{int(tt.min())}, {int(tt.max())}]")
        tokens = tokens + self.token_type(tt)

        if self.extra is not None:
            extra = _get(batch, "extra", 3, spec.n_extra)
            if extra.shape[:2] != mask.shape:
                raise InputError("batch.extra", f"shape {tuple(extra.shape)} does not match x {tuple(x.shape)}")
            tokens = tokens + self.extra(torch.where(keep, extra.float(), 0.0))
        return Embedded(tokens, core, mask, context)
