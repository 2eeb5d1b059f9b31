"""Resonant single-pion production through the Δ(1232) (channel ``res``), CC and NC, ν and ν̄.

Model: the N → Δ transition current of C. H. Llewellyn Smith, Phys. Rep. 3 (1972) 261, in the form of
E. A. Paschos, J.-Y. Yu, M. Sakuda, Phys. Rev. D 69 (2004) 014013 and O. Lalakulich, E. A. Paschos,
Phys. Rev. D 71 (2005) 074003 (notation of E. Hernández, J. Nieves, M. Valverde, PRD 76 (2007) 033005):

    <Δ|J^μ|N> = ū_α(p′) Γ^{αμ} u(p),
    Γ^{αμ} = [C3V/M (g^{αμ}q̸ − q^αγ^μ) + C4V/M² (g^{αμ} q·p′ − q^α p′^μ) + C5V/M² (g^{αμ} q·p − q^α p^μ)] γ5
           +  C3A/M (g^{αμ}q̸ − q^αγ^μ) + C4A/M² (g^{αμ} q·p′ − q^α p′^μ) + C5A g^{αμ} + C6A/M² q^α q^μ,

with the vector form factors of Lalakulich, Paschos, Piranishvili, PRD 74 (2006) 014009 (CVC fit to
electroproduction), a dipole C5A(Q²) (C5A(0) = 1.2, M_A^Δ = 1.05 GeV) and the rest of the axial current
from PCAC and the Adler model (C6A = C5A M²/(m_π² + Q²), C4A = −C5A/4, C3A = 0).
The hadronic tensor H^{μν} = Tr[Γ^{αμ}(p̸+M) Γ̄^{βν} P_{βα}(p′)] (Rarita–Schwinger spin sum P with the Δ
mass M_Δ, as Lalakulich–Paschos) is computed numerically with explicit Dirac matrices on a (Q², W) grid,
reduced to the structure functions W1..W5 and contracted analytically with the lepton tensor; the Δ
line shape is a Breit–Wigner in W with the P-wave width Γ(W) = Γ0 (p*_π(W)/p*_π(M_Δ))³.
Formulas, parameters and validation numbers: docs/neutrino/resonance.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hepfm.errors import InputError
from hepfm.simulate.neutrino import kinematics as kin
from hepfm.simulate.neutrino.constants import (
    COS_CABIBBO, G_F, GAMMA_DELTA, GEV2_TO_CM2, M_DELTA, M_ELECTRON, M_MUON, M_NEUTRON, M_NUCLEON, M_PI0,
    M_PI_CHARGED, M_PROTON, NEUTRON, PI_MINUS, PI_PLUS, PI_ZERO, PROTON, SIN2_THETA_W, charged_lepton,
)
from hepfm.simulate.neutrino.nucleus import Nucleus
from hepfm.simulate.neutrino.record import CHANNELS, Interactions, make_interactions

#: lowest hadronic mass [GeV]: the heaviest πN decay channel (n π±) must be open
W_MIN = M_NEUTRON + M_PI_CHARGED
_LEPTON_MASS = {11: M_ELECTRON, 13: M_MUON, 15: 1.77686}
_Q2_OFF, _Q2_TOP, _NQ, _NW = 0.01, 20.0, 48, 16  # structure-function grid: log(Q²+0.01) × W
_SF_SCALE = 1.0  # the table holds W_i (1 + Q²/Λ²)^4, Λ² = 1 GeV² (removes most form-factor curvature)
_Q2_PROP = (1.0, 3.0)  # Q² proposal / quadrature density ∝ (1 + Q²/a)^−n: (a [GeV²], n)
_SAFETY = 1.3  # accept-reject envelope = safety × tabulated maximum
_MIN_BATCH = 4096  # at least this many proposals per accept-reject round
_XSEC_SEED = 20240611
#: E_rest − E_thr nodes [GeV] of the σ(E_rest, M*) table: fine where the Δ peak enters the phase space
_X_NODES = np.unique(np.concatenate([np.geomspace(1e-4, 0.05, 13), np.geomspace(0.05, 2.0, 76),
                                     np.geomspace(2.0, 1e3, 16)]))
#: Δ charge -> decay channels (nucleon pdg, pion pdg, branching) from isospin Clebsch–Gordan coefficients
_DECAYS = {2: ((PROTON, PI_PLUS, 1.0),), 1: ((PROTON, PI_ZERO, 2 / 3), (NEUTRON, PI_PLUS, 1 / 3)),
           0: ((NEUTRON, PI_ZERO, 2 / 3), (PROTON, PI_MINUS, 1 / 3)), -1: ((NEUTRON, PI_MINUS, 1.0),)}

# Dirac matrices (Dirac representation), metric (+,-,-,-), index order (t, x, y, z)
_I2, _Z2 = np.eye(2), np.zeros((2, 2))
_SIG = [np.array([[0, 1], [1, 0]], complex), np.array([[0, -1j], [1j, 0]]), np.array([[1, 0], [0, -1]], complex)]
_GAM = np.stack([np.block([[_I2, _Z2], [_Z2, -_I2]]).astype(complex)]
                + [np.block([[_Z2, s], [-s, _Z2]]) for s in _SIG])  # γ^μ
_G5 = 1j * _GAM[0] @ _GAM[1] @ _GAM[2] @ _GAM[3]
_MET = np.diag([1.0, -1.0, -1.0, -1.0])
_ONE = np.eye(4, dtype=complex)


@dataclass(frozen=True)
class ResParams:
    """Physics parameters of the Δ(1232) model (defaults and sources: docs/neutrino/resonance.md)."""

    c3v: float = 2.13  # C3V(0)  Lalakulich, Paschos, Piranishvili, PRD 74 (2006) 014009
    c4v: float = -1.51  # C4V(0)  (same fit)
    c5v: float = 0.48  # C5V(0)  (same fit)
    m_v: float = 0.84  # vector dipole mass [GeV]
    c5a: float = 1.2  # C5A(0)  (off-diagonal Goldberger–Treiman ≈ 1.2; Lalakulich–Paschos 2005)
    m_a: float = 1.05  # axial dipole mass M_A^Δ [GeV] (Lalakulich–Paschos 2005; Hernández et al. 2007)
    ca_extra: float = 0.0  # 0: dipole C5A; 3: extra 1/(1 + Q²/(3M_A²)) of Paschos–Yu–Sakuda / Lalakulich–Paschos
    m_delta: float = M_DELTA  # [GeV] (PDG)
    gamma0: float = GAMMA_DELTA  # Γ(M_Δ) [GeV] (PDG)
    w_max: float = 1.4  # upper edge of the RES region in W [GeV] (contract: DIS starts at DISParams.w_min)
    sin2_theta_w: float = SIN2_THETA_W
    cos_cabibbo: float = COS_CABIBBO
    n_mc: int = 20000  # nucleon momenta per energy in xsec() for a nucleus

    def __post_init__(self) -> None:
        checks = (("c3v", -5 <= self.c3v <= 5), ("c4v", -5 <= self.c4v <= 5), ("c5v", -5 <= self.c5v <= 5),
                  ("m_v", 0.3 <= self.m_v <= 3), ("c5a", 0 <= self.c5a <= 3), ("m_a", 0.3 <= self.m_a <= 3),
                  ("ca_extra", 0 <= self.ca_extra <= 100), ("m_delta", W_MIN + 0.02 <= self.m_delta <= 1.4),
                  ("gamma0", 0.01 <= self.gamma0 <= 0.5), ("w_max", W_MIN + 0.05 <= self.w_max <= 2.5),
                  ("sin2_theta_w", 0 < self.sin2_theta_w < 0.5), ("cos_cabibbo", 0 < self.cos_cabibbo <= 1),
                  ("n_mc", 100 <= self.n_mc <= 10**7))
        for name, ok in checks:
            if not ok:
                raise InputError(f"ResParams.{name}", f"value {getattr(self, name)!r} out of range")


# ---------------------------------------------------------------- hadronic tensor (numerical traces)
def form_factors(q2: np.ndarray, prm: ResParams) -> tuple[np.ndarray, ...]:
    """(C3V, C4V, C5V, C3A, C4A, C5A, C6A) at Q² [GeV²] (modified dipoles, PCAC for C6A, C4A = −C5A/4)."""
    q2 = np.asarray(q2, dtype=np.float64)
    dv = (1 + q2 / prm.m_v**2) ** -2
    c3v = prm.c3v * dv / (1 + q2 / (4 * prm.m_v**2))
    c4v = prm.c4v * dv / (1 + q2 / (4 * prm.m_v**2))
    c5v = prm.c5v * dv / (1 + q2 / (0.776 * prm.m_v**2))
    c5a = prm.c5a * (1 + q2 / prm.m_a**2) ** -2
    if prm.ca_extra > 0:
        c5a = c5a / (1 + q2 / (prm.ca_extra * prm.m_a**2))
    c6a = c5a * M_NUCLEON**2 / (M_PI_CHARGED**2 + q2)
    return c3v, c4v, c5v, np.zeros_like(q2), -c5a / 4, c5a, c6a


def _slash(v: np.ndarray) -> np.ndarray:
    return np.tensordot(v @ _MET, _GAM, axes=(-1, 0))


def _blockmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ_c a[n, i, c] @ b[n, c, j] for arrays [n, 4, 4, 4, 4] of Dirac matrices (a 16×16 block product)."""
    n = len(a)
    c = a.transpose(0, 1, 3, 2, 4).reshape(n, 16, 16) @ b.transpose(0, 1, 3, 2, 4).reshape(n, 16, 16)
    return c.reshape(n, 4, 4, 4, 4).transpose(0, 1, 3, 2, 4)


