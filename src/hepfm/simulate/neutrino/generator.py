"""The neutrino event generator: flux × cross sections → interactions → FSI → detector tokens.

For a target (e.g. ``CH``), a neutrino (ν_μ / ν̄_μ) and a flux, the generator

1. tabulates σ_c(E) per bound nucleon for every *process* c = (nucleus of the target, nucleon
   type, channel qe/res/dis, CC/NC) on an energy grid (channel modules' ``xsec``; cached in
   memory per process). The event rate per molecule is R_c(E) = n_nucleus · N_nucleon · σ_c(E)
   and R(E) = Σ_c R_c(E); σ per nucleon of the target is R / (nucleons per molecule). Between
   grid nodes σ is linear in E; every channel's threshold is a node (σ = 0 there);
2. draws E_ν from Φ(E) R(E) exactly (the flux is flat inside a bin and R linear between
   nodes, so each piece is a linear density, inverted analytically) — *unweighted* events,
   weight 1 — or, with ``weighted=True``, from Φ(E) alone (restricted to where R > 0) with
   weight w = R(E)/⟨R⟩, ⟨R⟩ the flux average over that range, so Σw ≈ N and weighted
   histograms equal unweighted ones;
3. picks the process at that energy with probability R_c(E)/R(E), and calls the channel's
   ``sample`` once per process group (vectorised);
4. puts the vertex in the nucleus (:meth:`Nucleus.sample_positions`), runs the cascade
   (:func:`fsi.apply_fsi`), and the detector response (:func:`detector.detector_response`).

Sharding mirrors :mod:`hepfm.simulate.jets`: shard ``i`` of a job draws from
``shard_seed(seed, i, "neutrino")`` (physics) and ``shard_seed(seed, i, "neutrino-detector")``
(detector), so any shard made alone equals the same shard of a full run. See
docs/neutrino/generator.md.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import hepfm
from hepfm.data.events import EventBlock
from hepfm.data.schema import EventSchema, LabelSpec
from hepfm.errors import InputError
from hepfm.simulate.neutrino import dis, qe, resonance
from hepfm.simulate.neutrino.constants import NEUTRON, PROTON, XSEC_UNIT_CM2
from hepfm.simulate.neutrino.detector import DetectorConfig, detector_response
from hepfm.simulate.neutrino.dis import DISParams
from hepfm.simulate.neutrino.flux import Flux, get_flux, monoenergetic
from hepfm.simulate.neutrino.fsi import FSIParams, apply_fsi
from hepfm.simulate.neutrino.labels import neutrino_schema
from hepfm.simulate.neutrino.nucleus import Nucleus, Target, get_target
from hepfm.simulate.neutrino.qe import QEParams
from hepfm.simulate.neutrino.record import CHANNELS, Interactions
from hepfm.simulate.neutrino.resonance import ResParams
from hepfm.simulate.parallel import map_shards, shard_seed, split_count, write_shards

log = logging.getLogger(__name__)

_MODULES = {"qe": qe, "res": resonance, "dis": dis}
#: energies [GeV] of the cross-section table printed by ``--xsec``
XSEC_ENERGIES = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class NeutrinoPhysics:
    """Every physics parameter of the generator (channel models, FSI, nucleus, switches)."""

    qe: QEParams = QEParams()
    res: ResParams = ResParams()
    dis: DISParams = DISParams()
    fsi: FSIParams = FSIParams()
    #: overrides of the Fermi momentum / binding energy [GeV] of the target's nuclei (None: built-in)
    k_fermi: float | None = None
    e_binding: float | None = None
    channels: tuple[str, ...] = ("qe", "res", "dis")
    include_cc: bool = True
    include_nc: bool = True

    def __post_init__(self) -> None:
        unknown = set(self.channels) - set(CHANNELS)
        if unknown or not self.channels:
            raise InputError("physics.channels",
                             f"unknown or no channels {sorted(unknown)}; choose from {list(CHANNELS)}")
        if not (self.include_cc or self.include_nc):
            raise InputError("physics", "include_cc and include_nc are both false: nothing to generate")
        if "res" in self.channels and "dis" in self.channels and self.res.w_max != self.dis.w_min:
            warnings.warn(f"RES ends at W = {self.res.w_max} GeV but DIS starts at W = {self.dis.w_min} GeV: "
                          "the W region between them is double counted or missing", stacklevel=3)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None, where: str = "physics") -> NeutrinoPhysics:
        """Build from a (YAML) mapping; unknown keys are errors (see :func:`hepfm.config.from_dict`)."""
        from hepfm.config import from_dict

        return from_dict(cls, raw or {}, where)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_physics(path: str | Path | None = None, overrides: Sequence[str] = ()) -> NeutrinoPhysics:
    """Physics from an optional YAML file plus ``section.key=value`` overrides (e.g. ``qe.m_a=1.2``)."""
    return physics_from_items(([str(path)] if path else []) + list(overrides))


def physics_from_items(items: Sequence[str]) -> NeutrinoPhysics:
    """Physics from command-line items, applied in order: a YAML file of parameters (nested
    sections ``qe:``, ``res:``, ``dis:``, ``fsi:`` and top-level keys), or a ``key=value``
    override with a dotted key (``qe.m_a=1.2``, ``fsi.scale_pi_abs=0.8``, ``include_nc=false``)."""
    from hepfm.config import apply_overrides, load_yaml

    raw: dict[str, Any] = {}
    where = "physics"
    for item in items:
        if "=" in item:
            raw = apply_overrides(raw, [item], where="--physics")
        else:
            raw = _deep_merge(raw, load_yaml(item))
            where = item
    return NeutrinoPhysics.from_dict(raw, where=where)


def _deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@dataclass(frozen=True)
class NeutrinoConfig:
    """What to generate: target, neutrino, flux (or a fixed energy), physics and detector."""

    target: str = "CH"
    nu_pdg: int = 14
    #: "numi-le" (built-in NuMI-like shape), a flux file path, or a :class:`Flux`
    flux: str | Flux = "numi-le"
    #: a fixed neutrino energy [GeV]; overrides ``flux`` when set
    energy: float | None = None
    physics: NeutrinoPhysics = NeutrinoPhysics()
    detector: DetectorConfig = DetectorConfig()
    #: draw E from the flux alone and weight events by σ(E)/⟨σ⟩ (default: unweighted, weight 1)
    weighted: bool = False
    #: energy nodes of the cross-section table (log spaced over the flux range, plus thresholds)
    grid_points: int = 60
    #: events generated per batch inside a shard (memory bound; the result depends on it)
    batch_size: int = 20000

    def __post_init__(self) -> None:
        if self.nu_pdg not in (14, -14):
            raise InputError("nu", f"must be numu (14) or numubar (-14), got {self.nu_pdg}")
        get_target(self.target)  # validates the name
        if self.energy is not None and not (np.isfinite(self.energy) and self.energy > 0):
            raise InputError("energy", f"must be a positive number of GeV, got {self.energy}")
        if not 8 <= self.grid_points <= 1000:
            raise InputError("grid_points", f"must lie in [8, 1000], got {self.grid_points}")
        if self.batch_size < 1:
            raise InputError("batch_size", f"must be positive, got {self.batch_size}")

    def get_flux(self) -> Flux:
        if self.energy is not None:
            return monoenergetic(float(self.energy))
        return self.flux if isinstance(self.flux, Flux) else get_flux(self.flux, self.nu_pdg)

    def get_target(self) -> Target:
        return get_target(self.target, self.physics.k_fermi, self.physics.e_binding)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly description (for provenance)."""
        flux = self.get_flux()
        return {
            "target": self.target, "nu_pdg": self.nu_pdg,
            "flux": flux.to_dict() | {"spec": self.flux if isinstance(self.flux, str) else flux.name},
            "energy": self.energy, "weighted": self.weighted, "grid_points": self.grid_points,
            "batch_size": self.batch_size, "physics": self.physics.to_dict(), "detector": asdict(self.detector),
        }


