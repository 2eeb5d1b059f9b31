"""The event record of generated neutrino interactions: per-event truth plus flat particle lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

#: interaction channels (``Interactions.channel``)
CHANNELS = {"qe": 1, "res": 2, "dis": 3}
CHANNEL_NAMES = {v: k for k, v in CHANNELS.items()}

_EVENT_FIELDS = ("nu_pdg", "e_nu", "target_pdg", "nucleon_pdg", "cc", "channel", "q2", "w", "x", "y",
                 "weight", "lepton_pdg", "lepton_p4", "vertex_fm")
_PARTICLE_FIELDS = ("pdg", "p4")


@dataclass
class Interactions:
    """A batch of N neutrino interactions.

    Per event (leading dimension N): ``nu_pdg`` (±14), ``e_nu`` [GeV], ``target_pdg`` (nuclear PDG
    code of the struck nucleus, 2212/2112 for a free nucleon), ``nucleon_pdg`` (struck nucleon),
    ``cc`` (bool), ``channel`` (:data:`CHANNELS`), true ``q2`` = −(k − k′)² [GeV²], ``w`` = invariant
    mass of (struck nucleon + q) [GeV], Bjorken ``x`` = Q²/(2 p·q), inelasticity ``y`` = p·q / p·k
    (p: the struck nucleon's four-momentum), ``weight`` (1 for unweighted events), the outgoing
    lepton ``lepton_pdg`` / ``lepton_p4`` [N, 4], and ``vertex_fm`` [N, 3], the interaction point in
    the nucleus [fm] (used by final-state interactions).

    Hadrons leaving the primary vertex (or the nucleus, after FSI) are flat arrays ``pdg`` [M] and
    ``p4`` [M, 4] = (px, py, pz, E) [GeV] in the lab frame (neutrino along +z), event i owning rows
    ``offsets[i]:offsets[i+1]``. No nuclear remnant is recorded.
    """

    nu_pdg: np.ndarray
    e_nu: np.ndarray
    target_pdg: np.ndarray
    nucleon_pdg: np.ndarray
    cc: np.ndarray
    channel: np.ndarray
    q2: np.ndarray
    w: np.ndarray
    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    lepton_pdg: np.ndarray
    lepton_p4: np.ndarray
    vertex_fm: np.ndarray
    pdg: np.ndarray
    p4: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.e_nu)

    @property
    def n_particles(self) -> np.ndarray:
        """Hadrons per event."""
        return np.diff(self.offsets)

    @property
    def particle_event(self) -> np.ndarray:
        """Event index of every hadron row."""
        return np.repeat(np.arange(len(self)), self.n_particles)

    def select(self, mask_or_index: np.ndarray) -> "Interactions":
        """The events picked by a boolean mask or an index array (particles follow)."""
        idx = np.flatnonzero(mask_or_index) if np.asarray(mask_or_index).dtype == bool else np.asarray(mask_or_index)
        counts = self.n_particles[idx]
        starts = self.offsets[idx]
        rows = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
        return Interactions(
            **{f: getattr(self, f)[idx] for f in _EVENT_FIELDS},
            pdg=self.pdg[rows], p4=self.p4[rows],
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        )

    def with_particles(self, pdg: np.ndarray, p4: np.ndarray, event: np.ndarray) -> "Interactions":
        """A copy whose hadron list is replaced by ``pdg``/``p4`` rows belonging to events ``event`` (any order)."""
        order = np.argsort(event, kind="stable")
        counts = np.bincount(event, minlength=len(self))
        return Interactions(
            **{f: getattr(self, f) for f in _EVENT_FIELDS},
            pdg=np.asarray(pdg, dtype=np.int32)[order], p4=np.asarray(p4, dtype=np.float64)[order],
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        )

    @staticmethod
    def concat(parts: Sequence["Interactions"]) -> "Interactions":
        """Concatenate batches in order."""
        parts = list(parts)
        if not parts:
            return empty_interactions()
        shifts = np.cumsum([0] + [p.offsets[-1] for p in parts[:-1]])
        offsets = np.concatenate([[0]] + [p.offsets[1:] + s for p, s in zip(parts, shifts)]).astype(np.int64)
        return Interactions(
            **{f: np.concatenate([getattr(p, f) for p in parts]) for f in _EVENT_FIELDS + _PARTICLE_FIELDS},
            offsets=offsets,
        )

    def check(self) -> None:
        """Raise ``ValueError`` if array lengths are inconsistent or any momentum is not finite."""
        n = len(self)
        for f in _EVENT_FIELDS:
            if len(getattr(self, f)) != n:
                raise ValueError(f"Interactions.{f} has {len(getattr(self, f))} rows, expected {n}")
        if len(self.offsets) != n + 1 or self.offsets[-1] != len(self.pdg) or len(self.p4) != len(self.pdg):
            raise ValueError("Interactions particle offsets do not match the particle arrays")
        for f in ("e_nu", "lepton_p4", "p4"):
            if not np.all(np.isfinite(getattr(self, f))):
                raise ValueError(f"Interactions.{f} has non-finite values")


def make_interactions(n: int, **values: np.ndarray) -> Interactions:
    """An :class:`Interactions` of ``n`` events; missing per-event fields get defaults (0, weight 1, no hadrons)."""
    defaults = {
        "nu_pdg": np.full(n, 14, np.int32), "e_nu": np.zeros(n), "target_pdg": np.zeros(n, np.int64),
        "nucleon_pdg": np.zeros(n, np.int32), "cc": np.ones(n, bool), "channel": np.zeros(n, np.int8),
        "q2": np.zeros(n), "w": np.zeros(n), "x": np.zeros(n), "y": np.zeros(n), "weight": np.ones(n),
        "lepton_pdg": np.zeros(n, np.int32), "lepton_p4": np.zeros((n, 4)), "vertex_fm": np.zeros((n, 3)),
        "pdg": np.zeros(0, np.int32), "p4": np.zeros((0, 4)), "offsets": np.zeros(n + 1, np.int64),
    }
    unknown = set(values) - set(defaults)
    if unknown:
        raise TypeError(f"unknown Interactions fields: {sorted(unknown)}")
    out = {k: np.asarray(values.get(k, v)).astype(np.asarray(v).dtype, copy=False) for k, v in defaults.items()}
    return Interactions(**out)


def empty_interactions() -> Interactions:
    return make_interactions(0)


assert set(_EVENT_FIELDS + _PARTICLE_FIELDS + ("offsets",)) == {f.name for f in fields(Interactions)}
