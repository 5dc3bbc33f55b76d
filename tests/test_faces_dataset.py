"""``face_attributes`` on the sample source: faces in the portraits and none elsewhere, a valid dataset, a review round
trip through real shards, a drawable sample, and the Dagster review sensor."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from conftest import build
from dagster import SensorResult, build_sensor_context

from pipelines.faces.review import export_review, import_exports, write_reviewed_shard
from pipelines.faces.schema import load_schema
from pipelines.sources.sample_data import PHOTOS
from pipelines.store.reader import ShardReader
from pipelines.validate import validate_dataset

FACE_URLS = {f"pkg://{pkg}/{name}" for pkg, name, _, tags in PHOTOS if "face" in tags}


@pytest.fixture(scope="module")
def built(sample_source: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch_module) -> Path:
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores: spinning OpenMP threads only slow MTCNN and CLIP down
    out = tmp_path_factory.mktemp("faces")
    build("face_attributes", sample_source, out)
    torch.set_num_threads(before)
    return out


@pytest.fixture(scope="module")
def monkeypatch_module(tmp_path_factory: pytest.TempPathFactory):
    mp = pytest.MonkeyPatch()
    mp.setenv("SHARDSMITH_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield mp
    mp.undo()


def test_faces_in_the_portraits_and_none_in_photos_without_people(built: Path):
    rows = ShardReader(str(built / "face_attributes")).manifests().to_pylist()
    by_source: dict[str, list[dict]] = {}
    for r in rows:
        by_source.setdefault(r["source_key"], []).append(r)
    portraits = {s for s, rs in by_source.items() if any((r["url"] or "").split("#")[0] in FACE_URLS for r in rs)}
    assert len(portraits) == 4  # astronaut, camera, grace_hopper and a copy of the astronaut
    for source_key, rs in by_source.items():
        if source_key in portraits:
            ok = [r for r in rs if r["status"] == "ok"]
            assert len(ok) == 1 and ok[0]["key"] == f"{source_key}_f0" and ok[0]["score"] > 0.9, rs
        else:
            assert len(rs) == 1 and rs[0]["status"] != "ok" and rs[0]["key"] == source_key
            assert rs[0]["status"] == "failed" or rs[0]["reason"] == "no_face", rs


def test_records_follow_the_contract(built: Path):
    report = validate_dataset(str(built / "face_attributes"))
    assert report.ok, report.errors
    sample = next(s for s in ShardReader(str(built / "face_attributes")).all_samples())
    rec = sample.record
    assert (rec["width"], rec["height"]) == (224, 224) and len(rec["faces"]) == 1
    face = rec["faces"][0]
    assert len(face["box"]) == 4 and len(face["landmarks"]) == 5 and len(face["source_box"]) == 4
    assert "random" in rec["models"]["attribute_labeller"] and rec["models"]["face_detector"].startswith("mtcnn")
    assert set(rec["attributes"]) == set(load_schema().label_keys())
    assert all(a["source"] == "model" and a["value"] in (1, -1, 0) for a in rec["attributes"].values())
    assert sample.files["txt"].decode() == rec["caption"] and rec["caption"].startswith("a photo of")


def test_review_round_trip_through_shards(built: Path, tmp_path: Path):
    schema, ds = load_schema(), str(built / "face_attributes")
    shards = ShardReader(ds).shards()
    counts = export_review(
        ds, str(tmp_path / "tasks"), schema, shards, "/data/local-files/?d=tasks", only_needs_review=False
    )
    assert sum(counts.values()) >= 3 and (tmp_path / "tasks" / "labeling_config.xml").exists()
    shard = next(s for s, n in counts.items() if n)
    tasks = json.loads((tmp_path / "tasks" / shard / "tasks.json").read_text())
    assert (tmp_path / "tasks" / shard / "images" / f"{tasks[0]['data']['face_key']}.jpg").exists()
    result = copy.deepcopy(tasks[0]["predictions"][0]["result"])
    hat = next(r for r in result if r["from_name"] == "Wearing_Hat")
    hat["value"]["choices"] = ["1" if hat["value"]["choices"] != ["1"] else "-1"]
    export = [
        {
            "id": 1,
            "data": tasks[0]["data"],
            "predictions": tasks[0]["predictions"],
            "annotations": [
                {
                    "id": 9,
                    "completed_by": 3,
                    "result": result,
                    "was_cancelled": False,
                    "created_at": "2026-11-24T10:00:00Z",
                    "updated_at": "2026-11-24T10:00:00Z",
                }
            ],
        }
    ]
    (tmp_path / "export.json").write_text(json.dumps(export))
    store = import_exports([str(tmp_path / "export.json")], str(tmp_path / "labels.json"), schema)
    out = str(tmp_path / "face_attributes_reviewed")
    for s in shards:
        write_reviewed_shard(ds, out, s, store)
    assert validate_dataset(out).ok
    before = {s.key: s.record for s in ShardReader(ds).all_samples()}
    after = {s.key: s.record for s in ShardReader(out).all_samples()}
    diffs = {
        (k, a)
        for k, r in after.items()
        for a, lab in r["attributes"].items()
        if lab["value"] != before[k]["attributes"][a]["value"]
    }
    assert diffs == {(tasks[0]["data"]["face_key"], "Wearing_Hat")}


def test_show_draws_a_face(built: Path, tmp_path: Path):
    from click.testing import CliRunner

    from pipelines.cli import main

    key = next(s.key for s in ShardReader(str(built / "face_attributes")).all_samples())
    res = CliRunner().invoke(main, ["show", str(built / "face_attributes"), key, "--out", str(tmp_path / "face.png")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "face.png").stat().st_size > 1000


def test_review_sensor_requests_the_shards_of_a_new_export(tmp_path: Path):
    from assets.face_attributes import face_review_exports_sensor
    from assets.resources import StorageResource

    exports = tmp_path / "face_review" / "exports"
    exports.mkdir(parents=True)
    (exports / "round1.json").write_text(
        json.dumps([{"id": 1, "data": {"face_key": "k_f0", "shard": "00002"}, "annotations": []}])
    )
    storage = StorageResource(root=str(tmp_path))
    result = face_review_exports_sensor(build_sensor_context(resources={"storage": storage}))
    assert isinstance(result, SensorResult) and [r.partition_key for r in result.run_requests] == ["00002"]
    again = face_review_exports_sensor(build_sensor_context(cursor=result.cursor, resources={"storage": storage}))
    assert not isinstance(again, SensorResult)  # nothing new: skipped


def test_dagster_review_chain_materializes_with_passing_checks(built: Path):
    from dagster import DagsterInstance, materialize

    from assets.face_attributes import face_attributes_reviewed, face_review_tasks
    from assets.partitions import source_shards
    from assets.resources import StorageResource

    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(source_shards.name, ["00000"])
    resources = {"storage": StorageResource(root=str(built))}
    tasks_run = materialize([face_review_tasks], partition_key="00000", resources=resources, instance=instance)
    tasks = json.loads((built / "face_review" / "tasks" / "00000" / "tasks.json").read_text())
    result = tasks[0]["predictions"][0]["result"]
    result[0]["value"]["choices"] = ["0"]
    (built / "face_review" / "exports").mkdir(parents=True)
    (built / "face_review" / "exports" / "round1.json").write_text(
        json.dumps(
            [
                {
                    "id": 1,
                    "data": tasks[0]["data"],
                    "annotations": [
                        {
                            "id": 5,
                            "completed_by": 2,
                            "result": result,
                            "was_cancelled": False,
                            "created_at": "2026-11-24T11:00:00Z",
                        }
                    ],
                }
            ]
        )
    )
    reviewed_run = materialize(
        [face_attributes_reviewed], partition_key="00000", resources=resources, instance=instance
    )
    for run in (tasks_run, reviewed_run):
        assert run.success and all(c.passed for c in run.get_asset_check_evaluations())
    meta = reviewed_run.asset_materializations_for_node("face_attributes_reviewed")[0].metadata
    assert meta["reviewed_faces"].value == 1 and meta["model_human_accuracy"].value < 1.0
