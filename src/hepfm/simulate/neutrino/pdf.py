"""Parton densities and quark-parton-model structure functions for DIS (used by :mod:`.dis`).

The proton densities x·f(x, Q²) come from Pythia 8's built-in CTEQ5L parametrisation
(H. L. Lai et al., Eur. Phys. J. C12 (2000) 375), tabulated once on a grid uniform in
t = ln x + 5x (fine at small x and near x = 1) and ln Q², and interpolated bilinearly.
CTEQ5L itself is frozen below Q² = 1.21 GeV² (Q = 1.1 GeV); the DIS model also freezes the PDF
scale at Q0² (:attr:`DISParams.pdf_q2_min`, 0.8 GeV² as in Bodek–Yang). The neutron follows by
isospin (u ↔ d). Columns ``FLAVOURS`` = (u_v, d_v, ū, d̄, s), s = s̄, no charm sea.

Bodek–Yang (A. Bodek, U. K. Yang, J. Phys. G29 (2003) 1899, hep-ex/0308007; NuInt04 update
hep-ph/0411202; parameters as in GENIE's BYStrucFunc / BYPDF):

* scaling variable ξ_w = 2x(Q² + m_f² + B) / (Q²[1 + √(1 + 4M²x²/Q²)] + 2Ax),
* d/u correction d/u → d/u + δ(x), δ = X0 + X1 x + X2 x² (applied as in GENIE's BYPDF),
* K factors K_sea = Q²/(Q² + C_s), K_val = [1 − G_D²(Q²)](Q² + C_v2)/(Q² + C_v1),
  G_D = (1 + Q²/0.71)⁻², separately for u and d (vector K factors also used for the axial part);
  by default applied relative to their value at the PDF freeze scale (see docs/neutrino/dis.md).

:func:`channels` lists the quark-level CC/NC channels with their couplings and :func:`dsigma_dxdy`
returns d²σ/dxdy per channel.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from hepfm.simulate.neutrino.constants import G_F, GEV2_TO_CM2, M_PROTON

M_W, M_Z = 80.3692, 91.1880  # GeV, PDG 2024

#: flavour columns of :func:`proton_pdfs`
FLAVOURS = ("uv", "dv", "ubar", "dbar", "s")
UV, DV, UBAR, DBAR, S = range(5)

#: lowest scale of the CTEQ5L parametrisation (Q = 1.1 GeV): the densities are frozen below
Q2_FLOOR = 1.21
_X_MIN = 1e-6
_NT, _NQ = 480, 72
_LNQ2_LO, _LNQ2_HI = np.log(Q2_FLOOR), np.log(2.0e5)


def _t(x: np.ndarray) -> np.ndarray:
    return np.log(x) + 5.0 * x


_T_LO, _T_HI = float(_t(np.array(_X_MIN))), float(_t(np.array(1.0)))
_DT = (_T_HI - _T_LO) / (_NT - 1)
_DQ = (_LNQ2_HI - _LNQ2_LO) / (_NQ - 1)


def _x_nodes() -> np.ndarray:
    """x at the uniform t nodes (t is monotonic; solved by Newton's method)."""
    t = np.linspace(_T_LO, _T_HI, _NT)
    lx = np.minimum(t, 0.0)
    for _ in range(60):
        x = np.exp(lx)
        lx = lx - (lx + 5.0 * x - t) / (1.0 + 5.0 * x)
    x = np.exp(np.minimum(lx, 0.0))
    x[-1] = 1.0
    return x


@lru_cache(maxsize=1)
def _table() -> np.ndarray:
    """Proton x·f on the grid, shape [_NQ, _NT, 5]; about 0.1 s to build (Pythia calls)."""
    import pythia8mc

    pdf = pythia8mc.CTEQ5L(2212)
    xs = _x_nodes()
    q2s = np.exp(np.linspace(_LNQ2_LO, _LNQ2_HI, _NQ))
    out = np.zeros((_NQ, _NT, 5))
    for j, q2 in enumerate(q2s.tolist()):
        for i, x in enumerate(xs[:-1].tolist()):  # x f = 0 at x = 1
            u, d, ub, db, s = (pdf.xf(k, x, q2) for k in (2, 1, -2, -1, 3))
            out[j, i] = (u - ub, d - db, ub, db, s)
    return np.maximum(out, 0.0)


def proton_pdfs(x: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """x·f(x, Q²) of the proton for :data:`FLAVOURS`, shape [..., 5]; 0 for x >= 1, frozen below the grid."""
    tab = _table()
    x = np.asarray(x, dtype=np.float64)
    xc = np.clip(x, _X_MIN, 1.0)
    ti = (_t(xc) - _T_LO) / _DT
    i = np.clip(ti.astype(np.int64), 0, _NT - 2)
    fx = np.clip(ti - i, 0.0, 1.0)[..., None]
    qi = (np.log(np.maximum(q2, 1e-300)) - _LNQ2_LO) / _DQ
    qi = np.clip(qi, 0.0, _NQ - 1 - 1e-9)
    j = qi.astype(np.int64)
    fq = (qi - j)[..., None]
    lo = tab[j, i] * (1.0 - fx) + tab[j, i + 1] * fx
    hi = tab[j + 1, i] * (1.0 - fx) + tab[j + 1, i + 1] * fx
    out = lo * (1.0 - fq) + hi * fq
    return np.where((x < 1.0)[..., None], out, 0.0)


def bodek_yang_xi(x: np.ndarray, q2: np.ndarray, a: float, b: float, m_f2: float = 0.0) -> np.ndarray:
    """Bodek–Yang scaling variable ξ_w (final-quark mass² ``m_f2``), clipped to (0, 1]."""
    q2 = np.maximum(q2, 1e-12)
    den = q2 * (1.0 + np.sqrt(1.0 + 4.0 * M_PROTON**2 * x**2 / q2)) + 2.0 * a * x
    return np.clip(2.0 * x * (q2 + m_f2 + b) / den, 1e-12, 1.0)


def du_correction(f: np.ndarray, xi: np.ndarray, x0: float, x1: float, x2: float) -> np.ndarray:
    """Bodek–Yang d/u modification of proton x·f [..., 5] at scaling variable ``xi`` (GENIE BYPDF::AllPDFs)."""
    delta = (x0 + x1 * xi + x2 * xi**2)[..., None]
    uv, dv, us, ds = f[..., UV:UV + 1], f[..., DV:DV + 1], f[..., UBAR:UBAR + 1], f[..., DBAR:DBAR + 1]
    val, sea = uv + dv, us + ds
    rv = np.divide(uv, val, out=np.zeros_like(uv), where=val > 0)
    rs = np.divide(us, sea, out=np.zeros_like(us), where=sea > 0)
    return np.concatenate([
        uv / (1 + delta * rv), (dv + uv * delta) / (1 + delta * rv),
        us / (1 + delta * rs), (ds + us * delta) / (1 + delta * rs), f[..., S:S + 1],
    ], axis=-1)


def k_factors(q2: np.ndarray, cs_u: float, cs_d: float, cv1_u: float, cv2_u: float, cv1_d: float,
              cv2_d: float) -> np.ndarray:
    """Bodek–Yang K factors for the proton columns :data:`FLAVOURS`, shape [..., 5] (s uses the d-sea one)."""
    gd2 = (1.0 + q2 / 0.71) ** -4
    ksd = q2 / (q2 + cs_d)
    return np.stack([
        (1.0 - gd2) * (q2 + cv2_u) / (q2 + cv1_u), (1.0 - gd2) * (q2 + cv2_d) / (q2 + cv1_d),
        q2 / (q2 + cs_u), ksd, ksd,
    ], axis=-1)


def isospin(f: np.ndarray, nucleon_is_proton: bool) -> np.ndarray:
    """Proton columns -> the struck nucleon's (u ↔ d for a neutron)."""
    return f if nucleon_is_proton else f[..., [DV, UV, DBAR, UBAR, S]]


def r_whitlow(x: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """R = σ_L/σ_T of Whitlow et al., Phys. Lett. B250 (1990) 193; Bodek–Yang form below Q² = 0.35 (GENIE)."""
    q2r = np.maximum(q2, 0.35)
    theta = 1.0 + (12.0 * q2r / (q2r + 1.0)) * (0.125**2 / (0.125**2 + x**2))
    r = np.maximum((0.0635 / np.log(q2r / 0.04)) * theta + 0.5747 / q2r - 0.3534 / (q2r**2 + 0.09), 0.0)
    return np.where(q2 < 0.35, r * 3.207 * q2 / (q2**2 + 1.0), r)


# ----------------------------------------------------------------------------- structure functions


class Channels(NamedTuple):
    """Quark-level channels of one reaction (arrays over channels)."""

    col: np.ndarray  # PDF column (struck-nucleon basis, pdf.FLAVOURS)
    a: np.ndarray  # F2 coupling
    b: np.ndarray  # xF3 coupling (quarks +, antiquarks -)
    charm: np.ndarray  # uses the charm ξ_w and the charm threshold
    struck: np.ndarray  # struck parton pdg
    out: np.ndarray  # outgoing parton pdg
    valence: np.ndarray


@lru_cache(maxsize=64)
def channels(nu_pdg: int, cc: bool, cos_c: float, s2w: float, charm: bool) -> Channels:
    """Quark-level channels of the reaction (struck-nucleon PDF columns pdf.FLAVOURS)."""
    uv, dv, ub, db, s = range(5)
    vud, vus = cos_c**2, 1.0 - cos_c**2  # |V_ud|² = |V_cs|², |V_us|² = |V_cd|² (Cabibbo mixing)
    # rows: (column, F2 coupling, xF3 coupling, charm, struck, out, valence)
    if cc and nu_pdg > 0:  # W+ absorbed: d, s -> u, c ; ubar -> dbar, sbar
        rows = [(dv, vud, vud, 0, 1, 2, 1), (dv, vus, vus, 1, 1, 4, 1), (db, vud, vud, 0, 1, 2, 0),
                (db, vus, vus, 1, 1, 4, 0), (s, vus, vus, 0, 3, 2, 0), (s, vud, vud, 1, 3, 4, 0),
                (ub, vud, -vud, 0, -2, -1, 0), (ub, vus, -vus, 0, -2, -3, 0)]
    elif cc:  # W- absorbed: u -> d, s ; dbar, sbar -> ubar, cbar
        rows = [(uv, vud, vud, 0, 2, 1, 1), (uv, vus, vus, 0, 2, 3, 1), (ub, vud, vud, 0, 2, 1, 0),
                (ub, vus, vus, 0, 2, 3, 0), (db, vud, -vud, 0, -1, -2, 0), (db, vus, -vus, 1, -1, -4, 0),
                (s, vus, -vus, 0, -3, -2, 0), (s, vud, -vud, 1, -3, -4, 0)]
    else:  # Z: q -> q with g_L = T3 - e s², g_R = -e s²; F2 ∝ g_L² + g_R², xF3 ∝ ±(g_L² - g_R²)
        g_u, g_d = (0.5 - 2 / 3 * s2w, -2 / 3 * s2w), (-0.5 + 1 / 3 * s2w, 1 / 3 * s2w)
        rows = []
        for col, q, val, (gl, gr) in ((uv, 2, 1, g_u), (ub, 2, 0, g_u), (dv, 1, 1, g_d), (db, 1, 0, g_d),
                                      (s, 3, 0, g_d)):
            rows.append((col, gl**2 + gr**2, gl**2 - gr**2, 0, q, q, val))
            if not val:
                rows.append((col, gl**2 + gr**2, gr**2 - gl**2, 0, -q, -q, 0))
    rows = [r for r in rows if charm or not r[3]]
    c = list(zip(*rows))
    return Channels(np.array(c[0]), np.array(c[1], float), np.array(c[2], float), np.array(c[3], bool),
                 np.array(c[4]), np.array(c[5]), np.array(c[6], bool))


def _pdf_columns(xi: np.ndarray, q2: np.ndarray, is_p: bool, p) -> np.ndarray:
    """Struck-nucleon x·f at ξ with the Bodek–Yang corrections and K factors, shape [n, 5]."""
    f = proton_pdfs(xi, np.maximum(q2, p.pdf_q2_min))
    if p.bodek_yang:
        f = du_correction(f, xi, *p.by_du)
    if p.k_factors != "none":
        c = (p.by_cs_u, p.by_cs_d, p.by_cv1_u, p.by_cv2_u, p.by_cv1_d, p.by_cv2_d)
        if p.k_factors == "absolute":
            f = f * k_factors(q2, *c)
        else:  # the K-factor shape below the scale where the PDFs stop (CTEQ5L: 1.21 GeV²), 1 above
            q0 = max(p.pdf_q2_min, Q2_FLOOR)
            f = f * (k_factors(np.minimum(q2, q0), *c) / k_factors(np.array(q0), *c))
    return isospin(f, is_p)


def dsigma_dxdy(x, y, q2, w, e, m, m_l, nu_pdg: int, nucleon_pdg: int, cc: bool, p) -> np.ndarray:
    """d²σ/dxdy [cm²] per channel, shape [n, n_channels] (Kretzer–Reno form, module docstring of dis).

    ``e``, ``m``: neutrino energy and nucleon mass in the nucleon rest frame; ``p``: DISParams.
    """
    ch = channels(nu_pdg, cc, p.cos_cabibbo, p.sin2_theta_w, p.charm)
    q2 = np.maximum(q2, 1e-12)
    is_p = nucleon_pdg == 2212
    if p.bodek_yang:
        xi = bodek_yang_xi(x, q2, p.by_a, p.by_b)
    else:
        xi = np.clip(x, 1e-12, 1.0)
    f = _pdf_columns(xi, q2, is_p, p)[:, ch.col]
    if ch.charm.any():
        if p.bodek_yang:
            xic = bodek_yang_xi(x, q2, p.by_a, p.by_b, p.m_charm**2)
        else:
            xic = np.clip(x * (1.0 + p.m_charm**2 / q2), 1e-12, 1.0)
        fc = _pdf_columns(xic, q2, is_p, p)[:, ch.col]
        fc = np.where((w >= p.w_charm_min)[:, None], fc, 0.0)
        f = np.where(ch.charm[None, :], fc, f)
    r = r_whitlow(x, q2) if p.r_model == "whitlow" else 0.0
    me = m * e
    t1 = x * y**2 + m_l**2 * y / (2 * me)
    t2 = 1.0 - m_l**2 / (4 * e**2) - (1.0 + m * x / (2 * e)) * y
    t3 = x * y * (1.0 - y / 2) - m_l**2 * y / (4 * me)
    t5 = -(m_l**2) / me
    sign = 1.0 if nu_pdg > 0 else -1.0
    c2 = t1 * (1.0 + 4 * m**2 * x**2 / q2) / (2 * x * (1.0 + r)) + t2 + t5 / (2 * x)  # × F2
    c3 = sign * t3 / x  # × xF3
    mv2 = (M_W if cc else M_Z) ** 2
    pref = G_F**2 * me / np.pi * (mv2 / (q2 + mv2)) ** 2 * GEV2_TO_CM2 * p.xsec_scale
    out = (2.0 * pref)[:, None] * f * (ch.a[None, :] * c2[:, None] + ch.b[None, :] * c3[:, None])
    return np.maximum(out, 0.0)
