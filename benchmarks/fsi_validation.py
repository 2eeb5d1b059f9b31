"""Validation tables of the intranuclear cascade (``hepfm.simulate.neutrino.fsi``), as Markdown.

Prints the three tables of the "Validation" section of docs/neutrino/fsi.md:

1. π⁺ beams on C, Fe, Bi at T_π = 85–315 MeV (``hadron_nucleus_xsec``): C absorption,
   charge exchange and inelastic, Fe and Bi absorption [mb], each with the data of
   D. Ashery et al., Phys. Rev. C 23 (1981) 2173 (as tabulated in GENIE's
   ``data/evgen/intranuke/tot_xsec``), plus the C reaction cross section over the data sum.
2. Proton beams: p+C and p+Pb reaction cross sections at 0.1, 0.2, 0.5 GeV against the
   compilation of R. F. Carlson, At. Data Nucl. Data Tables 63 (1996) 93 (≈ 220 and ≈ 1700 mb).
3. π⁺ made inside C, O, Ar, Fe, Pb (vertex ∝ density, isotropic, as in
   tests/test_neutrino_fsi.py::test_internal_pion_absorption_on_carbon) at 0.1–1 GeV: fraction
   absorbed / single charge exchange / interacted at all (``apply_fsi``).

Bi (Z = 83, A = 209) is not in ``NUCLEI``; it gets Pb's Fermi momentum and binding energy.
Progress goes to stderr.

    python benchmarks/fsi_validation.py [--n 20000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import numpy as np

from hepfm.simulate.neutrino.constants import M_PI_CHARGED
from hepfm.simulate.neutrino.fsi import FSIParams, FSIStats, apply_fsi, hadron_nucleus_xsec
from hepfm.simulate.neutrino.kinematics import four_vector, random_directions
from hepfm.simulate.neutrino.nucleus import NUCLEI, Nucleus
from hepfm.simulate.neutrino.record import CHANNELS, make_interactions

PIONS = (211, -211, 111)
BI = replace(NUCLEI["Pb"], name="Bi", z=83, a=209)
# Ashery et al. 1981, π⁺ [mb]: T_π [MeV] -> (value, error) for C abs, C cex, C inel, Fe abs, Bi abs
ASHERY: dict[int, tuple[tuple[int, int], ...]] = {
    85: ((109, 20), (35, 12), (143, 26), (421, 70), (1659, 655)),
    125: ((166, 26), (38, 12), (213, 33), (527, 74), (1235, 230)),
    165: ((194, 36), (46, 23), (207, 33), (577, 87), (1585, 280)),
    205: ((157, 37), (45, 23), (210, 51), (607, 86), (950, 160)),
    245: ((95, 32), (47, 23), (224, 30), (411, 70), (854, 166)),
    315: ((64, 27), (45, 22), (200, 22), (320, 62), (618, 170)),
}
# Carlson 1996 compilation, p + A reaction cross section [mb], roughly flat over 0.1-0.5 GeV
CARLSON = {"C": 220, "Pb": 1700}
PROTON_T = (0.1, 0.2, 0.5)
INTERNAL_T = {0.1: "100 MeV", 0.2: "200 MeV", 0.3: "300 MeV", 0.5: "500 MeV", 1.0: "1 GeV"}
INTERNAL_NUCLEI = ("C", "O", "Ar", "Fe", "Pb")


def progress(msg: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:6.1f} s] {msg}", file=sys.stderr, flush=True)


def pion_beams(n: int, rng: np.random.Generator, t0: float) -> list[str]:
    lines = ["| T_π [MeV] | C abs (data) | C cex (data) | C inel (data) | Fe abs (data) | Bi abs (data) |",
             "|---|---|---|---|---|---|"]
    ratios = []
    for t_mev, data in ASHERY.items():
        c, fe, bi = (hadron_nucleus_xsec(nuc, 211, t_mev / 1000, n, FSIParams(), rng)
                     for nuc in (NUCLEI["C"], NUCLEI["Fe"], BI))
        ours = (c["absorption"], c["cex"], c["inelastic"], fe["absorption"], bi["absorption"])
        cells = [f"{x:.0f} ({v} ± {e})" for x, (v, e) in zip(ours, data)]
        lines.append(f"| {t_mev} | " + " | ".join(cells) + " |")
        ratios.append(f"{c['reaction'] / sum(v for v, _ in data[:3]):.2f} ({t_mev} MeV)")
        progress(f"pi+ beams {t_mev} MeV done", t0)
    lines += ["", "C reaction cross section / data (abs + cex + inel): " + ", ".join(ratios)]
    return lines


def proton_beams(n: int, rng: np.random.Generator, t0: float) -> list[str]:
    lines = ["| target | " + " | ".join(f"{t} GeV" for t in PROTON_T) + " | data |",
             "|---|" + "---|" * (len(PROTON_T) + 1)]
    for name, data in CARLSON.items():
        xs = [hadron_nucleus_xsec(NUCLEI[name], 2212, t, n, FSIParams(), rng)["reaction"] for t in PROTON_T]
        lines.append(f"| p+{name} | " + " | ".join(f"{x:.0f}" for x in xs) + f" | ≈ {data} |")
        progress(f"p+{name} done", t0)
    return lines


def internal_fates(name: str, t_kin: float, n: int, rng: np.random.Generator) -> tuple[float, float, float]:
    """Fractions (absorbed, single charge exchange, interacted) of ``n`` π⁺ made inside ``name``."""
    nuc: Nucleus = NUCLEI[name]
    p = np.sqrt((t_kin + M_PI_CHARGED) ** 2 - M_PI_CHARGED**2)
    inter = make_interactions(
        n, target_pdg=np.full(n, nuc.pdg), vertex_fm=nuc.sample_positions(n, rng), pdg=np.full(n, 211),
        p4=four_vector(p * random_directions(n, rng), M_PI_CHARGED), offsets=np.arange(n + 1),
        channel=np.full(n, CHANNELS["res"]))
    out, st = apply_fsi(inter, {nuc.pdg: nuc}, FSIParams(), rng, return_stats=True)
    is_pi = np.isin(out.pdg, PIONS)
    n_pi = np.bincount(out.particle_event[is_pi], minlength=n)
    same = np.bincount(out.particle_event[is_pi & (out.pdg == 211)], minlength=n)
    interacted = sum(st.collisions[k] for k in FSIStats.KINDS[:-1]) > 0
    return float(np.mean(n_pi == 0)), float(np.mean((n_pi == 1) & (same == 0))), float(np.mean(interacted))


def internal_pions(n: int, rng: np.random.Generator, t0: float) -> list[str]:
    lines = ["| T_π | " + " | ".join(INTERNAL_NUCLEI) + " |", "|---|" + "---|" * len(INTERNAL_NUCLEI)]
    for t_kin, label in INTERNAL_T.items():
        cells = [" / ".join(f"{f:.2f}" for f in internal_fates(name, t_kin, n, rng)) for name in INTERNAL_NUCLEI]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
        progress(f"internal pions {label} done", t0)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="hadrons per point (default 20000)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    out = [f"π⁺ beams (`hadron_nucleus_xsec`, {args.n} pions each), mb; data: Ashery et al. 1981", ""]
    out += pion_beams(args.n, rng, t0)
    out += ["", f"Proton beams, reaction cross section [mb] ({args.n} protons each); data: Carlson 1996", ""]
    out += proton_beams(args.n, rng, t0)
    out += ["", f"π⁺ made inside the nucleus ({args.n} each): fraction absorbed / single charge exchange / "
            "interacted at all", ""]
    out += internal_pions(args.n, rng, t0)
    print("\n".join(out))
    progress("all done", t0)


if __name__ == "__main__":
    main()
