"""Human review with Label Studio: export tasks (image, one Choices per attribute, model pre-annotations) and the labeling
config; read its JSON export back into a store of human labels; merge those over the model's labels, keeping provenance.

Formats (labelstud.io/guide/predictions, /guide/task_format): an import is a list of tasks ``{"data": {...},
"predictions": [{"model_version", "score", "result": [{"from_name", "to_name", "type": "choices", "value": {"choices":
[...]}}]}]}``; an export is the same tasks with ``"id"`` and ``"annotations": [{"id", "completed_by", "result",
"created_at", "updated_at", "was_cancelled", ...}]``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any
from xml.sax.saxutils import quoteattr

from pipelines.faces.caption import caption, face_label
from pipelines.faces.schema import AttributeSchema, Label

IMAGE = "image"  # the name of the Image object tag, and the task data key holding the image URL
BINARY_CHOICES = ("1", "-1", "0")
_PATH_PART = re.compile(r"[A-Za-z0-9_-]+")  # a contract key: no dot, no slash, so never "..", "/abs" or "a/../../b"


class UnsafeKey(ValueError):
    """A tar key or shard name that cannot be a file name inside the export folder (``../../evil``, ``/etc/x``)."""


def labeling_config(schema: AttributeSchema) -> str:
    """Label Studio labeling config XML: the face crop, then one single-choice control per attribute."""
    lines = [
        "<View>",
        f'  <Image name="{IMAGE}" value="${IMAGE}" zoom="true"/>',
        '  <Header value="1 = present, -1 = absent, 0 = cannot tell"/>',
    ]
    for attr in schema.attributes:
        options = BINARY_CHOICES if attr.kind == "binary" else (*attr.classes, "0")
        lines.append(f'  <Choices name={quoteattr(attr.name)} toName="{IMAGE}" choice="single" showInline="true">')
        lines += [f"    <Choice value={quoteattr(o)}/>" for o in options]
        lines.append("  </Choices>")
    return "\n".join([*lines, "</View>", ""])


def _result(face_key: str, attr: str, choice: str) -> dict[str, Any]:
    return {
        "id": f"{face_key}-{attr}"[-40:],
        "from_name": attr,
        "to_name": IMAGE,
        "type": "choices",
        "value": {"choices": [choice]},
    }


def task_for(
    face_key: str, shard: str, record: dict[str, Any], image_url: str, schema: AttributeSchema
) -> dict[str, Any]:
    """One import task: the crop's URL and its keys in ``data``; the model's labels as one prediction."""
    values = {k: v["value"] for k, v in record["attributes"].items()}
    model_ids = {v["annotator"] for v in record["attributes"].values() if v["source"] == "model"}
    confidences = [v["confidence"] for v in record["attributes"].values() if v.get("confidence") is not None]
    results = []
    for attr in schema.attributes:
        choice = attr.choice_of(values)
        if choice is not None:
            results.append(_result(face_key, attr.name, choice))
    data = {
        IMAGE: image_url,
        "face_key": face_key,
        "shard": shard,
        "attribute_schema": schema.id,
        "needs_review": ", ".join(record.get("needs_review", [])),
    }
    prediction = {
        "model_version": ",".join(sorted(model_ids)) or "none",
        "score": round(min(confidences), 4) if confidences else 0.0,
        "result": results,
    }
    return {"data": data, "predictions": [prediction]}


@dataclass(frozen=True)
class HumanReview:
    """The labels one person gave one face in one Label Studio annotation (the latest that was not cancelled)."""

    face_key: str
    annotation_id: str
    annotator: str
    time: str
    labels: dict[str, int]

    def order(self) -> tuple[str, str]:
        return self.time, self.annotation_id


def _annotator(completed_by: Any) -> str:
    """``completed_by`` is a user id in Label Studio's JSON export, or a user object in some versions."""
    if isinstance(completed_by, dict):
        return str(completed_by.get("email") or completed_by.get("id"))
    return str(completed_by)


def read_export(tasks: list[dict[str, Any]], schema: AttributeSchema) -> dict[str, HumanReview]:
    """Human reviews by face key from a Label Studio JSON export; tasks without a live annotation are skipped.

    Raises ValueError on a choice the schema does not allow (a changed labeling config, not a bad sample)."""
    names = {a.name for a in schema.attributes}
    out: dict[str, HumanReview] = {}
    for task in tasks:
        key = task["data"]["face_key"]
        live = [a for a in task.get("annotations", []) if not a.get("was_cancelled")]
        if not live:
            continue
        ann = max(live, key=lambda a: (str(a.get("updated_at") or a.get("created_at")), str(a["id"])))
        labels: dict[str, int] = {}
        for r in ann.get("result", []):
            if r.get("type") == "choices" and r.get("from_name") in names and r["value"].get("choices"):
                labels |= schema.attribute(r["from_name"]).expand(str(r["value"]["choices"][0]))
        review = HumanReview(
            key,
            str(ann["id"]),
            _annotator(ann.get("completed_by")),
            str(ann.get("updated_at") or ann.get("created_at")),
            labels,
        )
        out[key] = merge_reviews({key: out[key]}, {key: review})[key] if key in out else review
    return out


