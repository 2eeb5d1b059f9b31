"""DDP under torchrun (2 CPU processes, gloo): ranks end with identical weights, FLOPs summed over ranks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_train_fixtures import write_dataset

from hepfm.train import read_metrics

SCRIPT = """
import hashlib, json, sys
import torch.distributed as dist
sys.path.insert(0, {tests!r})
from test_train_fixtures import file_run
from hepfm.train import step_flops

model, result, train = file_run({data!r}, {out!r}, epochs=2, checkpoint_every=0, val_every=0, log_every=2)
digest = hashlib.sha256()
for name, tensor in sorted(model.state_dict().items()):
    digest.update(name.encode() + tensor.detach().contiguous().numpy().tobytes())
local = 0
for epoch in range(2):
    train.set_epoch(epoch)
    local += sum(step_flops(model, batch) for batch in train)
rank = dist.get_rank()
with open({out!r} + f"/rank{{rank}}.json", "w") as f:
    json.dump(dict(hash=digest.hexdigest(), local_flops=local, flops=result.flops, steps=result.steps), f)
dist.destroy_process_group()
"""


def test_two_process_ddp(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    out = tmp_path / "run"
    out.mkdir()
    script = tmp_path / "ddp.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent), data=str(tmp_path), out=str(out)))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone", str(script)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["hash"] == ranks[1]["hash"]
    assert ranks[0]["steps"] == ranks[1]["steps"] == 2 * 4  # 64 events / 2 ranks / batch 8, two epochs
    assert ranks[0]["flops"] == ranks[1]["flops"] == ranks[0]["local_flops"] + ranks[1]["local_flops"]
    assert ranks[0]["local_flops"] != ranks[1]["local_flops"]  # the ranks saw different events
    records = read_metrics(out / "metrics.jsonl")  # written by rank 0 only: one record per step
    assert [r["step"] for r in records] == [2, 4, 6, 8] and records[-1]["flops"] == ranks[0]["flops"]
    assert "val_loss" in records[-1] and (out / "last" / "model.safetensors").is_file()
