"""Measures and report of a transfer study (:mod:`hepfm.experiments.transfer`).

Read from each finished run folder (``report.json`` and ``metrics.jsonl``):

* **test metrics** (``report.json["test"]``, from :func:`hepfm.evaluate.evaluate_model`):
  class tasks: AUC (signal vs background; macro one-vs-rest AUC for more than two
  classes), signal efficiency ε_S, purity and 1/ε_B at the study's working point;
  regression: bias (median) and resolution (half the 16-84 % width) of the residual
  (pred − true)/true, overall and in ten equal-population bins of the true value, plus
  the mean and standard deviation. Mean ± sample standard deviation (ddof = 1) over seeds.
* **compute to match**: with y(x) the validation loss against cumulative training FLOPs
  x, linear between validations, and L* = min y of the random-init run,
  r = x_pre(L*) / x_rand(L*), where x(L*) is the first crossing of L*. Per seed pair
  (random seed k vs pretrained seed k); a pretrained run that never gets to L* is
  "not reached", never a number. A run already below L* at its first validation gives an
  upper bound (x of that validation).
* **label efficiency**: the smallest training size n at which the pretrained model's mean
  test metric m(n) is at least as good as m_ref − σ, with m_ref the random-init mean at
  the largest size and σ = √(s_pre² + s_ref²) (both seed spreads); "not reached" if none.
* **verdict**: sentences built from these numbers only (see :func:`verdict`).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import logging
import math
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

import hepfm
from hepfm.errors import InputError
from hepfm.evaluate._util import jsonable
from hepfm.experiments.transfer import PlannedRun, TransferStudy, model_keys, run_status
from hepfm.train.metrics import read_metrics
from hepfm.utils import atomic_path

log = logging.getLogger("hepfm.transfer")

CLASS_COLUMNS = ("auc", "signal_efficiency", "purity", "background_rejection", "accuracy")
REGRESSION_COLUMNS = ("bias", "resolution", "bias_mean", "resolution_std")
PRIMARY = {"class": ("auc", True), "regression": ("resolution", False)}  # (metric, higher is better)
LABELS = {"auc": "AUC", "resolution": "resolution", "bias": "bias", "signal_efficiency": "ε_S", "purity": "purity",
          "background_rejection": "1/ε_B", "accuracy": "accuracy", "bias_mean": "bias (mean)",
          "resolution_std": "resolution (std)", "val_auc": "validation AUC", "val_acc": "validation accuracy"}


# ---------------------------------------------------------------- statistics and measures


def stat(values: Iterable[float | None]) -> dict[str, Any]:
    """Mean, sample std (ddof=1; 0 for one value), min, max and count of the finite values."""
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if not len(v):
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None, "values": []}
    return {"n": len(v), "mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max()), "values": v.tolist()}


def first_reach(curve: Sequence[tuple[float, float]], target: float) -> tuple[float, bool] | None:
    """x at which ``curve`` (x, y), linear between points, first gets to y ≤ ``target``.

    Returns ``(x, upper_bound)``; ``upper_bound`` is True when the first point is already
    at or below the target (the curve may have crossed earlier). None if never reached.
    """
    pts = sorted(curve)
    for i, (x, y) in enumerate(pts):
        if y <= target:
            if i == 0:
                return float(x), True
            x0, y0 = pts[i - 1]
            return float(x0 + (target - y0) * (x - x0) / (y - y0)), False
    return None


def compute_to_match(pretrained: Sequence[Mapping[str, Any]], random: Sequence[Mapping[str, Any]],
                     key: str = "val_loss", x: str = "flops") -> dict[str, Any]:
    """Compute (``x``) the pretrained run needs to reach random init's best ``key``, over random's.

    Both arguments are metric records (``metrics.jsonl``). Returns ``ratio`` (None if not
    reached), ``reached``, ``upper_bound``, ``target`` and the two ``x`` values.
    """
    rand = [(float(r[x]), float(r[key])) for r in random if r.get(key) is not None]
    pre = [(float(r[x]), float(r[key])) for r in pretrained if r.get(key) is not None]
    if not rand or not pre:
        return {"ratio": None, "reached": False, "upper_bound": False, "target": None, "x_random": None,
                "x_pretrained": None, "missing": True}
    target = min(y for _, y in rand)
    x_rand, _ = first_reach(rand, target)  # type: ignore[misc]
    hit = first_reach(pre, target)
    x_pre = hit[0] if hit else None
    ratio = x_pre / x_rand if hit and x_rand > 0 else None
    return {"ratio": ratio, "reached": hit is not None, "upper_bound": bool(hit and hit[1]), "target": target,
            "x_random": x_rand, "x_pretrained": x_pre}


def summarize_match(pairs: Mapping[int, dict[str, Any]]) -> dict[str, Any]:
    """Per-seed :func:`compute_to_match` results → counts and the ratio's mean and spread (reached pairs only)."""
    valid = {s: p for s, p in pairs.items() if not p.get("missing")}
    reached = [p["ratio"] for p in valid.values() if p["reached"] and p["ratio"] is not None]
    return {"n_pairs": len(valid), "n_reached": sum(p["reached"] for p in valid.values()),
            "any_upper_bound": any(p["upper_bound"] for p in valid.values()), "ratio": stat(reached),
            "pairs": {str(s): p for s, p in pairs.items()}}


