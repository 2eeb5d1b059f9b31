"""Read and write hepfm event files: one HDF5 file per shard.

A *dataset* is a directory of shards ``part-00000.h5, part-00001.h5, ...`` plus an
``index.json`` (shard names and counts), or a single ``.h5`` file. Every shard holds

* root attribute ``hepfm_schema``: the :class:`EventSchema` as JSON (with provenance);
* ``offsets`` [N+1] int64: tokens of event ``i`` are rows ``offsets[i]:offsets[i+1]``;
* ``tokens/features`` [T, F] float32, ``tokens/type`` [T] int16, ``tokens/extra`` [T, E] float32;
* ``events/features`` [N, G] float32;
* ``labels/<name>`` [N]: int64 (class) or float32 (regression).

Datasets are chunked and compressed (see :data:`COMPRESSION`). Writes are atomic: a
dataset appears at its final path only once complete, and a failed write leaves any
existing dataset untouched.

Example::

    write_events("jets/", block, shard_size=100_000)
    data = open_events("jets/")
    first = data.read_block(0, 0, 1000)
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hepfm import __version__
from hepfm.data.events import EventBlock
from hepfm.data.schema import EventSchema
from hepfm.errors import InputError
from hepfm.utils import atomic_path

PathLike = str | os.PathLike
SCHEMA_ATTR = "hepfm_schema"
INDEX_NAME = "index.json"
SHARD_NAME = "part-{:05d}.h5"
H5_SUFFIXES = (".h5", ".hdf5")
# gzip level 4 with byte-shuffle: smaller than lzf and, with the shuffle filter, about as
# fast to read (benchmark in the data package report); readable by every HDF5 build.
COMPRESSION: dict[str, Any] = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
TOKEN_CHUNK_ROWS = 32_768
EVENT_CHUNK_ROWS = 16_384
TOKEN_FIELDS = {"features": "tokens/features", "token_type": "tokens/type", "extra": "tokens/extra"}


# ----------------------------------------------------------------------------- writing


def write_shard(path: PathLike, block: EventBlock) -> Path:
    """Write one block as a single shard file, atomically. The block must pass ``check()``."""
    path = Path(path)
    block.check(str(path))
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs[SCHEMA_ATTR] = block.schema.to_json()
        _put(f, "offsets", block.offsets, EVENT_CHUNK_ROWS)
        _put(f, "tokens/features", block.features, TOKEN_CHUNK_ROWS)
        _put(f, "tokens/type", block.token_type, TOKEN_CHUNK_ROWS)
        _put(f, "tokens/extra", block.extra, TOKEN_CHUNK_ROWS)
        _put(f, "events/features", block.event, EVENT_CHUNK_ROWS)
        for spec in block.schema.labels:
            _put(f, f"labels/{spec.name}", block.labels[spec.name], EVENT_CHUNK_ROWS)
    return path


def _put(f: h5py.File, name: str, arr: np.ndarray, chunk_rows: int) -> None:
    if arr.size == 0:  # HDF5 cannot chunk a zero-sized dimension; nothing to compress anyway
        f.create_dataset(name, data=arr)
    else:
        f.create_dataset(name, data=arr, chunks=(min(chunk_rows, arr.shape[0]), *arr.shape[1:]), **COMPRESSION)


class EventWriter:
    """Stream blocks into a dataset; full shards are written as they fill up.

    ``path`` is a directory (shards + ``index.json``) or a ``.h5`` file (one file, written
    at close, so the whole dataset is held in memory). Nothing appears at ``path`` until
    :meth:`close`; on an error inside ``with`` the partial output is removed and any
    existing dataset at ``path`` is kept.

    Example::

        with EventWriter("out/", schema, shard_size=50_000) as w:
            for block in generator():
                w.append(block)
    """

    def __init__(self, path: PathLike, schema: EventSchema, shard_size: int = 100_000) -> None:
        if shard_size < 1:
            raise InputError("shard_size", f"must be >= 1, got {shard_size}")
        self.path = Path(path)
        self.single_file = self.path.suffix in H5_SUFFIXES
        if "hepfm_version" not in schema.provenance:
            schema = schema.with_provenance(hepfm_version=__version__)
        self.schema = schema
        self.shard_size = int(shard_size)
        self.shards: list[dict[str, Any]] = []
        self._buffer: list[EventBlock] = []
        self._buffered = 0
        self._closed = False
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        if not self.single_file:
            self._tmp.mkdir()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort(exc)

    @property
    def n_events(self) -> int:
        return sum(s["events"] for s in self.shards) + self._buffered

    def append(self, block: EventBlock) -> None:
        """Add events; write every shard that is full."""
        if self._closed:
            raise RuntimeError("EventWriter is closed")
        if block.schema != self.schema:
            raise InputError(str(self.path), f"block schema differs from the writer's schema: {schema_diff(self.schema, block.schema)}")
        block.check(f"{self.path} (appended block)")
        if len(block):
            self._buffer.append(EventBlock(self.schema, block.features, block.token_type, block.offsets,
                                           block.extra, block.event, block.labels))
            self._buffered += len(block)
        while not self.single_file and self._buffered >= self.shard_size:
            self._flush(self.shard_size)

    def _flush(self, n: int) -> None:
        if not self._buffer:  # an empty dataset still gets one (empty) shard
            self._buffer = [_empty_block(self.schema)]
        whole = EventBlock.concat(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        shard, rest = whole.slice(0, n), whole.slice(n, len(whole))
        name = self.path.name if self.single_file else SHARD_NAME.format(len(self.shards))
        write_shard(self._tmp if self.single_file else self._tmp / name, shard)
        self.shards.append({"name": name, "events": len(shard), "tokens": int(shard.offsets[-1])})
        self._buffer = [rest] if len(rest) else []
        self._buffered = len(rest)

    def close(self) -> list[Path]:
        """Write the last shard and ``index.json``, then move the dataset into place."""
        if self._closed:
            return self.paths
        try:
            if self._buffered or not self.shards:
                self._flush(self._buffered)
            if not self.single_file:
                index = {"format": "hepfm-events", "version": 1, "events": self.n_events,
                         "tokens": sum(s["tokens"] for s in self.shards), "shards": self.shards}
                (self._tmp / INDEX_NAME).write_text(json.dumps(index, indent=1) + "\n")
        except BaseException as err:
            self.abort(err)
            raise
        self._closed = True
        self._atomic.__exit__(None, None, None)
        return self.paths

    def abort(self, exc: BaseException | None = None) -> None:
        """Discard everything written so far; an existing dataset at ``path`` is kept."""
        if self._closed:
            return
        self._closed = True
        exc = exc or RuntimeError("EventWriter aborted")
        with contextlib.suppress(BaseException):
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)

    @property
    def paths(self) -> list[Path]:
        if self.single_file:
            return [self.path]
        return [self.path / s["name"] for s in self.shards]


def _empty_block(schema: EventSchema) -> EventBlock:
    return EventBlock(
        schema=schema,
        features=np.zeros((0, len(schema.features)), np.float32),
        token_type=np.zeros(0, np.int16),
        offsets=np.zeros(1, np.int64),
        labels={s.name: np.zeros(0) for s in schema.labels},
    )


def write_events(path: PathLike, block: EventBlock, shard_size: int = 100_000) -> list[Path]:
    """Write ``block`` to a dataset directory of shards (or one file if ``path`` ends in .h5)."""
    with EventWriter(path, block.schema, shard_size) as writer:
        writer.append(block)
    return writer.paths


def schema_diff(a: EventSchema, b: EventSchema) -> str:
    """Name the schema fields that differ (provenance ignored)."""
    fields = [k for k in EventSchema.__dataclass_fields__ if k != "provenance" and getattr(a, k) != getattr(b, k)]
    return "; ".join(f"{k}: {getattr(a, k)!r} vs {getattr(b, k)!r}" for k in fields) or "none"


# ----------------------------------------------------------------------------- reading


@contextlib.contextmanager
def open_h5(path: PathLike) -> Iterator[h5py.File]:
    """Open an HDF5 file for reading; unreadable files raise :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise InputError(str(path), f"cannot open as HDF5: {_h5_reason(err)}") from None
    try:
        yield f
    finally:
        f.close()


