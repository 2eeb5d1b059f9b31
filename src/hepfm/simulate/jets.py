"""JetClass-like jets: pp collisions at 13 TeV from Pythia 8, anti-kT R = 0.8 jets from FastJet.

Each class comes from a standard Pythia process (see :data:`SOURCES`): QCD 2 → 2 for light-
quark and gluon jets, t t̄ with hadronic W decays for top jets, W⁺W⁻ / ZZ with hadronic
decays for W / Z jets, and HZ (Z → νν̄) with the Higgs decay forced for the Higgs classes.
A jet in the pT window is kept when it lies within ΔR < 0.8 of its parent (the outgoing
hard parton for QCD, the boson / top otherwise) and, for t/W/Z/H, every decay quark or
gluon of the parent lies within ΔR < 0.8 of the jet axis, as in JetClass. Everything else
is dropped and counted in ``provenance["stats"]``.

The whole event record of a batch of events comes out of Pythia as one awkward array
(``Pythia.nextBatch``); truth matching, clustering (FastJet's multi-event interface) and
features are computed with numpy on the flat arrays, never per particle in Python.

See docs/jets.md for the physics choices, throughput and plots.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import awkward as ak
import fastjet
import numpy as np

import hepfm
from hepfm.data.events import EventBlock
from hepfm.data.schema import EventSchema, LabelSpec
from hepfm.errors import InputError
from hepfm.simulate.parallel import map_shards, shard_seed, split_count, write_shards

TOKEN_TYPES = ("photon", "electron", "muon", "charged_hadron", "neutral_hadron")

EXTRA = ("log_pt_rel", "log_e_rel", "delta_r", "charge")
EVENT = ("jet_pt", "jet_eta", "jet_phi", "jet_mass", "n_constituents")
RESONANCES = (6, 23, 24, 25)
NEUTRINOS = (12, 14, 16)

_HADRONIC_W = ("24:onMode = off", "24:onIfAny = 1 2 3 4 5")
_HADRONIC_Z = ("23:onMode = off", "23:onIfAny = 1 2 3 4 5")
_HZ = ("HiggsSM:ffbar2HZ = on", "23:onMode = off", "23:onIfAny = 12 14 16", "25:onMode = off")


@dataclass(frozen=True)
class Source:
    """One Pythia process set-up; ``target`` is the PDG id of the tagged parent (0: QCD parton)."""

    settings: tuple[str, ...]
    target: int


SOURCES: dict[str, Source] = {
    "qcd": Source(("HardQCD:all = on",), 0),
    "ttbar": Source(("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", *_HADRONIC_W), 6),
    "ww": Source(("WeakDoubleBoson:ffbar2WW = on", *_HADRONIC_W), 24),
    "zz": Source(("WeakDoubleBoson:ffbar2gmZgmZ = on", "WeakZ0:gmZmode = 2", *_HADRONIC_Z), 23),
    "hz_bb": Source((*_HZ, "25:onIfMatch = 5 -5"), 25),
    "hz_cc": Source((*_HZ, "25:onIfMatch = 4 -4"), 25),
    "hz_gg": Source((*_HZ, "25:onIfMatch = 21 21"), 25),
    "hz_4q": Source((*_HZ, "25:onIfMatch = 24 -24", *_HADRONIC_W), 25),
}

#: class name -> (source, description)
CLASSES: dict[str, tuple[str, str]] = {
    "q": ("qcd", "QCD light-quark (u, d, s) jet"),
    "g": ("qcd", "QCD gluon jet"),
    "tbqq": ("ttbar", "hadronic top, t -> bqq'"),
    "wqq": ("ww", "W -> qq'"),
    "zqq": ("zz", "Z -> qq"),
    "hbb": ("hz_bb", "H -> bb"),
    "hcc": ("hz_cc", "H -> cc"),
    "hgg": ("hz_gg", "H -> gg"),
    "h4q": ("hz_4q", "H -> WW* -> 4q"),
}
DEFAULT_CLASSES = tuple(CLASSES)

_COMMON = (
    "Beams:eCM = {ecm}",
    "PhaseSpace:pTHatMin = {pthat_min}",
    "ParticleDecays:limitTau0 = on",
    "ParticleDecays:tau0Max = 10.",
    "Print:quiet = on",
    "Random:setSeed = on",
    "Random:seed = {seed}",
)


@dataclass(frozen=True)
class JetConfig:
    """Jet definition, selection and matching (defaults follow JetClass)."""

    pt_min: float = 500.0
    pt_max: float = 1000.0
    eta_max: float = 2.0
    radius: float = 0.8
    match_dr: float = 0.8
    max_constituents: int = 150
    pthat_factor: float = 0.6
    ecm: float = 13000.0

    def __post_init__(self) -> None:
        if not 0 < self.pt_min < self.pt_max:
            raise InputError("pt_min/pt_max", f"need 0 < pt_min < pt_max, got {self.pt_min}, {self.pt_max}")
        for name in ("eta_max", "radius", "match_dr", "pthat_factor", "ecm"):
            if not getattr(self, name) > 0:
                raise InputError(name, f"must be positive, got {getattr(self, name)}")
        if self.max_constituents < 1:
            raise InputError("max_constituents", f"must be at least 1, got {self.max_constituents}")

    def pythia_settings(self, source: str, seed: int) -> list[str]:
        """All Pythia settings for ``source`` (standard tune otherwise)."""
        fill = {"ecm": self.ecm, "pthat_min": self.pthat_factor * self.pt_min, "seed": seed}
        return [s.format(**fill) for s in _COMMON] + list(SOURCES[source].settings)


def jet_schema(provenance: dict | None = None) -> EventSchema:
    """The event schema of the jets made here.

    The ``label`` classes are always all of :data:`CLASSES`, whichever were generated, so
    samples of different classes (from different jobs) merge without relabelling.
    """
    return EventSchema(
        token_types=TOKEN_TYPES,
        extra=EXTRA,
        event=EVENT,
        labels=(LabelSpec("label", "class", DEFAULT_CLASSES),),
        provenance=dict(provenance or {}),
    )


# --------------------------------------------------------------------------- event record


@dataclass
class _Record:
    """Flat event records of a batch; ``base[i]`` is the flat index of particle i's event start."""

    n_events: int
    event: np.ndarray
    base: np.ndarray
    id: np.ndarray
    status: np.ndarray
    mother1: np.ndarray
    daughter1: np.ndarray
    daughter2: np.ndarray
    p: np.ndarray  # [P, 4] px, py, pz, e

    @classmethod
    def from_batch(cls, batch: ak.Array) -> _Record:
        prt = batch["prt"]
        counts = np.asarray(ak.num(prt), dtype=np.int64)
        flat = ak.flatten(prt)
        mom = flat["p"]
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        columns = {k: np.asarray(flat[k]) for k in ("id", "status", "mother1", "daughter1", "daughter2")}
        return cls(
            n_events=len(counts),
            event=np.repeat(np.arange(len(counts)), counts),
            base=np.repeat(starts, counts),
            p=np.stack([np.asarray(mom[k]) for k in ("px", "py", "pz", "e")], axis=1),
            **columns,
        )

    def bottom_copy(self, idx: np.ndarray) -> np.ndarray:
        """Follow single-daughter copies of the same particle (Pythia's ``iBotCopyId``)."""
        idx = idx.copy()
        for _ in range(1000):
            d1, d2 = self.daughter1[idx], self.daughter2[idx]
            nxt = self.base[idx] + d1
            copy = (d1 > 0) & (d1 == d2)
            copy[copy] &= self.id[nxt[copy]] == self.id[idx[copy]]
            if not copy.any():
                return idx
            idx[copy] = nxt[copy]
        raise RuntimeError("event record: copy chain does not end")

    def last_copy(self, idx: np.ndarray) -> np.ndarray:
        """Follow ``idx`` through copies and its own radiation (t -> t g, W -> W gamma) to just before it decays."""
        idx = self.bottom_copy(idx)
        for _ in range(1000):
            parent, kid = self.daughters(idx)
            same = np.flatnonzero(self.id[kid] == self.id[idx[parent]])
            if not len(same):
                return idx
            idx = idx.copy()
            idx[parent[same]] = kid[same]
            idx = self.bottom_copy(idx)
        raise RuntimeError("event record: radiation chain does not end")

    def daughters(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in ``idx``, flat index) of every daughter stored as a range d1..d2."""
        d1, d2 = self.daughter1[idx], self.daughter2[idx]
        n = np.where((d1 > 0) & (d2 >= d1), d2 - d1 + 1, 0)
        parent = np.repeat(np.arange(len(idx)), n)
        return parent, np.repeat(self.base[idx] + d1, n) + _ranges(n)


def _ranges(n: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(k)`` for every k in ``n``."""
    return np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)


