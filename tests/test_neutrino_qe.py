"""Quasi-elastic channel (hepfm.simulate.neutrino.qe): cross sections, nuclear effects, event sampling."""

from __future__ import annotations


import numpy as np
import pytest

from hepfm.errors import InputError
from hepfm.simulate.neutrino import kinematics as kin
from hepfm.simulate.neutrino import qe
from hepfm.simulate.neutrino.constants import (
    COS_CABIBBO, G_AXIAL, G_F, GEV2_TO_CM2, M_MUON, M_NEUTRON, M_PI_CHARGED, M_PROTON, MU_NEUTRON, MU_PROTON,
)
from hepfm.simulate.neutrino.nucleus import NUCLEI
from hepfm.simulate.neutrino.record import CHANNELS

P = qe.QEParams()
C12 = NUCLEI["C"]


def _genie_ls(e: float, q2_pos: np.ndarray, neutrino: bool) -> np.ndarray:
    """Independent transcription of GENIE v3 LwlynSmithQELCCPXSec::XSec (dipole FFs, G_E^n = 0).

    GENIE's conventions: q² = −Q² < 0, F_A(0) = −g_A, the B term enters with sign −1 for ν;
    checks our sign conventions (F_A > 0, +B for ν) against an established implementation.
    """
    m = M_NEUTRON if neutrino else M_PROTON
    q2 = -q2_pos
    mavg = 0.5 * (M_PROTON + M_NEUTRON)
    t = q2 / (4 * mavg**2)
    gep = 1 / (1 - q2 / 0.71) ** 2
    gve, gvm = gep, (MU_PROTON - MU_NEUTRON) * gep
    f1, xif2 = (gve - t * gvm) / (1 - t), (gvm - gve) / (1 - t)
    fa = -G_AXIAL / (1 - q2 / 1.03**2) ** 2
    fp = 2 * mavg**2 * fa / (M_PI_CHARGED**2 - q2)
    ml2, m2 = M_MUON**2, m**2
    r = q2 / m2
    a = 0.25 * (ml2 - q2) / m2 * ((4 - r) * fa**2 - (4 + r) * f1**2 - r * xif2**2 * (1 + 0.25 * r) - 4 * r * f1 * xif2
                                 - ml2 / m2 * ((f1 + xif2) ** 2 + (fa + 2 * fp) ** 2 + (r - 4) * fp**2))
    b = -r * fa * (f1 + xif2)
    c = 0.25 * (fa**2 + f1**2 - 0.25 * r * xif2**2)
    s_u = 4 * e * m + q2 - ml2
    sign = -1 if neutrino else 1
    return m2 * (G_F * COS_CABIBBO) ** 2 / (8 * np.pi * e**2) * (a + sign * b * s_u / m2 + c * s_u**2 / m2**2) * GEV2_TO_CM2


@pytest.mark.parametrize("nu,nucleon", [(14, 2112), (-14, 2212)])
def test_dxsec_matches_genie_transcription(nu, nucleon):
    for e in (0.5, 1.0, 3.0):
        q2 = np.linspace(0.02, 0.4, 7)
        np.testing.assert_allclose(qe.dxsec_dq2(e, q2, nu, nucleon, True, P), _genie_ls(e, q2, nu > 0), rtol=1e-10)


def test_free_ccqe_total_cross_section():
    e = np.array([2.0, 3.0, 5.0, 10.0])
    sig = qe.free_xsec(e, 14, 2112, True, P) / 1e-38
    # Llewellyn Smith with M_A ≈ 1.0 GeV: σ(ν_μ n → μ⁻ p) ≈ 1.0e-38 cm² on the plateau E_ν = 2–10 GeV
    # (Formaggio & Zeller, Rev. Mod. Phys. 84 (2012) 1307, CCQE section); measured here 1.09, 1.06, 1.02, 0.995.
    assert np.all(np.abs(sig - 1.0) < 0.15), sig
    nubar = qe.free_xsec(np.array([2.0]), -14, 2212, True, P) / 1e-38
    assert nubar[0] < 0.75 * sig[0]  # 0.61 vs 1.09: the V–A interference term (B) enters with − for ν̄
    # the B term falls like 1/E: ν̄/ν → 1 at high energy
    hi = qe.free_xsec(np.array([100.0]), -14, 2212, True, P) / qe.free_xsec(np.array([100.0]), 14, 2112, True, P)
    assert 0.95 < hi[0] < 1.0
    # Gauss–Legendre integral agrees with a dense trapezoid integral of dσ/dQ²
    q = np.linspace(0.0, 3.5, 200_001)
    ref = np.trapezoid(qe.dxsec_dq2(2.0, q, 14, 2112, True, P), q)
    assert abs(qe.free_xsec(np.array([2.0]), 14, 2112, True, P)[0] / ref - 1) < 1e-4


