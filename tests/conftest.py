"""Shared test fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
from typer.testing import CliRunner

#: CLI overrides that make any recipe's model and batches tiny
TINY_MODEL_ARGS = ["--set", "model.options.dim=16", "--set", "model.options.depth=1", "--set", "model.options.heads=2",
                   "--set", "model.options.head_hidden=16", "--set", "data.max_tokens=24", "--set", "train.batch_size=32"]


@pytest.fixture()
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread (and do not stall when other jobs share the cores)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny() -> list[str]:
    """CLI ``--set`` overrides for a tiny model (see :data:`TINY_MODEL_ARGS`)."""
    return list(TINY_MODEL_ARGS)


@pytest.fixture(scope="session")
def cli() -> Callable[..., str]:
    """Run the ``hepfm`` CLI in-process; assert exit code 0 and return the output."""
    from hepfm.cli import app

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return run
