"""Δ(1232) resonant single-pion production (hepfm.simulate.neutrino.resonance)."""

from __future__ import annotations

import numpy as np
import pytest

from hepfm.errors import InputError
from hepfm.simulate.neutrino import kinematics as kin
from hepfm.simulate.neutrino import resonance as res
from hepfm.simulate.neutrino.constants import M_NEUTRON, M_NUCLEON, M_PROTON, NEUTRON, PROTON
from hepfm.simulate.neutrino.nucleus import NUCLEI

P = res.ResParams()
E_CHECK = np.array([1.0, 1.5, 2.0, 3.0])


# ------------------------------------------------------------------ hadronic tensor
def _dirac_algebra():
    i2, z2 = np.eye(2), np.zeros((2, 2))
    sig = [np.array([[0, 1], [1, 0]], complex), np.array([[0, -1j], [1j, 0]]), np.diag([1.0, -1.0]).astype(complex)]
    gam = np.stack([np.block([[i2, z2], [z2, -i2]]).astype(complex)] + [np.block([[z2, s], [-s, z2]]) for s in sig])
    return gam, 1j * gam[0] @ gam[1] @ gam[2] @ gam[3], np.diag([1.0, -1.0, -1.0, -1.0])


def _brute_force_lh(k, kp, p, q, ff, m_l, anti, m_delta):
    """L_{μν}H^{μν} from explicit traces, written independently of the module (one kinematic point)."""
    gam, g5, g = _dirac_algebra()
    one = np.eye(4)
    sl = lambda v: np.einsum("m,mij->ij", g @ v, gam)  # noqa: E731
    mn = M_NUCLEON
    c3v, c4v, c5v, c3a, c4a, c5a, c6a = (float(np.asarray(c).ravel()[0]) for c in ff)
    pd = p + q
    qpd, qp = q @ g @ pd, q @ g @ p
    gam_v = [[((g[a, mu] * sl(q) - q[a] * gam[mu]) * c3v / mn + (g[a, mu] * qpd - q[a] * pd[mu]) * one * c4v / mn**2
               + (g[a, mu] * qp - q[a] * p[mu]) * one * c5v / mn**2) @ g5
              + (g[a, mu] * sl(q) - q[a] * gam[mu]) * c3a / mn + (g[a, mu] * qpd - q[a] * pd[mu]) * one * c4a / mn**2
              + g[a, mu] * one * c5a + q[a] * q[mu] * one * c6a / mn**2 for mu in range(4)] for a in range(4)]
    pdl, gl = g @ pd, np.einsum("mn,nij->mij", g, gam)
    md = m_delta
    proj = [[-(sl(pd) + md * one) @ (g[b, a] * one - gl[b] @ gl[a] / 3 - 2 * pdl[b] * pdl[a] / (3 * md**2) * one
                                     + (pdl[b] * gl[a] - pdl[a] * gl[b]) / (3 * md)) for a in range(4)]
            for b in range(4)]
    bar = lambda x: gam[0] @ x.conj().T @ gam[0]  # noqa: E731
    h = np.array([[sum(np.trace(gam_v[a][mu] @ (sl(p) + mn * one) @ bar(gam_v[b][nu]) @ proj[b][a])
                       for a in range(4) for b in range(4)) for nu in range(4)] for mu in range(4)])
    pl, pr = one - g5, one + g5
    if anti:  # v̄(k) γ^μ(1−γ5) v(k′)
        lt = np.array([[np.trace(sl(k) @ gam[mu] @ pl @ (sl(kp) - m_l * one) @ pr @ gam[nu]) for nu in range(4)]
                       for mu in range(4)])
    else:  # ū(k′) γ^μ(1−γ5) u(k)
        lt = np.array([[np.trace((sl(kp) + m_l * one) @ gam[mu] @ pl @ sl(k) @ pr @ gam[nu]) for nu in range(4)]
                       for mu in range(4)])
    return np.einsum("mv,ma,vb,ab->", lt, g, g, h).real


