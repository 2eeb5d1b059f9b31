"""Input branches: turn a batch into token embeddings and an event context.

Each branch is its own module so a backbone can move to a new domain: ``core``
(kinematic core -> D) and the backbone transfer, while ``token_type``, ``extra`` and
``event`` are re-created when the new domain has a different number of token types,
extra features or event features. Continuous features are standardised inside the
model (:class:`RunningNorm`), so raw detector units (rad, log GeV, GeV) are fine.

Padded positions may hold anything: they are zeroed first, and token slots that are
padding in every event of the batch are dropped before any work is done on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from hepfm.errors import InputError
from hepfm.models.config import ModelConfig
from hepfm.models.layers import FeedForward

TYPE_EMBED_STD = 0.2  # comparable to the spread of the standardised core embedding


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


def _occupied_columns(mask: Tensor) -> slice | Tensor | None:
    """Token slots holding a real token in at least one event (None: all of them)."""
    occupied = mask.any(dim=0)
    n = int(occupied.sum())
    if n == mask.shape[1]:
        return None
    if bool(occupied[:n].all()):  # the usual case: padding at the end
        return slice(0, max(n, 1))
    return occupied.nonzero().squeeze(1)


class RunningNorm(nn.Module):
    """Standardise features with running statistics of the real tokens (or events) seen in training.

    No gradient flows into the statistics. A forward pass uses the statistics from *before*
    its own batch, so an event's output never depends on the other events of its batch;
    in training mode the batch then updates the statistics (cumulative average over the
    first ``1 / momentum`` batches, then an exponential moving average). In eval mode they
    are fixed. They live in the state dict, so they travel with checkpoints; fine-tuning in
    a new domain keeps adapting them to the new inputs.
    """

    def __init__(self, n: int, momentum: float = 0.01, eps: float = 1e-6) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("sq_mean", torch.ones(n))
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        std = (self.sq_mean - self.mean.square()).clamp(min=self.eps).sqrt()
        out = (x - self.mean) / std
        if self.training:
            self._update(x[mask] if mask is not None else x.reshape(-1, x.shape[-1]))
        return out

    @torch.no_grad()
    def reset(self) -> None:
        """Forget the statistics: the next training batches set them afresh (cumulative average)."""
        self.mean.zero_()
        self.sq_mean.fill_(1.0)
        self.updates.zero_()

    @torch.no_grad()
    def _update(self, rows: Tensor) -> None:
        if rows.shape[0] == 0:
            return
        w = max(self.momentum, 1.0 / float(self.updates + 1))
        rows = rows.detach().to(self.mean.dtype)
        self.mean.lerp_(rows.mean(0), w)
        self.sq_mean.lerp_(rows.square().mean(0), w)
        self.updates += 1


class FeatureEmbedding(nn.Module):
    """Continuous features -> D: running standardisation, then Linear (-> GELU -> Linear if ``hidden``)."""

    def __init__(self, n: int, dim: int, hidden: int = 0) -> None:
        super().__init__()
        self.norm = RunningNorm(n)
        self.mlp = FeedForward(n, hidden, dim) if hidden else nn.Linear(n, dim)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.mlp(self.norm(x, mask))


class InputBranches(nn.Module):
    """``core``, ``token_type``, ``extra`` and ``event`` branches; a branch of zero width is None."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        spec, dim = config.inputs, config.dim
        tokens = config.family != "mlp"
        self.core = FeatureEmbedding(spec.n_features, dim, hidden=dim) if tokens else None
        self.token_type = nn.Embedding(spec.n_token_types, dim) if tokens else None
        self.extra = FeatureEmbedding(spec.n_extra, dim) if tokens and spec.n_extra else None
        self.event = FeatureEmbedding(spec.n_event, dim, hidden=dim if tokens else 0) if spec.n_event else None
        self.spec = spec
        if self.token_type is not None:
            nn.init.normal_(self.token_type.weight, std=TYPE_EMBED_STD)

    def forward(self, batch: dict[str, Tensor]) -> Embedded:
        spec = self.spec
        context = None
        if self.event is not None:
            context = self.event(_get(batch, "event", 2, spec.n_event).float())
        if self.core is None:
            return Embedded(None, None, None, context)

        x = _get(batch, "x", 3, spec.n_features)
        mask = _get(batch, "mask", 2)
        full_shape = tuple(x.shape[:2])
        if tuple(mask.shape) != full_shape:
            raise InputError("batch.mask", f"shape {tuple(mask.shape)} does not match x {full_shape}")
        mask = mask.bool()
        cols = _occupied_columns(mask)
        if cols is not None:  # token slots that are padding in every event carry no information
            x, mask = x[:, cols], mask[:, cols]
        keep = mask[..., None]
        # padded positions may hold anything (even NaN): replace them by zeros first
        core = torch.where(keep, x.float(), 0.0)
        tokens = self.core(core, mask)

        tt = _get(batch, "token_type", 2)
        if tt.shape != full_shape:
            raise InputError("batch.token_type", f"shape {tuple(tt.shape)} does not match x {full_shape}")
        if cols is not None:
            tt = tt[:, cols]
        tt = torch.where(mask, tt.long(), 0)
        if tt.numel() and (int(tt.min()) < 0 or int(tt.max()) >= spec.n_token_types):
            raise InputError("batch.token_type", f"token types must lie in [0, {spec.n_token_types}), "
                             f"got range [{int(tt.min())}, {int(tt.max())}]")
        tokens = tokens + self.token_type(tt)

        if self.extra is not None:
            extra = _get(batch, "extra", 3, spec.n_extra)
            if extra.shape[:2] != full_shape:
                raise InputError("batch.extra", f"shape {tuple(extra.shape)} does not match x {full_shape}")
            if cols is not None:
                extra = extra[:, cols]
            tokens = tokens + self.extra(torch.where(keep, extra.float(), 0.0), mask)
        return Embedded(tokens, core, mask, context)


