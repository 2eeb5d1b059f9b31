"""Check an event dataset completely, in chunks, and summarise it.

:func:`validate_file` reads every shard chunk by chunk (memory stays bounded for any
file size) and raises :class:`InputError` ``"<file>:<field>: <what>"`` on the first
problem: unreadable / non-HDF5 / truncated file, missing schema attribute or dataset,
schema differing between shards, wrong shapes or dtypes, inconsistent offsets,
NaN/inf, token types or class labels out of range, ``index.json`` disagreeing with the
shards. It returns the same summary as :func:`summarize`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hepfm.data.io import INDEX_NAME, PathLike, list_shards, open_h5, read_dataset, read_schema, schema_diff
from hepfm.data.schema import EventSchema
from hepfm.errors import InputError

CHUNK_ROWS = 1 << 20


class _Columns:
    """Running min / sum / max of the columns of a 2-D float array (NaN entries, i.e. missing labels, skipped)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        k = len(self.names)
        self.lo, self.hi, self.sum = np.full(k, np.inf), np.full(k, -np.inf), np.zeros(k)
        self.count, self.n = np.zeros(k, dtype=np.int64), 0

    def add(self, arr: np.ndarray) -> None:
        if len(arr) and arr.shape[1]:
            known = ~np.isnan(arr)
            self.lo = np.minimum(self.lo, np.where(known, arr, np.inf).min(0))
            self.hi = np.maximum(self.hi, np.where(known, arr, -np.inf).max(0))
            self.sum += np.where(known, arr, 0.0).sum(0, dtype=np.float64)
            self.count += known.sum(0)
        self.n += len(arr)

    def result(self) -> dict[str, dict[str, float | None]]:
        return {k: {"min": float(self.lo[i]), "mean": float(self.sum[i] / self.count[i]), "max": float(self.hi[i])}
                if self.count[i] else {"min": None, "mean": None, "max": None} for i, k in enumerate(self.names)}


class _Summary:
    def __init__(self, schema: EventSchema) -> None:
        self.schema = schema
        self.events = self.tokens = 0
        self.max_tokens, self.min_tokens = 0, None
        self.features, self.extra, self.event = _Columns(schema.features), _Columns(schema.extra), _Columns(schema.event)
        self.type_counts = np.zeros(len(schema.token_types), dtype=np.int64)
        self.labels: dict[str, Any] = {
            s.name: np.zeros(s.num_classes, np.int64) if s.kind == "class" else _Columns([s.name]) for s in schema.labels
        }

    def result(self, path: PathLike, n_shards: int) -> dict[str, Any]:
        labels: dict[str, Any] = {}
        for spec in self.schema.labels:
            acc = self.labels[spec.name]
            if spec.kind == "class":
                labels[spec.name] = {"kind": "class", "counts": dict(zip(spec.classes, (int(c) for c in acc)))}
            else:
                labels[spec.name] = {"kind": "regression", **acc.result()[spec.name]}
        return {
            "path": str(path),
            "shards": n_shards,
            "events": self.events,
            "tokens": self.tokens,
            "tokens_per_event": {
                "mean": self.tokens / self.events if self.events else None,
                "min": self.min_tokens,
                "max": self.max_tokens if self.events else None,
            },
            "token_types": dict(zip(self.schema.token_types, (int(c) for c in self.type_counts))),
            "features": self.features.result(),
            "extra": self.extra.result(),
            "event": self.event.result(),
            "labels": labels,
            "schema": json.loads(self.schema.to_json()),
        }


def validate_file(path: PathLike | Sequence[PathLike], chunk_rows: int = CHUNK_ROWS) -> dict[str, Any]:
    """Check every shard of a dataset completely; return its summary (see :func:`summarize`)."""
    shards = list_shards(path)
    summary: _Summary | None = None
    counts = []
    for shard in shards:
        with open_h5(shard) as f:
            schema = read_schema(f)
            if summary is None:
                summary = _Summary(schema)
            elif schema != summary.schema:
                raise InputError(f"{shard}:hepfm_schema", f"schema differs from {shards[0]}: {schema_diff(summary.schema, schema)}")
            counts.append(_check_shard(f, summary, chunk_rows))
    _check_index(path, shards, counts)
    assert summary is not None
    return summary.result(path, len(shards))


def summarize(path: PathLike | Sequence[PathLike]) -> dict[str, Any]:
    """Events, tokens, tokens per event, token-type and label counts (or mean / min / max
    for regression), and min / mean / max of every feature column. Validates as it goes."""
    return validate_file(path)


def _dataset(f: h5py.File, name: str, shape: tuple[int | None, ...], kinds: str) -> h5py.Dataset:
    """The dataset ``name``, checked for shape (None = any length) and dtype kind."""
    if name not in f or not isinstance(f[name], h5py.Dataset):
        raise InputError(f"{f.filename}:{name}", "missing dataset")
    ds = f[name]
    if len(ds.shape) != len(shape) or any(w is not None and w != g for w, g in zip(shape, ds.shape)):
        want = "[" + ", ".join("*" if w is None else str(w) for w in shape) + "]"
        raise InputError(f"{f.filename}:{name}", f"shape {list(ds.shape)}, expected {want}")
    if ds.dtype.kind not in kinds:
        kind = {"f": "floating-point", "iu": "integer"}.get(kinds, kinds)
        raise InputError(f"{f.filename}:{name}", f"dtype {ds.dtype}, expected {kind}")
    return ds


