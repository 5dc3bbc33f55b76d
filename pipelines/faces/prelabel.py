"""Pre-labels from zero-shot probabilities: per-attribute thresholds, a confidence, and which labels need a person."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from pipelines.faces.schema import Attribute, AttributeSchema, Label


class PrelabelConfig(BaseModel):
    """``thresholds`` override the schema's per-attribute ones (probability of "1" at or above which the label is 1);
    a model label whose confidence is below ``review_below`` goes to human review."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    thresholds: dict[str, float] = {}
    review_below: float = 0.5


def _binary(attr: Attribute, probs: dict[str, float], threshold: float) -> tuple[dict[str, int], float, float]:
    p = probs["1"]
    if p >= threshold:
        return {attr.name: 1}, (p - threshold) / max(1 - threshold, 1e-9), p
    return {attr.name: -1}, (threshold - p) / max(threshold, 1e-9), p


def _graded(attr: Attribute, probs: dict[str, float]) -> tuple[dict[str, int], float, float]:
    ranked = sorted(attr.classes, key=lambda c: -probs[c])
    top, second = probs[ranked[0]], probs[ranked[1]] if len(ranked) > 1 else 0.0
    return attr.expand(ranked[0]), top - second, top


def prelabel(
    probs: dict[str, dict[str, float]],
    schema: AttributeSchema,
    config: PrelabelConfig,
    model_id: str,
    time: str | None = None,
) -> tuple[dict[str, Label], list[str]]:
    """Labels by label key from attribute -> option -> probability, and the attributes (not keys) that need review.

    Binary: 1 when P("1") >= threshold, confidence = distance past the threshold scaled to [0, 1]. Graded: the most
    probable class is 1, the others -1, confidence = the margin between the two most probable classes. ``time`` stays
    None in the datasets (see ``Label``)."""
    labels: dict[str, Label] = {}
    review: list[str] = []
    for attr in schema.attributes:
        if attr.kind == "binary":
            values, conf, score = _binary(attr, probs[attr.name], config.thresholds.get(attr.name, attr.threshold))
        else:
            values, conf, score = _graded(attr, probs[attr.name])
        option_probs = probs[attr.name]
        for key, value in values.items():
            p = score if attr.kind == "binary" else option_probs[key.split("=", 1)[1]]
            labels[key] = Label(value, "model", model_id, time, conf, p)
        if conf < config.review_below:
            review.append(attr.name)
    return labels, review
