"""The training loop: one ``fit`` for pretraining and fine-tuning, readable top to bottom.

Per step: learning rate from the schedule -> forward under autocast -> weighted task loss
(``hepfm.models.compute_losses``) -> backward -> gradient clipping -> optimizer step -> EMA.
Every ``val_every`` steps (or each epoch) the validation set is scored (with the EMA
weights if enabled); ``out_dir/best`` keeps the lowest validation loss, ``out_dir/last``
(every ``checkpoint_every`` steps, each epoch and at the end) lets a killed run continue
exactly where the checkpoint was taken.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from hepfm.errors import InputError
from hepfm.models import compute_losses
from hepfm.train import distributed
from hepfm.train.checkpoint import find_resumable, load_checkpoint, rng_state, save_checkpoint
from hepfm.train.config import TrainConfig
from hepfm.train.ema import EMA
from hepfm.train.finetune import StrategySummary, apply_strategy
from hepfm.train.flops import step_flops
from hepfm.train.metrics import MetricsLog
from hepfm.train.optim import build_optimizer
from hepfm.train.schedule import lr_factor, set_lr
from hepfm.train.validation import evaluate, to_device
from hepfm.utils import seed_everything

log = logging.getLogger("hepfm.train")

# config fields that may change between a run and its resumption
_RESUMABLE_CHANGES = {"epochs", "max_steps", "max_flops", "patience", "val_every", "log_every", "checkpoint_every",
                      "device", "resume"}


@dataclass
class FitResult:
    out_dir: Path
    steps: int
    epochs: float  # epochs completed (fractional)
    flops: float  # cumulative training FLOPs over all ranks
    wall_time: float  # cumulative seconds
    stopped_by: str  # 'epochs' | 'max_steps' | 'max_flops' | 'patience'
    best_val_loss: float | None = None
    best_step: int | None = None
    last_val: dict[str, float] = field(default_factory=dict)
    strategy: StrategySummary | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly copy (for reports)."""
        data = dataclasses.asdict(self)
        data["out_dir"] = str(self.out_dir)
        return data


