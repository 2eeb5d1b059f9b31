"""In-memory ragged block of events: token values + offsets, no padding."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hepfm.data.schema import EventSchema, LabelSpec
from hepfm.errors import InputError


@dataclass
class EventBlock:
    """A block of ``n`` events stored without padding.

    Tokens of event ``i`` are rows ``offsets[i]:offsets[i+1]`` of ``features`` [T, F],
    ``token_type`` [T] and ``extra`` [T, E]. ``event`` is [n, G]; ``labels`` maps a label
    name to an [n] array (int64 for class labels, float32 for regression).
    """

    schema: EventSchema
    features: np.ndarray
    token_type: np.ndarray
    offsets: np.ndarray
    extra: np.ndarray | None = None
    event: np.ndarray | None = None
    labels: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.features = np.asarray(self.features, dtype=np.float32)
        self.token_type = np.asarray(self.token_type, dtype=np.int16)
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        n_tok = self.features.shape[0] if self.features.ndim == 2 else -1
        if self.extra is None:
            self.extra = np.zeros((max(n_tok, 0), len(self.schema.extra)), dtype=np.float32)
        self.extra = np.asarray(self.extra, dtype=np.float32)
        if self.event is None:
            self.event = np.zeros((len(self.offsets) - 1, len(self.schema.event)), dtype=np.float32)
        self.event = np.asarray(self.event, dtype=np.float32)
        self.labels = {
            k: np.asarray(v, dtype=np.int64 if self.schema.label(k).kind == "class" else np.float32)
            for k, v in self.labels.items()
        }

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_tokens(self) -> np.ndarray:
        return np.diff(self.offsets)

    def check(self, where: str = "events") -> None:
        """Raise :class:`InputError` naming the field if the block is inconsistent."""
        s, n = self.schema, len(self)
        if self.offsets.ndim != 1 or len(self.offsets) < 1 or self.offsets[0] != 0:
            raise InputError(f"{where}:offsets", "must be a 1-D array starting at 0")
        if np.any(np.diff(self.offsets) < 0):
            raise InputError(f"{where}:offsets", "offsets decrease (inconsistent token counts)")
        n_tok = int(self.offsets[-1])
        expect = {
            "features": (n_tok, len(s.features)),
            "token_type": (n_tok,),
            "extra": (n_tok, len(s.extra)),
            "event": (n, len(s.event)),
        }
        for name, shape in expect.items():
            got = getattr(self, name).shape
            if got != shape:
                raise InputError(f"{where}:{name}", f"shape {got} does not match schema/offsets, expected {shape}")
        for name in ("features", "extra", "event"):
            arr = getattr(self, name)
            if arr.size and not np.all(np.isfinite(arr)):
                bad = np.argwhere(~np.isfinite(arr))[0]
                raise InputError(f"{where}:{name}", f"non-finite value (NaN or inf) at index {tuple(int(i) for i in bad)}")
        if n_tok and (self.token_type.min() < 0 or self.token_type.max() >= len(s.token_types)):
            raise InputError(f"{where}:token_type", f"values must lie in [0, {len(s.token_types) - 1}]")
        for spec in s.labels:
            if spec.name not in self.labels:
                raise InputError(f"{where}:labels/{spec.name}", "label declared in schema but missing")
        for name, arr in self.labels.items():
            spec = s.label(name)
            if arr.shape != (n,):
                raise InputError(f"{where}:labels/{name}", f"shape {arr.shape}, expected ({n},)")
            if spec.kind == "class" and n and (arr.min() < -1 or arr.max() >= spec.num_classes):
                raise InputError(f"{where}:labels/{name}", f"class index outside [0, {spec.num_classes - 1}] (or -1: missing)")
            if spec.kind == "regression" and np.isinf(arr).any():
                raise InputError(f"{where}:labels/{name}", "infinite regression target (NaN marks a missing one)")

    def slice(self, start: int, stop: int) -> EventBlock:
        """Events ``start:stop`` as a new block sharing memory with this one (no copy)."""
        n = len(self)
        start, stop = max(0, min(start, n)), max(0, min(stop, n))
        stop = max(stop, start)
        a, b = int(self.offsets[start]), int(self.offsets[stop])
        return EventBlock(
            schema=self.schema,
            features=self.features[a:b],
            token_type=self.token_type[a:b],
            extra=self.extra[a:b],
            offsets=self.offsets[start : stop + 1] - a,
            event=self.event[start:stop],
            labels={k: v[start:stop] for k, v in self.labels.items()},
        )

    def select(self, index: np.ndarray) -> EventBlock:
        """The events at ``index`` (any order), as a new block."""
        index = np.asarray(index, dtype=np.int64)
        starts, counts = self.offsets[index], np.diff(self.offsets)[index]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        rows = np.repeat(starts - offsets[:-1], counts) + np.arange(offsets[-1])
        return EventBlock(
            schema=self.schema,
            features=self.features[rows],
            token_type=self.token_type[rows],
            extra=self.extra[rows],
            offsets=offsets,
            event=self.event[index],
            labels={k: v[index] for k, v in self.labels.items()},
        )

    def rounded(self, mantissa_bits: int) -> EventBlock:
        """Copy with float columns rounded to ``mantissa_bits`` (of float32's 23), for smaller files.

        Rounding zeroes the low mantissa bits, which the HDF5 shuffle + gzip filters then
        compress away (10 bits keep float16-like relative precision, ~5e-4). The choice is
        recorded in the provenance as ``float_mantissa_bits``.
        """
        if not 1 <= mantissa_bits <= 23:
            raise InputError("mantissa_bits", f"must lie in [1, 23], got {mantissa_bits}")
        schema = self.schema.with_provenance(float_mantissa_bits=int(mantissa_bits))
        return EventBlock(schema, _round_mantissa(self.features, mantissa_bits), self.token_type, self.offsets,
                          _round_mantissa(self.extra, mantissa_bits), _round_mantissa(self.event, mantissa_bits),
                          {k: _round_mantissa(v, mantissa_bits) if v.dtype == np.float32 else v
                           for k, v in self.labels.items()})

    @staticmethod
    def concat(blocks: list[EventBlock]) -> EventBlock:
        """Join blocks with the same schema."""
        if not blocks:
            raise ValueError("concat needs at least one block")
        first = blocks[0]
        offsets = [np.zeros(1, dtype=np.int64)]
        total = 0
        for b in blocks:
            offsets.append(b.offsets[1:] + total)
            total += int(b.offsets[-1])
        return EventBlock(
            schema=first.schema,
            features=np.concatenate([b.features for b in blocks]),
            token_type=np.concatenate([b.token_type for b in blocks]),
            extra=np.concatenate([b.extra for b in blocks]),
            offsets=np.concatenate(offsets),
            event=np.concatenate([b.event for b in blocks]),
            labels={k: np.concatenate([b.labels[k] for b in blocks]) for k in first.labels},
        )


def random_block(
    n: int,
    *,
    seed: int = 0,
    max_tokens: int = 20,
    n_token_types: int = 3,
    n_extra: int = 2,
    n_event: int = 2,
    num_classes: int = 3,
    regression: bool = True,
) -> EventBlock:
    """A block of ``n`` random events (1..``max_tokens`` tokens each) for tests and examples.

    Labels: ``label`` (class, ``num_classes`` classes; omitted if 0) and, with
    ``regression``, ``energy`` (float).
    """
    rng = np.random.default_rng(seed)
    labels = []
    if num_classes:
        labels.append(LabelSpec("label", "class", tuple(f"c{i}" for i in range(num_classes))))
    if regression:
        labels.append(LabelSpec("energy", "regression", unit="GeV"))
    schema = EventSchema(
        token_types=tuple(f"t{i}" for i in range(n_token_types)),
        extra=tuple(f"x{i}" for i in range(n_extra)),
        event=tuple(f"g{i}" for i in range(n_event)),
        labels=tuple(labels),
        provenance={"producer": "hepfm.data.events.random_block", "seed": seed},
    )
    counts = rng.integers(1, max_tokens + 1, size=n)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    total = int(offsets[-1])
    values = {"label": rng.integers(0, max(num_classes, 1), size=n), "energy": rng.exponential(5.0, size=n)}
    return EventBlock(
        schema=schema,
        features=rng.normal(size=(total, 4)),
        token_type=rng.integers(0, n_token_types, size=total),
        offsets=offsets,
        extra=rng.normal(size=(total, n_extra)),
        event=rng.normal(size=(n, n_event)),
        labels={spec.name: values[spec.name] for spec in labels},
    )


def _round_mantissa(values: np.ndarray, bits: int) -> np.ndarray:
    """Round float32 values to nearest with ``bits`` mantissa bits kept (vectorised bit arithmetic)."""
    out = np.array(values, dtype=np.float32, copy=True)
    drop = 23 - bits
    if drop == 0:
        return out
    raw = out.view(np.uint32)
    raw += np.uint32(1 << (drop - 1))
    raw &= np.uint32((0xFFFFFFFF >> drop) << drop)
    return out
