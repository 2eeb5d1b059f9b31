"""Throughput worker: holds one model, its AdamW optimiser and one batch, and times steps on request.

Run by ``benchmarks/model_throughput.py`` as a subprocess, under the hepfm venv for
``hepfm:<name>`` models and under OmniLearned's venv for ``omnilearned:<size>`` models.
It imports only torch/numpy at module level, so it runs in either environment.

Protocol: one JSON object per line on stdin, one JSON reply per line on stdout.

* ``{"cmd": "info"}`` -> ``{"params": int, "train_flops": int, "infer_flops": int}``
* ``{"cmd": "train", "iters": n}`` -> ``{"seconds": float, "cpu_seconds": float}`` (n training steps;
  wall-clock time and the process's user + system CPU time)
* ``{"cmd": "infer", "iters": n}`` -> the same for n inference batches
* ``{"cmd": "peak"}`` -> ``{"fp32": GFLOP/s, "bf16": GFLOP/s}`` of 2048 x 2048 matmuls
* ``{"cmd": "quit"}``

A training step is ``zero_grad -> forward -> cross-entropy -> backward -> AdamW.step``,
identical for both frameworks (OmniLearned's own loop adds class weights, gradient
clipping and an LR scheduler; they are left out on both sides).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode


def make_inputs(batch: int, tokens: int, real: int, classes: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A jet-like padded batch: ``x`` [B, M, 4] (deta, dphi, log_pt, log_e), ``mask`` [B, M], ``y`` [B].

    The first ``real`` tokens of each event are real, in decreasing pT order (as in a
    jet); padded rows are exactly zero (OmniLearned reads padding from log_pt == 0).
    pT (GeV) falls off like a jet's constituents: log pT ~ 3.5 - 4.5 * rank / real + N(0, 0.3).
    """
    g = np.random.default_rng(seed)
    deta = g.normal(0.0, 0.2, (batch, real))
    dphi = g.normal(0.0, 0.2, (batch, real))
    log_pt = np.sort(3.5 - 4.5 * np.arange(real) / real + g.normal(0.0, 0.3, (batch, real)), axis=1)[:, ::-1]
    log_pt = np.where(np.abs(log_pt) < 1e-3, 1e-3, log_pt)  # never exactly zero (would read as padding)
    jet_eta = g.uniform(-2.0, 2.0, (batch, 1))
    log_e = log_pt + np.log(np.cosh(jet_eta + deta))
    x = np.zeros((batch, tokens, 4), np.float32)
    x[:, :real] = np.stack([deta, dphi, log_pt, log_e], axis=-1)
    mask = np.zeros((batch, tokens), bool)
    mask[:, :real] = True
    y = g.integers(0, classes, batch)
    return {"x": torch.from_numpy(x), "mask": torch.from_numpy(mask), "y": torch.from_numpy(y)}


# ----------------------------------------------------------------------------- models


def build_hepfm(name: str, inputs: dict[str, torch.Tensor], classes: int) -> tuple[torch.nn.Module, Callable, Any]:
    from hepfm.models import TaskSpec, create_model

    model = create_model(name, tasks=[TaskSpec("label", "class", num_classes=classes)])
    b, m = inputs["mask"].shape
    batch = {
        "x": inputs["x"],
        "mask": inputs["mask"],
        "token_type": torch.zeros(b, m, dtype=torch.long),
        "extra": torch.zeros(b, m, 0),
        "event": torch.zeros(b, 0),
        "labels": {"label": inputs["y"]},
    }
    return model, lambda: model(batch)["label"], batch


def omnilearned_kwargs(size: str, classes: int, interaction: bool) -> dict[str, Any]:
    """PET2 arguments as ``omnilearned train --size <size> --num-classes <classes> [--interaction]`` builds it."""
    from omnilearned.utils import get_model_parameters

    return dict(
        input_dim=4, use_int=interaction, local_int=False, int_type="lhc", conditional=False, pid=False,
        add_info=False, mode="classifier", num_classes=classes, mlp_drop=0.0, attn_drop=0.0, feature_drop=0.0,
        num_coord=2, K=10, **get_model_parameters(size),
    )


def build_omnilearned(size: str, inputs: dict[str, torch.Tensor], classes: int,
                      interaction: bool) -> tuple[torch.nn.Module, Callable, Any]:
    from omnilearned.network import PET2

    model = PET2(**omnilearned_kwargs(size, classes, interaction))
    x, y = inputs["x"], inputs["y"]
    return model, lambda: model(x, y)["y_pred"], None


# ----------------------------------------------------------------------------- FLOPs


