"""Final-state interactions: an intranuclear cascade for pions and nucleons.

Hadrons leave the interaction point (``Interactions.vertex_fm``) and fly in straight lines
through the Woods–Saxon density of the nucleus (:meth:`Nucleus.density`). In a step of length
Δs a hadron scatters with probability 1 − exp(−Δs Σ_N ρ_N σ_hN), ρ_p = ρ Z/A, ρ_n = ρ N/A,
with free hadron–nucleon cross sections:

* π N: measured total cross sections of π⁺p and π⁻p (PDG compilation, the points tabulated
  in Geant4's G4XpipNTotal / G4XpimNTotal), isospin symmetry for π⁰ and for neutrons. The
  elastic part (total minus ππN production) splits into elastic and charge exchange with
  isospin-3/2 / 1/2 weights; its Δ(1232)-resonant part (a Breit–Wigner with
  Γ(q) = Γ₀ (q/q₀)³ (1 + (q₀/β)²)/(1 + (q/β)²), β = 0.3 GeV) can instead be *absorbed* on a
  second nucleon, πNN → NN, with probability P_abs = Γ_A ρ/ρ₀ / (Γ_A ρ/ρ₀ + Γ(q)) — the
  Δ-hole picture of Oset & Salcedo (NPA 468 (1987) 631): an in-medium Δ either decays back
  to πN or is absorbed, with a spreading width ∝ density. Γ_A (``gamma_abs``) is fitted to
  π⁺–¹²C absorption data (Ashery et al., PRC 23 (1981) 2173; DUET, PRC 95 (2017) 045203).
* N N: measured pp and np total cross sections (PDG points, as in Geant4's G4XNNTotalLowE),
  single-pion production NN → NNπ above threshold, elastic angular distributions
  exp(B t) with Cugnon's slopes (J. Cugnon et al., NIM B 111 (1996) 215).

Every collision partner is drawn from the Fermi sea (|p| < k_F, E = √(M²+p²) − E_b, as at
the primary vertex); a collision whose outgoing nucleons land inside the Fermi sea
(|p| < k_F) is Pauli-blocked and does not happen. Four-momentum is conserved exactly in
every collision (partners included), so

    Σ E(out) + Σ E(captured) = Σ E(in) + Σ E(partners from the nucleus)

holds event by event (see :class:`FSIStats`). Nucleons whose kinetic energy falls below
``nucleon_t_min`` stay in the nucleus. Hadrons from DIS start after a formation length
ℓ = cτ₀ p/m (GENIE's defaults cτ₀ = 0.342 fm for pions, 2.3 fm for nucleons). Other hadrons
(kaons, η, photons, ...) are not transported. Events on a free nucleon are left alone.

Everything is vectorised over all hadrons of all events; the only loop is over transport
steps. See docs/neutrino/fsi.md for the validation against data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from hepfm.errors import InputError
from hepfm.simulate.neutrino.constants import (
    GAMMA_DELTA, M_DELTA, M_NEUTRON, M_NUCLEON, M_PI0, M_PI_CHARGED, M_PROTON, NEUTRON, PROTON, pdg_charge, table_mass,
)
from hepfm.simulate.neutrino.hadron_xsec import (
    cm_momentum, cugnon_slope, nucleon_nucleon_xsec, pion_nucleon_xsec, resonant_share,
)
from hepfm.simulate.neutrino.kinematics import boost, mass, random_directions, rotate_from_z, two_body_decay
from hepfm.simulate.neutrino.nucleus import Nucleus
from hepfm.simulate.neutrino.record import CHANNELS, Interactions

#: 1 mb in fm²
MB_TO_FM2 = 0.1
PI_PDGS = (211, -211, 111)
NUCLEON_PDGS = (PROTON, NEUTRON)


@dataclass(frozen=True)
class FSIParams:
    """Parameters of the cascade. The ``scale_*`` factors multiply one kind of collision
    (its cross section), so alternative FSI models can be made; 1 is the nominal model."""

    enabled: bool = True
    step_fm: float = 0.3
    #: pion quasi-elastic (πN → πN, same charges), charge exchange, absorption, ππN production
    scale_pi_qe: float = 1.0
    scale_pi_cex: float = 1.0
    scale_pi_abs: float = 1.0
    scale_pi_inel: float = 1.0
    #: every nucleon–nucleon collision
    scale_nucleon: float = 1.0
    #: Δ absorption (spreading) width at density rho_ref [GeV] below the Δ peak; it falls off as
    #: a Fermi function of the pion kinetic energy, centre abs_t_half, width abs_t_width [GeV].
    #: All three fitted to π⁺–¹²C absorption data (docs/neutrino/fsi.md)
    gamma_abs: float = 0.35
    abs_t_half: float = 0.21
    abs_t_width: float = 0.04
    #: the absorption width scales as (ρ/rho_ref)^abs_density_power
    abs_density_power: float = 1.0
    rho_ref: float = 0.16
    #: weight of a like pair (pp, nn) relative to a pn pair in π absorption (quasi-deuteron dominance)
    like_pair_weight: float = 0.25
    #: nucleons below this kinetic energy [GeV] stay in the nucleus
    nucleon_t_min: float = 0.030
    #: formation length cτ₀ [fm] for pions and nucleons made in these channels
    formation_ct0_pion: float = 0.342
    formation_ct0_nucleon: float = 2.3
    formation_channels: tuple[str, ...] = ("dis",)
    max_steps: int = 2000

    def __post_init__(self) -> None:
        where = "fsi"
        if not 0.01 <= self.step_fm <= 2.0:
            raise InputError(f"{where}.step_fm", f"must lie in [0.01, 2] fm, got {self.step_fm}")
        for name in ("scale_pi_qe", "scale_pi_cex", "scale_pi_abs", "scale_pi_inel", "scale_nucleon",
                     "gamma_abs", "abs_t_half", "abs_t_width", "like_pair_weight", "nucleon_t_min",
                     "formation_ct0_pion",
                     "formation_ct0_nucleon"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise InputError(f"{where}.{name}", f"must be a non-negative number, got {value}")
        if not self.rho_ref > 0:
            raise InputError(f"{where}.rho_ref", f"must be positive, got {self.rho_ref}")
        unknown = set(self.formation_channels) - set(CHANNELS)
        if unknown:
            raise InputError(f"{where}.formation_channels",
                             f"unknown channels {sorted(unknown)}; known {list(CHANNELS)}")
        if self.max_steps < 1:
            raise InputError(f"{where}.max_steps", f"must be at least 1, got {self.max_steps}")


# --------------------------------------------------------------------------- nuclei


@dataclass
class _NucTable:
    """Per-nucleus constants, indexed by a small integer."""

    z: np.ndarray
    a: np.ndarray
    rho_c: np.ndarray  # Woods–Saxon normalisation: ρ(r) = rho_c / (1 + exp((r − R)/a))
    radius: np.ndarray
    diff: np.ndarray
    kf: np.ndarray
    eb: np.ndarray
    rmax: np.ndarray
    rho_mean: np.ndarray  # density-weighted mean density ∫ρ² / ∫ρ

    @classmethod
    def build(cls, nuclei: list[Nucleus]) -> _NucTable:
        r = np.array([n.radius for n in nuclei], dtype=np.float64)
        d = np.array([n.diffuseness for n in nuclei], dtype=np.float64)
        rho_c = np.array([float(n.density(np.array(0.0))) for n in nuclei]) * (1 + np.exp(-r / d))
        return cls(
            z=np.array([n.z for n in nuclei], dtype=np.float64), a=np.array([n.a for n in nuclei], dtype=np.float64),
            rho_c=rho_c, radius=r, diff=d, kf=np.array([n.k_fermi for n in nuclei]),
            eb=np.array([n.e_binding for n in nuclei]), rmax=r + 7.0 * d,
            rho_mean=np.array([_mean_density(n) for n in nuclei]),
        )

    def local_kf(self, rho: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Local Fermi momentum k_F (ρ/⟨ρ⟩)^(1/3): the nucleus's k_F at its mean density."""
        return self.kf[k] * np.cbrt(rho / self.rho_mean[k])

    def density(self, r: np.ndarray, k: np.ndarray) -> np.ndarray:
        return self.rho_c[k] / (1.0 + np.exp(np.minimum((r - self.radius[k]) / self.diff[k], 700.0)))


