"""Free hadron–nucleon cross sections for the intranuclear cascade (:mod:`hepfm.simulate.neutrino.fsi`).

π N: measured π⁺p / π⁻p total cross sections (PDG compilation, the points tabulated in
Geant4's G4XpipNTotal / G4XpimNTotal), isospin symmetry for π⁰ and neutrons, the Δ(1232)
Breit–Wigner and its in-medium absorption (Oset & Salcedo). N N: measured pp / np totals (PDG
points, as in Geant4's G4XNNTotalLowE) and Cugnon's elastic slopes. Formulas: docs/neutrino/fsi.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hepfm.simulate.neutrino.constants import GAMMA_DELTA, GEV2_TO_CM2, M_DELTA, M_NUCLEON, M_PI0, M_PI_CHARGED

if TYPE_CHECKING:
    from hepfm.simulate.neutrino.fsi import FSIParams

#: ħc² in mb GeV² (for the unitarity limit of the Breit–Wigner)
HBARC2_MB = GEV2_TO_CM2 / 1e-27


# π⁺p and π⁻p total cross sections [mb] at W = √s [GeV]: PDG data points as tabulated in
# Geant4 (G4XpipNTotal.cc, G4XpimNTotal.cc); the first point of each is the threshold value
# (the πN scattering lengths give about 2–3 mb for π⁺p; π⁻p adds the s-wave charge exchange).
_W_PIP = np.array([1.0780, 1.10546, 1.13328, 1.16512, 1.1988, 1.21251, 1.23318, 1.30186, 1.36893, 1.43381,
                   1.49642, 1.55684, 1.61521, 1.6717, 1.72644, 1.77957, 1.88149, 1.93049, 2.07069, 2.20211,
                   2.32619, 2.40538, 2.73367, 3.20721, 4.43476])
_S_PIP = np.array([2.5, 6.4, 18.0, 66.0, 160.0, 199.0, 195.0, 73.8, 35.0, 22.0, 15.0, 15.2, 19.4, 25.0, 26.0,
                   30.0, 40.0, 40.0, 30.0, 29.0, 30.7, 30.7, 28.3, 26.5, 25.0])
_W_PIM = np.array([1.0780, 1.10546, 1.13941, 1.16512, 1.1988, 1.21251, 1.22284, 1.23318, 1.24008, 1.30186,
                   1.33565, 1.36893, 1.43381, 1.49642, 1.50867, 1.52084, 1.56867, 1.60369, 1.66054, 1.67447,
                   1.68829, 1.77957, 1.88149, 1.97831, 2.03882, 2.11539, 2.15918, 2.24422, 2.42478, 2.6642,
                   3.48743, 4.43476])
_S_PIM = np.array([6.0, 8.8, 13.6, 26.0, 60.0, 70.0, 72.0, 68.0, 65.0, 30.0, 26.0, 27.0, 30.0, 45.0, 47.0, 45.0,
                   35.0, 37.0, 58.0, 59.0, 58.0, 36.0, 36.8, 34.5, 34.5, 36.0, 36.3, 36.0, 33.0, 32.0, 28.0, 26.7])

# pp and np total cross sections [mb] at lab kinetic energy T [GeV]: PDG data points as
# tabulated in Geant4 (G4XNNTotalLowE.cc), converted from √s to T.
_SQRTS_NN = np.array([1.87705, 1.87958, 1.88269, 1.8848, 1.88695, 1.89189, 1.89527, 1.8999, 1.90467, 1.91336,
                      1.92118, 1.93356, 1.94982, 1.99011, 2.02514, 2.05903, 2.10189, 2.16647, 2.20101, 2.23636,
                      2.28927, 2.37717, 2.42686, 2.50018, 2.60291, 2.73362, 2.92549, 3.00271])
_S_PP = np.array([2000, 600, 250, 180, 138, 92, 75, 57, 46, 35, 29.5, 25.5, 25, 24, 23.7, 25, 29, 39, 44, 47, 48,
                  48, 47.5, 47, 45.6, 45, 43.3, 42.9], dtype=np.float64)
_S_NP = np.array([4250, 1380, 770, 585, 465, 300, 232, 175, 140, 100, 80, 63, 50, 40, 35, 34, 34, 36.5, 37.0,
                  37.7, 38, 39, 39.8, 40.5, 40.7, 41, 41.2, 41.5], dtype=np.float64)
_T_NN = (_SQRTS_NN**2 - 4 * M_NUCLEON**2) / (2 * M_NUCLEON)
_LOG_T_NN = np.log(np.maximum(_T_NN, 1e-4))

#: threshold of NN → NNπ and πN → ππN [GeV]
_W_NNPI = 2 * M_NUCLEON + M_PI0
_W_PIPIN = M_NUCLEON + 2 * M_PI0


def _loginterp(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Log–log interpolation, constant beyond the table ends."""
    return np.exp(np.interp(np.log(x), np.log(xp), np.log(fp)))


def delta_width(w: np.ndarray) -> np.ndarray:
    """Energy-dependent Δ(1232) → πN width Γ(W) [GeV] (p-wave, with a form factor β = 0.3 GeV)."""
    q = cm_momentum(w, M_NUCLEON, M_PI_CHARGED)
    q0 = cm_momentum(np.asarray(M_DELTA), M_NUCLEON, M_PI_CHARGED)
    beta2 = 0.3**2
    return GAMMA_DELTA * (q / q0) ** 3 * (1 + q0**2 / beta2) / (1 + q**2 / beta2)


