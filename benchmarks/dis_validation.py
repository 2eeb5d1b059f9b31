"""Hadron multiplicities of the DIS hadronisation (``hepfm.simulate.neutrino.hadronization``), as Markdown.

Prints the multiplicity tables of the "Measured numbers" section of docs/neutrino/dis.md, for
ν_μ / ν̄_μ CC on free p and n:

1. Mean charged-hadron multiplicity ⟨n_ch⟩ of Pythia 8 strings (``pythia_hadronize``, the
   default ``DISParams`` i.e. GENIE's tune; K_S, Λ undecayed) at fixed W = 2.0–9.9 GeV, against
   the AGKY formula ⟨n_ch⟩ = a + b ln W² (``mean_charged_multiplicity``; fits to bubble-chamber
   data, T. Yang et al., Eur. Phys. J. C63 (2009) 1, parameters of GENIE's AGKYLowW2019.xml).
   The string is the dominant valence channel (d → u for ν, u → d for ν̄, from ``pdf.channels``):
   outgoing quark + remnant diquark, back to back.
2. The same strings with Pythia 8's own (Monash) defaults (``pythia_tune=()``) minus table 1.
3. The AGKY model itself (``agky_hadronize``) at W = 1.9–3.0 GeV: ⟨n_ch⟩ against the formula and
   the total ⟨n⟩ against 1.5 × formula.

Charged = hadron (|pdg| > 100) with non-zero ``constants.pdg_charge``. Progress goes to stderr.

    python benchmarks/dis_validation.py [--n 20000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from hepfm.simulate.neutrino import pdf
from hepfm.simulate.neutrino.constants import NEUTRON, PROTON, pdg_charge
from hepfm.simulate.neutrino.dis import DISParams
from hepfm.simulate.neutrino.hadronization import agky_hadronize, mean_charged_multiplicity, pythia_hadronize

REACTIONS = ((14, PROTON, "ν p"), (14, NEUTRON, "ν n"), (-14, PROTON, "ν̄ p"), (-14, NEUTRON, "ν̄ n"))
W_PYTHIA = np.array([2.0, 2.5, 3.0, 5.0, 9.9])
W_AGKY = np.array([1.9, 2.0, 2.5, 3.0])


def progress(msg: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:6.1f} s] {msg}", file=sys.stderr, flush=True)


def charge(nu: int, nucleon: int) -> int:
    return (1 if nucleon == PROTON else 0) + (1 if nu > 0 else -1)


def counts(pdg: np.ndarray, event: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per system: number of hadrons and of charged hadrons."""
    had = np.abs(pdg) > 100
    return np.bincount(event[had], minlength=n), np.bincount(event[had & (pdg_charge(pdg) != 0)], minlength=n)


def pythia_nch(nu: int, nucleon: int, n: int, p: DISParams,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """⟨n_ch⟩ and its standard error at each W of W_PYTHIA (n valence strings each), and the failures."""
    ch = pdf.channels(nu, True, p.cos_cabibbo, p.sin2_theta_w, p.charm)
    i = np.flatnonzero(ch.valence)[np.argmax(ch.a[ch.valence])]
    w = np.repeat(W_PYTHIA, n)
    m = len(w)
    pdg, _, sys_, failed = pythia_hadronize(w, np.full(m, charge(nu, nucleon)), np.full(m, nucleon),
                                            np.full(m, ch.struck[i]), np.full(m, ch.out[i]), np.ones(m, bool),
                                            p.pythia_lines(), rng)
    nch = counts(pdg, sys_, m)[1].astype(float)
    nch[failed] = np.nan
    nch = nch.reshape(len(W_PYTHIA), n)
    ok = np.isfinite(nch).sum(axis=1)
    return np.nanmean(nch, axis=1), np.nanstd(nch, axis=1) / np.sqrt(ok), int(failed.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="strings (AGKY systems) per reaction and W (default 20000)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    genie, monash = DISParams(), DISParams(pythia_tune=())
    head = " | ".join(f"{w:.1f}" for w in W_PYTHIA)
    t1 = [f"| W [GeV] | {head} |", "|---" * (len(W_PYTHIA) + 1) + "|"]
    t2 = list(t1)
    err, fails = 0.0, 0
    for k, (nu, nucleon, name) in enumerate(REACTIONS):
        g, g_err, f1 = pythia_nch(nu, nucleon, args.n, genie, rng)
        mo, mo_err, f2 = pythia_nch(nu, nucleon, args.n, monash, rng)
        formula = mean_charged_multiplicity(W_PYTHIA, nu, nucleon, genie.agky)
        label = f"{name}: Pythia / formula" if k == 0 else name
        t1.append(f"| {label} | " + " | ".join(f"{a:.2f} / {b:.2f}" for a, b in zip(g, formula)) + " |")
        t2.append(f"| {name} | " + " | ".join(f"{d:+.2f}" for d in mo - g) + " |")
        err, fails = max(err, g_err.max(), mo_err.max()), fails + f1 + f2
        progress(f"Pythia {name}", t0)
    t3 = ["| W [GeV] | " + " | ".join(f"{w:.1f}" for w in W_AGKY) + " |", "|---" * (len(W_AGKY) + 1) + "|"]
    w = np.repeat(W_AGKY, args.n)
    for nu, nucleon, name in REACTIONS:
        pdg, _, ev = agky_hadronize(w, np.full(len(w), charge(nu, nucleon)), nu, nucleon, genie.agky, rng)
        n_tot, n_ch = (c.reshape(len(W_AGKY), args.n).mean(axis=1) for c in counts(pdg, ev, len(w)))
        formula = mean_charged_multiplicity(W_AGKY, nu, nucleon, genie.agky)
        t3.append(f"| {name}: ⟨n_ch⟩ / formula | "
                  + " | ".join(f"{a:.2f} / {b:.2f}" for a, b in zip(n_ch, formula)) + " |")
        t3.append(f"| {name}: ⟨n⟩ / 1.5 × formula | "
                  + " | ".join(f"{a:.2f} / {1.5 * b:.2f}" for a, b in zip(n_tot, formula)) + " |")
    progress("AGKY", t0)
    out = [f"⟨n_ch⟩ of Pythia strings (GENIE tune, {args.n} valence quark + diquark strings per point) "
           "against the AGKY formula a + b ln W²", "", *t1, "",
           f"Pythia 8 Monash defaults (`pythia_tune=()`) minus the GENIE tune, ⟨n_ch⟩; largest standard error "
           f"of a table entry {err:.3f}; strings Pythia could not fragment: {fails} of {8 * len(W_PYTHIA) * args.n}",
           "", *t2, "", f"AGKY model (`agky_hadronize`, {args.n} systems per point) against its formula", "", *t3]
    print("\n".join(out))
    progress("all done", t0)


if __name__ == "__main__":
    main()