def _mean_density(nucleus: Nucleus) -> float:
    r = np.linspace(0.0, nucleus.radius + 10 * nucleus.diffuseness, 2001)
    rho = nucleus.density(r)
    return float(np.sum(rho**2 * r**2) / np.sum(rho * r**2))


# --------------------------------------------------------------------------- bookkeeping


@dataclass
class FSIStats:
    """Per-event accounting of a cascade (arrays over events).

    ``e_in``/``q_in``: energy [GeV] and charge of the transported hadrons entering the cascade;
    ``e_out``/``q_out``: of the hadrons leaving the nucleus; ``e_partner``/``q_partner``: of the
    nucleons taken from the Fermi sea by collisions; ``e_captured``/``q_captured``: of the
    nucleons left in the nucleus; ``p_*`` momenta, ``b_*`` baryon numbers. Exact conservation:
    e_out + e_captured = e_in + e_partner (likewise for charge, momentum and baryon number).
    ``collisions`` counts collisions per kind (see KINDS; "blocked": Pauli-blocked or below
    threshold, so nothing happened).
    """

    e_in: np.ndarray
    e_out: np.ndarray
    e_partner: np.ndarray
    e_captured: np.ndarray
    q_in: np.ndarray
    q_out: np.ndarray
    q_partner: np.ndarray
    q_captured: np.ndarray
    p_in: np.ndarray
    p_out: np.ndarray
    p_partner: np.ndarray
    p_captured: np.ndarray
    b_in: np.ndarray
    b_out: np.ndarray
    b_partner: np.ndarray
    b_captured: np.ndarray
    collisions: dict[str, np.ndarray]
    unfinished: int = 0

    KINDS = ("pi_qe", "pi_cex", "pi_abs", "pi_inel", "nn_el", "nn_inel", "blocked")


