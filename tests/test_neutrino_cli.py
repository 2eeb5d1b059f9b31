"""``hepfm simulate neutrino`` end to end: events with labels on disk, cross-section table, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hepfm.data import read_all


def test_simulate_neutrino_writes_valid_labelled_events(tmp_path: Path, cli) -> None:
    out = cli("simulate", "neutrino", str(tmp_path / "nu"), "--n-events", "600", "--workers", "1", "--seed", "5")
    assert "wrote 2 file(s)" in out
    cli("data", "validate", str(tmp_path / "nu"))
    block = read_all(tmp_path / "nu")
    assert len(block) == 600
    for label in ("cc1pi_charged", "cc1pi0", "ccnpi_charged", "e_available", "cc", "channel"):
        assert label in block.labels
    assert "muon" in block.schema.token_types and block.schema.provenance["config"]["target"] == "CH"
    # rerun: the shards exist, nothing is regenerated
    before = sorted(p.stat().st_mtime_ns for p in (tmp_path / "nu").glob("part-*.h5"))
    cli("simulate", "neutrino", str(tmp_path / "nu"), "--n-events", "600", "--workers", "1", "--seed", "5")
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "nu").glob("part-*.h5")) == before


def test_xsec_table_and_bad_arguments(cli) -> None:
    table = cli("simulate", "neutrino", "--xsec", "--target", "C")
    assert "qe_cc" in table and "dis_cc" in table and "total" in table
    for args, needle in ((["--xsec", "--nu", "nue"], "--nu"), (["--xsec", "--target", "Xe"], "Xe"),
                         (["--xsec", "--physics", "qe.m_a=-1"], "m_a")):
        proc = subprocess.run([sys.executable, "-m", "hepfm.cli", "simulate", "neutrino", *args],
                              capture_output=True, text=True, timeout=120)
        errors = [line for line in proc.stderr.splitlines() if line.startswith("hepfm: error:")]
        assert proc.returncode == 2 and len(errors) == 1 and needle in errors[0], proc.stderr
