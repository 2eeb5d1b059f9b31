"""Truth labels of neutrino events and the named benchmark tasks (see docs/neutrino/detector.md).

Every label is computed from an :class:`Interactions` record *after* final-state
interactions: the particles that leave the nucleus, before the detector decays anything
(a π⁰, K⁰_S or Λ in the record counts as itself). Regression labels that are undefined for
an event are NaN ("missing"; ``hepfm.models.heads.task_loss`` skips them): the muon
kinematics and ``e_available`` of neutral-current events.

Signal definitions (MINERvA-like, on the final state leaving the nucleus; "meson" is any
hadron whose PDG code has a zero thousands digit: π, K, η, ω, ρ, ...):

* ``cc1pi_charged``: CC, exactly one π± and no other meson (any nucleons, photons, ...),
  as in MINERvA's CC1π± (B. Eberly et al., PRD 92 (2015) 092008) without its W cut;
* ``cc1pi0``: CC, exactly one π⁰ and no other meson (so no π±), as in MINERvA's
  CCπ⁰ (O. Altinok et al., PRD 96 (2017) 072003) without its W cut;
* ``ccnpi_charged``: CC with two or more π± (anything else allowed);
* ``e_available`` (CC only): Σ T over p, p̄, π±, K± + Σ E over π⁰, γ, e± (neutrons and
  every other species excluded), MINERvA's available energy (P. A. Rodrigues et al.,
  PRL 116 (2016) 071802) with charged kaons counted like charged pions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hepfm.data.schema import EventSchema, LabelSpec
from hepfm.errors import InputError
from hepfm.simulate.neutrino.constants import M_K_CHARGED, M_PI_CHARGED, M_PROTON
from hepfm.simulate.neutrino.kinematics import p3mag
from hepfm.simulate.neutrino.record import CHANNEL_NAMES, Interactions

if TYPE_CHECKING:
    from hepfm.models.config import TaskSpec

SIGNAL_CLASSES = ("background", "signal")
#: PDG codes whose kinetic energy counts in e_available (mass subtracted), and those counted at total energy
E_AVAILABLE_KINETIC = {2212: M_PROTON, 211: M_PI_CHARGED, 321: M_K_CHARGED}
E_AVAILABLE_TOTAL = (111, 22, 11)


def channel_classes() -> tuple[str, ...]:
    """Class names of the ``channel`` label, in the order of their codes in ``record.CHANNELS``."""
    return tuple(CHANNEL_NAMES[c] for c in sorted(CHANNEL_NAMES))


def label_specs() -> tuple[LabelSpec, ...]:
    """Every label a neutrino event file carries."""
    reg = lambda name, unit="": LabelSpec(name, "regression", unit=unit)  # noqa: E731
    return (
        LabelSpec("cc", "class", ("nc", "cc")),
        LabelSpec("channel", "class", channel_classes()),
        reg("e_nu", "GeV"), reg("q2", "GeV^2"), reg("w", "GeV"),
        reg("n_pi_charged"), reg("n_pi0"), reg("n_protons"), reg("n_neutrons"),
        reg("p_mu", "GeV"), reg("theta_mu", "rad"),
        reg("e_available", "GeV"),
        LabelSpec("cc1pi_charged", "class", SIGNAL_CLASSES),
        LabelSpec("cc1pi0", "class", SIGNAL_CLASSES),
        LabelSpec("ccnpi_charged", "class", SIGNAL_CLASSES),
    )


@dataclass(frozen=True)
class TaskDef:
    """A named benchmark task: which label, what kind, which loss and metric."""

    name: str
    label: str
    kind: str
    loss: str
    metric: str
    description: str
    classes: tuple[str, ...] = ()

    def spec(self, weight: float = 1.0) -> TaskSpec:
        """The model-side :class:`~hepfm.models.config.TaskSpec` of this task."""
        from hepfm.models.config import TaskSpec  # hepfm.models imports torch: only when asked

        return TaskSpec(name=self.label, kind=self.kind, num_classes=len(self.classes), loss=self.loss, weight=weight)


TASKS: dict[str, TaskDef] = {
    "cc1pi_charged": TaskDef(
        "cc1pi_charged", "cc1pi_charged", "class", "ce", "auc",
        "CC with exactly one charged pion and no other meson (any nucleons), vs all NC and other CC events",
        SIGNAL_CLASSES),
    "cc1pi0": TaskDef(
        "cc1pi0", "cc1pi0", "class", "ce", "auc",
        "CC with exactly one neutral pion and no other meson (no charged pion), vs all NC and other CC events",
        SIGNAL_CLASSES),
    "ccnpi_charged": TaskDef(
        "ccnpi_charged", "ccnpi_charged", "class", "ce", "auc",
        "CC with two or more charged pions (anything else allowed), vs all NC and other CC events",
        SIGNAL_CLASSES),
    "e_available": TaskDef(
        "e_available", "e_available", "regression", "huber", "resolution",
        "available hadronic energy of CC events [GeV]: T of p, pbar, pi+-, K+- plus E of pi0, gamma, e+-; "
        "NaN (not trained on) for NC events", ()),
}


def is_meson(pdg: np.ndarray) -> np.ndarray:
    """True for meson PDG codes (thousands digit 0, hundreds digit > 0; not nuclei)."""
    a = np.abs(np.asarray(pdg, dtype=np.int64))
    return (a < 1_000_000) & ((a // 1000) % 10 == 0) & ((a // 100) % 10 > 0)


def _count(inter: Interactions, mask: np.ndarray) -> np.ndarray:
    return np.bincount(inter.particle_event[mask], minlength=len(inter)).astype(np.int64)


def e_available(inter: Interactions) -> np.ndarray:
    """Available energy [GeV] of every event (NaN for NC), see the module docstring."""
    pdg, p4 = inter.pdg.astype(np.int64), inter.p4
    a = np.abs(pdg)
    value = np.zeros(len(pdg))
    for code, m in E_AVAILABLE_KINETIC.items():
        sel = a == code
        value[sel] = np.maximum(p4[sel, 3] - m, 0.0)
    total = np.isin(a, E_AVAILABLE_TOTAL)
    value[total] = p4[total, 3]
    out = np.bincount(inter.particle_event, weights=value, minlength=len(inter))
    return np.where(inter.cc.astype(bool), out, np.nan)


def compute_labels(inter: Interactions) -> dict[str, np.ndarray]:
    """Every label of :func:`label_specs` for the events of ``inter`` (class labels int64, regression float32)."""
    try:
        inter.check()
    except ValueError as err:
        raise InputError("interactions", str(err)) from None
    n = len(inter)
    codes = sorted(CHANNEL_NAMES)
    channel = np.asarray(inter.channel, dtype=np.int64)
    unknown = ~np.isin(channel, codes)
    if unknown.any():
        i = int(np.argmax(unknown))
        raise InputError("interactions.channel", f"event {i} has channel {channel[i]}, known codes are {codes}")
    cc = inter.cc.astype(bool)
    pdg = inter.pdg.astype(np.int64)
    n_pic = _count(inter, np.abs(pdg) == 211)
    n_pi0 = _count(inter, pdg == 111)
    n_mes = _count(inter, is_meson(pdg))
    lep = inter.lepton_p4
    p_mu = p3mag(lep)
    theta = np.arccos(np.clip(lep[:, 2] / np.maximum(p_mu, 1e-300), -1.0, 1.0))
    f32 = lambda x: np.asarray(x, dtype=np.float32)  # noqa: E731
    return {
        "cc": cc.astype(np.int64),
        "channel": np.searchsorted(codes, channel).astype(np.int64),
        "e_nu": f32(inter.e_nu), "q2": f32(inter.q2), "w": f32(inter.w),
        "n_pi_charged": f32(n_pic), "n_pi0": f32(n_pi0),
        "n_protons": f32(_count(inter, pdg == 2212)), "n_neutrons": f32(_count(inter, pdg == 2112)),
        "p_mu": f32(np.where(cc, p_mu, np.nan)), "theta_mu": f32(np.where(cc, theta, np.nan)),
        "e_available": f32(e_available(inter)),
        "cc1pi_charged": (cc & (n_pic == 1) & (n_mes == 1)).astype(np.int64),
        "cc1pi0": (cc & (n_pi0 == 1) & (n_mes == 1)).astype(np.int64),
        "ccnpi_charged": (cc & (n_pic >= 2)).astype(np.int64),
    } if n else {spec.name: np.zeros(0, np.int64 if spec.kind == "class" else np.float32) for spec in label_specs()}


def neutrino_schema(provenance: dict[str, Any] | None = None) -> EventSchema:
    """The event schema of detector-level neutrino events (tokens of :mod:`.detector` + :func:`label_specs`)."""
    from hepfm.simulate.neutrino import detector as D

    return EventSchema(
        features=("deta", "dphi", "log_pt", "log_e"),
        feature_units=("", "rad", "log GeV", "log GeV"),
        token_types=D.TOKEN_TYPES,
        extra=D.EXTRA,
        event=D.EVENT,
        labels=label_specs(),
        provenance=dict(provenance or {}),
    )
