"""hepfm: particle-physics foundation models — pretrain, transfer, measure."""

__version__ = "0.1.0"
