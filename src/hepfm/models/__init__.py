"""Models: registry, backbones (PET, particle transformer, MLP), heads, adapters, checkpoints.

>>> from hepfm.models import create_model, TaskSpec
>>> model = create_model("pet-tiny", tasks=[TaskSpec("label", "class", num_classes=2)])
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