def _structure_functions(q2: np.ndarray, w: np.ndarray, prm: ResParams) -> np.ndarray:
    """W1..W5 [3, n, 5] of the VV, AA and VA (interference) parts at (Q², W), iso-spin factor 1.

    H^{μν} = −g W1 + p^μp^ν W2/M² − iε^{μνρσ}p_ρq_σ W3/(2M²) + q^μq^ν W4/M² + (p^μq^ν+q^μp^ν) W5/(2M²),
    read off H^{11}, H^{12}, H^{33}, H^{03}, H^{00} in the nucleon rest frame with q along z (ε^{0123} = +1).
    """
    m, mr, n = M_NUCLEON, prm.m_delta, len(q2)
    nu = (w**2 - m**2 + q2) / (2 * m)
    qz = np.sqrt(nu**2 + q2)
    p = np.zeros((n, 4))
    p[:, 0] = m
    q = np.stack([nu, 0 * nu, 0 * nu, qz], axis=-1)
    pd = p + q
    c3v, c4v, c5v, c3a, c4a, c5a, c6a = (c[:, None, None, None, None] for c in form_factors(q2, prm))
    g = _MET[None, :, :, None, None]

    def outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # a^α b^μ × 1 (Dirac identity)
        return (a[:, :, None] * b[:, None, :])[..., None, None] * _ONE

    def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # Minkowski product, (t, x, y, z) order
        return (a[:, 0] * b[:, 0] - np.sum(a[:, 1:] * b[:, 1:], axis=-1))[:, None, None, None, None]

    t3 = g * _slash(q)[:, None, None] - q[:, :, None, None, None] * _GAM[None, None]
    t4 = g * dot(q, pd) * _ONE - outer(q, pd)
    t5 = g * dot(q, p) * _ONE - outer(q, p)
    vec = (c3v / m * t3 + c4v / m**2 * t4 + c5v / m**2 * t5) @ _G5
    axi = c3a / m * t3 + c4a / m**2 * t4 + c5a * g * _ONE + c6a / m**2 * outer(q, q)
    # Rarita–Schwinger spin sum P_{βα} = −(p̸′+M_Δ)[g − γγ/3 − 2p′p′/(3M_Δ²) + (p′_β γ_α − p′_α γ_β)/(3M_Δ)]
    gl = np.einsum("mn,nij->mij", _MET, _GAM)
    pdl = pd @ _MET
    pg = pdl[:, :, None, None, None] * gl[None, None]
    brk = (g * _ONE - np.einsum("aij,bjk->abik", gl, gl)[None] / 3 - 2 * outer(pdl, pdl) / (3 * mr**2)
           + (pg - pg.transpose(0, 2, 1, 3, 4)) / (3 * mr))
    proj = -(_slash(pd) + mr * _ONE)[:, None, None] @ brk
    pslash = (_slash(p) + m * _ONE)[:, None, None]

    def bar_y(gm: np.ndarray) -> np.ndarray:  # (p̸+M) Γ̄^{βν},  Γ̄ = γ0 Γ† γ0
        return pslash @ (_GAM[0] @ gm.conj().swapaxes(-1, -2) @ _GAM[0])

    def trace(y: np.ndarray, pgm: np.ndarray) -> np.ndarray:  # Σ_β Tr[Y^{βν} (PΓ)^{βμ}] -> H[n, μ, ν]
        a = y.transpose(0, 2, 1, 3, 4).reshape(n, 4, 64)  # [n, ν, (β, j, k)]
        b = pgm.transpose(0, 1, 4, 3, 2).reshape(n, 64, 4)  # [n, (β, j, k), μ] from (PΓ)[n, β, μ, k, j]
        return (a @ b).transpose(0, 2, 1)

    pv, pa, yv, ya = _blockmul(proj, vec), _blockmul(proj, axi), bar_y(vec), bar_y(axi)
    out = np.empty((3, n, 5))
    for i, h in enumerate((trace(yv, pv), trace(ya, pa), trace(ya, pv) + trace(yv, pa))):
        w1 = h[:, 1, 1].real
        w4 = (h[:, 3, 3].real - w1) * m**2 / qz**2
        w5 = 2 * m * (h[:, 0, 3].real / qz - nu * w4 / m**2)
        w2 = h[:, 0, 0].real + w1 - nu**2 * w4 / m**2 - nu * w5 / m
        out[i] = np.stack([w1, w2, 2 * m * h[:, 1, 2].imag / qz, w4, w5], axis=-1)
    return out


