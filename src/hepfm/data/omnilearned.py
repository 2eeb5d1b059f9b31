"""Import / export of the OmniLearned dataset layout.

OmniLearned (``omnilearned.dataloader``) reads ``<root>/<name>/<split>/*.h5`` (and
``*.hdf5``), split one of ``train, val, test``, each file holding

* ``data`` [N, M, C] float: padded tokens. A token is padding where column 2 (log pT) is 0
  (their collate uses ``X[:, :, 2] != 0``); padded rows are all zero.
* ``pid`` [N]: the event label (``int`` class, or float for ``mode='regression'``).
* ``global`` [N, G] float, optional: event-level conditioning (``use_cond``).

Column mapping (hepfm ↔ OmniLearned), with F core features and E extra columns:

* ``data[..., :F]`` ↔ our token ``features`` (by convention deta, dphi, log_pt, log_e);
* ``data[..., F]`` (only with a pid column; OmniLearned's ``pid_idx``, 4 for F = 4) ↔
  our ``token_type`` as a float code ``token_type + pid_offset``. OmniLearned casts it
  with ``.int()`` and embeds it with ``nn.Embedding(pid_dim, padding_idx=0)``, so code 0
  is reserved for padding and ``pid_offset`` defaults to 1 (use ``pid_dim >=
  n_token_types + 1``);
* ``data[..., -E:]`` ↔ our ``extra`` columns (OmniLearned's ``use_add``, ``num_add=E``);
* ``global`` ↔ our event ``features``; ``pid`` ↔ one of our labels.

A real token whose log pT is exactly 0 would read as padding in OmniLearned. On export
such values are nudged to :data:`LOG_PT_NUDGE` (with a warning), so no token is lost.
Exported files also carry ``hepfm_schema`` / ``hepfm_omnilearned`` attributes (ignored
by OmniLearned) so an import restores names and units exactly.

To train with OmniLearned on an export, use ``name='custom'`` (a name its
``load_data`` accepts). OmniLearned caches ``file_index.npy`` in each split folder;
re-exporting replaces the whole folder, so a stale index never survives.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hepfm.data.dataset import pad_block
from hepfm.data.events import EventBlock
from hepfm.data.io import H5_SUFFIXES, EventFile, EventWriter, PathLike, open_events, open_h5, read_dataset
from hepfm.data.schema import CORE_FEATURES, EventSchema, LabelSpec
from hepfm.errors import InputError
from hepfm.utils import atomic_path

SPLITS = ("train", "val", "test")
LOG_PT_COLUMN = 2
LOG_PT_NUDGE = np.float32(1e-6)
META_ATTR = "hepfm_omnilearned"


# ----------------------------------------------------------------------------- export


def export_omnilearned(
    dataset_path: PathLike,
    out_root: PathLike,
    name: str,
    *,
    label: str | None = "label",
    max_tokens: int | None = None,
    split: str = "train",
    pid_column: bool | None = None,
    pid_offset: int = 1,
    shard_size: int = 100_000,
) -> dict[str, Path]:
    """Write ``out_root/name/<split>/part-*.h5`` in OmniLearned's layout.

    If ``dataset_path`` has ``train/val/test`` sub-datasets (as :func:`split_events`
    writes), each becomes the split of that name; otherwise the dataset becomes ``split``.
    ``label`` is the label stored as ``pid`` (None: zeros, for unlabelled pretraining).
    ``max_tokens`` pads/truncates to that many tokens (default: the longest event).
    ``pid_column`` (default: when there is more than one token type) adds token types
    as column F. Returns split name -> folder written.
    """
    src = Path(dataset_path)
    parts = {s: src / s for s in SPLITS if (src / s).is_dir()} or {split: src}
    return {s: _export_split(p, Path(out_root) / name / s, label, max_tokens, pid_column, pid_offset, shard_size) for s, p in parts.items()}


def _export_split(src: Path, dest: Path, label: str | None, max_tokens: int | None, pid_column: bool | None,
                  pid_offset: int, shard_size: int) -> Path:
    data = open_events(src)
    schema = data.schema
    if len(schema.features) <= LOG_PT_COLUMN:
        raise InputError(f"{src}:schema.features", f"OmniLearned needs log pT as token column {LOG_PT_COLUMN}; have {list(schema.features)}")
    spec = schema.label(label) if label is not None else None
    use_pid = len(schema.token_types) > 1 if pid_column is None else bool(pid_column)
    if max_tokens is None:
        max_tokens = max(1, max((_longest(data, i) for i in range(len(data.paths))), default=1))
    out_schema = EventSchema(**{**{k: getattr(schema, k) for k in EventSchema.__dataclass_fields__},
                                "labels": (spec,) if spec else ()})
    meta = {"n_features": len(schema.features), "pid_column": use_pid, "pid_offset": int(pid_offset),
            "n_extra": len(schema.extra), "label": label, "max_tokens": int(max_tokens)}
    truncated = nudged = 0
    with atomic_path(dest) as tmp:
        tmp.mkdir()
        for k, (_, block) in enumerate(data.iter_blocks(shard_size)):
            truncated += int(np.sum(np.diff(block.offsets) > max_tokens))
            padded = pad_block(block, int(max_tokens))
            x, mask = padded["x"], padded["mask"]
            zero = mask & (x[..., LOG_PT_COLUMN] == 0)
            nudged += int(zero.sum())
            x[..., LOG_PT_COLUMN][zero] = LOG_PT_NUDGE
            columns = [x]
            if use_pid:
                columns.append(np.where(mask, padded["token_type"] + pid_offset, 0).astype(np.float32)[..., None])
            columns.append(padded["extra"])
            with h5py.File(tmp / f"part-{k:05d}.h5", "w") as f:
                f.attrs["hepfm_schema"] = out_schema.to_json()
                f.attrs[META_ATTR] = json.dumps(meta)
                f.create_dataset("data", data=np.concatenate(columns, axis=-1), compression="gzip", compression_opts=4)
                if spec is None:
                    f.create_dataset("pid", data=np.zeros(len(block), np.int64))
                else:
                    f.create_dataset("pid", data=block.labels[spec.name])
                if len(schema.event):
                    f.create_dataset("global", data=block.event)
    if truncated:
        warnings.warn(f"{src}: {truncated} events have more than {max_tokens} tokens; kept the first {max_tokens}", stacklevel=3)
    if nudged:
        warnings.warn(f"{src}: {nudged} real tokens had log pT exactly 0 (OmniLearned padding); set to {LOG_PT_NUDGE:g}", stacklevel=3)
    return dest


def _longest(data: EventFile, shard: int) -> int:
    with open_h5(data.paths[shard]) as f:
        offsets = read_dataset(f, "offsets")
    return int(np.diff(offsets).max()) if len(offsets) > 1 else 0


# ----------------------------------------------------------------------------- import


def import_omnilearned(
    root_or_name_dir: PathLike,
    out_dir: PathLike,
    *,
    has_pid_column: bool,
    label_name: str = "label",
    class_names: tuple[str, ...] | list[str] | None = None,
    token_type_names: tuple[str, ...] | list[str] | None = None,
    name: str | None = None,
    n_features: int = 4,
    pid_offset: int = 1,
    label_kind: str | None = None,
    shard_size: int = 100_000,
    chunk_events: int = 16_384,
) -> dict[str, Path]:
    """Convert OmniLearned files to hepfm datasets.

    ``root_or_name_dir``: ``<root>`` together with ``name``, a ``<root>/<name>`` folder
    (its ``train/val/test`` splits become ``out_dir/<split>/``), a folder of ``.h5``
    files, or one file (these become ``out_dir``). ``has_pid_column``: column
    ``n_features`` holds token-type codes (``token_type = code - pid_offset``).
    ``label_kind``: 'class' or 'regression' (default: class when every ``pid`` value is
    an integer). Names missing from the files' ``hepfm_*`` attributes are made up
    (``pid1, pid2, ...``, ``extra0, ...``, class ``'0', '1', ...``). Returns split -> path.
    """
    src = Path(root_or_name_dir) / name if name else Path(root_or_name_dir)
    if not src.exists():
        raise InputError(str(src), "no such file or directory")
    splits = {s: src / s for s in SPLITS if (src / s).is_dir()}
    jobs = {s: (_h5_files(p), Path(out_dir) / s) for s, p in splits.items()} if splits else {"": (_h5_files(src), Path(out_dir))}
    files = [f for fs, _ in jobs.values() for f in fs]
    schema, meta = _import_schema(files, has_pid_column, label_name, class_names, token_type_names, n_features, pid_offset, label_kind)
    out = {}
    for s, (fs, dest) in jobs.items():
        with EventWriter(dest, schema, shard_size) as writer:
            for path in fs:
                _import_file(path, writer, meta, chunk_events)
        out[s or "all"] = dest
    return out


def _h5_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.suffix in H5_SUFFIXES and p.is_file())
    if not files:
        raise InputError(str(path), "holds no .h5 / .hdf5 files")
    return files


def _import_schema(files: list[Path], has_pid: bool, label_name: str, class_names, token_type_names, n_features: int,
                   pid_offset: int, label_kind: str | None) -> tuple[EventSchema, dict[str, Any]]:
    """Schema from the files' shapes (plus their ``hepfm_*`` attributes when present)."""
    attrs, width, n_global = None, None, None
    max_label, integral, float_label, max_code = -1, True, False, None
    for path in files:
        with open_h5(path) as f:
            data = f.get("data")
            if not isinstance(data, h5py.Dataset) or data.ndim != 3:
                raise InputError(f"{path}:data", "missing or not a 3-D [events, tokens, columns] dataset")
            n = data.shape[0]
            glob = f.get("global")
            g = 0 if glob is None else (glob.shape[1] if glob.ndim == 2 and glob.shape[0] == n else -1)
            if g < 0:
                raise InputError(f"{path}:global", f"shape {glob.shape}, expected [{n}, G]")
            if width is None:
                width, n_global = data.shape[2], g
            elif (data.shape[2], g) != (width, n_global):
                raise InputError(f"{path}:data", f"{data.shape[2]} token columns / {g} global columns, other files have {width} / {n_global}")
            labels = read_dataset(f, "pid")
            if labels.shape != (n,):
                raise InputError(f"{path}:pid", f"shape {labels.shape}, expected ({n},)")
            if not np.all(np.isfinite(labels)):
                raise InputError(f"{path}:pid", "non-finite label")
            float_label |= labels.dtype.kind == "f"
            integral &= bool(np.all(labels == np.round(labels)))
            if n:
                max_label = max(max_label, int(labels.max()))
            if attrs is None and "hepfm_schema" in f.attrs:
                attrs = (EventSchema.from_json(_text(f.attrs["hepfm_schema"]), f"{path}:hepfm_schema"),
                         json.loads(_text(f.attrs.get(META_ATTR, "{}"))))
            if has_pid and token_type_names is None and (attrs is None):
                for a in range(0, n, 16_384):
                    x = read_dataset(f, "data", np.s_[a : a + 16_384])
                    codes = x[..., n_features][x[..., LOG_PT_COLUMN] != 0]
                    if len(codes):
                        max_code = max(max_code or 0, int(codes.max()))
    old, old_meta = attrs if attrs else (None, {})
    if old_meta:
        if bool(old_meta.get("pid_column")) != has_pid:
            raise InputError(f"{files[0]}:{META_ATTR}", f"file was exported with pid_column={old_meta.get('pid_column')}, but has_pid_column={has_pid}")
        n_features, pid_offset = int(old_meta["n_features"]), int(old_meta["pid_offset"])
    n_extra = width - n_features - int(has_pid)
    if n_features <= LOG_PT_COLUMN or n_extra < 0:
        raise InputError(f"{files[0]}:data", f"{width} token columns cannot hold {n_features} features{' + pid' if has_pid else ''}")
    kind = label_kind or (old.labels[0].kind if old and old.labels else ("class" if integral else "regression"))
    if kind == "class" and not integral:
        raise InputError(f"{files[0]}:pid", "class labels must be integers")
    if class_names is None and kind == "class":
        class_names = old.labels[0].classes if old and old.labels else tuple(str(i) for i in range(max(max_label + 1, 2)))
    if token_type_names is None:
        if old:
            token_type_names = old.token_types
        elif has_pid:
            token_type_names = tuple(f"pid{c}" for c in range(pid_offset, max(max_code or pid_offset, pid_offset) + 1))
        else:
            token_type_names = ("particle",)
    default_units = ("", "rad", "log GeV", "log GeV") if n_features == 4 else ("",) * n_features
    features = old.features if old else (CORE_FEATURES if n_features == 4 else tuple(f"f{i}" for i in range(n_features)))
    spec = LabelSpec(label_name, kind, tuple(class_names or ()), old.labels[0].unit if old and old.labels else "")
    schema = EventSchema(
        features=features,
        feature_units=old.feature_units if old else default_units,
        token_types=tuple(token_type_names),
        extra=old.extra if old else tuple(f"extra{i}" for i in range(n_extra)),
        event=old.event if old else tuple(f"global{i}" for i in range(n_global)),
        labels=(spec,),
        provenance={**(old.provenance if old else {}),
                    "imported_from": {"format": "omnilearned", "files": [str(p) for p in files[:20]], "pid_offset": pid_offset}},
    )
    if len(schema.features) != n_features or len(schema.extra) != n_extra or len(schema.event) != n_global:
        raise InputError(f"{files[0]}:hepfm_schema", f"attribute does not match the data shape ({width} token columns, {n_global} global)")
    return schema, {"n_features": n_features, "has_pid": has_pid, "pid_offset": pid_offset}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _import_file(path: Path, writer: EventWriter, meta: dict[str, Any], chunk_events: int) -> None:
    schema, F = writer.schema, meta["n_features"]
    with open_h5(path) as f:
        n = f["data"].shape[0]
        for a in range(0, n, chunk_events):
            x = read_dataset(f, "data", np.s_[a : a + chunk_events]).astype(np.float32, copy=False)
            mask = x[..., LOG_PT_COLUMN] != 0
            tokens = x[mask]  # row-major: each event's real tokens, in order
            counts = mask.sum(1)
            token_type = np.zeros(len(tokens), np.int64)
            if meta["has_pid"]:
                code = tokens[:, F]
                token_type = code.astype(np.int64) - meta["pid_offset"]
                if np.any(code != np.round(code)) or np.any(token_type < 0):
                    raise InputError(f"{path}:data[..., {F}]", f"token pid codes must be integers >= pid_offset={meta['pid_offset']} on real tokens")
            b = a + len(x)
            block = EventBlock(
                schema=schema,
                features=tokens[:, :F],
                token_type=token_type,
                extra=tokens[:, F + int(meta["has_pid"]):],
                offsets=np.concatenate([[0], np.cumsum(counts)]),
                event=read_dataset(f, "global", np.s_[a:b]) if "global" in f else None,
                labels={schema.labels[0].name: read_dataset(f, "pid", np.s_[a:b])},
            )
            if np.any(token_type >= len(schema.token_types)):
                raise InputError(f"{path}:data[..., {F}]", f"token pid code above the {len(schema.token_types)} token type names given")
            block.check(str(path))
            writer.append(block)
