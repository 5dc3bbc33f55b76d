"""OCR backends on real PP-OCRv4 models from the rapidocr wheel: page.png and rendered text with known ground truth."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from models.ocr import OCR, OCRConfig, TextLine, build_ocr
from models.ocr.base import CTCDecoder
from models.ocr.model_dirs import (
    DET_MODEL_NAME,
    ONNX_FILE,
    REC_MODEL_NAME,
    YML_FILE,
    character_list,
    default_model_dirs,
    model_name,
)
from pipelines.text.glyphs import default_font_path
from pipelines.text.lines import inside_image, polygon_iou

BACKENDS = ("paddle", "rapid")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("shardsmith_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHARDSMITH_CACHE", str(root))
        yield root


@pytest.fixture(scope="module", params=BACKENDS)
def ocr(request: pytest.FixtureRequest, cache: Path) -> OCR:
    return build_ocr(OCRConfig(backend=request.param, cpu_threads=2))


def render(lines: list[tuple[str, int, tuple[int, int]]], size: tuple[int, int]) -> tuple[np.ndarray, list]:
    """Dark DejaVuSans text on a light background; ground truth = each line's ink box as a clockwise quad."""
    canvas = Image.new("RGB", size, (235, 228, 210))
    draw, truth = ImageDraw.Draw(canvas), []
    for text, font_size, (x, y) in lines:
        font = ImageFont.truetype(str(default_font_path()), font_size)
        x0, y0, x1, y1 = font.getbbox(text)
        draw.text((x - x0, y - y0), text, fill=(20, 20, 40), font=font)
        w, h = x1 - x0, y1 - y0
        truth.append((np.float32([[x, y], [x + w, y], [x + w, y + h], [x, y + h]]), text))
    return np.asarray(canvas), truth


def test_model_dirs_are_built_once_in_the_cache(cache: Path) -> None:
    dirs = default_model_dirs()
    assert dirs.det.parent == dirs.rec.parent == cache / "ocr"
    for d in (dirs.det, dirs.rec):
        assert (d / ONNX_FILE).stat().st_size > 1_000_000 and (d / YML_FILE).is_file()
    assert model_name(dirs.det) == DET_MODEL_NAME and model_name(dirs.rec) == REC_MODEL_NAME
    assert len(character_list(dirs.rec)) == 6623  # + CTC blank + space = the model's 6625 classes
    assert default_model_dirs() == dirs
    assert sorted(p.name for p in (cache / "ocr").iterdir() if p.name.startswith(".")) == []  # no temp dirs left


def test_ctc_decoder_restores_spaces_between_latin_letters_only() -> None:
    decoder = CTCDecoder.from_character_list(["a", "b", "中", "文"], space_boost=16.0)
    blank, a, b, zh, wen, space = range(6)

    def frames(*rows: tuple[int, float]) -> np.ndarray:
        probs = np.full((1, len(rows), 6), 0.01, np.float32)
        for t, (cls, p) in enumerate(rows):
            probs[0, t, cls] = p
            probs[0, t, space] = max(probs[0, t, space], 0.0)
        return probs

    gap = frames((a, 0.9), (blank, 0.8), (b, 0.9))
    gap[0, 1, space] = 0.1  # the space lost to blank: 0.1 * 16 > 0.8
    assert CTCDecoder.from_character_list(["a", "b", "中", "文"], 1.0)(gap)[0][0] == "ab"
    text, score = decoder(gap)[0]
    assert text == "a b" and score == pytest.approx((0.9 + 0.8 + 0.9) / 3)
    cjk = frames((zh, 0.9), (blank, 0.8), (wen, 0.9))
    cjk[0, 1, space] = 0.1
    assert decoder(cjk)[0][0] == "中文"
    edge = frames((blank, 0.8), (a, 0.9), (blank, 0.8))
    edge[0, [0, 2], space] = 0.1
    assert decoder(edge)[0][0] == "a"
    with pytest.raises(ValueError):
        decoder(np.zeros((1, 3, 7), np.float32))


def test_config_validates() -> None:
    with pytest.raises(ValueError):
        OCRConfig(backend="tesseract")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        OCRConfig(det_limit_type="both")  # type: ignore[arg-type]
    assert OCRConfig(det_model_dir="/models/det").det_model_dir == Path("/models/det")  # type: ignore[arg-type]


def assert_well_formed(lines: list[TextLine], width: int, height: int) -> None:
    for line in lines:
        poly = line.polygon
        assert poly.shape == (4, 2) and poly.dtype == np.float32 and inside_image(poly, width, height)
        x, y = poly[:, 0], poly[:, 1]
        assert np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)) > 0  # clockwise on screen
        assert poly[0].sum() == pytest.approx(poly.sum(axis=1).min(), abs=8)  # starts top-left (horizontal text)
        assert 0.0 <= line.score <= 1.0 and line.text == line.text.strip()


@pytest.mark.slow
def test_reads_page_png(ocr: OCR) -> None:
    from skimage import data

    page = np.stack([data.page()] * 3, axis=-1)
    (lines,) = ocr.read([page])
    assert_well_formed(lines, page.shape[1], page.shape[0])
    assert len([ln for ln in lines if ln.score >= 0.85]) >= 6  # 7 printed lines
    title = next(ln for ln in lines if "segmentation" in ln.text)
    assert title.text == "Region-based segmentation" and title.score > 0.95
    assert ocr.model_id.startswith(f"{ocr.config.backend}:{DET_MODEL_NAME}@")


@pytest.mark.slow
def test_reads_rendered_text_with_its_polygons(ocr: OCR) -> None:
    first, truth_a = render([("HELLO WORLD", 44, (40, 50)), ("OPEN 24 HOURS", 32, (90, 220))], (480, 320))
    second, truth_b = render([("Coffee Shop", 40, (30, 30))], (360, 200))
    blank = np.full((64, 64, 3), 255, np.uint8)
    results = ocr.read([first, second, blank])
    assert len(results) == 3 and results[2] == []
    for lines, truth, (width, height) in ((results[0], truth_a, (480, 320)), (results[1], truth_b, (360, 200))):
        assert_well_formed(lines, width, height)
        assert len(lines) == len(truth)
        for poly, text in truth:
            best = max(lines, key=lambda ln: polygon_iou(ln.polygon, poly))
            assert polygon_iou(best.polygon, poly) >= 0.5
            assert best.text == text and best.score > 0.9
    assert [ln.text for ln in ocr.read([second])[0]] == [ln.text for ln in results[1]]  # batch == one by one
    assert ocr.read([]) == []
