"""Quality worker: train one model on a fixed plan of batches and write its test-set probabilities.

Run by ``benchmarks/model_quality.py``: under the hepfm venv for ``hepfm:<name>`` (data: an
hepfm event file, batches made by ``hepfm.data.collate_block``) and under OmniLearned's
venv for ``omnilearned:<size>[+int]`` (data: the same events exported with
``hepfm.data.export_omnilearned``, read by OmniLearned's own ``HEPDataset`` and
``collate_point_cloud``). The training loop below is shared, so both frameworks see the same
events in the same order with the same optimiser, schedule and gradient clipping.
Imports only torch/numpy at module level.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

Forward = Callable[[np.ndarray], tuple[torch.Tensor, torch.Tensor]]  # event indices -> (logits, labels)


def hepfm_model(name: str, data: Path, max_tokens: int) -> tuple[torch.nn.Module, Forward]:
    from hepfm.data import collate_block, open_events, read_all
    from hepfm.models import InputSpec, TaskSpec, create_model

    schema = open_events(data).schema
    block = read_all(data)
    label = schema.labels[0]
    inputs = InputSpec(n_features=len(schema.features), n_token_types=len(schema.token_types),
                       n_extra=len(schema.extra), n_event=0)
    model = create_model(name, inputs=inputs, tasks=[TaskSpec(label.name, "class", num_classes=len(label.classes))])

    def forward(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        batch = collate_block(block.select(idx), max_tokens=max_tokens)
        return model(batch)[label.name], batch["labels"][label.name]

    return model, forward


def omnilearned_model(spec: str, data: Path, classes: int, n_types: int,
                      n_extra: int) -> tuple[torch.nn.Module, Forward]:
    import h5py
    from omnilearned.dataloader import HEPDataset, collate_point_cloud
    from omnilearned.network import PET2
    from omnilearned.utils import get_model_parameters

    size, _, variant = spec.partition("+")
    files = sorted(str(p) for p in data.glob("*.h5"))
    index = [(f, i) for f, path in enumerate(files) for i in range(len(h5py.File(path, "r")["pid"]))]
    dataset = HEPDataset(files, file_indices=index, use_pid=n_types > 1, pid_idx=4, use_add=n_extra > 0,
                         num_add=n_extra)
    model = PET2(input_dim=4, use_int=variant == "int", local_int=False, int_type="lhc", conditional=False,
                 pid=n_types > 1, pid_dim=n_types + 1, add_info=n_extra > 0, add_dim=max(n_extra, 1),
                 mode="classifier", num_classes=classes, mlp_drop=0.0, attn_drop=0.0, feature_drop=0.0,
                 num_coord=2, K=10, **get_model_parameters(size))

    def forward(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        batch = collate_point_cloud([dataset[int(i)] for i in idx])
        out = model(batch["X"], batch["y"], pid=batch["pid"], add_info=batch["add_info"])
        return out["y_pred"], batch["y"]

    return model, forward


def train_and_predict(model: torch.nn.Module, forward: Forward, plan: dict[str, np.ndarray], lr: float,
                      weight_decay: float, warmup: int) -> dict[str, Any]:
    """AdamW with linear warm-up then cosine decay, gradient clipping at 1; returns test probabilities."""
    steps = len(plan["train_batches"])
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=weight_decay)
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    losses = []
    t0 = time.perf_counter()
    model.train()
    for idx in plan["train_batches"]:
        opt.zero_grad(set_to_none=True)
        logits, y = forward(idx)
        loss = F.cross_entropy(logits.float(), y.long())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    train_s = time.perf_counter() - t0
    model.eval()
    probs, labels = [], []
    t0 = time.perf_counter()
    with torch.no_grad():
        test = plan["test"]
        for start in range(0, len(test), 128):
            logits, y = forward(test[start:start + 128])
            probs.append(torch.softmax(logits.float(), -1).numpy())
            labels.append(y.numpy())
    return {"probs": np.concatenate(probs), "labels": np.concatenate(labels), "losses": np.array(losses),
            "train_s": train_s, "test_s": time.perf_counter() - t0,
            "params": sum(p.numel() for p in model.parameters())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, help="hepfm:<name> or omnilearned:<size>[+int]")
    p.add_argument("--data", type=Path, required=True,
                   help="hepfm event file, or the folder of an OmniLearned export split")
    p.add_argument("--plan", type=Path, required=True, help="npz with train_batches [steps, batch] and test indices")
    p.add_argument("--out", type=Path, required=True, help="npz to write (probs, labels, losses) + .json stats")
    p.add_argument("--classes", type=int, required=True)
    p.add_argument("--token-types", type=int, default=1)
    p.add_argument("--extra", type=int, default=0)
    p.add_argument("--max-tokens", type=int, default=100)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    kind, name = args.model.split(":", 1)
    if kind == "hepfm":
        model, forward = hepfm_model(name, args.data, args.max_tokens)
    else:
        model, forward = omnilearned_model(name, args.data, args.classes, args.token_types, args.extra)
    plan = dict(np.load(args.plan))
    result = train_and_predict(model, forward, plan, args.lr, args.weight_decay, args.warmup)
    np.savez(args.out, probs=result["probs"], labels=result["labels"], losses=result["losses"])
    stats = {k: result[k] for k in ("train_s", "test_s", "params")} | {"torch": torch.__version__}
    args.out.with_suffix(".json").write_text(json.dumps(stats))


if __name__ == "__main__":
    main()
