"""Pure per-line logic for text_rendering: script, 3x3 position cell, polygon geometry, the valid flag, quality filters.

Polygons are (4, 2) float pixel arrays of the stored image, clockwise from top-left (``models.ocr.TextLine``).
Polygon IoU and unions use shapely (a hard dependency of rapidocr_onnxruntime and of paddlex, so always installed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from shapely.geometry import Polygon, box
from shapely.ops import unary_union

if TYPE_CHECKING:  # the OCR result type; importing models/ at run time would pull in the model stack
    from models.ocr.base import TextLine


Script = Literal["latin", "cjk", "other"]

# (first, last) code points, inclusive.
_LATIN_RANGES = ((0x0041, 0x005A), (0x0061, 0x007A), (0x00C0, 0x024F), (0x1E00, 0x1EFF))
_CJK_RANGES = (
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3400, 0x4DBF),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0x20000, 0x2FA1F),  # Extensions B-F, Compatibility Supplement
)

# Cell index = 3 * row + col of the polygon's centre, rows and cols in thirds of the image (AnyText's 3x3 grid).
CELL_NAMES = (
    "top-left", "top-center", "top-right",
    "middle-left", "center", "middle-right",
    "bottom-left", "bottom-center", "bottom-right",
)  # fmt: skip


def char_script(ch: str) -> Script | None:
    """The script of one letter, or None for digits, punctuation, spaces and symbols (they follow the letters)."""
    code = ord(ch)
    if any(lo <= code <= hi for lo, hi in _LATIN_RANGES):
        return "latin"
    if any(lo <= code <= hi for lo, hi in _CJK_RANGES):
        return "cjk"
    return "other" if ch.isalpha() else None


def text_script(text: str) -> Script:
    """The majority script of the letters of ``text`` (ties: cjk > latin > other); letterless text that is
    all ASCII (``"24/7"``) is latin, anything else letterless is other."""
    counts = {"cjk": 0, "latin": 0, "other": 0}
    for ch in text:
        script = char_script(ch)
        if script is not None:
            counts[script] += 1
    if not any(counts.values()):
        return "latin" if text.strip() and text.isascii() else "other"
    return max(counts, key=lambda s: counts[s])  # dict order breaks ties: cjk, latin, other


def polygon_center(polygon: np.ndarray) -> tuple[float, float]:
    """Mean of the 4 corners, (x, y) pixels."""
    x, y = np.asarray(polygon, dtype=np.float64).mean(axis=0)
    return float(x), float(y)


def position_cell(polygon: np.ndarray, width: int, height: int) -> int:
    """0..8: 3 * row + col of the polygon's centre in thirds of the image; ``CELL_NAMES[cell]`` names it."""
    x, y = polygon_center(polygon)
    col = min(max(int(3 * x / width), 0), 2)
    row = min(max(int(3 * y / height), 0), 2)
    return 3 * row + col


def polygon_area(polygon: np.ndarray) -> float:
    """Shoelace area in square pixels (absolute, whatever the winding)."""
    p = np.asarray(polygon, dtype=np.float64)
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _side_lengths(polygon: np.ndarray) -> tuple[float, float]:
    """Mean length of edges 0-1/2-3 (along the text) and of edges 1-2/3-0 (across it), pixels."""
    p = np.asarray(polygon, dtype=np.float64)
    edge = np.linalg.norm(p - np.roll(p, -1, axis=0), axis=1)
    return float((edge[0] + edge[2]) / 2), float((edge[1] + edge[3]) / 2)


def line_height(polygon: np.ndarray) -> float:
    """Text size: the quad's shorter side in pixels (so a vertical line's height is its width)."""
    return min(_side_lengths(polygon))


def line_length(polygon: np.ndarray) -> float:
    """The quad's longer side in pixels."""
    return max(_side_lengths(polygon))


def inside_image(polygon: np.ndarray, width: int, height: int, tolerance: float = 1.0) -> bool:
    """Whether every corner lies within the image, give or take ``tolerance`` pixels."""
    p = np.asarray(polygon, dtype=np.float64)
    return bool(
        (p[:, 0] >= -tolerance).all()
        and (p[:, 0] <= width + tolerance).all()
        and (p[:, 1] >= -tolerance).all()
        and (p[:, 1] <= height + tolerance).all()
    )


def clip_polygon(polygon: np.ndarray, width: int, height: int) -> np.ndarray:
    """Corners clamped to [0, width] x [0, height]; float32 (4, 2), corner order kept."""
    p = np.asarray(polygon, dtype=np.float32).copy()
    p[:, 0] = np.clip(p[:, 0], 0, width)
    p[:, 1] = np.clip(p[:, 1], 0, height)
    return p


def _shape(polygon: np.ndarray) -> Polygon:
    shape = Polygon(np.asarray(polygon, dtype=np.float64))
    return shape if shape.is_valid else shape.buffer(0)  # a self-crossing quad becomes its valid area