@pytest.mark.parametrize("anti", [False, True])
def test_structure_functions_and_contraction_match_explicit_traces(anti: bool) -> None:
    # L_{μν}H^{μν} from the module's structure functions + analytic contraction == explicit Dirac traces
    rng = np.random.default_rng(5)
    m_l, mn = 0.1056583755, M_NUCLEON
    for _ in range(3):
        e, w = rng.uniform(1.0, 4.0), rng.uniform(1.1, 1.38)
        q2 = rng.uniform(0.05, 1.0)
        nu = (w**2 - mn**2 + q2) / (2 * mn)
        e_l = e - nu
        p_l = np.sqrt(e_l**2 - m_l**2)
        cos = (2 * e * e_l - q2 - m_l**2) / (2 * e * p_l)
        k = np.array([e, 0, 0, e])
        kp = np.array([e_l, p_l * np.sqrt(1 - cos**2), 0, p_l * cos])
        p = np.array([mn, 0, 0, 0.0])
        ref = _brute_force_lh(k, kp, p, k - kp, res.form_factors(np.array([q2]), P), m_l, anti, P.m_delta)
        sf = res._structure_functions(np.array([q2]), np.array([w]), P)
        sf = sf[0] + sf[1] + sf[2]  # CC: V − A with g_V = 1
        got = res._contract(sf, np.array([q2]), np.array([w]), np.array([mn * e]), np.array([mn**2]), m_l,
                            -1 if anti else 1)
        assert got[0] == pytest.approx(ref, rel=1e-9)


def test_structure_function_w1_closed_form() -> None:
    # hand-evaluated trace with the Rarita–Schwinger spin sum (P_11 = (2/3)(p̸′ + M_Δ) for q along z):
    # axial only (C4A = −C5A/4):  W1 = (8/3) (C5A + C4A q·p′/M²)² (M² + p·q + M M_Δ)
    q2, w = np.array([0.0, 0.3, 1.2]), np.array([1.15, 1.23, 1.35])
    mn, md = M_NUCLEON, P.m_delta
    pq = (w**2 - mn**2 + q2) / 2
    only_a = res.ResParams(c3v=0, c4v=0, c5v=0, ca_extra=0)
    c4a, c5a = res.form_factors(q2, only_a)[4:6]
    w1 = res._structure_functions(q2, w, only_a)[1][:, 0]
    assert w1 == pytest.approx(8 / 3 * (c5a + c4a * (pq - q2) / mn**2) ** 2 * (mn**2 + pq + mn * md), rel=1e-10)


# W1..W5 from the closed-form expressions of O. Lalakulich & E. A. Paschos, PRD 71 (2005) 074003
# (hep-ph/0501109), evaluated with the authors' code as shipped in GENIE v3
# (P33PaschosLalakulichPXSec; normalisation W_i^LP = (3/4)·(W1, W2/M², W3/M², W4/M², W5/(2M²)) of ours,
# M = 0.938918755, M_Δ = 1.232), for constant form factors (C3V, C4V, C5V, C3A, C4A, C5A, C6A).
# Their W3 keeps only the C5V = C3A = 0 terms, so W3 is compared for set B only.
_LP_REFERENCE = [
    ((2.0, -1.5, 0.5, 0.1, -0.3, 1.2, 5.0), 0.4, 1.25, (17.501619, 11.761772, None, 0.85076851, 18.825662)),
    ((2.0, -1.5, 0.5, 0.1, -0.3, 1.2, 5.0), 1.0, 1.35, (39.751707, 26.378647, None, 117.75665, 31.919925)),
    ((2.0, -1.5, 0.0, 0.0, -0.3, 1.2, 5.0), 0.4, 1.25, (16.520192, 11.303017, -40.404042, 3.7432955, 18.678173)),
    ((2.0, -1.5, 0.0, 0.0, -0.3, 1.2, 5.0), 1.0, 1.35, (36.126359, 24.364037, -45.255444, 123.77111, 32.17328)),
]


