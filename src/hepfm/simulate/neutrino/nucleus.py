"""Nuclear targets: relativistic Fermi gas (Smith–Moniz) with binding energy and Pauli blocking.

Fermi momenta k_F and binding (removal) energies E_b come from quasi-elastic electron
scattering: E. J. Moniz et al., Phys. Rev. Lett. 26 (1971) 445, Table I (C 221/25, Ca
251/28, Ni 260/36, Pb 265/44 MeV). Oxygen uses 225/27 MeV (interpolated, as in GENIE's
Fermi-gas table); argon uses the calcium values and iron the nickel values, the nearest
nuclei Moniz measured. Every value can be overridden per run.

A target is a list of nuclei with multiplicities (``CH`` = one carbon + one free proton,
``H2O`` = one oxygen + two free protons); a free nucleon is a :class:`Nucleus` with A = 1
and k_F = E_b = 0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from hepfm.errors import InputError
from hepfm.simulate.neutrino.constants import M_NEUTRON, M_PROTON, NEUTRON, PROTON
from hepfm.simulate.neutrino.kinematics import random_directions


@dataclass(frozen=True)
class Nucleus:
    """A nucleus in the relativistic Fermi gas model."""

    name: str
    z: int
    a: int
    k_fermi: float  # GeV
    e_binding: float  # GeV, removal energy subtracted from the struck nucleon's energy

    @property
    def n(self) -> int:
        return self.a - self.z

    @property
    def free(self) -> bool:
        return self.a == 1

    @property
    def pdg(self) -> int:
        """PDG nuclear code 10LZZZAAAI (2212 / 2112 for a free nucleon)."""
        if self.free:
            return PROTON if self.z == 1 else NEUTRON
        return 1000000000 + self.z * 10000 + self.a * 10

    @property
    def radius(self) -> float:
        """Woods–Saxon half-density radius [fm], R = 1.07 A^(1/3) (Hofstadter; de Vries et al. 1987)."""
        return 1.07 * self.a ** (1.0 / 3.0)

    #: Woods–Saxon surface diffuseness [fm]
    diffuseness: float = 0.54

    def count(self, nucleon_pdg: int) -> int:
        """Number of protons (2212) or neutrons (2112) in the nucleus."""
        return self.z if nucleon_pdg == PROTON else self.n

    def with_overrides(self, k_fermi: float | None = None, e_binding: float | None = None) -> "Nucleus":
        """A copy with a different k_F and/or E_b [GeV] (alternative-model samples)."""
        out = replace(
            self,
            k_fermi=self.k_fermi if k_fermi is None else float(k_fermi),
            e_binding=self.e_binding if e_binding is None else float(e_binding),
        )
        if out.k_fermi < 0 or out.e_binding < 0 or out.k_fermi > 0.5 or out.e_binding > 0.1:
            raise InputError(f"nucleus {self.name}", f"k_F={out.k_fermi} / E_b={out.e_binding} GeV out of range")
        return out

    def sample_nucleons(self, nucleon_pdg: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """Four-momenta ``[n, 4]`` of struck nucleons of type ``nucleon_pdg``.

        |p| is uniform in the Fermi sphere (density ∝ p², p < k_F), the direction isotropic,
        and E = sqrt(M² + p²) − E_b (the off-shell energy of the Smith–Moniz model). A free
        nucleon is at rest.
        """
        m = M_PROTON if nucleon_pdg == PROTON else M_NEUTRON
        out = np.zeros((n, 4))
        if self.free or self.k_fermi == 0:
            out[:, 3] = m - self.e_binding
            return out
        p = self.k_fermi * rng.random(n) ** (1.0 / 3.0)
        out[:, :3] = p[:, None] * random_directions(n, rng)
        out[:, 3] = np.sqrt(m**2 + p**2) - self.e_binding
        return out

    def pauli_blocked(self, p_out: np.ndarray) -> np.ndarray:
        """True where an outgoing nucleon ``p_out[n, 4]`` lands inside the Fermi sea (|p| < k_F)."""
        if self.free:
            return np.zeros(len(p_out), dtype=bool)
        return np.sum(p_out[:, :3] ** 2, axis=-1) < self.k_fermi**2

    def density(self, r: np.ndarray) -> np.ndarray:
        """Nucleon number density [fm^-3] at radius ``r`` [fm] (Woods–Saxon, normalised to A)."""
        r = np.asarray(r, dtype=np.float64)
        shape = 1.0 / (1.0 + np.exp((r - self.radius) / self.diffuseness))
        return self._rho0() * shape

    def _rho0(self) -> float:
        r = np.linspace(0.0, self.radius + 12 * self.diffuseness, 4001)
        shape = 1.0 / (1.0 + np.exp((r - self.radius) / self.diffuseness))
        integral = np.sum(4 * np.pi * r**2 * shape) * (r[1] - r[0])
        return self.a / integral

    def sample_positions(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Interaction points ``[n, 3]`` [fm], distributed like the nucleon density (origin for a free nucleon)."""
        if self.free:
            return np.zeros((n, 3))
        rmax = self.radius + 8 * self.diffuseness
        grid = np.linspace(0.0, rmax, 2001)
        pdf = grid**2 / (1.0 + np.exp((grid - self.radius) / self.diffuseness))
        cdf = np.cumsum(pdf)
        cdf /= cdf[-1]
        r = np.interp(rng.random(n), cdf, grid)
        return r[:, None] * random_directions(n, rng)


def _n(name: str, z: int, a: int, kf_mev: float, eb_mev: float) -> Nucleus:
    return Nucleus(name, z, a, kf_mev / 1000.0, eb_mev / 1000.0)


#: built-in nuclei (k_F, E_b in GeV; see the module docstring for the sources)
NUCLEI: dict[str, Nucleus] = {
    "p": Nucleus("p", 1, 1, 0.0, 0.0),
    "n": Nucleus("n", 0, 1, 0.0, 0.0),
    "C": _n("C", 6, 12, 221, 25),
    "O": _n("O", 8, 16, 225, 27),
    "Ar": _n("Ar", 18, 40, 251, 28),
    "Fe": _n("Fe", 26, 56, 260, 36),
    "Pb": _n("Pb", 82, 208, 265, 44),
}

#: built-in targets: name -> ((nucleus, count per molecule), ...)
TARGETS: dict[str, tuple[tuple[str, int], ...]] = {
    "CH": (("C", 1), ("p", 1)),  # polystyrene scintillator (C8H8), as in MINERvA's tracker
    "H2O": (("O", 1), ("p", 2)),
    **{name: ((name, 1),) for name in NUCLEI},
}


@dataclass(frozen=True)
class Target:
    """A target material: nuclei with their multiplicities per molecule."""

    name: str
    components: tuple[tuple[Nucleus, int], ...]

    @property
    def nucleons(self) -> int:
        return sum(nuc.a * k for nuc, k in self.components)


def get_target(name: str, k_fermi: float | None = None, e_binding: float | None = None) -> Target:
    """The built-in target ``name`` (see :data:`TARGETS`); k_F / E_b overrides apply to its heavy nuclei."""
    if name not in TARGETS:
        raise InputError("target", f"unknown target {name!r}; choose from {', '.join(TARGETS)}")
    comps = []
    for nuc_name, count in TARGETS[name]:
        nuc = NUCLEI[nuc_name]
        if not nuc.free:
            nuc = nuc.with_overrides(k_fermi, e_binding)
        comps.append((nuc, count))
    return Target(name, tuple(comps))