def test_threshold_and_forbidden_channels():
    # ν̄_μ p → μ⁺ n threshold E = ((m_μ + M_n)² − M_p²) / (2 M_p) = 0.11305 GeV
    thr = ((M_MUON + M_NEUTRON) ** 2 - M_PROTON**2) / (2 * M_PROTON)
    assert qe.threshold(-14, 2212, True) == pytest.approx(thr, rel=1e-12)
    sig = qe.free_xsec(np.array([0.05, thr - 1e-4, thr + 2e-3, 0.2]), -14, 2212, True, P)
    assert np.all(sig[:2] == 0) and np.all(sig[2:] > 0)
    assert np.all(qe.free_xsec(np.array([1.0, 5.0]), 14, 2212, True, P) == 0)  # no CC QE ν p
    assert np.all(qe.xsec(np.array([1.0]), -14, 2112, True, C12, P) == 0)  # nor ν̄ n
    with pytest.raises(ValueError, match="below the threshold"):
        qe.sample(np.array([1.0, 0.1]), -14, 2212, True, NUCLEI["p"], P, np.random.default_rng(0))
    with pytest.raises(ValueError):
        qe.sample(np.array([1.0]), 14, 2212, True, C12, P, np.random.default_rng(0))


def test_nc_elastic_ratio_bnl_e734():
    # BNL E734 (Ahrens et al., Phys. Rev. D 35 (1987) 785): R = σ(νp → νp)/σ(νn → μ⁻p) = 0.153 ± 0.007 ± 0.017
    # for 0.5 < Q² < 1.0 GeV², <E_ν> ≈ 1.3 GeV, analysed with M_A = 1.06 GeV.
    q = np.linspace(0.5, 1.0, 2001)

    def ratio(params):
        nc = np.trapezoid(qe.dxsec_dq2(1.3, q, 14, 2212, False, params), q)
        return nc / np.trapezoid(qe.dxsec_dq2(1.3, q, 14, 2112, True, params), q)

    r0, r_s = ratio(qe.QEParams(m_a=1.06)), ratio(qe.QEParams(m_a=1.06, delta_s=-0.15))
    assert 0.153 - 0.03 < r0 < 0.153 + 0.03  # measured here: 0.136
    assert r_s > r0 + 0.01  # Ahrens' fit Δs = −0.15 raises R (here to 0.160)
    # NC on neutrons vs protons at Δs = 0 (isospin structure): σ(νn)/σ(νp) ≈ 1.4 at 1–3 GeV
    e = np.array([1.0, 3.0])
    assert np.all(qe.free_xsec(e, 14, 2112, False, P) > 1.2 * qe.free_xsec(e, 14, 2212, False, P))


def test_nuclear_xsec_free_and_carbon():
    e = np.geomspace(0.1, 100.0, 60)
    np.testing.assert_array_equal(qe.xsec(e, 14, 2112, True, NUCLEI["n"], P), qe.free_xsec(e, 14, 2112, True, P))
    sig_c = qe.xsec(e, 14, 2112, True, C12, P)
    ratio = sig_c[e > 1.0] / qe.free_xsec(e[e > 1.0], 14, 2112, True, P)
    assert np.all((ratio > 0.85) & (ratio < 1.0))  # Pauli blocking removes ≈ 5 % above 1 GeV (measured 0.93–0.95)
    assert np.all(np.diff(sig_c[(e > 0.3) & (e < 1.0)]) > 0)  # smooth rise (common random numbers)


