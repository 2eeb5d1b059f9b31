"""Import ROOT ntuples (TTrees or RNTuples with jagged branches) through a YAML mapping.

A *mapping* (``docs/ntuples.md``; example: ``configs/ntuples/example-minerva.yaml``) says
how branches become hepfm columns: token *collections* (each built from branches of equal
per-event length, or from scalar branches as one token per event) concatenated into one
token list per event, event-level features, labels, an event selection and units. Column
values are small arithmetic *expressions* over branches, parsed with :mod:`ast` and
evaluated on awkward arrays by a whitelist interpreter (never Python ``eval``).

Files are read with ``uproot`` chunk by chunk (``step_size``); every operation is
vectorised over the chunk; blocks stream into an :class:`~hepfm.data.io.EventWriter`
(atomic, sharded when the output is a folder).

Example::

    from hepfm.data.ntuple import import_ntuple
    import_ntuple(["run1.root", "run2.root"], "configs/ntuples/example-minerva.yaml", "minerva/")
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from hepfm.data.events import EventBlock
from hepfm.data.expressions import (
    CONSTANTS, FUNCTIONS, LIST_FUNCTIONS, REDUCTIONS, Env, Expr, parse_expression, value_depth,
)
from hepfm.data.io import EventWriter, PathLike
from hepfm.data.schema import CORE_FEATURES, EventSchema, LabelSpec
from hepfm.errors import InputError

# ----------------------------------------------------------------------------- mapping

_TOP_KEYS = {"tree", "description", "aliases", "collections", "event", "labels", "cuts", "units", "token_types", "sort_by"}
_COLLECTION_KEYS = {"type", "features", "extra", "select"}
_CODED_KEYS = {"expr", "branch", "map", "default"}
_LABEL_KEYS = {"expr", "branch", "kind", "classes", "map", "default", "unit"}
_DEFAULT_UNITS = dict(zip(CORE_FEATURES, ("", "rad", "log GeV", "log GeV")))


@dataclass(frozen=True)
class CodedSpec:
    """Integer codes from an expression turned into indices of ``names``.

    With a ``map`` (code -> name) unmapped codes take ``default`` (an error without one);
    without a map the value itself is the index and must lie in ``[0, len(names) - 1]``.
    """

    expr: Expr
    names: tuple[str, ...]
    codes: tuple[int, ...] = ()
    targets: tuple[int, ...] = ()
    default: int | None = None

    def apply(self, values: np.ndarray, where: str, locate: Callable[[int], str]) -> np.ndarray:
        values = np.asarray(values)
        if values.dtype == bool:
            values = values.astype(np.int64)
        integral = np.isfinite(values) & (values == np.round(values)) if values.dtype.kind == "f" else np.ones(values.shape, bool)
        if not integral.all():
            i = int(np.argmin(integral))
            raise InputError(where, f"{self.expr.text!r} gives non-integer code {values[i]} at {locate(i)}")
        codes = values.astype(np.int64)
        if not self.codes:
            bad = (codes < 0) | (codes >= len(self.names))
            if bad.any():
                i = int(np.argmax(bad))
                raise InputError(where, f"{self.expr.text!r} gives {codes[i]} at {locate(i)}, outside [0, {len(self.names) - 1}] "
                                 f"for {list(self.names)}; add a 'map'")
            return codes
        keys, targets = np.asarray(self.codes, np.int64), np.asarray(self.targets, np.int64)
        order = np.argsort(keys)
        keys, targets = keys[order], targets[order]
        pos = np.clip(np.searchsorted(keys, codes), 0, len(keys) - 1)
        found = keys[pos] == codes
        if not found.all() and self.default is None:
            i = int(np.argmin(found))
            shown = {int(k): self.names[t] if t < len(self.names) else t for k, t in zip(keys, targets)}
            raise InputError(where, f"code {codes[i]} from {self.expr.text!r} at {locate(i)} is not in the map {shown} "
                             "and no 'default' is given")
        return np.where(found, targets[pos], -1 if self.default is None else self.default)


@dataclass(frozen=True)
class CollectionSpec:
    """One token collection: its type (a fixed name index or a :class:`CodedSpec`), columns, selection."""

    name: str
    type: int | CodedSpec
    features: tuple[Expr, ...]
    extra: tuple[Expr, ...]
    select: Expr | None = None


@dataclass(frozen=True)
class LabelMapping:
    """A label: its :class:`LabelSpec`, the expression, and (class labels) the code mapping."""

    spec: LabelSpec
    expr: Expr
    coded: CodedSpec | None = None


@dataclass(frozen=True)
class NtupleMapping:
    """A parsed mapping: how one tree's branches become an :class:`EventBlock` (see :func:`load_mapping`)."""

    tree: str
    collections: tuple[CollectionSpec, ...]
    schema: EventSchema
    event: tuple[Expr, ...] = ()
    labels: tuple[LabelMapping, ...] = ()
    cuts: Expr | None = None
    aliases: Mapping[str, Expr] = field(default_factory=dict)
    sort_by: int | None = None
    units: Mapping[str, str] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    source: str = "mapping"

    @property
    def branches(self) -> dict[str, str]:
        """Every branch the mapping reads -> the first mapping key that needs it."""
        out: dict[str, str] = {}
        for expr in self._exprs():
            for name in sorted(_branches(expr, self.aliases)):
                out.setdefault(name, expr.key)
        return out

    def _exprs(self) -> list[Expr]:
        exprs = [self.cuts] if self.cuts else []
        for c in self.collections:
            exprs += [*c.features, *c.extra, *([c.select] if c.select else [])]
            exprs += [c.type.expr] if isinstance(c.type, CodedSpec) else []
        return exprs + list(self.event) + [label.expr for label in self.labels]

    def to_block(self, arrays: Any, where: str = "arrays", first_entry: int = 0) -> tuple[EventBlock, int]:
        """Convert one chunk (an awkward record array or a dict of arrays, one entry per event)
        into an :class:`EventBlock`; returns ``(block, events read)``. ``where`` and
        ``first_entry`` only label error messages (entry numbers count from the tree start)."""
        return _convert(self, arrays, where, int(first_entry))