@pytest.mark.parametrize("ff, q2, w, ref", _LP_REFERENCE)
def test_structure_functions_match_lalakulich_paschos(monkeypatch, ff, q2, w, ref) -> None:
    monkeypatch.setattr(res, "form_factors", lambda q2_, prm: tuple(np.full(len(q2_), c) for c in ff))
    assert P.m_delta == 1.232
    mn2 = M_NUCLEON**2
    sf = res._structure_functions(np.array([q2]), np.array([w]), P).sum(axis=0)[0]
    ours = 0.75 * sf / np.array([1.0, mn2, mn2, mn2, 2 * mn2])
    for got, want in zip(ours, ref):
        if want is not None:
            assert got == pytest.approx(want, rel=1e-6)


def test_table_interpolation_accuracy() -> None:
    rng = np.random.default_rng(1)
    q2, w = rng.uniform(0.0, 2.0, 200), rng.uniform(res.W_MIN + 0.01, 1.4, 200)
    exact = res._structure_functions(q2, w, P).sum(axis=0)
    lh = lambda sf: res._contract(sf, q2, w, np.full(200, 2.5), np.full(200, M_NUCLEON**2), 0.1057, 1)  # noqa: E731
    assert lh(res._interp(res._sf_table(P, 1.0), q2, w)) == pytest.approx(lh(exact), rel=2e-3)


def test_form_factors_at_zero() -> None:
    # Lalakulich, Paschos, Piranishvili PRD 74 (2006) 014009 vector values; PCAC: C6A = C5A M²/m_π², C4A = -C5A/4
    c3v, c4v, c5v, c3a, c4a, c5a, c6a = (float(c[0]) for c in res.form_factors(np.zeros(1), P))
    assert (c3v, c4v, c5v, c3a, c4a, c5a) == pytest.approx((2.13, -1.51, 0.48, 0.0, -0.3, 1.2))
    assert c6a == pytest.approx(1.2 * M_NUCLEON**2 / 0.13957039**2)


# ------------------------------------------------------------------ cross sections
def test_free_xsec_against_anl_bnl() -> None:
    # ν_μ p → μ⁻ p π⁺ (W < 1.4 GeV): ANL/BNL reanalysis, C. Wilkinson et al., PRD 90 (2014) 112017:
    # ≈ 0.7–0.8 × 10⁻³⁸ cm² at E_ν = 1.5–3 GeV, data in the 0.4–1.0 band over 1–3 GeV (bounds leave room for
    # the data's ~10 % normalisation uncertainty and the non-resonant background this Δ-only model lacks)
    sig = res.free_xsec(E_CHECK, 14, PROTON, True, P) / 1e-38
    assert np.all((sig > 0.4) & (sig < 1.0)), sig
    assert np.all((sig[1:] > 0.55) & (sig[1:] < 0.9)), sig
    assert np.all(np.diff(sig) > 0)  # rises from threshold and saturates above ~3 GeV


def test_quadrature_converged() -> None:
    ch = res._channel(14, PROTON, True, P)
    e = np.array([0.6, 2.0, 20.0])
    pk, p2 = M_PROTON * e, np.full(3, M_PROTON**2)
    assert res._sigma(pk, p2, ch, P) == pytest.approx(res._sigma(pk, p2, ch, P, 160, 128), rel=1e-3)


def test_isospin_ratios() -> None:
    # Wigner–Eckart: σ(ν n → μ⁻ Δ⁺) = σ(ν p → μ⁻ Δ⁺⁺)/3, σ(ν̄ p → μ⁺ Δ⁰) = σ(ν̄ n → μ⁺ Δ⁻)/3 (up to M_p ≠ M_n)
    assert res.free_xsec(E_CHECK, 14, NEUTRON, True, P) == pytest.approx(
        res.free_xsec(E_CHECK, 14, PROTON, True, P) / 3, rel=3e-3)
    assert res.free_xsec(E_CHECK, -14, PROTON, True, P) == pytest.approx(
        res.free_xsec(E_CHECK, -14, NEUTRON, True, P) / 3, rel=3e-3)
    # NC: <Δ⁺|V³−A³|p> = <Δ⁰|V³−A³|n> -> equal cross sections on p and n
    assert res.free_xsec(E_CHECK, 14, PROTON, False, P) == pytest.approx(
        res.free_xsec(E_CHECK, 14, NEUTRON, False, P), rel=3e-3)