def label_efficiency(pretrained: Mapping[int, Sequence[float]], reference: Sequence[float],
                     higher_is_better: bool) -> dict[str, Any]:
    """Smallest size whose pretrained mean is within 1 σ of (or better than) ``reference``.

    ``pretrained`` maps training size → per-seed values; ``reference`` holds the random-init
    per-seed values at the largest size; σ = √(s_pre² + s_ref²). ``size`` is None if no size qualifies.
    """
    ref = stat(reference)
    out: dict[str, Any] = {"size": None, "reached": False, "reference": ref, "per_size": {}}
    if not ref["n"]:
        return out
    for size in sorted(pretrained):
        st = stat(pretrained[size])
        out["per_size"][str(size)] = st
        if not st["n"] or out["reached"]:
            continue
        sigma = math.hypot(st["std"], ref["std"])
        gap = (st["mean"] - ref["mean"]) if higher_is_better else (ref["mean"] - st["mean"])
        if gap >= -sigma:
            out["size"], out["reached"] = size, True
    return out


def compare(pre: Mapping[str, Any], ref: Mapping[str, Any], higher_is_better: bool) -> str:
    """``better``/``worse`` when the means differ by more than √(s_pre² + s_ref²), else ``compatible``."""
    if not pre.get("n") or not ref.get("n"):
        return "unknown"
    diff = (pre["mean"] - ref["mean"]) * (1 if higher_is_better else -1)
    sigma = math.hypot(pre["std"], ref["std"])
    return "better" if diff > sigma else "worse" if diff < -sigma else "compatible"


def _num(v: float | None, spec: str = ".4g") -> str:
    return "n/a" if v is None else format(v, spec)


