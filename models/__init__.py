"""shardsmith models: typed annotator interfaces, builders registered by name, tiny random-weight profiles."""

from models.compat import ensure_torchvision

TORCHVISION_OPS = ensure_torchvision()  # before anything imports torchvision, in every process importing models

from models.registry import build, production_spec, register, spec_for, tiny_spec  # noqa: E402
from models.types import Detections, Detector, Masks, ModelSpec, Segmenter  # noqa: E402

__all__ = [
    "TORCHVISION_OPS",
    "Detections",
    "Detector",
    "Masks",
    "ModelSpec",
    "Segmenter",
    "build",
    "ensure_torchvision",
    "production_spec",
    "register",
    "spec_for",
    "tiny_spec",
]
