"""Deterministic train / val / test split of a dataset, streamed chunk by chunk.

Each event goes to a part chosen by a seeded hash of its global event number (its
position in the dataset, counting across shards), so the split is reproducible, does
not depend on how the input is sharded or chunked, and needs no shuffling in memory.
Events keep their input order within each part.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hepfm.data.io import EventWriter, PathLike, open_events
from hepfm.errors import InputError

PARTS = ("train", "val", "test")
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def hash_uniform(index: np.ndarray, seed: int) -> np.ndarray:
    """Uniform floats in [0, 1) from (seed, index) with the splitmix64 finaliser."""
    with np.errstate(over="ignore"):
        z = np.asarray(index, dtype=np.uint64) * _GOLDEN + np.uint64(seed % 2**64) * np.uint64(0xBF58476D1CE4E5B9) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def assign_parts(index: np.ndarray, fractions: Sequence[float], seed: int) -> np.ndarray:
    """Part number (0, 1, 2, ...) of each global event index."""
    edges = np.cumsum(fractions)[:-1]
    return np.searchsorted(edges, hash_uniform(index, seed), side="right")


def split_events(
    path: PathLike,
    out_dir: PathLike,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    shard_size: int = 100_000,
    chunk_events: int = 65_536,
) -> dict[str, Path]:
    """Write ``out_dir/{train,val,test}/`` datasets; returns part name -> directory.

    The split is recorded in each part's provenance (``split``: source, part, fractions,
    seed, method). If anything fails, no part is written.
    """
    fractions = [float(f) for f in fractions]
    if len(fractions) != len(PARTS) or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise InputError("split.fractions", f"need {len(PARTS)} non-negative fractions summing to 1, got {fractions}")
    data = open_events(path)
    out = Path(out_dir)
    record = {"source": str(path), "fractions": fractions, "seed": int(seed), "method": "splitmix64(seed, global event index)"}
    with contextlib.ExitStack() as stack:
        writers = [
            stack.enter_context(EventWriter(out / name, data.schema.with_provenance(split={**record, "part": name}), shard_size))
            for name in PARTS
        ]
        for start, block in data.iter_blocks(chunk_events):
            part = assign_parts(np.arange(start, start + len(block)), fractions, seed)
            for k, writer in enumerate(writers):
                writer.append(block.select(np.flatnonzero(part == k)))
    return {name: out / name for name in PARTS}