def _sdpa_forward(query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    return flop_counter.sdpa_flop_count(query, key, value)


def _sdpa_backward(grad_out: Any, query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None,
                   **kwargs: Any) -> int:
    return flop_counter.sdpa_backward_flop_count(grad_out, query, key, value)


# CPU flash-attention kernels that FlopCounterMode does not count by itself (same as hepfm.train.flops)
EXTRA_FORMULAS = {
    getattr(torch.ops.aten, name): formula
    for name, formula in (("_scaled_dot_product_flash_attention_for_cpu", _sdpa_forward),
                          ("_scaled_dot_product_flash_attention_for_cpu_backward", _sdpa_backward))
    if hasattr(torch.ops.aten, name)
}


def count_flops(model: torch.nn.Module, forward: Callable, y: torch.Tensor, train: bool) -> int:
    """FLOPs of one training step's forward + backward (``train``) or one inference forward."""
    model.train(train)
    with FlopCounterMode(display=False, custom_mapping=EXTRA_FORMULAS) as fc:
        if train:
            F.cross_entropy(forward(), y).backward()
        else:
            with torch.no_grad():
                forward()
    model.zero_grad(set_to_none=True)
    return int(fc.get_total_flops())


# ----------------------------------------------------------------------------- worker


class Worker:
    def __init__(self, args: argparse.Namespace) -> None:
        torch.manual_seed(0)
        inputs = make_inputs(args.batch, args.tokens, args.real, args.classes)
        self.y = inputs["y"]
        kind, name = args.model.split(":", 1)
        self.kind = kind
        if kind == "hepfm":
            self.model, self.forward, self.hepfm_batch = build_hepfm(name, inputs, args.classes)
        elif kind == "omnilearned":
            size, _, variant = name.partition("+")
            self.model, self.forward, self.hepfm_batch = build_omnilearned(size, inputs, args.classes, variant == "int")
        else:
            raise SystemExit(f"unknown model kind {kind!r}")
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        self.autocast = args.dtype == "bf16"
        self.flop_events = args.flop_events
        self.args = args

    def _amp(self) -> Any:
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast)

    def train(self, iters: int) -> float:
        self.model.train()
        t0 = time.perf_counter()
        for _ in range(iters):
            self.opt.zero_grad(set_to_none=True)
            with self._amp():
                loss = F.cross_entropy(self.forward().float(), self.y)
            loss.backward()
            self.opt.step()
        return time.perf_counter() - t0

    def infer(self, iters: int) -> float:
        self.model.eval()
        t0 = time.perf_counter()
        with torch.inference_mode(), self._amp():
            for _ in range(iters):
                self.forward()
        return time.perf_counter() - t0

    def info(self) -> dict[str, Any]:
        params = sum(p.numel() for p in self.model.parameters())
        if self.kind == "hepfm":  # hepfm's own counter (hepfm.train.flops), on this very batch
            from hepfm.train.flops import count_flops as hepfm_count

            train_flops = hepfm_count(self.model, self.hepfm_batch, backward=True)
            infer_flops = hepfm_count(self.model, self.hepfm_batch, backward=False)
            return {"params": params, "train_flops": train_flops, "infer_flops": infer_flops}
        # OmniLearned: exact count on a few events of the same width, scaled (FLOPs are linear in the batch size)
        a = self.args
        small = make_inputs(self.flop_events, a.tokens, a.real, a.classes)
        size, _, variant = a.model.split(":", 1)[1].partition("+")
        model, forward, _ = build_omnilearned(size, small, a.classes, variant == "int")
        scale = a.batch / self.flop_events
        train_flops = round(count_flops(model, forward, small["y"], True) * scale)
        infer_flops = round(count_flops(model, forward, small["y"], False) * scale)
        return {"params": params, "train_flops": train_flops, "infer_flops": infer_flops}


def matmul_gflops(dtype: torch.dtype, n: int = 2048, reps: int = 3) -> float:
    """Best-of-``reps`` GFLOP/s of an n x n matmul (after one warm-up)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, help="hepfm:<registry name> or omnilearned:<size>[+int]")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--tokens", type=int, default=100)
    p.add_argument("--real", type=int, default=80)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--flop-events", type=int, default=4)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    worker = Worker(args)
    reply = {"ready": True, "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    print(json.dumps(reply), flush=True)
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg["cmd"]
        if cmd == "quit":
            break
        if cmd == "info":
            reply = worker.info()
        elif cmd in ("train", "infer"):
            cpu0 = _cpu_seconds()
            seconds = getattr(worker, cmd)(int(msg["iters"]))
            reply = {"seconds": seconds, "cpu_seconds": _cpu_seconds() - cpu0}
        elif cmd == "peak":
            reply = {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)}
        else:
            reply = {"error": f"unknown command {cmd!r}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