def _chunks(ds: h5py.Dataset, rows: int):
    for a in range(0, ds.shape[0], rows):
        yield a, read_dataset(ds.file, ds.name.lstrip("/"), np.s_[a : a + rows])


def _check_shard(f: h5py.File, acc: _Summary, rows: int) -> int:
    s, where = acc.schema, f.filename
    offsets = _dataset(f, "offsets", (None,), "iu")
    if offsets.shape[0] < 1:
        raise InputError(f"{where}:offsets", "empty; needs n_events + 1 entries starting at 0")
    n = offsets.shape[0] - 1
    feats = _dataset(f, "tokens/features", (None, len(s.features)), "f")
    n_tok = feats.shape[0]
    ttype = _dataset(f, "tokens/type", (n_tok,), "iu")
    extra = _dataset(f, "tokens/extra", (n_tok, len(s.extra)), "f")
    event = _dataset(f, "events/features", (n, len(s.event)), "f")
    labels = {spec.name: _dataset(f, f"labels/{spec.name}", (n,), "iu" if spec.kind == "class" else "f") for spec in s.labels}

    last = 0
    for a, chunk in _chunks(offsets, rows):
        if a == 0 and chunk[0] != 0:
            raise InputError(f"{where}:offsets", f"first offset is {chunk[0]}, must be 0")
        counts = np.diff(chunk if a == 0 else np.concatenate([[last], chunk]))  # tokens per event
        first_event = a if a == 0 else a - 1
        if np.any(counts < 0):
            raise InputError(f"{where}:offsets", f"offsets decrease at event {first_event + int(np.argmax(counts < 0))} (negative token count)")
        if len(counts):
            acc.max_tokens = max(acc.max_tokens, int(counts.max()))
            acc.min_tokens = int(counts.min()) if acc.min_tokens is None else min(acc.min_tokens, int(counts.min()))
        last = int(chunk[-1])
    if last != n_tok:
        raise InputError(f"{where}:offsets", f"last offset {last} != number of token rows {n_tok}")

    for name, ds, cols in (("tokens/features", feats, acc.features), ("tokens/extra", extra, acc.extra), ("events/features", event, acc.event)):
        for a, chunk in _chunks(ds, max(rows // max(ds.shape[1], 1), 1)):
            _finite(chunk, f"{where}:{name}", a)
            cols.add(chunk)
    for a, chunk in _chunks(ttype, rows):
        if len(chunk) and (chunk.min() < 0 or chunk.max() >= len(s.token_types)):
            bad = int(np.argmax((chunk < 0) | (chunk >= len(s.token_types))))
            raise InputError(f"{where}:tokens/type", f"token type {chunk[bad]} at row {a + bad} outside [0, {len(s.token_types) - 1}]")
        acc.type_counts += np.bincount(chunk, minlength=len(s.token_types))
    for spec in s.labels:
        name = f"labels/{spec.name}"
        for a, chunk in _chunks(labels[spec.name], rows):
            if spec.kind == "class":
                if len(chunk) and (chunk.min() < -1 or chunk.max() >= spec.num_classes):
                    bad = int(np.argmax((chunk < -1) | (chunk >= spec.num_classes)))
                    raise InputError(f"{where}:{name}", f"class {chunk[bad]} at event {a + bad} outside [0, {spec.num_classes - 1}] (or -1: missing)")
                acc.labels[spec.name] += np.bincount(chunk[chunk >= 0], minlength=spec.num_classes)
            else:
                _finite(np.where(np.isnan(chunk), 0.0, chunk), f"{where}:{name}", a)  # NaN = missing label; inf is an error
                acc.labels[spec.name].add(chunk.reshape(-1, 1))
    acc.events += n
    acc.tokens += n_tok
    return n


def _finite(chunk: np.ndarray, where: str, start: int) -> None:
    bad = ~np.isfinite(chunk)
    if bad.any():
        at = np.argwhere(bad)[0]
        at[0] += start
        raise InputError(where, f"non-finite value (NaN or inf) at index {tuple(int(i) for i in at)}")


def _check_index(path: PathLike | Sequence[PathLike], shards: list[Path], counts: list[int]) -> None:
    if isinstance(path, (list, tuple)) or not Path(path).is_dir() or not (Path(path) / INDEX_NAME).is_file():
        return
    index = Path(path) / INDEX_NAME
    listed = json.loads(index.read_text())["shards"]
    for entry, shard, n in zip(listed, shards, counts):
        if entry.get("events") != n:
            raise InputError(f"{index}:shards", f"{shard.name} listed with {entry.get('events')} events, file has {n}")