def _branches(expr: Expr, aliases: Mapping[str, Expr], seen: tuple[str, ...] = ()) -> set[str]:
    out: set[str] = set()
    quoted = set(expr.quoted.values())
    for name in expr.names:
        if name in aliases and name not in quoted:
            if name in seen:
                raise InputError(f"aliases.{name}", f"alias refers to itself through {' -> '.join((*seen, name))}")
            out |= _branches(aliases[name], aliases, (*seen, name))
        else:
            out.add(name)
    return out


def load_mapping(mapping: PathLike | Mapping[str, Any], *, tree: str | None = None) -> NtupleMapping:
    """Parse a mapping from a YAML file or a dict; every problem is an :class:`InputError`
    naming the key (``<file>:collections.prongs.features.log_pt``). ``tree`` overrides ``tree:``."""
    if isinstance(mapping, Mapping):
        raw, src = dict(mapping), "mapping"
    else:
        from hepfm.config import load_yaml

        raw, src = load_yaml(mapping), str(mapping)

    def at(key: str) -> str:
        return f"{src}:{key}"

    _known(raw, _TOP_KEYS, at("(top level)"))
    tree_name = tree or raw.get("tree")
    if not isinstance(tree_name, str) or not tree_name:
        raise InputError(at("tree"), "give the TTree name (e.g. tree: MasterAnaDev) or pass --tree")
    aliases = {str(k): parse_expression(v, f"aliases.{k}", src) for k, v in _section(raw, "aliases", src).items()}
    for name in aliases:
        if name in CONSTANTS or name in {*FUNCTIONS, *REDUCTIONS, *LIST_FUNCTIONS} or not name.isidentifier():
            raise InputError(at(f"aliases.{name}"), "alias name must be an identifier and not a function or 'pi'")
        try:
            _branches(aliases[name], aliases)  # cycle check
        except InputError as err:
            raise InputError(at(err.where), err.what) from None
    collections_raw = _section(raw, "collections", src)
    if not collections_raw:
        raise InputError(at("collections"), "need at least one token collection")
    explicit_types = raw.get("token_types")
    if explicit_types is not None and (not isinstance(explicit_types, list) or not all(isinstance(t, str) for t in explicit_types)):
        raise InputError(at("token_types"), "must be a list of names")
    type_names: list[str] = list(explicit_types or [])

    def type_index(name: Any, key: str) -> int:
        if not isinstance(name, str) or not name:
            raise InputError(at(key), f"token type name must be a non-empty string, got {name!r}")
        if name not in type_names:
            if explicit_types is not None:
                raise InputError(at(key), f"token type {name!r} is not in token_types {explicit_types}")
            type_names.append(name)
        return type_names.index(name)

    feature_names: list[str] | None = None
    extra_names: list[str] | None = None
    collections = []
    for cname, craw in collections_raw.items():
        ckey = f"collections.{cname}"
        if not isinstance(craw, Mapping):
            raise InputError(at(ckey), "must be a mapping with type, features, extra, select")
        _known(craw, _COLLECTION_KEYS, at(ckey))
        feats = _section(craw, "features", src, ckey)
        extra = _section(craw, "extra", src, ckey)
        if feature_names is None:
            feature_names, extra_names = [str(k) for k in feats], [str(k) for k in extra]
            if len(feature_names) < 2:
                raise InputError(at(f"{ckey}.features"), "need at least two token features (by convention deta, dphi, log_pt, log_e)")
        for group, names, have in (("features", feature_names, feats), ("extra", extra_names, extra)):
            if sorted(map(str, have)) != sorted(names or []):
                raise InputError(at(f"{ckey}.{group}"), f"defines {sorted(map(str, have))}, but every collection must define the same "
                                 f"{group} {sorted(names or [])} (use a number, e.g. 0, where a column does not apply)")
        ctype: int | CodedSpec
        traw = craw.get("type")
        if isinstance(traw, Mapping):
            _known(traw, _CODED_KEYS, at(f"{ckey}.type"))
            coded = _coded(traw, f"{ckey}.type", src)
            targets = tuple(type_index(coded["map"][c], f"{ckey}.type.map.{c}") for c in coded["codes"])
            default = type_index(coded["default"], f"{ckey}.type.default") if coded["default"] is not None else None
            ctype = CodedSpec(coded["expr"], (), coded["codes"], targets, default)
            if not coded["codes"]:
                raise InputError(at(f"{ckey}.type"), "a type from a branch needs a 'map' from integer codes to type names")
        else:
            ctype = type_index(traw, f"{ckey}.type")
        collections.append(CollectionSpec(
            name=str(cname), type=ctype,
            features=tuple(parse_expression(feats[k], f"{ckey}.features.{k}", src) for k in feature_names),
            extra=tuple(parse_expression(extra[k], f"{ckey}.extra.{k}", src) for k in extra_names or []),
            select=parse_expression(craw["select"], f"{ckey}.select", src) if craw.get("select") is not None else None,
        ))
    type_tuple = tuple(type_names)
    collections = [c if isinstance(c.type, int) else dataclasses.replace(c, type=dataclasses.replace(c.type, names=type_tuple))
                   for c in collections]
    event_raw = _section(raw, "event", src)
    event = tuple(parse_expression(v, f"event.{k}", src) for k, v in event_raw.items())
    labels = tuple(_label(str(k), v, f"labels.{k}", src) for k, v in _section(raw, "labels", src).items())
    cuts = parse_expression(raw["cuts"], "cuts", src) if raw.get("cuts") is not None else None

    units = {str(k): str(v) for k, v in _section(raw, "units", src).items()}
    columns = [*(feature_names or []), *(extra_names or []), *map(str, event_raw)]
    if len(set(columns)) != len(columns):
        raise InputError(at("(columns)"), f"feature, extra and event column names must be distinct: {columns}")
    unknown = sorted(set(units) - set(columns))
    if unknown:
        raise InputError(at("units"), f"units given for {unknown}, which are not feature, extra or event columns")
    units = {c: units.get(c, _DEFAULT_UNITS.get(c, "") if c in (feature_names or []) else "") for c in columns}
    sort_by = raw.get("sort_by")
    if sort_by is not None and sort_by not in (feature_names or []):
        raise InputError(at("sort_by"), f"{sort_by!r} is not a token feature; have {feature_names}")
    schema = EventSchema(
        features=tuple(feature_names or ()),
        feature_units=tuple(units[f] for f in feature_names or ()),
        token_types=type_tuple,
        extra=tuple(extra_names or ()),
        event=tuple(map(str, event_raw)),
        labels=tuple(label.spec for label in labels),
    )
    m = NtupleMapping(tree=tree_name, collections=tuple(collections), schema=schema, event=event, labels=labels, cuts=cuts,
                      aliases=aliases, sort_by=None if sort_by is None else (feature_names or []).index(sort_by), units=units,
                      raw=_jsonable(raw), source=src)
    return m


