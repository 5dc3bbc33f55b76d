"""The ``text`` check of text_rendering: glyph and position images of the image's size that mark the valid lines' polygons
(redrawn here with PIL, not the writer's OpenCV), and a caption whose quoted strings are exactly the valid lines."""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pipelines.checks.base import CheckOutcome, outcome
from pipelines.store.reader import ShardReader

_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
BAND = (
    5  # px: a MaxFilter/MinFilter size; edges within 2 px of a polygon's outline may go either way (rasterisers differ)
)
MAX_STRAY = 0.002  # share of the image's pixels that may be marked (or inked) outside every valid line
MIN_COVERED = 0.9  # share of a line's interior (2 px in from its outline) that the position image must mark


def lines_mask(polygons: list[list[list[float]]], size: tuple[int, int]) -> Image.Image:
    """255 inside any polygon, drawn with PIL (an independent rasteriser), mode L of ``size`` (w, h)."""
    canvas = Image.new("L", size, 0)
    draw = ImageDraw.Draw(canvas)
    for poly in polygons:
        draw.polygon([(float(x), float(y)) for x, y in poly], fill=255)
    return canvas


def _gray(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"))


def _position_problems(position: np.ndarray, polygons: list, size: tuple[int, int]) -> list[str]:
    problems, outside = [], np.asarray(lines_mask(polygons, size).filter(ImageFilter.MaxFilter(BAND))) == 0
    stray = float(((position > 127) & outside).mean())
    if stray > MAX_STRAY:
        problems.append(f"position image marks {stray:.1%} of the image outside every valid line")
    for i, poly in enumerate(polygons):
        inner = np.asarray(lines_mask([poly], size).filter(ImageFilter.MinFilter(BAND))) > 0
        if inner.any() and float((position[inner] > 127).mean()) < MIN_COVERED:
            problems.append(f"position image does not mark valid line {i}")
    return problems


def _glyph_problems(glyph: np.ndarray, polygons: list, size: tuple[int, int]) -> list[str]:
    """Ink is anything darker than white: the glyph image is black text on white, inside the lines only."""
    ink, problems = glyph < 250, []
    outside = np.asarray(lines_mask(polygons, size).filter(ImageFilter.MaxFilter(BAND))) == 0
    if float((ink & outside).mean()) > MAX_STRAY:
        problems.append(f"glyph image has ink on {float((ink & outside).mean()):.1%} of the image outside the lines")
    for i, poly in enumerate(polygons):
        if not ink[np.asarray(lines_mask([poly], size)) > 0].any():
            problems.append(f"glyph image has no ink in valid line {i}")
    return problems


def quoted(caption: str) -> list[str]:
    """The double-quoted strings of a caption, backslash escapes undone."""
    return [re.sub(r"\\(.)", r"\1", m) for m in _QUOTED.findall(caption)]


def audit_text_sample(files: dict[str, bytes], record: dict[str, Any]) -> list[str]:
    """What is wrong with one text_rendering sample's conditioning images and caption."""
    size = Image.open(io.BytesIO(files["jpg"])).size
    valid = [x for x in record.get("text_lines", []) if x.get("valid")]
    problems = [] if valid else ["no valid line"]
    texts = [" ".join(str(x.get("text", "")).split()) for x in valid]
    if any(not t for t in texts):
        problems.append("a valid line has no text")
    if quoted(str(record.get("caption", ""))) != [t for t in texts if t]:
        problems.append(f"caption {record.get('caption')!r} does not quote exactly the valid lines {texts}")
    polygons = [x["polygon"] for x in valid]
    for name, judge in (("position.png", _position_problems), ("glyph.png", _glyph_problems)):
        if name not in files:
            problems.append(f"{name} missing")
            continue
        image = _gray(files[name])
        if image.shape != (size[1], size[0]):
            problems.append(f"{name} is {image.shape[1]}x{image.shape[0]}, the image {size[0]}x{size[1]}")
        else:
            problems += judge(image, polygons, size)
    return problems


def text_audit(dataset_url: str, shards: list[str]) -> CheckOutcome:
    reader, problems, samples, lines = ShardReader(dataset_url), [], 0, 0
    for shard in shards:
        for s in reader.samples(shard):
            samples, lines = samples + 1, lines + len(s.record.get("text_lines", []))
            problems += [f"{shard}/{s.key}: {p}" for p in audit_text_sample(s.files, s.record)]
    return outcome("text", problems, samples=samples, text_lines=lines)
