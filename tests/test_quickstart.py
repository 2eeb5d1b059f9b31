"""``hepfm quickstart`` end to end, shrunk: few events, a tiny jet backbone, a tiny FLOP budget."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hepfm.data import read_all, split_events, write_events
from hepfm.simulate.jets import sample_path


def test_quickstart_runs_the_reduced_transfer_study(tmp_path: Path, cli, tiny: list[str]) -> None:
    block = read_all(sample_path())
    write_events(tmp_path / "jets.h5", block.select(np.arange(0, len(block), 4)))
    split_events(tmp_path / "jets.h5", tmp_path / "jets", seed=0)
    cli("pretrain", "--data", str(tmp_path / "jets" / "train"), "--model", "pet-tiny", "--out", str(tmp_path / "pre"),
        "--set", "train.max_steps=3", *tiny)
    args = ["quickstart", "--out", str(tmp_path / "qs"), "--backbone", str(tmp_path / "pre" / "best"),
            "--n-events", "2000", "--max-flops", "3e8"]
    out = cli(*args)
    assert "report:" in out and "cc1pi_charged" in out
    report = json.loads((tmp_path / "qs" / "report" / "report.json").read_text())
    assert report["runs"]["planned"] == 6 and report["runs"]["done"] == 6
    assert (tmp_path / "qs" / "report" / "index.html").stat().st_size > 10_000
    again = cli(*args)  # everything is done: nothing is trained again
    assert "0 trained now, 6 already done" in again
