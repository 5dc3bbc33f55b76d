"""Draw a sample with whatever geometry its record has (masks, boxes, polygons, points, labels), and contact sheets."""

from __future__ import annotations

import importlib.util
import io
import os
import textwrap
from functools import cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipelines.geometry import decode_rle, shapes

PALETTE = [
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (170, 110, 40),
]


@cache
def _font_path() -> str:
    """DejaVu Sans from matplotlib's data folder, found without importing matplotlib (the CLI need not pay for its import)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("matplotlib is not installed: its DejaVu font draws the labels")
    return os.path.join(spec.submodule_search_locations[0], "mpl-data", "fonts", "ttf", "DejaVuSans.ttf")


def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(_font_path(), size)


def load_image(files: dict[str, bytes]) -> Image.Image:
    ext = next(e for e in ("jpg", "png", "webp") if e in files)
    return Image.open(io.BytesIO(files[ext])).convert("RGB")


def draw_record(image: Image.Image, record: dict[str, Any]) -> Image.Image:
    """A copy of ``image`` with every shape of ``record`` drawn on it: masks as tinted overlays, then outlines and labels."""
    out = image.convert("RGB").copy()
    found = list(shapes(record))
    owners: dict[str, int] = {}  # shapes of one object (entities[2].box, entities[2].mask) share its colour
    colors = {s.path: PALETTE[owners.setdefault(s.path.rsplit(".", 1)[0], len(owners)) % len(PALETTE)] for s in found}
    masks = [s for s in found if s.kind == "mask"]
    if masks:
        arr = np.asarray(out, dtype=np.float32)
        for s in masks:
            m = decode_rle(s.value)
            if m.shape == arr.shape[:2]:
                arr[m] = 0.55 * arr[m] + 0.45 * np.asarray(colors[s.path], dtype=np.float32)
        out = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(out)
    small = font(max(11, out.width // 40))
    labelled: set[str] = set()  # one label per object, at its first outline (a face's box, not its landmarks too)
    for s in (s for s in found if s.kind != "mask"):
        color = colors[s.path]
        if s.kind == "box":
            draw.rectangle(s.value, outline=color, width=max(2, out.width // 200))
            anchor = (s.value[0], s.value[1])
        elif s.kind == "polygon":
            pts = [tuple(p) for p in s.value]
            draw.polygon(pts, outline=color, width=max(2, out.width // 200))
            anchor = pts[0]
        else:
            for x, y in s.value:
                draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=color)
            anchor = tuple(s.value[0]) if s.value else (0, 0)
        owner = s.path.rsplit(".", 1)[0]
        if s.label and owner not in labelled:
            labelled.add(owner)
            _label(draw, anchor, s.label, color, small)
    return out


def _label(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    color: tuple[int, int, int],
    f: ImageFont.FreeTypeFont,
) -> None:
    x, y = xy
    x0, y0, x1, y1 = draw.textbbox((x, y), text, font=f)
    y_shift = (y1 - y0) + 4 if y - (y1 - y0) - 4 >= 0 else 0
    draw.rectangle([x0, y0 - y_shift, x1 + 4, y1 - y_shift + 2], fill=color)
    draw.text((x + 2, y - y_shift), text, fill=(0, 0, 0), font=f)


def with_caption(image: Image.Image, caption: str, width: int | None = None) -> Image.Image:
    """``image`` with ``caption`` wrapped in a white strip below it."""
    width = width or image.width
    f = font(max(11, width // 36))
    lines = textwrap.wrap(caption, width=max(10, int(width / (f.size * 0.55)))) or [""]
    strip_h = (f.size + 4) * min(len(lines), 4) + 8
    out = Image.new("RGB", (image.width, image.height + strip_h), "white")
    out.paste(image, (0, 0))
    draw = ImageDraw.Draw(out)
    for i, line in enumerate(lines[:4]):
        draw.text((4, image.height + 4 + i * (f.size + 4)), line, fill=(0, 0, 0), font=f)
    return out


def random_models(record: dict[str, Any]) -> list[str]:
    """The model ids of a record that say they are randomly initialised test models."""
    return sorted(str(v) for v in (record.get("models") or {}).values() if "random" in str(v))


def render_sample(files: dict[str, bytes], record: dict[str, Any], caption: str | None = None) -> Image.Image:
    image = draw_record(load_image(files), record)
    if random_models(record):
        draw = ImageDraw.Draw(image)
        note = "random-weight test models: geometry is not meaningful"
        draw.rectangle([0, 0, image.width, 16], fill=(0, 0, 0))
        draw.text((4, 1), note, fill=(255, 200, 0), font=font(12))
    text = caption if caption is not None else record.get("caption") or files.get("txt", b"").decode("utf-8", "replace")
    return with_caption(image, text) if text else image


def contact_sheet(tiles: list[tuple[Image.Image, str]], cell: int = 256, cols: int | None = None) -> Image.Image:
    """A grid of (image, title) tiles, each fitted into ``cell`` x ``cell`` with its title below."""
    cols = cols or max(1, min(len(tiles), int(np.ceil(np.sqrt(len(tiles))))))
    rows = max(1, int(np.ceil(len(tiles) / cols)))
    title_h = 18
    sheet = Image.new("RGB", (cols * cell, rows * (cell + title_h)), (245, 245, 245))
    draw = ImageDraw.Draw(sheet)
    f = font(12)
    for i, (image, title) in enumerate(tiles):
        thumb = image.copy()
        thumb.thumbnail((cell, cell))
        x, y = (i % cols) * cell, (i // cols) * (cell + title_h)
        sheet.paste(thumb, (x + (cell - thumb.width) // 2, y + (cell - thumb.height) // 2))
        draw.text((x + 4, y + cell + 2), title[: cell // 7], fill=(0, 0, 0), font=f)
    return sheet
