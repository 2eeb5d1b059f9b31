"""Physical constants, masses and PDG codes used by the neutrino generator (PDG 2024 values)."""

from __future__ import annotations

import numpy as np

#: Fermi constant [GeV^-2]
G_F = 1.1663788e-5
#: |V_ud| (CKM), used as cos(theta_Cabibbo) in CC cross sections
COS_CABIBBO = 0.97373
#: weak mixing angle, sin^2(theta_W) (effective, on the Z pole)
SIN2_THETA_W = 0.23122
#: (hbar c)^2: 1 GeV^-2 = 0.3893794e-27 cm^2
GEV2_TO_CM2 = 0.3893794e-27
#: cross sections are reported in units of 1e-38 cm^2
XSEC_UNIT_CM2 = 1e-38
#: fine-structure constant at Q^2 = 0
ALPHA_EM = 1.0 / 137.035999

# masses [GeV]
M_PROTON = 0.93827209
M_NEUTRON = 0.93956542
M_NUCLEON = 0.5 * (M_PROTON + M_NEUTRON)
M_ELECTRON = 0.00051099895
M_MUON = 0.1056583755
M_PI_CHARGED = 0.13957039
M_PI0 = 0.1349768
M_K_CHARGED = 0.493677
M_DELTA = 1.232
GAMMA_DELTA = 0.117

# nucleon magnetic moments [nuclear magnetons]
MU_PROTON = 2.792847
MU_NEUTRON = -1.913043
#: axial coupling g_A = F_A(0)
G_AXIAL = 1.2754

# PDG codes
NU_MU, NU_MU_BAR = 14, -14
MUON, ANTIMUON = 13, -13
PROTON, NEUTRON = 2212, 2112
PI_PLUS, PI_MINUS, PI_ZERO = 211, -211, 111
K_PLUS, K_MINUS = 321, -321
GAMMA = 22

_K0_MASS = 0.497611
#: masses [GeV] by |PDG code| (PDG 2024) of the particles the generator and the detector handle
MASSES = {
    11: M_ELECTRON, 13: M_MUON, 22: 0.0, 111: M_PI0, 211: M_PI_CHARGED, 321: M_K_CHARGED,
    2212: M_PROTON, 2112: M_NEUTRON, 14: 0.0, 12: 0.0, 16: 0.0,
    130: _K0_MASS, 310: _K0_MASS, 311: _K0_MASS, 221: 0.547862, 223: 0.78266, 113: 0.77526,
    213: 0.77511, 3122: 1.115683, 3222: 1.18937, 3212: 1.192642, 3112: 1.197449, 3322: 1.31486,
    3312: 1.32171, 3334: 1.67245, 2224: M_DELTA, 2214: M_DELTA, 2114: M_DELTA, 1114: M_DELTA,
}
_MASS_TABLE = np.full(max(MASSES) + 1, np.nan)
_MASS_TABLE[list(MASSES)] = list(MASSES.values())
_QUARK_CHARGE3 = np.array([0, -1, 2, -1, 2, -1, 2, 0, 0, 0])


def table_mass(pdg: np.ndarray) -> np.ndarray:
    """Mass [GeV] of each |PDG code| in MASSES; NaN for species not in the table."""
    a = np.abs(np.asarray(pdg, dtype=np.int64))
    return np.where(a < len(_MASS_TABLE), _MASS_TABLE[np.minimum(a, len(_MASS_TABLE) - 1)], np.nan)


def pdg_charge(pdg: np.ndarray) -> np.ndarray:
    """Electric charge [e] from PDG codes (leptons, quark content of hadrons, Z of nuclei)."""
    pdg = np.asarray(pdg, dtype=np.int64)
    a = np.abs(pdg)
    q1, q2, q3 = (a // 1000) % 10, (a // 100) % 10, (a // 10) % 10
    ch = _QUARK_CHARGE3
    meson = np.where(np.isin(q2, (3, 5)), ch[q3] - ch[q2], ch[q2] - ch[q3])
    three = np.where(q1 > 0, ch[q1] + ch[q2] + ch[q3], np.where(q2 > 0, meson, 0))
    three = np.where(a < 100, np.where(np.isin(a, (11, 13, 15, 17)), -3, 0), three)
    three = np.where(a >= 1_000_000_000, 3 * ((a // 10000) % 1000), three)
    return np.sign(pdg) * three / 3.0


def charged_lepton(nu_pdg: int) -> int:
    """The charged lepton of a CC interaction of ``nu_pdg`` (14 -> 13, -14 -> -13)."""
    return nu_pdg - 1 if nu_pdg > 0 else nu_pdg + 1
