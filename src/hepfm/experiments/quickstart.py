"""``hepfm quickstart``: a reduced jets → neutrino transfer study (minutes on a laptop CPU).

1. Generate MINERvA-like neutrino events (CH target, NuMI-like flux) with the built-in
   generator and split them into train / val / test.
2. On ``cc1pi_charged`` (CC events with exactly one charged pion vs everything else),
   train with one FLOP budget and one learning-rate recipe: the shipped jet-pretrained PET
   (``pet-tiny-jets``, full fine-tuning), its random-init twin, and the MLP on event-level
   features, for two seeds.
3. Write the study report (HTML + PNG + JSON) and print the verdict and where it is.

It is :func:`hepfm.experiments.transfer.run_study` with a small study; the full study is
``hepfm experiment transfer --config configs/transfer/neutrino.yaml``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import yaml

from hepfm.data import split_events

log = logging.getLogger("hepfm.quickstart")

TASK = "cc1pi_charged"
N_EVENTS = 40_000


def quickstart_study(out: Path, backbone: str = "pet-tiny-jets", max_flops: float = 4e11,
                     n_events: int = N_EVENTS) -> dict[str, Any]:
    """The study the quickstart runs (also written to ``out/study.yaml`` for ``hepfm experiment transfer``)."""
    return {
        "data": {"train": str(out / "data" / "train"), "max_tokens": 32},
        "tasks": [TASK],
        "families": [{"name": "pet", "backbone": backbone}],
        "mlp": {"options": {"dim": 64, "depth": 2}},
        "strategies": ["full"],
        "seeds": [0, 1],
        "train_sizes": [min(20_000, int(0.55 * n_events))],  # of the ~60 % train split
        "budget": {"max_flops": max_flops, "max_steps": 1500},
        "train": {"optimizer": "adamw", "lr": 5e-4, "weight_decay": 0.01, "schedule": "cosine",
                  "warmup_fraction": 0.05, "batch_size": 128, "new_param_lr_factor": 10.0,
                  "val_every": 25, "log_every": 25},
        "out": str(out),
    }


def make_events(folder: Path, n_events: int = N_EVENTS, seed: int = 0, workers: int = 2) -> Path:
    """Generate and split the neutrino sample into ``folder/{train,val,test}`` (skipped if there)."""
    from hepfm.simulate.neutrino.generator import NeutrinoConfig, plan_neutrino, write_neutrino

    if (folder / "train").is_dir():
        log.info("neutrino events already in %s", folder)
        return folder / "train"
    job = plan_neutrino(n_events, config=NeutrinoConfig(), seed=seed, n_shards=workers)
    log.info("generating %d neutrino events (CH, NuMI-like flux)", n_events)
    write_neutrino(folder / "events", job, workers=workers)
    split_events(folder / "events", folder, fractions=(0.6, 0.1, 0.3), seed=seed)
    return folder / "train"


def run_quickstart(out: Path, *, backbone: str = "pet-tiny-jets", n_events: int = N_EVENTS,
                   max_flops: float = 4e11) -> str:
    """Run the reduced study into ``out``; return a printable summary."""
    from hepfm.experiments.transfer import TransferStudy, run_study

    out = Path(out)
    make_events(out / "data", n_events)
    raw = quickstart_study(out, backbone, max_flops, n_events)
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    result = run_study(TransferStudy.from_raw(raw, where="quickstart"))
    report = json.loads((Path(result["report"]).parent / "report.json").read_text())
    verdict = report["tasks"][TASK]["verdict"]
    lines = [f"quickstart: jet-pretrained PET vs random init vs event-level MLP on {TASK}",
             f"  {result['planned']} runs ({result['ran']} trained now, {result['skipped']} already done), "
             f"{max_flops:.2g} FLOPs each", *[f"  {v}" for v in verdict],
             f"  report: {result['report']}",
             f"  rerun or extend: hepfm experiment transfer --config {out / 'study.yaml'}"]
    return "\n".join(lines)