@pytest.mark.parametrize("nu,nucleon", [(14, 2112), (-14, 2212)])
def test_pauli_blocking_suppresses_low_q2(nu, nucleon):
    e, n = 1.0, 20_000
    ev = qe.sample(np.full(n, e), nu, nucleon, True, C12, P, np.random.default_rng(7))
    sig_c = qe.xsec(np.array([e]), nu, nucleon, True, C12, P)[0]
    q = np.linspace(0.0, 0.6, 6001)
    for lo, hi, lim in [(0.0, 0.05, (0.3, 0.6)), (0.4, 0.6, (0.8, 1.2))]:
        m = (q >= lo) & (q <= hi)
        free = np.trapezoid(qe.dxsec_dq2(e, q[m], nu, nucleon, True, P), q[m])
        bound = sig_c * np.mean((ev.q2 >= lo) & (ev.q2 < hi))
        # RFG (Smith–Moniz), k_F = 221 MeV: measured ≈ 0.49 below 0.05 GeV², 1.03–1.06 at 0.4–0.6 GeV²
        print(f"\nnu={nu}: carbon / free dsigma/dQ2 at {lo}-{hi} GeV^2 = {bound / free:.3f}")
        assert lim[0] < bound / free < lim[1], (lo, hi, bound / free)
    assert np.all(kin.p3mag(ev.p4) > C12.k_fermi)  # every outgoing nucleon left the Fermi sea
    k = np.zeros((n, 4))
    k[:, 2] = k[:, 3] = e
    p_in = ev.lepton_p4 + ev.p4 - k  # the struck nucleon: inside the Fermi sphere, energy √(M²+p²) − E_b
    assert np.all(kin.p3mag(p_in) < C12.k_fermi + 1e-9)
    m_in = M_NEUTRON if nucleon == 2112 else M_PROTON
    np.testing.assert_allclose(p_in[:, 3], np.sqrt(m_in**2 + kin.p3mag(p_in) ** 2) - C12.e_binding, atol=1e-9)


@pytest.mark.parametrize("nu,nucleon,cc,e", [(14, 2112, True, 2.0), (-14, 2212, True, 1.0), (14, 2212, False, 3.0)])
def test_free_events_kinematics_and_q2_shape(nu, nucleon, cc, e):
    n = 6000
    target = NUCLEI["n"] if nucleon == 2112 else NUCLEI["p"]
    ev = qe.sample(np.full(n, e), nu, nucleon, cc, target, P, np.random.default_rng(11))
    ev.check()
    assert np.all(ev.channel == CHANNELS["qe"]) and np.all(ev.cc == cc) and np.all(ev.n_particles == 1)
    assert np.all(ev.target_pdg == nucleon) and np.all(ev.lepton_pdg == (nu - np.sign(nu) if cc else nu))
    m_in = M_NEUTRON if nucleon == 2112 else M_PROTON
    m_out = M_PROTON if (cc and nucleon == 2112) else M_NEUTRON if cc else m_in
    k = np.zeros((n, 4))
    k[:, 2] = k[:, 3] = e
    p = np.zeros((n, 4))
    p[:, 3] = m_in
    assert np.max(np.abs(ev.lepton_p4 + ev.p4 - k - p)) < 1e-6  # energy-momentum conservation
    np.testing.assert_allclose(kin.mass(ev.lepton_p4), M_MUON if cc else 0.0, atol=1e-5)
    np.testing.assert_allclose(ev.w, m_out, atol=1e-6)
    np.testing.assert_allclose(ev.q2, -kin.mass2(k - ev.lepton_p4), atol=1e-8)
    np.testing.assert_allclose(ev.y, (e - ev.lepton_p4[:, 3]) / e, atol=1e-9)
    phi = np.arctan2(ev.lepton_p4[:, 1], ev.lepton_p4[:, 0])  # azimuth uniform
    assert abs(np.mean(np.cos(phi))) < 0.05 and abs(np.mean(np.sin(phi))) < 0.05
    # Q² histogram vs dσ/dQ²: chi² over 15 equal-probability bins
    q = np.linspace(0.0, min(ev.q2.max() * 1.01, 4 * e), 40_001)
    cdf = np.concatenate([[0], np.cumsum(0.5 * np.diff(q) * (lambda f: f[1:] + f[:-1])(
        qe.dxsec_dq2(e, q, nu, nucleon, cc, P)))])
    edges = np.interp(np.linspace(0, 1, 16), cdf / cdf[-1], q)
    counts = np.histogram(ev.q2, edges)[0]
    chi2 = np.sum((counts - n / 15) ** 2 / (n / 15))
    assert chi2 < 40.0, chi2  # 14 dof: p ≈ 3e-4


def test_bad_input():
    with pytest.raises(InputError, match="QEParams.m_a"):
        qe.QEParams(m_a=-1.0)
    with pytest.raises(InputError, match="QEParams.gen"):
        qe.QEParams(gen="kelly")
    with pytest.raises(InputError):
        qe.free_xsec(np.array([1.0]), 16, 2112, True, P)
    with pytest.raises(InputError):
        qe.free_xsec(np.array([[1.0]]), 14, 2112, True, P)
    with pytest.raises(InputError):
        qe.xsec(np.array([np.nan]), 14, 2112, True, C12, P)
    galster = qe.free_xsec(np.array([1.0]), 14, 2112, True, qe.QEParams(gen="galster"))
    assert 0.95 < galster[0] / qe.free_xsec(np.array([1.0]), 14, 2112, True, P)[0] < 1.0  # G_E^n > 0 lowers F1V
