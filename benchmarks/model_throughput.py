"""Model throughput: hepfm PET / particle transformer vs OmniLearned PET2, side by side.

One run measures, on this machine's CPU with ``--threads`` threads (default 2):

* training throughput (events/s of ``zero_grad -> forward -> cross-entropy -> backward ->
  AdamW.step``) and inference throughput (events/s under ``torch.inference_mode``);
* parameter counts; FLOPs per training step and per inference batch
  (``torch.utils.flop_counter.FlopCounterMode``; ``hepfm.train.flops`` for hepfm models);
* the matmul peak of the CPU (2048² fp32 and bf16 matmuls), so each model's step can be
  given as a fraction of peak;
* the hepfm / OmniLearned ratios at the small size.

Every model lives in its own worker process (``benchmarks/_throughput_worker.py``; the
OmniLearned ones under ``--omnilearned-python``). Only one worker computes at a time, and
the timed rounds go round-robin over all models (and the matmul peak), so machine noise
hits every model alike. Each number is the median over rounds, after untimed warm-up steps.
Medium and large models run in later groups (their own workers) to bound memory. Workers run
with ``OMP_WAIT_POLICY=PASSIVE`` by default (see benchmarks/README.md).

    python benchmarks/model_throughput.py                 # full run (~5-7 min on 2 cores)
    python benchmarks/model_throughput.py --quick         # ~1 min: tiny/small only, batch 16
    python benchmarks/model_throughput.py --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


HERE = Path(__file__).resolve().parent
WORKER = HERE / "_throughput_worker.py"
DEFAULT_OMNILEARNED_PYTHON = os.environ.get("HEPFM_OMNILEARNED_PYTHON", "/tmp/olvenv/v/bin/python")


@dataclass
class Case:
    """One model configuration to time."""

    label: str
    spec: str  # hepfm:<name> or omnilearned:<size>[+int]
    batch: int
    dtype: str = "fp32"
    real: int | None = None  # real tokens per event (None: --real)
    train_iters: int = 1  # steps per timed round
    infer_iters: int = 1
    rounds: int = 3  # timed rounds this case takes part in
    group: str = "small"  # cases of one group run interleaved; groups run one after the other (memory)
    warmup: int = 1  # untimed train steps and inference batches before timing
    note: str = ""
    train_times: list[float] = field(default_factory=list)  # wall seconds per step, one per round
    infer_times: list[float] = field(default_factory=list)
    train_cpu: list[float] = field(default_factory=list)  # process CPU seconds per step
    infer_cpu: list[float] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    peak: dict[str, float] = field(default_factory=dict)  # matmul GFLOP/s measured during this case's group

    @property
    def framework(self) -> str:
        return self.spec.split(":", 1)[0]


def full_cases(batch: int, tokens: int) -> list[Case]:
    small = dict(batch=batch, rounds=5)
    return [
        Case("hepfm pet-tiny", "hepfm:pet-tiny", train_iters=2, infer_iters=4, **small),
        Case("hepfm pet-small", "hepfm:pet-small", infer_iters=2, **small),
        Case("hepfm pet-small bf16", "hepfm:pet-small", dtype="bf16", infer_iters=2, **small),
        Case("hepfm pet-small, no padding", "hepfm:pet-small", batch=batch, real=tokens, rounds=3,
             note=f"all {tokens} tokens real"),
        Case("hepfm pt-small", "hepfm:pt-small", batch=batch, rounds=3),
        Case("OmniLearned PET2-small +int", "omnilearned:small+int", **small),
        Case("OmniLearned PET2-small", "omnilearned:small", batch=batch, rounds=3),
        Case("hepfm pet-medium", "hepfm:pet-medium", batch=16, rounds=3, group="medium"),
        Case("OmniLearned PET2-medium +int", "omnilearned:medium+int", batch=16, rounds=3, group="medium"),
        Case("hepfm pet-large", "hepfm:pet-large", batch=4, rounds=2, group="large"),
    ]


def quick_cases(batch: int, tokens: int) -> list[Case]:
    kw = dict(batch=min(batch, 16), rounds=3)
    return [
        Case("hepfm pet-tiny", "hepfm:pet-tiny", train_iters=2, infer_iters=4, **kw),
        Case("hepfm pet-small", "hepfm:pet-small", infer_iters=2, **kw),
        Case("OmniLearned PET2-small +int", "omnilearned:small+int", **kw),
    ]


# ----------------------------------------------------------------------------- workers


class WorkerProcess:
    """A running ``_throughput_worker.py`` speaking JSON lines."""

    def __init__(self, python: str, case: Case, args: argparse.Namespace) -> None:
        cmd = [python, str(WORKER), "--model", case.spec, "--batch", str(case.batch), "--tokens", str(args.tokens),
               "--real", str(case.real or args.real), "--classes", str(args.classes), "--dtype", case.dtype,
               "--threads", str(args.threads)]
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        if args.omp_wait_policy:
            env["OMP_WAIT_POLICY"] = args.omp_wait_policy
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=HERE)
        self.case = case
        self.ready = self._read()
        if not self.ready.get("ready"):
            raise RuntimeError(f"{case.label}: worker did not start: {self.ready}")

    def _read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.case.label}: worker exited with code {self.proc.wait()}")
        return json.loads(line)

    def ask(self, cmd: str, **kw: Any) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write('{"cmd": "quit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


def omnilearned_available(python: str) -> str | None:
    """None if ``python`` can import omnilearned, else the reason."""
    if not Path(python).exists():
        return f"{python} does not exist"
    try:
        out = subprocess.run([python, "-c", "import omnilearned, torch; print(torch.__version__)"],
                             capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as err:
        return str(err)
    if out.returncode:
        return (out.stderr.strip().splitlines() or ["import failed"])[-1]
    return None


# ----------------------------------------------------------------------------- report

SMALL_PAIRS = (("hepfm pet-small", "OmniLearned PET2-small +int"), ("hepfm pet-small", "OmniLearned PET2-small"),
               ("hepfm pet-small bf16", "OmniLearned PET2-small +int"),
               ("hepfm pet-small, no padding", "OmniLearned PET2-small +int"),
               ("hepfm pet-medium", "OmniLearned PET2-medium +int"))


def _row(c: Case, threads: int) -> dict[str, Any]:
    row: dict[str, Any] = {"label": c.label, "spec": c.spec, "dtype": c.dtype, "batch": c.batch, "note": c.note,
                           "peak_gflops": c.peak,
                           "params": c.info["params"], "rounds": len(c.train_times)}
    for kind, flops in (("train", c.info["train_flops"]), ("infer", c.info["infer_flops"])):
        wall, cpu = getattr(c, f"{kind}_times"), getattr(c, f"{kind}_cpu")
        t = statistics.median(wall)
        # CPU-time rate: events per second if the process had its `threads` cores to itself
        t_cpu = statistics.median(cpu) / threads
        row |= {f"{kind}_events_per_s": c.batch / t, f"{kind}_events_per_s_best": c.batch / min(wall),
                f"{kind}_events_per_s_cpu": c.batch / t_cpu, f"{kind}_s": t, f"{kind}_gflop": flops / 1e9,
                f"{kind}_frac_peak": flops / t / 1e9 / c.peak.get(c.dtype, float("nan")),
                f"{kind}_frac_peak_cpu": flops / t_cpu / 1e9 / c.peak.get(c.dtype, float("nan"))}
    return row


def summarise(cases: list[Case], peaks: dict[str, list[float]], threads: int) -> dict[str, Any]:
    peak = {k: statistics.median(v) for k, v in peaks.items() if v}
    rows = [_row(c, threads) for c in cases if c.train_times and c.infer_times]
    failures = {c.label: c.note for c in cases if not (c.train_times and c.infer_times)}
    by_label = {r["label"]: r for r in rows}
    ratios = {}
    for ours, ref in SMALL_PAIRS:
        if ours in by_label and ref in by_label:
            a, b = by_label[ours], by_label[ref]
            ratios[f"{ours} / {ref}"] = {
                f"{kind}{suffix}": a[f"{kind}_events_per_s{suffix}"] / b[f"{kind}_events_per_s{suffix}"]
                for kind in ("train", "infer") for suffix in ("", "_best", "_cpu")
            } | {"params": a["params"] / b["params"], "train_flops": a["train_gflop"] / b["train_gflop"]}
    return {"peak_gflops": peak, "rows": rows, "ratios": ratios, "failures": failures}


def markdown(summary: dict[str, Any]) -> str:
    """The results as a Markdown table plus the hepfm / OmniLearned ratios."""
    lines = [
        "| model | params | batch | dtype | train ev/s | infer ev/s | train GFLOP/step | infer GFLOP/batch "
        "| train % peak | infer % peak |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary["rows"]:
        label = r["label"] + (f" ({r['note']})" if r["note"] else "")
        lines.append(
            f"| {label} | {r['params'] / 1e6:.2f}M | {r['batch']} | {r['dtype']} "
            f"| {r['train_events_per_s']:.1f} | {r['infer_events_per_s']:.1f} "
            f"| {r['train_gflop']:.1f} | {r['infer_gflop']:.1f} "
            f"| {100 * r['train_frac_peak']:.0f}% | {100 * r['infer_frac_peak']:.0f}% |"
        )
    peak = summary["peak_gflops"]
    lines += ["", "Events/s: batch / median wall-clock time per step (or inference batch) over the rounds. "
              "% peak: model FLOPs per second / matmul peak of that dtype (2048², median over the rounds of the "
              "model's group; over all rounds: " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peak.items()) + ").",
              ""]
    for label, why in summary["failures"].items():
        lines.append(f"- {label}: no result ({why})")
    if summary.get("omnilearned_skipped"):
        lines.append(f"OmniLearned skipped: {summary['omnilearned_skipped']}")
    if summary["ratios"]:
        lines += ["Throughput ratios (median wall-clock; in brackets the ratio from the best round and from CPU "
                  "seconds per event, which are less sensitive to other load on the machine):", ""]
    for name, r in summary["ratios"].items():
        lines.append(f"- {name}: train ×{r['train']:.2f} (best ×{r['train_best']:.2f}, CPU ×{r['train_cpu']:.2f}), "
                     f"inference ×{r['infer']:.2f} (best ×{r['infer_best']:.2f}, CPU ×{r['infer_cpu']:.2f}); "
                     f"params ×{r['params']:.2f}, train FLOPs ×{r['train_flops']:.2f}")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """CPU model and core count from /proc/cpuinfo, python version, load average."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "loadavg_start": os.getloadavg()}


