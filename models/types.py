"""Typed model interfaces (Detector, Segmenter), their result values and the ModelSpec that builds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, get_args, runtime_checkable

import numpy as np

Profile = Literal["production", "tiny", "full-random"]
Device = Literal["cpu", "cuda"]
DType = Literal["float32", "bfloat16", "float16"]


@dataclass(frozen=True)
class ModelSpec:
    """What to build: `name` is the registry key ("grounding_dino", "sam"); `checkpoint` a path or fsspec URI.

    variant: "swint_ogc" / "swint_tiny" (Grounding DINO), "vit_h" / "vit_l" / "vit_b" / "vit_tiny" (SAM).
    config, text_encoder: Grounding DINO's SLConfig .py file and local BERT directory (its `text_encoder_type`).
    image_size, max_size: Grounding DINO's resize (shorter side, cap on the longer side), as in its demo transform.
    sha256: expected checkpoint checksum; verified at load when given.
    """

    name: str
    checkpoint: str
    variant: str
    profile: Profile = "production"
    config: str | None = None
    text_encoder: str | None = None
    device: Device = "cpu"
    dtype: DType = "float32"
    batch_size: int = 4
    box_threshold: float = 0.25
    text_threshold: float = 0.2
    image_size: int = 800
    max_size: int = 1333
    sha256: str | None = None

    def __post_init__(self) -> None:
        for attr, allowed in (("profile", Profile), ("device", Device), ("dtype", DType)):
            if getattr(self, attr) not in get_args(allowed):
                raise ValueError(f"ModelSpec.{attr}={getattr(self, attr)!r}, expected one of {get_args(allowed)}")
        if self.batch_size < 1 or self.image_size < 1 or self.max_size < self.image_size:
            raise ValueError(
                f"bad sizes: batch_size={self.batch_size} image_size={self.image_size} max_size={self.max_size}"
            )
        for attr in ("box_threshold", "text_threshold"):
            if not 0.0 <= getattr(self, attr) <= 1.0:
                raise ValueError(f"ModelSpec.{attr} must be in [0, 1], got {getattr(self, attr)}")


@dataclass(frozen=True)
class Detections:
    """Boxes found in one image, best first: boxes (N,4) float32 XYXY in pixels of the input image, scores (N,)
    float32 in [0,1], phrases: for each box the part of the prompt it matched (a substring of the lower-cased prompt)."""

    boxes: np.ndarray
    scores: np.ndarray
    phrases: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.phrases)
        if self.boxes.shape != (n, 4) or self.scores.shape != (n,):
            raise ValueError(f"Detections: boxes {self.boxes.shape}, scores {self.scores.shape}, {n} phrases")

    def __len__(self) -> int:
        return len(self.phrases)


@dataclass(frozen=True)
class Masks:
    """Instance masks of one image, one per prompt box: masks (N,H,W) bool at image size, iou_scores (N,) float32
    (the model's own predicted IoU, not a measured one)."""

    masks: np.ndarray
    iou_scores: np.ndarray

    def __post_init__(self) -> None:
        if self.masks.ndim != 3 or self.masks.dtype != np.bool_ or self.iou_scores.shape != (self.masks.shape[0],):
            raise ValueError(f"Masks: masks {self.masks.shape} {self.masks.dtype}, iou_scores {self.iou_scores.shape}")

    def __len__(self) -> int:
        return int(self.masks.shape[0])


@runtime_checkable
class Detector(Protocol):
    """Open-vocabulary detector. `model_id` names what was loaded, with its checkpoint checksum."""

    @property
    def model_id(self) -> str: ...

    def detect(self, images: list[np.ndarray], prompts: list[str]) -> list[Detections]:
        """images: HWC uint8 RGB, any sizes; prompts: one caption per image ("cat . dog ."). One Detections per image."""
        ...


@runtime_checkable
class Segmenter(Protocol):
    """Box-prompted instance segmenter. `model_id` names what was loaded, with its checkpoint checksum."""

    @property
    def model_id(self) -> str: ...

    def segment(self, image: np.ndarray, boxes: np.ndarray) -> Masks:
        """image: HWC uint8 RGB; boxes: (N,4) XYXY pixels of that image. Masks at the image's H,W, one per box."""
        ...
