"""The generator against published numbers: cross sections per channel and the comparison plots.

``python -m hepfm.simulate.neutrino.validation docs/neutrino/img`` redraws the plots of
docs/neutrino.md; ``tests/test_neutrino_validation.py`` asserts the same numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hepfm.simulate.neutrino import dis, qe, resonance
from hepfm.simulate.neutrino.constants import NEUTRON, PROTON
from hepfm.simulate.neutrino.generator import NeutrinoPhysics

#: PDG Review "Neutrino cross-section measurements" (2024), world average of CC inclusive σ/E
#: per isoscalar nucleon at high energy [1e-38 cm²/GeV]: (value, uncertainty)
WORLD_AVERAGE_SIGMA_OVER_E = {14: (0.677, 0.014), -14: (0.334, 0.008)}

_MODULES = {"qe": (qe, "qe"), "res": (resonance, "res"), "dis": (dis, "dis")}


def free_cc_per_isoscalar_nucleon(e_nu: np.ndarray, nu_pdg: int,
                                  physics: NeutrinoPhysics | None = None) -> dict[str, np.ndarray]:
    """CC σ per nucleon of an isoscalar free target ((p + n) / 2) [1e-38 cm²], per channel and ``total``."""
    physics = physics or NeutrinoPhysics()
    e_nu = np.asarray(e_nu, dtype=np.float64)
    out = {}
    for name, (module, field) in _MODULES.items():
        params = getattr(physics, field)
        sigma = sum(module.free_xsec(e_nu, nu_pdg, nucleon, True, params) for nucleon in (PROTON, NEUTRON)) / 2
        out[name] = sigma / 1e-38
    out["total"] = sum(out.values())
    return out


def plot_cross_sections(folder: str | Path, physics: NeutrinoPhysics | None = None) -> Path:
    """σ/E of CC ν_μ and ν̄_μ per isoscalar nucleon by channel, with the world averages at high energy."""
    from matplotlib.figure import Figure

    from hepfm.evaluate.plots import hep_style

    e = np.geomspace(0.3, 100.0, 90)
    path = Path(folder) / "neutrino_xsec.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    with hep_style():
        fig = Figure(figsize=(14, 6.5))
        axes = fig.subplots(1, 2)
        for ax, nu, title in zip(axes, (14, -14), (r"$\nu_\mu$ CC", r"$\bar\nu_\mu$ CC")):
            sig = free_cc_per_isoscalar_nucleon(e, nu, physics)
            for name, style in (("total", "k-"), ("qe", "C0--"), ("res", "C1-."), ("dis", "C2:")):
                label = {"total": "hepfm total", "qe": "QE", "res": r"$\Delta$(1232)", "dis": "DIS (W > 1.4 GeV)"}[name]
                ax.plot(e, sig[name] / e, style, label=label, lw=2)
            value, error = WORLD_AVERAGE_SIGMA_OVER_E[nu]
            ax.fill_between([20, 100], value - error, value + error, color="C3", alpha=0.3,
                            label="world average (PDG)")
            ax.fill_between([20, 100], 0.85 * value, 1.15 * value, color="C3", alpha=0.08, label=r"$\pm$15 % band")
            ax.set_xscale("log")
            ax.set_xlabel(r"$E_\nu$ [GeV]")
            ax.set_ylabel(r"$\sigma / E_\nu$ per nucleon [$10^{-38}$ cm$^2$/GeV]")
            ax.set_title(title + ", isoscalar free nucleon")
            ax.set_ylim(0, 1.6 if nu > 0 else 0.9)
            ax.legend(fontsize=13)
        fig.savefig(path, dpi=80, bbox_inches="tight")
    return path


def plot_hadronic_mass(folder: str | Path, n_events: int = 20000, seed: int = 0) -> Path:
    """W of CC events on CH for the NuMI-like flux, stacked by channel: the Δ(1232) peak."""
    from matplotlib.figure import Figure

    from hepfm.evaluate.plots import hep_style
    from hepfm.simulate.neutrino.generator import generate_interactions
    from hepfm.simulate.neutrino.record import CHANNELS

    inter = generate_interactions(n_events, seed=seed, stage="primary")
    path = Path(folder) / "neutrino_w.png"
    with hep_style():
        fig = Figure(figsize=(9, 6.5))
        ax = fig.subplots()
        bins = np.linspace(0.9, 3.0, 85)
        cc = inter.cc
        data = [inter.w[cc & (inter.channel == CHANNELS[c])] for c in ("qe", "res", "dis")]
        ax.hist(data, bins=bins, stacked=True, label=["QE", r"$\Delta$(1232)", "DIS"], histtype="stepfilled", alpha=0.7)
        ax.axvspan(1.20, 1.26, color="k", alpha=0.1, label=r"$\Delta$ peak window (1.20–1.26 GeV)")
        ax.set_xlabel(r"hadronic invariant mass $W$ [GeV]")
        ax.set_ylabel("CC events / 25 MeV")
        ax.set_title(r"$\nu_\mu$ CH, NuMI-like flux")
        ax.legend()
        fig.savefig(path, dpi=80, bbox_inches="tight")
    return path


if __name__ == "__main__":
    import sys

    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/neutrino/img")
    for p in (plot_cross_sections(folder), plot_hadronic_mass(folder)):
        print(p)