def polygon_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two polygons (any winding; self-crossing ones are repaired), 0 when both are empty."""
    pa, pb = _shape(a), _shape(b)
    union = pa.union(pb).area
    return float(pa.intersection(pb).area / union) if union > 0 else 0.0


def text_area_ratio(polygons: Sequence[np.ndarray], width: int, height: int) -> float:
    """Area of the union of the polygons, clipped to the image, over the image area."""
    if not polygons:
        return 0.0
    union = unary_union([_shape(p) for p in polygons]).intersection(box(0, 0, width, height))
    return float(union.area / (width * height))


@dataclass(frozen=True)
class TextRules:
    """Thresholds for the valid flag and the quality filters.

    AnyText trains on at most 5 lines of at most 20 characters; the 0.5 score floor is LAION-Glyph's.
    """

    min_score: float = 0.5  # a line is "confident" at or above this
    max_chars: int = 20  # valid lines have 1..max_chars characters (stripped)
    max_valid_lines: int = 5  # the largest this many eligible lines are valid
    max_lines: int = 8  # too_many_lines: more confident lines than this
    min_text_height: float = 8.0  # text_too_small: every valid line's height below this (pixels)
    min_area_ratio: float = 0.01  # text_area_ratio: union of confident lines below 1% of the image...
    max_area_ratio: float = 0.8  # ...or above 80%
    reject_document_like: bool = False  # document_like is opt-in
    doc_min_lines: int = 6  # document_like: at least this many confident lines,
    doc_min_area_ratio: float = 0.2  # covering at least this share of the image,
    doc_min_long_fraction: float = 0.5  # with at least this share longer than max_chars (prose, not signs)

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError("min_score must be in [0, 1]")
        if self.max_chars < 1 or self.max_valid_lines < 1 or self.max_lines < 1:
            raise ValueError("max_chars, max_valid_lines and max_lines must be >= 1")
        if not 0.0 <= self.min_area_ratio < self.max_area_ratio <= 1.0:
            raise ValueError("need 0 <= min_area_ratio < max_area_ratio <= 1")


def confident(lines: Sequence[TextLine], rules: TextRules) -> list[TextLine]:
    return [line for line in lines if line.score >= rules.min_score]


def valid_flags(lines: Sequence[TextLine], rules: TextRules) -> list[bool]:
    """Per line: confident, 1..max_chars characters, and among the ``max_valid_lines`` largest (by area) such lines."""
    eligible = [
        i
        for i, line in enumerate(lines)
        if line.score >= rules.min_score and 1 <= len(line.text.strip()) <= rules.max_chars
    ]
    eligible.sort(key=lambda i: polygon_area(lines[i].polygon), reverse=True)
    chosen = set(eligible[: rules.max_valid_lines])
    return [i in chosen for i in range(len(lines))]


# Quality filters: (lines, width, height, rules) -> None to keep, or the reject reason (the filter's name).
def no_confident_line(lines: Sequence[TextLine], width: int, height: int, rules: TextRules) -> str | None:
    return None if confident(lines, rules) else "no_confident_line"


def too_many_lines(lines: Sequence[TextLine], width: int, height: int, rules: TextRules) -> str | None:
    return "too_many_lines" if len(confident(lines, rules)) > rules.max_lines else None


def no_valid_line(lines: Sequence[TextLine], width: int, height: int, rules: TextRules) -> str | None:
    """Confident lines exist but none is valid (all longer than max_chars): nothing to train on."""
    return None if any(valid_flags(lines, rules)) else "no_valid_line"


def text_too_small(lines: Sequence[TextLine], width: int, height: int, rules: TextRules) -> str | None:
    heights = [line_height(line.polygon) for line, ok in zip(lines, valid_flags(lines, rules), strict=True) if ok]
    return "text_too_small" if heights and max(heights) < rules.min_text_height else None


def text_area_out_of_range(lines: Sequence[TextLine], width: int, height: int, rules: TextRules) -> str | None:
    ratio = text_area_ratio([line.polygon for line in confident(lines, rules)], width, height)
    return None if rules.min_area_ratio <= ratio <= rules.max_area_ratio else "text_area_ratio"


def document_like(lines: Sequence[TextLine], width: int, height: int, rules: TextRules) -> str | None:
    """Pages of prose (opt-in): many confident lines, mostly long, covering much of the image."""
    kept = confident(lines, rules)
    if not rules.reject_document_like or len(kept) < rules.doc_min_lines:
        return None
    long_fraction = sum(len(line.text.strip()) > rules.max_chars for line in kept) / len(kept)
    ratio = text_area_ratio([line.polygon for line in kept], width, height)
    is_doc = long_fraction >= rules.doc_min_long_fraction and ratio >= rules.doc_min_area_ratio
    return "document_like" if is_doc else None


Filter = Callable[[Sequence["TextLine"], int, int, TextRules], "str | None"]
FILTERS: tuple[Filter, ...] = (
    no_confident_line,
    too_many_lines,
    document_like,
    no_valid_line,
    text_too_small,
    text_area_out_of_range,
)


def reject_reason(lines: Sequence[TextLine], width: int, height: int, rules: TextRules) -> str | None:
    """The first filter in ``FILTERS`` order that rejects the image's lines, or None to keep it."""
    for check in FILTERS:
        reason = check(lines, width, height, rules)
        if reason is not None:
            return reason
    return None


