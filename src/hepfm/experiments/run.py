"""One training run from a recipe: data → model (random or pretrained) → fit → test metrics.

``hepfm pretrain`` and ``hepfm finetune`` both execute a :class:`Recipe`; the only
difference is whether ``model.backbone`` names a pretrained backbone to start from.
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from hepfm.config import from_dict, to_dict
from hepfm.errors import InputError
from hepfm.utils import seed_everything

log = logging.getLogger("hepfm.run")

DEFAULT_EPOCHS = 10
#: training batches that set the input standardisation before training (input branches only)
CALIBRATION_BATCHES = 20


@dataclass
class DataSection:
    """Where the events are. ``val``/``test`` default to the ``val``/``test`` folders beside ``train``."""

    train: str = ""
    val: str | None = None
    test: str | None = None
    max_tokens: int = 128
    train_subset: int | None = None


@dataclass
class TaskSection:
    """A label to learn; ``loss`` defaults to cross-entropy (class) or Huber (regression)."""

    label: str = "label"
    loss: str | None = None
    weight: float = 1.0


@dataclass
class ModelSection:
    """``name`` is a registry name (``pet-tiny``); ``backbone`` a zoo name or checkpoint folder.

    ``input_stats``: ``"data"`` (default) sets the input standardisation statistics from the
    first ``CALIBRATION_BATCHES`` training batches before training (a pretrained backbone's
    statistics from its pretraining domain are replaced, so its new inputs arrive standardised
    like the old ones); ``"keep"`` keeps a pretrained backbone's statistics, which then adapt
    slowly during training.
    """

    name: str = "pet-tiny"
    backbone: str | None = None
    init: Literal["pretrained", "random"] = "pretrained"
    options: dict[str, Any] = field(default_factory=dict)
    input_stats: Literal["data", "keep"] = "data"


@dataclass
class Recipe:
    data: DataSection = field(default_factory=DataSection)
    model: ModelSection = field(default_factory=ModelSection)
    tasks: list[TaskSection] = field(default_factory=lambda: [TaskSection()])
    train: dict[str, Any] = field(default_factory=dict)
    out: str = "runs/run"

    @classmethod
    def from_raw(cls, raw: dict[str, Any], where: str = "recipe") -> Recipe:
        recipe = from_dict(cls, raw, where)
        if not recipe.data.train:
            raise InputError(f"{where}:data.train", "no training data given")
        if not recipe.tasks:
            raise InputError(f"{where}:tasks", "need at least one task")
        return recipe


def sibling_split(train: str, split: str) -> str | None:
    path = Path(train)
    if path.name == "train" and (path.parent / split).exists():
        return str(path.parent / split)
    return None


def run_recipe(recipe: Recipe, *, resume: bool = True) -> dict[str, Any]:
    """Train the recipe's model and evaluate it on the test split; returns the test report.

    With ``resume`` (and the recipe's ``train.resume``, default true) an interrupted run in the
    same output folder continues from its last checkpoint; ``resume=False`` always starts afresh.
    """
    from hepfm.data import EventLoader, open_events
    from hepfm.evaluate import evaluate_model
    from hepfm.models import HepModel, InputSpec, TaskSpec, create_model
    from hepfm.train import TrainConfig, fit
    from hepfm.train.distributed import setup, teardown

    out = Path(recipe.out)
    train = dict(recipe.train)
    if not any(train.get(k) for k in ("epochs", "max_steps", "max_flops")):
        train["epochs"] = DEFAULT_EPOCHS
    train_cfg = TrainConfig.from_dict(train, where="recipe:train")
    if not resume:
        train_cfg = replace(train_cfg, resume=False)
    if "epochs" not in recipe.train and train_cfg.epochs == DEFAULT_EPOCHS:
        log.info("no epochs/max_steps/max_flops given: training for %d epochs", DEFAULT_EPOCHS)

    data = recipe.data
    val_path = data.val or sibling_split(data.train, "val")
    test_path = data.test or sibling_split(data.train, "test")
    if val_path is None:
        raise InputError("recipe:data.val", f"no validation data given and no 'val' folder beside {data.train}")
    schema = open_events(data.train).schema
    labels = [t.label for t in recipe.tasks]
    tasks = []
    for t in recipe.tasks:
        spec = schema.label(t.label)
        loss = t.loss or ("ce" if spec.kind == "class" else "huber")
        tasks.append(TaskSpec(name=t.label, kind=spec.kind, num_classes=spec.num_classes, loss=loss, weight=t.weight))
    inputs = InputSpec(
        n_features=len(schema.features),
        n_token_types=len(schema.token_types),
        n_extra=len(schema.extra),
        n_event=len(schema.event),
    )

    ctx = setup(train_cfg.device)

    def loader(path: str, shuffle: bool, subset: int | None = None, shard: bool = True) -> EventLoader:
        return EventLoader(path, train_cfg.batch_size, shuffle=shuffle, seed=train_cfg.seed,
                           max_tokens=data.max_tokens, labels=labels, subset=subset,
                           rank=ctx.rank if shard else 0, world_size=ctx.world_size if shard else 1)

    train_loader = loader(data.train, True, data.train_subset)
    overrides = dict(recipe.model.options, inputs=inputs, tasks=tasks)
    new_names: set[str] = set()
    seed_everything(train_cfg.seed)  # the same initial weights for every new parameter, whatever the init
    if recipe.model.backbone:
        model, report = HepModel.from_pretrained(recipe.model.backbone, **overrides)
        log.info("backbone %s: %s", recipe.model.backbone, report)
        if recipe.model.init == "random":
            seed_everything(train_cfg.seed)
            model = HepModel(model.config)
            log.info("init=random: the architecture of %s with freshly initialised weights", recipe.model.backbone)
        else:
            new_names = set(report.new)
    else:
        model = create_model(recipe.model.name, **overrides)
    if recipe.model.input_stats == "data":
        batches = itertools.islice(iter(loader(data.train, False, data.train_subset)), CALIBRATION_BATCHES)
        model.calibrate_inputs(batches, reset=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.yaml").write_text(yaml.safe_dump({**to_dict(recipe), "train": train}, sort_keys=False))
    result = fit(model, train_loader, loader(val_path, False), train_cfg, out, new_param_names=new_names)
    log.info("%s", result.strategy)

    report: dict[str, Any] = {"fit": result.to_dict()}
    if ctx.rank == 0:
        if test_path:
            best, _ = HepModel.from_pretrained(out / "best")
            class_names = {t.label: schema.label(t.label).classes for t in recipe.tasks if schema.label(t.label).kind == "class"}
            _, _, metrics = evaluate_model(best, loader(test_path, False, shard=False), best.config.tasks,
                                           class_names=class_names)
            report["test"] = metrics
        (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    teardown()
    return report
