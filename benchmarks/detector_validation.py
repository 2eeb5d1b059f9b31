"""Validation tables of the MINERvA-like detector response (``hepfm.simulate.neutrino.detector``), as Markdown.

Prints the tables of docs/neutrino/detector.md:

1. Energy loss (``energy_loss``): polystyrene ⟨−dE/dx⟩_min against the PDG "Atomic and nuclear
   properties of materials" value 1.936 MeV cm²/g; proton CSDA ranges in liquid water
   (I = 75 eV) at 50 / 100 / 200 MeV against NIST PSTAR (2.227 / 7.718 / 25.96 g/cm²); ranges
   in polystyrene at the tracking thresholds (p 100 MeV, π± 50 MeV, K± 75 MeV).
2. Single particles through ``detector_response`` (``--n`` events per row, one particle per NC
   event, direction isotropic in the forward hemisphere): fraction of events with a proton-like /
   pion-like / other prong / no prong, and T_reco/T of the prongs (median, half the
   interquartile range; T_reco = token E − hypothesis mass) with the Michel fraction of
   pion-like prongs; then EM blobs (0.5 GeV photons, 1 GeV π⁰) and 0.3 GeV neutron blobs.

    python benchmarks/detector_validation.py [--n 20000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from hepfm.data.events import EventBlock
from hepfm.simulate.neutrino import detector as D
from hepfm.simulate.neutrino import energy_loss as E
from hepfm.simulate.neutrino.constants import MASSES
from hepfm.simulate.neutrino.kinematics import four_vector, random_directions
from hepfm.simulate.neutrino.record import CHANNELS, make_interactions

PSTAR = {0.05: 2.227, 0.1: 7.718, 0.2: 25.96}  # proton CSDA range in water [g/cm^2]
PDG_DEDX_MIN = 1.936  # polystyrene [MeV cm^2/g]
SINGLE = [(2212, 0.08), (2212, 0.12), (2212, 0.2), (2212, 0.4), (2212, 0.8),
          (211, 0.07), (211, 0.2), (211, 0.5), (321, 0.2)]
NAMES = {2212: "p", 211: "π⁺", 321: "K⁺"}
PRONGS = (D.PROTON_PRONG, D.PION_PRONG, D.OTHER_PRONG)


def single(pdg: int, t: float, n: int, rng: np.random.Generator) -> EventBlock:
    """Detector response to ``n`` NC events with one particle of kinetic energy ``t`` [GeV], forward hemisphere."""
    m = MASSES[abs(pdg)]
    u = random_directions(n, rng)
    u[:, 2] = np.abs(u[:, 2])
    inter = make_interactions(
        n, pdg=np.full(n, pdg), p4=four_vector(np.sqrt(t * (t + 2 * m)) * u, m), offsets=np.arange(n + 1),
        lepton_pdg=np.full(n, 14), lepton_p4=np.tile([0.0, 0.0, 1.0, 1.0], (n, 1)), cc=np.zeros(n, bool),
        channel=np.full(n, CHANNELS["res"]), e_nu=np.full(n, 5.0))
    return D.detector_response(inter, rng=rng)


def rows_of(block: EventBlock, types: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Token rows of the given types and the number of such tokens per event."""
    ev = np.repeat(np.arange(len(block)), block.num_tokens)
    rows = np.flatnonzero(np.isin(block.token_type, types))
    return rows, np.bincount(ev[rows], minlength=len(block))


def energy(block: EventBlock, rows: np.ndarray) -> np.ndarray:
    return np.exp(block.features[rows, 3].astype(np.float64))


def energy_loss_table() -> list[str]:
    m_p, m_pi, m_k = MASSES[2212], MASSES[211], MASSES[321]
    water = E.csda_range(np.array(list(PSTAR)), m_p, E.WATER)
    poly = [float(E.csda_range(np.array([t]), m)[0]) for t, m in ((0.1, m_p), (0.05, m_pi), (0.075, m_k))]
    return ["| quantity | this code | reference |", "|---|---|---|",
            f"| polystyrene ⟨−dE/dx⟩_min | {E.min_ionization() / E.POLYSTYRENE.density:.3f} MeV cm²/g "
            f"| {PDG_DEDX_MIN} (PDG) |",
            "| proton CSDA range in water (I = 75 eV) at 50 / 100 / 200 MeV | "
            + " / ".join(f"{r:.4g}" for r in water) + " g/cm² | "
            + " / ".join(f"{r:.4g}" for r in PSTAR.values()) + " (NIST PSTAR) |",
            f"| proton range in polystyrene at T = 100 MeV | {poly[0]:.2f} cm | – |",
            f"| π± range in polystyrene at T = 50 MeV | {poly[1]:.2f} cm | – |",
            f"| K± range in polystyrene at T = 75 MeV | {poly[2]:.2f} cm | – |"]