# ----------------------------------------------------------------------------- main


def log(t_start: float, message: str) -> None:
    print(f"[{time.perf_counter() - t_start:6.0f}s] {message}", file=sys.stderr)


def time_group(cases: list[Case], args: argparse.Namespace, t_start: float) -> dict[str, list[float]]:
    """Start one worker per case, warm up, then time round-robin; returns the matmul-peak samples.

    A worker that fails (e.g. killed for memory) is dropped and its case marked as failed.
    """
    workers: list[WorkerProcess] = []
    peaks: dict[str, list[float]] = {"fp32": [], "bf16": []}

    def failed(w: WorkerProcess | None, c: Case, err: Exception) -> None:
        print(f"{c.label}: failed: {err}", file=sys.stderr)
        c.note, c.train_times, c.infer_times = f"failed: {err}", [], []
        if w is not None:
            w.close()
            workers.remove(w)

    try:
        for c in cases:
            python = args.omnilearned_python if c.framework == "omnilearned" else sys.executable
            log(t_start, f"start {c.label} (batch {c.batch}, {c.dtype})")
            w = None
            try:
                w = WorkerProcess(python, c, args)
                workers.append(w)
                c.info = w.ask("info") | {"torch": w.ready["torch"], "cpu_capability": w.ready["cpu_capability"]}
                w.ask("train", iters=c.warmup)
                w.ask("infer", iters=c.warmup)
            except (OSError, RuntimeError) as err:
                failed(w, c, err)
        for r in range(max(c.rounds for c in cases)):
            if not workers:
                break
            for k, v in workers[0].ask("peak").items():
                peaks[k].append(v)
            for w in list(workers) if r % 2 == 0 else workers[::-1]:  # alternate the order between rounds
                c = w.case
                if r >= c.rounds:
                    continue
                try:
                    for kind, iters in (("train", c.train_iters), ("infer", c.infer_iters)):
                        reply = w.ask(kind, iters=iters)
                        getattr(c, f"{kind}_times").append(reply["seconds"] / iters)
                        getattr(c, f"{kind}_cpu").append(reply["cpu_seconds"] / iters)
                except (OSError, RuntimeError) as err:
                    failed(w, c, err)
            log(t_start, f"{cases[0].group} models: round {r + 1} done")
    finally:
        for w in workers:
            w.close()
    for c in cases:
        c.peak = {k: statistics.median(v) for k, v in peaks.items() if v}
    return peaks