def _h5_reason(err: OSError) -> str:
    msg = str(err)
    if "signature" in msg:
        return "not an HDF5 file"
    if "truncated" in msg or "eof" in msg:
        return "truncated file"
    return msg.splitlines()[0] if msg else type(err).__name__


def read_dataset(f: h5py.File, name: str, sel: Any = ()) -> np.ndarray:
    """Read ``f[name][sel]``; a missing or unreadable dataset raises :class:`InputError`."""
    if name not in f:
        raise InputError(f"{f.filename}:{name}", "missing dataset")
    try:
        return f[name][sel]
    except OSError as err:
        raise InputError(f"{f.filename}:{name}", f"cannot read data ({_h5_reason(err)}; truncated or corrupt file)") from None


def read_schema(f: h5py.File) -> EventSchema:
    where = f"{f.filename}:{SCHEMA_ATTR}"
    if SCHEMA_ATTR not in f.attrs:
        raise InputError(where, "missing root attribute (not an hepfm event file)")
    text = f.attrs[SCHEMA_ATTR]
    return EventSchema.from_json(text.decode() if isinstance(text, bytes) else str(text), where)


def list_shards(path: PathLike | Sequence[PathLike]) -> list[Path]:
    """Shard files of a dataset: a directory, a single file, a glob pattern, or a list of these."""
    if isinstance(path, (list, tuple)):
        return [s for p in path for s in list_shards(p)]
    text = os.fspath(path)
    if any(c in text for c in "*?["):
        found = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
        if not found:
            raise InputError(text, "glob pattern matches no files")
        return found
    p = Path(text)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise InputError(text, "no such file or directory")
    index = p / INDEX_NAME
    if index.is_file():
        try:
            names = [s["name"] for s in json.loads(index.read_text())["shards"]]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise InputError(f"{index}:shards", f"malformed index ({err})") from None
        missing = [n for n in names if not (p / n).is_file()]
        if missing:
            raise InputError(f"{index}:shards", f"listed shards missing on disk: {missing[:3]}")
        return [p / n for n in names]
    found = sorted(q for q in p.iterdir() if q.suffix in H5_SUFFIXES and q.is_file())
    if not found:
        raise InputError(text, "directory holds no .h5 shards")
    return found


