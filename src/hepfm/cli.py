"""The ``hepfm`` command line. Thin: parses arguments and calls the library."""

from __future__ import annotations

import json
import logging
import os
import sys

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning threads
# of two processes slowed training ~5x (measured: quickstart 2 min passive vs >10 min active).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from hepfm.errors import InputError
from hepfm.utils import setup_logging

if TYPE_CHECKING:
    from hepfm.experiments.run import Recipe

log = logging.getLogger("hepfm")

app = typer.Typer(
    help="hepfm: pretrain particle-physics backbones on one kind of detector data, "
    "transfer them to another, and measure whether pretraining helped.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect, validate, split, import and export event files.", no_args_is_help=True)
simulate_app = typer.Typer(help="Generate events with the built-in physics sources.", no_args_is_help=True)
app.add_typer(data_app, name="data")
zoo_app = typer.Typer(help="Pretrained backbones: shipped with hepfm and trained here.", no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")
app.add_typer(zoo_app, name="zoo")
experiment_app = typer.Typer(help="Studies that compose many training runs, with their reports.", no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    setup_logging(verbose)


# ---------------------------------------------------------------- data


@data_app.command("inspect")
def data_inspect(path: Path = typer.Argument(..., help="Event file (.h5) or dataset folder of shards.")) -> None:
    """Print the schema and summary statistics of an event dataset."""
    from hepfm.data import summarize

    typer.echo(json.dumps(summarize(path), indent=2, default=str))


@data_app.command("validate")
def data_validate(path: Path = typer.Argument(..., help="Event file (.h5) or dataset folder of shards.")) -> None:
    """Check every shard for schema, shape, offset, range and NaN/inf problems (exit 2 on the first)."""
    from hepfm.data import validate_file

    summary = validate_file(path)
    typer.echo(f"OK: {path}: {summary}")


@data_app.command("split")
def data_split(
    path: Path = typer.Argument(..., help="Event dataset to split."),
    out: Path = typer.Argument(..., help="Output folder; gets train/, val/ and test/."),
    fractions: str = typer.Option("0.8,0.1,0.1", help="Train,val,test fractions, summing to 1."),
    seed: int = typer.Option(0, help="Seed of the deterministic event-to-split assignment."),
) -> None:
    """Split a dataset deterministically into train/val/test folders."""
    from hepfm.data import split_events

    parts = _floats(fractions, "--fractions", 3)
    if abs(sum(parts) - 1) > 1e-6 or min(parts) < 0:
        raise InputError("--fractions", f"must be three non-negative numbers summing to 1, got {fractions}")
    split_events(path, out, fractions=tuple(parts), seed=seed)
    typer.echo(f"wrote {out}/train, {out}/val, {out}/test")


@data_app.command("import")
def data_import(
    source: Path = typer.Argument(..., help="OmniLearned dataset folder <root>/<name> with train/val/test/*.h5."),
    out: Path = typer.Argument(..., help="Output folder for hepfm datasets (train/, val/, test/)."),
    pid_column: bool = typer.Option(False, "--pid-column/--no-pid-column", help="Token column 4 is a particle-ID code."),
    label: str = typer.Option("label", help="Name given to the class label ('pid' dataset)."),
) -> None:
    """Import an OmniLearned-layout dataset into the hepfm event format."""
    from hepfm.data import import_omnilearned

    import_omnilearned(source, out, has_pid_column=pid_column, label_name=label)
    typer.echo(f"imported {source} -> {out}")


@data_app.command("import-ntuple")
def data_import_ntuple(
    files: list[Path] = typer.Argument(..., help="ROOT files (TTrees or RNTuples); quote glob patterns, e.g. 'runs/*.root'."),
    mapping: Path = typer.Argument(..., help="YAML mapping of branches to tokens, features and labels (docs/ntuples.md)."),
    out: Path = typer.Argument(..., help="Output: a folder of shards, or a single .h5 file."),
    tree: Optional[str] = typer.Option(None, help="TTree name; overrides 'tree:' in the mapping."),
    step_size: str = typer.Option("100 MB", help="Chunk read per step: entries (50000) or memory ('100 MB')."),
    shard_size: int = typer.Option(100_000, min=1, help="Events per output shard (folder output)."),
    max_entries: Optional[int] = typer.Option(None, min=1, help="Read at most this many entries in total (a quick look)."),
) -> None:
    """Import ROOT ntuples (jagged TTree branches) into the hepfm event format through a YAML mapping."""
    from hepfm.data.ntuple import import_ntuple

    summary = import_ntuple(files, mapping, out, tree=tree, step_size=step_size, shard_size=shard_size,
                            max_entries=max_entries)
    typer.echo(f"imported {summary['entries_read']} entries from {summary['files']} file(s) -> {out}: "
               f"{summary['events']} events, {summary['tokens']} tokens")


@data_app.command("export")
def data_export(
    dataset: Path = typer.Argument(..., help="hepfm dataset (a folder with train/val/test, or one split)."),
    out_root: Path = typer.Argument(..., help="OmniLearned root folder; writes <out_root>/<name>/{train,val,test}."),
    name: str = typer.Option(..., help="Dataset name in the OmniLearned layout."),
    label: str = typer.Option("label", help="Class label written as 'pid'."),
) -> None:
    """Export an hepfm dataset to the OmniLearned layout."""
    from hepfm.data import export_omnilearned

    export_omnilearned(dataset, out_root, name, label=label)
    typer.echo(f"exported {dataset} -> {out_root}/{name}")


# ---------------------------------------------------------------- simulate


@simulate_app.command("jets")
def simulate_jets(
    out: Path = typer.Argument(..., help="Output: a .h5 file, or a folder that gets one part-<shard>.h5 per shard."),
    n_per_class: int = typer.Option(1000, min=1, help="Jets per class (summed over all shards)."),
    classes: str = typer.Option("q,g,tbqq,wqq,zqq,hbb,hcc,hgg,h4q", help="Comma-separated jet classes."),
    pt_min: float = typer.Option(500.0, help="Jet pT window, lower edge [GeV]."),
    pt_max: float = typer.Option(1000.0, help="Jet pT window, upper edge [GeV]."),
    seed: int = typer.Option(0, help="Base seed; shard i uses a seed derived from it and i."),
    n_shards: int = typer.Option(2, min=1, help="Number of generation shards (independent seeds)."),
    shard: Optional[int] = typer.Option(None, help="Make only this shard (e.g. one job of a cluster array)."),
    workers: int = typer.Option(2, min=1, help="Parallel worker processes."),
    pthat_factor: float = typer.Option(0.6, help="Pythia pT-hat cut as a fraction of --pt-min; higher is faster "
                                       "but loses jets near the lower pT edge (docs/jets.md)."),
) -> None:
    """Generate JetClass-like jets: Pythia 8 pp at 13 TeV, anti-kT R=0.8 with FastJet, truth-matched.

    Into a folder, shards whose part-<shard>.h5 already exists are skipped, so an interrupted
    run is resumed by repeating the same command.
    """
    from hepfm.simulate.jets import JetConfig, plan_jets, write_jets

    job = plan_jets(n_per_class, classes=[c.strip() for c in classes.split(",") if c.strip()],
                    pt_min=pt_min, pt_max=pt_max, seed=seed, shard=shard, n_shards=n_shards,
                    config=JetConfig(pthat_factor=pthat_factor))
    paths = write_jets(out, job, workers=workers)
    typer.echo(f"wrote {len(paths)} file(s) under {out}")


@simulate_app.command("neutrino")
def simulate_neutrino(
    out: Optional[Path] = typer.Argument(None, help="Output: a .h5 file, or a folder that gets one part-<shard>.h5 "
                                         "per shard (not needed with --xsec)."),
    n_events: int = typer.Option(10000, "--n-events", min=0, help="Events, summed over all shards."),
    target: str = typer.Option("CH", help="Target material: CH, H2O, C, O, Ar, Fe, Pb, p, n."),
    nu: str = typer.Option("numu", help="Neutrino: numu or numubar."),
    flux: str = typer.Option("numi-le", help="'numi-le' (built-in NuMI-like shape) or a flux file: .csv/.txt/.dat "
                             "(E_low,E_high,value or E,value; per GeV), .npz (edges, values), file.root[:hist]."),
    energy: Optional[float] = typer.Option(None, help="Fixed neutrino energy [GeV]; replaces --flux."),
    seed: int = typer.Option(0, help="Base seed; shard i uses seeds derived from it and i."),
    n_shards: int = typer.Option(2, min=1, help="Number of generation shards (independent seeds)."),
    shard: Optional[int] = typer.Option(None, help="Make only this shard (e.g. one job of a cluster array)."),
    workers: int = typer.Option(2, min=1, help="Parallel worker processes."),
    no_fsi: bool = typer.Option(False, "--no-fsi", help="Switch final-state interactions off."),
    physics: list[str] = typer.Option([], "--physics", help="A YAML file of physics parameters or a dotted "
                                      "override such as qe.m_a=1.2 or fsi.scale_pi_abs=0.8 (repeatable, applied in order)."),
    weighted: bool = typer.Option(False, "--weighted", help="Draw E from the flux alone and store weight = "
                                  "sigma(E)/<sigma> as a label (default: unweighted events)."),
    xsec: bool = typer.Option(False, "--xsec", help="Print sigma per nucleon by channel (at a few energies and "
                              "flux-averaged) and exit."),
) -> None:
    """Generate fixed-target neutrino events: flux x cross sections (QE, Delta, DIS), nuclear
    cascade, MINERvA-like detector tokens with truth labels (docs/neutrino/generator.md).

    Into a folder, shards whose part-<shard>.h5 already exists are skipped, so an interrupted
    run is resumed by repeating the same command.
    """
    from dataclasses import replace

    from hepfm.simulate.neutrino.generator import (
        NeutrinoConfig, cross_section_summary, format_cross_sections, physics_from_items, plan_neutrino,
        write_neutrino,
    )

    codes = {"numu": 14, "numubar": -14}
    if nu not in codes:
        raise InputError("--nu", f"must be one of {list(codes)}, got {nu!r}")
    phys = physics_from_items(physics)
    if no_fsi:
        phys = replace(phys, fsi=replace(phys.fsi, enabled=False))
    config = NeutrinoConfig(target=target, nu_pdg=codes[nu], flux=flux, energy=energy, physics=phys,
                            weighted=weighted)
    if xsec:
        typer.echo(format_cross_sections(cross_section_summary(config)))
        return
    if out is None:
        raise InputError("OUT", "give an output file or folder (or --xsec)")
    job = plan_neutrino(n_events, config=config, seed=seed, shard=shard, n_shards=n_shards)
    paths = write_neutrino(out, job, workers=workers)
    typer.echo(f"wrote {len(paths)} file(s) under {out}")


# ---------------------------------------------------------------- training


def _recipe(config: Optional[Path], overrides: list[str]) -> "Recipe":
    from hepfm.config import apply_overrides, load_yaml
    from hepfm.experiments.run import Recipe

    raw = load_yaml(config) if config else {}
    return Recipe.from_raw(apply_overrides(raw, overrides), where=str(config or "command line"))


SET_HELP = "Override a config value, e.g. --set train.lr=3e-4 (repeatable)."


@app.command()
def pretrain(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML recipe (see configs/)."),
    data: Optional[Path] = typer.Option(None, help="Training data folder (overrides data.train)."),
    model: Optional[str] = typer.Option(None, help="Model registry name, e.g. pet-tiny (overrides model.name)."),
    out: Optional[Path] = typer.Option(None, help="Output folder (overrides out)."),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """Train a backbone from scratch (supervised pretraining); writes best/ and last/ checkpoints."""
    from hepfm.experiments.run import run_recipe

    extra = _flag_overrides(data=data, model=model, out=out)
    recipe = _recipe(config, extra + list(set_))
    report = run_recipe(recipe)
    typer.echo(json.dumps(report.get("test", {}), indent=2, default=float))


@app.command()
def finetune(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML recipe (see configs/)."),
    backbone: Optional[str] = typer.Option(None, help="Pretrained backbone: zoo name or checkpoint folder."),
    init: Optional[str] = typer.Option(None, help="'pretrained' or 'random' (the same model, random weights)."),
    strategy: Optional[str] = typer.Option(None, help="full | linear-probe | adapter | last-k."),
    data: Optional[Path] = typer.Option(None, help="Training data folder (overrides data.train)."),
    out: Optional[Path] = typer.Option(None, help="Output folder (overrides out)."),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """Fine-tune a pretrained backbone (or its random-init twin) on a new task."""
    from hepfm.experiments.run import run_recipe

    if init is not None and init not in ("pretrained", "random"):
        raise InputError("--init", f"must be 'pretrained' or 'random', got {init!r}")
    extra = _flag_overrides(data=data, out=out)
    if backbone:
        extra.append(f"model.backbone={backbone}")
    if init:
        extra.append(f"model.init={init}")
    if strategy:
        extra.append(f"train.strategy={strategy}")
    recipe = _recipe(config, extra + list(set_))
    if not recipe.model.backbone:
        raise InputError("--backbone", "finetune needs a backbone (zoo name or checkpoint folder)")
    report = run_recipe(recipe)
    typer.echo(json.dumps(report.get("test", {}), indent=2, default=float))


@app.command()
def evaluate(
    checkpoint: Path = typer.Argument(..., help="Checkpoint folder (config.json + model.safetensors)."),
    data: Path = typer.Argument(..., help="Event dataset to evaluate on."),
    out: Path = typer.Option(Path("evaluation"), help="Output folder for predictions.h5, metrics.json and plots."),
    batch_size: int = typer.Option(256, min=1, help="Events per batch."),
    max_tokens: int = typer.Option(128, min=1, help="Keep at most this many tokens per event."),
) -> None:
    """Predict on a dataset; write predictions, metrics (AUC, efficiency, bias, resolution) and plots."""
    from hepfm.evaluate import evaluate_checkpoint

    metrics = evaluate_checkpoint(checkpoint, data, out, batch_size=batch_size, max_tokens=max_tokens)
    typer.echo(json.dumps(metrics, indent=2, default=float))


@app.command()
def quickstart(
    out: Path = typer.Option(Path("runs/quickstart"), help="Output folder for the events, runs and the report."),
    backbone: str = typer.Option("pet-tiny-jets", help="Jet-pretrained backbone: zoo name or checkpoint folder."),
    n_events: int = typer.Option(40_000, min=1000, help="Neutrino events to generate (60 % train, 10 % val, 30 % test)."),
    max_flops: float = typer.Option(4e11, min=1e6, help="Training FLOPs of every run."),
) -> None:
    """Reduced jets -> neutrino transfer study: jet-pretrained PET vs random init vs MLP on CC1pi+-; writes a report.

    Generates MINERvA-like neutrino events, trains each model for two seeds with the same FLOP
    budget, and prints the verdict and the path of the HTML report. Rerunning skips finished work.
    """
    from hepfm.experiments.quickstart import run_quickstart

    typer.echo(run_quickstart(out, backbone=backbone, n_events=n_events, max_flops=max_flops))


# ---------------------------------------------------------------- experiments


@experiment_app.command("transfer")
def experiment_transfer(
    config: Path = typer.Option(..., "--config", "-c", help="Study YAML (see configs/transfer/)."),
    out: Optional[Path] = typer.Option(None, help="Study folder (overrides out)."),
    only_report: bool = typer.Option(False, "--only-report", help="Train nothing; rebuild the report from finished runs."),
    publish: Optional[Path] = typer.Option(None, help="Also copy the report (HTML, JSON, Markdown summary, PNGs) "
                                           "to this folder, e.g. docs/transfer-results."),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """Pretrained vs random-init backbones on every task, size and seed at equal FLOPs; then the report.

    Rerunning skips finished runs and resumes interrupted ones. Several processes may share a
    study folder if each is given other tasks (--set tasks=...).
    """
    from hepfm.experiments.transfer import load_study, run_study
    from hepfm.experiments.transfer_report import publish_report

    study = load_study(config, set_, out=out)
    result = run_study(study, only_report=only_report)
    typer.echo(f"{result['planned']} runs planned: {result['ran']} trained, {result['skipped']} already done, "
               f"{result['failed']} diverged")
    typer.echo(f"report: {result['report']}")
    if publish is not None:
        typer.echo(f"copied to: {publish_report(Path(result['report']).parent, publish)}")


# ---------------------------------------------------------------- zoo


@zoo_app.command("list")
def zoo_list() -> None:
    """List the shipped and locally registered backbones."""
    from hepfm.models.zoo import list_backbones, local_zoo_dir

    entries = list_backbones()
    if not entries:
        typer.echo(f"no backbones (local zoo: {local_zoo_dir()})")
    for e in entries:
        card = e.card
        test = card.get("test_metrics", {})
        score = next((f"{k} {test[k]:.3f}" for k in ("top_vs_qcd_auc", "accuracy") if isinstance(test.get(k), float)), "")
        typer.echo(f"{e.name:<24} {e.source:<8} {card.get('architecture', '?'):<10} "
                   f"{card.get('parameters', 0):>9,} params  {e.size_mb:5.1f} MB  {score}")


@zoo_app.command("show")
def zoo_show(name: str = typer.Argument(..., help="Backbone name (see 'hepfm zoo list').")) -> None:
    """Print a backbone's model card: data, seeds, versions, training and test metrics."""
    from hepfm.models.zoo import describe, get_backbone

    typer.echo(describe(get_backbone(name)))


@zoo_app.command("add")
def zoo_add(
    run: Path = typer.Argument(..., help="A finished 'hepfm pretrain' output folder (with best/)."),
    name: str = typer.Option(..., help="Name to register the backbone under."),
    dest: Optional[Path] = typer.Option(None, help="Zoo folder (default: the local zoo, $HEPFM_ZOO)."),
    description: str = typer.Option("", help="One paragraph for the model card."),
    data_command: str = typer.Option("", help="The command that made the training data (for the card)."),
    metrics: Optional[Path] = typer.Option(None, help="JSON file of extra test metrics for the card."),
    overwrite: bool = typer.Option(False, help="Replace an existing entry of that name."),
) -> None:
    """Register a trained backbone in a zoo with its model card."""
    from hepfm.models.zoo import register_run

    extra = None
    if metrics is not None:
        try:
            extra = json.loads(metrics.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(str(metrics), f"not a readable JSON file: {e}") from None
    entry = register_run(run, name, dest=dest, description=description, data_command=data_command,
                         extra_metrics=extra, overwrite=overwrite)
    typer.echo(f"registered {entry.name} at {entry.path}")


# ---------------------------------------------------------------- helpers


def _flag_overrides(**flags: object) -> list[str]:
    keys = {"data": "data.train", "model": "model.name", "out": "out"}
    return [f"{keys[k]}={v}" for k, v in flags.items() if v is not None]


def _floats(text: str, where: str, n: int) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(where, f"expected {n} comma-separated numbers, got {text!r}") from None
    if len(values) != n:
        raise InputError(where, f"expected {n} comma-separated numbers, got {text!r}")
    return values


def main() -> None:
    """Console entry point: an :class:`InputError` becomes one line on stderr and exit code 2."""
    try:
        app()
    except InputError as err:
        print(f"hepfm: error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("hepfm: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
