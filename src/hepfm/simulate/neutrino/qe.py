"""Quasi-elastic scattering (channel ``qe``): CC ν_μ n → μ⁻ p, ν̄_μ p → μ⁺ n, NC elastic ν N → ν N.

Free nucleon: C. H. Llewellyn Smith, Phys. Rep. 3 (1972) 261, dσ/dQ² with A, B, C(Q²), the full
lepton mass and the PCAC pseudoscalar form factor; NC elastic uses the same formula with the weak
neutral-current form factors (L. A. Ahrens et al., Phys. Rev. D 35 (1987) 785; T. Leitner, L. Alvarez-Ruso,
U. Mosel, Phys. Rev. C 73 (2006) 065502). Nucleus: the struck nucleon comes from the relativistic
Fermi gas (:meth:`Nucleus.sample_nucleons`, off-shell energy √(M²+p²) − E_b); the outgoing nucleon
is on shell and Pauli blocked. The matrix element is the free one evaluated at the on-shell nucleon
p̃ = (√(M²+p²), p⃗) with the effective energy transfer ω̃ = ω − E_b (Smith & Moniz, Nucl. Phys. B43
(1972) 605). Formulas and numbers: docs/neutrino/qe.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from hepfm.errors import InputError
from hepfm.simulate.neutrino import kinematics as kin
from hepfm.simulate.neutrino.constants import (
    COS_CABIBBO, G_AXIAL, G_F, GEV2_TO_CM2, M_NEUTRON, M_NUCLEON, M_PI_CHARGED, M_PROTON, MASSES, MU_NEUTRON, MU_PROTON,
    NEUTRON, PROTON, SIN2_THETA_W, charged_lepton,
)
from hepfm.simulate.neutrino.nucleus import Nucleus
from hepfm.simulate.neutrino.record import CHANNELS, Interactions, make_interactions

_PROP_A, _PROP_N = 0.6, 3.0  # Q² proposal density ∝ (1 + Q²/a)^-n  [a in GeV²]
_N_XSEC = 6000  # MC points per energy in xsec() for a nucleus
_N_PILOT = 3000  # pilot proposals per energy node for the accept-reject envelope
_MIN_BATCH = 4096  # at least this many proposals per accept-reject round
_SAFETY = 1.5  # envelope = safety × pilot maximum
_XSEC_SEED = 20240607  # xsec() default seed: the same random points at every energy (smooth tables)


@dataclass(frozen=True)
class QEParams:
    """Physics parameters of the QE / NC-elastic model (sources in docs/neutrino/qe.md)."""

    m_a: float = 1.03  # axial dipole mass [GeV] (Bernard, Elouadrhiri, Meissner, J. Phys. G 28 (2002) R1)
    m_v2: float = 0.71  # vector dipole mass² [GeV²]
    g_a: float = G_AXIAL  # F_A(0) (PDG 2024)
    gen: str = "zero"  # neutron electric form factor: "zero" or "galster"
    galster_b: float = 5.6  # Galster et al., Nucl. Phys. B32 (1971) 221
    delta_s: float = 0.0  # strange axial charge G_A^s(0) (Ahrens et al. 1987 fit: -0.15 ± 0.09)
    sin2_theta_w: float = SIN2_THETA_W
    cos_cabibbo: float = COS_CABIBBO

    def __post_init__(self) -> None:
        bad = [(name, ok) for name, ok in (
            ("m_a", 0.3 <= self.m_a <= 3.0), ("m_v2", 0.1 <= self.m_v2 <= 3.0), ("g_a", 0.5 <= self.g_a <= 2.0),
            ("gen", self.gen in ("zero", "galster")), ("galster_b", 0.0 <= self.galster_b <= 20.0),
            ("delta_s", -1.0 <= self.delta_s <= 1.0), ("sin2_theta_w", 0.0 < self.sin2_theta_w < 0.5),
            ("cos_cabibbo", 0.0 < self.cos_cabibbo <= 1.0)) if not ok]
        if bad:
            name = bad[0][0]
            raise InputError(f"QEParams.{name}", f"value {getattr(self, name)!r} out of range")


_FREE = Nucleus("free", 0, 1, 0.0, 0.0)  # a free nucleon at rest (no binding, no Pauli blocking)


class _Channel(NamedTuple):
    nu_pdg: int
    nucleon_pdg: int
    cc: bool
    lepton_pdg: int
    m_l: float
    out_pdg: int
    m_in: float
    m_out: float


def _channel(nu_pdg: int, nucleon_pdg: int, cc: bool) -> _Channel | None:
    """Final state of the reaction; None where the QE cross section vanishes (CC ν p, CC ν̄ n)."""
    if nu_pdg not in (12, -12, 14, -14):
        raise InputError("qe", f"neutrino pdg {nu_pdg} not supported (±12, ±14)")
    if nucleon_pdg not in (PROTON, NEUTRON):
        raise InputError("qe", f"nucleon pdg {nucleon_pdg} is not 2212 or 2112")
    m_in = M_PROTON if nucleon_pdg == PROTON else M_NEUTRON
    if not cc:
        return _Channel(nu_pdg, nucleon_pdg, False, nu_pdg, 0.0, nucleon_pdg, m_in, m_in)
    if (nu_pdg > 0) != (nucleon_pdg == NEUTRON):
        return None
    out = PROTON if nucleon_pdg == NEUTRON else NEUTRON
    lep = charged_lepton(nu_pdg)
    return _Channel(nu_pdg, nucleon_pdg, True, lep, MASSES[abs(lep)], out, m_in,
                    M_PROTON if out == PROTON else M_NEUTRON)


def _sachs_to_dirac_pauli(ge: np.ndarray, gm: np.ndarray, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (ge + tau * gm) / (1 + tau), (gm - ge) / (1 + tau)


def form_factors(q2: np.ndarray, nucleon_pdg: int, cc: bool, params: QEParams) -> tuple[np.ndarray, ...]:
    """(F1, F2, F_A, F_P) at Q² [GeV²]: CC isovector ones (F2 includes ξ = μ_p − μ_n) or NC ones of the nucleon."""
    q2 = np.asarray(q2, dtype=np.float64)
    mn = M_NUCLEON
    tau = q2 / (4 * mn**2)
    gd = 1.0 / (1.0 + q2 / params.m_v2) ** 2
    gen = -MU_NEUTRON * tau * gd / (1 + params.galster_b * tau) if params.gen == "galster" else 0.0 * gd
    f1p, f2p = _sachs_to_dirac_pauli(gd, MU_PROTON * gd, tau)
    f1n, f2n = _sachs_to_dirac_pauli(gen, MU_NEUTRON * gd, tau)
    ga = params.g_a / (1.0 + q2 / params.m_a**2) ** 2
    if cc:  # CVC: isovector vector current; PCAC: F_P = 2 M² F_A / (m_π² + Q²)
        return f1p - f1n, f2p - f2n, ga, 2 * mn**2 * ga / (M_PI_CHARGED**2 + q2)
    gs = params.delta_s / (1.0 + q2 / params.m_a**2) ** 2
    cv = 0.5 - 2 * params.sin2_theta_w
    if nucleon_pdg == PROTON:  # strange vector form factors are taken as zero
        return cv * f1p - 0.5 * f1n, cv * f2p - 0.5 * f2n, 0.5 * ga - 0.5 * gs, 0.0 * q2
    return cv * f1n - 0.5 * f1p, cv * f2n - 0.5 * f2p, -0.5 * ga - 0.5 * gs, 0.0 * q2


def _dsigma(q2: np.ndarray, s_u: np.ndarray, pk: np.ndarray, ch: _Channel, params: QEParams) -> np.ndarray:
    """Llewellyn Smith dσ/dQ² [GeV⁻⁴] = G²cos²θ_C M⁴/(8π (p·k)²) [A ± B (s−u)/M² + C (s−u)²/M⁴]."""
    f1, f2, fa, fp = form_factors(q2, ch.nucleon_pdg, ch.cc, params)
    m2, ml2 = ch.m_in**2, ch.m_l**2
    tau = q2 / (4 * m2)
    a = (ml2 + q2) / m2 * (
        (1 + tau) * fa**2 - (1 - tau) * f1**2 + tau * (1 - tau) * f2**2 + 4 * tau * f1 * f2
        - ml2 / (4 * m2) * ((f1 + f2) ** 2 + (fa + 2 * fp) ** 2 - (q2 / m2 + 4) * fp**2))
    b = q2 / m2 * fa * (f1 + f2)
    c = 0.25 * (fa**2 + f1**2 + tau * f2**2)
    sign = 1.0 if ch.nu_pdg > 0 else -1.0
    bracket = np.maximum(a + sign * b * s_u / m2 + c * s_u**2 / m2**2, 0.0)
    coup = G_F * params.cos_cabibbo if ch.cc else G_F
    return coup**2 * m2**2 * bracket / (8 * np.pi * pk**2)


def _q2_limits(s: np.ndarray, pk: np.ndarray, ch: _Channel) -> tuple[np.ndarray, ...]:
    """Q² range of 2 → 2 scattering at s (initial p·k = pk); also CM energies and the threshold mask."""
    rs = np.sqrt(s)
    ok = rs > ch.m_l + ch.m_out
    e_nu = pk / rs  # (s − p²)/(2√s)
    e_l = (s + ch.m_l**2 - ch.m_out**2) / (2 * rs)
    p_l = kin.two_body_momentum(rs, ch.m_l, ch.m_out)
    lo = np.maximum(2 * e_nu * (e_l - p_l) - ch.m_l**2, 0.0)
    hi = np.where(ok, 2 * e_nu * (e_l + p_l) - ch.m_l**2, lo)
    return lo, hi, ok, e_nu, e_l, p_l


def dxsec_dq2(e_nu: np.ndarray, q2: np.ndarray, nu_pdg: int, nucleon_pdg: int, cc: bool,
              params: QEParams) -> np.ndarray:
    """dσ/dQ² [cm²/GeV²] on a free nucleon at rest (0 outside the kinematic range); arrays broadcast."""
    e, q2 = np.broadcast_arrays(np.asarray(e_nu, np.float64), np.asarray(q2, np.float64))
    ch = _channel(nu_pdg, nucleon_pdg, cc)
    if ch is None:
        return np.zeros(e.shape)
    pk = ch.m_in * e
    s_u = 4 * pk - q2 - ch.m_l**2
    lo, hi, ok, *_ = _q2_limits(ch.m_in**2 + 2 * pk, pk, ch)
    inside = ok & (q2 >= lo) & (q2 <= hi)
    return np.where(inside, _dsigma(np.maximum(q2, 0), s_u, pk, ch, params), 0.0) * GEV2_TO_CM2


def _trial(e: np.ndarray, p_nuc: np.ndarray, u_q: np.ndarray, u_phi: np.ndarray, ch: _Channel,
           nucleus: Nucleus, params: QEParams) -> tuple[np.ndarray, ...]:
    """One proposal per entry: Q² from the proposal density, lepton azimuth 2π u_phi about the CM ν axis.

    Returns (w, Q², lepton p4, outgoing nucleon p4) with E[w] = σ [cm²] over the nucleon momenta,
    u_q and u_phi; w = dσ/dQ² × flux (p·k)/(p⁰E_ν) × (1 − Pauli) / g(Q²).
    """
    n = len(e)
    k = np.zeros((n, 4))
    k[:, 2] = k[:, 3] = e
    ptot = k + p_nuc
    pk = e * (p_nuc[:, 3] - p_nuc[:, 2])
    lo, hi, ok, e_nu_cm, e_l_cm, p_l_cm = _q2_limits(kin.mass2(ptot), pk, ch)
    a, m = _PROP_A, _PROP_N
    vlo, vhi = (1 + lo / a) ** (1 - m), (1 + hi / a) ** (1 - m)
    q2 = a * ((vlo - u_q * (vlo - vhi)) ** (1 / (1 - m)) - 1)
    inv_g = np.where(ok, a * (vlo - vhi) / (m - 1) * (1 + q2 / a) ** m, 0.0)  # 1 / proposal pdf
    with np.errstate(invalid="ignore", divide="ignore"):
        cos_t = np.clip((2 * e_nu_cm * e_l_cm - ch.m_l**2 - q2) / (2 * e_nu_cm * p_l_cm), -1.0, 1.0)
    sin_t, phi = np.sqrt(1 - cos_t**2), 2 * np.pi * u_phi
    dirs = np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=-1)
    beta = ptot[:, :3] / ptot[:, 3:]
    axis = kin.boost(k, -beta)[:, :3]
    lep = kin.boost(kin.four_vector(p_l_cm[:, None] * kin.rotate_from_z(dirs, axis), ch.m_l), beta)
    out = ptot - lep
    # matrix element at the on-shell nucleon with ω̃ = ω − E_b:  Q̃² = Q² + 2ωE_b − E_b²
    eb = nucleus.e_binding
    q2t = np.maximum(q2 + 2 * (e - lep[:, 3]) * eb - eb**2, 0.0)
    s_u = 4 * e * (p_nuc[:, 3] + eb - p_nuc[:, 2]) - q2t - ch.m_l**2
    flux = pk / (p_nuc[:, 3] * e)
    w = _dsigma(q2t, s_u, pk, ch, params) * flux * inv_g * GEV2_TO_CM2
    w = np.where(ok & ~nucleus.pauli_blocked(out), w, 0.0)
    return w, q2, lep, out


def _energies(e_nu: np.ndarray) -> np.ndarray:
    e = np.asarray(e_nu, dtype=np.float64)
    if e.ndim != 1 or not np.all(np.isfinite(e)) or np.any(e < 0):
        raise InputError("qe", "e_nu must be a 1-D array of finite non-negative energies [GeV]")
    return e


def threshold(nu_pdg: int, nucleon_pdg: int, cc: bool, nucleus: Nucleus | None = None) -> float:
    """Lowest E_ν [GeV] with phase space: free nucleon at rest, or (nucleus) k_F head-on with E_b removed."""
    ch = _channel(nu_pdg, nucleon_pdg, cc)
    if ch is None:
        return np.inf
    kf, eb = (0.0, 0.0) if nucleus is None else (nucleus.k_fermi, nucleus.e_binding)
    e0 = np.sqrt(ch.m_in**2 + kf**2) - eb  # s = p² + 2E(e0 + kf) for p⃗ antiparallel to ν
    return float(max(((ch.m_l + ch.m_out) ** 2 - (e0**2 - kf**2)) / (2 * (e0 + kf)), 0.0))


def free_xsec(e_nu: np.ndarray, nu_pdg: int, nucleon_pdg: int, cc: bool, params: QEParams) -> np.ndarray:
    """σ [cm²] on a free nucleon at rest (64-point Gauss–Legendre in the proposal variable)."""
    e = _energies(e_nu)
    ch = _channel(nu_pdg, nucleon_pdg, cc)
    if ch is None or e.size == 0:
        return np.zeros(e.shape)
    x, wgl = np.polynomial.legendre.leggauss(64)
    ee = np.repeat(e, len(x))
    p = np.zeros((len(ee), 4))
    p[:, 3] = ch.m_in
    w, *_ = _trial(ee, p, np.tile(0.5 * (x + 1), len(e)), np.zeros(len(ee)), ch, _FREE, params)
    return (w.reshape(len(e), len(x)) * 0.5 * wgl).sum(axis=1)



def xsec(e_nu: np.ndarray, nu_pdg: int, nucleon_pdg: int, cc: bool, nucleus: Nucleus, params: QEParams,
         rng: np.random.Generator | None = None) -> np.ndarray:
    """σ [cm²] per bound nucleon of type ``nucleon_pdg`` (RFG + binding + Pauli blocking, MC integration).

    The same _N_XSEC random points (nucleon momentum, stratified Q², azimuth) serve every energy, so
    the result is smooth in E_ν (MC spread 0.3–0.7 %). Free nucleon: :func:`free_xsec`.
    """
    e = _energies(e_nu)
    ch = _channel(nu_pdg, nucleon_pdg, cc)
    if nucleus.free or ch is None or e.size == 0:
        return free_xsec(e, nu_pdg, nucleon_pdg, cc, params)
    rng = np.random.default_rng(_XSEC_SEED) if rng is None else rng
    n = _N_XSEC
    p = nucleus.sample_nucleons(nucleon_pdg, n, rng)
    u_q = (rng.permutation(n) + rng.random(n)) / n
    u_phi = rng.random(n)
    out = np.empty(len(e))
    chunk = max(1, 400_000 // n)
    for i in range(0, len(e), chunk):  # a handful of vectorised blocks of energies
        ee = e[i:i + chunk]
        w, *_ = _trial(np.repeat(ee, n), np.tile(p, (len(ee), 1)), np.tile(u_q, len(ee)), np.tile(u_phi, len(ee)),
                       ch, nucleus, params)
        out[i:i + chunk] = w.reshape(len(ee), n).mean(axis=1)
    return out


def _envelope(e: np.ndarray, ch: _Channel, nucleus: Nucleus, params: QEParams,
              rng: np.random.Generator) -> np.ndarray:
    """Per-event upper bound on the trial weight: safety × pilot maximum at the bracketing energy nodes."""
    lo, hi = e.min(), e.max()
    nodes = np.geomspace(lo, hi, int(np.clip(np.ceil(np.log(hi / lo) / np.log(1.1)), 1, 40)) + 1)
    wmax = np.zeros(len(nodes))
    for npilot in (_N_PILOT, 20 * _N_PILOT):
        todo = np.flatnonzero(wmax == 0)
        if todo.size == 0:
            break
        ee = np.repeat(nodes[todo], npilot)
        w, *_ = _trial(ee, nucleus.sample_nucleons(ch.nucleon_pdg, len(ee), rng), rng.random(len(ee)),
                       rng.random(len(ee)), ch, nucleus, params)
        wmax[todo] = w.reshape(len(todo), npilot).max(axis=1)
    j = np.clip(np.searchsorted(nodes, e) - 1, 0, len(nodes) - 1)
    env = _SAFETY * np.maximum(wmax[j], wmax[np.minimum(j + 1, len(nodes) - 1)])
    if np.any(env == 0):
        raise ValueError(f"qe: cross section vanishes (Pauli blocking) at E_nu = {e[env == 0].min():.4f} GeV")
    return env


def sample(e_nu: np.ndarray, nu_pdg: int, nucleon_pdg: int, cc: bool, nucleus: Nucleus, params: QEParams,
           rng: np.random.Generator) -> Interactions:
    """One QE interaction per entry of ``e_nu`` (vectorised accept-reject in Q², nucleon momentum, azimuth)."""
    e = _energies(e_nu)
    ch = _channel(nu_pdg, nucleon_pdg, cc)
    if ch is None:
        raise ValueError(f"qe: no {'CC' if cc else 'NC'} QE reaction for nu {nu_pdg} on nucleon {nucleon_pdg}")
    if nucleus.count(nucleon_pdg) == 0:
        raise InputError("qe", f"nucleus {nucleus.name} has no nucleon {nucleon_pdg}")
    thr = threshold(nu_pdg, nucleon_pdg, cc, nucleus)
    if e.size and e.min() <= thr:
        raise ValueError(f"qe: E_nu = {e.min():.4f} GeV is below the threshold {thr:.4f} GeV")
    n = len(e)
    q2, lep, out, pnuc = np.zeros(n), np.zeros((n, 4)), np.zeros((n, 4)), np.zeros((n, 4))
    env = _envelope(e, ch, nucleus, params, rng) if n else np.zeros(0)
    pending = np.arange(n)
    for _ in range(1000):
        if pending.size == 0:
            break
        ev = np.repeat(pending, -(-_MIN_BATCH // pending.size))  # several proposals per event in the tail
        m = ev.size
        p = nucleus.sample_nucleons(nucleon_pdg, m, rng)
        w, q2_t, lep_t, out_t = _trial(e[ev], p, rng.random(m), rng.random(m), ch, nucleus, params)
        ratio = w / env[ev]
        if ratio.max() > 1:  # envelope too low somewhere: raise it everywhere and start again (exact)
            env *= _SAFETY * ratio.max()
            pending = np.arange(n)
            continue
        acc = np.flatnonzero(rng.random(m) < ratio)
        idx, first = np.unique(ev[acc], return_index=True)  # the first accepted proposal of each event
        t = acc[first]
        q2[idx], lep[idx], out[idx], pnuc[idx] = q2_t[t], lep_t[t], out_t[t], p[t]
        pending = np.setdiff1d(pending, idx, assume_unique=True)
    else:
        raise RuntimeError("qe: accept-reject did not converge")
    k = np.zeros((n, 4))
    k[:, 2] = k[:, 3] = e
    pq = kin.dot(pnuc, k - lep)
    return make_interactions(
        n, nu_pdg=np.full(n, nu_pdg), e_nu=e, target_pdg=np.full(n, nucleus.pdg), nucleon_pdg=np.full(n, nucleon_pdg),
        cc=np.full(n, cc), channel=np.full(n, CHANNELS["qe"]), q2=q2, w=kin.mass(out),
        x=q2 / (2 * pq), y=pq / kin.dot(pnuc, k), lepton_pdg=np.full(n, ch.lepton_pdg), lepton_p4=lep,
        pdg=np.full(n, ch.out_pdg), p4=out, offsets=np.arange(n + 1),
    )
