"""Training through Dagster: the asset launches the CLI under Pipes, streams metrics, attaches plots; data versions."""

from __future__ import annotations

import json

import pytest
from dagster import DagsterInstance, materialize

from assets.common import shards_data_version
from assets.resources import resources_from_env
from assets.training.launch import training_resources
from assets.training.shapes import shapes_classifier, shapes_corpus
from pipelines.training.card import ModelDir

TINY = {"steps": 4, "batch_size": 4, "width": 8, "image_size": 32, "checkpoint_every": 2, "log_every": 1,
        "shuffle": 8, "eval_samples": 8, "cpu_threads": 1}  # fmt: skip
CORPUS = {"n": 16, "test_n": 8, "size": 32, "shards": 2, "general_n": 8}


def _resources(tmp_path) -> dict:
    env = {"SHARDSMITH_ROOT": str(tmp_path / "storage"), "SHARDSMITH_SOURCE": str(tmp_path / "source")}
    return {**resources_from_env(env), **training_resources(env)}


def _version(result, key: str) -> str:
    (mat,) = result.asset_materializations_for_node(key)
    return mat.tags["dagster/data_version"]


@pytest.mark.slow
def test_training_asset_launches_the_cli_through_pipes(tmp_path):
    instance = DagsterInstance.ephemeral()
    run_config = {
        "ops": {
            "shapes_corpus": {"config": CORPUS},
            "shapes_classifier": {"config": {"settings": json.dumps(TINY)}},
        }
    }
    result = materialize(
        [shapes_corpus, shapes_classifier], instance=instance, resources=_resources(tmp_path), run_config=run_config
    )
    assert result.success
    (mat,) = result.asset_materializations_for_node("shapes_classifier")
    md = mat.metadata
    assert md["steps"].value == 4 and md["metrics_streamed"].value == 4
    assert md["loss_curve"].value.startswith("![loss](data:image/png;base64,")
    assert "sample_sheet" in md and 0.0 <= md["eval/shape_label_acc"].value <= 1.0
    logs = [e.message for e in instance.all_logs(result.run_id) if e.message]
    assert any("step=4" in m and "loss=" in m for m in logs)  # the trainer's rows streamed into the run's events
    card = ModelDir(tmp_path / "storage" / "models" / "shapes_classifier").card()
    assert card["config"]["steps"] == 4 and card["inputs"][0]["url"].endswith("shapes/train")
    assert _version(result, "shapes_classifier") == card["run_sha256"][:24]
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert set(checks) == {"loss_fell"}
    # the same seed renders the same bytes (same data version); another seed other shards, another version
    corpus_config = {"ops": {"shapes_corpus": {"config": CORPUS}}}
    again = materialize([shapes_corpus], instance=instance, resources=_resources(tmp_path), run_config=corpus_config)
    assert _version(again, "shapes_corpus") == _version(result, "shapes_corpus")
    other_config = {"ops": {"shapes_corpus": {"config": {**CORPUS, "seed": 5}}}}
    other = materialize([shapes_corpus], instance=instance, resources=_resources(tmp_path), run_config=other_config)
    assert _version(other, "shapes_corpus") != _version(result, "shapes_corpus")


def test_dataset_data_version_follows_the_shards_checksums(tmp_path):
    d = tmp_path / "ds"
    d.mkdir()
    for shard, sha in (("00000", "a" * 64), ("00001", "b" * 64)):
        (d / f"{shard}_stats.json").write_text(json.dumps({"files": {"tar": {"sha256": sha}}}))
    first = shards_data_version(str(d), ["00000", "00001"])
    assert shards_data_version(str(d), ["00001", "00000"]) == first
    assert shards_data_version(str(d), ["00000"]) != first
    (d / "00001_stats.json").write_text(json.dumps({"files": {"tar": {"sha256": "c" * 64}}}))
    assert shards_data_version(str(d), ["00000", "00001"]) != first
