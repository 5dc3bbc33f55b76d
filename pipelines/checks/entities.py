"""The ``entity_count`` check of personalization, from the tar's records rather than the filter's tally: entities per
image in range and as the manifest says, each mask decoded back (pycocotools) to the stored image's
size, non-empty, filling its box as recorded (a mask given to the wrong box fails), and each phrase at its caption span."""

from __future__ import annotations

import io
import re
from collections import Counter
from typing import Any

import numpy as np
from PIL import Image

from pipelines.checks.base import CheckOutcome, outcome
from pipelines.store.reader import ShardReader

FILL_TOLERANCE = 0.01  # recorded mask_fill is rounded to 4 places; a wrong mask is off by far more


def decode_mask(rle: dict[str, Any]) -> np.ndarray:
    """A COCO RLE (string counts) as an (h, w) bool array, by pycocotools."""
    from pycocotools import mask as mask_utils

    counts = rle["counts"]
    return mask_utils.decode(
        {"size": list(rle["size"]), "counts": counts.encode() if isinstance(counts, str) else counts}
    ).astype(bool)


def box_fill(mask: np.ndarray, box: list[float]) -> float:
    """Share of the box's pixels (floor/ceil to whole pixels) that the mask covers."""
    x0, y0, x1, y1 = int(np.floor(box[0])), int(np.floor(box[1])), int(np.ceil(box[2])), int(np.ceil(box[3]))
    region = mask[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)]
    return float(region.mean()) if region.size else 0.0


def entity_problems(entity: dict[str, Any], caption: str, size: tuple[int, int]) -> list[str]:
    """What is wrong with one entity of an image of ``size`` (w, h) whose caption is ``caption``."""
    problems = []
    start, end = entity.get("span", [0, 0])
    if caption[start:end].casefold() != str(entity.get("phrase", "")).casefold():
        problems.append(
            f"phrase {entity.get('phrase')!r} is not at {start}:{end} of the caption ({caption[start:end]!r})"
        )
    if not re.search(rf"\b{re.escape(str(entity.get('label', '')))}\b", str(entity.get("phrase", "")), re.IGNORECASE):
        problems.append(f"label {entity.get('label')!r} is not a word of its phrase {entity.get('phrase')!r}")
    mask = decode_mask(entity["mask"])
    if mask.shape != (size[1], size[0]):
        return [*problems, f"mask is {mask.shape[1]}x{mask.shape[0]}, the image {size[0]}x{size[1]}"]
    if not mask.any():
        return [*problems, "mask is empty"]
    fill = box_fill(mask, entity["box"])
    if abs(fill - float(entity.get("mask_fill", -1))) > FILL_TOLERANCE:
        problems.append(f"mask fills {fill:.3f} of its box, the record says {entity.get('mask_fill')}")
    return problems


def sample_problems(
    files: dict[str, bytes], record: dict[str, Any], listed: int | None, limits: tuple[int, int]
) -> list[str]:
    """One personalization sample: its entity count against ``limits`` and the manifest's ``listed``, and each entity."""
    entities = record.get("entities", [])
    problems = []
    if not limits[0] <= len(entities) <= limits[1]:
        problems.append(f"{len(entities)} entities, outside [{limits[0]}, {limits[1]}]")
    if listed != len(entities):
        problems.append(f"the manifest says {listed} entities, the record has {len(entities)}")
    size = Image.open(io.BytesIO(files["jpg"])).size
    caption = str(record.get("original_caption", record.get("caption", "")))
    return problems + [f"entities[{i}]: {p}" for i, e in enumerate(entities) for p in entity_problems(e, caption, size)]


def entity_count(dataset_url: str, shards: list[str], min_boxes: int, max_boxes: int) -> CheckOutcome:
    reader, problems, histogram = ShardReader(dataset_url), [], Counter()
    for shard in shards:
        rows = reader.manifest(shard, ["key", "status", "n_entities"]).to_pylist()
        listed = {r["key"]: r["n_entities"] for r in rows if r["status"] == "ok"}
        for s in reader.samples(shard):
            histogram[len(s.record.get("entities", []))] += 1
            found = sample_problems(s.files, s.record, listed.get(s.key), (min_boxes, max_boxes))
            problems += [f"{shard}/{s.key}: {p}" for p in found]
    return outcome("entity_count", problems, histogram={str(k): v for k, v in sorted(histogram.items())})
