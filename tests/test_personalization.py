"""Personalization: each filter's reject reason, entity spans, phrase -> entity mapping, and a real build with tiny models."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from pipelines.personalization.counting import counted_caption
from pipelines.personalization.entities import count_nouns, extract_entities, grounding_prompt, match_phrase
from pipelines.personalization.filters import FilterConfig, count_reason, filter_boxes, image_reason, mask_fill
from pipelines.runner import BuildSpec, run_build
from pipelines.store import ShardReader
from pipelines.validate import validate_dataset

CFG = FilterConfig()


def test_entities_have_spans_into_the_caption():
    caption = "A red cup of coffee on a red saucer with a silver spoon on a wooden table."
    entities = extract_entities(caption)
    assert [e.label for e in entities] == ["cup", "coffee", "saucer", "spoon", "table"]
    for e in entities:
        assert caption[e.span[0] : e.span[1]].lower() == e.phrase
    assert entities[0].phrase == "red cup" and entities[3].phrase == "silver spoon"
    assert grounding_prompt(entities) == "red cup . coffee . red saucer . silver spoon . wooden table ."
    assert count_nouns(caption) == 5


def test_detected_phrases_map_back_to_entities():
    entities = extract_entities("a brown dog next to a black cat on a red sofa")
    by = {e.label: e for e in entities}
    assert match_phrase("brown dog", entities) == by["dog"]
    assert match_phrase("cat", entities) == by["cat"]
    assert match_phrase("black", entities) == by["cat"]  # a partial phrase still finds its entity
    assert match_phrase("red sofa cat", entities) in (by["sofa"], by["cat"])
    assert match_phrase("giraffe", entities) is None


def test_image_filters_reasons():
    photo = np.random.default_rng(0).integers(0, 200, (300, 400, 3), dtype=np.uint8)
    assert image_reason(photo, 4, CFG) is None
    assert image_reason(photo[:200], 4, CFG) == "image_too_small"
    white = photo.copy()
    white[:60] = 255  # 20% near-white
    assert image_reason(white, 4, CFG) == "mostly_white"
    assert image_reason(photo, 2, CFG) == "caption_noun_count"
    assert image_reason(photo, 9, CFG) == "caption_noun_count"


def test_box_filters_reasons():
    w, h = 1000, 1000
    boxes = np.array(
        [
            [0, 0, 500, 500],  # 0 kept: area 0.25
            [500, 500, 900, 900],  # 1 kept
            [10, 10, 510, 510],  # 2 NMS with 0
            [50, 50, 350, 350],  # 3 inside 0 (overlap of smaller = 1) but IoU 0.36 < 0.5: near-duplicate
            [0, 0, 100, 100],  # 4 area 0.01
            [0, 500, 900, 560],  # 5 aspect 15 (area 0.054 -> area first); see 6
            [0, 600, 600, 720],  # 6 area 0.072 -> area; use 7 for aspect
            [0, 0, 990, 180],  # 7 area 0.178, aspect 5.5
            [600, 0, 1000, 400],  # 8 score too low
        ],
        dtype=np.float32,
    )
    scores = np.array([0.9, 0.8, 0.85, 0.7, 0.9, 0.9, 0.9, 0.9, 0.2], dtype=np.float32)
    reasons = filter_boxes(boxes, scores, w, h, CFG).reasons
    assert reasons == [
        None,
        None,
        "box_nms",
        "box_near_duplicate",
        "box_area_ratio",
        "box_area_ratio",
        "box_area_ratio",
        "box_aspect",
        "box_score",
    ]


def test_mask_fill_and_count_reasons():
    mask = np.zeros((100, 100), dtype=bool)
    mask[10:30, 10:30] = True
    assert mask_fill(mask, np.array([10, 10, 30, 30])) == 1.0
    assert mask_fill(mask, np.array([10, 10, 50, 50])) == 0.25
    assert count_reason(1, ["mask_fill", "mask_fill", "box_score"], CFG) == "mask_fill"
    assert count_reason(0, ["box_aspect"], CFG) == "box_aspect"
    assert count_reason(1, [], CFG) == "box_count"
    assert count_reason(9, [], CFG) == "box_count"
    assert count_reason(3, ["box_score"], CFG) is None


def test_count_words_caption():
    entities = extract_entities("a brown dog on a sofa")
    dog, sofa = entities
    counted = counted_caption("a brown dog on a sofa", entities, [dog, dog, sofa])
    assert counted.caption == "two brown dogs on a sofa"
    assert [counted.caption[slice(*e.span)] for e in counted.entities] == ["brown dogs", "sofa"]


@pytest.mark.slow
def test_build_with_tiny_models_passes_an_independent_check(sample_source, tmp_path):
    # thresholds opened up so that random-weight boxes survive and masks get written and checked
    config = dict(
        min_score=0.0,
        min_area_ratio=0.0,
        max_area_ratio=1.0,
        min_aspect=0.0,
        max_aspect=1000.0,
        min_mask_fill=0.0,
        min_boxes=1,
        max_boxes=50,
        min_nouns=1,
        max_nouns=50,
        max_white_fraction=1.0,
        min_image_side=64,
        batch_size=3,
    )
    report = run_build(BuildSpec("personalization", str(sample_source), str(tmp_path), config), only=["00001", "00003"])
    out = tmp_path / "personalization"
    assert validate_dataset(str(out)).ok
    assert sum(report["counts"].values()) == report["inputs"] == 19
    n_masks = 0
    for sample in ShardReader(str(out)).all_samples():
        rec = sample.record
        assert "random" in rec["models"]["detector"] and "random" in rec["models"]["segmenter"]
        for e in rec["entities"]:
            x0, y0, x1, y1 = e["box"]
            assert 0 <= x0 <= x1 <= rec["width"] and 0 <= y0 <= y1 <= rec["height"]
            m = mask_utils.decode({"size": e["mask"]["size"], "counts": e["mask"]["counts"].encode()})
            assert m.shape == (rec["height"], rec["width"])
            assert rec["caption"][e["span"][0] : e["span"][1]].lower() == e["phrase"]
            n_masks += 1
    assert report["counts"]["ok"] >= 12 and n_masks >= 12


@pytest.mark.slow
def test_asset_materializes_with_entity_count_check(sample_source, tmp_path):
    from dagster import DagsterInstance, materialize

    from assets.ingest import ingest
    from assets.partitions import source_shards
    from assets.personalization import personalization
    from assets.resources import resources_from_env

    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(source_shards.name, ["00001"])
    resources = resources_from_env({"SHARDSMITH_SOURCE": str(sample_source), "SHARDSMITH_ROOT": str(tmp_path)})
    settings = (
        '{"min_score": 0.0, "min_area_ratio": 0.0, "max_area_ratio": 1.0, "min_aspect": 0.0, "max_aspect": 1000.0, '
        '"min_mask_fill": 0.0, "min_boxes": 1, "max_boxes": 50, "min_nouns": 1, "max_nouns": 50, "max_white_fraction": 1.0, '
        '"min_image_side": 64}'
    )
    run_config = {"ops": {"personalization": {"config": {"settings": settings}}}}
    result = materialize(
        [ingest, personalization], partition_key="00001", instance=instance, resources=resources, run_config=run_config
    )
    assert result.success
    checks = {(c.asset_key.to_user_string(), c.check_name): c.passed for c in result.get_asset_check_evaluations()}
    assert checks[("personalization", "entity_count")] and checks[("personalization", "contract")]
    (mat,) = result.asset_materializations_for_node("personalization")
    histogram = mat.metadata["entities_per_image"].value
    assert sum(histogram.values()) == mat.metadata["ok"].value > 0