def _known(raw: Mapping[str, Any], keys: set[str], where: str) -> None:
    unknown = sorted(map(str, set(raw) - keys))
    if unknown:
        raise InputError(where, f"unknown key(s) {unknown}; known: {sorted(keys)}")


def _section(raw: Mapping[str, Any], key: str, src: str, parent: str = "") -> dict[str, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, Mapping):
        raise InputError(f"{src}:{parent + '.' if parent else ''}{key}", f"must be a mapping of name: value, got {type(value).__name__}")
    return dict(value)


def _coded(raw: Mapping[str, Any], key: str, src: str) -> dict[str, Any]:
    """Common parsing of ``{expr|branch, map, default}`` (token types and class labels)."""
    where = f"{src}:{key}"
    text = raw.get("expr", raw.get("branch"))
    if text is None or ("expr" in raw and "branch" in raw):
        raise InputError(where, "give exactly one of 'expr' or 'branch'")
    mapping = raw.get("map") or {}
    if not isinstance(mapping, Mapping):
        raise InputError(f"{where}.map", "must map integer codes to names")
    codes = []
    for code in mapping:
        try:
            codes.append(int(code))
        except (TypeError, ValueError):
            raise InputError(f"{where}.map", f"key {code!r} is not an integer code") from None
    return {"expr": parse_expression(text, key, src), "codes": tuple(codes), "map": {int(k): v for k, v in mapping.items()},
            "default": raw.get("default")}