# --------------------------------------------------------------------------- cross-section tables


@dataclass(frozen=True)
class Process:
    """One process of a target: a nucleus (with its multiplicity per molecule), a nucleon type, a channel."""

    component: int
    nucleus: Nucleus
    multiplicity: int
    nucleon_pdg: int
    channel: str
    cc: bool

    @property
    def name(self) -> str:
        nucleon = "p" if self.nucleon_pdg == PROTON else "n"
        return f"{self.channel}_{'cc' if self.cc else 'nc'}:{self.nucleus.name}:{nucleon}"

    def params(self, physics: NeutrinoPhysics) -> Any:
        return getattr(physics, self.channel)

    def threshold(self, nu_pdg: int, physics: NeutrinoPhysics) -> float:
        """Lowest E_ν [GeV] at which the channel's ``sample`` accepts this process."""
        mod = _MODULES[self.channel]
        if self.channel == "dis":
            return float(dis.nucleus_threshold(nu_pdg, self.nucleon_pdg, self.cc, self.nucleus, physics.dis))
        return float(mod.threshold(nu_pdg, self.nucleon_pdg, self.cc, self.nucleus))


def processes(target: Target, physics: NeutrinoPhysics) -> list[Process]:
    """Every (nucleus, nucleon, channel, CC/NC) combination of ``target`` allowed by ``physics``."""
    out = []
    currents = [cc for cc, on in ((True, physics.include_cc), (False, physics.include_nc)) if on]
    for i, (nucleus, mult) in enumerate(target.components):
        for nucleon in (PROTON, NEUTRON):
            if nucleus.count(nucleon) == 0:
                continue
            for channel in physics.channels:
                for cc in currents:
                    out.append(Process(i, nucleus, mult, nucleon, channel, cc))
    return out


