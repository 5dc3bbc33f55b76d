"""Pure text_rendering logic without a model: script, cells, geometry, valid flags, filters, captions, glyph images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from models.ocr import TextLine
from models.ocr.base import as_polygon
from pipelines.text.caption import caption_with_text, quote_text
from pipelines.text.glyphs import default_font_path, fit_text, glyph_image, png_bytes, position_mask
from pipelines.text.lines import (
    CELL_NAMES,
    TextRules,
    clip_polygon,
    inside_image,
    line_height,
    line_length,
    polygon_area,
    polygon_iou,
    position_cell,
    reject_reason,
    text_area_ratio,
    text_script,
    valid_flags,
)


def rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def line(text: str, x0: float, y0: float, x1: float, y1: float, score: float = 0.9) -> TextLine:
    return TextLine(polygon=rect(x0, y0, x1, y1), text=text, score=score)


@pytest.mark.parametrize(
    ("text", "script"),
    [("OPEN 24 HOURS", "latin"), ("Café", "latin"), ("营业中", "cjk"), ("OPEN 营业时间", "cjk"), ("OPEN 营", "latin"), ("カタカナ", "cjk"),
     ("한국어", "cjk"), ("Привет", "other"), ("24/7", "latin"), ("", "other"), ("１２", "other")],
)  # fmt: skip
def test_text_script(text: str, script: str) -> None:
    assert text_script(text) == script


def test_position_cell_thirds() -> None:
    assert position_cell(rect(0, 0, 10, 10), 300, 300) == 0
    assert CELL_NAMES[position_cell(rect(140, 140, 160, 160), 300, 300)] == "center"
    assert CELL_NAMES[position_cell(rect(250, 250, 300, 300), 300, 300)] == "bottom-right"
    assert position_cell(rect(0, 190, 300, 210), 300, 300) == 7  # a wide line: its centre decides
    assert position_cell(rect(-50, -50, -10, -10), 300, 300) == 0  # off-image centres clamp to the border cells


def test_geometry_helpers() -> None:
    poly = rect(10, 20, 110, 40)
    assert polygon_area(poly) == pytest.approx(2000)
    assert line_height(poly) == pytest.approx(20) and line_length(poly) == pytest.approx(100)
    assert line_height(rect(0, 0, 20, 100)) == pytest.approx(20)  # vertical text: the short side
    assert inside_image(poly, 120, 50) and not inside_image(poly, 100, 50)
    clipped = clip_polygon(rect(-5, -5, 130, 60), 120, 50)
    assert (
        clipped.dtype == np.float32 and clipped.min() == 0 and clipped[:, 0].max() == 120 and clipped[:, 1].max() == 50
    )


def test_polygon_iou() -> None:
    a = rect(0, 0, 10, 10)
    assert polygon_iou(a, a) == pytest.approx(1.0)
    assert polygon_iou(a, rect(5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert polygon_iou(a, rect(20, 20, 30, 30)) == 0.0
    assert polygon_iou(a, a[::-1]) == pytest.approx(1.0)  # winding does not matter
    assert polygon_iou(a, a[[0, 2, 1, 3]]) > 0  # a self-crossing quad is repaired, not an error


def test_as_polygon_makes_counter_clockwise_clockwise() -> None:
    ccw = rect(0, 0, 10, 5)[[0, 3, 2, 1]]
    np.testing.assert_array_equal(as_polygon(ccw), rect(0, 0, 10, 5))


def test_valid_flags_keep_the_largest_short_confident_lines() -> None:
    lines = [
        line("low score", 0, 0, 100, 20, score=0.3),
        line("x" * 21, 0, 30, 100, 50),  # too long
        *[line(f"w{i}", 0, 60 + 30 * i, 10 + 10 * i, 80 + 30 * i) for i in range(6)],  # growing areas
    ]
    flags = valid_flags(lines, TextRules())
    assert flags[:2] == [False, False]
    assert flags[2:] == [False, True, True, True, True, True]  # 5 largest of the 6
    assert sum(valid_flags(lines, TextRules(max_valid_lines=2, max_chars=30))) == 2


def test_filters() -> None:
    rules, w, h = TextRules(), 400, 300
    sign = [line("OPEN", 100, 100, 300, 160)]
    assert reject_reason(sign, w, h, rules) is None
    assert reject_reason([], w, h, rules) == "no_confident_line"
    assert reject_reason([line("OPEN", 100, 100, 300, 160, score=0.4)], w, h, rules) == "no_confident_line"
    many = [line(f"L{i}", 10, 10 + 30 * i, 390, 35 + 30 * i) for i in range(9)]
    assert reject_reason(many, w, h, rules) == "too_many_lines"
    assert reject_reason([line("a" * 30, 10, 10, 390, 60)], w, h, rules) == "no_valid_line"
    assert (
        reject_reason([line("tiny", 10, 10, 30, 16), line("a" * 40, 10, 20, 390, 120)], w, h, rules) == "text_too_small"
    )
    assert reject_reason([line("OK", 10, 10, 40, 20)], w, h, rules) == "text_area_ratio"  # 0.25% of the image
    assert reject_reason([line("BIG", 0, 0, 400, 290)], w, h, rules) == "text_area_ratio"


def test_document_like_is_opt_in() -> None:
    page = [line("a long line of prose, more than twenty", 10, 10 + 40 * i, 390, 40 + 40 * i) for i in range(6)]
    page.append(line("Title", 10, 260, 100, 290))
    assert reject_reason(page, 400, 300, TextRules()) is None
    assert reject_reason(page, 400, 300, TextRules(reject_document_like=True)) == "document_like"
    assert text_area_ratio([p.polygon for p in page], 400, 300) > 0.5


def test_caption_quoting() -> None:
    assert caption_with_text("a shop front", ["OPEN 24 HOURS"]) == 'a shop front, with the words "OPEN 24 HOURS"'
    assert caption_with_text("A poster. ", ["A", "B"]) == 'A poster, with the words "A", "B"'
    assert caption_with_text("", ["SALE"]) == 'an image, with the words "SALE"'
    assert caption_with_text("a sign", []) == "a sign"
    assert caption_with_text("a sign", ["  ", "EXIT"]) == 'a sign, with the words "EXIT"'
    assert quote_text('say "hi"\\now') == '"say \\"hi\\"\\\\now"'
    assert quote_text("two\n  lines") == '"two lines"'


def test_fit_text_fills_its_box() -> None:
    ink = fit_text("HELLO", 200, 40, str(default_font_path()))
    assert ink.shape == (40, 200) and ink.max() == 255
    cols = np.flatnonzero(ink.max(axis=0) > 0)
    rows = np.flatnonzero(ink.max(axis=1) > 0)
    assert rows[-1] - rows[0] >= 30 or cols[-1] - cols[0] >= 180  # limited by height or width, never both small


def test_glyph_and_position_images() -> None:
    lines = [
        line("HELLO WORLD", 20, 20, 300, 70),
        TextLine(np.float32([[100, 150], [300, 200], [290, 240], [90, 190]]), "rotated", 0.9),
        line("VERT", 350, 20, 390, 250),
        line("   ", 10, 260, 60, 290),  # blank text: nothing drawn
    ]
    glyph = glyph_image(lines, 400, 300)
    mask = position_mask([ln.polygon for ln in lines], 400, 300)
    assert glyph.shape == mask.shape == (300, 400) and glyph.dtype == mask.dtype == np.uint8
    assert set(np.unique(mask)) == {0, 255}
    ink = glyph < 128
    assert ink.any() and not ink[mask == 0].any()  # text only inside its polygons
    assert not ink[255:295, 5:65].any()
    assert (glyph == 255).mean() > 0.8  # white background
    decoded = np.asarray(Image.open(io.BytesIO(png_bytes(glyph))))
    np.testing.assert_array_equal(decoded, glyph)
    assert glyph_image([], 40, 30).min() == 255 and position_mask([], 40, 30).max() == 0


def test_vertical_lines_are_drawn_turned_and_single_characters_upright() -> None:
    def ink_box(glyph: np.ndarray) -> tuple[int, int]:
        rows, cols = np.flatnonzero((glyph < 128).any(axis=1)), np.flatnonzero((glyph < 128).any(axis=0))
        return rows[-1] - rows[0], cols[-1] - cols[0]

    tall, wide = ink_box(glyph_image([line("OPEN", 40, 10, 80, 190)], 120, 200))
    assert tall > 2 * wide  # the word runs down the box
    tall, wide = ink_box(glyph_image([line("W", 40, 10, 80, 190)], 120, 200))
    assert wide > tall  # a W on its side would be taller than wide


def test_rules_validate() -> None:
    with pytest.raises(ValueError):
        TextRules(min_area_ratio=0.5, max_area_ratio=0.1)
    with pytest.raises(ValueError):
        TextLine(polygon=np.zeros((4, 2)), text="x", score=1.0)  # float64 is not float32