def _label(name: str, raw: Any, key: str, src: str) -> LabelMapping:
    where = f"{src}:{key}"
    if not isinstance(raw, Mapping):
        raw = {"expr": raw}
    _known(raw, _LABEL_KEYS, where)
    kind = raw.get("kind") or ("class" if ("classes" in raw or "map" in raw) else "regression")
    if kind == "regression":
        for k in ("classes", "map", "default"):
            if k in raw:
                raise InputError(f"{where}.{k}", "only class labels take classes / map / default")
        coded = _coded({k: v for k, v in raw.items() if k in ("expr", "branch")}, key, src)
        return LabelMapping(LabelSpec(name, "regression", unit=str(raw.get("unit", ""))), coded["expr"])
    if kind != "class":
        raise InputError(f"{where}.kind", f"must be 'class' or 'regression', got {kind!r}")
    coded = _coded(raw, key, src)
    named = [*coded["map"].values(), *([coded["default"]] if coded["default"] is not None else [])]
    classes = raw.get("classes")
    if classes is None:
        if not coded["codes"]:
            raise InputError(where, "a class label needs 'classes' (names of values 0, 1, ...) or a 'map'")
        classes = list(dict.fromkeys(named))
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise InputError(f"{where}.classes", "must be a list of class names")
    missing = [c for c in named if c not in classes]
    if missing:
        raise InputError(f"{where}.map", f"class names {missing} are not in classes {classes}")
    spec = LabelSpec(name, "class", tuple(classes), unit=str(raw.get("unit", "")))
    targets = tuple(classes.index(coded["map"][c]) for c in coded["codes"])
    default = classes.index(coded["default"]) if coded["default"] is not None else None
    return LabelMapping(spec, coded["expr"], CodedSpec(coded["expr"], tuple(classes), coded["codes"], targets, default))