@dataclass
class XsecTable:
    """σ per bound nucleon [cm²] of every process on an energy grid, and the rates per molecule."""

    energies: np.ndarray  # [G], increasing
    processes: list[Process]
    sigma: np.ndarray  # [P, G] cm² per bound nucleon of that type
    thresholds: np.ndarray  # [P] GeV
    nucleons: int  # nucleons per molecule of the target

    @property
    def rate(self) -> np.ndarray:
        """[P, G] R_c(E) = n_nucleus N_nucleon σ_c(E) per molecule [cm²]."""
        mult = np.array([p.multiplicity * p.nucleus.count(p.nucleon_pdg) for p in self.processes], dtype=np.float64)
        return mult[:, None] * self.sigma

    def rate_at(self, e: np.ndarray) -> np.ndarray:
        """[n, P] rates at energies ``e`` (linear between nodes, 0 outside the grid)."""
        r = self.rate
        return np.stack([np.interp(e, self.energies, r[i], left=0.0, right=0.0) for i in range(len(r))], axis=1)


_TABLES: dict[tuple, np.ndarray] = {}


def _grid(flux: Flux, thresholds: np.ndarray, n_points: int) -> np.ndarray:
    lo, hi = flux.e_min, flux.e_max
    finite = thresholds[np.isfinite(thresholds)]
    if lo == hi:
        return np.array([lo])
    start = max(lo, float(finite.min()) if len(finite) else lo, 1e-3)
    if start >= hi:
        return np.array([lo, hi])
    nodes = [np.geomspace(start, hi, n_points), [lo, hi]]
    inside = finite[(finite > lo) & (finite < hi)]
    nodes += [inside, inside * (1 + 1e-4)]  # σ = 0 at a threshold, the model's value just above it
    return np.unique(np.concatenate([np.asarray(x, dtype=np.float64) for x in nodes]))


def xsec_table(config: NeutrinoConfig) -> XsecTable:
    """The cross-section table of ``config`` (computed once per process, kept in memory)."""
    target, physics, nu = config.get_target(), config.physics, config.nu_pdg
    procs = processes(target, physics)
    thr = np.array([p.threshold(nu, physics) for p in procs])
    grid = _grid(config.get_flux(), thr, config.grid_points)
    sigma = np.zeros((len(procs), len(grid)))
    for i, p in enumerate(procs):  # a handful of processes
        key = (p.nucleus, p.nucleon_pdg, p.channel, p.cc, nu, p.params(physics), grid.tobytes())
        if key not in _TABLES:
            live = grid > thr[i]
            s = np.zeros(len(grid))
            if live.any():
                mod = _MODULES[p.channel]
                s[live] = mod.xsec(grid[live], nu, p.nucleon_pdg, p.cc, p.nucleus, p.params(physics))
            _TABLES[key] = np.maximum(s, 0.0)
        sigma[i] = _TABLES[key]
    return XsecTable(grid, procs, sigma, thr, target.nucleons)


# --------------------------------------------------------------------------- energy sampling


