"""One training engine for pretraining and fine-tuning.

>>> from hepfm.train import TrainConfig, fit
>>> cfg = TrainConfig(lr=3e-4, epochs=10, strategy="linear-probe", ema_decay=0.999)
>>> result = fit(model, train_loader, val_loader, cfg, "runs/probe")  # doctest: +SKIP

``fit`` writes ``metrics.jsonl`` (every record with step, epoch, flops, wall_time, lr,
train_loss, and val_* after a validation), ``best/`` and ``last/`` checkpoints, and resumes
exactly from ``last/``. Under ``torchrun`` it trains with DistributedDataParallel.
"""

from hepfm.train.config import TrainConfig
from hepfm.train.distributed import setup as setup_distributed
from hepfm.train.finetune import StrategySummary, apply_strategy
from hepfm.train.flops import forward_flops, step_flops
from hepfm.train.loop import FitResult, evaluate, fit
from hepfm.train.metrics import read_metrics
from hepfm.train.optim import Lion, build_optimizer

__all__ = [
    "FitResult",
    "Lion",
    "StrategySummary",
    "TrainConfig",
    "apply_strategy",
    "build_optimizer",
    "evaluate",
    "fit",
    "forward_flops",
    "read_metrics",
    "setup_distributed",
    "step_flops",
]
