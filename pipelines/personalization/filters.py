"""Quality filters of the personalization corpus (SDD's values by default); each returns a named reason or None."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipelines.datasets.base import DatasetConfig


class FilterConfig(DatasetConfig):
    min_image_side: int = 256
    white_level: int = 245  # a pixel is near-white when every channel is at least this
    max_white_fraction: float = 0.10
    min_nouns: int = 3
    max_nouns: int = 8
    min_boxes: int = 2
    max_boxes: int = 8
    min_score: float = 0.3
    nms_iou: float = 0.5
    min_area_ratio: float = 0.08
    max_area_ratio: float = 0.7
    min_aspect: float = 0.3
    max_aspect: float = 3.0
    near_duplicate_overlap: float = 0.8
    min_mask_fill: float = 0.6


def near_white_fraction(image: np.ndarray, level: int) -> float:
    """Share of pixels whose every channel is >= ``level`` (image HWC uint8)."""
    return float((image >= level).all(axis=-1).mean())


def image_reason(image: np.ndarray, n_nouns: int, cfg: FilterConfig) -> str | None:
    if min(image.shape[:2]) < cfg.min_image_side:
        return "image_too_small"
    if near_white_fraction(image, cfg.white_level) > cfg.max_white_fraction:
        return "mostly_white"
    if not cfg.min_nouns <= n_nouns <= cfg.max_nouns:
        return "caption_noun_count"
    return None


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of XYXY boxes a (N,4) and b (M,4) -> (N,M)."""
    inter = _intersection(a, b)
    area_a, area_b = _area(a), _area(b)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def overlap_of_smaller(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over the smaller box's area (N,M): 1 when one box lies inside the other."""
    return _intersection(a, b) / np.maximum(np.minimum(_area(a)[:, None], _area(b)[None, :]), 1e-9)


def _area(b: np.ndarray) -> np.ndarray:
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    return wh[..., 0] * wh[..., 1]


@dataclass(frozen=True)
class BoxVerdicts:
    """Per box: None when kept, else the name of the filter that dropped it."""

    reasons: list[str | None]

    @property
    def kept(self) -> list[int]:
        return [i for i, r in enumerate(self.reasons) if r is None]


# every reason a box can be dropped for, in the order they are tested
BOX_REASONS = (
    "box_score",
    "box_no_entity",
    "box_area_ratio",
    "box_aspect",
    "box_nms",
    "box_near_duplicate",
    "mask_fill",
)


def filter_boxes(
    boxes: np.ndarray,
    scores: np.ndarray,
    width: int,
    height: int,
    cfg: FilterConfig,
    matched: Sequence[bool] | None = None,
) -> BoxVerdicts:
    """Per box: score, a caption entity for its phrase (``matched``; all match when None), area ratio and aspect; then
    greedy NMS and near-duplicate removal among the survivors only, best score first, so that a box dropped for any
    earlier reason never suppresses another."""
    reasons: list[str | None] = [None] * len(boxes)
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    area_ratio = w * h / float(width * height)
    aspect = w / np.maximum(h, 1e-9)
    for i in range(len(boxes)):
        if scores[i] <= cfg.min_score:
            reasons[i] = "box_score"
        elif matched is not None and not matched[i]:
            reasons[i] = "box_no_entity"
        elif not cfg.min_area_ratio <= area_ratio[i] <= cfg.max_area_ratio:
            reasons[i] = "box_area_ratio"
        elif not cfg.min_aspect <= aspect[i] <= cfg.max_aspect:
            reasons[i] = "box_aspect"
    iou, inside = box_iou(boxes, boxes), overlap_of_smaller(boxes, boxes)
    kept: list[int] = []
    for i in sorted((i for i, r in enumerate(reasons) if r is None), key=lambda i: -scores[i]):
        if any(iou[i, k] > cfg.nms_iou for k in kept):
            reasons[i] = "box_nms"
        elif any(inside[i, k] > cfg.near_duplicate_overlap for k in kept):
            reasons[i] = "box_near_duplicate"
        else:
            kept.append(i)
    return BoxVerdicts(reasons)


def mask_fill(mask: np.ndarray, box: np.ndarray) -> float:
    """Share of the box's pixels that the mask covers (mask HxW bool, box XYXY pixels)."""
    x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
    x1, y1 = int(np.ceil(box[2])), int(np.ceil(box[3]))
    region = mask[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)]
    return float(region.mean()) if region.size else 0.0


def count_reason(n_kept: int, dropped: list[str], cfg: FilterConfig) -> str | None:
    """The image's reject reason from its surviving box count: the filter that removed most boxes when filters brought it
    below the minimum (ties: the first in filter order), ``box_count`` when the detector found too few or too many."""
    if n_kept > cfg.max_boxes:
        return "box_count"
    if n_kept >= cfg.min_boxes:
        return None
    if not dropped:
        return "box_count"
    return max(BOX_REASONS, key=lambda r: (dropped.count(r), -BOX_REASONS.index(r)))
