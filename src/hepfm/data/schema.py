"""The self-describing schema of an hepfm event file.

An event is a variable-length set of tokens. Each token has

* ``features``: continuous kinematic-core columns (named, with units). By convention the
  first four are ``deta, dphi, log_pt, log_e`` (relative to the jet axis for jets, to the
  beam axis for neutrino events), so a backbone moves between domains unchanged;
* ``token_type``: an integer class (photon, charged hadron, muon track, blob, ...);
* ``extra``: optional domain-specific continuous columns (dE/dx, charge, ...).

Each event has optional ``event`` features (jet mass, visible energy, ...) and any
number of named labels, each a classification (integer) or a regression (float) target.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from hepfm.errors import InputError

SCHEMA_VERSION = 1
CORE_FEATURES = ("deta", "dphi", "log_pt", "log_e")


@dataclass(frozen=True)
class LabelSpec:
    """One named label: ``kind='class'`` with ``classes`` names, or ``kind='regression'``."""

    name: str
    kind: Literal["class", "regression"]
    classes: tuple[str, ...] = ()
    unit: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("class", "regression"):
            raise InputError(f"label {self.name!r}", f"kind must be 'class' or 'regression', got {self.kind!r}")
        if self.kind == "class" and len(self.classes) < 2:
            raise InputError(f"label {self.name!r}", "a class label needs at least two class names")

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass(frozen=True)
class EventSchema:
    """Names, units and meaning of every column in an event file."""

    features: tuple[str, ...] = CORE_FEATURES
    feature_units: tuple[str, ...] = ("", "rad", "log GeV", "log GeV")
    token_types: tuple[str, ...] = ("particle",)
    extra: tuple[str, ...] = ()
    event: tuple[str, ...] = ()
    labels: tuple[LabelSpec, ...] = ()
    provenance: dict[str, Any] = field(default_factory=dict, compare=False)
    version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if len(self.features) < 2:
            raise InputError("schema.features", "need at least two token features (deta, dphi)")
        if len(self.feature_units) != len(self.features):
            raise InputError("schema.feature_units", f"{len(self.feature_units)} units for {len(self.features)} features")
        if not self.token_types:
            raise InputError("schema.token_types", "need at least one token type name")
        for group in ("features", "extra", "event"):
            names = getattr(self, group)
            if len(set(names)) != len(names):
                raise InputError(f"schema.{group}", f"duplicate column names in {list(names)}")
        names = [label.name for label in self.labels]
        if len(set(names)) != len(names):
            raise InputError("schema.labels", f"duplicate label names in {names}")
        if self.version > SCHEMA_VERSION:
            raise InputError("schema.version", f"file has schema version {self.version}, this hepfm reads up to {SCHEMA_VERSION}")

    def label(self, name: str) -> LabelSpec:
        for spec in self.labels:
            if spec.name == name:
                return spec
        raise InputError("schema.labels", f"no label named {name!r}; have {[s.name for s in self.labels]}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = "schema") -> EventSchema:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(where, f"schema is not valid JSON ({err.msg})") from None
        return cls.from_dict(raw, where)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "schema") -> EventSchema:
        known = set(cls.__dataclass_fields__)
        unknown = set(raw) - known
        if unknown:
            raise InputError(where, f"unknown schema keys {sorted(unknown)}")
        try:
            labels = tuple(
                LabelSpec(name=l["name"], kind=l["kind"], classes=tuple(l.get("classes", ())), unit=l.get("unit", ""))
                for l in raw.get("labels", ())
            )
            tuple_keys = ("features", "feature_units", "token_types", "extra", "event")
            kwargs = {k: tuple(raw[k]) for k in tuple_keys if k in raw}
            return cls(labels=labels, provenance=dict(raw.get("provenance", {})), version=int(raw.get("version", 1)), **kwargs)
        except (KeyError, TypeError) as err:
            raise InputError(where, f"malformed schema ({err})") from None

    def with_provenance(self, **items: Any) -> EventSchema:
        merged = {**self.provenance, **items}
        return EventSchema(**{**{k: getattr(self, k) for k in self.__dataclass_fields__}, "provenance": merged})