def merge_reviews(store: dict[str, HumanReview], new: dict[str, HumanReview]) -> dict[str, HumanReview]:
    """The later review of each face wins (by time, then annotation id): importing the same export twice changes nothing."""
    merged = dict(store)
    for key, review in new.items():
        if key not in merged or review.order() >= merged[key].order():
            merged[key] = review
    return merged


def dump_store(store: dict[str, HumanReview]) -> bytes:
    return json.dumps({"faces": {k: asdict(v) for k, v in sorted(store.items())}}, sort_keys=True, indent=1).encode()


def load_store(data: bytes) -> dict[str, HumanReview]:
    return {k: HumanReview(**v) for k, v in json.loads(data)["faces"].items()}


def apply_review(record: dict[str, Any], review: HumanReview | None) -> dict[str, Any]:
    """A copy of a face record with the human labels over the model's: each reviewed label becomes source "human" with
    its annotator and time, and keeps the model's label under ``"model"``; the caption is rebuilt from the final values."""
    if review is None:
        return record
    attrs = {}
    for key, entry in record["attributes"].items():
        model = entry.get("model", entry) if entry["source"] == "human" else entry
        if key in review.labels:
            attrs[key] = Label(review.labels[key], "human", review.annotator, review.time).to_json() | {"model": model}
        else:
            attrs[key] = entry
    reviewed = {k.split("=", 1)[0] for k in review.labels}
    values = {k: v["value"] for k, v in attrs.items()}
    faces = [f | {"label": face_label(f.get("score", 0.0), values)} for f in record.get("faces", [])]
    return record | {
        "attributes": attrs,
        "caption": caption(values),
        "faces": faces,
        "needs_review": [a for a in record.get("needs_review", []) if a not in reviewed],
        "review": {"annotation_id": review.annotation_id, "annotator": review.annotator, "time": review.time},
    }


def changed_labels(
    before: Iterable[dict[str, Any]], after: Iterable[dict[str, Any]]
) -> dict[str, dict[str, tuple[int, int]]]:
    """Face key -> label key -> (old, new) value for every label whose value differs between two sets of records."""
    old = {r["key"]: r for r in before}
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for r in after:
        diff = {
            k: (old[r["key"]]["attributes"][k]["value"], v["value"])
            for k, v in r["attributes"].items()
            if old[r["key"]]["attributes"][k]["value"] != v["value"]
        }
        if diff:
            out[r["key"]] = diff
    return out


# ---- shards in, review files and reviewed shards out ----


def _write(fs: Any, path: str, data: bytes) -> None:
    from pipelines.store.fs import write_bytes_atomic

    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    write_bytes_atomic(fs, path, data)


def _export_name(shard: str, key: str) -> str:
    """``<shard>/images/<key>.jpg``, refusing any shard or key that is not a plain contract key (it could escape OUT)."""
    for what, part in (("shard", shard), ("key", key)):
        if not _PATH_PART.fullmatch(part):
            raise UnsafeKey(f"refusing {what} {part!r} (shard {shard}): not [A-Za-z0-9_-]+, it could write outside OUT")
    return f"{shard}/images/{key}.jpg"


def export_review(
    dataset_url: str,
    out_url: str,
    schema: AttributeSchema,
    shards: list[str],
    image_base: str,
    only_needs_review: bool = True,
) -> dict[str, int]:
    """Write ``<out>/labeling_config.xml`` and, per shard, ``<out>/<shard>/tasks.json`` (Label Studio import) plus the crops
    as ``<out>/<shard>/images/<key>.jpg``, served to Label Studio as ``<image_base>/<shard>/images/<key>.jpg``.
    Returns tasks written by shard. Raises ``UnsafeKey`` on a tar key that is not a contract key (a crafted or foreign
    tar): nothing is written outside ``out``."""
    from pipelines.store.fs import join, open_fs
    from pipelines.store.reader import ShardReader

    fs, root = open_fs(out_url)
    _write(fs, join(root, "labeling_config.xml"), labeling_config(schema).encode())
    reader, counts = ShardReader(dataset_url), {}
    for shard in shards:
        tasks = []
        for s in reader.samples(shard):
            record = s.record
            if only_needs_review and not record.get("needs_review"):
                continue
            name = _export_name(shard, s.key)
            _write(fs, join(root, name), s.files["jpg"])
            tasks.append(task_for(s.key, shard, record, f"{image_base.rstrip('/')}/{name}", schema))
        _write(fs, join(root, shard, "tasks.json"), json.dumps(tasks, indent=1, sort_keys=True).encode())
        counts[shard] = len(tasks)
    return counts