def _baryon(pdg: np.ndarray) -> np.ndarray:
    return np.isin(pdg, NUCLEON_PDGS).astype(np.float64)


def _pion_pdg(charge: np.ndarray) -> np.ndarray:
    return np.select([charge > 0, charge < 0], [211, -211], 111).astype(np.int32)


def _pion_mass(charge: np.ndarray) -> np.ndarray:
    return np.where(charge == 0, M_PI0, M_PI_CHARGED)


def _nucleon_pdg(charge: np.ndarray) -> np.ndarray:
    return np.where(charge > 0, PROTON, NEUTRON).astype(np.int32)


def _nucleon_mass(charge: np.ndarray) -> np.ndarray:
    return np.where(charge > 0, M_PROTON, M_NEUTRON)


class _Acc:
    """Collects per-owner sums (energy, charge, baryon number, momentum) of rows added in several places."""

    def __init__(self, n_owner: int) -> None:
        self.n = n_owner
        self.e = np.zeros(n_owner)
        self.q = np.zeros(n_owner)
        self.b = np.zeros(n_owner, np.int64)
        self.p = np.zeros((n_owner, 3))

    def add(self, owner: np.ndarray, p4: np.ndarray, charge: np.ndarray, baryon: np.ndarray) -> None:
        if len(owner):
            self.e += np.bincount(owner, p4[:, 3], self.n)
            self.q += np.bincount(owner, charge, self.n)
            self.b += np.bincount(owner, baryon, self.n).astype(np.int64)
            for i in range(3):
                self.p[:, i] += np.bincount(owner, p4[:, i], self.n)


# --------------------------------------------------------------------------- collisions


@dataclass
class _Products:
    """Result of a group of collisions: which succeeded, the new state of the projectile row,
    extra hadrons (with the index of the row they came from) and the partners used."""

    ok: np.ndarray
    new_pdg: np.ndarray
    new_p4: np.ndarray
    extra_from: np.ndarray
    extra_pdg: np.ndarray
    extra_p4: np.ndarray
    partner_from: np.ndarray
    partner_p4: np.ndarray
    partner_q: np.ndarray


def _fermi(kf: np.ndarray, eb: np.ndarray, charge: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Four-momenta of Fermi-sea nucleons of ``charge`` (|p| < kf, off shell: E = √(M²+p²) − E_b)."""
    n = len(kf)
    p = kf * rng.random(n) ** (1.0 / 3.0)
    p3 = p[:, None] * random_directions(n, rng)
    e = np.sqrt(_nucleon_mass(charge) ** 2 + p**2) - eb
    return np.concatenate([p3, e[:, None]], axis=1)


def _cm_directions(proj: np.ndarray, total: np.ndarray, cos_t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors in the c.m. frame of ``total`` at polar angle acos(cos_t) to the projectile's c.m. direction."""
    beta = total[:, :3] / total[:, 3:4]
    axis = boost(proj, -beta)[:, :3]
    norm = np.linalg.norm(axis, axis=1, keepdims=True)
    axis = np.where(norm > 1e-12, axis / np.maximum(norm, 1e-300), np.array([[0.0, 0.0, 1.0]]))
    phi = rng.uniform(0, 2 * np.pi, len(cos_t))
    sin_t = np.sqrt(np.clip(1 - cos_t**2, 0.0, 1.0))
    local = np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=1)
    return rotate_from_z(local, axis)