def delta_bw(w: np.ndarray) -> np.ndarray:
    """Δ(1232) elastic π⁺p cross section [mb]: (8π/q²) (Γ²/4) / ((W − M)² + Γ²/4) (unitarity limit at M)."""
    q = np.maximum(cm_momentum(w, M_NUCLEON, M_PI_CHARGED), 1e-6)
    g = delta_width(w)
    return 8 * np.pi / q**2 * HBARC2_MB * 0.25 * g**2 / ((w - M_DELTA) ** 2 + 0.25 * g**2)


def cm_momentum(w: np.ndarray, m1: float, m2: float) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    lam = (w**2 - (m1 + m2) ** 2) * (w**2 - (m1 - m2) ** 2)
    return np.sqrt(np.maximum(lam, 0.0)) / (2 * np.maximum(w, 1e-9))


def pion_nucleon_xsec(w: np.ndarray, charge: np.ndarray, nucleon_is_p: np.ndarray, density_ratio: np.ndarray,
                      t_pion: np.ndarray, params: FSIParams) -> np.ndarray:
    """Partial cross sections [mb] of a pion of ``charge`` on a proton/neutron at c.m. energy ``w``.

    Returns ``[n, 4]``: quasi-elastic (same charges), charge exchange, absorption (πNN → NN, at
    nucleon density ``density_ratio`` × rho_ref and pion kinetic energy ``t_pion``), ππN production;
    each times its scale factor.
    """
    w = np.asarray(w, dtype=np.float64)
    s3 = _loginterp(w, _W_PIP, _S_PIP)  # pure isospin 3/2 (π⁺p, π⁻n)
    smix = _loginterp(w, _W_PIM, _S_PIM)  # π⁻p, π⁺n
    s1 = np.maximum(1.5 * smix - 0.5 * s3, 0.0)
    # isospin class: +1 pure 3/2, -1 mixed (π⁻p, π⁺n), 0 neutral pion
    q_n = np.where(nucleon_is_p, 1, -1)
    cls = np.where(charge == 0, 0, np.where(charge * q_n > 0, 1, -1))
    total = np.select([cls == 1, cls == -1], [s3, smix], 0.5 * (s3 + smix))
    w3 = np.select([cls == 1, cls == -1], [1.0, 1.0 / 3.0], 2.0 / 3.0)
    inel = total * 0.8 * np.clip((w - 1.30) / 0.60, 0.0, 1.0) * (w > _W_PIPIN)
    elastic = total - inel
    res = np.minimum(w3 * delta_bw(w), elastic)
    fall = 1.0 / (1.0 + np.exp(np.clip((t_pion - params.abs_t_half) / max(params.abs_t_width, 1e-6), -50, 50)))
    gam = params.gamma_abs * fall * np.maximum(density_ratio, 0.0) ** params.abs_density_power
    absorb = res * gam / np.maximum(gam + delta_width(w), 1e-12)
    scatter = elastic - absorb
    # charge-exchange share of πN → πN (incoherent isospin amplitudes, see docs)
    f_cex_mix = (2.0 / 9.0) * (s3 + s1) / np.maximum(s3 / 3.0 + 2.0 * s1 / 3.0, 1e-9)
    f_cex_0 = (2.0 / 9.0) * (s3 + s1) / np.maximum(2.0 * s3 / 3.0 + s1 / 3.0, 1e-9)
    f_cex = np.clip(np.select([cls == 1, cls == -1], [0.0, f_cex_mix], f_cex_0), 0.0, 1.0)
    return np.stack([params.scale_pi_qe * scatter * (1 - f_cex), params.scale_pi_cex * scatter * f_cex,
                     params.scale_pi_abs * absorb, params.scale_pi_inel * inel], axis=-1)


def nucleon_nucleon_xsec(t_lab: np.ndarray, like: np.ndarray, params: FSIParams) -> np.ndarray:
    """``[n, 2]`` elastic and NN → NNπ cross sections [mb] for like (pp, nn) or unlike (np) pairs."""
    lt = np.log(np.maximum(t_lab, 1e-4))
    total = np.where(like, np.exp(np.interp(lt, _LOG_T_NN, np.log(_S_PP))),
                     np.exp(np.interp(lt, _LOG_T_NN, np.log(_S_NP))))
    sqrts = np.sqrt(4 * M_NUCLEON**2 + 2 * M_NUCLEON * np.maximum(t_lab, 0.0))
    # single-pion production: σ_∞ (1 − exp(−((√s − √s_th)/0.25 GeV)²)), σ_∞ = 28 mb (pp), 22 mb (np)
    x = np.maximum(sqrts - _W_NNPI, 0.0) / 0.25
    inel = np.minimum(np.where(like, 28.0, 22.0) * (1 - np.exp(-(x**2))), 0.7 * total)
    return params.scale_nucleon * np.stack([total - inel, inel], axis=-1)


def cugnon_slope(p_lab: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Slope B [GeV⁻²] of dσ/dt ∝ exp(B t) for NN elastic scattering (Cugnon et al. 1996, eqs. 8, 10)."""
    p8 = np.minimum(p_lab, 2.0) ** 8
    bpp = np.where(p_lab < 2.0, 5.5 * p8 / (7.7 + p8), np.minimum(9.0, 5.334 + 0.67 * (p_lab - 2.0)))
    bnp = np.select([p_lab < 0.225, p_lab < 0.6, p_lab < 1.6],
                    [0.0, 16.53 * (p_lab - 0.225), -1.63 * p_lab + 7.16], bpp)
    return np.where(like, bpp, bnp)


def resonant_share(w: np.ndarray) -> np.ndarray:
    """Fraction of the π⁺p total cross section at πN mass ``w`` that is the Δ(1232) Breit–Wigner (≤ 1)."""
    return np.minimum(delta_bw(w) / np.maximum(_loginterp(w, _W_PIP, _S_PIP), 1e-9), 1.0)
