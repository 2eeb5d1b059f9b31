"""Streaming, shuffling, DDP-aware batch loader and the padded-batch collate.

The loader never holds the dataset in memory. Events are read in contiguous *chunks*
(``chunk_events`` per read). Each epoch it

1. permutes the chunk order (seeded by ``(seed, epoch)``);
2. gives rank ``r`` of ``world_size`` the events at positions ``[r*n, (r+1)*n)`` of that
   chunk stream, ``n = N // world_size`` (so ranks are disjoint and see the same number of
   batches; at most ``world_size - 1`` events sit out an epoch, different ones each epoch);
3. reads ``shuffle_chunks`` chunks at a time into a shuffle buffer, permutes the events in
   it (seeded by ``(seed, epoch, rank, buffer)``) and cuts consecutive batches.

Batch ``j`` of a rank is always its events ``[j*B, (j+1)*B)`` of that stream, so a run can
resume mid-epoch (``start_batch`` / :meth:`EventLoader.skip_batches`) and get exactly the
batches an uninterrupted run would have got, without reading the skipped buffers.

Example::

    loader = EventLoader("jets/train", batch_size=256, seed=1, rank=rank, world_size=world)
    for epoch in range(10):
        loader.set_epoch(epoch)
        for batch in loader:
            ...
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from hepfm.data.events import EventBlock
from hepfm.data.io import EventFile, open_events
from hepfm.errors import InputError

# Seed-sequence tags, so the different random streams of one seed never coincide.
_CHUNK_ORDER, _BUFFER_ORDER, _SUBSET = 1, 2, 3


def pad_block(block: EventBlock, width: int) -> dict[str, np.ndarray]:
    """Pad a block to ``width`` tokens per event (keeping the first tokens) as numpy arrays.

    Returns ``x`` [B, width, F], ``token_type`` [B, width] int64, ``extra`` [B, width, E]
    and ``mask`` [B, width] bool; padded entries are 0. Vectorised: one scatter per array.
    """
    n, offsets = len(block), block.offsets
    counts = np.diff(offsets)
    event = np.repeat(np.arange(n, dtype=np.int64), counts)
    pos = np.arange(int(offsets[-1]), dtype=np.int64) - np.repeat(offsets[:-1], counts)
    flat = event * width + pos
    rows: slice | np.ndarray = slice(None)
    if n and counts.max() > width:  # truncate: keep each event's first `width` tokens
        rows = pos < width
        flat = flat[rows]
    out = {
        "x": np.zeros((n * width, block.features.shape[1]), np.float32),
        "token_type": np.zeros(n * width, np.int64),
        "extra": np.zeros((n * width, block.extra.shape[1]), np.float32),
        "mask": np.zeros(n * width, bool),
    }
    out["x"][flat] = block.features[rows]
    out["token_type"][flat] = block.token_type[rows]
    if block.extra.shape[1]:
        out["extra"][flat] = block.extra[rows]
    out["mask"][flat] = True
    return {k: v.reshape(n, width, *v.shape[1:]) for k, v in out.items()}


def collate_block(block: EventBlock, max_tokens: int | None = None, labels: Sequence[str] | None = None) -> dict:
    """Turn a block into the padded batch dict of ``docs/internals.md``.

    Padded to the longest event (at most ``max_tokens``, keeping the first tokens):
    ``x`` [B, M, F] f32, ``token_type`` [B, M] i64, ``extra`` [B, M, E] f32, ``mask`` [B, M]
    bool, ``event`` [B, G] f32, ``labels`` {name: [B]} (i64 class / f32 regression).
    """
    longest = int(np.diff(block.offsets).max()) if len(block) else 0
    width = longest if max_tokens is None else min(longest, int(max_tokens))
    batch: dict = {k: torch.from_numpy(v) for k, v in pad_block(block, width).items()}
    batch["event"] = torch.from_numpy(np.ascontiguousarray(block.event, dtype=np.float32))
    names = list(block.labels) if labels is None else labels
    batch["labels"] = {k: torch.from_numpy(np.ascontiguousarray(block.labels[k])) for k in names}
    return batch


class _MemorySource:
    """An in-memory block seen through the same interface as :class:`EventFile`."""

    def __init__(self, block: EventBlock, index: np.ndarray | None = None) -> None:
        self.block = block
        self.schema = block.schema
        self.counts = np.array([len(block)], dtype=np.int64)
        self.index = np.arange(len(block), dtype=np.int64) if index is None else index

    def read_block(self, shard: int, start: int, stop: int) -> EventBlock:
        return self.block.slice(start, stop)


class EventLoader:
    """Iterate padded batches of a dataset (see module docstring for the order).

    ``source``: dataset path(s) (directory, file, glob, list) or an in-memory
    :class:`EventBlock`. ``labels``: label names to put in batches (default all).
    ``subset``: use only the first ``subset`` events of a fixed seeded permutation (the
    same events every epoch; subsets of one seed are nested); they are held in memory.
    ``with_index``: add ``index`` [B] int64, the global event number of each row.
    Call :meth:`set_epoch` before each epoch, as with ``DistributedSampler``.
    """

    def __init__(
        self,
        source: str | os.PathLike | Sequence[str | os.PathLike] | EventBlock | EventFile,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        max_tokens: int | None = None,
        labels: Sequence[str] | None = None,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
        chunk_events: int = 4096,
        shuffle_chunks: int = 8,
        subset: int | None = None,
        start_batch: int = 0,
        with_index: bool = False,
    ) -> None:
        for name, value, low in [("batch_size", batch_size, 1), ("world_size", world_size, 1), ("chunk_events", chunk_events, 1),
                                 ("shuffle_chunks", shuffle_chunks, 1), ("start_batch", start_batch, 0), ("seed", seed, 0)]:
            if int(value) < low:
                raise InputError(f"loader.{name}", f"must be >= {low}, got {value}")
        if not 0 <= rank < world_size:
            raise InputError("loader.rank", f"must lie in [0, {world_size - 1}], got {rank}")
        if max_tokens is not None and max_tokens < 1:
            raise InputError("loader.max_tokens", f"must be >= 1, got {max_tokens}")
        if isinstance(source, EventBlock):
            self.source: EventFile | _MemorySource = _MemorySource(source)
        elif isinstance(source, EventFile):
            self.source = source
        else:
            self.source = open_events(source)
        self.schema = self.source.schema
        names = [s.name for s in self.schema.labels]
        self.labels = names if labels is None else list(labels)
        unknown = [k for k in self.labels if k not in names]
        if unknown:
            raise InputError("loader.labels", f"no label(s) {unknown} in dataset; have {names}")
        self.batch_size, self.shuffle, self.seed = int(batch_size), bool(shuffle), int(seed)
        self.max_tokens, self.rank, self.world_size = max_tokens, int(rank), int(world_size)
        self.drop_last, self.shuffle_chunks, self.with_index = bool(drop_last), int(shuffle_chunks), bool(with_index)
        self.chunk_events = int(chunk_events)
        self.epoch = 0
        self._skip = int(start_batch)
        if subset is not None:
            self.source = self._subset_source(int(subset))
        self._starts = np.concatenate([[0], np.cumsum(self.source.counts)]).astype(np.int64)
        self._chunks = self._make_chunks()

    # ---------------------------------------------------------------- planning

    def _subset_source(self, subset: int) -> _MemorySource:
        total = int(self.source.counts.sum())
        if not 1 <= subset <= total:
            raise InputError("loader.subset", f"must lie in [1, {total}] (events in dataset), got {subset}")
        rng = np.random.default_rng([self.seed, _SUBSET])
        index = np.sort(rng.permutation(total)[:subset])
        starts = np.concatenate([[0], np.cumsum(self.source.counts)])
        shard = np.searchsorted(starts, index, side="right") - 1
        local = index - starts[shard]
        window = local // self.chunk_events
        cuts = np.flatnonzero((np.diff(shard) != 0) | (np.diff(window) != 0)) + 1
        parts = []
        for part in np.split(np.arange(subset), cuts):  # one read per chunk holding chosen events
            rows = local[part]
            block = self.source.read_block(int(shard[part[0]]), int(rows[0]), int(rows[-1]) + 1)
            parts.append(block.select(rows - rows[0]))
        return _MemorySource(EventBlock.concat(parts), index)

    def _make_chunks(self) -> np.ndarray:
        """[K, 3] int64 rows ``(shard, start, stop)`` covering every event once."""
        rows = [(s, a, min(a + self.chunk_events, int(n))) for s, n in enumerate(self.source.counts)
                for a in range(0, int(n), self.chunk_events)]
        return np.array(rows, dtype=np.int64).reshape(-1, 3)

    @property
    def n_events(self) -> int:
        """Events this rank sees per epoch."""
        return int(self.source.counts.sum()) // self.world_size

    def __len__(self) -> int:
        n = self.n_events
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def skip_batches(self, n: int) -> None:
        """Make the next iteration start at batch ``n`` of the epoch (to resume a run)."""
        if n < 0:
            raise InputError("loader.skip_batches", f"must be >= 0, got {n}")
        self._skip = int(n)

    def _rank_chunks(self, epoch: int) -> np.ndarray:
        """This rank's chunks for ``epoch``, in reading order, clipped to its event range."""
        chunks = self._chunks
        if self.shuffle:
            chunks = chunks[np.random.default_rng([self.seed, _CHUNK_ORDER, epoch]).permutation(len(chunks))]
        sizes = chunks[:, 2] - chunks[:, 1]
        before = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        lo, hi = self.rank * self.n_events, (self.rank + 1) * self.n_events
        a, b = np.clip(before, lo, hi), np.clip(before + sizes, lo, hi)
        keep = b > a
        out = chunks[keep].copy()
        out[:, 1], out[:, 2] = chunks[keep, 1] + (a - before)[keep], chunks[keep, 1] + (b - before)[keep]
        return out

    # ---------------------------------------------------------------- iteration

    def __iter__(self) -> Iterator[dict]:
        skip, self._skip = self._skip, 0
        return self._iterate(self.epoch, skip)

    def _read(self, chunks: np.ndarray) -> tuple[EventBlock, np.ndarray]:
        blocks = [self.source.read_block(int(s), int(a), int(b)) for s, a, b in chunks]
        if isinstance(self.source, _MemorySource):
            index = np.concatenate([self.source.index[a:b] for _, a, b in chunks])
        else:
            index = np.concatenate([np.arange(a, b) + self._starts[s] for s, a, b in chunks])
        return (EventBlock.concat(blocks) if len(blocks) > 1 else blocks[0]), index

    def _iterate(self, epoch: int, skip: int) -> Iterator[dict]:
        B, n_batches = self.batch_size, len(self)
        chunks = self._rank_chunks(epoch)
        groups = [chunks[i : i + self.shuffle_chunks] for i in range(0, len(chunks), self.shuffle_chunks)]
        ends = np.cumsum([int((g[:, 2] - g[:, 1]).sum()) for g in groups])
        position, emitted = skip * B, skip  # stream position of the next event to emit
        carry: tuple[EventBlock, np.ndarray] | None = None
        for k, group in enumerate(groups):
            if emitted >= n_batches:
                return
            start = int(ends[k - 1]) if k else 0
            if ends[k] <= position:
                continue  # wholly before the resume point: not even read
            block, index = self._read(group)
            order = np.arange(len(block))
            if self.shuffle:
                order = np.random.default_rng([self.seed, _BUFFER_ORDER, epoch, self.rank, k]).permutation(len(block))
            order = order[max(position - start, 0) :]
            if carry is not None:
                block, index = EventBlock.concat([carry[0], block.select(order)]), np.concatenate([carry[1], index[order]])
            else:
                block, index = block.select(order), index[order]
            full = len(block) // B
            for j in range(min(full, n_batches - emitted)):
                yield self._batch(block.slice(j * B, (j + 1) * B), index[j * B : (j + 1) * B])
                emitted += 1
            carry = (block.slice(full * B, len(block)), index[full * B :]) if len(block) > full * B else None
        if carry is not None and emitted < n_batches:
            yield self._batch(*carry)

    def _batch(self, block: EventBlock, index: np.ndarray) -> dict:
        batch = collate_block(block, self.max_tokens, self.labels)
        if self.with_index:
            batch["index"] = torch.from_numpy(np.ascontiguousarray(index, dtype=np.int64))
        return batch
