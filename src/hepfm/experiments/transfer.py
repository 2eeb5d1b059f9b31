"""``hepfm experiment transfer``: does a pretrained backbone beat random init on a new task?

Per task: the event-level MLP; per backbone family (PET, ``pt``) the backbone's architecture
from random init (``full``) and from the pretrained weights (each of ``strategies``); at every
training size and seed, with one FLOP budget and one learning-rate recipe (deviations in
``train_overrides``, recorded in each run's ``recipe.yaml``). Seed ``k`` fixes the training
subset, batch order and new parameters' initial weights of every model's run ``k``.

Runs go to ``out/<task>/<model>-<init>-<strategy>/n<size>/seed<k>/`` (one :func:`run_recipe`
each): finished runs are skipped on a rerun, interrupted ones resume from ``last/``, diverged
ones leave ``failed.json``. :mod:`hepfm.experiments.transfer_report` then writes
``out/report/``. How to run and read the study: ``docs/transfer.md``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepfm.config import apply_overrides, from_dict, load_yaml, to_dict
from hepfm.errors import InputError
from hepfm.evaluate.classification import DEFAULT_EFFICIENCIES
from hepfm.train.config import STRATEGIES, TrainConfig

log = logging.getLogger("hepfm.transfer")

FAMILIES = ("pet", "pt")
FAILED = "failed.json"
#: training options the study itself sets; a run may not override them
CONTROLLED = ("max_flops", "max_steps", "epochs", "seed", "strategy")
#: training options that may differ between a finished run and the current config
MAY_CHANGE = ("device", "log_every", "resume")


@dataclass
class StudyData:
    """Dataset folders (``val``/``test`` default to the folders of that name beside ``train``)."""

    train: str = ""
    val: str | None = None
    test: str | None = None
    max_tokens: int = 128


@dataclass
class FamilySection:
    """A backbone family: ``name`` pet|pt, ``backbone`` a zoo name or checkpoint folder.

    ``options`` are model-config overrides applied to both inits (they must not change the
    backbone's shapes, e.g. ``dropout`` or ``head_hidden``); ``label`` names the run folders
    (default ``name``) when two backbones of one family are compared.
    """

    name: str = "pet"
    backbone: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    label: str | None = None

    @property
    def key(self) -> str:
        return self.label or self.name


@dataclass
class MLPSection:
    """The event-level MLP baseline (``options``: model-config overrides such as ``dim``, ``depth``)."""

    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Budget:
    """Per run: ``max_flops`` (required, the compute every model gets) and optional caps."""

    max_flops: float | None = None
    max_steps: int | None = None
    epochs: int | None = None


@dataclass
class TransferStudy:
    """A transfer study (``configs/transfer/*.yaml``); see the module docstring."""

    data: StudyData = field(default_factory=StudyData)
    tasks: list[str] = field(default_factory=list)
    families: list[FamilySection] = field(default_factory=list)
    mlp: MLPSection | None = field(default_factory=MLPSection)
    strategies: list[str] = field(default_factory=lambda: ["full", "linear-probe", "adapter"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    train_sizes: list[int] = field(default_factory=lambda: [1000, 10000, 100000])
    budget: Budget = field(default_factory=Budget)
    train: dict[str, Any] = field(default_factory=dict)
    train_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    working_point: str = "youden"
    verdict_size: int | None = None
    out: str = "runs/transfer"

    @classmethod
    def from_raw(cls, raw: dict[str, Any], where: str = "study") -> TransferStudy:
        """Parse and check a study mapping (no file is opened)."""
        study = from_dict(cls, raw, where)
        study.check(where)
        return study

    def check(self, where: str = "study") -> None:
        """Consistency checks that need no data files."""
        def need(ok: bool, key: str, what: str) -> None:
            if not ok:
                raise InputError(f"{where}:{key}", what)

        need(bool(self.data.train), "data.train", "no training data given")
        need(bool(self.tasks) and len(set(self.tasks)) == len(self.tasks), "tasks", "need a list of distinct label names")
        need(bool(self.families) or self.mlp is not None, "families", "nothing to train: no family and no mlp")
        for i, fam in enumerate(self.families):
            need(fam.name in FAMILIES, f"families[{i}].name", f"must be one of {list(FAMILIES)}, got {fam.name!r}")
            need(bool(fam.backbone), f"families[{i}].backbone", "give a zoo name or checkpoint folder")
        keys = [f.key for f in self.families]
        need(len(set(keys)) == len(keys) and "mlp" not in keys, "families", f"run names must be distinct, got {keys}")
        need(bool(self.strategies) and set(self.strategies) <= set(STRATEGIES) and "last-k" not in self.strategies,
             "strategies", f"choose from full, linear-probe, adapter; got {self.strategies}")
        need(bool(self.seeds) and len(set(self.seeds)) == len(self.seeds) and min(self.seeds) >= 0,
             "seeds", f"need distinct seeds >= 0, got {self.seeds}")
        need(bool(self.train_sizes) and min(self.train_sizes) >= 1 and len(set(self.train_sizes)) == len(self.train_sizes),
             "train_sizes", f"need distinct sizes >= 1, got {self.train_sizes}")
        need(self.budget.max_flops is not None, "budget.max_flops", "every run needs the same FLOP budget")
        need(self.verdict_size is None or self.verdict_size in self.train_sizes, "verdict_size",
             f"must be one of train_sizes {self.train_sizes}")
        points = ["youden", *(f"{e:g}" for e in DEFAULT_EFFICIENCIES)]
        need(self.working_point in points, "working_point", f"must be one of {points}, got {self.working_point!r}")
        for key in ("train", *[f"train_overrides.{k}" for k in self.train_overrides]):
            options = self.train if key == "train" else self.train_overrides[key.split(".", 1)[1]]
            bad = [k for k in options if k in CONTROLLED]
            need(not bad, f"{key}.{bad[0] if bad else ''}", "set by the study (budget, seeds, strategies)")
        allowed = {"pretrained", "random", "mlp", *STRATEGIES}
        for key in self.train_overrides:
            need(key in allowed, f"train_overrides.{key}", f"keys are {sorted(allowed)}")
        for run in plan_runs(self):  # every run's training options are valid
            TrainConfig.from_dict(run.recipe["train"], where=f"{where}:train ({run.name})")


def load_study(path: str | Path, overrides: Sequence[str] = (), out: str | Path | None = None) -> TransferStudy:
    """Read a study YAML, apply ``section.key=value`` overrides and an output folder."""
    raw = apply_overrides(load_yaml(path), list(overrides))
    if out is not None:
        raw["out"] = str(out)
    return TransferStudy.from_raw(raw, where=str(path))


@dataclass(frozen=True)
class PlannedRun:
    """One training run of the study; ``recipe`` is the raw :class:`Recipe` mapping."""

    task: str
    model: str  # family key or 'mlp'
    init: str  # 'pretrained' | 'random'
    strategy: str
    size: int
    seed: int
    folder: Path
    recipe: dict[str, Any]

    @property
    def key(self) -> str:
        """The model configuration, e.g. ``pet-pretrained-adapter``."""
        return f"{self.model}-{self.init}-{self.strategy}"

    @property
    def name(self) -> str:
        return f"{self.task}/{self.key}/n{self.size}/seed{self.seed}"


def model_keys(study: TransferStudy) -> list[tuple[str, str, str]]:
    """``(model, init, strategy)`` of every model configuration, in report order."""
    keys = [("mlp", "random", "full")] if study.mlp is not None else []
    for fam in study.families:
        keys += [(fam.key, "random", "full")] + [(fam.key, "pretrained", s) for s in study.strategies]
    return keys


def plan_runs(study: TransferStudy, out: str | Path | None = None) -> list[PlannedRun]:
    """Every run of the study, seeds outermost (so a partial study has all models for the first seeds)."""
    root = Path(out or study.out)
    families = {f.key: f for f in study.families}
    base = {**study.train, **{k: v for k, v in vars(study.budget).items() if v is not None}}
    if base.get("val_every") and "checkpoint_every" not in base:
        base["checkpoint_every"] = base["val_every"]  # an interrupted run loses at most one validation interval
    runs = []
    for seed in study.seeds:
        for task in study.tasks:
            for size in study.train_sizes:
                for model, init, strategy in model_keys(study):
                    train = dict(base)
                    for key in (["mlp"] if model == "mlp" else [init, strategy]):
                        train.update(study.train_overrides.get(key, {}))
                    train.update(seed=seed, strategy=strategy)
                    if model == "mlp" and study.mlp is not None:
                        spec = {"name": "mlp", "init": "random", "options": dict(study.mlp.options)}
                    else:
                        fam = families[model]
                        spec = {"name": fam.name, "backbone": fam.backbone, "init": init,
                                "options": dict(fam.options)}
                    folder = root / task / f"{model}-{init}-{strategy}" / f"n{size}" / f"seed{seed}"
                    recipe = {"data": {**to_dict(study.data), "train_subset": size}, "model": spec,
                              "tasks": [{"label": task}], "train": train, "out": str(folder)}
                    runs.append(PlannedRun(task, model, init, strategy, size, seed, folder, recipe))
    return runs


def run_status(run: PlannedRun) -> str:
    """``done`` (report.json), ``failed`` (failed.json), ``partial`` (a checkpoint) or ``todo``."""
    if (run.folder / "report.json").is_file():
        return "done"
    if (run.folder / FAILED).is_file():
        return "failed"
    return "partial" if (run.folder / "last").is_dir() else "todo"


def check_data(study: TransferStudy) -> dict[str, Any]:
    """Check the study against its files (labels, sizes, event features, backbones); return dataset facts."""
    from hepfm.data import open_events
    from hepfm.experiments.run import sibling_split
    from hepfm.models.io import CONFIG_NAME, resolve_pretrained

    open_events(study.data.train)  # a missing training set is named before its missing neighbours
    paths = {"train": study.data.train, "val": study.data.val or sibling_split(study.data.train, "val"),
             "test": study.data.test or sibling_split(study.data.train, "test")}
    for split, path in paths.items():
        if path is None:
            raise InputError(f"study:data.{split}", f"not given and no '{split}' folder beside {study.data.train}")
    files = {split: open_events(path) for split, path in paths.items()}
    schema = files["train"].schema
    names = [s.name for s in schema.labels]
    kinds = {}
    for task in study.tasks:
        if task not in names:
            raise InputError("study:tasks", f"label {task!r} not in {paths['train']} (labels: {names})")
        spec = schema.label(task)
        kinds[task] = {"kind": spec.kind, "classes": list(spec.classes or []), "unit": spec.unit}
    n_train = len(files["train"])
    if max(study.train_sizes) > n_train:
        raise InputError("study:train_sizes", f"{max(study.train_sizes)} > {n_train} events in {paths['train']}")
    if study.mlp is not None and not schema.event:
        raise InputError("study:mlp", f"{paths['train']} has no event-level features; set 'mlp: null' to skip the MLP")
    for i, fam in enumerate(study.families):
        config = json.loads((resolve_pretrained(fam.backbone) / CONFIG_NAME).read_text())
        if config.get("family") != fam.name:
            raise InputError(f"study:families[{i}].backbone", f"{fam.backbone} is a {config.get('family')!r} model, "
                                                             f"not {fam.name!r}")
    return {"paths": paths, "events": {split: len(f) for split, f in files.items()}, "tasks": kinds}


def changed_options(run: PlannedRun) -> list[str]:
    """Recipe entries in which the run's saved ``recipe.yaml`` differs from the plan (``[]`` if none or not started)."""
    import yaml

    from hepfm.experiments.run import Recipe

    path = run.folder / "recipe.yaml"
    if not path.is_file():
        return []
    saved = yaml.safe_load(path.read_text()) or {}
    planned = to_dict(Recipe.from_raw(run.recipe, where=run.name))
    changed = [f"{section}.{k}" for section in ("data", "model") for k in planned[section]
               if planned[section][k] != (saved.get(section) or {}).get(k)]
    changed += [f"train.{k}" for k in sorted(set(run.recipe["train"]) | set(saved.get("train") or {}))
                if k not in MAY_CHANGE and run.recipe["train"].get(k) != (saved.get("train") or {}).get(k)]
    return changed + (["tasks"] if planned["tasks"] != saved.get("tasks") else [])


def execute(run: PlannedRun) -> str:
    """Train one run unless finished: returns ``ran``, ``skipped`` or ``failed``."""
    from hepfm.experiments.run import Recipe, run_recipe

    status = run_status(run)
    if status in ("done", "failed"):
        return "skipped"
    log.info("%s %s", "resuming" if status == "partial" else "training", run.name)
    try:
        run_recipe(Recipe.from_raw(run.recipe, where=run.name), resume=True)
    except FloatingPointError as err:  # diverged: a result, recorded and not retried
        log.warning("%s diverged: %s", run.name, err)
        run.folder.mkdir(parents=True, exist_ok=True)
        (run.folder / FAILED).write_text(json.dumps({"error": str(err)}) + "\n")
        return "failed"
    return "ran"


def run_study(study: TransferStudy, *, only_report: bool = False, report: bool = True) -> dict[str, Any]:
    """Run every unfinished run (unless ``only_report``) and write the report (if ``report``).

    Returns counts of runs ``ran``/``skipped``/``failed``, the number ``planned`` and the
    ``report`` (path of ``out/report/index.html``, or None).
    """
    from hepfm.experiments.transfer_report import environment, write_report

    facts = check_data(study)
    runs = plan_runs(study)
    stale = [(run, keys) for run in runs if (keys := changed_options(run))]
    if stale:
        run, keys = stale[0]
        raise InputError(str(run.folder), f"trained with different {', '.join(keys)} than the config asks "
                         f"({len(stale)} such runs); use another --out or delete them")
    counts = {"planned": len(runs), "ran": 0, "skipped": 0, "failed": 0}
    if not only_report:
        start, clock = time.strftime("%Y-%m-%d %H:%M:%S"), time.perf_counter()
        try:
            for i, run in enumerate(runs, 1):
                log.info("run %d of %d", i, len(runs))
                counts[execute(run)] += 1
        finally:  # one line per invocation that trained, interrupted or not
            session = {"start": start, "wall_time_s": round(time.perf_counter() - clock, 1), **counts,
                       "environment": environment()}
            Path(study.out).mkdir(parents=True, exist_ok=True)
            with (Path(study.out) / "sessions.jsonl").open("a") as f:
                f.write(json.dumps(session) + "\n")
    index = write_report(study, runs, facts) if report or only_report else None
    log.info("%s; report: %s", ", ".join(f"{k} {v}" for k, v in counts.items()), index)
    return {**counts, "report": index}


def prepare_mini(folder: str | Path, *, steps: int = 20, seed: int = 0) -> None:
    """The inputs of ``configs/transfer/mini.yaml``, from the jet sample shipped in the package.

    ``folder/data/{train,val,test}``: Z → qq̄ vs H → bb̄ jets (split 50/25/25);
    ``folder/backbone-{pet,pt}/best``: tiny backbones (dim 16, one block) pretrained for
    ``steps`` steps on the other seven classes. Parts that exist are kept.
    """
    from hepfm.data import read_all, split_events, write_events
    from hepfm.data.select import select_classes
    from hepfm.experiments.run import Recipe, run_recipe
    from hepfm.simulate.jets import sample_path

    folder = Path(folder)
    sample = read_all(sample_path())
    for name, classes, fractions in (("data", ("zqq", "hbb"), (0.5, 0.25, 0.25)),
                                     ("pretrain-data", ("q", "g", "tbqq", "wqq", "hcc", "hgg", "h4q"), (0.8, 0.1, 0.1))):
        if not (folder / name / "train").is_dir():
            write_events(folder / name / "all", select_classes(sample, classes))
            split_events(folder / name / "all", folder / name, fractions=fractions, seed=seed)
    train = {"batch_size": 32, "lr": 1e-3, "max_steps": steps, "val_every": max(1, steps // 4), "seed": seed,
             "device": "cpu"}
    for family in FAMILIES:
        out = folder / f"backbone-{family}"
        if not (out / "report.json").is_file():
            run_recipe(Recipe.from_raw({
                "data": {"train": str(folder / "pretrain-data" / "train"), "max_tokens": 24},
                "model": {"name": f"{family}-tiny", "options": {"dim": 16, "depth": 1, "heads": 2, "head_hidden": 16}},
                "train": train, "out": str(out)}))