def verdict(label: str, metric: str, higher_is_better: bool, match: Mapping[str, Any], pre: Mapping[str, Any],
            ref: Mapping[str, Any], equal_compute: bool, efficiency: Mapping[str, Any] | None = None,
            largest: int | None = None) -> str:
    """One plain-language sentence comparing pretrained ``label`` with its random-init twin.

    ``match`` is a :func:`summarize_match`, ``pre``/``ref`` are :func:`stat` of the test
    ``metric``, ``efficiency`` a :func:`label_efficiency` (optional). Pretraining "helped" when
    it reached random init's best validation loss with less compute in every seed pair or had a
    better test metric beyond the seed spread; "did not help" when neither; "mixed" otherwise.
    """
    n, hit, ratio = match["n_pairs"], match["n_reached"], match["ratio"]
    spread = f"spread {_num(ratio['min'], '.2f')}–{_num(ratio['max'], '.2f')}" if ratio["n"] > 1 else "one seed"
    bound = "at most " if match.get("any_upper_bound") else ""
    if n == 0:
        compute, fast, slow = "has no validation curves to compare", False, False
    elif hit == n:
        compute = f"reached random-init's best validation loss with {bound}{ratio['mean']:.2f}× the compute ({spread})"
        fast, slow = ratio["mean"] < 1, ratio["mean"] > 1
    elif hit:
        compute = (f"reached random-init's best validation loss in only {hit} of {n} seeds "
                   f"({bound}{ratio['mean']:.2f}× the compute where it did)")
        fast, slow = False, True
    else:
        compute, fast, slow = f"never reached random-init's best validation loss (0 of {n} seeds)", False, True
    cmp = compare(pre, ref, higher_is_better)
    name = LABELS.get(metric, metric)
    values = f"{_num(pre['mean'])} ± {_num(pre['std'], '.2g')} vs {_num(ref['mean'])} ± {_num(ref['std'], '.2g')}"
    where = ("at equal compute" if equal_compute else
             "at the end of training (not equal compute: a step/epoch cap stopped some runs first)")
    direction = "higher" if (cmp == "better") == higher_is_better else "lower"
    if cmp != "unknown" and min(pre["n"], ref["n"]) < 2:
        where += ", from a single seed (no spread to judge the difference by)"
    if cmp in ("better", "worse"):
        quality = f"has {cmp} test {name} ({direction}: {values}) {where}"
    elif cmp == "compatible":
        quality = f"has a test {name} compatible with random init within the seed spread ({values}) {where}"
    else:
        quality = f"has no test {name} to compare"
    labels = ""
    if efficiency is not None and largest is not None and efficiency["per_size"] and len(efficiency["per_size"]) > 1:
        labels = (f"; it matches random init trained on {largest} labelled events with {efficiency['size']}"
                  if efficiency["reached"] else f"; it does not match random init trained on {largest} labelled events "
                  "at any training size")
    if n == 0 and cmp == "unknown":
        return f"No finished runs to compare pretrained {label} with random init."
    if (cmp == "better" and slow) or (cmp == "worse" and fast):
        return f"Mixed result for pretrained {label}: it {compute}, but {quality}{labels}."
    if cmp == "better" or (fast and cmp != "worse"):
        return f"Pretrained {label} {compute} and {quality}{labels}."
    return f"Pretraining did not help {label} here: it {compute} and {quality}{labels}."


# ---------------------------------------------------------------- reading runs


@dataclass
class RunResult:
    """A finished run: its plan, metric records and ``report.json``."""

    run: PlannedRun
    records: list[dict[str, Any]]
    report: dict[str, Any]

    @property
    def fit(self) -> dict[str, Any]:
        return self.report.get("fit", {})


def load_results(runs: Sequence[PlannedRun]) -> tuple[list[RunResult], dict[str, list[str]]]:
    """The finished runs, and the names of the runs that failed or are missing."""
    done, status = [], {"failed": [], "missing": []}
    for run in runs:
        state = run_status(run)
        if state == "done":
            report = json.loads((run.folder / "report.json").read_text())
            done.append(RunResult(run, read_metrics(run.folder / "metrics.jsonl"), report))
        else:
            status["failed" if state == "failed" else "missing"].append(run.name)
    return done, status


def test_metrics(report: Mapping[str, Any], task: str, kind: str, working_point: str = "youden") -> dict[str, Any]:
    """The study's test metrics of one task from a run's ``report.json`` (None where absent)."""
    t = report.get("test", {}).get(task, {})
    if kind == "class":
        sig = t.get("signal", {})
        wp = (sig.get("working_point", {}) if working_point == "youden"
              else sig.get("at_efficiency", {}).get(working_point, {}))
        return {"auc": sig.get("auc", t.get("auc_macro")), "accuracy": t.get("accuracy"),
                **{k: wp.get(k) for k in ("signal_efficiency", "purity", "background_rejection")}}
    overall = t.get("overall", {})
    return {"bias": overall.get("bias_median"), "resolution": overall.get("resolution_q68"),
            "bias_mean": overall.get("bias_mean"), "resolution_std": overall.get("resolution_std"),
            "residual": t.get("residual")}


# ---------------------------------------------------------------- assembling


def family_name(model: str) -> str:
    """``pet`` → ``PET``, ``pt`` → ``PT`` (the display name of a backbone family)."""
    return display(f"{model}-random-full").split(" ")[0]