@dataclass
class _Pieces:
    """The flux × rate density cut into pieces on which it is linear in E (or point masses)."""

    lo: np.ndarray
    hi: np.ndarray
    r_lo: np.ndarray  # rate at lo / hi
    r_hi: np.ndarray
    density: np.ndarray  # flux per GeV on the piece (point masses: the flux content)

    @classmethod
    def build(cls, flux: Flux, energies: np.ndarray, total: np.ndarray) -> _Pieces:
        """Pieces of ``flux`` × ``total`` (a rate tabulated at ``energies``, linear in between)."""
        width = np.diff(flux.edges)
        wide = (width > 0) & (flux.content > 0)
        cuts = np.unique(np.concatenate([flux.edges[:-1][wide], flux.edges[1:][wide], energies]))
        cuts = cuts[(cuts >= flux.edges[0]) & (cuts <= flux.edges[-1])]
        lo, hi = cuts[:-1], cuts[1:]
        mid = 0.5 * (lo + hi)
        b = np.searchsorted(flux.edges, mid, side="right") - 1
        ok = (b >= 0) & (b < len(width))
        b = np.clip(b, 0, len(width) - 1)
        dens = np.where(ok & wide[b], flux.content[b] / np.where(width[b] > 0, width[b], 1.0), 0.0)
        point = (width == 0) & (flux.content > 0)
        pe = flux.edges[:-1][point]
        rate = lambda e: np.interp(e, energies, total, left=0.0, right=0.0)  # noqa: E731
        return cls(np.concatenate([lo, pe]), np.concatenate([hi, pe]), np.concatenate([rate(lo), rate(pe)]),
                   np.concatenate([rate(hi), rate(pe)]), np.concatenate([dens, flux.content[point]]))

    @property
    def is_point(self) -> np.ndarray:
        return self.hi == self.lo

    def integrals(self, with_rate: bool) -> np.ndarray:
        """∫ Φ R dE (``with_rate``) or ∫ Φ dE over R > 0, per piece."""
        width = np.where(self.is_point, 1.0, self.hi - self.lo)
        if with_rate:
            return self.density * width * np.where(self.is_point, self.r_lo, 0.5 * (self.r_lo + self.r_hi))
        return self.density * width * (np.maximum(self.r_lo, self.r_hi) > 0)

    def sample(self, n: int, rng: np.random.Generator, with_rate: bool) -> np.ndarray:
        w = self.integrals(with_rate)
        if not w.sum() > 0:
            raise InputError("flux", "the flux has no support where the cross section is non-zero")
        cdf = np.cumsum(w) / w.sum()
        i = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(w) - 1)
        u = rng.random(n)
        if with_rate:  # density ∝ r_lo + (r_hi − r_lo) t on t ∈ [0, 1]: invert the quadratic cumulative
            a, b = self.r_lo[i], self.r_hi[i]
            with np.errstate(divide="ignore", invalid="ignore"):
                t = np.where(np.abs(b - a) > 1e-12 * np.maximum(a + b, 1e-300),
                             (np.sqrt(a**2 + (b**2 - a**2) * u) - a) / (b - a), u)
            t = np.clip(np.nan_to_num(t, nan=u), 0.0, 1.0)
        else:
            t = u
        return self.lo[i] + (self.hi[i] - self.lo[i]) * t


def flux_averaged(flux: Flux, table: XsecTable) -> np.ndarray:
    """⟨σ_c⟩ = ∫Φ σ_c / ∫Φ per bound nucleon [cm²] for every process (σ linear between nodes)."""
    sig = table.sigma
    pieces = _Pieces.build(flux, table.energies, np.ones(len(table.energies)))
    width = np.where(pieces.is_point, 1.0, pieces.hi - pieces.lo)
    out = np.zeros(len(sig))
    for i in range(len(sig)):  # processes
        s_lo = np.interp(pieces.lo, table.energies, sig[i], left=0.0, right=0.0)
        s_hi = np.interp(pieces.hi, table.energies, sig[i], left=0.0, right=0.0)
        out[i] = np.sum(pieces.density * width * np.where(pieces.is_point, s_lo, 0.5 * (s_lo + s_hi)))
    return out / flux.total


# --------------------------------------------------------------------------- generation


def _energy_pieces(config: NeutrinoConfig, table: XsecTable) -> _Pieces:
    """The flux × rate density of ``config`` (reads a flux file once; reuse it for every batch)."""
    return _Pieces.build(config.get_flux(), table.energies, table.rate.sum(axis=0))