def test_nc_normalisation_against_cc() -> None:
    # with sin²θ_W → 0 the NC current is V³ − A³ and σ_NC(ν p → ν Δ⁺) = σ_CC(ν_e p → e⁻ Δ⁺⁺) / (3 cos²θ_C)
    # (the electron mass is negligible); a non-zero sin²θ_W only reduces the vector part
    e = np.array([1.0, 2.0, 5.0])
    no_sw = res.ResParams(sin2_theta_w=1e-9)
    nc = res.free_xsec(e, 14, PROTON, False, no_sw)
    cc = res.free_xsec(e, 12, PROTON, True, no_sw) / (3 * no_sw.cos_cabibbo**2)
    assert nc == pytest.approx(cc, rel=2e-3)
    assert np.all(res.free_xsec(e, 14, PROTON, False, P) < nc)


def test_antineutrino_below_neutrino() -> None:
    # V–A interference (W3) adds for ν and subtracts for ν̄ (Δ⁺⁺ vs Δ⁻, same isospin factor 3)
    e = np.array([0.8, 1.5, 3.0, 10.0])
    nu = res.free_xsec(e, 14, PROTON, True, P)
    nubar = res.free_xsec(e, -14, NEUTRON, True, P)
    assert np.all(nubar < nu) and np.all(nubar[:2] < 0.5 * nu[:2])
    assert np.all(np.diff(nubar / nu) > 0)  # the ratio grows towards 1 with energy


def test_nuclear_xsec() -> None:
    e = np.array([0.6, 1.0, 3.0, 10.0])
    assert res.xsec(e, 14, PROTON, True, NUCLEI["p"], P) == pytest.approx(res.free_xsec(e, 14, PROTON, True, P))
    free = res.free_xsec(e, 14, NEUTRON, True, P)
    bound = res.xsec(e, 14, NEUTRON, True, NUCLEI["C"], P)
    assert bound[2:] == pytest.approx(free[2:], rel=0.05)  # Fermi motion + binding: a few % above 3 GeV
    assert bound[0] < free[0]  # binding lowers s near threshold more than Fermi motion raises it on average
    thr = res.threshold(14, NEUTRON, True, NUCLEI["C"])  # k_F nucleon head-on: below the free threshold
    assert thr < res.threshold(14, NEUTRON, True)
    assert res.xsec(np.array([0.98 * thr, 1.02 * thr]), 14, NEUTRON, True, NUCLEI["C"], P).tolist()[0] == 0.0


# ------------------------------------------------------------------ event sampling
def _check_conservation(ev, e, m_nucleon) -> None:
    k = np.zeros((len(e), 4))
    k[:, 2] = k[:, 3] = e
    had = np.add.reduceat(ev.p4, ev.offsets[:-1], axis=0)
    total = ev.lepton_p4 + had
    init = k + np.array([0.0, 0.0, 0.0, 1.0]) * m_nucleon
    assert np.abs(total - init).max() < 1e-6