def who(key: str) -> str:
    """``pet-pretrained-adapter`` → ``PET (adapter)`` (the subject of a verdict)."""
    model, _, strategy = key.split("-", 2)
    return f"{family_name(model)} ({strategy})"


def display(key: str) -> str:
    """``pet-pretrained-linear-probe`` → ``PET pretrained, linear-probe``."""
    model, init, strategy = key.split("-", 2)
    name = {"mlp": "MLP (event features)", "pet": "PET", "pt": "PT"}.get(model, model)
    if model == "mlp":
        return name
    return f"{name} random init" if init == "random" else f"{name} pretrained, {strategy}"


def _group(results: Iterable[RunResult]) -> dict[tuple[str, int], dict[int, RunResult]]:
    out: dict[tuple[str, int], dict[int, RunResult]] = {}
    for r in results:
        out.setdefault((r.run.key, r.run.size), {})[r.run.seed] = r
    return out


def summarize_task(study: TransferStudy, task: str, kind: str, results: Sequence[RunResult]) -> dict[str, Any]:
    """Every measure of one task as a JSON-friendly dict (including the verdict sentences)."""
    metric, hib = PRIMARY[kind]
    sizes, largest = sorted(study.train_sizes), max(study.train_sizes)
    vsize = study.verdict_size or largest
    groups = _group(r for r in results if r.run.task == task)
    columns = CLASS_COLUMNS if kind == "class" else REGRESSION_COLUMNS
    values = {g: {s: test_metrics(r.report, task, kind, study.working_point) for s, r in runs.items()}
              for g, runs in groups.items()}
    final: dict[str, Any] = {}
    for (key, size), per_seed in values.items():
        row = {c: stat(v[c] for v in per_seed.values()) for c in columns}
        row["flops"] = stat(groups[key, size][s].fit.get("flops") for s in per_seed)
        row["stopped_by"] = sorted({groups[key, size][s].fit.get("stopped_by") for s in per_seed})
        final.setdefault(key, {})[str(size)] = row
    summary: dict[str, Any] = {"kind": kind, "metric": metric, "higher_is_better": hib, "verdict_size": vsize,
                               "working_point": study.working_point if kind == "class" else None, "final": final,
                               "compute_to_match": {}, "label_efficiency": {}, "verdict": []}
    if kind == "regression":  # relative (pred - true)/true unless some true value is <= 0 (then pred - true)
        summary["residual"] = next((v["residual"] for per_seed in values.values() for v in per_seed.values()
                                    if v.get("residual")), None)
    for model, init, strategy in model_keys(study):
        if init != "pretrained":
            continue
        key, ref_key = f"{model}-{init}-{strategy}", f"{model}-random-full"
        matches = {}
        for size in sizes:
            pre, ref = groups.get((key, size), {}), groups.get((ref_key, size), {})
            pairs = {s: compute_to_match(pre[s].records, ref[s].records) for s in sorted(set(pre) & set(ref))}
            matches[str(size)] = summarize_match(pairs)
        summary["compute_to_match"][key] = matches
        per_size = {n: [v[metric] for v in values.get((key, n), {}).values()] for n in sizes}
        reference = [v[metric] for v in values.get((ref_key, largest), {}).values()]
        eff = label_efficiency(per_size, reference, hib)
        summary["label_efficiency"][key] = eff
        pre_runs = list(groups.get((key, vsize), {}).values()) + list(groups.get((ref_key, vsize), {}).values())
        equal = bool(pre_runs) and all(r.fit.get("stopped_by") == "max_flops" for r in pre_runs)
        pre_st, ref_st = (final.get(k, {}).get(str(vsize), {}).get(metric, stat([])) for k in (key, ref_key))
        text = verdict(who(key), metric, hib, matches[str(vsize)], pre_st, ref_st, equal, eff, largest)
        summary["verdict"].append(f"[{vsize} labelled events] {text}")
    ranked = [(k, v[str(vsize)][metric]) for k, v in final.items() if v.get(str(vsize), {}).get(metric, {}).get("n")]
    if ranked:
        best = (max if hib else min)(ranked, key=lambda kv: kv[1]["mean"])
        summary["verdict"].append(f"Best test {LABELS.get(metric, metric)} at {vsize} labelled events: {display(best[0])} "
                                  f"({best[1]['mean']:.4g} ± {best[1]['std']:.2g}, {best[1]['n']} seeds).")
        if "mlp-random-full" in final and best[0] != "mlp-random-full":
            m = final["mlp-random-full"].get(str(vsize), {}).get(metric, stat([]))
            if m["n"]:
                summary["verdict"].append(f"The event-level MLP baseline reaches a test {LABELS.get(metric, metric)} "
                                          f"of {m['mean']:.4g} ± {m['std']:.2g}.")
    return summary


