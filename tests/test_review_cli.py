"""The review loop from the CLI: export tasks, a person changes one label in Label Studio, import changes exactly it."""

from __future__ import annotations

import json

from click.testing import CliRunner

from pipelines.cli import main
from pipelines.faces.review import changed_labels
from pipelines.store import ShardReader


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_export_edit_import(sample_source, tmp_path):
    faces, reviewed = tmp_path / "out" / "face_attributes", tmp_path / "reviewed"
    _run("build", "face_attributes", "--source", str(sample_source), "--out", str(tmp_path / "out"), "--only", "00000")
    before = [s.record for s in ShardReader(str(faces)).all_samples()]
    assert before, "the astronaut portrait in shard 00000 must give a face"
    assert "tasks in 1 shards" in _run("review", "export", str(faces), "--out", str(tmp_path / "tasks"), "--all")
    tasks = json.loads((tmp_path / "tasks" / "00000" / "tasks.json").read_text())
    task = tasks[0]
    result = json.loads(json.dumps(task["predictions"][0]["result"]))  # the person starts from the model's labels
    smiling = next(r for r in result if r["from_name"] == "Smiling")
    old = smiling["value"]["choices"][0]
    smiling["value"]["choices"] = ["-1" if old == "1" else "1"]
    task["id"] = 1
    task["annotations"] = [
        {
            "id": 7,
            "completed_by": {"id": 3, "email": "reviewer@example.com"},
            "result": result,
            "was_cancelled": False,
            "created_at": "2026-11-24T10:00:00Z",
            "updated_at": "2026-11-24T10:05:00Z",
        }
    ]
    export = tmp_path / "export.json"
    export.write_text(json.dumps([task]))
    store = tmp_path / "labels.json"
    for _ in range(2):  # importing the same export twice changes nothing more
        _run("review", "import", str(faces), str(export), "--out", str(reviewed), "--store", str(store))
        after = [s.record for s in ShardReader(str(reviewed)).all_samples()]
        key = task["data"]["face_key"]
        assert changed_labels(before, after) == {key: {"Smiling": (int(old), -int(old))}}
        label = next(r for r in after if r["key"] == key)["attributes"]["Smiling"]
        assert label["source"] == "human" and label["annotator"] and label["time"]
    assert "Smiling" in _run("review", "agreement", str(reviewed))
    assert _run("validate", str(reviewed)).startswith("OK")
