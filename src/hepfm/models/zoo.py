"""The model zoo: pretrained backbones with model cards, shipped in the package or trained locally.

A zoo entry is a folder ``<zoo>/<name>/`` holding the checkpoint (``config.json`` +
``model.safetensors``) and its card: ``card.json`` (machine-readable), ``README.md`` (the
same, for people) and ``training_curve.png``. Two zoos are searched, in this order:

* the shipped zoo, ``hepfm/zoo/`` inside the package (read-only, no network needed);
* the local zoo, ``$HEPFM_ZOO`` (default ``~/.local/share/hepfm/zoo``), where
  :func:`register_run` (``hepfm zoo add``) puts backbones trained here.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hepfm
from hepfm.errors import InputError
from hepfm.models.io import CONFIG_NAME, WEIGHTS_NAME, ZOO_DIR, ZOO_NAME
from hepfm.utils import atomic_path

CARD_JSON = "card.json"
CARD_MD = "README.md"
CURVE_PNG = "training_curve.png"
MAX_SHIPPED_MB = 20.0


def local_zoo_dir() -> Path:
    """The local zoo: ``$HEPFM_ZOO`` or ``~/.local/share/hepfm/zoo``."""
    return Path(os.environ.get("HEPFM_ZOO") or Path.home() / ".local" / "share" / "hepfm" / "zoo")


@dataclass(frozen=True)
class ZooEntry:
    """One backbone in a zoo."""

    name: str
    path: Path
    source: str  # "shipped" or "local"

    @property
    def card(self) -> dict[str, Any]:
        """The card (empty if the entry has none)."""
        path = self.path / CARD_JSON
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise InputError(str(path), f"not valid JSON: {e}") from None

    @property
    def size_mb(self) -> float:
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file()) / 1e6


def _entries(folder: Path, source: str) -> list[ZooEntry]:
    if not folder.is_dir():
        return []
    return [ZooEntry(p.name, p, source) for p in sorted(folder.iterdir()) if (p / CONFIG_NAME).is_file()]


def list_backbones() -> list[ZooEntry]:
    """Every backbone: the shipped ones first, then the local ones (a local name never hides a shipped one)."""
    shipped = _entries(ZOO_DIR, "shipped")
    names = {e.name for e in shipped}
    return shipped + [e for e in _entries(local_zoo_dir(), "local") if e.name not in names]


def find_backbone(name: str) -> ZooEntry | None:
    """The zoo entry called ``name``, or None."""
    if not ZOO_NAME.match(name):
        return None
    return next((e for e in list_backbones() if e.name == name), None)


def get_backbone(name: str) -> ZooEntry:
    """The zoo entry called ``name``; an :class:`InputError` listing the available ones otherwise."""
    entry = find_backbone(name)
    if entry is None:
        names = [e.name for e in list_backbones()]
        raise InputError(name, "no such zoo backbone; available: " + (", ".join(names) if names else "none"))
    return entry


# ---------------------------------------------------------------- cards


def _git_commit() -> str | None:
    try:
        root = Path(hepfm.__file__).resolve().parents[2]
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _data_summary(path: str | None) -> dict[str, Any]:
    """Event count and generator provenance of a training dataset (omitting per-shard seed lists)."""
    if not path:
        return {}
    from hepfm.data import open_events

    try:
        source = open_events(path)
    except InputError:
        return {"path": path}
    prov = dict(source.schema.provenance)
    prov.pop("shard_seeds", None)
    prov.pop("shards", None)
    return {"path": path, "events": len(source), "provenance": prov}


def build_card(run_dir: Path, name: str, *, description: str = "", data_command: str = "",
               extra_metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """The card of the backbone trained in ``run_dir`` (a ``hepfm pretrain`` output folder)."""
    import yaml

    from hepfm.models import HepModel
    from hepfm.train.metrics import read_metrics

    report = json.loads((run_dir / "report.json").read_text()) if (run_dir / "report.json").is_file() else {}
    recipe = yaml.safe_load((run_dir / "recipe.yaml").read_text()) if (run_dir / "recipe.yaml").is_file() else {}
    model, _ = HepModel.from_pretrained(run_dir / "best")
    records = read_metrics(run_dir / "metrics.jsonl")
    data = recipe.get("data", {}) if isinstance(recipe, dict) else {}
    return {
        "name": name,
        "description": description,
        "architecture": model.config.name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "backbone_parameters": sum(p.numel() for p in model.backbone.parameters()),
        "hepfm_version": hepfm.__version__,
        "git_commit": _git_commit(),
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "data": {"command": data_command, "train": _data_summary(data.get("train")),
                 "max_tokens": data.get("max_tokens")},
        "recipe": recipe,
        "seed": (recipe.get("train") or {}).get("seed") if isinstance(recipe, dict) else None,
        "training": report.get("fit", {}),
        "curve": [{k: r.get(k) for k in ("step", "epoch", "flops", "wall_time", "train_loss", "val_loss")}
                  for r in records],
        "test_metrics": {**report.get("test", {}), **(extra_metrics or {})},
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def card_markdown(card: dict[str, Any]) -> str:
    """The card as a human-readable markdown page."""
    fit = card.get("training", {})
    train = card.get("data", {}).get("train", {})
    prov = train.get("provenance", {})
    lines = [
        f"# {card['name']}", "", card.get("description", ""), "",
        f"- architecture: `{card.get('architecture')}`, {card.get('parameters', 0):,} parameters "
        f"({card.get('backbone_parameters', 0):,} in the backbone)",
        f"- hepfm {card.get('hepfm_version')}, commit `{card.get('git_commit')}`, made {card.get('created')}",
        f"- training seed: {card.get('seed')}",
        "", "## Data", "",
        f"- {train.get('events', '?')} training events from `{train.get('path')}`",
        f"- generator: {prov.get('producer', '?')}, seed {prov.get('seed', '?')}, {prov.get('n_shards', '?')} shards",
    ]
    if card.get("data", {}).get("command"):
        lines.append(f"- made with: `{card['data']['command']}`")
    lines += ["", "## Training", ""]
    for key in ("steps", "epochs", "flops", "wall_time", "best_val_loss", "best_step"):
        if key in fit:
            lines.append(f"- {key}: {_fmt(fit[key])}")
    lines += ["", f"![training curve]({CURVE_PNG})", "", "## Test metrics", ""]
    for key, value in _flatten(card.get("test_metrics", {})):
        lines.append(f"- {key}: {_fmt(value)}")
    lines += ["", "## Recipe", "", "```yaml"]
    import yaml

    lines += [yaml.safe_dump(card.get("recipe", {}), sort_keys=False).rstrip(), "```", ""]
    return "\n".join(lines)


def _flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += _flatten(v, f"{prefix}{k}.")
        elif not isinstance(v, list):
            out.append((f"{prefix}{k}", v))
    return out


def plot_card_curve(card: dict[str, Any], path: Path) -> Path | None:
    """Training and validation loss against step (None if the card has no curve)."""
    from hepfm.evaluate.plots import plot_curves

    groups = {}
    for key, label in (("train_loss", "training loss"), ("val_loss", "validation loss")):
        run = [(r["step"], r[key]) for r in card.get("curve", []) if r.get(key) is not None and r.get("step")]
        if run:
            groups[label] = [run]
    if not groups:
        return None
    return plot_curves(groups, "step", "loss", path, logx=False, title=card["name"])


def register_run(run_dir: str | Path, name: str, *, dest: str | Path | None = None, description: str = "",
                 data_command: str = "", extra_metrics: dict[str, Any] | None = None,
                 overwrite: bool = False) -> ZooEntry:
    """Put the best checkpoint of ``run_dir`` into a zoo (the local one unless ``dest``) with its card."""
    run_dir = Path(run_dir)
    if not ZOO_NAME.match(name):
        raise InputError("name", f"{name!r}: use letters, digits, '.', '_' and '-'")
    best = run_dir / "best"
    for f in (CONFIG_NAME, WEIGHTS_NAME):
        if not (best / f).is_file():
            raise InputError(str(run_dir), f"no best/{f}; is this a finished 'hepfm pretrain' folder?")
    size_mb = sum((best / f).stat().st_size for f in (CONFIG_NAME, WEIGHTS_NAME)) / 1e6
    if size_mb > MAX_SHIPPED_MB:
        raise InputError(str(best), f"{size_mb:.1f} MB exceeds the {MAX_SHIPPED_MB} MB limit for a zoo entry")
    folder = Path(dest) if dest else local_zoo_dir()
    target = folder / name
    if target.exists() and not overwrite:
        raise InputError(str(target), "already exists (use --overwrite to replace it)")
    card = build_card(run_dir, name, description=description, data_command=data_command,
                      extra_metrics=extra_metrics)
    with atomic_path(target) as tmp:
        tmp.mkdir(parents=True)
        for f in (CONFIG_NAME, WEIGHTS_NAME):
            shutil.copy2(best / f, tmp / f)
        (tmp / CARD_JSON).write_text(json.dumps(card, indent=1, default=float) + "\n")
        (tmp / CARD_MD).write_text(card_markdown(card))
        plot_card_curve(card, tmp / CURVE_PNG)
    return ZooEntry(name, target, "shipped" if folder.resolve() == ZOO_DIR.resolve() else "local")


def describe(entry: ZooEntry) -> str:
    """A multi-line summary of a zoo entry for ``hepfm zoo show``."""
    card = entry.card
    head = f"{entry.name} ({entry.source}, {entry.size_mb:.1f} MB) at {entry.path}"
    if not card:
        return head + "\n(no model card)"
    return head + "\n\n" + card_markdown(card)