def test_sample_free_proton_w_peak_and_conservation() -> None:
    rng = np.random.default_rng(3)
    e = np.full(20000, 2.0)
    ev = res.sample(e, 14, PROTON, True, NUCLEI["p"], P, rng)
    ev.check()
    assert np.all(ev.n_particles == 2) and np.all(ev.channel == 2) and np.all(ev.lepton_pdg == 13)
    assert set(ev.pdg[0::2]) == {PROTON} and set(ev.pdg[1::2]) == {211}
    _check_conservation(ev, e, M_PROTON)
    w_had = kin.mass(ev.p4[0::2] + ev.p4[1::2])
    assert w_had == pytest.approx(ev.w, abs=1e-6)
    assert ev.w.min() >= res.W_MIN - 1e-9 and ev.w.max() <= P.w_max + 1e-9
    # the Δ(1232) peak: histogram mode of W in 1.20–1.26 GeV (M_Δ = 1.232, Γ = 0.117; PDG)
    h, edges = np.histogram(ev.w, bins=np.arange(1.08, 1.40, 0.01))
    mode = 0.5 * (edges[:-1] + edges[1:])[h.argmax()]
    assert 1.20 <= mode <= 1.26
    q2_lep = -kin.mass2(np.array([0, 0, 1.0, 1.0]) * e[:, None] - ev.lepton_p4)
    assert q2_lep == pytest.approx(ev.q2, abs=1e-6)
    assert np.all((ev.x > 0) & (ev.x <= 1 + 1e-9) & (ev.y > 0) & (ev.y < 1))


def test_sample_distribution_matches_cross_section() -> None:
    # accept-reject events vs weighted quadrature points of dσ/dQ²dW (a different (W, Q²) mapping)
    rng = np.random.default_rng(4)
    e0 = 1.5
    ev = res.sample(np.full(30000, e0), 14, PROTON, True, NUCLEI["p"], P, rng)
    ch = res._channel(14, PROTON, True, P)
    n = 400_000
    w, q2, f = res._point(rng.random(n), rng.random(n), np.full(n, M_PROTON * e0), np.full(n, M_PROTON**2), ch, P)
    q2_bins = np.array([0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.1, 3.0])
    for x_ev, x_ref, bins in ((ev.w, w, np.linspace(res.W_MIN, 1.4, 9)), (ev.q2, q2, q2_bins)):
        obs = np.histogram(x_ev, bins)[0]
        exp = np.histogram(x_ref, bins, weights=f)[0] / f.sum() * len(x_ev)
        chi2 = np.sum((obs - exp) ** 2 / exp)
        assert chi2 < 3 * len(obs), (obs, exp)


def test_sample_channels_and_branching() -> None:
    rng = np.random.default_rng(6)
    n = 6000
    cases = {(14, NEUTRON, True): ({(2212, 111): 2 / 3, (2112, 211): 1 / 3}, 13),
             (-14, PROTON, True): ({(2112, 111): 2 / 3, (2212, -211): 1 / 3}, -13),
             (-14, NEUTRON, True): ({(2112, -211): 1.0}, -13),
             (14, PROTON, False): ({(2212, 111): 2 / 3, (2112, 211): 1 / 3}, 14),
             (-14, NEUTRON, False): ({(2112, 111): 2 / 3, (2212, -211): 1 / 3}, -14)}
    for (nu, nucleon, cc), (frac, lepton) in cases.items():
        nuc = NUCLEI["n" if nucleon == NEUTRON else "p"]
        e = rng.uniform(1.0, 5.0, n)
        ev = res.sample(e, nu, nucleon, cc, nuc, P, rng)
        assert np.all(ev.lepton_pdg == lepton)
        _check_conservation(ev, e, M_NEUTRON if nucleon == NEUTRON else M_PROTON)
        pairs = list(zip(ev.pdg[0::2].tolist(), ev.pdg[1::2].tolist()))
        for key, f in frac.items():  # Clebsch–Gordan branching ratios, 5σ binomial
            got = sum(1 for pr in pairs if pr == key) / n
            assert abs(got - f) < 5 * np.sqrt(f * (1 - f) / n) + 1e-12, (nu, nucleon, cc, key, got)


