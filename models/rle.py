"""COCO run-length encoding of instance masks: (N,H,W) bool <-> [{"size": [h, w], "counts": str}, ...]."""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils


def masks_to_rle(masks: np.ndarray) -> list[dict]:
    """masks: (N,H,W) bool (or 0/1). One COCO RLE per mask, counts as an ASCII str (JSON-ready)."""
    if masks.ndim != 3:
        raise ValueError(f"expected (N,H,W) masks, got shape {masks.shape}")
    if masks.shape[0] == 0:
        return []
    rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    return [{"size": [int(s) for s in r["size"]], "counts": r["counts"].decode("ascii")} for r in rles]


def rle_to_masks(rles: list[dict], size: tuple[int, int] | None = None) -> np.ndarray:
    """Inverse of masks_to_rle: (N,H,W) bool. `size` (h, w) gives the shape when `rles` is empty."""
    if not rles:
        if size is None:
            raise ValueError("rle_to_masks needs size=(h, w) to decode an empty list")
        return np.zeros((0, *size), dtype=bool)
    coded = [
        {
            "size": list(r["size"]),
            "counts": r["counts"].encode("ascii") if isinstance(r["counts"], str) else r["counts"],
        }
        for r in rles
    ]
    return mask_utils.decode(coded).transpose(2, 0, 1).astype(bool)
