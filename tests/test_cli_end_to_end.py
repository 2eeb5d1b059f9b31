"""End to end through the CLI: real jets → split → pretrain → finetune (pretrained and random) → evaluate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hepfm.cli import app
from hepfm.data import read_all, split_events, write_events
from hepfm.simulate.jets import sample_path

from conftest import TINY_MODEL_ARGS as TINY


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def jets(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    block = read_all(sample_path())
    write_events(root / "jets.h5", block.select(np.arange(0, len(block), 3)))  # every third jet
    split_events(root / "jets.h5", root / "ready", seed=0)
    return root


def test_pretrain_finetune_evaluate(jets: Path) -> None:
    _run("data", "validate", str(jets / "jets.h5"))
    _run("data", "split", str(jets / "jets.h5"), str(jets / "split"), "--seed", "1")
    _run("pretrain", "--data", str(jets / "split" / "train"), "--model", "pet-tiny", "--out", str(jets / "pre"),
         "--set", "train.max_steps=6", *TINY)
    assert (jets / "pre" / "best" / "model.safetensors").is_file()
    records = [json.loads(line) for line in (jets / "pre" / "metrics.jsonl").read_text().splitlines()]
    assert records and all("flops" in r and "wall_time" in r for r in records)

    for init in ("pretrained", "random"):
        out = _run("finetune", "--backbone", str(jets / "pre" / "best"), "--init", init, "--strategy", "full",
                   "--data", str(jets / "split" / "train"), "--out", str(jets / f"ft-{init}"),
                   "--set", "train.max_steps=4", *TINY)
        assert "accuracy" in out
    _run("evaluate", str(jets / "ft-pretrained" / "best"), str(jets / "split" / "test"),
         "--out", str(jets / "eval"), "--max-tokens", "24")
    metrics = json.loads((jets / "eval" / "metrics.json").read_text())
    assert 0.0 <= metrics["label"]["accuracy"] <= 1.0
    assert (jets / "eval" / "predictions.h5").is_file()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["data", "validate", "{root}/missing.h5"], "missing.h5"),
        (["data", "validate", "{root}/not_h5.h5"], "not_h5.h5"),
        (["pretrain", "--data", "{root}/jets.h5", "--set", "train.lrr=1"], "lrr"),
        (["pretrain", "--data", "{root}/jets.h5", "--set", "nonsense"], "section.key=value"),
        (["finetune", "--data", "{root}/ready/train", "--backbone", "no-such-backbone"], "no-such-backbone"),
        (["finetune", "--data", "{root}/ready/train", "--backbone", "x", "--init", "warm"], "--init"),
        (["finetune", "--data", "{root}/ready/train", "--backbone", "x", "--strategy", "half"], "half"),
        (["pretrain", "--data", "{root}/ready/train", "--set", "train.lr=-1"], "lr"),
        (["pretrain", "--data", "{root}/ready/train", "--set", "tasks=[{label: energy}]"], "energy"),
        (["pretrain", "--data", "{root}/ready/train", "--model", "pet-huge"], "pet-huge"),
        (["data", "split", "{root}/jets.h5", "{root}/s", "--fractions", "0.5,0.6,0.1"], "--fractions"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(jets: Path, args: list[str], needle: str) -> None:
    (jets / "not_h5.h5").write_text("this is not HDF5")
    argv = [a.replace("{root}", str(jets)) for a in args]
    proc = subprocess.run([sys.executable, "-m", "hepfm.cli", *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("hepfm: error:")]
    assert len(errors) == 1 and needle in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_every_command_has_help() -> None:
    for cmd in (["--help"], ["data", "--help"], ["pretrain", "--help"], ["finetune", "--help"],
                ["evaluate", "--help"], ["quickstart", "--help"], ["data", "split", "--help"]):
        assert "Usage" in _run(*cmd)
