"""Conditioning images for text_rendering: a glyph image (text redrawn in a standard font) and a position mask."""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:  # the OCR result type; importing models/ at run time would pull in the model stack
    from models.ocr.base import TextLine


# A quad this much longer across (edges 1-2, 3-0) than along (0-1, 2-3) holds text running down the image: PP-OCR
# turns such crops 90 degrees before reading them, so the glyph is drawn the same way (one character stays upright).
VERTICAL_RATIO = 1.5
_PAD = 2  # pixels around the rendered ink before it is fitted


def default_font_path() -> Path:
    """DejaVuSans.ttf from matplotlib's bundled fonts (no download, no system fonts)."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


@lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _ink(text: str, size: int, font_path: str) -> np.ndarray:
    """``text`` in one row, white ink (255) on black, cropped to the ink box plus a small pad; uint8 (h, w)."""
    font = _font(font_path, size)
    x0, y0, x1, y1 = font.getbbox(text)
    canvas = Image.new("L", (x1 - x0 + 2 * _PAD, y1 - y0 + 2 * _PAD), 0)
    ImageDraw.Draw(canvas).text((_PAD - x0, _PAD - y0), text, fill=255, font=font)
    return np.asarray(canvas)


def fit_text(text: str, box_w: int, box_h: int, font_path: str) -> np.ndarray:
    """``text`` drawn into a (box_h, box_w) uint8 ink image, scaled to fit with its aspect ratio kept, centred."""
    ink = _ink(text, int(np.clip(box_h, 16, 256)), font_path)
    scale = min(box_w / ink.shape[1], box_h / ink.shape[0])
    w, h = max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out = np.zeros((box_h, box_w), np.uint8)
    top, left = (box_h - h) // 2, (box_w - w) // 2
    out[top : top + h, left : left + w] = cv2.resize(ink, (w, h), interpolation=interpolation)
    return out


def _line_ink(line: TextLine, width: int, height: int, font_path: str) -> np.ndarray | None:
    """One line's ink warped onto its polygon in a (height, width) canvas; None for a degenerate polygon or no text."""
    poly = np.asarray(line.polygon, dtype=np.float32)
    edges = np.linalg.norm(poly - np.roll(poly, -1, axis=0), axis=1)
    along, across = (edges[0] + edges[2]) / 2, (edges[1] + edges[3]) / 2
    box_w, box_h = round(along), round(across)
    text = " ".join(line.text.split())
    if box_w < 2 or box_h < 2 or not text:
        return None
    if across >= VERTICAL_RATIO * along and len(text) > 1:  # read as horizontal text turned 90 degrees clockwise
        ink = np.rot90(fit_text(text, box_h, box_w, font_path), k=-1)
    else:
        ink = fit_text(text, box_w, box_h, font_path)
    src = np.float32([[0, 0], [box_w, 0], [box_w, box_h], [0, box_h]])
    matrix = cv2.getPerspectiveTransform(src, poly)
    return cv2.warpPerspective(
        np.ascontiguousarray(ink), matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0
    )


def glyph_image(lines: Sequence[TextLine], width: int, height: int, font_path: Path | None = None) -> np.ndarray:
    """(height, width) uint8: each line's text in DejaVuSans, fitted into and warped onto its polygon,
    black (0) on white (255). Pass the lines to draw (usually the valid ones)."""
    path = str(font_path or default_font_path())
    ink = np.zeros((height, width), np.uint8)
    for line in lines:
        warped = _line_ink(line, width, height, path)
        if warped is not None:
            np.maximum(ink, warped, out=ink)
    return 255 - ink


def position_mask(polygons: Sequence[np.ndarray], width: int, height: int) -> np.ndarray:
    """(height, width) uint8: 255 inside any polygon, 0 elsewhere."""
    mask = np.zeros((height, width), np.uint8)
    if polygons:
        pts = [np.round(np.asarray(p, dtype=np.float64)).astype(np.int32) for p in polygons]
        cv2.fillPoly(mask, pts, 255)
    return mask


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 (h, w) or (h, w, 3) array as PNG bytes."""
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8, got {image.dtype}")
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()
