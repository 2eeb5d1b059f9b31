"""Jet generation throughput on one core: hepfm vs Pythia's own event rate.

For every process of :mod:`hepfm.simulate.jets` this runs the same events (same seed)
twice: bare ``pythia.next()`` only, and hepfm's full pipeline (``nextBatch``, truth
matching, FastJet clustering, features). It prints events/s of both, hepfm's overhead
and the kept jets/s per class. A second table compares ways of getting particles out
of Pythia into numpy.

    python benchmarks/jets_generation.py [--events 400] [--seed 1]
"""

from __future__ import annotations

import argparse
import time

import awkward as ak
import numpy as np

from hepfm.simulate.jets import CLASSES, DEFAULT_CLASSES, SOURCES, JetConfig, SourceRun, make_pythia


def _chunks(n_events: int, size: int = 50) -> list[int]:
    return [min(size, n_events - i) for i in range(0, n_events, size)]


def rates(source: str, cfg: JetConfig, seed: int, n_events: int) -> tuple[float, float, dict[str, float]]:
    """(bare events/s, hepfm events/s, kept jets/s per class) on the same events.

    Bare ``pythia.next()`` and the hepfm pipeline run alternately in chunks of 50 events,
    so a change in machine load hits both alike. Initialisation is excluded.
    """
    bare = make_pythia(cfg.pythia_settings(source, seed))
    run = SourceRun(source, DEFAULT_CLASSES, cfg, seed)
    bare_s, labels = 0.0, []
    for n in _chunks(n_events):
        t0 = time.perf_counter()
        for _ in range(n):
            bare.next()
        bare_s += time.perf_counter() - t0
        labels.append(run.next_batch(n).labels["label"])
    counts = np.bincount(np.concatenate(labels), minlength=len(DEFAULT_CLASSES))
    jets = {c: counts[i] / run.seconds for i, c in enumerate(DEFAULT_CLASSES) if CLASSES[c][0] == source}
    return n_events / bare_s, run.stats["events"] / run.seconds, jets


def extraction_costs(cfg: JetConfig, seed: int, n_events: int) -> dict[str, float]:
    """Extra milliseconds per QCD event, beyond ``pythia.next()``, to get particles into numpy."""
    settings = cfg.pythia_settings("qcd", seed)
    bare, batched, looped = make_pythia(settings), make_pythia(settings), make_pythia(settings)
    t_bare = t_batch = t_loop = 0.0
    for n in _chunks(n_events):
        t0 = time.perf_counter()
        for _ in range(n):
            bare.next()
        t1 = time.perf_counter()
        np.asarray(ak.flatten(batched.nextBatch(n)["prt"]["p"]["px"]))
        t2 = time.perf_counter()
        for _ in range(n):
            looped.next()
            np.asarray([(p.px(), p.py(), p.pz(), p.e(), p.id()) for p in looped.event.particles() if p.isFinal()])
        t3 = time.perf_counter()
        t_bare, t_batch, t_loop = t_bare + t1 - t0, t_batch + t2 - t1, t_loop + t3 - t2
    return {
        "nextBatch (awkward, whole record)": (t_batch - t_bare) / n_events * 1e3,
        "Python loop, final particles only": (t_loop - t_bare) / n_events * 1e3,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=400, help="events per process")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    cfg = JetConfig()
    print(f"jets {cfg.pt_min:.0f}-{cfg.pt_max:.0f} GeV, |eta| < {cfg.eta_max}, {args.events} events per process, 1 core\n")
    header = f"{'process':8} {'bare ev/s':>10} {'hepfm ev/s':>10} {'overhead':>9}  kept jets/s per class"
    print(header + "\n" + "-" * len(header))
    for source in SOURCES:
        bare, full, jets = rates(source, cfg, args.seed, args.events)
        per_class = ", ".join(f"{c} {r:.1f}" for c, r in jets.items())
        print(f"{source:8} {bare:10.1f} {full:10.1f} {100 * (bare / full - 1):8.1f}%  {per_class}")
    print("\nparticle extraction, extra ms per QCD event beyond pythia.next():")
    for name, ms in extraction_costs(cfg, args.seed, args.events).items():
        print(f"  {name:36} {ms:6.2f}")


if __name__ == "__main__":
    main()
