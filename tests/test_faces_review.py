"""Label Studio review loop: exported tasks follow Label Studio's documented import format; an export comes back as
human labels that override exactly what a person changed, with provenance; re-importing the same export changes nothing."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET

import pytest

from pipelines.faces.prelabel import PrelabelConfig, prelabel
from pipelines.faces.review import (
    apply_review,
    changed_labels,
    dump_store,
    import_exports,
    labeling_config,
    load_store,
    merge_reviews,
    read_export,
    task_errors,
    task_for,
)
from pipelines.faces.schema import load_schema

# Label Studio's documented formats (labelstud.io/guide/tasks, /guide/predictions, /guide/task_format, /tags/choices):
TASK_KEYS = {"id", "data", "predictions", "annotations", "meta", "created_at", "updated_at", "project", "file_upload"}
PREDICTION_KEYS = {"id", "model_version", "score", "result", "created_ago", "task", "created_at", "updated_at"}
RESULT_KEYS = {"id", "from_name", "to_name", "type", "value", "origin", "score", "readonly", "hidden", "source"}
ANNOTATION_KEYS = {
    "id",
    "completed_by",
    "result",
    "created_at",
    "updated_at",
    "was_cancelled",
    "ground_truth",
    "lead_time",
    "result_count",
    "task",
    "prediction",
    "parent_prediction",
    "parent_annotation",
}


def parse_config(xml: str) -> tuple[dict[str, str], dict[str, tuple[str, set[str]]]]:
    """Object tags (name -> data key of ``value="$key"``) and Choices controls (name -> (toName, choice values))."""
    root = ET.fromstring(xml)
    assert root.tag == "View"
    objects = {e.get("name"): e.get("value")[1:] for e in root.iter("Image")}
    assert all(e.get("value").startswith("$") for e in root.iter("Image"))
    controls = {}
    for c in root.iter("Choices"):
        assert c.get("choice") == "single" and c.get("name") and c.get("toName")
        controls[c.get("name")] = (c.get("toName"), {ch.get("value") for ch in c.iter("Choice")})
    return objects, controls


def check_import(tasks: object, xml: str) -> None:
    """Every check the docs imply for importing ``tasks`` (pre-annotated) into a project with labeling config ``xml``."""
    objects, controls = parse_config(xml)
    assert isinstance(tasks, list) and tasks
    json.dumps(tasks)  # plain JSON
    for task in tasks:
        assert isinstance(task, dict) and set(task) <= TASK_KEYS and isinstance(task["data"], dict)
        for data_key in objects.values():
            assert isinstance(task["data"][data_key], str) and task["data"][data_key]
        for pred in task.get("predictions", []):
            assert set(pred) <= PREDICTION_KEYS and isinstance(pred["result"], list)
            assert isinstance(pred.get("model_version", ""), str) and isinstance(pred.get("score", 0.0), float | int)
            for r in pred["result"]:
                assert set(r) <= RESULT_KEYS and {"from_name", "to_name", "type", "value"} <= set(r)
                to_name, values = controls[r["from_name"]]
                assert r["to_name"] == to_name and r["to_name"] in objects and r["type"] == "choices"
                assert isinstance(r["value"]["choices"], list) and set(r["value"]["choices"]) <= values


@pytest.fixture(scope="module")
def schema():
    return load_schema()


@pytest.fixture(scope="module")
def records(schema) -> list[dict]:
    out = []
    for i, p_smile in enumerate((0.9, 0.2, 0.55)):
        probs = {a.name: {"1": 0.3, "-1": 0.7} for a in schema.attributes if a.kind == "binary"}
        probs["Smiling"] = {"1": p_smile, "-1": 1 - p_smile}
        for a in schema.attributes:
            if a.kind == "graded":
                probs[a.name] = {c: (0.6 if j == i else 0.4 / (len(a.classes) - 1)) for j, c in enumerate(a.classes)}
        labels, review = prelabel(
            probs,
            schema,
            PrelabelConfig(review_below=0.9),
            "open_clip-tiny-random(sha256:0)",
            "2026-11-24T09:00:00+00:00",
        )
        out.append(
            {
                "key": f"00000000{i}_f0",
                "attributes": {k: v.to_json() for k, v in labels.items()},
                "needs_review": review,
            }
        )
    return out


def ls_export(
    tasks: list[dict], edits: dict[int, dict[str, str]], when: str = "2026-11-24T10:00:00.123456Z", user: object = 7
) -> list[dict]:
    """What Label Studio exports after a person submits each task, changing ``edits[i]`` (attribute -> choice) and
    accepting the other pre-annotated choices."""
    out = []
    for i, task in enumerate(tasks):
        result = copy.deepcopy(task["predictions"][0]["result"])
        for r in result:
            if r["from_name"] in edits.get(i, {}):
                r["value"]["choices"] = [edits[i][r["from_name"]]]
        ann = {
            "id": 1000 + i,
            "completed_by": user,
            "result": result,
            "was_cancelled": False,
            "ground_truth": False,
            "created_at": when,
            "updated_at": when,
            "lead_time": 12.5,
            "task": i + 1,
        }
        out.append(
            {
                "id": i + 1,
                "data": task["data"],
                "annotations": [ann],
                "predictions": task["predictions"],
                "created_at": when,
                "updated_at": when,
                "project": 3,
            }
        )
    return out


def test_exported_tasks_import_into_label_studio_unchanged(schema, records):
    tasks = [task_for(r["key"], "00000", r, f"/data/local-files/?d=t/{r['key']}.jpg", schema) for r in records]
    xml = labeling_config(schema)
    check_import(tasks, xml)
    assert task_errors(tasks, schema) == []
    _, controls = parse_config(xml)
    assert set(controls) == {a.name for a in schema.attributes}
    assert controls["Smiling"] == ("image", {"1", "-1", "0"}) and "20-29" in controls["age_bucket"][1]
    assert {r["from_name"] for r in tasks[0]["predictions"][0]["result"]} == set(controls)
    # the export Label Studio gives back is the import plus annotations, in its documented shape
    for task in ls_export(tasks, {}):
        assert all(set(a) <= ANNOTATION_KEYS for a in task["annotations"])
    check_import([{k: v for k, v in t.items() if k != "annotations"} for t in ls_export(tasks, {})], xml)


def test_review_round_trip_changes_exactly_what_a_person_changed(schema, records):
    tasks = [task_for(r["key"], "00000", r, f"/img/{r['key']}.jpg", schema) for r in records]
    smiling0 = tasks[0]["predictions"][0]["result"][
        [r["from_name"] for r in tasks[0]["predictions"][0]["result"]].index("Smiling")
    ]
    flipped = "-1" if smiling0["value"]["choices"] == ["1"] else "1"
    edits = {0: {"Smiling": flipped, "Eyeglasses": "0"}, 2: {"age_bucket": "70+"}}
    store = read_export(ls_export(tasks, edits, user={"id": 7, "email": "ann@example.org"}), schema)
    after = [apply_review(r, store.get(r["key"])) for r in records]
    changed = changed_labels(records, after)
    assert set(changed) == {records[0]["key"], records[2]["key"]}
    assert set(changed[records[0]["key"]]) == {"Smiling", "Eyeglasses"}
    assert changed[records[0]["key"]]["Eyeglasses"] == (-1, 0)
    assert {k.split("=")[0] for k in changed[records[2]["key"]]} == {"age_bucket"}
    assert after[2]["attributes"]["age_bucket=70+"]["value"] == 1
    human = after[0]["attributes"]["Smiling"]
    assert (
        human["source"] == "human"
        and human["annotator"] == "ann@example.org"
        and human["time"].startswith("2026-11-24T10")
    )
    assert human["model"]["source"] == "model" and human["model"]["value"] == -int(flipped)
    assert after[1]["attributes"]["Smiling"]["source"] == "human"  # accepted unchanged: confirmed by a person
    assert after[0]["review"]["annotation_id"] == "1000" and after[0]["needs_review"] == []
    assert after[0]["caption"] != records[0].get("caption")


def test_reimport_is_idempotent_and_later_annotations_win(schema, records, tmp_path):
    tasks = [task_for(r["key"], "00000", r, f"/img/{r['key']}.jpg", schema) for r in records]
    first = tmp_path / "export1.json"
    first.write_text(json.dumps(ls_export(tasks, {0: {"Smiling": "0"}})))
    store_path = str(tmp_path / "labels.json")
    once = import_exports([str(first)], store_path, schema)
    bytes_once = (tmp_path / "labels.json").read_bytes()
    twice = import_exports([str(first), str(first)], store_path, schema)
    assert once == twice and (tmp_path / "labels.json").read_bytes() == bytes_once
    assert load_store(dump_store(once)) == once
    later = read_export(ls_export(tasks, {0: {"Smiling": "1"}}, when="2026-11-25T08:00:00Z"), schema)
    merged = merge_reviews(once, later)
    assert merged[records[0]["key"]].labels["Smiling"] == 1
    assert (
        merge_reviews(merged, read_export(json.loads(first.read_text()), schema)) == merged
    )  # older export: no change
    cancelled = ls_export(tasks, {0: {"Smiling": "-1"}}, when="2026-11-26T08:00:00Z")
    for t in cancelled:
        t["annotations"][0]["was_cancelled"] = True
    assert read_export(cancelled, schema) == {}


def test_a_choice_outside_the_schema_is_an_error(schema, records):
    tasks = [task_for(records[0]["key"], "00000", records[0], "/img/x.jpg", schema)]
    with pytest.raises(ValueError):
        read_export(ls_export(tasks, {0: {"Smiling": "maybe"}}), schema)


def test_label_studio_sdk_accepts_the_config_and_predictions_when_installed(schema, records):
    """Label Studio's own validator (label-studio-sdk, not a project dependency: skipped where it is not installed)."""
    sdk = pytest.importorskip("label_studio_sdk.label_interface")
    li = sdk.LabelInterface(labeling_config(schema))
    tasks = [task_for(r["key"], "00000", r, f"/img/{r['key']}.jpg", schema) for r in records]
    assert all(li.validate_prediction(p) for t in tasks for p in t["predictions"])
    bad = copy.deepcopy(tasks[0]["predictions"][0])
    bad["result"][0]["value"]["choices"] = ["maybe"]
    assert not li.validate_prediction(bad)