def environment() -> dict[str, Any]:
    """Machine and versions (for the report's "what was run")."""
    import torch

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    try:
        root = Path(hepfm.__file__).resolve().parents[2]
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        commit = out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "gpus": gpus, "python": sys.version.split()[0],
            "hepfm": hepfm.__version__, "git_commit": commit, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "numpy": np.__version__,
            "time": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


# ---------------------------------------------------------------- plots


def _curves(results: Iterable[RunResult], x: str, y: str) -> dict[str, list[list[tuple[float, float]]]]:
    from hepfm.evaluate.plots import metric_curve

    groups: dict[str, list[list[tuple[float, float]]]] = {}
    for r in results:
        curve = metric_curve(r.records, x, y)
        if curve:
            groups.setdefault(display(r.run.key), []).append(curve)
    return groups


def task_plots(study: TransferStudy, task: str, summary: Mapping[str, Any], results: Sequence[RunResult],
               folder: Path) -> list[dict[str, str]]:
    """The task's PNGs, one set per backbone family (with the MLP beside it); returns [{path, caption}].

    Validation loss and metric against FLOPs at every size and against wall time at the
    verdict size; test metric against training size; for regression the binned bias and
    resolution at the verdict size.
    """
    from hepfm.evaluate.plots import plot_curves

    mine = [r for r in results if r.run.task == task]
    names = [f"val_auc_{task}", f"val_acc_{task}"] if summary["kind"] == "class" else []
    ykey = next((k for k in names if any(k in rec for r in mine for rec in r.records)), None)
    axes = [("val_loss", "validation loss")] + ([(ykey, LABELS[ykey.removesuffix(f"_{task}")])] if ykey else [])
    metric, vsize = summary["metric"], study.verdict_size or max(study.train_sizes)
    families = [f.key for f in study.families] or ["mlp"]
    out = []

    def draw(groups: Mapping[str, Any], name: str, xlabel: str, ylabel: str, caption: str, **kw: Any) -> None:
        if groups:
            plot_curves(groups, xlabel, ylabel, folder / name, **kw)
            out.append({"path": name, "caption": caption})

    for fam in families:
        runs = [r for r in mine if r.run.model in (fam, "mlp")]
        tag = f"{task}-{fam}"
        for size in sorted(study.train_sizes):
            here = [r for r in runs if r.run.size == size]
            title = f"{task}, {size} labelled events"
            for y, ylabel in axes:
                xs = [("flops", "cumulative training FLOPs")] + ([("wall_time", "wall time [s]")] if size == vsize else [])
                for x, xlabel in xs:
                    draw(_curves(here, x, y), f"{tag}-n{size}-{y}-{x}.png", xlabel, ylabel,
                         f"{ylabel} against {xlabel}, {size} labelled events", title=title)
        if len(study.train_sizes) > 1:
            groups: dict[str, dict[int, list[tuple[int, float]]]] = {}
            for r in runs:
                v = test_metrics(r.report, task, summary["kind"], study.working_point)[metric]
                if v is not None:
                    groups.setdefault(display(r.run.key), {}).setdefault(r.run.seed, []).append((r.run.size, v))
            draw({k: list(v.values()) for k, v in groups.items()}, f"{tag}-{metric}-size.png", "labelled training events",
                 f"test {LABELS.get(metric, metric)}", f"test {LABELS.get(metric, metric)} against the training-set size",
                 title=task)
        if summary["kind"] == "regression":
            xtrue = f"true {task}" + (f" [{summary['unit']}]" if summary.get("unit") else "")
            for stat_key, ylabel in (("resolution_q68", "resolution"), ("bias_median", "bias")):
                curves: dict[str, list[list[tuple[float, float]]]] = {}
                for r in runs:
                    binned = r.report.get("test", {}).get(task, {}).get("binned", {})
                    if r.run.size == vsize and binned.get(stat_key):
                        pts = [(c, v) for c, v in zip(binned["centers"], binned[stat_key]) if v is not None]
                        curves.setdefault(display(r.run.key), []).append(pts)
                draw(curves, f"{tag}-n{vsize}-{ylabel}-binned.png", xtrue, f"{ylabel} of the residual",
                     f"test {ylabel} in bins of the true value, {vsize} labelled events", logx=False,
                     title=f"{task}, {vsize} labelled events")
    return out