def test_sample_nucleus() -> None:
    rng = np.random.default_rng(7)
    e = rng.uniform(0.8, 20.0, 5000)
    ev = res.sample(e, 14, PROTON, True, NUCLEI["Ar"], P, rng)
    ev.check()
    assert np.all(ev.target_pdg == 1000180400) and np.all(ev.nucleon_pdg == PROTON)
    assert np.all(np.isfinite(ev.q2)) and ev.w.max() <= P.w_max + 1e-9
    # lepton + hadrons = k + p_N with p_N inside the Fermi sphere and E_N = √(M² + p²) − E_b
    k = np.zeros((len(e), 4))
    k[:, 2] = k[:, 3] = e
    pn = ev.lepton_p4 + np.add.reduceat(ev.p4, ev.offsets[:-1], axis=0) - k
    ar = NUCLEI["Ar"]
    assert kin.p3mag(pn).max() <= ar.k_fermi + 1e-6
    assert pn[:, 3] == pytest.approx(np.sqrt(M_PROTON**2 + kin.p3mag(pn) ** 2) - ar.e_binding, abs=1e-6)


def test_w_max_parameter() -> None:
    low = res.ResParams(w_max=1.3)
    assert np.all(res.free_xsec(E_CHECK, 14, PROTON, True, low) < res.free_xsec(E_CHECK, 14, PROTON, True, P))
    ev = res.sample(np.full(2000, 3.0), 14, PROTON, True, NUCLEI["p"], low, np.random.default_rng(0))
    assert ev.w.max() <= 1.3 + 1e-9


def test_bad_input() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="threshold"):
        res.sample(np.array([2.0, 0.25]), 14, PROTON, True, NUCLEI["p"], P, rng)
    with pytest.raises(InputError):
        res.free_xsec(np.ones(2), 13, PROTON, True, P)
    with pytest.raises(InputError):
        res.free_xsec(np.ones(2), 14, 2213, True, P)
    with pytest.raises(InputError):
        res.free_xsec(np.array([[1.0]]), 14, PROTON, True, P)
    with pytest.raises(InputError, match="c5a"):
        res.ResParams(c5a=-1.0)
    with pytest.raises(InputError, match="w_max"):
        res.ResParams(w_max=1.05)
    with pytest.raises(InputError):
        res.sample(np.ones(3), 14, NEUTRON, True, NUCLEI["p"], P, rng)
    assert res.threshold(14, PROTON, True) == pytest.approx(((res.W_MIN + 0.1056583755) ** 2 - M_PROTON**2)
                                                           / (2 * M_PROTON))


def test_struck_nucleon_distribution_near_threshold() -> None:
    # near threshold the Fermi motion selects nucleons moving against the ν: the sampled p_z of the struck
    # nucleon must follow ⟨σ(p·k, p²) × flux⟩ over the Fermi sphere, as used by xsec()
    rng = np.random.default_rng(8)
    c12, e0 = NUCLEI["C"], 0.45
    ev = res.sample(np.full(20000, e0), 14, PROTON, True, c12, P, rng)
    k = np.array([0.0, 0.0, e0, e0])
    pz = (ev.lepton_p4 + np.add.reduceat(ev.p4, ev.offsets[:-1], axis=0) - k)[:, 2]
    p = c12.sample_nucleons(PROTON, 400_000, rng)
    mstar = np.sqrt(kin.mass2(p))
    pk = e0 * (p[:, 3] - p[:, 2])
    weight = res._sigma_interp(res._sigma_table(P, 14, PROTON, True), pk / mstar, mstar, 0.1056583755)
    weight *= pk / (e0 * p[:, 3])
    bins = np.linspace(-c12.k_fermi, c12.k_fermi, 9)
    obs = np.histogram(pz, bins)[0]
    exp = np.histogram(p[:, 2], bins, weights=weight)[0] / weight.sum() * len(pz)
    assert obs[-1] < 0.3 * obs[0]  # strongly favours p⃗ against the beam
    keep = exp > 20
    assert np.sum((obs[keep] - exp[keep]) ** 2 / exp[keep]) < 3 * keep.sum(), (obs, exp)
    bound = res.xsec(np.array([e0]), 14, PROTON, True, c12, P)[0]
    assert bound == pytest.approx(np.mean(weight), rel=0.03)