@lru_cache(maxsize=8)
def _sf_table(prm: ResParams, g_v: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Structure functions of the current g_v·V − A on the grid: (z nodes, W nodes, table [NQ, NW, 5])."""
    z = np.linspace(np.log(_Q2_OFF), np.log(_Q2_TOP + _Q2_OFF), _NQ)
    ws = np.linspace(W_MIN, prm.w_max + 0.02, _NW)
    q2g, wg = np.meshgrid(np.exp(z) - _Q2_OFF, ws, indexing="ij")
    q2g, wg = q2g.ravel(), wg.ravel()
    parts = np.concatenate([_structure_functions(q2g[i:i + 1024], wg[i:i + 1024], prm)
                            for i in range(0, len(q2g), 1024)], axis=1)
    table = (g_v**2 * parts[0] + parts[1] + g_v * parts[2]) * ((1 + q2g / _SF_SCALE) ** 4)[:, None]
    return z, ws, table.reshape(_NQ, _NW, 5)


def _interp(tab: tuple, q2: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of the structure-function table at (Q², W) -> [n, 5] (0 above the Q² grid)."""
    z, ws, t = tab
    fz = (np.log(np.maximum(q2, 0) + _Q2_OFF) - z[0]) * (1 / (z[1] - z[0]))
    fw = (w - ws[0]) * (1 / (ws[1] - ws[0]))
    iz = np.clip(fz.astype(np.int64), 0, len(z) - 2)
    iw = np.clip(fw.astype(np.int64), 0, len(ws) - 2)
    az, aw = np.clip(fz - iz, 0, 1), np.clip(fw - iw, 0, 1)
    flat = t.reshape(-1, 5)
    idx = iz * len(ws) + iw
    scale = np.where(q2 <= _Q2_TOP, (1 + q2 / _SF_SCALE) ** -4, 0.0)
    c00, c01 = (1 - az) * (1 - aw) * scale, (1 - az) * aw * scale
    c10, c11 = az * (1 - aw) * scale, az * aw * scale
    return (c00[:, None] * flat[idx] + c01[:, None] * flat[idx + 1] + c10[:, None] * flat[idx + len(ws)]
            + c11[:, None] * flat[idx + len(ws) + 1])


# ---------------------------------------------------------------- cross section
@dataclass(frozen=True)
class _Chan:
    tab: tuple  # structure-function table
    m_l: float  # outgoing lepton mass
    lam: int  # +1 ν, −1 ν̄
    norm: float  # isospin factor × coupling² (× cos²θ_C for CC)
    delta_charge: int
    lepton_pdg: int


def _channel(nu_pdg: int, nucleon_pdg: int, cc: bool, prm: ResParams) -> _Chan:
    if nu_pdg not in (12, -12, 14, -14, 16, -16):
        raise InputError("resonance", f"neutrino pdg {nu_pdg} not supported (±12, ±14, ±16)")
    if nucleon_pdg not in (PROTON, NEUTRON):
        raise InputError("resonance", f"nucleon pdg {nucleon_pdg} is not 2212 or 2112")
    lam = 1 if nu_pdg > 0 else -1
    charge = (1 if nucleon_pdg == PROTON else 0) + (lam if cc else 0)
    if cc:  # <Δ⁺⁺|J+|p> = √3 ūΓu, <Δ⁺|J+|n> = ūΓu (Wigner–Eckart), likewise Δ⁻ / Δ⁰ for ν̄
        lep = charged_lepton(nu_pdg)
        return _Chan(_sf_table(prm, 1.0), _LEPTON_MASS[abs(lep)], lam,
                     (3.0 if charge in (2, -1) else 1.0) * prm.cos_cabibbo**2, charge, lep)
    # NC: isovector current (1 − 2 sin²θ_W) V³ − A³; <Δ⁺|V³|p> = <Δ⁰|V³|n> = ūΓu
    return _Chan(_sf_table(prm, 1.0 - 2.0 * prm.sin2_theta_w), 0.0, lam, 1.0, charge, nu_pdg)


def _width(w: np.ndarray, prm: ResParams) -> np.ndarray:
    """P-wave Δ → πN width Γ(W) = Γ0 (p*_π(W) / p*_π(M_Δ))³."""
    p0 = kin.two_body_momentum(prm.m_delta, M_NUCLEON, M_PI_CHARGED)
    return prm.gamma0 * (kin.two_body_momentum(w, M_NUCLEON, M_PI_CHARGED) / p0) ** 3


def _contract(sf: np.ndarray, q2: np.ndarray, w: np.ndarray, pk: np.ndarray, p2: np.ndarray, m_l: float,
              lam: int) -> np.ndarray:
    """L_{μν}H^{μν} from structure functions ``sf`` [n, 5] (lepton tensor of γ^μ(1 − γ5); λ = +1 ν, −1 ν̄)."""
    m2, mn2 = m_l**2, M_NUCLEON**2
    w1, w2, w3, w4, w5 = sf.T
    pq = 0.5 * (w**2 - p2 + q2)
    qk = -0.5 * (q2 + m2)
    return 8 * ((q2 + m2) * w1 + (2 * pk**2 - 2 * pq * pk + p2 * qk) * w2 / mn2 + 0.5 * m2 * (q2 + m2) * w4 / mn2
                - m2 * pk * w5 / mn2 - lam * (pk * q2 + pq * qk) * w3 / mn2)


def _dsigma(q2: np.ndarray, w: np.ndarray, pk: np.ndarray, p2: np.ndarray, ch: _Chan, prm: ResParams) -> np.ndarray:
    """dσ/dQ²dW [cm²/GeV³] at invariants p·k, p² of the struck nucleon (no kinematic-limit check).

    dσ/dQ²dW = G_F² N L_{μν}H^{μν} W M_Δ Γ(W) / (128 π² (p·k)² [(W² − M_Δ²)² + M_Δ²Γ(W)²]).
    """
    lh = _contract(_interp(ch.tab, q2, w), q2, w, pk, p2, ch.m_l, ch.lam)
    gam = _width(w, prm)
    bw = (w**2 - prm.m_delta**2) ** 2 + prm.m_delta**2 * gam**2
    return G_F**2 * ch.norm * lh * w * prm.m_delta * gam / (128 * np.pi**2 * pk**2 * bw) * GEV2_TO_CM2


def _limits(pk: np.ndarray, p2: np.ndarray, w: np.ndarray, m_l: float) -> tuple[np.ndarray, np.ndarray]:
    """Q² range at hadronic mass W for a massless ν on a nucleon with p·k, p² (CM-frame 2 → 2 limits)."""
    s = p2 + 2 * pk
    rs = np.sqrt(s)
    e_nu = pk / rs
    e_l = (s + m_l**2 - w**2) / (2 * rs)
    p_l = np.sqrt(np.maximum(e_l**2 - m_l**2, 0.0))
    return -(m_l**2) + 2 * e_nu * (e_l - p_l), -(m_l**2) + 2 * e_nu * (e_l + p_l)


def _w_hi(pk: np.ndarray, p2: np.ndarray, ch: _Chan, prm: ResParams) -> np.ndarray:
    return np.minimum(prm.w_max, np.sqrt(p2 + 2 * pk) - ch.m_l)


def _point(u: np.ndarray, v: np.ndarray, pk: np.ndarray, p2: np.ndarray, ch: _Chan, prm: ResParams,
           wprop: tuple | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map unit-square points (u, v) to (W, Q²) and return (W, Q², weight); the weight's mean over the square is σ.

    W: with ``wprop`` = (W nodes, pdf, cdf) from the tabulated proposal, else W² = M_Δ² + M_ΔΓ0 tan(t) with t
    uniform. Q²: density ∝ (1 + Q²/a)^−n between the limits at that W. weight = dσ/dQ²dW / (g_W g_Q).
    """
    w_hi = _w_hi(pk, p2, ch, prm)
    ok = w_hi > W_MIN
    pk = np.where(ok, pk, 1.0)
    w_hi = np.maximum(w_hi, W_MIN)
    if wprop is None:
        c = prm.m_delta * prm.gamma0
        t_lo, t_hi = np.arctan((W_MIN**2 - prm.m_delta**2) / c), np.arctan((w_hi**2 - prm.m_delta**2) / c)
        t = t_lo + u * (t_hi - t_lo)
        w = np.sqrt(prm.m_delta**2 + c * np.tan(t))
        inv_gw = (t_hi - t_lo) * c / np.cos(t) ** 2 / (2 * w)
    else:
        nodes, pdf, cdf = wprop
        c_hi = np.interp(w_hi, nodes, cdf)
        w = np.interp(u * c_hi, cdf, nodes)
        inv_gw = c_hi / np.interp(w, nodes, pdf)
    lo, hi = _limits(pk, p2, w, ch.m_l)
    a, n = _Q2_PROP
    vlo, vhi = (1 + np.maximum(lo, 0.0) / a) ** (1 - n), (1 + np.maximum(hi, lo) / a) ** (1 - n)
    q2 = a * ((vlo - v * (vlo - vhi)) ** (1 / (1 - n)) - 1)
    inv_gq = a * (vlo - vhi) / (n - 1) * (1 + q2 / a) ** n
    weight = _dsigma(q2, w, pk, p2, ch, prm) * inv_gw * inv_gq
    return w, q2, np.where(ok, np.maximum(weight, 0.0), 0.0)


def _sigma(pk: np.ndarray, p2: np.ndarray, ch: _Chan, prm: ResParams, n_u: int = 40, n_v: int = 32) -> np.ndarray:
    """σ [cm²] at invariants (p·k, p²): Gauss–Legendre in the (u, v) variables of :func:`_point`."""
    xu, wu = np.polynomial.legendre.leggauss(n_u)
    xv, wv = np.polynomial.legendre.leggauss(n_v)
    u, v = np.meshgrid(0.5 * (xu + 1), 0.5 * (xv + 1), indexing="ij")
    wgt = (0.25 * np.outer(wu, wv)).ravel()
    out = np.empty(len(pk))
    step = max(1, 200_000 // wgt.size)
    for i in range(0, len(pk), step):
        a, b = pk[i:i + step, None], p2[i:i + step, None]
        shape = np.broadcast_shapes(a.shape, (1, wgt.size))
        _, _, f = _point(np.broadcast_to(u.ravel(), shape).ravel(), np.broadcast_to(v.ravel(), shape).ravel(),
                         np.broadcast_to(a, shape).ravel(), np.broadcast_to(b, shape).ravel(), ch, prm)
        out[i:i + step] = f.reshape(shape) @ wgt
    return out


def _e_thr_rest(mstar: np.ndarray | float, m_l: float) -> np.ndarray:
    """Threshold ν energy in the rest frame of a nucleon of invariant mass M*."""
    return ((W_MIN + m_l) ** 2 - np.asarray(mstar) ** 2) / (2 * np.asarray(mstar))


@lru_cache(maxsize=16)
def _sigma_table(prm: ResParams, nu_pdg: int, nucleon_pdg: int, cc: bool) -> tuple[np.ndarray, ...]:
    """log σ(E_rest, M*) on a grid: M* = √(p²) of an off-shell struck nucleon, E_rest = p·k / M*."""
    ch = _channel(nu_pdg, nucleon_pdg, cc, prm)
    mstar = np.linspace(0.80, 0.96, 6)
    x = _X_NODES  # E_rest − E_thr(M*) [GeV]
    ms, xx = np.meshgrid(mstar, x, indexing="ij")
    e_rest = _e_thr_rest(ms, ch.m_l) + xx
    sig = _sigma((e_rest * ms).ravel(), (ms**2).ravel(), ch, prm, 32, 24).reshape(ms.shape)
    return mstar, np.log(x), np.log(np.maximum(sig, 1e-300))


def _sigma_interp(tab: tuple, e_rest: np.ndarray, mstar: np.ndarray, m_l: float) -> np.ndarray:
    """Bilinear interpolation of log σ in (log(E_rest − E_thr(M*)), M*); 0 below threshold."""
    ms_nodes, lx, lsig = tab
    x = e_rest - _e_thr_rest(mstar, m_l)
    lxe = np.log(np.maximum(x, 1e-300))
    ix = np.clip(np.searchsorted(lx, lxe) - 1, 0, len(lx) - 2)
    fx = ix + (lxe - lx[ix]) / (lx[ix + 1] - lx[ix])
    fm = np.clip((mstar - ms_nodes[0]) / (ms_nodes[1] - ms_nodes[0]), 0, len(ms_nodes) - 1 - 1e-9)
    im = fm.astype(np.int64)
    ax, am = np.clip(fx, 0, None) - ix, fm - im  # extrapolates as a power law below the first node
    ax = np.minimum(ax, 1.0)
    val = ((1 - am) * ((1 - ax) * lsig[im, ix] + ax * lsig[im, ix + 1])
           + am * ((1 - ax) * lsig[im + 1, ix] + ax * lsig[im + 1, ix + 1]))
    return np.where(x > 0, np.exp(val), 0.0)


def _energies(e_nu: np.ndarray) -> np.ndarray:
    e = np.asarray(e_nu, dtype=np.float64)
    if e.ndim != 1 or not np.all(np.isfinite(e)) or np.any(e < 0):
        raise InputError("resonance", "e_nu must be a 1-D array of finite non-negative energies [GeV]")
    return e


def _check_params(prm: ResParams) -> None:
    if not isinstance(prm, ResParams):
        raise InputError("resonance", f"params must be ResParams, not {type(prm).__name__}")


def threshold(nu_pdg: int, nucleon_pdg: int, cc: bool, nucleus: Nucleus | None = None) -> float:
    """Lowest E_ν [GeV] with phase space for W ≥ W_MIN: free nucleon at rest, or a k_F nucleon head-on."""
    m_l = 0.0 if not cc else _LEPTON_MASS[abs(charged_lepton(nu_pdg))]
    m = M_PROTON if nucleon_pdg == PROTON else M_NEUTRON
    kf, eb = (0.0, 0.0) if nucleus is None or nucleus.free else (nucleus.k_fermi, nucleus.e_binding)
    e0 = np.sqrt(m**2 + kf**2) - eb  # s = p² + 2E(e0 + k_F) for p⃗ antiparallel to the ν
    return float(((W_MIN + m_l) ** 2 - (e0**2 - kf**2)) / (2 * (e0 + kf)))


def free_xsec(e_nu: np.ndarray, nu_pdg: int, nucleon_pdg: int, cc: bool, params: ResParams) -> np.ndarray:
    """σ(ν N → l Δ, W < w_max) [cm²] on a free nucleon at rest (Gauss–Legendre 40 × 32 in (W, Q²))."""
    _check_params(params)
    e = _energies(e_nu)
    ch = _channel(nu_pdg, nucleon_pdg, cc, params)
    m = M_PROTON if nucleon_pdg == PROTON else M_NEUTRON
    return _sigma(m * e, np.full(len(e), m**2), ch, params) if len(e) else np.zeros(0)


def xsec(e_nu: np.ndarray, nu_pdg: int, nucleon_pdg: int, cc: bool, nucleus: Nucleus, params: ResParams,
         rng: np.random.Generator | None = None) -> np.ndarray:
    """σ [cm²] per bound nucleon: ⟨σ(p·k, p²) (p·k)/(E_ν p⁰)⟩ over Fermi-gas nucleons (no Pauli blocking).

    σ(p·k, p²) is the free cross section in the struck nucleon's rest frame (interpolated in a table over
    E_rest = p·k/M* and M* = √p²); the same params.n_mc nucleons serve every energy. Free: free_xsec.
    """
    _check_params(params)
    e = _energies(e_nu)
    _channel(nu_pdg, nucleon_pdg, cc, params)
    if nucleus.free or len(e) == 0:
        return free_xsec(e, nu_pdg, nucleon_pdg, cc, params)
    rng = np.random.default_rng(_XSEC_SEED) if rng is None else rng
    p = nucleus.sample_nucleons(nucleon_pdg, params.n_mc, rng)
    mstar = np.sqrt(kin.mass2(p))
    tab = _sigma_table(params, nu_pdg, nucleon_pdg, cc)
    m_l = _channel(nu_pdg, nucleon_pdg, cc, params).m_l
    out = np.empty(len(e))
    for i, ei in enumerate(e):  # one vectorised pass over the nucleons per energy
        pk = ei * (p[:, 3] - p[:, 2])
        out[i] = np.mean(_sigma_interp(tab, pk / mstar, mstar, m_l) * (1 - p[:, 2] / p[:, 3])) if ei > 0 else 0.0
    return out


@lru_cache(maxsize=16)
def _proposal(prm: ResParams, nu_pdg: int, nucleon_pdg: int, cc: bool) -> tuple[tuple, np.ndarray, np.ndarray]:
    """Sampling proposal and envelope for a free nucleon at rest.

    W proposal: dσ/dW at E_ν = 3 GeV (floored at 2 % of its peak), as (nodes, pdf, cdf). Envelope: the
    maximum weight of :func:`_point` on a 61 × 41 (u, v) grid at 110 energies, max over neighbours, vs
    log(E_rest − E_thr), the rest-frame energy above threshold.
    """
    ch = _channel(nu_pdg, nucleon_pdg, cc, prm)
    m = M_NUCLEON
    nodes = np.linspace(W_MIN, prm.w_max, 300)
    xg, wg = np.polynomial.legendre.leggauss(48)
    pk, p2 = np.full(len(nodes), 3.0 * m), np.full(len(nodes), m**2)
    lo, hi = _limits(pk, p2, nodes, ch.m_l)
    lo = np.maximum(lo, 0.0)
    q2 = lo[:, None] + (hi - lo)[:, None] * 0.5 * (xg + 1)
    f = _dsigma(q2.ravel(), np.repeat(nodes, 48), np.repeat(pk, 48), np.repeat(p2, 48), ch, prm)
    pdf = f.reshape(len(nodes), 48) @ (0.5 * wg) * (hi - lo)
    pdf = np.maximum(pdf, 0.02 * pdf.max())
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(nodes))])
    wprop = (nodes, pdf / cdf[-1], cdf / cdf[-1])
    x = np.geomspace(1e-5, 1e4, 110)  # E_rest − E_thr(M*)
    e = _e_thr_rest(m, ch.m_l) + x
    u, v = np.meshgrid(np.linspace(0, 1, 61), np.linspace(0, 1, 41), indexing="ij")
    k = u.size
    _, _, f = _point(np.tile(u.ravel(), len(e)), np.tile(v.ravel(), len(e)), np.repeat(e * m, k),
                     np.full(len(e) * k, m**2), ch, prm, wprop)
    fmax = f.reshape(len(e), k).max(axis=1)
    fmax = np.maximum.reduce([fmax, np.r_[fmax[1:], fmax[-1]], np.r_[fmax[0], fmax[:-1]]])
    return wprop, np.log(x), fmax


def _nucleons_with_phase_space(nucleus: Nucleus, nucleon_pdg: int, e: np.ndarray, m_l: float,
                               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Struck nucleons with their direction drawn only where s ≥ (W_MIN + m_l)², and that solid-angle fraction.

    |p⃗| and E come from :meth:`Nucleus.sample_nucleons`; the direction is isotropic there and independent of
    |p⃗|, so restricting cos θ (θ to the ν) to the allowed range and weighting by its fraction is exact.
    """
    p = nucleus.sample_nucleons(nucleon_pdg, len(e), rng)
    pmag = kin.p3mag(p)
    p2 = p[:, 3] ** 2 - pmag**2
    slack = p2 + 2 * e * p[:, 3] - (W_MIN + m_l) ** 2  # s − s_thr at p⃗ ⊥ ν
    moving = pmag > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        c_hi = np.where(moving, np.clip(slack / (2 * e * pmag), -1.0, 1.0), np.where(slack > 0, 1.0, -1.0))
    cos_t = -1.0 + (c_hi + 1.0) * rng.random(len(e))
    phi = rng.uniform(0.0, 2 * np.pi, len(e))
    sin_t = np.sqrt(1.0 - cos_t**2)
    dirs = np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=-1)
    p[:, :3] = np.where(moving[:, None], pmag[:, None] * dirs, p[:, :3])
    return p, np.where(moving, 0.5 * (c_hi + 1.0), (slack > 0).astype(float))