def _jsonable(value: Any) -> Any:
    """The raw mapping with string keys only (YAML allows int keys; JSON with sort_keys does not)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# ----------------------------------------------------------------------------- conversion


class _Chunk:
    """One chunk being converted: the evaluation environment plus error-location helpers."""

    def __init__(self, m: NtupleMapping, arrays: Any, where: str, entries: np.ndarray) -> None:
        self.m, self.where, self.entries = m, where, entries
        self.arrays = arrays
        self.env = Env(arrays, m.aliases)

    def value(self, expr: Expr) -> Any:
        try:
            return self.env.eval(expr)
        except InputError as err:
            raise InputError(f"{self.where}:{err.where}", err.what) from None
        except (ValueError, IndexError, TypeError) as err:
            raise InputError(f"{self.where}:{expr.key}", self._explain(expr, err)) from None

    def _explain(self, expr: Expr, err: Exception) -> str:
        lists = {}
        for name in sorted(_branches(expr, self.m.aliases)):
            arr = self.arrays[name]
            if isinstance(arr, ak.Array) and arr.ndim >= 2:
                lists[name] = np.asarray(ak.num(arr, axis=1))
        names = list(lists)
        for other in names[1:]:
            diff = lists[other] != lists[names[0]]
            if diff.any():
                i = int(np.argmax(diff))
                return (f"branches {names[0]!r} and {other!r} in {expr.text!r} have different lengths at entry {self.entries[i]} "
                        f"({lists[names[0]][i]} vs {lists[other][i]}); branches combined per token need equal per-event lengths")
        if isinstance(err, IndexError):
            return f"index out of range in {expr.text!r} (a list is shorter than the index)"
        return f"cannot evaluate {expr.text!r}: {_reason(err)}"

    def event_values(self, expr: Expr, *, finite: bool = True) -> np.ndarray:
        """One number per event, as float64 (bool for comparisons)."""
        value = self.value(expr)
        n = len(self.entries)
        if value_depth(value) >= 2:
            raise InputError(f"{self.where}:{expr.key}", f"{expr.text!r} is per-token (a list per event); event-level values "
                             "need one number per event: reduce with sum(), count(), min(), max(), mean() or index it, x[0]")
        out = np.broadcast_to(_numpy(value), (n,)) if value_depth(value) == 0 else _numpy(value)
        if finite:
            self.check_finite(out, expr, lambda i: f"entry {self.entries[i]}")
        return out

    def check_finite(self, values: np.ndarray, expr: Expr, locate: Callable[[int], str]) -> None:
        """Values are stored as float32: NaN, inf and values beyond float32's range are errors."""
        if values.dtype.kind == "f":
            bad = ~np.isfinite(values.astype(np.float32))
            if bad.any():
                i = int(np.argmax(bad))
                raise InputError(f"{self.where}:{expr.key}", f"{expr.text!r} gives {values[i]} at {locate(i)} (NaN/inf or "
                                 "beyond float32); fix the expression or drop such entries with cuts / select")


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, ak.Array):
        value = ak.to_numpy(value, allow_missing=True)
        if isinstance(value, np.ma.MaskedArray):
            value = value.astype(np.float64).filled(np.nan)
    return np.asarray(value)


