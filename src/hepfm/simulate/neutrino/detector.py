"""MINERvA-like detector response: final-state particles -> reconstructed-object tokens.

A fast, parametrised model of a fine-grained scintillator tracker with electromagnetic and
hadronic calorimetry and a downstream magnetised muon spectrometer (MINERvA + MINOS near
detector, L. Aliaga et al., NIM A 743 (2014) 130). Every number lives in
:class:`DetectorConfig`; docs/neutrino/detector.md lists them with their sources.

Pipeline (all steps vectorised over every particle of the batch):

1. unstable particles are decayed (π⁰ → γγ isotropically in its rest frame, K⁰ → K⁰_S/K⁰_L,
   K⁰_S, Λ, Σ, Ξ, Ω with a flight distance βγcτ, η, ω, ρ, Δ promptly);
2. a vertex is drawn in the fiducial volume, and every particle's path to the edge of the
   tracker is computed (cylinder around the beam axis);
3. muons within the MINOS acceptance become ``muon`` tokens; other charged particles above
   threshold become prongs: CSDA range from Bethe–Bloch in polystyrene, hadronic interaction
   or exit end the track, mean dE/dx over the track with Landau-like fluctuations, a
   proton-vs-pion likelihood from dE/dx, energy from range (stopping) or calorimetry;
   prongs within a small angle merge;
4. photons (after a conversion distance) and electrons become ``em_blob`` tokens, merged when
   closer than an angle; neutrons / K⁰_L that interact become ``neutral_blob`` tokens at the
   interaction point, with a fraction of their kinetic energy visible and a time of flight;
5. everything else that deposits energy (sub-threshold tracks and showers, neutral
   interactions below the blob threshold) is summed into one ``aggregate`` token per event.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from hepfm.data.events import EventBlock
from hepfm.errors import InputError
from hepfm.simulate.neutrino import constants as C
from hepfm.simulate.neutrino.energy_loss import csda_range, kinetic_from_range, min_ionization
from hepfm.simulate.neutrino.hadronization import phase_space
from hepfm.simulate.neutrino.kinematics import boost, mass, rotate_from_z, two_body_decay
from hepfm.simulate.neutrino.record import Interactions

TOKEN_TYPES = ("muon", "proton_prong", "pion_prong", "other_prong", "em_blob", "neutral_blob", "aggregate")
MUON, PROTON_PRONG, PION_PRONG, OTHER_PRONG, EM_BLOB, NEUTRAL_BLOB, AGGREGATE = range(len(TOKEN_TYPES))
#: per-token extra columns (units in EXTRA_UNITS)
EXTRA = ("dedx", "vertex_dist", "length", "time", "pid_proton", "michel", "charge")
EXTRA_UNITS = ("MeV/cm", "cm", "cm", "ns", "", "", "e")
#: event-level features (GeV, rad, counts)
EVENT = ("e_visible", "e_recoil", "has_muon", "e_mu", "p_mu", "theta_mu", "pt_mu", "mu_charge", "e_nu_reco",
         "q2_reco", "pt_imbalance", "n_michel") + tuple(f"n_{t}" for t in TOKEN_TYPES[:AGGREGATE])

C_CM_PER_NS = 29.9792458
LOG_FLOOR = 1e-5  # GeV: log pT and log E of a token are taken of max(value, LOG_FLOOR)
THETA_MIN = 1e-3  # rad: tokens closer to the beam axis get eta of this angle (|eta| <= 7.6)


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class DetectorConfig:
    """Every threshold, resolution and efficiency of the response (GeV, cm, ns, rad).

    Sources and the reasoning behind each default are in docs/neutrino/detector.md;
    "MINERvA" means Aliaga et al., NIM A 743 (2014) 130 unless stated otherwise.
    """

    # geometry: cylinder around the beam axis (z); vertices uniform in the fiducial part
    fid_radius_cm: float = 85.0            # fiducial apothem 85 cm (MINERvA tracker analyses)
    fid_length_cm: float = 220.0           # fiducial tracker length
    tracker_radius_cm: float = 100.0       # scintillator tracker radius (inner detector)
    tracker_upstream_cm: float = 10.0      # tracker before the fiducial volume
    tracker_downstream_cm: float = 20.0    # tracker after it (then ECAL / HCAL)
    plane_pitch_cm: float = 1.7            # strip height = plane thickness
    position_resolution_cm: float = 0.27   # per-plane position resolution (MINERvA: 2.7 mm)
    # muon spectrometer (MINOS near detector)
    minos_theta_max: float = 0.349         # 20 deg acceptance
    minos_p_min: float = 1.5               # muons must range through MINERvA's downstream part
    minos_range_p_max: float = 5.0         # below: stops in MINOS, momentum from range
    minos_range_resolution: float = 0.05   # sigma_p / p by range
    minos_curvature_resolution: float = 0.10  # sigma_p / p by curvature
    muon_charge_misid: float = 0.003       # wrong curvature sign
    # tracks (prongs)
    proton_t_min: float = 0.10             # kinetic-energy thresholds to form a track
    pion_t_min: float = 0.05               # also muons not matched to MINOS and unknown charged particles
    kaon_t_min: float = 0.075
    track_efficiency: float = 0.97
    proton_lambda_cm: float = 77.1         # nuclear interaction length of polystyrene, 81.7 g/cm^2 (PDG)
    pion_lambda_cm: float = 105.8          # pion interaction length, 1.37 x the nucleon one (PDG carbon ratio)
    range_straggling: float = 0.015        # relative range straggling
    dedx_plane_width: float = 0.35         # relative dE/dx fluctuation of one plane after truncation
    pid_model_width: float = 0.05          # relative width added to the PID likelihood (model uncertainty)
    pid_llr_cut: float = 2.0               # |ln L_p/L_pi| above which a prong is called proton- or pion-like
    ms_fit_length_cm: float = 20.0         # track length over which multiple scattering blurs the direction
    prong_merge_angle: float = 0.035       # two prongs closer than this merge
    hit_time_resolution_ns: float = 3.0    # per hit (MINERvA: ~3 ns)
    michel_efficiency: float = 0.6         # Michel electron of a stopped pi+ / mu found
    michel_fake_rate: float = 0.01         # per stopping track
    # calorimetry
    em_stochastic: float = 0.06            # sigma_E / E = 6 % / sqrt(E/GeV) (+) em_constant
    em_constant: float = 0.02
    had_stochastic: float = 0.30           # hadronic calorimetry, 30 % / sqrt(E/GeV) (+) had_constant
    had_constant: float = 0.05
    calo_resolution_cap: float = 0.5       # largest sigma_E / E (small deposits: the sqrt(E) law does not apply)
    em_e_min: float = 0.03                 # photons / electrons below this go to the aggregate token
    em_efficiency: float = 0.98
    em_angle_resolution: float = 0.05
    em_merge_angle: float = 0.10           # showers closer than this merge into one blob
    em_start_planes: int = 4               # planes in the shower-start dE/dx
    radiation_length_cm: float = 41.31     # polystyrene X0 = 43.79 g/cm^2 (PDG)
    critical_energy: float = 0.0931        # polystyrene, electrons (PDG)
    blob_position_resolution_cm: float = 3.0
    blob_time_resolution_ns: float = 1.5
    # neutral hadrons (n, nbar, K0_L, unknown neutral hadrons)
    neutral_lambda_cm: float = 77.1
    neutral_extra_path_cm: float = 50.0    # calorimeter depth beyond the tracker where they can still interact
    neutral_efficiency: float = 0.9
    neutral_visible_alpha: float = 2.0     # visible fraction of T ~ Beta(alpha, beta), mean 0.4
    neutral_visible_beta: float = 3.0
    neutral_blob_e_min: float = 0.01       # visible energy for a blob; below it goes to the aggregate

    def __post_init__(self) -> None:
        fractions = ("track_efficiency", "michel_efficiency", "michel_fake_rate", "em_efficiency",
                     "neutral_efficiency", "muon_charge_misid")
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise InputError(f"DetectorConfig.{f.name}", f"must be a finite number >= 0, got {v!r}")
            if f.name in fractions and v > 1:
                raise InputError(f"DetectorConfig.{f.name}", f"is a probability, must lie in [0, 1], got {v}")
        for name in ("fid_radius_cm", "fid_length_cm", "plane_pitch_cm", "radiation_length_cm", "critical_energy",
                     "proton_lambda_cm", "pion_lambda_cm", "neutral_lambda_cm", "neutral_visible_alpha",
                     "neutral_visible_beta", "em_start_planes"):
            if getattr(self, name) <= 0:
                raise InputError(f"DetectorConfig.{name}", f"must be positive, got {getattr(self, name)}")
        if self.fid_radius_cm > self.tracker_radius_cm:
            raise InputError("DetectorConfig.fid_radius_cm", "fiducial radius exceeds the tracker radius")
        if self.minos_theta_max > math.pi:
            raise InputError("DetectorConfig.minos_theta_max", f"an angle in [0, pi], got {self.minos_theta_max}")


# ----------------------------------------------------------------------------- particle data

#: c tau [cm] of the weakly decaying particles decayed here (PDG 2024); the rest decay at their production point
CTAU_CM = {310: 2.6844, 3122: 7.89, 3222: 2.404, 3112: 4.434, 3322: 8.71, 3312: 4.91, 3334: 2.461}
#: decay modes (branching ratio, daughters) of the particle (antiparticles: charge conjugates), PDG 2024;
#: listed modes are renormalised to 1 (pi0 Dalitz decays count as gamma gamma, eta' etc. are not decayed)
DECAYS: dict[int, tuple[tuple[float, tuple[int, ...]], ...]] = {
    111: ((1.0, (22, 22)),),
    221: ((0.3936, (22, 22)), (0.3257, (111, 111, 111)), (0.2292, (211, -211, 111)), (0.0422, (211, -211, 22))),
    223: ((0.892, (211, -211, 111)), (0.0835, (111, 22)), (0.0153, (211, -211))),
    113: ((1.0, (211, -211)),),
    213: ((1.0, (211, 111)),),
    310: ((0.6920, (211, -211)), (0.3069, (111, 111))),
    3122: ((0.641, (2212, -211)), (0.359, (2112, 111))),
    3222: ((0.5157, (2212, 111)), (0.4831, (2112, 211))),
    3112: ((1.0, (2112, -211)),),
    3212: ((1.0, (3122, 22)),),
    3322: ((1.0, (3122, 111)),),
    3312: ((1.0, (3122, -211)),),
    3334: ((0.678, (3122, -321)), (0.236, (3322, -211)), (0.086, (3312, 111))),
    2224: ((1.0, (2212, 211)),),
    2214: ((2 / 3, (2212, 111)), (1 / 3, (2112, 211))),
    2114: ((2 / 3, (2112, 111)), (1 / 3, (2212, -211))),
    1114: ((1.0, (2112, -211)),),
}
_SELF_CONJUGATE = {22, 111, 113, 130, 221, 223, 310, 331}


def particle_mass(pdg: np.ndarray, p4: np.ndarray) -> np.ndarray:
    """Table mass of known species, the four-momentum's mass otherwise [GeV]."""
    m = C.table_mass(pdg)
    return np.where(np.isnan(m), mass(p4), m)


