"""The shapes corpus' binding-hard option: scenes whose captions differ from their swaps only in attribute binding."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from pipelines.sources.shapes import ShapesConfig, make_scene, sample_scene, scene_rng, write_shapes_source
from pipelines.store import ShardReader
from tests.conftest import build


def _scenes(config: ShapesConfig, n: int) -> list:
    return [sample_scene(config, scene_rng(config, i)) for i in range(n)]


def test_binding_scenes_share_size_and_pattern_and_recombine_colours():
    config = ShapesConfig(binding=True, positions=False)
    scenes = _scenes(config, 300)
    assert all(2 <= len(s) <= 3 and all(o.count == 1 for o in s) for s in scenes)
    assert all(len({o.size for o in s}) == 1 and len({o.pattern for o in s}) == 1 for s in scenes)
    assert all(len({o.colour for o in s}) == len(s) and len({o.shape for o in s}) == len(s) for s in scenes)
    pairs = {(o.colour, o.shape) for s in scenes for o in s}
    assert len(pairs) == 36  # every colour on every shape: the binding is what varies across images
    caption = make_scene(config, 0).record["caption"]
    assert not any(w in caption.split() for w in ("left", "right", "top", "bottom", "center"))


def test_default_corpus_is_unchanged_by_the_option(tmp_path):
    """The default config records no ``binding`` key (its hash and shapes.json are what they were); on, it does."""
    write_shapes_source(str(tmp_path / "a"), ShapesConfig(n=4, shards=1))
    write_shapes_source(str(tmp_path / "b"), ShapesConfig(n=4, shards=1, binding=True, positions=False))
    assert "binding" not in json.loads((tmp_path / "a" / "shapes.json").read_text())["config"]
    assert json.loads((tmp_path / "b" / "shapes.json").read_text())["config"]["binding"] is True
    a, b = (
        json.loads((tmp_path / "a" / "00000_stats.json").read_text()),
        json.loads((tmp_path / "b" / "00000_stats.json").read_text()),
    )
    assert a["config_sha256"] != b["config_sha256"]
    assert make_scene(ShapesConfig(), 1).files != make_scene(ShapesConfig(binding=True, positions=False), 1).files


def test_binding_needs_two_objects_and_no_positions():
    with pytest.raises(ValueError, match="binding"):
        ShapesConfig(binding=True)
    with pytest.raises(ValueError, match="binding"):
        ShapesConfig(binding=True, positions=False, max_objects=1)


@pytest.mark.slow
def test_negatives_swap_colours_between_shapes(tmp_path):
    source = tmp_path / "shapes"
    write_shapes_source(str(source), ShapesConfig(n=16, shards=1, binding=True, positions=False))
    report = build("retrieval_negatives", source, tmp_path / "out", n=3, seed=0)
    assert report["counts"] == {"ok": 16, "rejected": 0, "failed": 0}
    records = [s.record for s in ShardReader(str(tmp_path / "out" / "retrieval_negatives")).all_samples()]
    swaps = [(r["caption"], n["text"]) for r in records for n in r["negatives"] if n["kind"] == "swap-att"]
    assert len(swaps) >= 12, Counter(n["kind"] for r in records for n in r["negatives"])
    for caption, text in swaps:  # the same words, bound otherwise
        assert sorted(caption.split()) == sorted(text.split()) and caption != text
