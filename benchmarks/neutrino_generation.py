"""Neutrino generation throughput: events/s of ``hepfm simulate neutrino`` on this machine.

Two measurements, both for the defaults (CH target, NuMI-like ν_μ flux, FSI on, detector
response and all labels):

* stage by stage on one core, with the cross-section table built beforehand: channel
  sampling, intranuclear cascade, detector response;
* the command itself, end to end with its start-up and table building, writing
  ``--n-events`` events with ``--workers`` processes (one shard per worker).

    python benchmarks/neutrino_generation.py [--n-events 100000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def stages(n: int, seed: int = 1) -> dict[str, float]:
    """Seconds per stage for ``n`` events on one core (the cross-section table timed apart)."""
    from hepfm.simulate.neutrino.detector import DetectorConfig, detector_response
    from hepfm.simulate.neutrino.fsi import apply_fsi
    from hepfm.simulate.neutrino.generator import NeutrinoConfig, _sample_interactions, xsec_table

    config = NeutrinoConfig()
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    table = xsec_table(config)
    t_table = time.perf_counter() - t0
    _sample_interactions(1000, config, table, rng, "primary")  # warm-up: Pythia start, sampling envelopes
    t0 = time.perf_counter()
    primary = _sample_interactions(n, config, table, rng, "primary")
    t_primary = time.perf_counter() - t0
    nuclei = {nuc.pdg: nuc for nuc, _ in config.get_target().components if not nuc.free}
    t0 = time.perf_counter()
    final = apply_fsi(primary, nuclei, config.physics.fsi, rng)
    t_fsi = time.perf_counter() - t0
    t0 = time.perf_counter()
    detector_response(final, DetectorConfig(), rng)
    t_det = time.perf_counter() - t0
    return {"table": t_table, "primary": t_primary, "fsi": t_fsi, "detector": t_det}


def command(n: int, workers: int) -> float:
    """Wall seconds of ``hepfm simulate neutrino OUT --n-events n --workers w --n-shards w``."""
    hepfm = os.path.join(os.path.dirname(sys.executable), "hepfm")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([hepfm, "simulate", "neutrino", f"{tmp}/nu", "--n-events", str(n), "--workers", str(workers),
                        "--n-shards", str(workers)], check=True, capture_output=True)
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-events", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stage-events", type=int, default=20_000)
    args = parser.parse_args()
    s = stages(args.stage_events)
    n = args.stage_events
    total = s["primary"] + s["fsi"] + s["detector"]
    print(f"one core, {n} events (cross-section table {s['table']:.1f} s, built once per process):")
    for k in ("primary", "fsi", "detector"):
        print(f"  {k:<9} {s[k]:6.2f} s  {n / s[k]:>9.0f} ev/s")
    print(f"  {'total':<9} {total:6.2f} s  {n / total:>9.0f} ev/s")
    wall = command(args.n_events, args.workers)
    print(f"hepfm simulate neutrino --n-events {args.n_events} --workers {args.workers}: {wall:.1f} s wall, "
          f"{args.n_events / wall:.0f} ev/s including start-up and table building")


if __name__ == "__main__":
    main()
