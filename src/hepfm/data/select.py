"""Selections on labelled event blocks."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from hepfm.data.events import EventBlock
from hepfm.data.schema import LabelSpec
from hepfm.errors import InputError


def select_classes(block: EventBlock, classes: Sequence[str], label: str = "label") -> EventBlock:
    """Events of the named classes of ``label``, relabelled 0..len(classes)-1 in that order."""
    classes = tuple(classes)
    names = block.schema.label(label).classes
    missing = [c for c in classes if c not in names]
    if missing:
        raise InputError(f"label {label!r}", f"classes {missing} not in the sample (has {list(names)})")
    codes = np.array([names.index(c) for c in classes])
    sub = block.select(np.flatnonzero(np.isin(block.labels[label], codes)))
    remap = np.full(len(names), -1, dtype=np.int64)
    remap[codes] = np.arange(len(classes))
    labels = tuple(LabelSpec(label, "class", classes) if s.name == label else s for s in block.schema.labels)
    return dataclasses.replace(sub, schema=dataclasses.replace(block.schema, labels=labels),
                               labels={**sub.labels, label: remap[sub.labels[label]]})