def _cos_delta(b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """cos θ from a density ∝ 1 + b cos²θ on [−1, 1] (b ≥ 0), by vectorised rejection."""
    out = np.empty(len(b))
    todo = np.arange(len(b))
    while len(todo):
        c = rng.uniform(-1, 1, len(todo))
        keep = rng.random(len(todo)) * (1 + b[todo]) < 1 + b[todo] * c**2
        out[todo[keep]] = c[keep]
        todo = todo[~keep]
    return out


def _cos_slope(b: np.ndarray, pcm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """cos θ with dσ/dt ∝ exp(B t), t = −2 p*² (1 − cos θ), by inverting the cumulative."""
    tmax = 4 * pcm**2
    bt = b * tmax
    u = rng.random(len(b))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        t = np.where(bt > 1e-6, -np.log1p(-u * (1 - np.exp(-bt))) / np.where(b > 0, b, 1.0), u * tmax)
    return np.clip(1 - 2 * t / np.maximum(tmax, 1e-300), -1.0, 1.0)


def _bw_mass(lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Masses from the Δ(1232) Breit–Wigner truncated to [lo, hi]."""
    half = 0.5 * GAMMA_DELTA
    a, b = np.arctan((lo - M_DELTA) / half), np.arctan((hi - M_DELTA) / half)
    return M_DELTA + half * np.tan(a + rng.random(len(lo)) * (b - a))


def _two_body(total: np.ndarray, proj: np.ndarray, m1: np.ndarray, m2: np.ndarray, cos_t: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    dirs = _cm_directions(proj, total, cos_t, rng)
    return two_body_decay(total, m1, m2, rng, directions=dirs)


def _blocked(p4: np.ndarray, kf: np.ndarray) -> np.ndarray:
    return np.sum(p4[:, :3] ** 2, axis=1) < kf**2


def _three_body(total: np.ndarray, proj: np.ndarray, m_lead: np.ndarray, m_a: np.ndarray, m_b: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """total → lead + X(m), X → a + b, with m from the Δ Breit–Wigner; returns (ok, lead, a, b)."""
    w = mass(total)
    lo, hi = m_a + m_b, w - m_lead
    ok = hi > lo + 1e-6
    m_x = _bw_mass(lo, np.maximum(hi, lo + 1e-6), rng)
    lead, x = _two_body(total, proj, m_lead, m_x, rng.uniform(-1, 1, len(w)), rng)
    a, b = two_body_decay(x, m_a, m_b, rng)
    return ok, lead, a, b


_PI_COMBOS = {  # total charge → allowed (π1, π2, N) charges of π N → π π N
    q: np.array([(c1, c2, qn) for c1 in (-1, 0, 1) for c2 in (-1, 0, 1) for qn in (0, 1) if c1 + c2 + qn == q])
    for q in (-1, 0, 1, 2)
}
_NN_COMBOS = {  # total charge → allowed (N1, N2, π) charges of N N → N N π
    q: np.array([(a, b, c) for a in (0, 1) for b in (0, 1) for c in (-1, 0, 1) if a + b + c == q]) for q in (0, 1, 2)
}


def _pick_combo(q: np.ndarray, table: dict[int, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    out = np.zeros((len(q), 3), dtype=np.int64)
    for charge, combos in table.items():  # a handful of total charges
        sel = np.flatnonzero(q == charge)
        out[sel] = combos[rng.integers(0, len(combos), len(sel))]
    return out


def _pion_collisions(kind: np.ndarray, p4: np.ndarray, charge: np.ndarray, partner_p: np.ndarray,
                     partner: np.ndarray, k: np.ndarray, kf: np.ndarray, rows: np.ndarray, res_share: np.ndarray,
                     nuc: _NucTable, params: FSIParams,
                     rng: np.random.Generator) -> _Products:
    """Pions ``p4`` [n] colliding: kind 0 quasi-elastic, 1 charge exchange, 2 absorption, 3 ππN."""
    n = len(kind)
    q1 = partner_p.astype(np.int64)
    n1 = partner
    total = p4 + n1
    ok = np.zeros(n, bool)
    new_pdg = _pion_pdg(charge)
    new_p4 = p4.copy()
    ex_from, ex_pdg, ex_p4 = [], [], []
    pa_from, pa_p4, pa_q = [rows], [n1], [q1]

    # --- πN → πN (kinds 0, 1)
    sc = np.flatnonzero(kind <= 1)
    if len(sc):
        cex = kind[sc] == 1
        c_in, qn_in = charge[sc], q1[sc]
        # charge exchange moves one unit of charge between pion and nucleon
        c_out = np.where(cex, np.where(qn_in == 1, c_in + 1, c_in - 1), c_in)
        qn_out = c_in + qn_in - c_out
        valid = (qn_out >= 0) & (qn_out <= 1) & (np.abs(c_out) <= 1)
        m_pi, m_nuc = _pion_mass(c_out), _nucleon_mass(qn_out)
        good = valid & (mass(total[sc]) > m_pi + m_nuc + 1e-6)
        cos_t = _cos_delta(3.0 * res_share[sc], rng)
        pi_out, n_out = _two_body(total[sc], p4[sc], m_pi, m_nuc, cos_t, rng)
        good &= ~_blocked(n_out, kf[sc])
        idx = sc[good]
        ok[idx] = True
        new_pdg[idx] = _pion_pdg(c_out[good])
        new_p4[idx] = pi_out[good]
        ex_from.append(idx), ex_pdg.append(_nucleon_pdg(qn_out[good])), ex_p4.append(n_out[good])

    # --- π N1 N2 → N N (kind 2): Δ(π N1) + N2, final charge c + q1 + q2 in {0, 1, 2}
    ab = np.flatnonzero(kind == 2)
    if len(ab):
        qd = charge[ab] + q1[ab]
        z, a = nuc.z[k[ab]], nuc.a[k[ab]]
        allow_p = qd + 1 <= 2
        allow_n = qd >= 0
        w_like = params.like_pair_weight
        wp = allow_p * z * np.where(q1[ab] == 0, 1.0, w_like)
        wn = allow_n * (a - z) * np.where(q1[ab] == 1, 1.0, w_like)
        q2 = (rng.random(len(ab)) * (wp + wn) < wp).astype(np.int64)
        n2 = _fermi(kf[ab], nuc.eb[k[ab]], q2, rng)
        qf = qd + q2
        qa = np.minimum(qf, 1)
        qb = qf - qa
        tot = total[ab] + n2
        ma, mb = _nucleon_mass(qa), _nucleon_mass(qb)
        good = (qf >= 0) & (qf <= 2) & (mass(tot) > ma + mb + 1e-6)
        na, nb = _two_body(tot, p4[ab], ma, mb, rng.uniform(-1, 1, len(ab)), rng)
        good &= ~_blocked(na, kf[ab]) & ~_blocked(nb, kf[ab])
        idx = ab[good]
        ok[idx] = True
        new_pdg[idx] = _nucleon_pdg(qa[good])
        new_p4[idx] = na[good]
        ex_from.append(idx), ex_pdg.append(_nucleon_pdg(qb[good])), ex_p4.append(nb[good])
        pa_from.append(rows[idx]), pa_p4.append(n2[good]), pa_q.append(q2[good])

    # --- π N → π π N (kind 3)
    pp = np.flatnonzero(kind == 3)
    if len(pp):
        combo = _pick_combo(charge[pp] + q1[pp], _PI_COMBOS, rng)
        m1, m2, mn = _pion_mass(combo[:, 0]), _pion_mass(combo[:, 1]), _nucleon_mass(combo[:, 2])
        good, lead, pb, nb = _three_body(total[pp], p4[pp], m1, m2, mn, rng)
        good &= ~_blocked(nb, kf[pp])
        idx = pp[good]
        ok[idx] = True
        new_pdg[idx] = _pion_pdg(combo[good, 0])
        new_p4[idx] = lead[good]
        ex_from += [idx, idx]
        ex_pdg += [_pion_pdg(combo[good, 1]), _nucleon_pdg(combo[good, 2])]
        ex_p4 += [pb[good], nb[good]]

    return _finish(ok, new_pdg, new_p4, ex_from, ex_pdg, ex_p4, pa_from, pa_p4, pa_q, rows)


def _nucleon_collisions(kind: np.ndarray, p4: np.ndarray, charge: np.ndarray, partner_p: np.ndarray,
                        partner: np.ndarray, k: np.ndarray, kf: np.ndarray, rows: np.ndarray, nuc: _NucTable,
                        rng: np.random.Generator) -> _Products:
    """Nucleons ``p4`` colliding: kind 0 elastic, 1 NN → NNπ."""
    n = len(kind)
    q2 = partner_p.astype(np.int64)
    n2 = partner
    total = p4 + n2
    ok = np.zeros(n, bool)
    new_pdg = _nucleon_pdg(charge)
    new_p4 = p4.copy()
    ex_from, ex_pdg, ex_p4 = [], [], []

    el = np.flatnonzero(kind == 0)
    if len(el):
        m1, m2 = _nucleon_mass(charge[el]), _nucleon_mass(q2[el])
        w = mass(total[el])
        good = w > m1 + m2 + 1e-9
        pcm = cm_momentum(w, M_NUCLEON, M_NUCLEON)
        p_lab = np.linalg.norm(p4[el, :3], axis=1)
        cos_t = _cos_slope(cugnon_slope(p_lab, charge[el] == q2[el]), pcm, rng)
        a, b = _two_body(total[el], p4[el], m1, m2, cos_t, rng)
        good &= ~_blocked(a, kf[el]) & ~_blocked(b, kf[el])
        idx = el[good]
        ok[idx] = True
        new_p4[idx] = a[good]
        ex_from.append(idx), ex_pdg.append(_nucleon_pdg(q2[el][good])), ex_p4.append(b[good])

    pr = np.flatnonzero(kind == 1)
    if len(pr):
        combo = _pick_combo(charge[pr] + q2[pr], _NN_COMBOS, rng)
        ma, mb, mpi = _nucleon_mass(combo[:, 0]), _nucleon_mass(combo[:, 1]), _pion_mass(combo[:, 2])
        good, lead, nb, pib = _three_body(total[pr], p4[pr], ma, mb, mpi, rng)
        good &= ~_blocked(lead, kf[pr]) & ~_blocked(nb, kf[pr])
        idx = pr[good]
        ok[idx] = True
        new_pdg[idx] = _nucleon_pdg(combo[good, 0])
        new_p4[idx] = lead[good]
        ex_from += [idx, idx]
        ex_pdg += [_nucleon_pdg(combo[good, 1]), _pion_pdg(combo[good, 2])]
        ex_p4 += [nb[good], pib[good]]

    return _finish(ok, new_pdg, new_p4, ex_from, ex_pdg, ex_p4, [rows], [n2], [q2], rows)


def _finish(ok, new_pdg, new_p4, ex_from, ex_pdg, ex_p4, pa_from, pa_p4, pa_q, rows) -> _Products:
    cat = lambda xs, shape: np.concatenate(xs) if xs else np.zeros(shape)  # noqa: E731
    ex_from_local = cat(ex_from, (0,)).astype(np.int64)
    # the first partner of every collision is used only where the collision happened
    first_ok = ok
    pa_rows = np.concatenate([pa_from[0][first_ok]] + list(pa_from[1:]))
    pa_p4_all = np.concatenate([pa_p4[0][first_ok]] + list(pa_p4[1:]))
    pa_q_all = np.concatenate([pa_q[0][first_ok]] + list(pa_q[1:]))
    return _Products(ok, new_pdg, new_p4, rows[ex_from_local], cat(ex_pdg, (0,)).astype(np.int32),
                     cat(ex_p4, (0, 4)), pa_rows, pa_p4_all, pa_q_all)


# --------------------------------------------------------------------------- the cascade


@dataclass
class _Cascade:
    """Result of :func:`_run`: hadrons that left the nucleus, and the accounting."""

    pdg: np.ndarray
    p4: np.ndarray
    owner: np.ndarray
    stats: FSIStats


def _run(pos: np.ndarray, p4: np.ndarray, pdg: np.ndarray, owner: np.ndarray, k: np.ndarray, n_owner: int,
         nuc: _NucTable, params: FSIParams, rng: np.random.Generator) -> _Cascade:
    """Transport hadrons (all pions or nucleons) until they leave their nucleus or are captured.

    A hadron at density ρ moves Δs = step_fm · clip(√(ρ_c/ρ), 1, 4) per step (short steps
    inside, longer ones in the surface tail), with the collision probability and the partner
    taken at the middle of the step.
    """
    acc_in, acc_out, acc_partner, acc_capt = (_Acc(n_owner) for _ in range(4))
    acc_in.add(owner, p4, pdg_charge(pdg), _baryon(pdg))
    counts = {kind: np.zeros(n_owner, np.int64) for kind in FSIStats.KINDS}
    out_pdg, out_p4, out_owner = [], [], []
    pos, p4, pdg, owner, k = pos.copy(), p4.copy(), pdg.astype(np.int32), owner.copy(), k.copy()
    step = 0
    while len(pdg) and step < params.max_steps:
        step += 1
        pmag = np.sqrt(np.einsum("ij,ij->i", p4[:, :3], p4[:, :3]))
        direction = p4[:, :3] / np.maximum(pmag, 1e-12)[:, None]
        r2 = np.einsum("ij,ij->i", pos, pos)
        is_n = (pdg == PROTON) | (pdg == NEUTRON)
        m = table_mass(pdg)
        capture = is_n & (p4[:, 3] - m < params.nucleon_t_min)
        leave = (r2 > nuc.rmax[k] ** 2) & (np.einsum("ij,ij->i", pos, direction) > 0) & ~capture
        gone = leave | capture
        if gone.any():
            if leave.any():
                out_pdg.append(pdg[leave]), out_p4.append(p4[leave]), out_owner.append(owner[leave])
            if capture.any():
                acc_capt.add(owner[capture], p4[capture], pdg_charge(pdg[capture]), np.ones(int(capture.sum())))
            keep = ~gone
            pos, p4, pdg, owner, k = pos[keep], p4[keep], pdg[keep], owner[keep], k[keep]
            pmag, direction, is_n, m, r2 = pmag[keep], direction[keep], is_n[keep], m[keep], r2[keep]
            if not len(pdg):
                break
        n = len(pdg)
        charge = pdg_charge(pdg).astype(np.int64)
        rho0 = nuc.density(np.sqrt(r2), k)
        ds = params.step_fm * np.clip(np.sqrt(nuc.rho_c[k] / np.maximum(rho0, 1e-30)), 1.0, 4.0)
        pos = pos + (0.5 * ds)[:, None] * direction  # the middle of the step
        rho = nuc.density(np.sqrt(np.einsum("ij,ij->i", pos, pos)), k)
        frac_p = nuc.z[k] / nuc.a[k]
        # a collision partner from the Fermi sea for every hadron (one momentum, proton or neutron
        # energy); cross sections at the pair's on-shell c.m. energy, rate with the flux factor v_rel / v
        kf = nuc.local_kf(rho, k)
        pf = kf * np.cbrt(rng.random(n))
        pf3 = pf[:, None] * random_directions(n, rng)
        eb = nuc.eb[k]
        e_on = [np.sqrt(mn**2 + pf**2) for mn in (M_PROTON, M_NEUTRON)]
        pdot3 = np.einsum("ij,ij->i", p4[:, :3], pf3)
        sig = np.zeros((n, 8))
        res_share = np.zeros((n, 2))
        pi = np.flatnonzero(~is_n)
        nu = np.flatnonzero(is_n)
        for half, e2 in enumerate(e_on):  # proton, neutron partner
            w = np.sqrt(np.maximum(m**2 + e2**2 - pf**2 + 2 * (p4[:, 3] * e2 - pdot3), 0.0))
            dot = p4[:, 3] * (e2 - eb) - pdot3
            m2p = (e2 - eb) ** 2 - pf**2
            flux = np.sqrt(np.maximum(dot**2 - m**2 * m2p, 0.0)) / np.maximum((e2 - eb) * pmag, 1e-12)
            if len(pi):
                wp = w[pi]
                xs = pion_nucleon_xsec(wp, charge[pi], np.full(len(pi), half == 0), rho[pi] / params.rho_ref,
                                       p4[pi, 3] - m[pi], params)
                sig[pi, 4 * half:4 * half + 4] = xs * (flux[pi] * (wp > M_NUCLEON + M_PI0))[:, None]
                res_share[pi, half] = resonant_share(wp)
            if len(nu):
                t_eq = np.maximum((w[nu] ** 2 - 4 * M_NUCLEON**2) / (2 * M_NUCLEON), 0.0)
                like = charge[nu] == (1 if half == 0 else 0)
                sig[nu, 4 * half:4 * half + 2] = nucleon_nucleon_xsec(t_eq, like, params) * flux[nu, None]
        sig[:, :4] *= (MB_TO_FM2 * rho * frac_p)[:, None]
        sig[:, 4:] *= (MB_TO_FM2 * rho * (1 - frac_p))[:, None]
        lam = sig.sum(axis=1)
        hit = rng.random(n) < -np.expm1(-lam * ds)
        rows = np.flatnonzero(hit)
        if len(rows):
            cum = np.cumsum(sig[rows], axis=1)
            choice = np.minimum((cum < rng.random(len(rows))[:, None] * cum[:, -1:]).sum(axis=1), 7)
            partner_p = choice < 4
            kind = choice % 4
            e_part = np.where(partner_p, e_on[0][rows], e_on[1][rows]) - eb[rows]
            partner = np.concatenate([pf3[rows], e_part[:, None]], axis=1)
            share = np.where(partner_p, res_share[rows, 0], res_share[rows, 1])
            prods = []
            pim = ~is_n[rows]
            if pim.any():
                sel = rows[pim]
                prods.append((sel, kind[pim], _pion_collisions(
                    kind[pim], p4[sel], charge[sel], partner_p[pim], partner[pim], k[sel], kf[sel], sel, share[pim],
                    nuc, params, rng), 0))
            if (~pim).any():
                sel = rows[~pim]
                prods.append((sel, kind[~pim], _nucleon_collisions(
                    kind[~pim], p4[sel], charge[sel], partner_p[~pim], partner[~pim], k[sel], kf[sel], sel, nuc,
                    rng), 4))
            add_pos, add_p4, add_pdg, add_owner, add_k, add_ds = [], [], [], [], [], []
            for sel, knd, pr, base in prods:  # two groups: pions, nucleons
                names = FSIStats.KINDS[:4] if base == 0 else FSIStats.KINDS[4:6]
                for j, name in enumerate(names):
                    counts[name] += np.bincount(owner[sel[pr.ok & (knd == j)]], minlength=n_owner)
                counts["blocked"] += np.bincount(owner[sel[~pr.ok]], minlength=n_owner)
                pdg[sel[pr.ok]] = pr.new_pdg[pr.ok]
                p4[sel[pr.ok]] = pr.new_p4[pr.ok]
                acc_partner.add(owner[pr.partner_from], pr.partner_p4, pr.partner_q, np.ones(len(pr.partner_q)))
                f = pr.extra_from
                add_pos.append(pos[f]), add_p4.append(pr.extra_p4), add_pdg.append(pr.extra_pdg)
                add_owner.append(owner[f]), add_k.append(k[f]), add_ds.append(ds[f])
            pos = np.concatenate([pos] + add_pos)
            p4 = np.concatenate([p4] + add_p4)
            pdg = np.concatenate([pdg] + add_pdg).astype(np.int32)
            owner = np.concatenate([owner] + add_owner)
            k = np.concatenate([k] + add_k)
            ds = np.concatenate([ds] + add_ds)
            pmag = np.sqrt(np.einsum("ij,ij->i", p4[:, :3], p4[:, :3]))
            direction = p4[:, :3] / np.maximum(pmag, 1e-12)[:, None]
        pos = pos + (0.5 * ds)[:, None] * direction  # the second half, in the new direction
    unfinished = len(pdg)
    if unfinished:  # safety net: never reached with sensible parameters
        out_pdg.append(pdg), out_p4.append(p4), out_owner.append(owner)
    o_pdg = np.concatenate(out_pdg) if out_pdg else np.zeros(0, np.int32)
    o_p4 = np.concatenate(out_p4) if out_p4 else np.zeros((0, 4))
    o_owner = np.concatenate(out_owner) if out_owner else np.zeros(0, np.int64)
    acc_out.add(o_owner, o_p4, pdg_charge(o_pdg), _baryon(o_pdg))
    stats = FSIStats(acc_in.e, acc_out.e, acc_partner.e, acc_capt.e, acc_in.q, acc_out.q, acc_partner.q, acc_capt.q,
                     acc_in.p, acc_out.p, acc_partner.p, acc_capt.p, acc_in.b, acc_out.b, acc_partner.b, acc_capt.b,
                     counts, unfinished)
    return _Cascade(o_pdg, o_p4, o_owner, stats)


# --------------------------------------------------------------------------- public API


def apply_fsi(inter: Interactions, nuclei_by_pdg: Mapping[int, Nucleus], params: FSIParams,
              rng: np.random.Generator, return_stats: bool = False) -> Interactions | tuple[Interactions, FSIStats]:
    """The hadrons of ``inter`` after the intranuclear cascade.

    ``nuclei_by_pdg`` maps each nuclear ``target_pdg`` to its :class:`Nucleus` (free-nucleon
    targets need no entry). With ``params.enabled`` false the input is returned unchanged.
    """
    n = len(inter)
    if not params.enabled or n == 0:
        return (inter, _empty_stats(n)) if return_stats else inter
    nuclei, kidx = [], np.full(n, -1, np.int64)
    for code in np.unique(inter.target_pdg):  # a handful of nuclei
        if code in (PROTON, NEUTRON):
            continue
        nucleus = nuclei_by_pdg.get(int(code))
        if nucleus is None:
            raise ValueError(f"apply_fsi: no nucleus given for target_pdg {int(code)}")
        if nucleus.free:
            continue
        kidx[inter.target_pdg == code] = len(nuclei)
        nuclei.append(nucleus)
    if not nuclei:
        return (inter, _empty_stats(n)) if return_stats else inter
    nuc = _NucTable.build(nuclei)
    ev = inter.particle_event
    pdg = inter.pdg.astype(np.int32)
    moving = np.isin(pdg, PI_PDGS + NUCLEON_PDGS) & (kidx[ev] >= 0)
    rows = np.flatnonzero(moving)
    p4 = inter.p4[rows]
    pos = inter.vertex_fm[ev[rows]].astype(np.float64)
    # formation zone: hadrons of the listed channels start ℓ = cτ₀ p / m further along their direction
    codes = [CHANNELS[c] for c in params.formation_channels]
    fz = np.isin(inter.channel[ev[rows]], codes)
    if fz.any():
        pm = np.sqrt(np.sum(p4[:, :3] ** 2, axis=1))
        ct0 = np.where(np.isin(pdg[rows], NUCLEON_PDGS), params.formation_ct0_nucleon, params.formation_ct0_pion)
        length = np.where(fz, ct0 * pm / np.maximum(table_mass(pdg[rows]), 1e-9), 0.0)
        pos = pos + length[:, None] * p4[:, :3] / np.maximum(pm, 1e-12)[:, None]
    casc = _run(pos, p4, pdg[rows], ev[rows], kidx[ev[rows]], n, nuc, params, rng)
    still = np.flatnonzero(~moving)
    out = inter.with_particles(
        np.concatenate([pdg[still], casc.pdg]), np.concatenate([inter.p4[still], casc.p4]),
        np.concatenate([ev[still], casc.owner]),
    )
    return (out, casc.stats) if return_stats else out


def _empty_stats(n: int) -> FSIStats:
    z, z3, zi = np.zeros(n), np.zeros((n, 3)), np.zeros(n, np.int64)
    return FSIStats(z, z, z, z, z, z, z, z, z3, z3, z3, z3, zi, zi, zi, zi,
                    {k: np.zeros(n, np.int64) for k in FSIStats.KINDS})


def hadron_nucleus_xsec(nucleus: Nucleus, pdg: int, t_kin: float, n: int, params: FSIParams | None = None,
                        rng: np.random.Generator | None = None) -> dict[str, float]:
    """Cross sections [mb] of a hadron beam (``pdg``, kinetic energy ``t_kin`` GeV) on ``nucleus``.

    Hadrons come in along +z at impact parameters uniform over a disk of radius r_max (where
    the density has fallen to 10⁻³ of its centre) and are run through the same cascade.
    Outcome classes follow pion-scattering experiments (Ashery et al. 1981): ``absorption``
    (no pion leaves), ``cex`` (one pion of another charge, no other pion), ``inelastic``
    (any other interaction), ``reaction`` (their sum). For nucleon beams only ``reaction``
    is meaningful.
    """
    params = params or FSIParams()
    rng = rng or np.random.default_rng(0)
    if nucleus.free:
        raise InputError("nucleus", "a cascade needs a nucleus with A > 1")
    nuc = _NucTable.build([nucleus])
    rmax = float(nuc.rmax[0])
    b = rmax * np.sqrt(rng.random(n))
    phi = rng.uniform(0, 2 * np.pi, n)
    pos = np.stack([b * np.cos(phi), b * np.sin(phi), -np.sqrt(np.maximum(rmax**2 - b**2, 0.0)) - 1e-6], axis=1)
    m = float(table_mass(np.array([pdg]))[0])
    pz = np.sqrt((t_kin + m) ** 2 - m**2)
    p4 = np.tile([0.0, 0.0, pz, t_kin + m], (n, 1))
    casc = _run(pos, p4, np.full(n, pdg, np.int32), np.arange(n), np.zeros(n, np.int64), n, nuc, params, rng)
    interacted = sum(casc.stats.collisions[kd] for kd in FSIStats.KINDS[:-1]) > 0
    is_pi = np.isin(casc.pdg, PI_PDGS)
    n_pi = np.bincount(casc.owner[is_pi], minlength=n)
    same = np.bincount(casc.owner[is_pi & (casc.pdg == pdg)], minlength=n)
    absorbed = interacted & (n_pi == 0)
    cex = interacted & (n_pi == 1) & (same == 0)
    inelastic = interacted & ~absorbed & ~cex
    area_mb = np.pi * rmax**2 / MB_TO_FM2
    if pdg not in PI_PDGS:
        return {"absorption": float("nan"), "cex": float("nan"), "inelastic": float("nan"),
                "reaction": float(area_mb * interacted.mean())}
    return {
        "absorption": float(area_mb * absorbed.mean()),
        "cex": float(area_mb * cex.mean()),
        "inelastic": float(area_mb * inelastic.mean()),
        "reaction": float(area_mb * interacted.mean()),
    }