def single_particle_table(n: int, rng: np.random.Generator) -> list[str]:
    lines = ["| particle, T | proton-like | pion-like | other | no prong | T_reco / T (median, half-IQR) |",
             "|---|---|---|---|---|---|"]
    for pdg, t in SINGLE:
        b = single(pdg, t, n, rng)
        frac = [np.mean(rows_of(b, (k,))[1] > 0) for k in PRONGS]
        rows, count = rows_of(b, PRONGS)
        cells = [f"{100 * f:.1f} %" for f in frac] + [f"{100 * np.mean(count == 0):.1f} %"]
        if len(rows):
            hyp = np.where(b.token_type[rows] == D.PROTON_PRONG, MASSES[2212], MASSES[211])
            q1, med, q3 = np.percentile((energy(b, rows) - hyp) / t, [25, 50, 75])
            reso = f"{med:.3f}, {(q3 - q1) / 2:.3f}"
            if pdg == 211 and t < 0.1:
                pi_rows = rows_of(b, (D.PION_PRONG,))[0]
                reso += f" (Michel {100 * np.mean(b.extra[pi_rows, D.EXTRA.index('michel')]):.1f} %)"
        else:
            reso = "–"
        lines.append(f"| {NAMES[pdg]}, {t:g} GeV | " + " | ".join(cells) + f" | {reso} |")
    return lines


def calorimetry_lines(n: int, rng: np.random.Generator) -> list[str]:
    cfg = D.DetectorConfig()
    gamma = single(22, 0.5, n, rng)
    rows, count = rows_of(gamma, (D.EM_BLOB,))
    ratio = energy(gamma, rows[np.repeat(count, count) == 1]) / 0.5
    expected = np.hypot(cfg.em_stochastic / np.sqrt(0.5), cfg.em_constant)
    lines = [f"- 0.5 GeV photons: one blob in {100 * np.mean(count == 1):.1f} % of events, "
             f"E_reco/E = {ratio.mean():.3f} ± {ratio.std():.3f} (mean ± rms; expected σ/E {expected:.3f})"]
    pi0 = single(111, 1.0 - MASSES[111], n, rng)
    rows, count = rows_of(pi0, (D.EM_BLOB,))
    ev = np.repeat(np.arange(len(pi0)), pi0.num_tokens)[rows]
    e_sum = np.bincount(ev, weights=energy(pi0, rows), minlength=len(pi0))[count == 2]
    lines.append(f"- 1 GeV π⁰: two blobs in {100 * np.mean(count == 2):.1f} % of events, "
                 f"summed energy {np.median(e_sum):.3f} GeV (median of those)")
    neutron = single(2112, 0.3, n, rng)
    rows, count = rows_of(neutron, (D.NEUTRAL_BLOB,))
    dist = neutron.extra[rows, D.EXTRA.index("vertex_dist")]
    vis = energy(neutron, rows).mean() / 0.3
    lines.append(f"- 0.3 GeV neutrons: a blob in {100 * np.mean(count > 0):.1f} % of events, "
                 f"{dist.mean():.1f} cm from the vertex and E_vis/T = {vis:.3f} on average")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="particles per row (default 20000)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    out = ["Energy loss (Bethe with density effect; CSDA range)", ""] + energy_loss_table()
    out += ["", f"Single particles ({args.n} each, forward hemisphere, seed {args.seed})", ""]
    out += single_particle_table(args.n, rng)
    out += ["", f"Calorimetry ({args.n} each)", ""] + calorimetry_lines(args.n, rng)
    print("\n".join(out))
    print(f"[{time.perf_counter() - t0:.1f} s]", file=sys.stderr)


if __name__ == "__main__":
    main()