@dataclass
class _State:
    """Everything besides tensors that a resumed run needs (saved as ``train_state.json``)."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    flops: float = 0.0
    wall_time: float = 0.0
    horizon: int = 0  # planned steps (for the schedule), fixed at the first step
    best_val_loss: float | None = None
    best_step: int | None = None
    bad_vals: int = 0  # validations since the best one


def fit(model: nn.Module, train_loader: Iterable[dict], val_loader: Iterable[dict] | None, cfg: TrainConfig,
        out_dir: str | Path, *, new_param_names: Iterable[str] = ()) -> FitResult:
    """Train ``model`` on ``train_loader`` following ``cfg``; write metrics and checkpoints in ``out_dir``.

    ``new_param_names``: parameters newly initialised rather than loaded from a pretrained
    backbone (``LoadReport.new``); they get ``cfg.new_param_lr_factor`` times the lr and
    train under every strategy. If ``out_dir/last`` exists and ``cfg.resume``, training
    continues from it. The loaders must already be sharded for this rank (EventLoader's
    ``rank``/``world_size``, see :func:`hepfm.train.distributed.setup`).
    """
    out, new = Path(out_dir), set(new_param_names)
    ctx = distributed.setup(cfg.device)
    _check_sharding(train_loader, ctx)
    seed_everything(cfg.seed)  # same adapter initialisation on every rank
    summary = apply_strategy(model, cfg.strategy, cfg.last_k, cfg.adapter_bottleneck, new)
    model.to(ctx.device)
    net = distributed.wrap(model, ctx)  # DDP broadcasts rank 0's weights
    seed_everything(cfg.seed + ctx.rank)  # own dropout masks per rank
    optimizer = build_optimizer(model, cfg, new | set(summary.added))
    ema = EMA(model, cfg.ema_decay) if cfg.ema_decay else None
    st = _State()
    last_val: dict[str, float] = {}
    resume_from = find_resumable(out) if cfg.resume else None
    if resume_from is not None:
        info = load_checkpoint(resume_from, model, optimizer=optimizer, ema=ema, rank=ctx.rank)
        st, last_val = _State(**{k: info[k] for k in _State.__dataclass_fields__ if k in info}), info.get("val", {})
        changed = sorted(k for k, v in info["config"].items() if k not in _RESUMABLE_CHANGES and cfg.to_dict().get(k) != v)
        if changed and ctx.is_main:
            log.warning("resuming with changed options %s; the run is no longer exactly reproducible", changed)
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        log.info("%s; %s", summary, f"resuming at step {st.step} from {resume_from}" if resume_from else "starting")
    metrics = MetricsLog(out, resume_step=st.step if resume_from else None, enabled=ctx.is_main)
    amp = _autocast(cfg.precision, ctx.device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    tasks = model.config.tasks
    batches_per_epoch = len(train_loader)  # type: ignore[arg-type]
    if batches_per_epoch == 0:
        raise InputError("train loader", "yields no batches (too few events for this rank?)")
    bar = tqdm(total=None, initial=st.step, disable=not (ctx.is_main and sys.stderr.isatty()), unit="step")

    clock, start_wall = time.perf_counter(), st.wall_time
    running = _Running(torch.zeros((), device=ctx.device))
    mark = st.step if resume_from else -1
    done = _Done(record_step=mark, val_step=mark, checkpoint_step=mark, val=last_val)

    def validate() -> None:
        """Score the validation set (EMA weights if enabled); keep ``best/``; count patience."""
        with ema.applied(model) if ema else contextlib.nullcontext():
            done.val = evaluate(model, val_loader, tasks, ctx=ctx, amp=amp)
            if st.best_val_loss is None or done.val["val_loss"] < st.best_val_loss:
                st.best_val_loss, st.best_step, st.bad_vals = done.val["val_loss"], st.step, 0
                if ctx.is_main:
                    save_checkpoint(out / "best", model, _info(st, cfg, done.val))
            else:
                st.bad_vals += 1
        done.val_step = st.step

    def record(with_val: bool, checkpoint: bool) -> None:
        """Validate if asked, write one metrics record per step, and save ``last/`` if asked."""
        st.wall_time = start_wall + time.perf_counter() - clock
        loss_sum, n = distributed.all_sum([float(running.loss), running.steps], ctx)
        if not math.isfinite(loss_sum):
            raise FloatingPointError(f"non-finite training loss before step {st.step}; lower the lr or check the inputs")
        running.loss, running.steps = torch.zeros_like(running.loss), 0
        with_val = with_val and val_loader is not None
        if with_val or checkpoint:
            distributed.broadcast_buffers(model, ctx)  # validate and save one model, the same on every rank
        if with_val:
            validate()
        if st.step != done.record_step or with_val:
            done.record_step = st.step
            rec = dict(step=st.step, epoch=round(st.epoch + st.batch_in_epoch / batches_per_epoch, 4), flops=st.flops,
                       wall_time=round(st.wall_time, 3), lr=cfg.lr * lr_factor(max(st.step - 1, 0), cfg, st.horizon),
                       train_loss=loss_sum / n if n else None, **(done.val if with_val else {}))
            metrics.write(rec)
            if ctx.is_main:
                log.info("step %d | epoch %.2f | loss %s | %slr %.3g | %.4g FLOPs | %.0f s", st.step, rec["epoch"],
                         "-" if n == 0 else f"{rec['train_loss']:.4f}",
                         f"val {done.val['val_loss']:.4f} | " if with_val else "", rec["lr"], st.flops, st.wall_time)
                bar.set_postfix(loss=rec["train_loss"])
        if checkpoint and done.checkpoint_step != st.step:
            done.checkpoint_step = st.step
            rng = distributed.gather_states(rng_state(), ctx)  # every rank's generators
            if ctx.is_main:
                save_checkpoint(out / "last", model, _info(st, cfg, done.val), optimizer=optimizer, ema=ema, rng=rng)

    def after_step(epoch_end: bool) -> str:
        """Validate, log and checkpoint as due; return why to stop ('' to go on)."""
        with_val = (st.step % cfg.val_every == 0) if cfg.val_every else epoch_end
        checkpoint = (st.step % cfg.checkpoint_every == 0) if cfg.checkpoint_every else epoch_end
        if with_val or checkpoint or epoch_end or (cfg.log_every and st.step % cfg.log_every == 0):
            record(with_val, checkpoint)
        return _limit_reached(cfg, st)

    stopped_by = _limit_reached(cfg, st)  # (a resumed run may be finished already)
    while not stopped_by:
        seen = 0
        for seen, batch in enumerate(_epoch_batches(train_loader, st.epoch, st.batch_in_epoch), 1):
            batch = to_device(batch, ctx.device)
            flops = distributed.all_sum([step_flops(model, batch)], ctx)[0]
            if not st.horizon:
                st.horizon = _plan_steps(cfg, batches_per_epoch, flops)
                bar.total = st.horizon
            if cfg.max_flops is not None and st.flops + flops > cfg.max_flops:
                stopped_by = "max_flops"
                break

            set_lr(optimizer, st.step, cfg, st.horizon)
            with amp:
                outputs = net(batch)
            loss, _ = compute_losses(tasks, outputs, batch["labels"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(trainable, cfg.grad_clip)
            optimizer.step()
            if ema is not None:
                ema.update(model, st.step)
            st.step, st.batch_in_epoch, st.flops = st.step + 1, st.batch_in_epoch + 1, st.flops + flops
            running.loss += loss.detach().float()
            running.steps += 1
            bar.update(1)
            epoch_end = st.batch_in_epoch >= batches_per_epoch
            if epoch_end:
                st.epoch, st.batch_in_epoch = st.epoch + 1, 0
            stopped_by = after_step(epoch_end)
            if stopped_by or epoch_end:
                break
        else:  # the loader ran dry before len(loader) batches
            if not seen:
                raise InputError("train loader", f"yielded no batches in epoch {st.epoch}")
            st.epoch, st.batch_in_epoch = st.epoch + 1, 0
            stopped_by = after_step(epoch_end=True)

    record(with_val=done.val_step != st.step, checkpoint=True)
    bar.close()
    metrics.close()
    distributed.barrier(ctx)
    if ctx.is_main:
        log.info("stopped by %s after %d steps, %.4g FLOPs, %.0f s", stopped_by, st.step, st.flops, st.wall_time)
    return FitResult(out, st.step, st.epoch + st.batch_in_epoch / max(1, batches_per_epoch), st.flops, st.wall_time,
                     stopped_by, st.best_val_loss, st.best_step, done.val, summary)


@dataclass
class _Running:
    """Training loss summed since the last record."""

    loss: torch.Tensor
    steps: int = 0


@dataclass
class _Done:
    """Steps at which the last record, validation and checkpoint happened (this session)."""

    record_step: int
    val_step: int
    checkpoint_step: int
    val: dict[str, float] = field(default_factory=dict)  # the last validation's metrics


def _info(st: _State, cfg: TrainConfig, val: dict[str, float]) -> dict[str, Any]:
    return {**st.__dict__, "config": cfg.to_dict(), "val": val}


def _limit_reached(cfg: TrainConfig, st: _State) -> str:
    """Which of the epoch, step and patience limits is reached ('' if none)."""
    if cfg.patience and st.bad_vals >= cfg.patience:
        return "patience"
    if cfg.max_steps is not None and st.step >= cfg.max_steps:
        return "max_steps"
    if cfg.epochs is not None and st.epoch >= cfg.epochs:
        return "epochs"
    return ""


def _plan_steps(cfg: TrainConfig, batches_per_epoch: int, first_step_flops: float) -> int:
    """Steps the schedule plans for: the tightest of the epoch, step and FLOP limits."""
    limits = [cfg.max_steps or math.inf, (cfg.epochs or math.inf) * batches_per_epoch]
    if cfg.max_flops is not None:
        limits.append(max(1, int(cfg.max_flops // max(first_step_flops, 1))))
    return int(min(limits))


def _epoch_batches(loader: Iterable[dict], epoch: int, start: int) -> Iterator[dict]:
    """The batches of ``epoch`` from batch ``start`` on (skipping without reading if the loader can)."""
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
    if start and hasattr(loader, "skip_batches"):
        loader.skip_batches(start)
        start = 0
    for i, batch in enumerate(loader):
        if i >= start:
            yield batch


def _check_sharding(loader: Any, ctx: distributed.Context) -> None:
    world = getattr(loader, "world_size", None)
    if ctx.distributed and world is not None and (world != ctx.world_size or loader.rank != ctx.rank):
        raise ValueError(f"rank {ctx.rank} of {ctx.world_size} got a loader for rank {loader.rank} of {world}; "
                         "build it with rank/world_size from hepfm.train.distributed.setup()")


def _autocast(precision: str, device: torch.device) -> Any:
    """bf16 autocast if asked (or 'auto' on a GPU that supports it), else a no-op context."""
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported())
    return torch.autocast(device.type, dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()