def _small_png(path: Path) -> bytes:
    """A PNG reduced to a 128-colour palette (about 3x smaller, indistinguishable for line plots)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=128).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def _embed(path: Path) -> str:
    """A PNG as a base64 data URI (palette-reduced) for a self-contained, mailable page."""
    return "data:image/png;base64," + base64.b64encode(_small_png(path)).decode()


def publish_report(folder: str | Path, dest: str | Path) -> Path:
    """Copy a written report (index.html, report.json, summary.md, palette-reduced PNGs) to ``dest``.

    Meant for keeping a study's results beside the documentation; files of an earlier copy
    in ``dest`` that the report no longer has are removed. Returns ``dest``.
    """
    folder, dest = Path(folder), Path(dest)
    names = ("index.html", "report.json", "summary.md")
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise InputError(str(folder), f"not a written report (missing {', '.join(missing)})")
    dest.mkdir(parents=True, exist_ok=True)
    pngs = sorted(folder.glob("*.png"))
    for old in dest.glob("*.png"):
        if not (folder / old.name).exists():
            old.unlink()
    for name in names:
        with atomic_path(dest / name) as tmp:
            tmp.write_bytes((folder / name).read_bytes())
    for png in pngs:
        with atomic_path(dest / png.name) as tmp:
            tmp.write_bytes(_small_png(png))
    return dest


# ---------------------------------------------------------------- report


def build_report(study: TransferStudy, runs: Sequence[PlannedRun], facts: Mapping[str, Any],
                 results: Sequence[RunResult], status: Mapping[str, list[str]]) -> dict[str, Any]:
    """All numbers of the study (what ``report.json`` holds, before plots); see :func:`load_results`."""
    from hepfm.config import to_dict

    sessions = _read_jsonl(Path(study.out) / "sessions.jsonl")
    return jsonable({
        "study": to_dict(study), "datasets": {"paths": facts["paths"], "events": facts["events"]},
        "environment": environment(), "sessions": sessions,
        "runs": {"planned": len(runs), "done": len(results), "failed": status["failed"], "missing": status["missing"],
                 "training_wall_time_s": sum(r.fit.get("wall_time") or 0.0 for r in results),
                 "training_flops": sum(r.fit.get("flops") or 0.0 for r in results)},
        "tasks": {t: {**summarize_task(study, t, facts["tasks"][t]["kind"], results),
                      "unit": facts["tasks"][t].get("unit", "")} for t in study.tasks},
    })


def write_report(study: TransferStudy, runs: Sequence[PlannedRun], facts: Mapping[str, Any]) -> Path:
    """Write ``out/report/`` (report.json, PNGs, self-contained index.html, summary.md); return the HTML path."""
    folder = Path(study.out) / "report"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):  # all redrawn below; none left from an earlier config
        old.unlink()
    results, status = load_results(runs)
    report = build_report(study, runs, facts, results, status)
    for task, summary in report["tasks"].items():
        summary["plots"] = task_plots(study, task, summary, results, folder) if results else []
    with atomic_path(folder / "report.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1) + "\n")
    with atomic_path(folder / "index.html") as tmp:
        tmp.write_text(render_html(report, folder))
    with atomic_path(folder / "summary.md") as tmp:
        tmp.write_text(render_markdown(report))
    return folder / "index.html"


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _cell(st: Mapping[str, Any]) -> str:
    return "–" if not st.get("n") else f"{st['mean']:.4g} ± {st['std']:.2g}"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    e = html.escape
    body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + f"</tr>{body}</table>"


def task_tables(s: Mapping[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """The tables of one task summary as (title, header, rows): test metrics, compute to match, label efficiency."""
    columns = CLASS_COLUMNS if s["kind"] == "class" else REGRESSION_COLUMNS
    rows = [[display(k), n, *[_cell(row[c]) for c in columns], _cell(row["flops"]), ", ".join(map(str, row["stopped_by"]))]
            for k, by_size in s["final"].items() for n, row in sorted(by_size.items(), key=lambda kv: int(kv[0]))]
    residual = "(pred − true)/true" if s.get("residual") == "relative" else "pred − true"
    point = (f"; ε_S, purity and 1/ε_B at the working point {s.get('working_point')}" if s["kind"] == "class"
             else f"; bias and resolution of {residual}: median and half 16–84 % width, mean and std")
    tables = [(f"Test metrics (mean ± std over seeds{point})",
               ["model", "labelled events", *[LABELS.get(c, c) for c in columns], "FLOPs", "stopped by"], rows)]
    rows = []
    for k, by_size in s["compute_to_match"].items():
        for n, m in by_size.items():
            r = m["ratio"]
            ratio = "–" if not r["n"] else f"{r['mean']:.3g} ({r['min']:.3g}–{r['max']:.3g})"
            bound = " (upper bound)" if m["any_upper_bound"] else ""
            rows.append([display(k), n, f"{m['n_reached']} of {m['n_pairs']}", ratio + bound])
    tables.append(("Compute to match random init's best validation loss",
                   ["model", "labelled events", "seed pairs reached", "FLOP ratio mean (min–max)"], rows))
    rows = [[display(k), "not reached" if not v["reached"] else v["size"], _cell(v["reference"])]
            for k, v in s["label_efficiency"].items()]
    tables.append((f"Label efficiency (test {LABELS.get(s['metric'], s['metric'])})",
                   ["model", "smallest size matching random init at the largest size", "random init at the largest size"],
                   rows))
    return tables


HEADLINE_NOTE = ("Test metric (mean ± std over seeds) at the verdict size; in brackets the compute-to-match ratio: "
                 "the FLOPs the pretrained model needed to reach random init's best validation loss over those "
                 "random init needed (≤: already below it at its first validation), or in how many seed pairs it "
                 "got there at all.")


def headline_table(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per task and backbone family at the verdict size: random init, each pretrained strategy
    (test metric, mean ± std; compute-to-match ratio mean, or "not reached"), and the MLP."""
    strategies = report["study"]["strategies"]
    head = ["task", "metric", "labelled events", "family", "random init",
            *[f"pretrained {st}" for st in strategies], "MLP"]
    rows = []
    for task, s in report["tasks"].items():
        size = str(s["verdict_size"])
        final = s["final"]
        families = sorted({k.split("-", 1)[0] for k in final} - {"mlp"})
        mlp = _cell(final.get("mlp-random-full", {}).get(size, {}).get(s["metric"], {}))
        for fam in families:
            cells = []
            for st in strategies:
                key = f"{fam}-pretrained-{st}"
                m = s["compute_to_match"].get(key, {}).get(size, {})
                r = m.get("ratio", {})
                ratio = (f"{'≤ ' if m.get('any_upper_bound') else ''}{r['mean']:.2f}× FLOPs" if r.get("n")
                         and m["n_reached"] == m["n_pairs"] else f"reached {m.get('n_reached', 0)}/{m.get('n_pairs', 0)}")
                cells.append(f"{_cell(final.get(key, {}).get(size, {}).get(s['metric'], {}))} ({ratio})")
            random = _cell(final.get(f"{fam}-random-full", {}).get(size, {}).get(s["metric"], {}))
            rows.append([task, LABELS.get(s["metric"], s["metric"]), size, family_name(fam),
                         random, *cells, mlp])
    return head, rows


