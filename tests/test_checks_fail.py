"""Every asset check fails on a shard broken in the way it guards against, and passes on the same shard unbroken."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from checks_data import ingest_shards, jpeg, source_members, with_json, write_records, write_tar
from PIL import Image

from pipelines.checks.accounting import accounting, source_input_keys, tar_keys
from pipelines.checks.contract import contract
from pipelines.checks.entities import entity_count
from pipelines.checks.faces import label_provenance, tasks_valid
from pipelines.checks.negatives import audit_record, validity
from pipelines.checks.text import text_audit
from pipelines.datasets import build_shard, make_dataset
from pipelines.runner import BuildSpec, run_build
from pipelines.sources.base import SourceShard
from pipelines.store.layout import DatasetDir
from pipelines.validate import validate_dataset

# ---- accounting ----


def test_accounting_passes_when_rows_name_every_source_sample(tmp_path: Path) -> None:
    source, out = ingest_shards(tmp_path, {"00000": 3, "00001": 2})
    result = accounting(out.url, ["00000", "00001"], source_input_keys(source))
    assert result.passed, result.problems
    assert result.metadata["inputs"] == 5 and result.metadata["ok"] == 5


def test_accounting_fails_when_the_source_shard_holds_a_sample_no_row_names(tmp_path: Path) -> None:
    source, out = ingest_shards(tmp_path, {"00000": 3})
    write_tar(Path(source.uri) / "00000.tar", source_members(4))  # a sample the build never saw (a reader that drops)
    result = accounting(out.url, ["00000"], source_input_keys(source))
    assert not result.passed
    assert any("lost" in p and "s003" in p for p in result.problems)
    assert any("_stats.json says 3 inputs, the source shard holds 4" in p for p in result.problems)


def test_accounting_fails_on_a_row_whose_source_key_is_not_in_the_source(tmp_path: Path) -> None:
    source, out = ingest_shards(tmp_path, {"00000": 3})
    write_tar(Path(source.uri) / "00000.tar", source_members(2))
    result = accounting(out.url, ["00000"], source_input_keys(source))
    assert any("not in the source shard" in p and "s002" in p for p in result.problems)


def test_accounting_fails_on_a_shard_of_the_run_that_never_committed(tmp_path: Path) -> None:
    source, out = ingest_shards(tmp_path, {"00000": 2})
    result = accounting(out.url, ["00000", "00001"], source_input_keys(source))
    assert result.problems == ("00001: not committed (no _stats.json)",)


def test_tar_keys_groups_members_by_key_wherever_they_lie(tmp_path: Path) -> None:
    path = tmp_path / "x.tar"
    write_tar(path, [("a.jpg", b"1"), ("b.jpg", b"2"), ("a.txt", b"3"), ("d/c.x.json", b"4"), (".hidden.jpg", b"")])
    assert tar_keys(str(path)) == {"a", "b", "d/c"}


# ---- contract ----


def test_contract_judges_its_own_shards_while_another_run_commits(tmp_path: Path) -> None:
    source, out = ingest_shards(tmp_path, {"00000": 3})
    out.write_sizes()
    # Another run, at the same time: its shard 00001 committed but sizes.json not yet rewritten, and 00002's tar renamed
    # into place before its _stats.json.
    write_tar(Path(source.uri) / "00001.tar", source_members(2, start=3))
    build_shard(make_dataset("ingest", {}), source, SourceShard("00001", f"{source.uri}/00001.tar"), out)
    (Path(out.url) / "00002.tar").write_bytes((Path(out.url) / "00001.tar").read_bytes())
    assert not validate_dataset(out.url).ok  # the whole directory is mid-commit
    mine = contract(out.url, ["00000"])
    assert mine.passed, mine.problems
    theirs = contract(out.url, ["00001"])
    assert len(theirs.problems) == 1 and "sizes.json lacks or miscounts ['00001.tar']" in theirs.problems[0]


def test_contract_fails_when_sizes_json_miscounts_the_runs_shard(tmp_path: Path) -> None:
    _, out = ingest_shards(tmp_path, {"00000": 3})
    out.write_json("sizes.json", {"00000.tar": 2})
    (problem,) = contract(out.url, ["00000"]).problems
    assert "sizes.json lacks or miscounts ['00000.tar']" in problem


def test_contract_fails_on_a_half_written_shard_of_the_run(tmp_path: Path) -> None:
    _, out = ingest_shards(tmp_path, {"00000": 3})
    out.write_sizes()
    (Path(out.url) / "00001.tar").write_bytes(
        (Path(out.url) / "00000.tar").read_bytes()
    )  # renamed, stats never written
    assert contract(out.url, ["00000"]).passed
    problems = contract(out.url, ["00000", "00001"]).problems
    assert any(p.startswith("00001: not committed") for p in problems), problems


def test_contract_fails_on_a_changed_tar_of_the_run(tmp_path: Path) -> None:
    _, out = ingest_shards(tmp_path, {"00000": 3})
    out.write_sizes()
    tar = Path(out.url) / "00000.tar"
    data = bytearray(tar.read_bytes())
    data[600] ^= 0xFF  # one byte of the first image, the size unchanged
    tar.write_bytes(bytes(data))
    assert any("tar checksum differs" in p for p in contract(out.url, ["00000"]).problems)


# ---- validity (retrieval_negatives) ----

POSITIVE = "a red car parked next to a blue bicycle"


def negative(kind: str, text: str, span: tuple[int, int]) -> dict:
    return {"kind": kind, "text": text, "span": list(span), "original": POSITIVE[span[0] : span[1]], "replacement": ""}


GOOD_NEGATIVES = [
    negative("replace-att", "a green car parked next to a blue bicycle", (2, 5)),
    negative("replace-att", "an orange car parked next to a blue bicycle", (0, 5)),
    negative("swap-att", "a blue car parked next to a red bicycle", (2, 31)),
    negative("replace-count", "two red cars parked next to a blue bicycle", (0, 9)),
]


def negatives_shard(tmp_path: Path, negatives: list[dict]) -> str:
    out = DatasetDir(str(tmp_path / "retrieval_negatives"))
    files = with_json({"jpg": jpeg(8, 8, (0, 0, 0))}, {"caption": POSITIVE, "negatives": negatives, "width": 8})
    write_records(out, "00000", [("k0", files)])
    return out.url


def test_validity_passes_real_generator_output() -> None:
    from pipelines.negatives import NegativesConfig, generate_negatives

    captions = [POSITIVE, "two dogs are playing on the grass", "a man in a black shirt holding an orange umbrella"]
    for caption in captions:
        found = generate_negatives(caption, NegativesConfig(n=6))
        record = {"caption": caption, "negatives": [vars(n) | {"span": list(n.span)} for n in found]}
        assert found and audit_record(record) == [], caption


def test_validity_passes_good_negatives(tmp_path: Path) -> None:
    result = validity(negatives_shard(tmp_path, GOOD_NEGATIVES), ["00000"])
    assert result.passed, result.problems
    assert result.metadata["kinds"] == {"replace-att": 2, "replace-count": 1, "swap-att": 1}


BROKEN_NEGATIVES = {
    "identical to the positive": negative("replace-att", "a red  car parked next to a blue bicycle", (2, 5)),
    "only an article changed": negative("replace-att", "an red car parked next to a blue bicycle", (0, 1)),
    "outside the recorded span": negative("replace-att", "a green car parked next to a blue tricycle", (2, 5)),
    "changes 2 places, not one": negative("replace-att", "a green car parked next to a pink bicycle", (2, 35)),
    "not a word": negative("replace-att", "a 4x4 car parked next to a blue bicycle", (2, 5)),
    "brings in words the positive does not have": negative(
        "swap-att", "a blue car parked next to a green bicycle", (2, 31)
    ),
    "changes 0 counts, not one": negative("replace-count", "a red truck parked next to a blue bicycle", (2, 9)),
    "more than the count and its agreement": negative(
        "replace-count", "two red vans parked next to a blue bicycle", (0, 9)
    ),
    "not a minimal edit": negative("replace-obj", "a small boat sailing far away from the old harbour", (0, 40)),
    "unknown kind": negative("replace-rel", "a red car parked behind a blue bicycle", (17, 24)),
}


@pytest.mark.parametrize("expected", sorted(BROKEN_NEGATIVES))
def test_validity_fails_on_a_broken_negative(tmp_path: Path, expected: str) -> None:
    result = validity(negatives_shard(tmp_path, [*GOOD_NEGATIVES, BROKEN_NEGATIVES[expected]]), ["00000"])
    assert not result.passed
    assert all("negatives[4]" in p for p in result.problems), result.problems
    assert any(expected in p for p in result.problems), result.problems


def test_validity_fails_on_a_repeated_negative(tmp_path: Path) -> None:
    repeat = negative("replace-att", "A GREEN car parked next to a blue bicycle", (0, 5))
    result = validity(negatives_shard(tmp_path, [*GOOD_NEGATIVES, repeat]), ["00000"])
    assert result.problems == (
        "00000/k0: negatives[4] (replace-att): repeats the positive or an earlier negative (ignoring case)",
    )


# ---- text (text_rendering) ----


def text_sample(lines: list[tuple[str, list[list[float]]]], size: tuple[int, int] = (160, 96)) -> dict[str, bytes]:
    """A text_rendering sample as the writer makes it: the real glyph and position renderers, the real caption."""
    from models.ocr.base import TextLine
    from pipelines.text.caption import caption_with_text
    from pipelines.text.glyphs import glyph_image, png_bytes, position_mask

    ocr = [TextLine(np.array(p, np.float32), t, 0.9) for t, p in lines]
    w, h = size
    record = {
        "width": w,
        "height": h,
        "caption": caption_with_text("a shop front", [t for t, _ in lines]),
        "text_lines": [{"text": t, "polygon": p, "score": 0.9, "valid": True} for t, p in lines],
    }
    files = {
        "jpg": jpeg(w, h, (200, 200, 200)),
        "glyph.png": png_bytes(glyph_image(ocr, w, h)),
        "position.png": png_bytes(position_mask([x.polygon for x in ocr], w, h)),
    }
    return with_json(files, record)


SIGN = ("OPEN", [[10.0, 10.0], [90.0, 10.0], [90.0, 40.0], [10.0, 40.0]])
HOURS = ('24 "HOURS"', [[20.0, 55.0], [150.0, 58.0], [150.0, 85.0], [20.0, 82.0]])


def png_of(array: np.ndarray) -> bytes:
    from pipelines.text.glyphs import png_bytes

    return png_bytes(array.astype(np.uint8))


def text_shard(tmp_path: Path, files: dict[str, bytes]) -> str:
    out = DatasetDir(str(tmp_path / "text_rendering"))
    write_records(out, "00000", [("k0", files)])
    return out.url


def test_text_passes_the_writers_own_images(tmp_path: Path) -> None:
    result = text_audit(text_shard(tmp_path, text_sample([SIGN, HOURS])), ["00000"])
    assert result.passed, result.problems


def _shifted(files: dict[str, bytes], name: str) -> dict[str, bytes]:
    image = np.asarray(Image.open(io.BytesIO(files[name])).convert("L"))
    return files | {name: png_of(np.roll(image, 30, axis=1))}


def _record(files: dict[str, bytes], **changes) -> dict[str, bytes]:
    return with_json(files, json.loads(files["json"]) | changes)


BROKEN_TEXT = {
    "position.png is 80x48, the image 160x96": lambda f: f | {"position.png": png_of(np.zeros((48, 80)))},
    "glyph.png is 160x95, the image 160x96": lambda f: f | {"glyph.png": png_of(np.full((95, 160), 255))},
    "glyph.png missing": lambda f: {k: v for k, v in f.items() if k != "glyph.png"},
    "position image does not mark valid line 0": lambda f: f | {"position.png": png_of(np.zeros((96, 160)))},
    "outside every valid line": lambda f: _shifted(f, "position.png"),
    "glyph image has no ink in valid line 1": lambda f: f | {"glyph.png": text_sample([SIGN])["glyph.png"]},
    "outside the lines": lambda f: _shifted(f, "glyph.png"),
    "does not quote exactly the valid lines": lambda f: _record(f, caption='a shop front, with the words "OPEN"'),
    "no valid line": lambda f: _record(f, text_lines=[]),
    "a valid line has no text": lambda f: _record(
        f,
        text_lines=[
            {"text": " ", "polygon": SIGN[1], "valid": True},
            {"text": HOURS[0], "polygon": HOURS[1], "valid": True},
        ],
    ),
}


@pytest.mark.parametrize("expected", sorted(BROKEN_TEXT))
def test_text_fails_on_a_broken_sample(tmp_path: Path, expected: str) -> None:
    result = text_audit(text_shard(tmp_path, BROKEN_TEXT[expected](text_sample([SIGN, HOURS]))), ["00000"])
    assert any(expected in p for p in result.problems), result.problems


def few_source_samples(sample_source: Path, shard: str, n: int, tmp_path: Path, wanted: str = "") -> Path:
    """A one-shard source of ``n`` samples of a sample source shard (those whose json mentions ``wanted``)."""
    from pipelines.sources.base import SourceShard
    from pipelines.sources.img2dataset import Img2DatasetSource

    members = []
    samples = Img2DatasetSource(str(sample_source)).samples(SourceShard(shard, str(sample_source / f"{shard}.tar")))
    for sample in (s for s in samples if wanted.encode() in s.files.get("json", b"")):
        members += [(f"{sample.source_key}.{ext}", data) for ext, data in sample.files.items()]
        n -= 1
        if n == 0:
            break
    write_tar(tmp_path / "few" / "00000.tar", members)
    return tmp_path / "few"


@pytest.mark.slow
def test_text_passes_a_real_text_rendering_build(sample_source: Path, tmp_path: Path) -> None:
    source = few_source_samples(sample_source, "00002", 3, tmp_path, wanted="text_lines")
    run_build(BuildSpec("text_rendering", str(source), str(tmp_path), {"backend": "rapid"}))  # the same PP-OCR models
    result = text_audit(str(tmp_path / "text_rendering"), ["00000"])
    assert result.passed and result.metadata["samples"] > 0, result.problems


# ---- entity_count (personalization) ----

CAPTION = "a red car next to a tall tree"
BOXES = {"car": [4.0, 20.0, 40.0, 44.0], "tree": [44.0, 2.0, 60.0, 46.0]}


def entity(label: str, phrase: str, box: list[float], mask: np.ndarray | None = None) -> dict:
    from models.rle import masks_to_rle
    from pipelines.personalization.filters import mask_fill

    if mask is None:
        mask = np.zeros((48, 64), bool)
        x0, y0, x1, y1 = (int(v) for v in box)
        mask[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2] = True
    start = CAPTION.index(phrase)
    return {
        "label": label,
        "phrase": phrase,
        "span": [start, start + len(phrase)],
        "box": box,
        "mask": masks_to_rle(mask[None])[0],
        "mask_fill": round(mask_fill(mask, np.array(box)), 4),
    }


def entities_shard(tmp_path: Path, entities: list[dict], listed: int | None = None) -> str:
    import pyarrow as pa

    out = DatasetDir(str(tmp_path / "personalization"))
    record = {"caption": CAPTION, "original_caption": CAPTION, "entities": entities, "width": 64, "height": 48}
    files = with_json({"jpg": jpeg(64, 48, (90, 90, 90))}, record)
    n = len(entities) if listed is None else listed
    write_records(out, "00000", [("k0", files)], pa.schema([("n_entities", pa.int32())]), [{"n_entities": n}])
    return out.url


def good_entities() -> list[dict]:
    return [entity("car", "red car", BOXES["car"]), entity("tree", "tall tree", BOXES["tree"])]


def test_entity_count_passes_consistent_entities(tmp_path: Path) -> None:
    result = entity_count(entities_shard(tmp_path, good_entities()), ["00000"], 2, 8)
    assert result.passed, result.problems
    assert result.metadata["histogram"] == {"2": 1}


def _swap_masks(entities: list[dict]) -> list[dict]:
    a, b = entities
    return [a | {"mask": b["mask"]}, b | {"mask": a["mask"]}]


BROKEN_ENTITIES = {
    "1 entities, outside [2, 8]": lambda e: e[:1],
    "mask fills 0.000 of its box": _swap_masks,
    "mask is 32x48, the image 64x48": lambda e: [
        e[0] | {"mask": entity("car", "red car", BOXES["car"], np.ones((48, 32), bool))["mask"]},
        e[1],
    ],
    "mask is empty": lambda e: [
        e[0] | {"mask": entity("car", "red car", BOXES["car"], np.zeros((48, 64), bool))["mask"]},
        e[1],
    ],
    "phrase 'red car' is not at 0:7": lambda e: [e[0] | {"span": [0, 7]}, e[1]],
    "label 'bus' is not a word of its phrase": lambda e: [e[0] | {"label": "bus"}, e[1]],
}


@pytest.mark.parametrize("expected", sorted(BROKEN_ENTITIES))
def test_entity_count_fails_on_broken_entities(tmp_path: Path, expected: str) -> None:
    result = entity_count(entities_shard(tmp_path, BROKEN_ENTITIES[expected](good_entities())), ["00000"], 2, 8)
    assert any(expected in p for p in result.problems), result.problems


def test_entity_count_fails_when_the_manifest_disagrees_with_the_record(tmp_path: Path) -> None:
    result = entity_count(entities_shard(tmp_path, good_entities(), listed=3), ["00000"], 2, 8)
    assert result.problems == ("00000/k0: the manifest says 3 entities, the record has 2",)


# ---- tasks_valid and label_provenance (face review chain) ----

IMAGE_BASE = "/data/local-files/?d=face_review/tasks"


def face_records() -> list[dict]:
    """Three model-labelled faces, as face_attributes writes them (the real pre-labeller), two needing review."""
    from pipelines.faces.caption import caption
    from pipelines.faces.prelabel import PrelabelConfig, prelabel
    from pipelines.faces.schema import load_schema

    schema, out = load_schema(), []
    for i, p_smile in enumerate((0.99, 0.4, 0.55)):
        probs = {a.name: {"1": 0.02, "-1": 0.98} for a in schema.attributes if a.kind == "binary"}
        probs["Smiling"] = {"1": p_smile, "-1": 1 - p_smile}
        for a in schema.attributes:
            if a.kind == "graded":
                probs[a.name] = {c: (0.97 if j == 0 else 0.03 / (len(a.classes) - 1)) for j, c in enumerate(a.classes)}
        labels, review = prelabel(
            probs, schema, PrelabelConfig(review_below=0.5), "clip-random", "2026-11-24T09:00:00Z"
        )
        attributes = {k: v.to_json() for k, v in labels.items()}
        text = caption({k: v["value"] for k, v in attributes.items()})
        out.append({"key": f"k{i}_f0", "attributes": attributes, "needs_review": review, "caption": text})
    return out


def faces_upstream(tmp_path: Path, records: list[dict] | None = None) -> str:
    out = DatasetDir(str(tmp_path / "face_attributes"))
    samples = [
        (r["key"], with_json({"jpg": jpeg(32, 32, (i * 40, 90, 90))}, r))
        for i, r in enumerate(records or face_records())
    ]
    write_records(out, "00000", samples)
    return out.url


def exported(tmp_path: Path) -> tuple[str, str]:
    from pipelines.faces.review import export_review
    from pipelines.faces.schema import load_schema

    upstream, tasks = faces_upstream(tmp_path), str(tmp_path / "face_review" / "tasks")
    export_review(upstream, tasks, load_schema(), ["00000"], IMAGE_BASE, only_needs_review=True)
    return upstream, tasks


def test_tasks_valid_passes_the_exporters_tasks(tmp_path: Path) -> None:
    upstream, tasks = exported(tmp_path)
    result = tasks_valid(tasks, upstream, ["00000"], IMAGE_BASE, only_needs_review=True)
    assert result.passed and result.metadata["tasks"] == 2, result.problems


def _edit_tasks(tasks_dir: Path, edit) -> None:
    path = tasks_dir / "00000" / "tasks.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def _edit_result(field: str, value: object):
    def edit(tasks: list[dict]) -> list[dict]:
        tasks[0]["predictions"][0]["result"][0][field] = value
        return tasks

    return edit


BROKEN_TASKS = {
    "serves no file": lambda d: next((d / "00000" / "images").iterdir()).unlink(),
    "is not one choice of": lambda d: _edit_tasks(d, _edit_result("value", {"choices": ["2"]})),
    "is no Choices of the labeling config": lambda d: _edit_tasks(d, _edit_result("from_name", "Smiling_a_lot")),
    "to_name is not 'image'": lambda d: _edit_tasks(d, _edit_result("to_name", "crop")),
    "missing (or repeated)": lambda d: _edit_tasks(d, lambda t: t[:1]),
    "is not under": lambda d: _edit_tasks(
        d, lambda t: [t[0] | {"data": t[0]["data"] | {"image": "/elsewhere/x.jpg"}}, t[1]]
    ),
    "is not one choice of ['-1', '0']": lambda d: (d / "labeling_config.xml").write_text(
        (d / "labeling_config.xml").read_text().replace('<Choice value="1"/>', "")
    ),
}


@pytest.mark.parametrize("expected", sorted(BROKEN_TASKS))
def test_tasks_valid_fails_on_broken_tasks(tmp_path: Path, expected: str) -> None:
    upstream, tasks = exported(tmp_path)
    BROKEN_TASKS[expected](Path(tasks))
    result = tasks_valid(tasks, upstream, ["00000"], IMAGE_BASE, only_needs_review=True)
    assert any(expected in p for p in result.problems), result.problems


def reviewed(tmp_path: Path) -> tuple[str, str, dict]:
    from pipelines.faces.review import HumanReview, write_reviewed_shard

    upstream = faces_upstream(tmp_path)
    store = {"k1_f0": HumanReview("k1_f0", "5", "ann@example.org", "2026-11-24T11:00:00Z", {"Smiling": 1})}
    out = str(tmp_path / "face_attributes_reviewed")
    DatasetDir(upstream).write_json("run.json", {"dataset": "face_attributes"})
    write_reviewed_shard(upstream, out, "00000", store)
    return upstream, out, store


def test_label_provenance_passes_the_merged_shard(tmp_path: Path) -> None:
    upstream, out, store = reviewed(tmp_path)
    result = label_provenance(out, upstream, ["00000"], store)
    assert result.passed and result.metadata == {"faces": 3, "human_labels": 1}, result.problems


def _relabel(key: str, name: str, change) -> object:
    def edit(records: dict[str, dict]) -> dict[str, dict]:
        records[key]["attributes"][name] = change(records[key]["attributes"][name])
        return records

    return edit


BROKEN_LABELS = {
    "not reviewed, yet differs from the model's label": _relabel(
        "k0_f0", "Smiling", lambda lab: lab | {"value": -lab["value"]}
    ),
    "reviewed as 1 by 'ann@example.org', but the label is": _relabel(
        "k1_f0", "Smiling", lambda lab: lab | {"value": -1}
    ),
    "keeps None as the model's label": _relabel(
        "k1_f0", "Smiling", lambda lab: {k: v for k, v in lab.items() if k != "model"}
    ),
    "value 2 is not 1, -1 or 0": _relabel("k1_f0", "Smiling", lambda lab: lab | {"value": 2}),
    "differ from upstream's": lambda records: {k: r for k, r in records.items() if k != "k2_f0"},
    "are not upstream's": lambda records: records | {"k2_f0": records["k2_f0"] | {"attributes": {}}},
}


@pytest.mark.parametrize("expected", sorted(BROKEN_LABELS))
def test_label_provenance_fails_on_broken_labels(tmp_path: Path, expected: str) -> None:
    from pipelines.store.reader import ShardReader

    upstream, out, store = reviewed(tmp_path)
    records = BROKEN_LABELS[expected]({s.key: s.record for s in ShardReader(out).samples("00000")})
    broken = DatasetDir(str(tmp_path / "broken"))
    write_records(broken, "00000", [(k, with_json({"jpg": jpeg(32, 32, (0, 0, 0))}, r)) for k, r in records.items()])
    result = label_provenance(broken.url, upstream, ["00000"], store)
    assert any(expected in p for p in result.problems), result.problems


# ---- the Dagster wrappers ----


def test_asset_wrappers_report_each_outcome_as_a_check_result(tmp_path: Path) -> None:
    from assets.retrieval_negatives import _validity
    from assets.text_rendering import _text_audit

    (good,), extra = _validity(negatives_shard(tmp_path / "a", GOOD_NEGATIVES), ["00000"])
    assert good.check_name == "validity" and good.passed and extra["kind_mix"].value["swap-att"] == 1
    bad = BROKEN_NEGATIVES["unknown kind"]
    (broken,), _ = _validity(negatives_shard(tmp_path / "b", [*GOOD_NEGATIVES, bad]), ["00000"])
    assert not broken.passed and broken.metadata["n_problems"].value == 1
    (text,), extra = _text_audit(text_shard(tmp_path / "c", text_sample([SIGN])), ["00000"])
    assert text.check_name == "text" and text.passed and extra["text_lines"] == 1
