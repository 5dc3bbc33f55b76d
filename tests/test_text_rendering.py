"""text_rendering: word merging, caption rewriting, and a real OCR build on the sample source checked against ground truth."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from models.ocr.base import TextLine
from pipelines.datasets.text_rendering import base_caption
from pipelines.runner import BuildSpec, run_build
from pipelines.sources import open_source
from pipelines.store import ShardReader
from pipelines.text.lines import merge_words, polygon_iou
from pipelines.validate import validate_dataset


def _line(text: str, x0: float, y0: float, x1: float, y1: float, score: float = 0.9) -> TextLine:
    return TextLine(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32), text, score)


def test_merge_words_joins_a_split_row_only():
    lines = [
        _line("SALE", 10, 10, 110, 50),
        _line("50%", 130, 11, 200, 51),
        _line("OFF", 215, 10, 290, 50),
        _line("TODAY", 10, 80, 140, 120),
        _line("far", 600, 80, 660, 120),
    ]
    merged = merge_words(lines)
    assert [m.text for m in merged] == ["SALE 50% OFF", "TODAY", "far"]
    assert merged[0].polygon.tolist() == [[10, 10], [290, 10], [290, 51], [10, 51]]


def test_merge_words_drops_a_letter_read_twice():
    merged = merge_words([_line("Welcome", 10, 10, 200, 50), _line("e Home", 185, 10, 330, 50)])
    assert [m.text for m in merged] == ["Welcome Home"]


def test_merge_words_leaves_other_heights_and_vertical_lines():
    tall = TextLine(np.array([[300, 0], [340, 0], [340, 200], [300, 200]], dtype=np.float32), "V", 0.9)
    lines = [_line("big", 10, 10, 100, 80), _line("small", 110, 40, 160, 60), tall]
    assert [m.text for m in merge_words(lines)] == ["big", "small", "V"]


def test_base_caption_drops_the_quoted_clause():
    assert base_caption('a red shop sign, with the words "OPEN 24 HOURS"') == "a red shop sign"
    assert base_caption("a red shop sign") == "a red shop sign"


@pytest.mark.slow
def test_build_reads_the_rendered_signs(sample_source, tmp_path):
    shards = ["00002", "00003"]
    report = run_build(BuildSpec("text_rendering", str(sample_source), str(tmp_path)), only=shards)
    out = tmp_path / "text_rendering"
    assert validate_dataset(str(out)).ok
    assert sum(report["counts"].values()) == report["inputs"]
    truth = {}
    source = open_source(str(sample_source))
    for shard in (s for s in source.shards() if s.shard in shards):
        for sample in source.samples(shard):
            try:
                meta = json.loads(sample.files.get("json", b"{}"))
            except json.JSONDecodeError:
                continue
            if "text_lines" in meta:
                truth[sample.key] = meta["text_lines"]
    records = {s.key: (s.record, s.files) for s in ShardReader(str(out)).all_samples()}
    matched = total = 0
    for key, lines in truth.items():
        rec, files = records[key]
        for gt in lines:
            total += 1
            best = max(
                rec["text_lines"],
                key=lambda x: polygon_iou(np.array(x["polygon"]), np.array(gt["polygon"])),
                default=None,
            )
            if (
                best
                and polygon_iou(np.array(best["polygon"]), np.array(gt["polygon"])) >= 0.5
                and best["text"] == gt["text"]
            ):
                matched += 1
        assert rec["caption"].endswith('"' + rec["text_lines"][-1]["text"] + '"') or not rec["text_lines"][-1]["valid"]
        size = (rec["width"], rec["height"])
        assert (
            Image.open(io.BytesIO(files["glyph.png"])).size == size
            and Image.open(io.BytesIO(files["position.png"])).size == size
        )
    assert total >= 5 and matched / total >= 0.8, (matched, total)