# ----------------------------------------------------------------------------- particles and decays


@dataclass
class _Particles:
    """Flat particle list: pdg, p4 [n, 4], event, pos [n, 3] (cm from the event vertex), t0 [ns]."""

    pdg: np.ndarray
    p4: np.ndarray
    event: np.ndarray
    pos: np.ndarray
    t0: np.ndarray

    def take(self, idx: np.ndarray) -> _Particles:
        return _Particles(self.pdg[idx], self.p4[idx], self.event[idx], self.pos[idx], self.t0[idx])

    @staticmethod
    def concat(parts: list[_Particles]) -> _Particles:
        return _Particles(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(_Particles)))


def _norm(v: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", v, v))


def _unit(v: np.ndarray) -> np.ndarray:
    """Unit vectors along the rows of ``v`` [n, 3]; +z for zero rows."""
    n = _norm(v)
    zero = n == 0
    out = v / np.where(zero, 1.0, n)[:, None]
    out[zero] = (0.0, 0.0, 1.0)
    return out


def _three_body(parent: np.ndarray, m: tuple[float, float, float], rng: np.random.Generator) -> list[np.ndarray]:
    """Flat three-body phase-space decay of ``parent`` [n, 4] (daughters in the parent's frame)."""
    big = np.maximum(mass(parent), sum(m) + 1e-9)
    rest = phase_space(np.tile(np.asarray(m, dtype=np.float64), (len(parent), 1)), big, rng)
    beta = parent[:, :3] / parent[:, 3:4]
    return [boost(rest[:, j], beta) for j in range(len(m))]


def _decay_species(par: _Particles, code: int, rng: np.random.Generator) -> _Particles:
    """Decay every particle of ``par`` (all of |pdg| = ``code``) into one of its modes."""
    modes = DECAYS[code]
    cum = np.cumsum([br for br, _ in modes])
    mode = np.minimum(np.searchsorted(cum, rng.random(len(par.pdg)) * cum[-1], side="right"), len(modes) - 1)
    pos, t0 = par.pos, par.t0
    ctau = CTAU_CM.get(code, 0.0)
    if ctau > 0:
        p = _norm(par.p4[:, :3])
        m = C.MASSES[code]
        flight = p / m * ctau * rng.exponential(size=len(p))
        pos = pos + flight[:, None] * _unit(par.p4[:, :3])
        t0 = t0 + flight / (np.maximum(p / par.p4[:, 3], 1e-9) * C_CM_PER_NS)
    out = []
    anti = par.pdg < 0
    for k, (_, daughters) in enumerate(modes):
        sel = np.flatnonzero(mode == k)
        if not len(sel):
            continue
        masses = tuple(C.MASSES[abs(d)] for d in daughters)
        parent = par.p4[sel]
        if len(daughters) == 2:
            moms = list(two_body_decay(parent, masses[0], masses[1], rng))
        else:
            moms = _three_body(parent, masses, rng)
        for d, mom in zip(daughters, moms):
            conj = d if abs(d) in _SELF_CONJUGATE else -d
            out.append(_Particles(np.where(anti[sel], conj, d).astype(np.int64), mom, par.event[sel],
                                  pos[sel], t0[sel]))
    return _Particles.concat(out)


_DECAYABLE = np.zeros(max(DECAYS) + 1, bool)
_DECAYABLE[list(DECAYS)] = True


def _decay_all(par: _Particles, rng: np.random.Generator) -> _Particles:
    """Decay everything in :data:`DECAYS` (chains such as Ω → Ξ → Λ → p π need a few rounds;
    each round handles only the previous round's decay products)."""
    k0 = np.abs(par.pdg) == 311
    par.pdg[k0] = np.where(rng.random(int(k0.sum())) < 0.5, 310, 130)
    done = []
    for _ in range(8):
        a = np.abs(par.pdg)
        dec = _DECAYABLE[np.minimum(a, len(_DECAYABLE) - 1)] & (a < len(_DECAYABLE))
        if not dec.any():
            return _Particles.concat(done + [par])
        done.append(par.take(np.flatnonzero(~dec)))
        par = _Particles.concat([_decay_species(par.take(np.flatnonzero(a == c)), int(c), rng)
                                 for c in np.unique(a[dec])])
    raise RuntimeError("decay chains did not end after 8 rounds")


# ----------------------------------------------------------------------------- geometry and smearing


def _path_to_exit(start: np.ndarray, u: np.ndarray, cfg: DetectorConfig) -> np.ndarray:
    """Distance [cm] from absolute ``start`` along unit ``u`` to the tracker boundary (0 if outside)."""
    z_lo, z_hi = -cfg.tracker_upstream_cm, cfg.fid_length_cm + cfg.tracker_downstream_cm
    with np.errstate(divide="ignore", invalid="ignore"):
        tz = np.where(u[:, 2] > 0, (z_hi - start[:, 2]) / u[:, 2],
                      np.where(u[:, 2] < 0, (z_lo - start[:, 2]) / u[:, 2], np.inf))
        a = u[:, 0] ** 2 + u[:, 1] ** 2
        b = 2 * (start[:, 0] * u[:, 0] + start[:, 1] * u[:, 1])
        c = start[:, 0] ** 2 + start[:, 1] ** 2 - cfg.tracker_radius_cm**2
        side = np.where(a > 1e-12, (-b + np.sqrt(np.maximum(b * b - 4 * a * c, 0))) / (2 * a), np.inf)
    inside = (c <= 0) & (start[:, 2] >= z_lo) & (start[:, 2] <= z_hi)
    return np.where(inside, np.maximum(np.minimum(tz, side), 0.0), 0.0)


def _smear_direction(u: np.ndarray, sigma: np.ndarray | float, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors ``u`` tilted by Gaussian angles of width ``sigma`` in each transverse projection."""
    if not len(u):
        return u
    g = rng.normal(size=(len(u), 2)) * np.broadcast_to(np.asarray(sigma, dtype=np.float64), (len(u),))[:, None]
    return rotate_from_z(_unit(np.column_stack([g, np.ones(len(u))])), u)


def highland(p: np.ndarray, beta: np.ndarray, x_cm: np.ndarray, x0_cm: float) -> np.ndarray:
    """Projected multiple-scattering angle θ0 [rad] (Highland, PDG 2024 eq. 34.16), p in GeV."""
    t = np.maximum(x_cm, 1e-6) / x0_cm
    return np.maximum(0.0136 / np.maximum(beta * p, 1e-9) * np.sqrt(t) * (1 + 0.038 * np.log(t)), 0.0)


def _resolution_smear(e: np.ndarray, sigma_rel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``e`` times a Gamma variate of mean 1 and relative width ``sigma_rel`` (positive, unbiased)."""
    s2 = np.maximum(np.asarray(sigma_rel, dtype=np.float64) ** 2, 1e-12)
    s2 = np.broadcast_to(s2, np.shape(e))
    return np.where(e > 0, e * rng.gamma(1.0 / s2, s2), 0.0)


def _calo_sigma(e: np.ndarray, stochastic: float, constant: float, cap: float) -> np.ndarray:
    """sigma_E / E = stochastic / sqrt(E) (+) constant, at most ``cap``."""
    return np.minimum(np.sqrt(stochastic**2 / np.maximum(e, 1e-9) + constant**2), cap)


def _had_smear(e: np.ndarray, cfg: DetectorConfig, rng: np.random.Generator) -> np.ndarray:
    return _resolution_smear(e, _calo_sigma(e, cfg.had_stochastic, cfg.had_constant, cfg.calo_resolution_cap), rng)


def _em_smear(e: np.ndarray, cfg: DetectorConfig, rng: np.random.Generator) -> np.ndarray:
    return _resolution_smear(e, _calo_sigma(e, cfg.em_stochastic, cfg.em_constant, cfg.calo_resolution_cap), rng)


#: mean and standard deviation of the Moyal distribution (Landau approximation), x = -ln(Z^2), Z ~ N(0, 1)
_MOYAL_MEAN, _MOYAL_STD = 0.5772156649 + math.log(2.0), math.pi / math.sqrt(2.0)


def _landau_factor(sigma_rel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative dE/dx fluctuation: 1 + sigma * standardised Moyal variate, tail truncated at +3 sigma."""
    z = rng.normal(size=np.shape(sigma_rel))
    moyal = (-np.log(np.maximum(z * z, 1e-300)) - _MOYAL_MEAN) / _MOYAL_STD
    return np.maximum(1.0 + sigma_rel * np.minimum(moyal, 3.0), 0.1)


def _clusters(event: np.ndarray, energy: np.ndarray, u: np.ndarray, angle: float) -> np.ndarray:
    """Cluster id (index of the leading member) of every item: items of one event closer than ``angle``
    join the highest-energy such item, and chains follow to the leading one (pointer jumping)."""
    n = len(event)
    if not n:
        return np.zeros(0, np.int64)
    perm = np.lexsort((-energy, event))
    ev, uu = event[perm], u[perm]
    _, first, counts = np.unique(ev, return_index=True, return_counts=True)
    per = np.repeat(counts, counts)
    start = np.repeat(first, counts)
    i = np.repeat(np.arange(n), per)
    j = np.repeat(start, per) + (np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per))
    keep = j < i
    i, j = i[keep], j[keep]
    close = np.sum(uu[i] * uu[j], axis=1) > math.cos(angle)
    parent = np.arange(n)
    np.minimum.at(parent, i[close], j[close])
    while True:
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            break
        parent = nxt
    out = np.empty(n, np.int64)
    out[perm] = perm[parent]
    return out


# ----------------------------------------------------------------------------- tokens


@dataclass
class _Tokens:
    """Tokens of one kind: event, type, energy E, |p|, unit direction, calorimetric energy, extras."""

    event: np.ndarray
    ttype: np.ndarray
    e: np.ndarray
    p: np.ndarray
    u: np.ndarray
    calo: np.ndarray
    extra: np.ndarray

    @staticmethod
    def concat(parts: list[_Tokens]) -> _Tokens:
        return _Tokens(*(np.concatenate([getattr(t, f.name) for t in parts]) for f in fields(_Tokens)))


def _extra(n: int, **cols: np.ndarray) -> np.ndarray:
    out = np.zeros((n, len(EXTRA)))
    for k, v in cols.items():
        out[:, EXTRA.index(k)] = v
    return out


@dataclass
class _Leftover:
    """Visible energy that forms no token: event, energy [GeV], unit direction."""

    event: list
    e: list
    u: list

    def add(self, event: np.ndarray, e: np.ndarray, u: np.ndarray) -> None:
        self.event.append(event)
        self.e.append(e)
        self.u.append(u)


def _pid(dedx: np.ndarray, length: np.ndarray, stop: np.ndarray, t_cal: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """ln(L_proton / L_pion) of a measured mean dE/dx [MeV/cm] over ``length``.

    Expected dE/dx per hypothesis: T(L)/L of a particle that stops after L (stopping tracks), or the
    mean over the first L cm for a particle starting with the calorimetric kinetic energy ``t_cal``,
    raised to the energy needed to travel L (a track that did not stop had at least that much).
    Gaussian in ln(dE/dx) with width ``sigma``.
    """
    llr = np.zeros(len(dedx))
    for sign, m in ((1.0, C.M_PROTON), (-1.0, C.M_PI_CHARGED)):
        t_stop = kinetic_from_range(length, m)
        t0 = np.maximum(t_cal, t_stop)
        t_after = kinetic_from_range(np.maximum(csda_range(t0, m) - length, 0.0), m)
        lost = np.where(stop, t_stop, t0 - t_after)
        expect = np.maximum(lost, 1e-6) * 1e3 / length
        llr -= sign * 0.5 * (np.log(dedx / expect) / sigma) ** 2
    return np.clip(llr, -50.0, 50.0)


def _michel(pdg: np.ndarray, stop: np.ndarray, cfg: DetectorConfig, rng: np.random.Generator) -> np.ndarray:
    """Michel electron found at the end of a stopping track: π+ (→ μ+ → e+), K+, μ+ always decay; μ- is
    captured on carbon 7.7 % of the time (T. Suzuki et al., PRC 35 (1987) 2212); π-, K- and hadrons are captured."""
    decays = np.select([np.isin(pdg, (211, 321, -13)), pdg == 13], [1.0, 0.923], 0.0)
    u = rng.random(len(pdg))
    return stop & ((u < decays * cfg.michel_efficiency) | (rng.random(len(pdg)) < cfg.michel_fake_rate))


def _muon_tokens(par: _Particles, u: np.ndarray, l_avail: np.ndarray, cfg: DetectorConfig,
                 rng: np.random.Generator) -> _Tokens:
    p = _norm(par.p4[:, :3])
    e = np.sqrt(p * p + C.M_MUON**2)
    t = e - C.M_MUON
    n_planes = np.maximum(l_avail / cfg.plane_pitch_cm, 1.0)
    res = np.where(p < cfg.minos_range_p_max, cfg.minos_range_resolution, cfg.minos_curvature_resolution)
    p_meas = _resolution_smear(p, res, rng)
    e_meas = np.sqrt(p_meas**2 + C.M_MUON**2)
    sigma = np.hypot(cfg.position_resolution_cm * np.sqrt(12 / n_planes) / np.maximum(l_avail, cfg.plane_pitch_cm),
                     highland(p, p / e, np.minimum(l_avail, cfg.ms_fit_length_cm), cfg.radiation_length_cm))
    u_meas = _smear_direction(u, sigma, rng)
    length = np.maximum(l_avail, cfg.plane_pitch_cm)
    r0 = csda_range(t, C.M_MUON)
    t_after = kinetic_from_range(np.maximum(r0 - length, 0.0), C.M_MUON)
    sig_rel = cfg.dedx_plane_width / np.sqrt(n_planes)
    dedx = (t - t_after) * 1e3 / length * _landau_factor(sig_rel, rng)
    llr = _pid(dedx, length, np.zeros(len(p), bool), e_meas - C.M_MUON, np.hypot(sig_rel, cfg.pid_model_width))
    flip = rng.random(len(p)) < cfg.muon_charge_misid
    q = -np.sign(par.pdg) * np.where(flip, -1.0, 1.0)
    time = par.t0 + rng.normal(size=len(p)) * cfg.hit_time_resolution_ns / np.sqrt(n_planes)
    extra = _extra(len(p), dedx=dedx, vertex_dist=_norm(par.pos), length=length, time=time,
                   pid_proton=1 / (1 + np.exp(-llr)), charge=q)
    return _Tokens(par.event, np.full(len(p), MUON), e_meas, p_meas, u_meas, e_meas, extra)


def _prong_tokens(par: _Particles, mass: np.ndarray, u: np.ndarray, l_avail: np.ndarray, cfg: DetectorConfig,
                  rng: np.random.Generator, left: _Leftover) -> tuple[_Tokens, np.ndarray]:
    """Tracks from charged particles (and the leftover energy of those below threshold); also
    returns every particle's Michel flag (sub-threshold stopping π+ make Michels too)."""
    n = len(par.pdg)
    a = np.abs(par.pdg)
    t = np.maximum(par.p4[:, 3] - mass, 0.0)
    p = np.sqrt(t * (t + 2 * mass))
    heavy = (a == 2212) | (a >= 1_000_000_000)  # (anti)protons and nuclear fragments
    t_min = np.select([heavy, a == 321], [cfg.proton_t_min, cfg.kaon_t_min], cfg.pion_t_min)
    lam = np.select([a == 13, np.isin(a, (211, 321))], [np.inf, cfg.pion_lambda_cm], cfg.proton_lambda_cm)
    r = csda_range(t, mass)
    d_int = rng.exponential(size=n) * lam
    length = np.minimum(np.minimum(r, d_int), l_avail)
    stop = (r <= d_int) & (r <= l_avail)
    t_after = np.where(stop, 0.0, kinetic_from_range(np.maximum(r - length, 0.0), mass))
    deposit = np.where((a == 13) & ~stop & (l_avail < d_int), t - t_after, t)  # exiting muons leave energy behind
    michel = _michel(par.pdg, stop & (l_avail > 0), cfg, rng)
    tracked = (t > t_min) & (rng.random(n) < cfg.track_efficiency) & (length >= cfg.plane_pitch_cm)
    rest = ~tracked & (l_avail > 0)
    left.add(par.event[rest], deposit[rest], u[rest])
    if not tracked.any():
        return _empty_tokens(), michel
    k = np.flatnonzero(tracked)
    n_planes = np.maximum(length[k] / cfg.plane_pitch_cm, 1.0)
    sigma = np.hypot(cfg.position_resolution_cm * np.sqrt(12 / n_planes) / length[k],
                     highland(p[k], p[k] / (t[k] + mass[k]), np.minimum(length[k], cfg.ms_fit_length_cm),
                              cfg.radiation_length_cm))
    u_meas = _smear_direction(u[k], sigma, rng)
    dedx_true = (t[k] - t_after[k]) * 1e3 / length[k]
    # prongs whose true directions are closer than prong_merge_angle overlap: one track (led by the highest T)
    lead = _clusters(par.event[k], t[k], u[k], cfg.prong_merge_angle)
    roots, cid = np.unique(lead, return_inverse=True)
    nc = len(roots)
    members = np.bincount(cid, minlength=nc)
    sum_ = lambda w: np.bincount(cid, weights=w, minlength=nc)  # noqa: E731
    t_cal_true, dedx_c = sum_(deposit[k]), sum_(dedx_true)
    length_c = np.zeros(nc)
    np.maximum.at(length_c, cid, length[k])
    michel_c = sum_(michel[k].astype(float)) > 0
    direction = _unit(np.stack([sum_(t[k] * u_meas[:, i]) for i in range(3)], axis=1))
    stop_c = (members == 1) & sum_(stop[k].astype(float)).astype(bool)
    # measurement
    nplanes_c = np.maximum(length_c / cfg.plane_pitch_cm, 1.0)
    l_meas = length_c * (1 + cfg.range_straggling * rng.normal(size=nc)) + cfg.plane_pitch_cm * (rng.random(nc) - 0.5)
    l_meas = np.maximum(l_meas, 0.5 * cfg.plane_pitch_cm)
    sig_rel = cfg.dedx_plane_width / np.sqrt(nplanes_c)
    dedx = dedx_c * _landau_factor(sig_rel, rng)
    t_cal = _had_smear(t_cal_true, cfg, rng)
    llr = _pid(dedx, l_meas, stop_c, t_cal, np.hypot(sig_rel, cfg.pid_model_width))
    ttype = np.where(llr > cfg.pid_llr_cut, PROTON_PRONG, np.where(llr < -cfg.pid_llr_cut, PION_PRONG, OTHER_PRONG))
    m_hyp = np.where(ttype == PROTON_PRONG, C.M_PROTON, C.M_PI_CHARGED)
    t_range = kinetic_from_range(l_meas, m_hyp)
    t_reco = np.where(stop_c, t_range, np.maximum(t_cal, t_range))  # a track that did not stop had at least t_range
    e_reco = t_reco + m_hyp
    p_reco = np.sqrt(t_reco * (t_reco + 2 * m_hyp))
    lead_par = k[roots]  # the leading (highest-T) particle of each prong
    time = par.t0[lead_par] + rng.normal(size=nc) * cfg.hit_time_resolution_ns / np.sqrt(nplanes_c)
    extra = _extra(nc, dedx=dedx, vertex_dist=_norm(par.pos[lead_par]), length=l_meas, time=time,
                   pid_proton=1 / (1 + np.exp(-llr)), michel=michel_c.astype(float))
    return _Tokens(par.event[lead_par], ttype, e_reco, p_reco, direction, t_reco, extra), michel


def _em_tokens(par: _Particles, u: np.ndarray, vtx: np.ndarray, cfg: DetectorConfig, rng: np.random.Generator,
               left: _Leftover) -> _Tokens:
    n = len(par.pdg)
    e = par.p4[:, 3]
    photon = np.abs(par.pdg) == 22
    l_avail = _path_to_exit(vtx[par.event] + par.pos, u, cfg)
    conv = np.where(photon, np.minimum(rng.exponential(size=n) * 9 / 7 * cfg.radiation_length_cm, l_avail), 0.0)
    start = par.pos + conv[:, None] * u
    ok = (e > cfg.em_e_min) & (rng.random(n) < cfg.em_efficiency)
    left.add(par.event[~ok], e[~ok], u[~ok])
    k = np.flatnonzero(ok)
    if not len(k):
        return _empty_tokens()
    lead = _clusters(par.event[k], e[k], u[k], cfg.em_merge_angle)
    roots, cid = np.unique(lead, return_inverse=True)
    nc = len(roots)
    sum_ = lambda w: np.bincount(cid, weights=w, minlength=nc)  # noqa: E731
    e_true = sum_(e[k])
    direction = _unit(np.stack([sum_(e[k] * u[k, i]) for i in range(3)], axis=1))
    lead_par = k[roots]
    e_meas = _em_smear(e_true, cfg, rng)
    u_meas = _smear_direction(direction, cfg.em_angle_resolution, rng)
    dist = np.maximum(_norm(start[lead_par]) + cfg.blob_position_resolution_cm * rng.normal(size=nc), 0)
    n_start = np.where(photon[lead_par], 2.0, 1.0)  # a converted photon starts as an e+e- pair: two MIPs
    start_width = np.full(nc, cfg.dedx_plane_width / math.sqrt(cfg.em_start_planes))
    dedx = n_start * min_ionization() * _landau_factor(start_width, rng)
    t_max = np.maximum(np.log(e_true / cfg.critical_energy), 0.0)
    length = cfg.radiation_length_cm * (t_max + 2.0) * np.exp(0.2 * rng.normal(size=nc))
    time = par.t0[lead_par] + conv[lead_par] / C_CM_PER_NS + cfg.blob_time_resolution_ns * rng.normal(size=nc)
    extra = _extra(nc, dedx=dedx, vertex_dist=dist, length=length, time=time)
    return _Tokens(par.event[lead_par], np.full(nc, EM_BLOB), e_meas, e_meas, u_meas, e_meas, extra)


def _neutral_tokens(par: _Particles, mass: np.ndarray, u: np.ndarray, l_avail: np.ndarray, cfg: DetectorConfig,
                    rng: np.random.Generator, left: _Leftover) -> _Tokens:
    n = len(par.pdg)
    t = np.maximum(par.p4[:, 3] - mass, 0.0)
    beta = _norm(par.p4[:, :3]) / np.maximum(par.p4[:, 3], 1e-12)
    d = rng.exponential(size=n) * cfg.neutral_lambda_cm
    reach = np.where(l_avail > 0, l_avail + cfg.neutral_extra_path_cm, 0.0)
    hit = (d < reach) & (t > 0)
    e_vis = t * rng.beta(cfg.neutral_visible_alpha, cfg.neutral_visible_beta, size=n)
    blob = hit & (e_vis > cfg.neutral_blob_e_min) & (rng.random(n) < cfg.neutral_efficiency)
    rest = hit & ~blob
    left.add(par.event[rest], e_vis[rest], u[rest])
    k = np.flatnonzero(blob)
    if not len(k):
        return _empty_tokens()
    where = par.pos[k] + d[k, None] * u[k] + cfg.blob_position_resolution_cm * rng.normal(size=(len(k), 3))
    dist = _norm(where)
    e_meas = _had_smear(e_vis[k], cfg, rng)
    # extent: a recoil proton carrying the visible energy, within the remaining detector depth
    depth = np.maximum(reach[k] - d[k], cfg.plane_pitch_cm)
    length = np.clip(csda_range(e_vis[k], C.M_PROTON), cfg.plane_pitch_cm, depth)
    tof = d[k] / (np.maximum(beta[k], 1e-3) * C_CM_PER_NS)
    time = par.t0[k] + tof + cfg.blob_time_resolution_ns * rng.normal(size=len(k))
    extra = _extra(len(k), dedx=e_meas * 1e3 / length, vertex_dist=dist, length=length, time=time)
    return _Tokens(par.event[k], np.full(len(k), NEUTRAL_BLOB), e_meas, e_meas, _unit(where), e_meas, extra)


def _aggregate_tokens(left: _Leftover, n_events: int, cfg: DetectorConfig, rng: np.random.Generator) -> _Tokens:
    ev = np.concatenate(left.event) if left.event else np.zeros(0, np.int64)
    e = np.concatenate(left.e) if left.e else np.zeros(0)
    u = np.concatenate(left.u) if left.u else np.zeros((0, 3))
    total = np.bincount(ev, weights=e, minlength=n_events)
    direction = np.stack([np.bincount(ev, weights=e * u[:, i], minlength=n_events) for i in range(3)], axis=1)
    e_meas = _had_smear(total, cfg, rng)
    return _Tokens(np.arange(n_events), np.full(n_events, AGGREGATE), e_meas, e_meas, _unit(direction), e_meas,
                   np.zeros((n_events, len(EXTRA))))


def _empty_tokens() -> _Tokens:
    return _Tokens(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros((0, 3)),
                   np.zeros(0), np.zeros((0, len(EXTRA))))


# ----------------------------------------------------------------------------- features


def _wrap(phi: np.ndarray) -> np.ndarray:
    return (phi + np.pi) % (2 * np.pi) - np.pi


def _features(tok: _Tokens, n_events: int, michel_count: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sort tokens (muon first, then by energy, aggregate last) and compute core and event features."""
    group = np.select([tok.ttype == MUON, tok.ttype == AGGREGATE], [0, 2], 1)
    order = np.lexsort((-tok.e, group, tok.event))
    tok = _Tokens(*(getattr(tok, f.name)[order] for f in fields(_Tokens)))
    counts = np.bincount(tok.event, minlength=n_events)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    u = tok.u
    sin_t = np.hypot(u[:, 0], u[:, 1])
    pt = tok.p * sin_t
    eta = np.arcsinh(u[:, 2] / np.maximum(sin_t, math.sin(THETA_MIN)))
    phi = np.arctan2(u[:, 1], u[:, 0])
    px, py = pt * np.cos(phi), pt * np.sin(phi)
    # azimuth reference: the leading muon, else the visible transverse momentum (aggregate included)
    is_mu = tok.ttype == MUON
    has_mu = (counts > 0) & (tok.ttype[np.minimum(offsets[:-1], max(len(tok.e) - 1, 0))] == MUON)
    first_mu = np.where(has_mu, offsets[:-1], -1)  # muons sort first, the most energetic leading
    sx = np.bincount(tok.event, weights=np.where(is_mu, 0.0, px), minlength=n_events)
    sy = np.bincount(tok.event, weights=np.where(is_mu, 0.0, py), minlength=n_events)
    phi_ref = np.where(has_mu, phi[np.maximum(first_mu, 0)], np.arctan2(sy, sx))
    dphi = _wrap(phi - phi_ref[tok.event])
    empty = tok.e <= 0
    core = np.column_stack([np.where(empty, 0.0, eta), np.where(empty, 0.0, dphi),
                            np.log(np.maximum(pt, LOG_FLOOR)), np.log(np.maximum(tok.e, LOG_FLOOR))])
    # event features
    fm = np.maximum(first_mu, 0)
    e_mu = np.where(has_mu, tok.e[fm], 0.0)
    p_mu = np.where(has_mu, tok.p[fm], 0.0)
    cos_mu = np.where(has_mu, u[fm, 2], 1.0)
    theta_mu = np.arccos(np.clip(cos_mu, -1, 1))
    e_all_mu = np.bincount(tok.event, weights=np.where(is_mu, tok.calo, 0.0), minlength=n_events)
    e_recoil = np.bincount(tok.event, weights=np.where(is_mu, 0.0, tok.calo), minlength=n_events)
    e_nu = e_mu + e_recoil
    q2 = np.where(has_mu, np.maximum(2 * e_nu * (e_mu - p_mu * cos_mu) - C.M_MUON**2, 0.0), 0.0)
    pt_imb = np.hypot(np.bincount(tok.event, weights=px, minlength=n_events),
                      np.bincount(tok.event, weights=py, minlength=n_events))
    n_type = [np.bincount(tok.event[tok.ttype == t], minlength=n_events) for t in range(AGGREGATE)]
    event = np.column_stack([e_all_mu + e_recoil, e_recoil, has_mu, e_mu, p_mu, np.where(has_mu, theta_mu, 0.0),
                             p_mu * np.sqrt(1 - cos_mu**2), np.where(has_mu, tok.extra[fm, EXTRA.index("charge")], 0.0),
                             e_nu, q2, pt_imb, michel_count, *n_type])
    return core, tok.ttype, tok.extra, offsets, event


# ----------------------------------------------------------------------------- entry point


def detector_response(inter: Interactions, config: DetectorConfig | None = None,
                      rng: np.random.Generator | int | None = None) -> EventBlock:
    """Reconstructed-object tokens, event features and truth labels of every event of ``inter``.

    ``inter`` holds the particles leaving the nucleus (after final-state interactions). The
    result is an :class:`~hepfm.data.events.EventBlock` with :func:`labels.neutrino_schema`;
    its provenance records the detector configuration.
    """
    from hepfm.simulate.neutrino.labels import compute_labels, neutrino_schema

    cfg = DetectorConfig() if config is None else config
    if not isinstance(cfg, DetectorConfig):
        raise InputError("config", f"expected a DetectorConfig, got {type(cfg).__name__}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    labels = compute_labels(inter)  # checks ``inter`` first
    n = len(inter)
    lep_pdg = np.asarray(inter.lepton_pdg, dtype=np.int64)
    visible_lepton = ~np.isin(np.abs(lep_pdg), (12, 14, 16)) & (lep_pdg != 0)
    lep = np.flatnonzero(visible_lepton)
    m = len(inter.pdg)
    par = _Particles(
        np.concatenate([np.asarray(inter.pdg, dtype=np.int64), lep_pdg[lep]]),
        np.concatenate([np.asarray(inter.p4, dtype=np.float64), np.asarray(inter.lepton_p4, dtype=np.float64)[lep]]),
        np.concatenate([inter.particle_event, lep]).astype(np.int64),
        np.zeros((m + len(lep), 3)), np.zeros(m + len(lep)))
    par = _decay_all(par, rng)
    # vertex in the fiducial volume: uniform in the cylinder
    r = cfg.fid_radius_cm * np.sqrt(rng.random(n))
    phi_v = rng.uniform(0, 2 * np.pi, n)
    vtx = np.column_stack([r * np.cos(phi_v), r * np.sin(phi_v), rng.uniform(0, cfg.fid_length_cm, n)])

    a = np.abs(par.pdg)
    q = C.pdg_charge(par.pdg)
    mass = particle_mass(par.pdg, par.p4)
    u = _unit(par.p4[:, :3])
    l_avail = _path_to_exit(vtx[par.event] + par.pos, u, cfg)
    p = _norm(par.p4[:, :3])
    invisible = np.isin(a, (12, 14, 16)) | (a == 0)
    em = np.isin(a, (11, 22))
    theta = np.arccos(np.clip(u[:, 2], -1, 1))
    matched = (a == 13) & (theta < cfg.minos_theta_max) & (p > cfg.minos_p_min) & (l_avail > 0)
    charged = (q != 0) & ~em & ~matched & ~invisible
    neutral = (q == 0) & ~em & ~invisible

    left = _Leftover([], [], [])
    sel = lambda mask: np.flatnonzero(mask)  # noqa: E731
    mu_i, ch_i, em_i, nu_i = sel(matched), sel(charged), sel(em), sel(neutral)
    prongs, michel = _prong_tokens(par.take(ch_i), mass[ch_i], u[ch_i], l_avail[ch_i], cfg, rng, left)
    tokens = _Tokens.concat([
        _muon_tokens(par.take(mu_i), u[mu_i], l_avail[mu_i], cfg, rng),
        prongs,
        _em_tokens(par.take(em_i), u[em_i], vtx, cfg, rng, left),
        _neutral_tokens(par.take(nu_i), mass[nu_i], u[nu_i], l_avail[nu_i], cfg, rng, left),
    ])
    tokens = _Tokens.concat([tokens, _aggregate_tokens(left, n, cfg, rng)])
    n_michel = np.bincount(par.event[ch_i][michel], minlength=n)
    core, ttype, extra, offsets, event = _features(tokens, n, n_michel)
    schema = neutrino_schema({"producer": "hepfm.simulate.neutrino.detector", "detector": asdict(cfg)})
    return EventBlock(schema, core, ttype, offsets, extra, event, labels)
