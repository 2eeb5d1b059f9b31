"""Sharded, reproducible parallel generation.

A generation job of ``n`` items is cut into ``n_shards`` shards. Shard ``i`` gets its
own seed derived from the base seed, the shard index and a stream name, so every shard
can be produced alone (by another job, on another machine) and the shards merged: the
result is identical to running all of them in one process.
"""

from __future__ import annotations

import multiprocessing as mp
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from hepfm.errors import InputError

T = TypeVar("T")

#: Largest seed Pythia accepts (``Random:seed`` must lie in [1, 900 000 000]).
MAX_SEED = 900_000_000


def shard_seed(seed: int, shard: int, stream: str = "") -> int:
    """A seed in ``[1, MAX_SEED]`` for ``shard`` of the job seeded with ``seed``.

    ``stream`` separates independent generators inside one shard (for example one per
    physics process); the seed depends on its name, not on what else runs in the shard.
    """
    if seed < 0 or shard < 0:
        raise InputError("seed", f"seed and shard must be non-negative, got seed={seed}, shard={shard}")
    entropy = [int(seed), int(shard), zlib.crc32(stream.encode())]
    state = np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0]
    return int(state % MAX_SEED) + 1


def split_count(n: int, n_shards: int, shard: int) -> int:
    """How many of ``n`` items shard ``shard`` of ``n_shards`` produces (sums to ``n``)."""
    if n_shards < 1 or not 0 <= shard < n_shards:
        raise InputError("shard", f"shard must lie in [0, n_shards), got shard={shard}, n_shards={n_shards}")
    return n // n_shards + int(shard < n % n_shards)


def map_shards(fn: Callable[..., T], jobs: Sequence[tuple[Any, ...]], workers: int = 1) -> Iterator[T]:
    """Yield ``fn(*job)`` for every job, in job order, using ``workers`` processes.

    Results come back in order as they finish, so a caller can stream them to disk.
    Uses the ``spawn`` start method: Pythia and FastJet hold C++ state that must not be
    inherited by a forked child.
    """
    if workers < 1:
        raise InputError("workers", f"need at least one worker, got {workers}")
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            yield fn(*job)
        return
    with mp.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
        yield from pool.imap(_Star(fn), jobs)


class _Star:
    """Picklable ``lambda job: fn(*job)`` for ``Pool.imap``."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self, job: tuple[Any, ...]) -> Any:
        return self.fn(*job)


def write_shards(
    path: Any,
    job: Any,
    iter_shards: Callable[[Any, int], Iterator[tuple[Any, dict]]],
    merge: Callable[[Any, Sequence[tuple[Any, dict]]], Any],
    workers: int = 1,
) -> list[Any]:
    """Generate the shards of ``job`` (a dataclass with a ``shards`` tuple) and write them.

    A ``.h5`` path gets one file of all shards (``merge(job, parts)``). Any other path is a
    dataset folder that receives ``part-<shard>.h5`` per shard, written atomically as soon as
    the shard is done, each with its own provenance (``merge`` of that shard alone); shards
    whose file already exists are not made again, so rerunning an interrupted job resumes it,
    and folders filled by separate jobs (``shard=i``) merge by copying the files together.
    """
    import dataclasses
    import logging
    from pathlib import Path

    from hepfm.data.io import write_events

    path = Path(path)
    if path.suffix in (".h5", ".hdf5"):
        return write_events(path, merge(job, list(iter_shards(job, workers))))
    done = tuple(s for s in job.shards if (path / f"part-{s:05d}.h5").exists())
    if done:
        logging.getLogger(__name__).info("%d of %d shards already in %s; making the rest", len(done),
                                         len(job.shards), path)
        job = dataclasses.replace(job, shards=tuple(s for s in job.shards if s not in done))
    written: list[Path] = []
    for part in iter_shards(job, workers):
        shard = part[1]["shard"]
        written += write_events(path / f"part-{shard:05d}.h5", merge(dataclasses.replace(job, shards=(shard,)), [part]))
    return written