def _sample_interactions(n: int, config: NeutrinoConfig, table: XsecTable, rng: np.random.Generator,
                         stage: str = "final", pieces: _Pieces | None = None) -> Interactions:
    """``n`` interactions: energies, processes, channel kinematics, vertices and (``stage="final"``) FSI.

    ``pieces`` (from :func:`_energy_pieces`) saves rebuilding the energy density per batch.
    """
    pieces = pieces or _energy_pieces(config, table)
    e = pieces.sample(n, rng, with_rate=not config.weighted)
    rates = table.rate_at(e)
    total = rates.sum(axis=1)
    if config.weighted:
        ints = pieces.integrals(True).sum() / pieces.integrals(False).sum()  # ⟨R⟩ over the support
        weight = total / ints
    cdf = np.cumsum(rates, axis=1)
    proc = np.minimum((cdf < (rng.random(n) * total)[:, None]).sum(axis=1), len(table.processes) - 1)
    parts, index = [], []
    for i, p in enumerate(table.processes):  # a handful of processes
        idx = np.flatnonzero(proc == i)
        if not len(idx):
            continue
        mod = _MODULES[p.channel]
        inter = mod.sample(e[idx], config.nu_pdg, p.nucleon_pdg, p.cc, p.nucleus, p.params(config.physics), rng)
        inter.vertex_fm = p.nucleus.sample_positions(len(idx), rng)
        parts.append(inter)
        index.append(idx)
    out = Interactions.concat(parts)
    if index:
        order = np.empty(n, np.int64)
        order[np.concatenate(index)] = np.arange(n)
        out = out.select(order)
    if config.weighted:
        out.weight = weight.astype(np.float64)
    if stage == "final":
        nuclei = {nuc.pdg: nuc for nuc, _ in config.get_target().components if not nuc.free}
        out = apply_fsi(out, nuclei, config.physics.fsi, rng)
    return out


def _batches(n: int, size: int) -> list[int]:
    return [min(size, n - i) for i in range(0, n, size)] if n > 0 else []


def _shard_interactions(config: NeutrinoConfig, table: XsecTable, n: int, seed: int, shard: int,
                        stage: str = "final") -> Interactions:
    rng = np.random.default_rng(shard_seed(seed, shard, "neutrino"))
    pieces = _energy_pieces(config, table)
    parts = [_sample_interactions(m, config, table, rng, stage, pieces) for m in _batches(n, config.batch_size)]
    return Interactions.concat(parts)


def _generate_shard(config: NeutrinoConfig, table: XsecTable, n: int, seed: int, shard: int) -> tuple[EventBlock, dict]:
    """Shard ``shard``: ``n`` events through physics, FSI and the detector."""
    inter = _shard_interactions(config, table, n, seed, shard)
    rng_det = np.random.default_rng(shard_seed(seed, shard, "neutrino-detector"))
    blocks = [detector_response(inter.select(np.arange(i, i + m)), config.detector, rng_det)
              for i, m in zip(np.cumsum([0] + _batches(n, config.batch_size))[:-1], _batches(n, config.batch_size))]
    block = EventBlock.concat(blocks) if blocks else _empty_block(config)
    if config.weighted:
        block = dataclasses.replace(block, schema=_schema(config, block.schema.provenance),
                                    labels={**block.labels, "weight": inter.weight.astype(np.float32)})
    counts = {}
    for p in table.processes:  # a handful of processes: (channel, CC/NC, nucleus, nucleon) of every event
        sel = ((inter.channel == CHANNELS[p.channel]) & (inter.cc == p.cc) & (inter.nucleon_pdg == p.nucleon_pdg)
               & (inter.target_pdg == p.nucleus.pdg))
        counts[p.name] = int(sel.sum())
    return block, {"shard": shard, "events": int(len(block)), "processes": counts}


def _empty_block(config: NeutrinoConfig) -> EventBlock:
    from hepfm.simulate.neutrino.record import empty_interactions

    return detector_response(empty_interactions(), config.detector, np.random.default_rng(0))