def _task_html(task: str, s: Mapping[str, Any], folder: Path) -> str:
    e = html.escape
    parts = [f"<h2>Task {e(task)} ({e(s['kind'])})</h2>", "<h3>Training dynamics and test metric against size</h3>"]
    for p in s.get("plots", []):
        parts.append(f'<figure><img src="{_embed(folder / p["path"])}" alt="{e(p["path"])}">'
                     f'<figcaption>{e(p["caption"])}</figcaption></figure>')
    for title, head, rows in task_tables(s):
        parts += [f"<h3>{e(title)}</h3>", _table(head, rows)]
    parts += ["<h3>Verdict</h3>", *[f"<p>{e(v)}</p>" for v in s["verdict"]]]
    return "\n".join(parts)


def _what_rows(report: Mapping[str, Any]) -> list[list[Any]]:
    st, runs = report["study"], report["runs"]
    return [["planned runs", runs["planned"]], ["finished", runs["done"]], ["failed (diverged)", len(runs["failed"])],
            ["missing", len(runs["missing"])],
            ["training wall time (sum over runs)", f"{runs['training_wall_time_s']:.0f} s"],
            ["training FLOPs (sum over runs)", f"{runs['training_flops']:.3g}"],
            ["FLOP budget per run", f"{st['budget']['max_flops']:.3g} (step cap {st['budget']['max_steps']})"],
            ["seeds", st["seeds"]], ["training sizes", st["train_sizes"]]]