def sample(e_nu: np.ndarray, nu_pdg: int, nucleon_pdg: int, cc: bool, nucleus: Nucleus, params: ResParams,
           rng: np.random.Generator) -> Interactions:
    """One Δ(1232) → πN event per entry of ``e_nu`` (vectorised accept-reject in W, Q², nucleon momentum).

    The lepton azimuth about the ν direction (nucleon–ν CM frame) is uniform; the Δ decays isotropically in
    its rest frame into N π with the isospin branching ratios. Hadrons: [nucleon, pion] per event.
    """
    _check_params(params)
    e = _energies(e_nu)
    ch = _channel(nu_pdg, nucleon_pdg, cc, params)
    if nucleus.free and nucleus.pdg != nucleon_pdg or not nucleus.free and nucleus.count(nucleon_pdg) == 0:
        raise InputError("resonance", f"nucleus {nucleus.name} has no nucleon {nucleon_pdg}")
    thr = threshold(nu_pdg, nucleon_pdg, cc, nucleus)
    if len(e) and e.min() <= thr:
        raise ValueError(f"resonance: E_nu = {e.min():.4f} GeV is below the threshold {thr:.4f} GeV")
    n = len(e)
    wprop, le, fmax = _proposal(params, nu_pdg, nucleon_pdg, cc)
    # per-event envelope, independent of the nucleon drawn (so that nucleons come out weighted by σ × flux):
    # the running maximum of the tabulated weight up to the largest E_rest − E_thr(M*) in the Fermi sphere
    m_nuc = M_PROTON if nucleon_pdg == PROTON else M_NEUTRON
    kf, eb = (0.0, 0.0) if nucleus.free else (nucleus.k_fermi, nucleus.e_binding)
    pf = np.linspace(0.0, kf, 9)  # |p⃗| antiparallel to the ν
    en = np.sqrt(m_nuc**2 + pf**2) - eb
    ms = np.sqrt(en**2 - pf**2)
    x_best = np.max(e[:, None] * (en + pf) / ms - _e_thr_rest(ms, ch.m_l), axis=1) if n else np.zeros(0)
    env = (1 + kf / (m_nuc - eb)) * np.interp(np.log(np.maximum(x_best, 1e-300)), le, np.maximum.accumulate(fmax))
    safety = _SAFETY
    w_s, q2_s, p_s = np.zeros(n), np.zeros(n), np.zeros((n, 4))
    todo = np.arange(n)
    with np.errstate(all="ignore"):
        for it in range(1000):
            if todo.size == 0:
                break
            batch = min(_MIN_BATCH * (1 + it // 4), 2**18)  # grows for stragglers just above threshold
            ev = np.repeat(todo, -(-batch // todo.size))  # several proposals per event in the tail
            m, ee = ev.size, e[ev]
            p, frac = _nucleons_with_phase_space(nucleus, nucleon_pdg, ee, ch.m_l, rng)
            pk = ee * (p[:, 3] - p[:, 2])
            p2 = kin.mass2(p)
            w, q2, f = _point(rng.random(m), rng.random(m), pk, p2, ch, params, wprop)
            flux = frac * pk / (ee * p[:, 3])
            ratio = f * flux / (safety * env[ev])
            if ratio.max(initial=0.0) > 1:  # envelope too low: raise it and start again (keeps sampling exact)
                safety *= 1.5 * ratio.max()
                todo = np.arange(n)
                continue
            acc = np.flatnonzero(rng.random(m) < ratio)
            idx, first = np.unique(ev[acc], return_index=True)  # the first accepted proposal of each event
            t = acc[first]
            w_s[idx], q2_s[idx], p_s[idx] = w[t], q2[t], p[t]
            todo = np.setdiff1d(todo, idx, assume_unique=True)
        else:
            raise RuntimeError("resonance: accept-reject did not converge")
    return _final_state(e, nu_pdg, nucleon_pdg, cc, nucleus, ch, w_s, q2_s, p_s, rng)


def _final_state(e: np.ndarray, nu_pdg: int, nucleon_pdg: int, cc: bool, nucleus: Nucleus, ch: _Chan,
                 w: np.ndarray, q2: np.ndarray, p: np.ndarray, rng: np.random.Generator) -> Interactions:
    """Lepton from (W, Q²) in the ν–nucleon CM frame, the Δ (= k + p − l) decayed isotropically to N π."""
    n = len(e)
    k = np.zeros((n, 4))
    k[:, 2] = k[:, 3] = e
    ptot = k + p
    s = kin.mass2(ptot)
    rs = np.sqrt(s)
    m_l = ch.m_l
    e_nu = (s - kin.mass2(p)) / (2 * rs)
    e_l = (s + m_l**2 - w**2) / (2 * rs)
    p_l = np.sqrt(np.maximum(e_l**2 - m_l**2, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos_t = np.clip((2 * e_nu * e_l - m_l**2 - q2) / (2 * e_nu * p_l), -1.0, 1.0)
    phi = rng.uniform(0, 2 * np.pi, n)
    sin_t = np.sqrt(1 - cos_t**2)
    dirs = np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=-1)
    beta = ptot[:, :3] / ptot[:, 3:]
    lep = kin.boost(kin.four_vector(p_l[:, None] * kin.rotate_from_z(dirs, kin.boost(k, -beta)[:, :3]), m_l), beta)
    delta = ptot - lep
    # Δ → N π with isospin branching ratios; isotropic in the Δ rest frame
    chans = _DECAYS[ch.delta_charge]
    pick = np.searchsorted(np.cumsum([c[2] for c in chans])[:-1], rng.random(n), side="right")
    nuc_pdg = np.array([c[0] for c in chans])[pick]
    pi_pdg = np.array([c[1] for c in chans])[pick]
    m_n = np.where(nuc_pdg == PROTON, M_PROTON, M_NEUTRON)
    m_pi = np.where(pi_pdg == PI_ZERO, M_PI0, M_PI_CHARGED)
    nuc, pion = kin.two_body_decay(delta, m_n, m_pi, rng)
    q = k - lep
    pq = kin.dot(p, q)
    pdg = np.stack([nuc_pdg, pi_pdg], axis=1).ravel()
    p4 = np.stack([nuc, pion], axis=1).reshape(2 * n, 4)
    return make_interactions(
        n, nu_pdg=np.full(n, nu_pdg), e_nu=e, target_pdg=np.full(n, nucleus.pdg), nucleon_pdg=np.full(n, nucleon_pdg),
        cc=np.full(n, cc), channel=np.full(n, CHANNELS["res"]), q2=-kin.mass2(q), w=kin.mass(delta),
        x=-kin.mass2(q) / (2 * pq), y=pq / kin.dot(p, k), lepton_pdg=np.full(n, ch.lepton_pdg), lepton_p4=lep,
        pdg=pdg, p4=p4, offsets=np.arange(0, 2 * n + 1, 2),
    )