def _is_horizontal(polygon: np.ndarray, max_slope: float = 0.1) -> bool:
    top = np.asarray(polygon[1], dtype=np.float64) - np.asarray(polygon[0], dtype=np.float64)
    return abs(top[0]) > 0 and abs(top[1] / top[0]) <= max_slope


def _bounds(polygon: np.ndarray) -> tuple[float, float, float, float]:
    p = np.asarray(polygon, dtype=np.float64)
    return float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())


def _joinable(a: TextLine, b: TextLine, max_gap: float) -> bool:
    """b continues a on the same row: both horizontal, heights within 40%, rows overlapping, gap under max_gap heights."""
    if not (_is_horizontal(a.polygon) and _is_horizontal(b.polygon)):
        return False
    ax0, ay0, ax1, ay1 = _bounds(a.polygon)
    bx0, by0, bx1, by1 = _bounds(b.polygon)
    ha, hb = ay1 - ay0, by1 - by0
    if min(ha, hb) <= 0 or min(ha, hb) / max(ha, hb) < 0.6:
        return False
    if min(ay1, by1) - max(ay0, by0) < 0.6 * min(ha, hb):
        return False
    gap = bx0 - ax1
    return bx0 > ax0 and -0.5 * min(ax1 - ax0, bx1 - bx0) < gap < max_gap * (ha + hb) / 2


def _join_text(a: str, b: str, overlapping: bool) -> str:
    """Words of one line read as two boxes; when the boxes overlap, a letter read twice ("Welcome" + "e Home") is dropped."""
    if overlapping:
        for k in (3, 2, 1):
            if len(b) > k and a.endswith(b[:k]) and b[k] == " ":
                return f"{a}{b[k:]}"
    return f"{a} {b}"


@dataclass(frozen=True)
class MergedLine:
    """A line as ``merge_words`` gives it: ``polygon`` (4, 2) float32 pixels, ``text``, ``score`` (of ``words``, weighted
    by characters), and ``words``: the engine's lines it was joined from, in reading order (one when nothing was
    joined), each with its own polygon, text and score."""

    polygon: np.ndarray
    text: str
    score: float
    words: tuple[TextLine, ...]


def merge_words(lines: Sequence[TextLine], max_gap: float = 1.0, min_score: float = 0.0) -> list[MergedLine]:
    """Join horizontal boxes that continue each other on a row (PP-OCR splits lines at wide word gaps) into one line:
    the union box, texts joined by a space, the score weighted by characters. Only confident boxes (score >=
    ``min_score``) are joined, so a low-score box never lifts into, nor drags down, a confident line: "OPEN" (0.99) next
    to "#~x" (0.10) stays "OPEN" plus a separate unconfident "#~x". Lines come in reading order (the engine's) and stay
    in it; the others pass unchanged."""
    out: list[MergedLine] = []
    for line in lines:
        word = MergedLine(line.polygon, line.text, float(line.score), (line,))
        prev = _merge_target(out, line, max_gap, min_score) if line.score >= min_score else None
        if prev is None:
            out.append(word)
        else:
            out[prev] = _joined(out[prev], word)
    return out


def _merge_target(out: list[MergedLine], line: TextLine, max_gap: float, min_score: float) -> int | None:
    """The latest confident line of ``out`` that ``line`` continues on its row, if any."""
    for i in range(len(out) - 1, -1, -1):
        if out[i].score >= min_score and _joinable(out[i], line, max_gap):
            return i
    return None


def unmerged(lines: Sequence[TextLine]) -> list[MergedLine]:
    """The engine's lines as they are, each its own single word (when word merging is off)."""
    return [MergedLine(line.polygon, line.text, float(line.score), (line,)) for line in lines]


def _joined(a: MergedLine, b: MergedLine) -> MergedLine:
    ax0, ay0, ax1, ay1 = _bounds(a.polygon)
    bx0, by0, bx1, by1 = _bounds(b.polygon)
    x0, y0, x1, y1 = min(ax0, bx0), min(ay0, by0), max(ax1, bx1), max(ay1, by1)
    text = _join_text(a.text, b.text, bx0 < ax1)
    words = a.words + b.words
    chars = sum(len(w.text) for w in words)
    score = sum(w.score * len(w.text) for w in words) / max(chars, 1)
    polygon = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)
    return MergedLine(polygon, text, float(score), words)