def example_batch(
    config: ModelConfig, batch_size: int = 8, n_tokens: int = 16, n_real: int | None = None, seed: int = 0
) -> dict[str, Any]:
    """A synthetic jet-like batch with the input widths and labels of ``config``.

    For tests, FLOP counting and benchmarks. Events hold ``n_real`` real tokens (default:
    a random count in [1, n_tokens]) in pT order followed by zero padding, as the loader
    produces them.
    """
    g = torch.Generator().manual_seed(seed)
    spec, b, m = config.inputs, batch_size, n_tokens
    if n_real is None:
        counts = torch.randint(1, m + 1, (b,), generator=g)
    else:
        counts = torch.full((b,), n_real)
    mask = torch.arange(m)[None, :] < counts[:, None]
    x = torch.zeros(b, m, max(spec.n_features, 0))
    if spec.n_features >= 2:
        x[..., :2] = 0.2 * torch.randn(b, m, 2, generator=g)
    if spec.n_features >= 3:
        x[..., 2] = torch.linspace(4.0, -1.0, m)[None, :] + 0.3 * torch.randn(b, m, generator=g)
    if spec.n_features >= 4:
        x[..., 3] = x[..., 2] + 0.5 * torch.rand(b, m, generator=g)
    if spec.n_features > 4:
        x[..., 4:] = torch.randn(b, m, spec.n_features - 4, generator=g)
    labels: dict[str, Tensor] = {}
    for task in config.tasks:
        if task.kind == "class":
            labels[task.name] = torch.randint(0, task.num_classes, (b,), generator=g)
        else:
            labels[task.name] = torch.randn(b, generator=g)
    return {
        "x": x * mask[..., None],
        "token_type": torch.randint(0, spec.n_token_types, (b, m), generator=g) * mask,
        "extra": torch.randn(b, m, spec.n_extra, generator=g) * mask[..., None],
        "mask": mask,
        "event": torch.randn(b, spec.n_event, generator=g),
        "labels": labels,
    }
