"""Models: registry, backbones (PET, particle transformer, MLP), heads, adapters, checkpoints.

>>> from hepfm.models import TaskSpec, compute_losses, create_model, example_batch
>>> model = create_model("pet-tiny", tasks=[TaskSpec("label", "class", num_classes=2)])
>>> batch = example_batch(model.config, batch_size=8)
>>> out = model(batch)
>>> out["label"].shape
torch.Size([8, 2])
>>> total, per_task = compute_losses(model.config.tasks, out, batch["labels"])
"""

from hepfm.models.config import InputSpec, ModelConfig, TaskSpec
from hepfm.models.heads import compute_losses
from hepfm.models.inputs import example_batch
from hepfm.models.io import LoadReport, list_zoo, load_matching, resolve_pretrained
from hepfm.models.model import HepModel
from hepfm.models.registry import create_model, list_models, model_config

__all__ = [
    "HepModel",
    "InputSpec",
    "LoadReport",
    "ModelConfig",
    "TaskSpec",
    "compute_losses",
    "create_model",
    "example_batch",
    "list_models",
    "list_zoo",
    "load_matching",
    "model_config",
    "resolve_pretrained",
]
