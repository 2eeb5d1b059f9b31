"""Shallow- and deep-inelastic scattering (channel ``dis``): ν N → ℓ X for W >= w_min.

Leading-order quark-parton model with the Bodek–Yang low-Q² modifications (ξ_w scaling, K factors,
d/u correction; A. Bodek, U. K. Yang, J. Phys. G29 (2003) 1899, hep-ex/0308007 and hep-ph/0411202)
on CTEQ5L parton densities (:mod:`.pdf`), Cabibbo mixing, charm production with the charm mass in
ξ_w (slow rescaling), CC and NC (couplings from sin²θ_W), and the full lepton-mass cross section

  d²σ/dxdy = G_F² M E/π · P(Q²) · [(xy² + m²y/2ME) F1 + (1 − m²/4E² − (1 + Mx/2E) y) F2
             ± (xy(1 − y/2) − m²y/4ME) F3 − (m²/ME) F5],   P = M_V⁴/(Q² + M_V²)²

(S. Kretzer, M. H. Reno, Phys. Rev. D66 (2002) 113007), with F2 = 2Σ c_q K_q ξq(ξ_w),
xF3 = 2Σ ±c'_q K_q ξq(ξ_w), 2xF1 = F2 (1 + 4M²x²/Q²)/(1 + R), F5 = F2/2x (Albright–Jarlskog).
Kinematics are sampled in (W, ln ν) with accept-reject in the struck nucleon's rest frame (Fermi
motion and binding from :class:`Nucleus`; no Pauli blocking, no nuclear modification of the
structure functions); hadrons come from :mod:`.hadronization`. Formulas, parameters and measured numbers:
docs/neutrino/dis.md.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hepfm.errors import InputError
from hepfm.simulate.neutrino import kinematics as kin
from hepfm.simulate.neutrino import pdf
from hepfm.simulate.neutrino.constants import (
    COS_CABIBBO, M_NEUTRON, M_PROTON, MASSES, NEUTRON, PROTON, SIN2_THETA_W, charged_lepton,
)
from hepfm.simulate.neutrino.hadronization import AGKYParams, agky_hadronize, pythia_hadronize
from hepfm.simulate.neutrino.nucleus import Nucleus
from hepfm.simulate.neutrino.record import CHANNELS, Interactions, make_interactions

_SAFETY = 1.25  # accept-reject envelope = safety × scanned maximum
_N_GL_W, _N_GL_U = 40, 32  # Gauss–Legendre nodes for the (W, ln ν) integral
_ENV_NODES, _ENV_GRID = 64, 41  # energies of the envelope table; (W, ln ν) scan per energy
_XS_NODES = 240  # energies of the σ table used for bound nucleons
_N_FERMI = 4000  # Fermi-sea samples per energy in xsec()
_XSEC_SEED = 20240611
_Q2_FLOOR = 1e-6  # GeV²; Q² >= max(q2_min, this) (x = 0 is excluded for NC)


#: GENIE's Pythia8Hadro2019 defaults (NUX tune, A. Rubbia, NuInt01; s-sbar re-tuned for AGKY, GENIE
#: DocDB 890), in Pythia 8 names; GENIE's PARJ(21) = 0.44 is the string p_T width StringPT:sigma here.
GENIE_PYTHIA_TUNE = (
    "StringFlav:probStoUD = 0.30", "StringPT:sigma = 0.44", "StringPT:enhancedFraction = 0.01",
    "StringFragmentation:stopMass = 0.20", "StringFlav:probQQtoQ = 0.10", "StringFlav:mesonUDvector = 0.50",
    "StringFlav:mesonSvector = 0.60", "StringZ:aLund = 0.30", "StringZ:bLund = 0.58", "StringZ:aExtraDiquark = 0.50",
)


@dataclass(frozen=True)
class DISParams:
    """Parameters of the DIS model (defaults and sources: docs/neutrino/dis.md)."""

    w_min: float = 1.4  # GeV; DIS covers W >= w_min (RES below)
    q2_min: float = 0.0  # GeV²; lower Q² cut on top of the kinematic limit
    w_pythia: float = 2.0  # GeV; Pythia string fragmentation above, AGKY/KNO below
    w_pythia_ramp: float = 0.0  # GeV; P(Pythia) rises linearly over [w_pythia, w_pythia + ramp] (GENIE: 2.3, 0.7)
    bodek_yang: bool = True  # ξ_w scaling and d/u correction; False = plain LO QPM in Bjorken x
    k_factors: str = "relative"  # BY K factors: "relative" (K(Q²)/K(Q0²) below Q0²), "absolute", "none"
    by_a: float = 0.538  # Bodek–Yang (NuInt04, GRV98-LO fit; as in GENIE BYStrucFunc.xml)
    by_b: float = 0.305
    by_cs_u: float = 0.363
    by_cs_d: float = 0.621
    by_cv1_u: float = 0.291
    by_cv2_u: float = 0.189
    by_cv1_d: float = 0.202
    by_cv2_d: float = 0.255
    by_du: tuple[float, float, float] = (-0.00817, 0.0506, 0.0798)  # δ(d/u) = X0 + X1 x + X2 x²
    pdf_q2_min: float = 0.8  # GeV²; PDFs frozen below (Bodek–Yang Q0²; CTEQ5L itself stops at 1.21)
    r_model: str = "whitlow"  # R = σ_L/σ_T: "whitlow" (R1990 + BY low-Q² form) or "zero" (Callan–Gross)
    charm: bool = True  # charm production (d, s -> c)
    m_charm: float = 1.3  # GeV, in ξ_w (slow rescaling)
    w_charm_min: float = 2.6  # GeV; no charm below (c+uu strings need Σc++ π at 2.59; D N at 2.81)
    sin2_theta_w: float = SIN2_THETA_W
    cos_cabibbo: float = COS_CABIBBO
    xsec_scale: float = 1.0  # overall factor on σ (tuning knob; 1 = model as is)
    agky: AGKYParams = AGKYParams()
    pythia_tau0_max_mm: float = 10.0  # Pythia decays particles with cτ0 below this (π0 always stable)
    pythia_tune: tuple[str, ...] = GENIE_PYTHIA_TUNE  # string-fragmentation parameters (GENIE's defaults)
    pythia_settings: tuple[str, ...] = ()  # extra Pythia settings lines (applied last)

    def __post_init__(self) -> None:
        for name in ("by_du", "pythia_tune", "pythia_settings"):  # hashable (parameters key the caches)
            object.__setattr__(self, name, tuple(getattr(self, name)))
        checks = (
            ("w_min", 1.08 < self.w_min < 10.0), ("q2_min", 0.0 <= self.q2_min < 100.0),
            ("w_pythia", 1.5 <= self.w_pythia <= 20.0), ("w_pythia_ramp", 0.0 <= self.w_pythia_ramp <= 10.0),
            ("pdf_q2_min", 0.1 <= self.pdf_q2_min <= 10.0), ("r_model", self.r_model in ("whitlow", "zero")),
            ("k_factors", self.k_factors in ("relative", "absolute", "none")), ("m_charm", 1.0 <= self.m_charm <= 2.0),
            ("w_charm_min", 2.3 <= self.w_charm_min <= 10.0), ("sin2_theta_w", 0.0 < self.sin2_theta_w < 0.5),
            ("cos_cabibbo", 0.9 < self.cos_cabibbo <= 1.0), ("xsec_scale", 0.0 < self.xsec_scale < 10.0),
            ("pythia_tau0_max_mm", 0.0 <= self.pythia_tau0_max_mm <= 1e4), ("by_du", len(self.by_du) == 3),
            ("by_a", min(self.by_a, self.by_b, self.by_cs_u, self.by_cs_d, self.by_cv1_u, self.by_cv2_u,
                         self.by_cv1_d, self.by_cv2_d) >= 0.0),
        )
        for name, ok in checks:
            if not ok:
                raise InputError(f"DISParams.{name}", f"value {getattr(self, name)!r} out of range")

    def pythia_lines(self) -> tuple[str, ...]:
        """Pythia settings on top of the fixed hadron-level-only setup."""
        tau = f"ParticleDecays:tau0Max = {self.pythia_tau0_max_mm}"
        return (tau,) + tuple(self.pythia_tune) + tuple(self.pythia_settings)


# ----------------------------------------------------------------------------- kinematic region


def _lepton_mass(nu_pdg: int, cc: bool) -> float:
    if abs(nu_pdg) not in (12, 14):
        raise InputError("dis", f"neutrino pdg {nu_pdg} not supported (±12, ±14)")
    return MASSES[abs(charged_lepton(nu_pdg))] if cc else 0.0


def _check(nu_pdg: int, nucleon_pdg: int, cc: bool) -> float:
    if nucleon_pdg not in (PROTON, NEUTRON):
        raise InputError("dis", f"nucleon pdg {nucleon_pdg} is not 2212 or 2112")
    return _lepton_mass(nu_pdg, cc)


def _ln_nu_range(w, s, m, m_l, q2_min):
    """ln ν limits at hadronic mass W for invariant s and nucleon mass m (exact lepton kinematics)."""
    rs = np.sqrt(s)
    e_nu = (s - m**2) / (2 * rs)
    e_l = (s + m_l**2 - w**2) / (2 * rs)
    p_l = np.sqrt(np.maximum(e_l**2 - m_l**2, 0.0))
    q2_lo = np.maximum(2 * e_nu * (e_l - p_l) - m_l**2, max(q2_min, _Q2_FLOOR))
    q2_hi = 2 * e_nu * (e_l + p_l) - m_l**2
    ok = (e_l >= m_l) & (q2_hi > q2_lo)
    lo = np.log(np.maximum(w**2 - m**2 + q2_lo, 1e-300) / (2 * m))
    hi = np.log(np.maximum(w**2 - m**2 + np.maximum(q2_hi, q2_lo), 1e-300) / (2 * m))
    return lo, hi, ok


def _density(w, ln_nu, e, m, m_l, nu_pdg, nucleon_pdg, cc, p) -> np.ndarray:
    """d²σ/dW dln ν = d²σ/dxdy · W/ME [cm²/GeV] (``e``, ``m``: ν energy and nucleon mass in its rest frame)."""
    nu = np.exp(ln_nu)
    q2 = 2 * m * nu - w**2 + m**2
    parts = pdf.dsigma_dxdy(q2 / (2 * m * nu), nu / e, q2, w, e, m, m_l, nu_pdg, nucleon_pdg, cc, p)
    return parts.sum(axis=1) * w / (m * e)


def _nucleon_mass(nucleon_pdg: int) -> float:
    return M_PROTON if nucleon_pdg == PROTON else M_NEUTRON


@lru_cache(maxsize=256)
def threshold(nu_pdg: int, nucleon_pdg: int, cc: bool, params: DISParams) -> float:
    """Neutrino energy [GeV] below which DIS (W >= w_min, Q² >= q2_min) vanishes on a free nucleon at rest."""
    m_l, m = _check(nu_pdg, nucleon_pdg, cc), _nucleon_mass(nucleon_pdg)
    lo, hi = ((params.w_min + m_l) ** 2 - m**2) / (2 * m), 1e4
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        ok = _ln_nu_range(np.array([params.w_min]), np.array([m**2 + 2 * m * mid]), m, m_l, params.q2_min)[2][0]
        lo, hi = (lo, mid) if ok else (mid, hi)
    return hi


# ----------------------------------------------------------------------------- cross sections


def free_xsec(e_nu: np.ndarray, nu_pdg: int, nucleon_pdg: int, cc: bool, params: DISParams) -> np.ndarray:
    """σ [cm²] for W >= w_min, Q² >= q2_min on a free nucleon at rest (Gauss–Legendre in W and ln ν)."""
    m_l, m = _check(nu_pdg, nucleon_pdg, cc), _nucleon_mass(nucleon_pdg)
    e = np.atleast_1d(np.asarray(e_nu, dtype=np.float64))
    out = np.zeros(e.shape)
    live = np.flatnonzero(e > threshold(nu_pdg, nucleon_pdg, cc, params))
    if live.size == 0:
        return out
    gw, ww = np.polynomial.legendre.leggauss(_N_GL_W)
    gu, wu = np.polynomial.legendre.leggauss(_N_GL_U)
    for chunk in np.array_split(live, max(1, live.size // 16)):
        ec = e[chunk][:, None, None]
        s = m**2 + 2 * m * ec
        w_hi = np.sqrt(s) - m_l
        half_w = 0.5 * (w_hi - params.w_min)
        w = params.w_min + half_w * (1 + gw[None, :, None])
        lo, hi, ok = _ln_nu_range(w, s, m, m_l, params.q2_min)
        u = lo + 0.5 * (hi - lo) * (1 + gu[None, None, :])
        shape = np.broadcast_shapes(w.shape, u.shape)
        b = [np.broadcast_to(a, shape).ravel() for a in (w, u, ec)]
        f = _density(b[0], b[1], b[2], m, m_l, nu_pdg, nucleon_pdg, cc, params).reshape(shape)
        f = np.where(ok, f * 0.5 * (hi - lo), 0.0)
        out[chunk] = np.einsum("ewu,w,u->e", f, ww, wu) * half_w[:, 0, 0]
    return out


@lru_cache(maxsize=64)
def _xsec_table(nu_pdg: int, nucleon_pdg: int, cc: bool, params: DISParams) -> tuple[np.ndarray, np.ndarray]:
    e_th = threshold(nu_pdg, nucleon_pdg, cc, params)
    e = e_th + np.geomspace(1e-4, 2e3, _XS_NODES)
    return e, free_xsec(e, nu_pdg, nucleon_pdg, cc, params)


def _fermi_factors(e: np.ndarray | float, pn: np.ndarray):
    """For struck nucleons ``pn`` and lab energies ``e``: (M*, E* = p·k/M*, Møller flux factor p·k/(E_p E))."""
    pk = (pn[..., 3] - pn[..., 2]) * e
    m_star = kin.mass(pn)
    return m_star, pk / m_star, pk / (pn[..., 3] * e)


def xsec(e_nu: np.ndarray, nu_pdg: int, nucleon_pdg: int, cc: bool, nucleus: Nucleus, params: DISParams,
         rng: np.random.Generator | None = None) -> np.ndarray:
    """σ [cm²] per bound nucleon: the free σ at the same invariant s, averaged over the Fermi sea with the
    Møller flux factor (no Pauli blocking, no nuclear modification of the structure functions)."""
    if nucleus.free:
        return free_xsec(e_nu, nu_pdg, nucleon_pdg, cc, params)
    _check(nu_pdg, nucleon_pdg, cc)
    rng = np.random.default_rng(_XSEC_SEED) if rng is None else rng
    e = np.atleast_1d(np.asarray(e_nu, dtype=np.float64))
    grid, sig = _xsec_table(nu_pdg, nucleon_pdg, cc, params)
    pn = nucleus.sample_nucleons(nucleon_pdg, _N_FERMI, rng)
    m = _nucleon_mass(nucleon_pdg)
    out = np.empty(e.shape)
    for i, ei in enumerate(e.tolist()):
        m_star, e_star, flux = _fermi_factors(ei, pn)
        e_eff = (m_star**2 + 2 * m_star * e_star - m**2) / (2 * m)
        out[i] = np.mean(np.interp(e_eff, grid, sig, left=0.0) * flux)
    return out


# ----------------------------------------------------------------------------- sampling


@lru_cache(maxsize=64)
def _envelope(nu_pdg: int, nucleon_pdg: int, cc: bool, params: DISParams, e_top: float):
    """Accept-reject bound: safety × max of (W range)(ln ν range) d²σ/dW dln ν, non-decreasing in E."""
    m_l, m = _lepton_mass(nu_pdg, cc), _nucleon_mass(nucleon_pdg)
    e_th = threshold(nu_pdg, nucleon_pdg, cc, params)
    e = e_th + np.geomspace(1e-5, e_top - e_th, _ENV_NODES)
    t = np.linspace(0.0, 1.0, _ENV_GRID)
    s = m**2 + 2 * m * e[:, None, None]
    w_hi = np.sqrt(s) - m_l
    w = params.w_min + (w_hi - params.w_min) * t[None, :, None]
    lo, hi, ok = _ln_nu_range(w, s, m, m_l, params.q2_min)
    u = lo + (hi - lo) * t[None, None, :]
    shape = np.broadcast_shapes(w.shape, u.shape)
    b = [np.broadcast_to(a, shape).ravel() for a in (w, u, e[:, None, None])]
    f = _density(b[0], b[1], b[2], m, m_l, nu_pdg, nucleon_pdg, cc, params).reshape(shape)
    h = np.where(ok, f * (hi - lo) * (w_hi - params.w_min), 0.0).max(axis=(1, 2))
    return e, _SAFETY * np.maximum.accumulate(h)


def _env_at(e_star: np.ndarray, nu_pdg, nucleon_pdg, cc, params: DISParams) -> np.ndarray:
    """Free-nucleon envelope at the table node at or above ``e_star``."""
    top = max(2e3, float(2 ** np.ceil(np.log2(np.max(e_star, initial=1.0) * 1.01))))
    grid, env = _envelope(nu_pdg, nucleon_pdg, cc, params, top)
    return env[np.minimum(np.searchsorted(grid, e_star), len(grid) - 1)]


def _bound(e: np.ndarray, nu_pdg, nucleon_pdg, cc, nucleus: Nucleus, params: DISParams) -> np.ndarray:
    """Per-event bound over the whole Fermi sea: envelope at the largest E*, largest flux and 1/M*² factors."""
    m = _nucleon_mass(nucleon_pdg)
    kf, eb = nucleus.k_fermi, nucleus.e_binding
    ep = np.sqrt(m**2 + kf**2) - eb
    m_star = np.sqrt(max(ep**2 - kf**2, 0.5 * m**2))
    boost = (ep + kf) / m_star  # largest E*/E over the Fermi sea
    return _env_at(e * boost, nu_pdg, nucleon_pdg, cc, params) * (1.0 + kf / m_star) * (m / m_star) ** 2


def nucleus_threshold(nu_pdg: int, nucleon_pdg: int, cc: bool, nucleus: Nucleus, params: DISParams) -> float:
    """Lowest lab energy [GeV] at which some nucleon of the Fermi sea is above the DIS threshold (``sample``
    raises ValueError at or below it); the free-nucleon :func:`threshold` for a free nucleon."""
    if nucleus.free:
        return threshold(nu_pdg, nucleon_pdg, cc, params)
    m, m_l = _nucleon_mass(nucleon_pdg), _lepton_mass(nu_pdg, cc)
    p = np.linspace(0.0, nucleus.k_fermi, 200)
    ep = np.sqrt(m**2 + p**2) - nucleus.e_binding
    m_star2 = ep**2 - p**2
    s_need = (params.w_min + m_l) ** 2
    return float(np.min((s_need - m_star2) / (2 * (ep + p))))


def _sample_kinematics(e_nu, nu_pdg, nucleon_pdg, cc, nucleus, params, rng):
    n = len(e_nu)
    m_l = _lepton_mass(nu_pdg, cc)
    bound = _bound(e_nu, nu_pdg, nucleon_pdg, cc, nucleus, params)
    res = {k: np.zeros(n) for k in ("w", "u", "m_star", "e_star")}
    p_nuc = np.zeros((n, 4))
    m = _nucleon_mass(nucleon_pdg)
    pending, factor, rounds, worst, worst_n = np.arange(n), 3.0, 0, 0.0, 0.0
    while pending.size:
        rounds += 1
        if rounds > 400:
            raise RuntimeError(f"dis: accept-reject did not converge for E = {e_nu[pending[:3]]} GeV")
        k = int(min(max(factor, 1.0), max(1.0, 200_000 / pending.size)))
        idx = np.repeat(pending, k)
        e = e_nu[idx]
        pn = nucleus.sample_nucleons(nucleon_pdg, len(idx), rng)
        m_star, e_star, flux = _fermi_factors(e, pn)
        # nucleons ∝ Fermi sea × their own bound b_n (cheap), then (W, ln ν) against b_n: exact, and
        # the structure functions are only evaluated for the kept nucleons
        if nucleus.free:
            b_n = bound[idx]
        else:
            b_n = _env_at(e_star, nu_pdg, nucleon_pdg, cc, params) * flux * (m / m_star) ** 2
        worst_n = max(worst_n, float(np.max(b_n / bound[idx], initial=0.0)))
        keep = rng.random(len(idx)) * bound[idx] < b_n
        s = m_star**2 + 2 * m_star * e_star
        w_span = np.sqrt(s) - m_l - params.w_min
        w = params.w_min + rng.random(len(idx)) * np.maximum(w_span, 0.0)
        lo, hi, ok = _ln_nu_range(w, s, m_star, m_l, params.q2_min)
        ok &= (w_span > 0) & keep
        u = lo + rng.random(len(idx)) * (hi - lo)
        f = np.zeros(len(idx))
        f[ok] = _density(w[ok], u[ok], e_star[ok], m_star[ok], m_l, nu_pdg, nucleon_pdg, cc, params)
        h = f * w_span * (hi - lo) * flux
        worst = max(worst, float(np.max(np.divide(h, b_n, out=np.zeros_like(h), where=b_n > 0), initial=0.0)))
        acc = ok & (rng.random(len(idx)) * b_n < h)
        ev, first = np.unique(idx[acc], return_index=True)
        j = np.flatnonzero(acc)[first]
        for key, val in (("w", w), ("u", u), ("m_star", m_star), ("e_star", e_star)):
            res[key][ev] = val[j]
        p_nuc[ev] = pn[j]
        factor = 1.5 * k * pending.size / max(len(ev), 1)
        pending = np.setdiff1d(pending, ev, assume_unique=True)
    if worst > 1.0 or worst_n > 1.0 + 1e-12:
        warnings.warn(f"dis: accept-reject bound exceeded (ratios {worst:.3f}, {worst_n:.3f})", RuntimeWarning,
                      stacklevel=3)
    _STATS["envelope_max_ratio"] = max(_STATS.get("envelope_max_ratio", 0.0), worst)
    _STATS["nucleon_bound_max_ratio"] = max(_STATS.get("nucleon_bound_max_ratio", 0.0), worst_n)
    return p_nuc, res


_STATS: dict[str, float] = {}


def diagnostics() -> dict[str, float]:
    """Counters since import: largest h/envelope ratio seen (must stay <= 1) and the hadronisation paths."""
    from hepfm.simulate.neutrino import hadronization

    return {**_STATS, **hadronization._STATS}


def sample(e_nu: np.ndarray, nu_pdg: int, nucleon_pdg: int, cc: bool, nucleus: Nucleus, params: DISParams,
           rng: np.random.Generator) -> Interactions:
    """One DIS interaction per entry of ``e_nu`` (kinematics from d²σ, hadrons from AGKY or Pythia)."""
    m_l = _check(nu_pdg, nucleon_pdg, cc)
    e = np.asarray(e_nu, dtype=np.float64).ravel()
    n = len(e)
    if n == 0:
        return make_interactions(0)
    e_th = nucleus_threshold(nu_pdg, nucleon_pdg, cc, nucleus, params)
    if np.any(~(e > e_th)):
        raise ValueError(f"dis: E_nu = {float(e[~(e > e_th)][0])} GeV is at or below the DIS threshold {e_th:.4f} GeV")
    p_nuc, r = _sample_kinematics(e, nu_pdg, nucleon_pdg, cc, nucleus, params, rng)
    m_star, e_star, w, nu = r["m_star"], r["e_star"], r["w"], np.exp(r["u"])
    q2 = 2 * m_star * nu - w**2 + m_star**2
    x, y = q2 / (2 * m_star * nu), nu / e_star
    # the struck parton, by each channel's share of d²σ at the sampled point
    parts = pdf.dsigma_dxdy(x, y, q2, w, e_star, m_star, m_l, nu_pdg, nucleon_pdg, cc, params)
    cdf = np.cumsum(parts, axis=1)
    chan = np.minimum(((rng.random(n) * cdf[:, -1])[:, None] > cdf).sum(axis=1), parts.shape[1] - 1)
    # lepton in the nucleon rest frame (z along the neutrino there), then to the lab
    beta_n = p_nuc[:, :3] / p_nuc[:, 3:4]
    k_lab = np.zeros((n, 4))
    k_lab[:, 2] = k_lab[:, 3] = e
    k_rest = kin.boost(k_lab, -beta_n)
    e_l = e_star - nu
    p_l = np.sqrt(np.maximum(e_l**2 - m_l**2, 0.0))
    cos_t = np.clip((2 * e_star * e_l - m_l**2 - q2) / (2 * e_star * np.maximum(p_l, 1e-300)), -1.0, 1.0)
    sin_t, phi = np.sqrt(1.0 - cos_t**2), rng.uniform(0.0, 2 * np.pi, n)
    v = p_l[:, None] * np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=1)
    lepton = kin.boost(kin.four_vector(kin.rotate_from_z(v, k_rest[:, :3]), m_l), beta_n)
    q = k_lab - lepton
    p_had = p_nuc + q
    pdg, p4, event = _hadrons(p_had, q, nu_pdg, nucleon_pdg, cc, chan, params, rng)
    q2_lab, pq = -kin.mass2(q), kin.dot(p_nuc, q)
    order = np.argsort(event, kind="stable")
    counts = np.bincount(event, minlength=n)
    lepton_pdg = charged_lepton(nu_pdg) if cc else nu_pdg
    return make_interactions(
        n, nu_pdg=np.full(n, nu_pdg), e_nu=e, target_pdg=np.full(n, nucleus.pdg), nucleon_pdg=np.full(n, nucleon_pdg),
        cc=np.full(n, cc), channel=np.full(n, CHANNELS["dis"]), q2=q2_lab, w=kin.mass(p_had), x=q2_lab / (2 * pq),
        y=pq / kin.dot(p_nuc, k_lab), lepton_pdg=np.full(n, lepton_pdg), lepton_p4=lepton, pdg=pdg[order],
        p4=p4[order], offsets=np.concatenate([[0], np.cumsum(counts)]),
    )


def _hadrons(p_had, q, nu_pdg, nucleon_pdg, cc, chan, params: DISParams, rng):
    """Hadrons in the lab: generated in the hadronic rest frame (z along q there), rotated and boosted."""
    n = len(p_had)
    ch = pdf.channels(nu_pdg, cc, params.cos_cabibbo, params.sin2_theta_w, params.charm)
    beta = p_had[:, :3] / p_had[:, 3:4]
    axis = kin.boost(q, -beta)[:, :3]
    w = kin.mass(p_had)
    charge = (1 if nucleon_pdg == PROTON else 0) + ((1 if nu_pdg > 0 else -1) if cc else 0)
    charges = np.full(n, charge)
    struck, out, valence = ch.struck[chan], ch.out[chan], ch.valence[chan]
    w_cut = params.w_pythia + params.w_pythia_ramp * rng.random(n)
    use_pythia = (w >= w_cut) | (np.abs(out) == 4)
    parts = []
    low = np.flatnonzero(~use_pythia)
    hi = np.flatnonzero(use_pythia)
    if hi.size:
        pdg, p4, sys, failed = pythia_hadronize(w[hi], charges[hi], np.full(hi.size, nucleon_pdg), struck[hi],
                                                out[hi], valence[hi], params.pythia_lines(), rng)
        parts.append((pdg, p4, hi[sys]))
        low = np.concatenate([low, hi[failed]])
    _STATS["agky_systems"] = _STATS.get("agky_systems", 0) + int(low.size)
    if low.size:
        pdg, p4, ev = agky_hadronize(w[low], charges[low], nu_pdg, nucleon_pdg, params.agky, rng)
        parts.append((pdg, p4, low[ev]))
    pdg = np.concatenate([a for a, _, _ in parts])
    p4 = np.concatenate([b for _, b, _ in parts])
    event = np.concatenate([c for _, _, c in parts])
    p3 = kin.rotate_from_z(p4[:, :3], axis[event])
    lab = kin.boost(np.concatenate([p3, p4[:, 3:]], axis=1), beta[event])
    return pdg, lab, event
