"""The transfer study: config, plan, a miniature study end to end, resumption, and the measures."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from hepfm.config import load_yaml
from hepfm.errors import InputError
from hepfm.experiments import transfer_report as tr
from hepfm.experiments.transfer import (
    FAILED,
    PlannedRun,
    TransferStudy,
    execute,
    load_study,
    plan_runs,
    prepare_mini,
    run_study,
)

CONFIGS = Path(__file__).parents[1] / "configs" / "transfer"
MINI = CONFIGS / "mini.yaml"


# ---------------------------------------------------------------- config and plan


def test_shipped_configs_parse_and_plan() -> None:
    full = load_study(CONFIGS / "neutrino.yaml")
    runs = plan_runs(full)
    # 4 tasks x 3 sizes x 3 seeds x (MLP + 2 families x (random + 3 pretrained strategies)) = 324
    assert len(runs) == 4 * 3 * 3 * 9 == len({r.folder for r in runs})
    assert {r.recipe["train"]["max_flops"] for r in runs} == {full.budget.max_flops} == {5.0e11}
    mini = plan_runs(load_study(MINI))
    assert len(mini) == 1 * 2 * 2 * 9


def _raw(**changes: object) -> dict:
    raw = load_yaml(MINI)
    raw.update(changes)
    return raw


@pytest.mark.parametrize("change, where", [
    ({"budget": {"max_steps": 5}}, "budget.max_flops"),
    ({"train": {"lr": 1e-3, "seed": 3}}, "train.seed"),
    ({"train_overrides": {"linear-probe": {"max_flops": 1e9}}}, "train_overrides.linear-probe.max_flops"),
    ({"train_overrides": {"pet": {"lr": 1e-3}}}, "train_overrides.pet"),
    ({"strategies": ["full", "last-k"]}, "strategies"),
    ({"families": [{"name": "gnn", "backbone": "x"}]}, "families[0].name"),
    ({"train": {"lr": -1.0}}, "train"),
    ({"colour": "red"}, "study"),
])
def test_bad_config_names_the_field(change: dict, where: str) -> None:
    with pytest.raises(InputError) as err:
        TransferStudy.from_raw(_raw(**change))
    assert where in str(err.value)


def test_plan_same_recipe_except_init_and_recorded_overrides(tmp_path: Path) -> None:
    study = TransferStudy.from_raw(_raw(out=str(tmp_path)))
    runs = {(r.key, r.size, r.seed): r for r in plan_runs(study)}
    rand, pre = runs["pet-random-full", 64, 1], runs["pet-pretrained-full", 64, 1]
    assert rand.folder == tmp_path / "label" / "pet-random-full" / "n64" / "seed1"
    assert rand.recipe["train"] == pre.recipe["train"]  # same lr recipe, budget and seed
    assert {**rand.recipe["model"], "init": "pretrained"} == pre.recipe["model"]
    assert rand.recipe["data"]["train_subset"] == 64 and rand.recipe["train"]["seed"] == 1
    probe = runs["pet-pretrained-linear-probe", 64, 1].recipe["train"]
    assert probe["lr"] == 2e-3 and probe["strategy"] == "linear-probe" and pre.recipe["train"]["lr"] == 1e-3
    assert runs["mlp-random-full", 128, 0].recipe["model"]["name"] == "mlp"


# ---------------------------------------------------------------- miniature study end to end


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> tuple[TransferStudy, dict, Path]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is fastest on a shared machine
    root = tmp_path_factory.mktemp("transfer")
    prepare_mini(root / "inputs", steps=8)
    raw = load_yaml(MINI)
    raw["data"]["train"] = str(root / "inputs" / "data" / "train")
    for fam in raw["families"]:
        fam["backbone"] = str(root / "inputs" / f"backbone-{fam['name']}" / "best")
    raw["out"] = str(root / "study")
    study = TransferStudy.from_raw(raw)
    first = run_study(study)
    yield study, first, root
    torch.set_num_threads(threads)


def test_mini_study_end_to_end(mini: tuple) -> None:
    study, first, _ = mini
    assert first["ran"] == first["planned"] == 36 and first["failed"] == 0
    report = json.loads((Path(study.out) / "report" / "report.json").read_text())
    assert report["runs"]["done"] == 36 and not report["runs"]["missing"]
    assert report["datasets"]["events"]["train"] >= 128
    task = report["tasks"]["label"]
    assert task["kind"] == "class" and task["metric"] == "auc"
    assert set(task["final"]) == {"mlp-random-full"} | {f"{f}-{k}" for f in ("pet", "pt") for k in
                                                        ("random-full", "pretrained-full", "pretrained-linear-probe",
                                                         "pretrained-adapter")}
    row = task["final"]["pet-pretrained-full"]["128"]
    assert row["auc"]["n"] == 2 and 0 <= row["auc"]["mean"] <= 1 and row["purity"]["n"] == 2
    assert row["flops"]["max"] <= study.budget.max_flops  # the budget holds
    match = task["compute_to_match"]["pet-pretrained-adapter"]["64"]
    assert match["n_pairs"] == 2 and set(match["pairs"]) == {"0", "1"}
    assert len(task["verdict"]) in (7, 8)  # one per family x strategy, the best model (and the MLP if not best)
    # every sentence is one of the three generated kinds, citing the size it speaks about
    assert all(v.startswith("[128 labelled events] ") for v in task["verdict"][:6])
    # per family: (val loss, val accuracy) x (FLOPs at 2 sizes + wall time at the verdict size) + AUC against size
    pngs = sorted(p.name for p in (Path(study.out) / "report").glob("*.png"))
    assert len(pngs) == 2 * 7 and "label-pet-n64-val_loss-flops.png" in pngs and "label-pt-auc-size.png" in pngs
    assert "label-pt-n128-val_auc_label-wall_time.png" in pngs  # validation AUC is in the training records
    assert sorted(p["path"] for p in task["plots"]) == pngs
    page = (Path(study.out) / "report" / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 14 and page.count("<table>") >= 6
    assert "Compute to match" in page and "Label efficiency" in page and "PET pretrained, adapter" in page
    assert task["verdict"][0].split("] ", 1)[1][:20] in page


def test_cli_rebuilds_and_publishes_the_report(mini: tuple, cli, tmp_path: Path) -> None:
    """``hepfm experiment transfer --only-report --publish``: Markdown summary and a copy for the docs."""
    study, _, root = mini
    raw = load_yaml(MINI)
    raw["data"]["train"] = study.data.train
    for fam in raw["families"]:
        fam["backbone"] = str(root / "inputs" / f"backbone-{fam['name']}" / "best")
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(raw))
    out = cli("experiment", "transfer", "--config", str(config), "--out", study.out, "--only-report",
              "--publish", str(tmp_path / "docs"))
    assert "0 trained" in out and "copied to:" in out
    summary = (tmp_path / "docs" / "summary.md").read_text()
    verdict = json.loads((tmp_path / "docs" / "report.json").read_text())["tasks"]["label"]["verdict"]
    assert f"- {verdict[0]}" in summary and "| PET pretrained, adapter | 128 |" in summary
    assert "## Summary" in summary and "| label | AUC | 128 | PET |" in summary  # the headline table
    copied = sorted(p.name for p in (tmp_path / "docs").glob("*.png"))
    assert copied == sorted(p.name for p in (Path(study.out) / "report").glob("*.png")) and len(copied) == 14
    assert all(f"]({name})" in summary for name in copied)
    with pytest.raises(InputError, match="not a written report"):
        tr.publish_report(tmp_path, tmp_path / "elsewhere")


def test_rerun_skips_finished_and_resumes_interrupted(mini: tuple) -> None:
    study, first, _ = mini
    runs = plan_runs(study)
    done = runs[5].folder / "report.json"
    stamp = done.stat().st_mtime_ns
    again = run_study(study, report=False)
    assert again["ran"] == 0 and again["skipped"] == first["planned"]
    assert done.stat().st_mtime_ns == stamp
    # an "interrupted" run: report.json gone, last/ kept -> resumed from the checkpoint, not retrained
    victim = runs[7].folder
    old_report = json.loads((victim / "report.json").read_text())
    old_first = (victim / "metrics.jsonl").read_text().splitlines()[0]
    (victim / "report.json").unlink()
    resumed = run_study(study, report=False)
    assert resumed["ran"] == 1 and resumed["skipped"] == first["planned"] - 1
    new_report = json.loads((victim / "report.json").read_text())
    assert new_report["fit"]["steps"] == old_report["fit"]["steps"]
    assert (victim / "metrics.jsonl").read_text().splitlines()[0] == old_first  # records kept, wall times too
    sessions = (Path(study.out) / "sessions.jsonl").read_text().splitlines()
    assert len(sessions) == 3 and json.loads(sessions[1])["ran"] == 0
    # a changed learning-rate recipe must not be mixed with runs trained under the old one
    # (36 runs less the 8 linear-probe runs, whose lr comes from train_overrides)
    with pytest.raises(InputError, match=r"different train\.lr .*\(28 such runs\)"):
        run_study(dataclasses.replace(study, train={**study.train, "lr": 5e-4}), report=False)
    assert len((Path(study.out) / "sessions.jsonl").read_text().splitlines()) == 3


def test_only_report_trains_nothing(mini: tuple, tmp_path: Path) -> None:
    """--only-report on a study with no finished run: nothing trains, the page lists every run as missing."""
    study, _, _ = mini
    result = run_study(dataclasses.replace(study, out=str(tmp_path)), only_report=True)
    assert result["ran"] == result["skipped"] == 0 and Path(result["report"]).is_file()
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["runs"]["done"] == 0 and len(report["runs"]["missing"]) == 36
    assert "No finished runs to compare" in report["tasks"]["label"]["verdict"][0]
    assert not list((tmp_path / "report").glob("*.png")) and not list(tmp_path.glob("label"))


def test_diverged_run_is_recorded_and_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hepfm.experiments.run as run_module

    calls = []

    def diverge(recipe: object, **kwargs: object) -> None:
        calls.append(recipe)
        raise FloatingPointError("non-finite training loss before step 3")

    monkeypatch.setattr(run_module, "run_recipe", diverge)
    study = TransferStudy.from_raw(_raw(out=str(tmp_path)))
    run = plan_runs(study)[0]
    assert execute(run) == "failed" and (run.folder / FAILED).is_file()
    assert execute(run) == "skipped" and len(calls) == 1


# ---------------------------------------------------------------- measures on hand-made numbers


def _records(points: list[tuple[float, float]]) -> list[dict]:
    """metrics.jsonl-like records: a training-only record between validations (no val_loss)."""
    out = []
    for step, (flops, loss) in enumerate(points, 1):
        out += [{"step": 2 * step - 1, "flops": flops - 1.0, "train_loss": 9.0},
                {"step": 2 * step, "flops": flops, "wall_time": step, "val_loss": loss}]
    return out


def test_compute_to_match_exact() -> None:
    random = _records([(10, 1.0), (20, 0.8), (30, 0.6), (40, 0.7)])  # best 0.6 first at 30 FLOPs
    pre = _records([(5, 0.9), (10, 0.7), (15, 0.5)])  # crosses 0.6 halfway between 10 and 15: 12.5
    m = tr.compute_to_match(pre, random)
    assert m["reached"] and not m["upper_bound"] and m["target"] == 0.6
    assert m["x_random"] == 30 and m["x_pretrained"] == pytest.approx(12.5, abs=1e-12)
    assert m["ratio"] == pytest.approx(12.5 / 30, abs=1e-12)


def test_compute_to_match_not_reached_and_upper_bound() -> None:
    random = _records([(10, 1.0), (20, 0.6)])
    never = tr.compute_to_match(_records([(5, 0.9), (10, 0.8), (40, 0.65)]), random)
    assert not never["reached"] and never["ratio"] is None
    early = tr.compute_to_match(_records([(4, 0.55), (8, 0.5)]), random)
    assert early["reached"] and early["upper_bound"] and early["ratio"] == pytest.approx(4 / 20)
    summary = tr.summarize_match({0: never, 1: early})
    assert summary["n_pairs"] == 2 and summary["n_reached"] == 1 and summary["ratio"]["values"] == [0.2]


def test_label_efficiency() -> None:
    reference = [0.80, 0.82, 0.81]  # mean 0.81, std 0.01
    pre = {100: [0.70, 0.72, 0.71], 1000: [0.795, 0.805, 0.80], 10000: [0.83, 0.84, 0.85]}
    # n=1000: 0.80 - 0.81 = -0.010 >= -hypot(0.005, 0.01) = -0.0112 -> matches
    eff = tr.label_efficiency(pre, reference, higher_is_better=True)
    assert eff["reached"] and eff["size"] == 1000
    assert eff["reference"]["mean"] == pytest.approx(0.81) and eff["reference"]["std"] == pytest.approx(0.01)
    worse = tr.label_efficiency({100: [0.70, 0.71], 1000: [0.76, 0.77]}, reference, higher_is_better=True)
    assert not worse["reached"] and worse["size"] is None
    # lower is better (a resolution): 0.118 +- 0.002 vs 0.10 +- 0.01 is 1.8 sigma worse; 0.105 is within
    res = tr.label_efficiency({100: [0.116, 0.118, 0.120], 1000: [0.104, 0.105, 0.106]}, [0.09, 0.10, 0.11], False)
    assert res["size"] == 1000


def _stat(mean: float, std: float, n: int = 3) -> dict:
    return {"n": n, "mean": mean, "std": std, "min": mean - std, "max": mean + std, "values": []}


def _match(ratios: list[float | None]) -> dict:
    pairs = {i: {"ratio": r, "reached": r is not None, "upper_bound": False} for i, r in enumerate(ratios)}
    return tr.summarize_match(pairs)


def test_verdict_follows_the_numbers() -> None:
    helped = tr.verdict("PET (full)", "auc", True, _match([0.3, 0.42, 0.5]), _stat(0.91, 0.004),
                        _stat(0.89, 0.006), equal_compute=True)
    assert helped.startswith("Pretrained PET (full) reached random-init's best validation loss with 0.41×")
    assert "spread 0.30–0.50" in helped and "has better test AUC (higher: 0.91" in helped and "at equal compute" in helped
    hurt = tr.verdict("PT (adapter)", "auc", True, _match([None, None, None]), _stat(0.85, 0.004),
                      _stat(0.89, 0.006), equal_compute=False)
    assert hurt.startswith("Pretraining did not help PT (adapter) here: it never reached")
    assert "0 of 3 seeds" in hurt and "has worse test AUC (lower: 0.85" in hurt and "not equal compute" in hurt
    # the same numbers with the roles swapped flip the sentence; equal within the spread does not count as help
    tie = tr.verdict("PET", "auc", True, _match([1.3, 1.2, 1.25]), _stat(0.890, 0.01), _stat(0.891, 0.01), True)
    assert tie.startswith("Pretraining did not help PET") and "compatible with random init" in tie
    mixed = tr.verdict("PET", "resolution", False, _match([0.5, 0.6, 0.7]), _stat(0.20, 0.01), _stat(0.15, 0.01), True)
    assert mixed.startswith("Mixed result") and "worse test resolution (higher: 0.2" in mixed
    better_res = tr.verdict("PET", "resolution", False, _match([0.9, 0.95, 0.97]), _stat(0.12, 0.01),
                            _stat(0.15, 0.01), True, {"reached": True, "size": 1000, "per_size": {"1": {}, "2": {}}},
                            100000)
    assert better_res.startswith("Pretrained PET") and "better test resolution (lower: 0.12" in better_res
    assert better_res.endswith("it matches random init trained on 100000 labelled events with 1000.")
    single = tr.verdict("PT", "auc", True, _match([0.5]), tr.stat([0.977]), tr.stat([0.973]), True)
    assert "better test AUC" in single and "from a single seed (no spread" in single


def test_regression_summary_from_reports(tmp_path: Path) -> None:
    """Bias/resolution table and verdict of a regression task from hand-made run reports."""
    study = TransferStudy.from_raw(_raw(out=str(tmp_path), tasks=["e_available"], seeds=[0, 1], train_sizes=[64],
                                        families=[{"name": "pet", "backbone": "x"}], strategies=["full"], mlp=None))
    results = []
    for run in plan_runs(study):
        res = 0.10 if run.init == "pretrained" else 0.20  # pretrained: half the resolution
        res += 0.005 * run.seed
        overall = {"bias_median": 0.01, "resolution_q68": res, "bias_mean": 0.02, "resolution_std": 1.5 * res}
        report = {"fit": {"flops": 1e8, "stopped_by": "max_flops"},
                  "test": {"e_available": {"residual": "relative", "overall": overall}}}
        x = [1e7, 2e7, 4e7]
        loss = [0.5, 0.3, 0.2] if run.init == "random" else [0.4, 0.15, 0.1]
        records = [{"step": i, "flops": f, "val_loss": v} for i, (f, v) in enumerate(zip(x, loss))]
        results.append(tr.RunResult(run, records, report))
    s = tr.summarize_task(study, "e_available", "regression", results)
    row = s["final"]["pet-pretrained-full"]["64"]
    assert row["resolution"]["mean"] == pytest.approx(0.1025) and row["bias"]["mean"] == pytest.approx(0.01)
    assert row["resolution"]["std"] == pytest.approx(0.005 / math.sqrt(2))  # two seeds, ddof=1
    ratio = s["compute_to_match"]["pet-pretrained-full"]["64"]["ratio"]
    # random's best 0.2 is first reached at 4e7; pretrained 0.4 -> 0.15 crosses 0.2 at 1e7 + (0.2/0.25) * 1e7
    assert ratio["mean"] == pytest.approx(1.8e7 / 4e7) and ratio["n"] == 2
    assert s["verdict"][0].startswith("[64 labelled events] Pretrained PET (full) reached")
    assert "0.45× the compute (spread 0.45–0.45)" in s["verdict"][0]
    assert "better test resolution (lower: 0.1025" in s["verdict"][0]


def test_test_metrics_working_point() -> None:
    report = {"test": {"y": {"accuracy": 0.8, "signal": {
        "auc": 0.9, "working_point": {"signal_efficiency": 0.7, "purity": 0.75, "background_rejection": 4.0},
        "at_efficiency": {"0.5": {"signal_efficiency": 0.5, "purity": 0.9, "background_rejection": 12.0}}}}}}
    assert tr.test_metrics(report, "y", "class")["purity"] == 0.75
    assert tr.test_metrics(report, "y", "class", "0.5")["background_rejection"] == 12.0
    assert tr.test_metrics({"test": {"y": {"auc_macro": 0.7}}}, "y", "class")["auc"] == 0.7


def test_planned_run_names() -> None:
    run = PlannedRun("t", "pet", "pretrained", "linear-probe", 10, 2, Path("x"), {})
    assert run.key == "pet-pretrained-linear-probe" and run.name == "t/pet-pretrained-linear-probe/n10/seed2"
    assert tr.who(run.key) == "PET (linear-probe)" and tr.who("pt-pretrained-full") == "PT (full)"
    assert tr.display(run.key) == "PET pretrained, linear-probe" and tr.display("mlp-random-full").startswith("MLP")
