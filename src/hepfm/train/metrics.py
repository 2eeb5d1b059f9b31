"""Metric records: ``metrics.jsonl`` (one JSON object per line) and, if installed, TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hepfm.utils import atomic_path


class MetricsLog:
    """Append-only metric records; on resume, records past the checkpoint step are dropped.

    Every record carries ``step``, ``epoch``, ``flops`` (cumulative) and ``wall_time``
    (cumulative seconds), so runs can be compared at equal compute.
    """

    def __init__(self, out_dir: str | Path, *, resume_step: int | None, enabled: bool = True) -> None:
        self.path = Path(out_dir) / "metrics.jsonl"
        self.enabled = enabled
        self.tensorboard = None
        if not enabled:
            return
        kept = [r for r in read_metrics(self.path) if r["step"] <= resume_step] if resume_step is not None else []
        with atomic_path(self.path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        try:  # optional: needs the tensorboard package
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(str(Path(out_dir) / "tensorboard"), purge_step=resume_step)
        except Exception:  # noqa: BLE001 - tensorboard missing or broken: skip silently
            self.tensorboard = None

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tensorboard is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tensorboard.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All complete records of a ``metrics.jsonl`` (a torn last line from a crash is skipped)."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
