"""The versioned attribute schema (``data/attributes_<version>.json``): CelebA's 40 binary attributes plus graded ones.

Every label value is 1 (present), -1 (absent) or 0 (undefined, MAAD-Face's convention). A graded attribute (age bucket,
hair colour) is stored as one label per class, keyed ``"<attribute>=<class>"``: 1 for the chosen class, -1 for the others,
0 for all of them when undefined."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

VALUES = (1, -1, 0)
DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Attribute:
    """One attribute: ``prompts`` maps a value ("1"/"-1" for binary, a class name for graded) to its zero-shot prompts."""

    name: str
    kind: Literal["binary", "graded"]
    prompts: dict[str, tuple[str, ...]]
    classes: tuple[str, ...] = ()
    threshold: float = 0.5

    def label_keys(self) -> tuple[str, ...]:
        return (self.name,) if self.kind == "binary" else tuple(f"{self.name}={c}" for c in self.classes)

    def expand(self, choice: str) -> dict[str, int]:
        """Labels for one reviewed choice: "1"/"-1"/"0" for binary; a class name or "0" (undefined) for graded."""
        if self.kind == "binary":
            value = int(choice)
            if value not in VALUES:
                raise ValueError(f"{self.name}: {choice!r} is not 1, -1 or 0")
            return {self.name: value}
        if choice != "0" and choice not in self.classes:
            raise ValueError(f"{self.name}: {choice!r} is not one of {self.classes} or 0")
        return {f"{self.name}={c}": (0 if choice == "0" else (1 if c == choice else -1)) for c in self.classes}

    def choice_of(self, labels: dict[str, int]) -> str | None:
        """The review choice that ``labels`` amount to (inverse of ``expand``); None if a key is missing."""
        if self.kind == "binary":
            return None if self.name not in labels else str(labels[self.name])
        values = [labels.get(k) for k in self.label_keys()]
        if any(v is None for v in values):
            return None
        chosen = [c for c, v in zip(self.classes, values, strict=True) if v == 1]
        return chosen[0] if len(chosen) == 1 else "0"


@dataclass(frozen=True)
class AttributeSchema:
    name: str
    version: str
    attributes: tuple[Attribute, ...]

    @property
    def id(self) -> str:
        return f"{self.name}-{self.version}"

    def attribute(self, name: str) -> Attribute:
        for a in self.attributes:
            if a.name == name:
                return a
        raise KeyError(f"{name!r} is not an attribute of schema {self.id}")

    def label_keys(self) -> tuple[str, ...]:
        return tuple(k for a in self.attributes for k in a.label_keys())

    def attribute_of(self, label_key: str) -> Attribute:
        return self.attribute(label_key.split("=", 1)[0])


@cache
def load_schema(version: str = "v1") -> AttributeSchema:
    """The schema shipped as ``data/attributes_<version>.json``; raises ValueError when it is malformed."""
    doc = json.loads((DATA_DIR / f"attributes_{version}.json").read_text())
    attrs = []
    for a in doc["attributes"]:
        prompts = {k: tuple(v) for k, v in a["prompts"].items()}
        attr = Attribute(a["name"], a["kind"], prompts, tuple(a.get("classes", ())), float(a.get("threshold", 0.5)))
        expected = {"1", "-1"} if attr.kind == "binary" else set(attr.classes)
        if set(prompts) != expected or not all(prompts.values()):
            raise ValueError(f"attribute {attr.name}: prompt sets {sorted(prompts)} != {sorted(expected)}")
        attrs.append(attr)
    if len({a.name for a in attrs}) != len(attrs):
        raise ValueError("duplicate attribute names")
    return AttributeSchema(doc["name"], doc["version"], tuple(attrs))


@dataclass(frozen=True)
class Label:
    """One attribute label with its provenance: who gave it (a model id or a Label Studio annotator) and, for a human
    label, when (ISO 8601 UTC, Label Studio's). A model label has no time (None): it is a function of the model and the
    input, and a wall-clock time in it would make every rebuild of a shard differ.

    ``confidence`` (model labels): 0 at the decision threshold, 1 at certainty; ``score``: the model's probability."""

    value: int
    source: Literal["model", "human"]
    annotator: str
    time: str | None = None
    confidence: float | None = None
    score: float | None = None

    def __post_init__(self) -> None:
        if self.value not in VALUES:
            raise ValueError(f"label value {self.value!r} is not 1, -1 or 0")

    def to_json(self) -> dict:
        out = {"value": self.value, "source": self.source, "annotator": self.annotator, "time": self.time}
        if self.confidence is not None:
            out |= {
                "confidence": round(self.confidence, 4),
                "score": None if self.score is None else round(self.score, 4),
            }
        return out

    @classmethod
    def from_json(cls, d: dict) -> Label:
        return cls(
            int(d["value"]),
            d["source"],
            str(d["annotator"]),
            None if d.get("time") is None else str(d["time"]),
            d.get("confidence"),
            d.get("score"),
        )