def _md_table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(map(cell, head)) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(map(cell, row)) + " |" for row in rows])


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown (verdicts first, then the tables; plots linked by file name)."""
    env = report["environment"]
    parts = [f"# Transfer study: {report['study']['out']}", "", _md_table(["", ""], _what_rows(report)), "",
             "Environment of this report: " + ", ".join(f"{k} {v}" for k, v in env.items()), "",
             "## Summary", "", HEADLINE_NOTE, "", _md_table(*headline_table(report)), ""]
    for task, s in report["tasks"].items():
        parts += [f"## Task {task} ({s['kind']})", "", "**Verdict**", "", *[f"- {v}" for v in s["verdict"]], ""]
        for title, head, rows in task_tables(s):
            parts += [f"**{title}**", "", _md_table(head, rows), ""]
        parts += ["Plots: " + ", ".join(f"[{p['path']}]({p['path']})" for p in s.get("plots", [])), ""]
    return "\n".join(parts)


def render_html(report: Mapping[str, Any], folder: Path) -> str:
    """One self-contained page (PNGs embedded as base64)."""
    e = html.escape
    st, runs = report["study"], report["runs"]
    env = report["environment"]
    what = _what_rows(report)
    data = [[split, report["datasets"]["paths"][split], n] for split, n in report["datasets"]["events"].items()]
    sessions = [[s.get("start"), s.get("wall_time_s"), s.get("ran"), s.get("skipped"), s.get("failed"),
                 s.get("environment", {}).get("platform"), ", ".join(s.get("environment", {}).get("gpus") or []) or "cpu"]
                for s in report["sessions"]]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>hepfm transfer study</title><style>"
        "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #bbb;padding:2px 6px;font-size:90%}img{width:100%}"
        "figure{display:inline-block;width:49%;margin:0;vertical-align:top}figcaption{font-size:85%}"
        "</style></head><body>",
        f"<h1>Transfer study: {e(st['out'])}</h1>", "<h2>Summary</h2>", f"<p>{e(HEADLINE_NOTE)}</p>",
        _table(*headline_table(report)), "<h2>What was run</h2>", _table(["", ""], what),
        "<h3>Datasets</h3>", _table(["split", "path", "events"], data),
        "<h3>Sessions (each invocation that trained)</h3>",
        _table(["start", "wall time [s]", "ran", "skipped", "failed", "platform", "devices"], sessions),
        f"<h3>Environment of this report</h3><p>{e(', '.join(f'{k} {v}' for k, v in env.items()))}</p>",
        f"<h3>Config</h3><pre>{e(yaml.safe_dump(st, sort_keys=False))}</pre>",
    ]
    if runs["failed"]:
        parts.append(f"<p>Diverged runs: {e(', '.join(runs['failed']))}</p>")
    parts += [_task_html(t, s, folder) for t, s in report["tasks"].items()]
    return "\n".join(parts) + "\n</body></html>\n"