class EventFile:
    """A dataset opened for reading: its shards, schema and event counts (no tokens loaded)."""

    def __init__(self, path: PathLike | Sequence[PathLike]) -> None:
        self.paths = list_shards(path)
        schemas, counts, tokens = [], [], []
        for shard in self.paths:
            with open_h5(shard) as f:
                schemas.append(read_schema(f))
                if "offsets" not in f:
                    raise InputError(f"{shard}:offsets", "missing dataset")
                offsets = f["offsets"]
                if offsets.ndim != 1 or offsets.shape[0] < 1:
                    raise InputError(f"{shard}:offsets", f"shape {offsets.shape}, expected [n_events + 1]")
                counts.append(offsets.shape[0] - 1)
                tokens.append(int(read_dataset(f, "offsets", -1)))
        for shard, schema in zip(self.paths[1:], schemas[1:]):
            if schema != schemas[0]:
                raise InputError(f"{shard}:{SCHEMA_ATTR}", f"schema differs from {self.paths[0]}: {schema_diff(schemas[0], schema)}")
        self.schema: EventSchema = schemas[0]
        self.counts = np.asarray(counts, dtype=np.int64)
        self.token_counts = np.asarray(tokens, dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.counts.sum())

    @property
    def n_events(self) -> int:
        return len(self)

    @property
    def n_tokens(self) -> int:
        return int(self.token_counts.sum())

    def read_block(self, shard: int, start: int = 0, stop: int | None = None) -> EventBlock:
        """Events ``start:stop`` of shard number ``shard``; reads only their token rows."""
        n = int(self.counts[shard])
        stop = n if stop is None else min(int(stop), n)
        start = min(max(int(start), 0), stop)
        path = self.paths[shard]
        with open_h5(path) as f:
            offsets = read_dataset(f, "offsets", np.s_[start : stop + 1]).astype(np.int64)
            a, b = int(offsets[0]), int(offsets[-1])
            if a > b or np.any(np.diff(offsets) < 0):
                raise InputError(f"{path}:offsets", f"offsets decrease between events {start} and {stop}")
            rows = np.s_[a:b]
            block = EventBlock(
                schema=self.schema,
                features=read_dataset(f, "tokens/features", rows),
                token_type=read_dataset(f, "tokens/type", rows),
                extra=read_dataset(f, "tokens/extra", rows),
                offsets=offsets - a,
                event=read_dataset(f, "events/features", np.s_[start:stop]),
                labels={s.name: read_dataset(f, f"labels/{s.name}", np.s_[start:stop]) for s in self.schema.labels},
            )
        for name in ("features", "token_type", "extra", "event"):
            got, want = getattr(block, name).shape[0], (b - a if name != "event" else stop - start)
            if got != want:
                raise InputError(f"{path}:{TOKEN_FIELDS.get(name, 'events/features')}", f"has {got} rows where offsets need {want}")
        return block

    def iter_blocks(self, chunk_events: int = 65_536) -> Iterator[tuple[int, EventBlock]]:
        """Yield ``(global_start, block)`` for consecutive chunks of every shard, in order."""
        for shard, n in enumerate(self.counts):
            for start in range(0, int(n), chunk_events):
                yield int(self.starts[shard]) + start, self.read_block(shard, start, start + chunk_events)


def open_events(path: PathLike | Sequence[PathLike]) -> EventFile:
    """Open a dataset (directory, ``.h5`` file, glob pattern or list) for reading."""
    return EventFile(path)


def read_all(path: PathLike | Sequence[PathLike]) -> EventBlock:
    """Load a whole (small) dataset into memory as one block."""
    data = open_events(path)
    return EventBlock.concat([data.read_block(i) for i in range(len(data.paths))])