# --------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class NeutrinoJob:
    """A planned generation: what every shard makes. Build it with :func:`plan_neutrino`."""

    config: NeutrinoConfig
    n_events: int
    seed: int
    shards: tuple[int, ...]
    n_shards: int
    table: XsecTable = field(compare=False, repr=False)
    #: :func:`cross_section_summary` of the job (computed once, for provenance)
    summary: dict = field(default_factory=dict, compare=False, repr=False)

    def shard_count(self, shard: int) -> int:
        return split_count(self.n_events, self.n_shards, shard)

    def provenance(self, shard_infos: Sequence[dict] = ()) -> dict:
        """Versions, configuration, seeds, per-process σ and event counts."""
        counts: dict[str, int] = {}
        for info in shard_infos:
            for k, v in info["processes"].items():
                counts[k] = counts.get(k, 0) + v
        xs = self.summary or cross_section_summary(self.config, self.table)
        return {
            "producer": "hepfm.simulate.neutrino",
            "hepfm_version": hepfm.__version__,
            "numpy_version": importlib.metadata.version("numpy"),
            "config": self.config.to_dict(),
            "seed": self.seed,
            "n_shards": self.n_shards,
            "shards": list(self.shards),
            "requested": int(sum(self.shard_count(s) for s in self.shards)),
            "shard_seeds": {str(s): {"physics": shard_seed(self.seed, s, "neutrino"),
                                     "detector": shard_seed(self.seed, s, "neutrino-detector")} for s in self.shards},
            "xsec_1e-38cm2_per_nucleon": xs["flux_averaged"],
            "flux_mean_gev": xs["flux_mean_gev"],
            "events_per_process": counts,
        }


def plan_neutrino(n_events: int, *, config: NeutrinoConfig | None = None, seed: int = 0, shard: int | None = None,
                  n_shards: int = 1) -> NeutrinoJob:
    """Check the arguments, build the cross-section table and plan the shards."""
    config = config or NeutrinoConfig()
    if n_events < 0:
        raise InputError("n_events", f"must be non-negative, got {n_events}")
    if seed < 0:
        raise InputError("seed", f"must be non-negative, got {seed}")
    if n_shards < 1 or (shard is not None and not 0 <= shard < n_shards):
        raise InputError("shard", f"need 0 <= shard < n_shards, got shard={shard}, n_shards={n_shards}")
    shards = tuple(range(n_shards)) if shard is None else (int(shard),)
    table = xsec_table(config)
    return NeutrinoJob(config, int(n_events), int(seed), shards, int(n_shards), table,
                       cross_section_summary(config, table))


def iter_neutrino_shards(job: NeutrinoJob, workers: int = 1) -> Iterator[tuple[EventBlock, dict]]:
    """Yield ``(block, info)`` for every shard of ``job``, in shard order, ``workers`` in parallel."""
    jobs = [(job.config, job.table, job.shard_count(s), job.seed, s) for s in job.shards]
    yield from map_shards(_generate_shard, jobs, workers)


def _merge(job: NeutrinoJob, parts: Sequence[tuple[EventBlock, dict]]) -> EventBlock:
    block = EventBlock.concat([b for b, _ in parts]) if parts else _empty_block(job.config)
    block.schema = _schema(job.config, job.provenance([info for _, info in parts]))
    return block


def _schema(config: NeutrinoConfig, provenance: dict) -> EventSchema:
    schema = neutrino_schema(provenance)
    if config.weighted:  # weighted samples carry the event weight as a regression label
        schema = dataclasses.replace(schema, labels=tuple(schema.labels) + (LabelSpec("weight", "regression"),))
    return schema


def generate_neutrino(n_events: int, *, config: NeutrinoConfig | None = None, seed: int = 0,
                      shard: int | None = None, n_shards: int = 1, workers: int = 1) -> EventBlock:
    """Generate detector-level neutrino events in memory.

    ``n_events`` is the total over ``n_shards`` shards; ``shard=i`` makes only shard ``i``
    (seeded from ``(seed, i)``), so shards made by separate jobs concatenate (in shard order)
    to exactly what one job makes. The output does not depend on ``workers``.
    ``schema.provenance`` holds versions, the configuration, seeds, flux-averaged cross
    sections per process and how many events each process made.
    """
    job = plan_neutrino(n_events, config=config, seed=seed, shard=shard, n_shards=n_shards)
    return _merge(job, list(iter_neutrino_shards(job, workers)))


def generate_interactions(n_events: int, *, config: NeutrinoConfig | None = None, seed: int = 0,
                          shard: int | None = None, n_shards: int = 1, stage: str = "final") -> Interactions:
    """The truth :class:`Interactions` of the same events :func:`generate_neutrino` makes.

    ``stage="final"``: the hadrons leaving the nucleus (after FSI, before the detector);
    ``stage="primary"``: the hadrons of the primary vertex (the same events, before FSI).
    """
    if stage not in ("final", "primary"):
        raise InputError("stage", f"must be 'final' or 'primary', got {stage!r}")
    job = plan_neutrino(n_events, config=config, seed=seed, shard=shard, n_shards=n_shards)
    return Interactions.concat([_shard_interactions(job.config, job.table, job.shard_count(s), job.seed, s, stage)
                                for s in job.shards])


