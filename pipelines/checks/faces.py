"""The face review chain's checks, each against what it was made from: ``tasks_valid`` reads the labeling config XML as
written and the upstream shards; ``label_provenance`` compares every reviewed label with the model's label upstream and
the human review store."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image

from pipelines.checks.base import CheckOutcome, outcome
from pipelines.store.fs import join, open_fs
from pipelines.store.reader import ShardReader

VALUES = (1, -1, 0)


@dataclass(frozen=True)
class LabelingConfig:
    """What a Label Studio labeling config declares: the Image tag's name and data key, and each Choices control."""

    image: str
    image_key: str
    choices: Mapping[str, tuple[str, frozenset[str]]]  # control name -> (toName, allowed values)


def read_labeling_config(xml: str) -> LabelingConfig:
    root = ET.fromstring(xml)
    image = root.find(".//Image")
    if image is None:
        raise ValueError("the labeling config has no Image tag")
    choices = {
        c.get("name", ""): (c.get("toName", ""), frozenset(o.get("value", "") for o in c.iter("Choice")))
        for c in root.iter("Choices")
    }
    return LabelingConfig(image.get("name", ""), image.get("value", "").removeprefix("$"), choices)


def result_problems(result: dict[str, Any], config: LabelingConfig) -> list[str]:
    """One prediction result against the config: a declared control, to the image, one allowed choice."""
    name = result.get("from_name")
    if name not in config.choices:
        return [f"from_name {name!r} is no Choices of the labeling config"]
    to_name, allowed = config.choices[name]
    problems = [] if result.get("to_name") == config.image == to_name else [f"{name}: to_name is not {config.image!r}"]
    picked = (result.get("value") or {}).get("choices") or []
    if result.get("type") != "choices" or len(picked) != 1 or picked[0] not in allowed:
        problems.append(f"{name}: {picked!r} is not one choice of {sorted(allowed)}")
    return problems


def task_problems(task: dict[str, Any], config: LabelingConfig, image_base: str, tasks_url: str) -> list[str]:
    """One task: its image URL under ``image_base`` names a crop that exists and decodes; its predictions fit the config."""
    url = (task.get("data") or {}).get(config.image_key)
    base = image_base.rstrip("/") + "/"
    if not isinstance(url, str) or not url.startswith(base):
        return [f"data.{config.image_key} {url!r} is not under {base}"]
    fs, path = open_fs(join(tasks_url.rstrip("/"), url[len(base) :]))
    problems = []
    if not fs.exists(path):
        problems.append(f"{url} serves no file ({path})")
    else:
        try:
            Image.open(io.BytesIO(fs.cat_file(path))).verify()
        except OSError as e:
            problems.append(f"{url} is not an image: {e}")
    return problems + [
        p for pred in task.get("predictions", []) for r in pred.get("result", []) for p in result_problems(r, config)
    ]


def faces_to_review(upstream_url: str, shard: str, only_needs_review: bool) -> set[str]:
    """The faces of an upstream face_attributes shard that should have a task."""
    samples = ShardReader(upstream_url).samples(shard)
    return {s.key for s in samples if not only_needs_review or s.record.get("needs_review")}


def tasks_valid(
    tasks_url: str, upstream_url: str, shards: list[str], image_base: str, only_needs_review: bool
) -> CheckOutcome:
    """Each shard's ``tasks.json`` holds one task per face to review upstream, each importable with the written config."""
    fs, root = open_fs(tasks_url)
    config = read_labeling_config(fs.cat_file(join(root, "labeling_config.xml")).decode())
    problems, n = [], 0
    for shard in shards:
        tasks = json.loads(fs.cat_file(join(root, shard, "tasks.json")))
        n += len(tasks)
        keys = [(t.get("data") or {}).get("face_key") for t in tasks]
        expected = faces_to_review(upstream_url, shard, only_needs_review)
        if sorted(keys, key=str) != sorted(expected):
            problems.append(
                f"{shard}: tasks for {sorted(map(str, set(keys) - expected))[:5]} extra, {sorted(expected - set(keys))[:5]} missing (or repeated)"
            )
        problems += [
            f"{shard}/task {i}: {p}"
            for i, t in enumerate(tasks)
            for p in task_problems(t, config, image_base, tasks_url)
        ]
    return outcome("tasks_valid", problems, tasks=n)


def label_problems(label: dict[str, Any], model: dict[str, Any] | None, human: tuple[int, str] | None) -> list[str]:
    """One reviewed label against the model's label upstream and the human review (value, annotator), if any."""
    problems = [] if label.get("value") in VALUES else [f"value {label.get('value')!r} is not 1, -1 or 0"]
    if human is None:
        if label != model:
            problems.append(f"not reviewed, yet differs from the model's label upstream ({label} != {model})")
        return problems
    if label.get("source") != "human" or (label.get("value"), label.get("annotator")) != human:
        problems.append(f"reviewed as {human[0]} by {human[1]!r}, but the label is {label}")
    if label.get("model") != model:
        problems.append(f"keeps {label.get('model')} as the model's label, upstream has {model}")
    return problems


def record_problems(
    reviewed: dict[str, Any], upstream: dict[str, Any], human: Mapping[str, tuple[int, str]]
) -> list[str]:
    """Every label of one reviewed face against its upstream record; ``human`` maps label key -> (value, annotator)."""
    labels, before = reviewed.get("attributes", {}), upstream.get("attributes", {})
    problems = [] if set(labels) == set(before) else [f"labels {sorted(labels)} are not upstream's {sorted(before)}"]
    problems += [f"unknown labels {sorted(set(human) - set(before))} were reviewed"] if set(human) - set(before) else []
    for name, label in sorted(labels.items()):
        problems += [f"{name}: {p}" for p in label_problems(label, before.get(name), human.get(name))]
    return problems


def label_provenance(reviewed_url: str, upstream_url: str, shards: list[str], store: Mapping[str, Any]) -> CheckOutcome:
    """``store``: face key -> a review with ``labels`` (label key -> value) and ``annotator`` (``HumanReview``)."""
    problems, faces, human = [], 0, 0
    for shard in shards:
        before = {s.key: s.record for s in ShardReader(upstream_url).samples(shard)}
        after = {s.key: s.record for s in ShardReader(reviewed_url).samples(shard)}
        if set(after) != set(before):
            problems.append(f"{shard}: reviewed faces {sorted(set(after) ^ set(before))[:5]} differ from upstream's")
        for key in sorted(set(after) & set(before)):
            review = store.get(key)
            given = {k: (v, review.annotator) for k, v in review.labels.items()} if review else {}
            human += len(given)
            faces += 1
            problems += [f"{shard}/{key}: {p}" for p in record_problems(after[key], before[key], given)]
    return outcome("label_provenance", problems, faces=faces, human_labels=human)
