"""Geometry found anywhere in a record (boxes, polygons, points, COCO RLE masks), and checks against the image size."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

BOX_KEYS = ("box", "bbox")
POLYGON_KEYS = ("polygon",)
POINTS_KEYS = ("landmarks", "points")
MASK_KEYS = ("mask", "segmentation")
LABEL_KEYS = ("phrase", "text", "label", "name")


@dataclass(frozen=True)
class Shape:
    """One piece of geometry in a record: ``kind`` is box|polygon|points|mask; ``path`` says where it was (``entities[2].box``)."""

    kind: str
    path: str
    value: Any
    label: str


def shapes(record: Any, path: str = "") -> Iterator[Shape]:
    """Walk a record and yield every box ``[x0, y0, x1, y1]``, 4-point polygon, point list and COCO RLE mask in it."""
    if isinstance(record, dict):
        label = next((str(record[k]) for k in LABEL_KEYS if isinstance(record.get(k), str)), "")
        for k, v in record.items():
            here = f"{path}.{k}" if path else k
            if k in BOX_KEYS and _is_numbers(v, 4):
                yield Shape("box", here, v, label)
            elif k in POLYGON_KEYS and isinstance(v, list):
                yield Shape("polygon", here, v, label)
            elif k in POINTS_KEYS and isinstance(v, list):
                yield Shape("points", here, v, label)
            elif k in MASK_KEYS and isinstance(v, dict) and "counts" in v:
                yield Shape("mask", here, v, label)
            else:
                yield from shapes(v, here)
    elif isinstance(record, list):
        for i, v in enumerate(record):
            yield from shapes(v, f"{path}[{i}]")


def _is_numbers(v: Any, n: int) -> bool:
    return isinstance(v, list) and len(v) == n and all(isinstance(x, int | float) for x in v)


def decode_rle(rle: dict[str, Any]) -> np.ndarray:
    """A COCO RLE (``{"size": [h, w], "counts": str}``, or run lengths as a list) as an (h, w) bool array."""
    from pycocotools import mask as mask_utils

    counts, size = rle["counts"], [int(x) for x in rle["size"]]
    if isinstance(counts, list):  # uncompressed RLE (run lengths), as COCO stores crowd masks
        return mask_utils.decode(mask_utils.frPyObjects({"size": size, "counts": counts}, *size)).astype(bool)
    return mask_utils.decode({"size": size, "counts": counts.encode() if isinstance(counts, str) else counts}).astype(
        bool
    )


def check_shape(shape: Shape, width: int, height: int, decode_masks: bool = True, tol: float = 0.5) -> str | None:
    """None if the shape lies inside a ``width`` x ``height`` image, else what is wrong."""
    if shape.kind == "box":
        x0, y0, x1, y1 = shape.value
        if not (-tol <= x0 <= x1 <= width + tol and -tol <= y0 <= y1 <= height + tol):
            return f"{shape.path} {shape.value} is not inside {width}x{height} or not x0<=x1, y0<=y1"
    elif shape.kind in ("polygon", "points"):
        pts = np.asarray(shape.value, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2:
            return f"{shape.path} is not a list of [x, y] points"
        if shape.kind == "polygon" and len(pts) != 4:
            return f"{shape.path} has {len(pts)} points, not 4"
        if (
            (pts[:, 0] < -tol).any()
            or (pts[:, 0] > width + tol).any()
            or (pts[:, 1] < -tol).any()
            or (pts[:, 1] > height + tol).any()
        ):
            return f"{shape.path} has points outside {width}x{height}"
    elif shape.kind == "mask":
        if list(shape.value.get("size", [])) != [height, width]:
            return f"{shape.path} size {shape.value.get('size')} != [{height}, {width}]"
        if decode_masks:
            try:
                m = decode_rle(shape.value)
            except (ValueError, TypeError, KeyError, IndexError) as e:
                return f"{shape.path} does not decode: {e}"
            if m.shape != (height, width):
                return f"{shape.path} decodes to {m.shape}, not ({height}, {width})"
    return None


def scale_geometry(record: Any, sx: float, sy: float) -> Any:
    """A copy of ``record`` with every box, polygon and point list scaled by (sx, sy), as after resizing its image.

    A COCO RLE mask is decoded, resized to ``round(w * sx) x round(h * sy)`` (area-weighted, then thresholded at half
    cover) and re-encoded; one that does not decode becomes ``{"dropped": reason}``, so the record says what was lost."""
    if isinstance(record, dict):
        out = {}
        for k, v in record.items():
            if k in MASK_KEYS and isinstance(v, dict) and "counts" in v:
                out[k] = scale_rle(v, sx, sy)
            elif k in BOX_KEYS and _is_numbers(v, 4):
                out[k] = [round(v[0] * sx, 2), round(v[1] * sy, 2), round(v[2] * sx, 2), round(v[3] * sy, 2)]
            elif k in POLYGON_KEYS + POINTS_KEYS and isinstance(v, list) and all(_is_numbers(p, 2) for p in v):
                out[k] = [[round(x * sx, 2), round(y * sy, 2)] for x, y in v]
            else:
                out[k] = scale_geometry(v, sx, sy)
        return out
    if isinstance(record, list):
        return [scale_geometry(v, sx, sy) for v in record]
    return record


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """An (h, w) bool array as a compressed COCO RLE ``{"size": [h, w], "counts": str}``."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(x) for x in rle["size"]], "counts": rle["counts"].decode("ascii")}


def scale_rle(rle: dict[str, Any], sx: float, sy: float) -> dict[str, Any]:
    """``rle`` resized by (sx, sy); other keys of the mask dict are kept. Undecodable: ``{"dropped": reason}``."""
    from PIL import Image

    try:
        mask = decode_rle(rle)
    except (ValueError, TypeError, KeyError, IndexError) as e:
        return {"dropped": f"mask does not decode, so it cannot be rescaled: {type(e).__name__}: {e}"}
    h, w = mask.shape
    size = (max(1, round(w * sx)), max(1, round(h * sy)))
    cover = Image.fromarray(mask.view(np.uint8) * np.uint8(255)).resize(size, Image.Resampling.BOX)  # share covered
    scaled = np.asarray(cover) >= 128
    return {k: v for k, v in rle.items() if k not in ("size", "counts")} | encode_rle(scaled)