def write_neutrino(path: str | Path, job: NeutrinoJob, workers: int = 1) -> list[Path]:
    """Generate the events of ``job`` and write them with ``hepfm.data``.

    A ``.h5`` path gets one file; any other path is a dataset directory with one
    ``part-<shard>.h5`` per shard, written atomically as each shard finishes, each with its
    own provenance. Shards whose file exists are not made again (an interrupted job resumes).
    """
    return write_shards(path, job, iter_neutrino_shards, _merge, workers)


# --------------------------------------------------------------------------- cross-section summary


def cross_section_summary(config: NeutrinoConfig, table: XsecTable | None = None,
                          energies: Sequence[float] = XSEC_ENERGIES) -> dict[str, Any]:
    """σ per nucleon of the target [10⁻³⁸ cm²] by channel (qe_cc, res_nc, ...): at ``energies``
    (exact model values) and flux-averaged (from the table), plus each channel's event fraction."""
    table = table or xsec_table(config)
    flux = config.get_flux()
    target, physics, nu = config.get_target(), config.physics, config.nu_pdg
    avg = flux_averaged(flux, table)
    e = np.asarray(energies, dtype=np.float64)
    per_channel_avg: dict[str, float] = {}
    per_channel_e: dict[str, np.ndarray] = {}
    for i, p in enumerate(table.processes):  # a handful of processes
        key = f"{p.channel}_{'cc' if p.cc else 'nc'}"
        mult = p.multiplicity * p.nucleus.count(p.nucleon_pdg) / target.nucleons
        per_channel_avg[key] = per_channel_avg.get(key, 0.0) + mult * avg[i] / XSEC_UNIT_CM2
        live = e > table.thresholds[i]
        s = np.zeros(len(e))
        if live.any():
            s[live] = _MODULES[p.channel].xsec(e[live], nu, p.nucleon_pdg, p.cc, p.nucleus, p.params(physics))
        per_channel_e[key] = per_channel_e.get(key, np.zeros(len(e))) + mult * s / XSEC_UNIT_CM2
    total_avg = sum(per_channel_avg.values())
    return {
        "target": config.target, "nu_pdg": nu, "flux": flux.name, "flux_mean_gev": flux.mean,
        "energies_gev": e.tolist(),
        "at_energy": {k: v.tolist() for k, v in per_channel_e.items()} | {
            "total": np.sum(list(per_channel_e.values()), axis=0).tolist()},
        "flux_averaged": per_channel_avg | {"total": total_avg},
        "event_fraction": {k: v / total_avg for k, v in per_channel_avg.items()} if total_avg > 0 else {},
        "unit": "1e-38 cm^2 per nucleon",
    }


def cross_section_table(config: NeutrinoConfig | None = None) -> dict[str, Any]:
    """The ``--xsec`` summary of ``config`` (see :func:`cross_section_summary`)."""
    return cross_section_summary(config or NeutrinoConfig())


def format_cross_sections(summary: dict[str, Any]) -> str:
    """A plain-text table of :func:`cross_section_summary` (what ``hepfm simulate neutrino --xsec`` prints)."""
    keys = [k for k in summary["at_energy"] if k != "total"] + ["total"]
    head = f"{'channel':<8}" + "".join(f"{e:>9.3g}" for e in summary["energies_gev"]) + f"{'<flux>':>10}{'events':>9}"
    lines = [f"sigma per nucleon [1e-38 cm^2], target {summary['target']}, nu {summary['nu_pdg']}, "
             f"flux {summary['flux']} (mean {summary['flux_mean_gev']:.3g} GeV)",
             head + "      (columns: E_nu [GeV], flux average, event fraction)"]
    for k in keys:
        frac = summary["event_fraction"].get(k, 1.0 if k == "total" else 0.0)
        lines.append(f"{k:<8}" + "".join(f"{v:>9.4g}" for v in summary["at_energy"][k])
                     + f"{summary['flux_averaged'][k]:>10.4g}{frac:>9.3f}")
    return "\n".join(lines)