def run(args: argparse.Namespace) -> dict[str, Any]:
    cases = (quick_cases if args.quick else full_cases)(args.batch, args.tokens)
    if args.models:
        wanted = set(args.models.split(","))
        cases = [c for c in cases if c.spec.split(":", 1)[1] in wanted or c.label in wanted]
    skip_reason = None
    if any(c.framework == "omnilearned" for c in cases):
        skip_reason = omnilearned_available(args.omnilearned_python)
        if skip_reason:
            print(f"OmniLearned part skipped ({args.omnilearned_python}): {skip_reason}", file=sys.stderr)
            cases = [c for c in cases if c.framework != "omnilearned"]
    if not cases:
        raise SystemExit("no models to benchmark (check --models)")
    t_start = time.perf_counter()
    info = machine()
    peaks: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for group in dict.fromkeys(c.group for c in cases):
        for k, v in time_group([c for c in cases if c.group == group], args, t_start).items():
            peaks[k] += v
    info["loadavg_end"] = os.getloadavg()
    info["torch"] = {c.framework: c.info["torch"] for c in cases if c.info}
    info["cpu_capability"] = next((c.info["cpu_capability"] for c in cases if c.info), None)
    info["wall_s"] = time.perf_counter() - t_start
    summary = summarise(cases, peaks, args.threads)
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": info,
        "settings": {k: v for k, v in vars(args).items()},
        "omnilearned_skipped": skip_reason,
        "cases": [{k: v for k, v in dataclasses.asdict(c).items()} for c in cases],
        "peak_samples": peaks,
        **summary,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny/small models only, fewer rounds (~1-2 min)")
    p.add_argument("--json", type=Path, help="also write all results and raw timings to this JSON file")
    p.add_argument("--omnilearned-python", default=DEFAULT_OMNILEARNED_PYTHON,
                   help="python of a venv with omnilearned installed (default: $HEPFM_OMNILEARNED_PYTHON "
                        "or /tmp/olvenv/v/bin/python)")
    p.add_argument("--models", help="comma-separated subset (registry names such as pet-small, small+int, or labels)")
    p.add_argument("--batch", type=int, default=64, help="events per batch of the small models")
    p.add_argument("--tokens", type=int, default=100, help="padded tokens per event")
    p.add_argument("--real", type=int, default=80, help="real tokens per event (the rest is padding at the end)")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--omp-wait-policy", default="PASSIVE",
                   help="OMP_WAIT_POLICY of the workers (default PASSIVE: idle OpenMP threads sleep instead of "
                        "spinning, which on a shared machine otherwise steals the cores; '' leaves it unset)")
    args = p.parse_args()
    if not 0 < args.real <= args.tokens:
        p.error("--real must lie in [1, --tokens]")
    result = run(args)
    m = result["machine"]
    print(f"\n{result['date']}  {m['cpu']} ({m['cores']} cores, {args.threads} threads, "
          f"OMP_WAIT_POLICY={args.omp_wait_policy or 'unset'}), torch "
          f"{', '.join(f'{k} {v}' for k, v in m['torch'].items())}, "
          f"load average {m['loadavg_start'][0]:.1f} -> {m['loadavg_end'][0]:.1f}, run took {m['wall_s']:.0f} s\n")
    print(markdown(result))
    if args.json:
        tmp = args.json.with_name(f"{args.json.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(result, indent=1, default=str))
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