def import_exports(export_urls: list[str], store_url: str, schema: AttributeSchema) -> dict[str, HumanReview]:
    """Merge Label Studio JSON exports into the store at ``store_url`` (created when missing); returns the new store."""
    from pipelines.store.fs import open_fs

    fs, path = open_fs(store_url)
    store = load_store(fs.cat_file(path)) if fs.exists(path) else {}
    for url in export_urls:
        efs, epath = open_fs(url)
        store = merge_reviews(store, read_export(json.loads(efs.cat_file(epath)), schema))
    _write(fs, path, dump_store(store))
    return store


def write_reviewed_shard(dataset_url: str, out_url: str, shard: str, store: dict[str, HumanReview]) -> dict[str, Any]:
    """Rewrite one committed ``face_attributes`` shard with the human labels merged in, as a shard of ``out_url`` (always
    rebuilt: the store changes between runs). Every manifest row is carried over; ok rows get their merged record."""
    import pyarrow as pa

    from pipelines.datasets.face_attributes import FaceAttributes
    from pipelines.schema import BASE_COLUMNS, Failed, Rejected, Written
    from pipelines.store.layout import DatasetDir
    from pipelines.store.reader import ShardReader
    from pipelines.store.writer import ShardWriter

    reader, out = ShardReader(dataset_url), DatasetDir(out_url)
    src_stats = reader.stats(shard)
    out.ensure()
    if out.is_done(shard):
        out.fs.rm(out.stats(shard))
    samples = {s.key: s for s in reader.samples(shard)}
    fields = FaceAttributes.fields.append(pa.field("reviewed", pa.bool_()))
    rows = reader.manifest(shard).to_pylist()
    with ShardWriter(out, shard, fields) as writer:
        for row in rows:
            extra = {k: v for k, v in row.items() if k not in BASE_COLUMNS}
            if row["status"] == "ok":
                record = apply_review(samples[row["key"]].record, store.get(row["key"]))
                files = dict(samples[row["key"]].files) | {
                    "json": json.dumps(record, sort_keys=True, ensure_ascii=False).encode(),
                    "txt": record["caption"].encode(),
                }
                extra |= {
                    "caption": record["caption"],
                    "needs_review": record["needs_review"],
                    "reviewed": "review" in record,
                }
                writer.add(Written(row["key"], row["source_key"], files, extra))
            else:
                cls = Rejected if row["status"] == "rejected" else Failed
                writer.add(cls(row["key"], row["source_key"], row["reason"], row["detail"] or "", extra))
        stats = writer.commit(
            dataset="face_attributes_reviewed",
            inputs=src_stats["inputs"],
            input_keys={r["source_key"] for r in rows},
            models=src_stats.get("models", {}),
            config_sha256=src_stats.get("config_sha256"),
            code_version=src_stats.get("code_version"),
            source=dataset_url,
        )
    run = DatasetDir(dataset_url).read_json("run.json") | {
        "dataset": "face_attributes_reviewed",
        "reviewed_from": dataset_url,
    }
    out.write_json("run.json", run)
    out.write_sizes()
    return stats.to_dict()


# ---- checks ----


def task_errors(tasks: list[dict[str, Any]], schema: AttributeSchema) -> list[str]:
    """What in a task list would not import into a project with ``labeling_config(schema)``; empty when all is well."""
    errors = []
    for i, t in enumerate(tasks):
        if not isinstance(t.get("data"), dict) or not isinstance(t["data"].get(IMAGE), str):
            errors.append(f"task {i}: data.{IMAGE} is not a URL string")
        for p in t.get("predictions", []):
            for r in p.get("result", []):
                try:
                    attr = schema.attribute(r["from_name"])
                    choice = r["value"]["choices"][0]
                    attr.expand(choice)
                except (KeyError, IndexError, ValueError, TypeError) as e:
                    errors.append(f"task {i}: bad result {r!r}: {e}")
                    continue
                if r.get("to_name") != IMAGE or r.get("type") != "choices":
                    errors.append(f"task {i}: result {r['from_name']} must be type choices to {IMAGE}")
    return errors


def provenance_errors(records: list[dict[str, Any]]) -> list[str]:
    """Labels whose value is not 1/-1/0, that lack a source or annotator, or human labels without a time (model labels
    carry none: see ``Label``)."""
    errors = []
    for r in records:
        for k, lab in r.get("attributes", {}).items():
            if (
                lab.get("value") not in (1, -1, 0)
                or lab.get("source") not in ("model", "human")
                or not lab.get("annotator")
                or (lab["source"] == "human" and not lab.get("time"))
            ):
                errors.append(f"{r.get('key')}.{k}: {lab}")
            elif lab["source"] == "human" and "model" not in lab:
                errors.append(f"{r.get('key')}.{k}: human label without the model's")
    return errors