def _convert(m: NtupleMapping, arrays: Any, where: str, first_entry: int) -> tuple[EventBlock, int]:
    if not isinstance(arrays, ak.Array):
        arrays = ak.Array(dict(arrays)) if len(arrays) else ak.Array({})
    n_read = len(arrays)
    entries = first_entry + np.arange(n_read, dtype=np.int64)
    if m.cuts is not None:
        keep = _Chunk(m, arrays, where, entries).event_values(m.cuts, finite=False)
        if keep.dtype != bool:
            raise InputError(f"{where}:{m.cuts.key}", f"{m.cuts.text!r} must be a condition (a comparison), got {keep.dtype} values")
        if not keep.all():
            arrays, entries = arrays[keep], entries[keep]
    chunk = _Chunk(m, arrays, where, entries)
    n = len(entries)
    event = np.stack([chunk.event_values(e) for e in m.event], axis=1) if m.event else np.zeros((n, 0))
    labels = {}
    for label in m.labels:
        values = chunk.event_values(label.expr, finite=label.coded is None)
        if label.coded is not None:
            values = label.coded.apply(values, f"{where}:{label.expr.key}", lambda i: f"entry {entries[i]}")
        labels[label.spec.name] = values
    parts = [_collection(chunk, c, n) for c in m.collections]
    counts = np.sum([p[0] for p in parts], axis=0) if parts else np.zeros(n, np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    total = int(offsets[-1])
    features = np.empty((total, len(m.schema.features)), np.float32)
    extra = np.empty((total, len(m.schema.extra)), np.float32)
    token_type = np.empty(total, np.int16)
    before = np.zeros(n, np.int64)  # tokens of earlier collections in each event
    for c_counts, c_feat, c_extra, c_type in parts:
        ev = np.repeat(np.arange(n), c_counts)
        local = np.arange(len(ev)) - np.repeat(np.cumsum(c_counts) - c_counts, c_counts)
        rows = offsets[:-1][ev] + before[ev] + local
        features[rows], extra[rows], token_type[rows] = c_feat, c_extra, c_type
        before += c_counts
    if m.sort_by is not None and total:
        ev = np.repeat(np.arange(n), counts)
        order = np.lexsort((-features[:, m.sort_by], ev))  # stable: ties keep collection order
        features, extra, token_type = features[order], extra[order], token_type[order]
    block = EventBlock(m.schema, features, token_type, offsets, extra, event, labels)
    block.check(where)
    return block, n_read


def _collection(chunk: _Chunk, c: CollectionSpec, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Counts [n] and flat features / extra / types of one collection, after its selection."""
    exprs = [*c.features, *c.extra, *([c.select] if c.select else [])]
    exprs += [c.type.expr] if isinstance(c.type, CodedSpec) else []
    values = [chunk.value(e) for e in exprs]
    counts, ref = None, None
    for expr, value in zip(exprs, values):
        depth = value_depth(value)
        if depth > 2:
            raise InputError(f"{chunk.where}:{expr.key}", f"{expr.text!r} gives nested lists (depth {depth}); pick an element, e.g. x[3]")
        if depth == 2:
            num = np.asarray(ak.num(value, axis=1), np.int64)
            if counts is None:
                counts, ref = num, expr
            elif not np.array_equal(num, counts):
                i = int(np.argmax(num != counts))
                raise InputError(f"{chunk.where}:{expr.key}", f"{expr.text!r} has {num[i]} entries at entry {chunk.entries[i]} but "
                                 f"{ref.key} = {ref.text!r} has {counts[i]}; the branches of one collection "
                                 "need equal per-event lengths")
    if counts is None:  # only scalar branches: one token per event
        counts = np.ones(n, np.int64)
    total = int(counts.sum())
    flat = [_flat(v, counts, total) for v in values]
    ev = np.repeat(np.arange(n), counts)
    if c.select is not None:
        keep = flat[len(c.features) + len(c.extra)]
        if keep.dtype != bool:
            raise InputError(f"{chunk.where}:{c.select.key}", f"{c.select.text!r} must be a condition, got {keep.dtype} values")
        flat, ev = [f[keep] for f in flat], ev[keep]
        counts = np.bincount(ev, minlength=n).astype(np.int64)
    first = np.cumsum(counts) - counts

    def locate(i: int) -> str:
        return f"entry {chunk.entries[ev[i]]} ({c.name} token {i - first[ev[i]]})"

    nf, ne = len(c.features), len(c.extra)
    for expr, value in zip(exprs[: nf + ne], flat[: nf + ne]):
        chunk.check_finite(value, expr, locate)
    feats = np.stack(flat[:nf], axis=1) if nf else np.zeros((len(ev), 0))
    extra = np.stack(flat[nf : nf + ne], axis=1) if ne else np.zeros((len(ev), 0))
    if isinstance(c.type, CodedSpec):
        types = c.type.apply(flat[-1], f"{chunk.where}:{c.type.expr.key}", locate)
    else:
        types = np.full(len(ev), c.type, np.int64)
    return counts, feats, extra, types


def _flat(value: Any, counts: np.ndarray, total: int) -> np.ndarray:
    depth = value_depth(value)
    if depth == 2:
        return _numpy(ak.flatten(value, axis=1))
    if depth == 1:
        return np.repeat(_numpy(value), counts)
    return np.full(total, value)


# ----------------------------------------------------------------------------- files


def _expand(files: PathLike | Sequence[PathLike]) -> list[Path]:
    items = [files] if isinstance(files, (str, os.PathLike)) else list(files)
    out: list[Path] = []
    for item in items:
        text = os.fspath(item)
        if any(ch in text for ch in "*?["):
            found = sorted(glob.glob(text))
            if not found:
                raise InputError(text, "glob pattern matches no files")
            out += [Path(p) for p in found]
        else:
            out.append(Path(text))
    if not out:
        raise InputError("files", "no input files given")
    for path in out:
        if not path.is_file():
            raise InputError(str(path), "no such file")
    return out


def _reason(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def _open_tree(path: Path, tree: str) -> tuple[Any, Any]:
    """``(file, tree)`` opened with uproot; not-ROOT files and missing trees raise :class:`InputError`."""
    import uproot

    try:
        f = uproot.open(path)
    except Exception as err:  # uproot raises ValueError / OSError / struct errors for foreign files
        raise InputError(str(path), f"not a readable ROOT file ({_reason(err)})") from None
    try:
        obj = f[tree]
    except Exception:
        trees = sorted({k.split(";")[0] for k, v in f.classnames().items() if v in ("TTree", "TNtuple", "ROOT::RNTuple")})
        f.close()
        raise InputError(f"{path}:{tree}", f"no TTree named {tree!r}; trees in the file: {trees or 'none'}") from None
    if not (hasattr(obj, "iterate") and hasattr(obj, "num_entries")):
        f.close()
        raise InputError(f"{path}:{tree}", f"is a {type(obj).__name__}, not a TTree")
    return f, obj


def _check_file(path: Path, m: NtupleMapping) -> int:
    f, tree = _open_tree(path, m.tree)
    with f:
        have = set(tree.keys(recursive=True)) if hasattr(tree, "branches") else set(tree.keys())
        for branch, key in m.branches.items():
            if branch not in have:
                close = [b for b in sorted(have) if b.lower() == branch.lower() or branch.lower() in b.lower()][:5]
                hint = f"; similar: {close}" if close else ""
                raise InputError(f"{path}:{m.tree}:{branch}", f"missing branch (needed by {key}){hint}")
        return int(tree.num_entries)


def import_ntuple(
    files: PathLike | Sequence[PathLike],
    mapping: NtupleMapping | PathLike | Mapping[str, Any],
    out: PathLike,
    *,
    tree: str | None = None,
    step_size: int | str = "100 MB",
    shard_size: int = 100_000,
    max_entries: int | None = None,
) -> dict[str, Any]:
    """Convert ROOT ntuples to an hepfm dataset at ``out`` (a folder of shards, or one ``.h5``).

    ``files``: paths, glob patterns or a list of them. ``mapping``: a YAML path, a dict or a
    :class:`NtupleMapping`. ``tree`` overrides the mapping's tree name. ``step_size``:
    entries (int) or memory ("100 MB") per uproot chunk. ``max_entries``: stop after
    reading this many entries in total (before cuts), for a quick look. Every file is
    checked (ROOT, tree, branches) before anything is written; the output is written
    atomically. Returns counts: files, entries read, events and tokens written, paths.
    """
    import uproot

    m = mapping if isinstance(mapping, NtupleMapping) else load_mapping(mapping, tree=tree)
    if tree and tree != m.tree:
        m = dataclasses.replace(m, tree=tree)
    if max_entries is not None and max_entries < 1:
        raise InputError("max_entries", f"must be >= 1, got {max_entries}")
    step = _step_size(step_size)
    paths = _expand(files)
    entries = [_check_file(p, m) for p in paths]
    provenance = {
        "producer": "hepfm.data.ntuple.import_ntuple",
        "imported_from": {
            "format": "root-ntuple",
            "tree": m.tree,
            "files": [{"path": str(p.resolve()), "bytes": p.stat().st_size, "entries": n} for p, n in zip(paths[:50], entries)],
            "n_files": len(paths),
            "entries": int(sum(entries)),
            "mapping_file": None if m.source == "mapping" else str(Path(m.source).resolve()),
            "mapping": m.raw,
            "uproot_version": uproot.__version__,
            "awkward_version": ak.__version__,
            "max_entries": max_entries,
        },
        "units": dict(m.units),
    }
    if len(json.dumps(provenance)) > 48_000:  # HDF5 compact attributes are limited to 64 kB
        provenance["imported_from"]["mapping"] = "(too large to store; see mapping_file)"
    schema = m.schema.with_provenance(**provenance)
    read = 0
    with EventWriter(out, schema, shard_size) as writer:
        for path in paths:
            if max_entries is not None and read >= max_entries:
                break
            stop = None if max_entries is None else max_entries - read
            for arrays, start in _iterate(path, m, step, stop):
                block, n_read = m.to_block(arrays, str(path), start)
                read += n_read
                writer.append(block)
    return {"files": len(paths), "entries_read": read, "events": writer.n_events,
            "tokens": sum(s["tokens"] for s in writer.shards), "paths": [str(p) for p in writer.paths]}


def _step_size(step: int | str) -> int | str:
    if isinstance(step, str) and step.strip().isdigit():
        step = int(step)
    if isinstance(step, int):
        if step < 1:
            raise InputError("step_size", f"must be >= 1 entries, got {step}")
        return step
    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*[kMG]i?B\s*", str(step)):
        raise InputError("step_size", f"give entries (e.g. 50000) or memory (e.g. '100 MB'), got {step!r}")
    return str(step)


def _iterate(path: Path, m: NtupleMapping, step: int | str, stop: int | None):
    """Yield ``(arrays, first entry)`` chunks; uproot read errors become :class:`InputError`."""
    f, tree = _open_tree(path, m.tree)
    with f:
        names = sorted(m.branches)
        it = tree.iterate(filter_name=names, step_size=step, library="ak", report=True, entry_stop=stop)
        while True:
            try:
                arrays, report = next(it)
            except StopIteration:
                return
            except Exception as err:
                raise InputError(f"{path}:{m.tree}", f"cannot read entries ({_reason(err)}); truncated or corrupt file?") from None
            yield arrays, int(report.tree_entry_start)