def _eta_phi(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pt = np.hypot(p[:, 0], p[:, 1])
    return np.arcsinh(p[:, 2] / pt), np.arctan2(p[:, 1], p[:, 0])


def _rapidity(p: np.ndarray) -> np.ndarray:
    """Rapidity; ±inf or NaN for particles along the beam (they fail every |y| cut)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.5 * np.log((p[:, 3] + p[:, 2]) / (p[:, 3] - p[:, 2]))


def _wrap(dphi: np.ndarray) -> np.ndarray:
    return (dphi + np.pi) % (2 * np.pi) - np.pi


# --------------------------------------------------------------------------- truth


@dataclass
class _Truth:
    """Tagged parents of a batch (sorted by event) and their decay quarks / gluons."""

    event: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    cls: np.ndarray  # class name per parent ("" for QCD partons of another flavour)
    leaf_parent: np.ndarray
    leaf_eta: np.ndarray
    leaf_phi: np.ndarray


def _truth(rec: _Record, source: str) -> _Truth:
    aid, ast = np.abs(rec.id), np.abs(rec.status)
    target = SOURCES[source].target
    if target == 0:  # outgoing partons of the hard 2 -> 2 process
        top = np.flatnonzero(ast == 23)
        cls = np.select([np.isin(aid[top], (1, 2, 3)), aid[top] == 21], ["q", "g"], "").astype(object)
    else:  # the boson / top of the hard process, not one from a decay chain
        top = np.flatnonzero((ast == 22) & (aid == target) & (ast[rec.base + rec.mother1] == 21))
        cls = np.full(len(top), next(c for c, (s, _) in CLASSES.items() if s == source), dtype=object)
    bot = rec.last_copy(top) if target else rec.bottom_copy(top)
    eta, phi = _eta_phi(rec.p[bot])
    leaf_parent, leaf_idx = [], []
    if target:
        owner, current = np.arange(len(bot)), bot
        while len(current):
            parent, kid = rec.daughters(current)
            res = np.isin(np.abs(rec.id[kid]), RESONANCES)
            leaf_parent.append(owner[parent[~res]])
            leaf_idx.append(kid[~res])
            owner, current = owner[parent[res]], rec.last_copy(kid[res])
    lp = np.concatenate(leaf_parent).astype(np.int64) if leaf_parent else np.zeros(0, np.int64)
    li = np.concatenate(leaf_idx).astype(np.int64) if leaf_idx else np.zeros(0, np.int64)
    order = np.argsort(lp, kind="stable")
    leaf_eta, leaf_phi = _eta_phi(rec.p[li[order]])
    return _Truth(rec.event[bot], eta, phi, cls, lp[order], leaf_eta, leaf_phi)


# --------------------------------------------------------------------------- jets


@dataclass
class _Jets:
    """Jets of a batch: flat 4-vectors and their constituents (flat visible-particle indices)."""

    event: np.ndarray
    p: np.ndarray
    const_jet: np.ndarray
    const_idx: np.ndarray


def _cluster(vis_p: np.ndarray, vis_event: np.ndarray, n_events: int, cfg: JetConfig) -> _Jets:
    counts = np.bincount(vis_event, minlength=n_events)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    particles = ak.unflatten(
        ak.zip({"px": vis_p[:, 0], "py": vis_p[:, 1], "pz": vis_p[:, 2], "E": vis_p[:, 3]}, with_name="Momentum4D"),
        counts,
    )
    seq = fastjet.ClusterSequence(particles, fastjet.JetDefinition(fastjet.antikt_algorithm, cfg.radius))
    jets = seq.inclusive_jets(cfg.pt_min)
    index = seq.constituent_index(cfg.pt_min)
    jet_event = np.repeat(np.arange(n_events), np.asarray(ak.num(jets)))
    flat = ak.flatten(jets)
    p = np.stack([np.asarray(flat[c]) for c in ("px", "py", "pz", "E")], axis=1).reshape(-1, 4)
    per_jet = ak.flatten(index, axis=1)
    n_const = np.asarray(ak.num(per_jet), dtype=np.int64)
    const_jet = np.repeat(np.arange(len(p)), n_const)
    local = np.asarray(ak.flatten(per_jet), dtype=np.int64)
    return _Jets(jet_event, p, const_jet, starts[jet_event[const_jet]] + local)


def _match(jets: _Jets, truth: _Truth, keep: np.ndarray, cfg: JetConfig, stats: dict[str, int]) -> np.ndarray:
    """Class name of every jet (``""`` when dropped); counts the reasons in ``stats``."""
    n_jets = len(jets.event)
    eta, phi = _eta_phi(jets.p)
    n_cand = np.bincount(truth.event, minlength=int(jets.event.max(initial=-1)) + 1)
    first = np.concatenate([[0], np.cumsum(n_cand)])
    per_jet = np.where(keep, n_cand[jets.event] if len(n_cand) else 0, 0)
    pair_jet = np.repeat(np.arange(n_jets), per_jet)
    pair_cand = np.repeat(first[jets.event], per_jet) + _ranges(per_jet)
    dr = np.hypot(eta[pair_jet] - truth.eta[pair_cand], _wrap(phi[pair_jet] - truth.phi[pair_cand]))
    order = np.lexsort((dr, pair_jet))
    nearest = order[np.unique(pair_jet[order], return_index=True)[1]]  # closest parent per jet
    best = np.full(n_jets, -1)
    close = dr[nearest] < cfg.match_dr
    best[pair_jet[nearest[close]]] = pair_cand[nearest[close]]
    # a parent tags at most one jet: the nearest one
    tagged = np.flatnonzero(best >= 0)
    jet_dr = np.hypot(eta[tagged] - truth.eta[best[tagged]], _wrap(phi[tagged] - truth.phi[best[tagged]]))
    by_parent = np.lexsort((jet_dr, best[tagged]))
    unique = np.zeros(len(tagged), bool)
    unique[by_parent[np.unique(best[tagged][by_parent], return_index=True)[1]]] = True
    # every decay quark / gluon inside the jet
    leaf_first = np.concatenate([[0], np.cumsum(np.bincount(truth.leaf_parent, minlength=len(truth.eta)))])
    n_leaf = np.diff(leaf_first)[best[tagged]]
    leaf_jet = np.repeat(tagged, n_leaf)
    leaf = np.repeat(leaf_first[best[tagged]], n_leaf) + _ranges(n_leaf)
    leaf_dr = np.hypot(eta[leaf_jet] - truth.leaf_eta[leaf], _wrap(phi[leaf_jet] - truth.leaf_phi[leaf]))
    outside = np.bincount(leaf_jet[leaf_dr >= cfg.match_dr], minlength=n_jets)[tagged] > 0
    label = np.full(n_jets, "", dtype=object)
    ok = unique & ~outside
    label[tagged[ok]] = truth.cls[best[tagged[ok]]]
    stats["jets_in_window"] += int(keep.sum())
    stats["unmatched"] += int(keep.sum()) - len(tagged)
    stats["shared_parent"] += int((~unique).sum())
    stats["decay_outside_jet"] += int((unique & outside).sum())
    stats["other_flavour"] += int((label[tagged[ok]] == "").sum())
    return label


def _features(
    vis_p: np.ndarray, vis_type: np.ndarray, vis_charge: np.ndarray, jets: _Jets, chosen: np.ndarray, cfg: JetConfig
) -> tuple[np.ndarray, ...]:
    """Token and event arrays for the ``chosen`` jets, constituents in decreasing pT, capped."""
    slot = np.full(len(jets.event), -1)
    slot[chosen] = np.arange(len(chosen))
    use = slot[jets.const_jet] >= 0
    cj, ci = slot[jets.const_jet[use]], jets.const_idx[use]
    cp = vis_p[ci]
    c_pt = np.hypot(cp[:, 0], cp[:, 1])
    order = np.lexsort((-c_pt, cj))
    cj, ci, cp, c_pt = cj[order], ci[order], cp[order], c_pt[order]
    n_all = np.bincount(cj, minlength=len(chosen))
    rank = np.arange(len(cj)) - np.repeat(np.cumsum(n_all) - n_all, n_all)
    cap = rank < cfg.max_constituents
    cj, ci, cp, c_pt = cj[cap], ci[cap], cp[cap], c_pt[cap]

    jp = jets.p[chosen]
    j_pt = np.hypot(jp[:, 0], jp[:, 1])
    j_eta, j_phi = _eta_phi(jp)
    j_mass = np.sqrt(np.maximum(jp[:, 3] ** 2 - (jp[:, :3] ** 2).sum(1), 0.0))
    c_eta, c_phi = _eta_phi(cp)
    deta, dphi = c_eta - j_eta[cj], _wrap(c_phi - j_phi[cj])
    log_pt, log_e = np.log(c_pt), np.log(cp[:, 3])
    features = np.stack([deta, dphi, log_pt, log_e], axis=1)
    extra = np.stack(
        [log_pt - np.log(j_pt[cj]), log_e - np.log(jp[cj, 3]), np.hypot(deta, dphi), vis_charge[ci]], axis=1
    )
    event = np.stack([j_pt, j_eta, j_phi, j_mass, n_all], axis=1)
    offsets = np.concatenate([[0], np.cumsum(np.minimum(n_all, cfg.max_constituents))])
    return features, vis_type[ci], extra, offsets, event


# --------------------------------------------------------------------------- generation


class _ChargeTable:
    """Charge of a PDG id from Pythia's particle data, looked up once per species."""

    def __init__(self, pythia) -> None:
        self.pdt = pythia.particleData
        self.known: dict[int, float] = {}

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        uniq, inverse = np.unique(ids, return_inverse=True)
        for i in uniq.tolist():
            if i not in self.known:
                self.known[i] = float(self.pdt.charge(i))
        return np.array([self.known[i] for i in uniq.tolist()], dtype=np.float32)[inverse]


def _token_type(ids: np.ndarray, charge: np.ndarray) -> np.ndarray:
    aid = np.abs(ids)
    kind = np.where(charge != 0, 3, 4)
    kind = np.where(aid == 22, 0, kind)
    kind = np.where(aid == 11, 1, kind)
    return np.where(aid == 13, 2, kind).astype(np.int16)


def make_pythia(settings: Sequence[str]):
    """An initialised ``pythia8mc.Pythia`` with ``settings``; bad settings raise InputError."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in settings:
        if not pythia.readString(line):
            raise InputError("pythia settings", f"Pythia rejected {line!r}")
    if not pythia.init():
        raise InputError("pythia settings", "Pythia initialisation failed")
    return pythia


class SourceRun:
    """Jets of one source (one Pythia instance), batch by batch.

    ``next_batch(n_events)`` generates ``n_events`` events and returns their matched jets
    of ``classes`` as a block (labels index :data:`CLASSES`). ``pythia_seconds`` and
    ``seconds`` accumulate the time spent inside Pythia and in total, for benchmarks.
    """

    def __init__(self, source: str, classes: Sequence[str], cfg: JetConfig, seed: int) -> None:
        self.source, self.cfg, self.classes = source, cfg, tuple(classes)
        self.settings = cfg.pythia_settings(source, seed)
        self.pythia = make_pythia(self.settings)
        self.charge = _ChargeTable(self.pythia)
        self.schema = jet_schema()
        self.stats = dict.fromkeys(
            ("events", "jets_in_window", "unmatched", "shared_parent", "decay_outside_jet", "other_flavour"), 0
        )
        self.pythia_seconds = self.seconds = 0.0

    def next_batch(self, n_events: int) -> EventBlock:
        t0 = time.perf_counter()
        batch = self.pythia.nextBatch(int(n_events))
        t1 = time.perf_counter()
        block = self._process(batch)
        self.pythia_seconds += t1 - t0
        self.seconds += time.perf_counter() - t0
        return block

    def _process(self, batch: ak.Array) -> EventBlock:
        rec = _Record.from_batch(batch)
        self.stats["events"] += rec.n_events
        truth = _truth(rec, self.source)
        vis = np.flatnonzero((rec.status > 0) & ~np.isin(np.abs(rec.id), NEUTRINOS))
        # FastJet clusters in rapidity y, and |y| <= |eta|: particles with |y| more than 2R beyond
        # the jet acceptance do not change the hard jets inside it (tested); dropping them
        # halves the clustering time.
        vis = vis[np.abs(_rapidity(rec.p[vis])) < self.cfg.eta_max + 2 * self.cfg.radius]
        vis_p, vis_event = rec.p[vis], rec.event[vis]
        charge = self.charge(rec.id[vis])
        jets = _cluster(vis_p, vis_event, rec.n_events, self.cfg)
        pt = np.hypot(jets.p[:, 0], jets.p[:, 1])
        eta, _ = _eta_phi(jets.p)
        in_window = (pt >= self.cfg.pt_min) & (pt < self.cfg.pt_max) & (np.abs(eta) < self.cfg.eta_max)
        label = _match(jets, truth, in_window, self.cfg, self.stats)
        chosen = np.flatnonzero(np.isin(label, self.classes))
        features, token_type, extra, offsets, event = _features(
            vis_p, _token_type(rec.id[vis], charge), charge, jets, chosen, self.cfg
        )
        labels = np.array([DEFAULT_CLASSES.index(c) for c in label[chosen]], dtype=np.int64)
        return EventBlock(self.schema, features, token_type, offsets, extra, event, {"label": labels})


def _generate_shard(classes: tuple[str, ...], counts: dict[str, int], cfg: JetConfig, seed: int, shard: int) -> tuple[EventBlock, dict]:
    """Shard ``shard``: ``counts[c]`` jets of every class, one Pythia run per source.

    Each source keeps the first jets of each of its classes in event order, so the result
    does not depend on how many events a batch holds.
    """
    blocks, stats = [_empty()], {}
    for source in _sources(classes):
        need = {c: counts[c] for c in classes if CLASSES[c][0] == source and counts[c] > 0}
        if not need:
            continue
        run = SourceRun(source, classes, cfg, shard_seed(seed, shard, source))
        have = dict.fromkeys(need, 0)
        surplus, n_events = 0, 16
        while any(have[c] < need[c] for c in need):
            block = run.next_batch(n_events)
            take = np.zeros(len(block), bool)
            for c in need:
                rows = np.flatnonzero(block.labels["label"] == DEFAULT_CLASSES.index(c))[: need[c] - have[c]]
                take[rows] = True
                have[c] += len(rows)
            surplus += int(len(block) - take.sum())
            blocks.append(block.select(np.flatnonzero(take)))
            # next batch: enough events for the scarcest class at the rate seen so far, within [16, 256]
            rate = min((have[c] + 1) / run.stats["events"] for c in need)
            n_events = int(np.clip(1.2 * max(need[c] - have[c] for c in need) / rate, 16, 256))
        stats[source] = {**run.stats, "surplus": surplus, **{f"kept_{c}": have[c] for c in need}}
    return EventBlock.concat(blocks), {"shard": shard, "stats": stats}


def _sources(classes: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(CLASSES[c][0] for c in classes))


def _empty() -> EventBlock:
    return EventBlock(
        jet_schema(), np.zeros((0, 4)), np.zeros(0), np.zeros(1), np.zeros((0, len(EXTRA))),
        np.zeros((0, len(EVENT))), {"label": np.zeros(0)},
    )


def _class_counts(classes: Sequence[str], n_per_class: int | None, n_total: int | None) -> dict[str, int]:
    unknown = [c for c in classes if c not in CLASSES]
    if unknown or not classes:
        raise InputError("classes", f"unknown or no jet classes {unknown}; choose from {list(CLASSES)}")
    if len(set(classes)) != len(classes):
        raise InputError("classes", f"duplicate class names in {list(classes)}")
    if (n_per_class is None) == (n_total is None):
        raise InputError("n_per_class/n_total", "give exactly one of n_per_class and n_total")
    n, name = (n_total, "n_total") if n_total is not None else (n_per_class, "n_per_class")
    if n < 0:
        raise InputError(name, f"must be non-negative, got {n}")
    if n_total is not None:
        return {c: n_total // len(classes) + int(i < n_total % len(classes)) for i, c in enumerate(classes)}
    return dict.fromkeys(classes, int(n_per_class))


@dataclass(frozen=True)
class JetJob:
    """A planned generation: what every shard makes. Build it with :func:`plan_jets`."""

    classes: tuple[str, ...]
    counts: dict[str, int]
    config: JetConfig
    seed: int
    shards: tuple[int, ...]
    n_shards: int

    def shard_counts(self, shard: int) -> dict[str, int]:
        return {c: split_count(n, self.n_shards, shard) for c, n in self.counts.items()}

    def provenance(self, shard_infos: Sequence[dict] = ()) -> dict:
        """Generator versions, settings, seeds and (from ``shard_infos``) kept/dropped counts."""
        stats: dict[str, dict[str, int]] = {}
        for info in shard_infos:
            for source, counts in info["stats"].items():
                merged = stats.setdefault(source, {})
                for k, v in counts.items():
                    merged[k] = merged.get(k, 0) + v
        sources = _sources(self.classes)
        return {
            "producer": "hepfm.simulate.jets",
            "hepfm_version": hepfm.__version__,
            "pythia_version": importlib.metadata.version("pythia8mc"),
            "fastjet_version": importlib.metadata.version("fastjet"),
            "config": asdict(self.config),
            "seed": self.seed,
            "n_shards": self.n_shards,
            "shards": list(self.shards),
            "requested": {c: sum(self.shard_counts(s)[c] for s in self.shards) for c in self.classes},
            "shard_seeds": {str(s): {src: shard_seed(self.seed, s, src) for src in sources} for s in self.shards},
            "settings": {src: [x for x in self.config.pythia_settings(src, 0) if not x.startswith("Random:seed")] for src in sources},
            "stats": stats,
        }


def plan_jets(
    n_per_class: int | None = None,
    *,
    n_total: int | None = None,
    classes: Sequence[str] = DEFAULT_CLASSES,
    pt_min: float = 500.0,
    pt_max: float = 1000.0,
    seed: int = 0,
    shard: int | None = None,
    n_shards: int = 1,
    config: JetConfig | None = None,
) -> JetJob:
    """Check the arguments of :func:`generate_jets` and plan the shards."""
    classes = tuple(classes)
    counts = _class_counts(classes, n_per_class, n_total)
    cfg = replace(config or JetConfig(), pt_min=float(pt_min), pt_max=float(pt_max))
    if n_shards < 1 or (shard is not None and not 0 <= shard < n_shards):
        raise InputError("shard", f"need 0 <= shard < n_shards, got shard={shard}, n_shards={n_shards}")
    shards = tuple(range(n_shards)) if shard is None else (int(shard),)
    return JetJob(classes, counts, cfg, int(seed), shards, int(n_shards))


def iter_jet_shards(job: JetJob, workers: int = 1) -> Iterator[tuple[EventBlock, dict]]:
    """Yield ``(block, info)`` for every shard of ``job``, in shard order, ``workers`` in parallel."""
    jobs = [(job.classes, job.shard_counts(s), job.config, job.seed, s) for s in job.shards]
    yield from map_shards(_generate_shard, jobs, workers)


def generate_jets(
    n_per_class: int | None = None,
    *,
    n_total: int | None = None,
    classes: Sequence[str] = DEFAULT_CLASSES,
    pt_min: float = 500.0,
    pt_max: float = 1000.0,
    seed: int = 0,
    shard: int | None = None,
    n_shards: int = 1,
    workers: int = 1,
    config: JetConfig | None = None,
) -> EventBlock:
    """Generate labelled jets in memory.

    Give ``n_per_class`` jets of every class, or ``n_total`` split evenly over ``classes``.
    Counts are totals over ``n_shards`` shards; ``shard=i`` makes only shard ``i``, seeded
    from ``(seed, i, process)``, so shards made by separate jobs concatenate (in shard
    order) to exactly the sample one job makes. ``workers`` processes generate shards in
    parallel; the output does not depend on ``workers``. Jets are grouped by shard, then by
    process, in generation order. ``schema.provenance`` holds versions, Pythia settings,
    seeds and, under ``stats``, how many jets were kept and dropped and why.
    """
    job = plan_jets(n_per_class, n_total=n_total, classes=classes, pt_min=pt_min, pt_max=pt_max, seed=seed,
                    shard=shard, n_shards=n_shards, config=config)
    return _merge(job, list(iter_jet_shards(job, workers)))


def _merge(job: JetJob, parts: Sequence[tuple[EventBlock, dict]]) -> EventBlock:
    block = EventBlock.concat([b for b, _ in parts])
    block.schema = jet_schema(job.provenance([info for _, info in parts]))
    return block


def write_jets(path: str | Path, job: JetJob, workers: int = 1) -> list[Path]:
    """Generate the jets of ``job`` (see :func:`plan_jets`) and write them with ``hepfm.data``.

    A ``.h5`` path gets one file. Any other path is a dataset directory that receives one
    file per generation shard, ``part-<shard>.h5``, written (atomically) as soon as the
    shard is done; each records its own provenance, so directories filled by separate jobs
    (``shard=i``) are merged by copying the files together. Shards whose file already exists
    are not made again, so rerunning an interrupted job resumes it.
    """
    return write_shards(path, job, iter_jet_shards, _merge, workers)


def sample_path() -> Path:
    """Path of the shipped sample ``jets_sample.h5`` (see docs/jets.md for how it was made)."""
    return Path(str(importlib.resources.files("hepfm.resources").joinpath("jets_sample.h5")))


def plot_jets(block: EventBlock, out_dir: str | Path, prefix: str = "jets_") -> list[Path]:
    """Jet mass and constituent multiplicity per class, as ``<prefix>mass.png`` and
    ``<prefix>multiplicity.png`` in ``out_dir`` (mplhep CMS style, unit-normalised)."""
    import matplotlib.style
    import mplhep
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    from hepfm.utils import atomic_path

    spec = block.schema.label("label")
    columns = {name: block.event[:, block.schema.event.index(name)] for name in ("jet_mass", "n_constituents")}
    plots = {
        "mass": ("jet_mass", np.linspace(0, 300, 31), "Jet mass [GeV]"),
        "multiplicity": ("n_constituents", np.arange(0, 201, 10), "Number of constituents"),
    }
    paths, colors = [], colormaps["tab10"]
    with matplotlib.style.context(dict(mplhep.style.CMS)):
        for name, (column, bins, xlabel) in plots.items():
            fig = Figure(figsize=(12, 8))
            ax = fig.subplots()
            for i, cls in enumerate(spec.classes):
                values = columns[column][block.labels["label"] == i]
                if len(values):
                    style = dict(color=colors(i % 10), linestyle="-" if i < 10 else "--", linewidth=2)
                    ax.hist(values, bins=bins, histtype="step", density=True, label=f"{cls} ({len(values)})", **style)
            pt = block.schema.provenance.get("config", {})
            title = f"anti-$k_T$ R=0.8, {pt.get('pt_min', '?'):.0f} < $p_T$ < {pt.get('pt_max', '?'):.0f} GeV" if pt else ""
            ax.set_title(title, fontsize=18)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("Normalised to unit area")
            ax.legend(fontsize=16, loc="upper left", bbox_to_anchor=(1.01, 1.0))
            path = Path(out_dir) / f"{prefix}{name}.png"
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format="png", dpi=80, bbox_inches="tight")
            paths.append(path)
    return paths
