"""Pure parts of the face pipeline: alignment, quality filters, attribute schema, pre-labels, captions, agreement."""

from __future__ import annotations

import numpy as np
import pytest

from models.faces import AlignConfig, Face, align_face
from models.faces.align import similarity, template
from pipelines.faces.agreement import agreement_report
from pipelines.faces.caption import caption
from pipelines.faces.filters import Candidate, FilterConfig, first_rejection, pose
from pipelines.faces.prelabel import PrelabelConfig, prelabel
from pipelines.faces.review import HumanReview, apply_review
from pipelines.faces.schema import Label, load_schema

CFG = AlignConfig(size=112, margin=0.25)


def _face_image(rng: np.random.Generator, size: int = 400) -> np.ndarray:
    return rng.integers(0, 255, (size, size, 3), dtype=np.uint8)


def _landmarks(center: tuple[float, float], scale: float, angle_deg: float) -> np.ndarray:
    """The alignment template moved to ``center``, scaled and rotated: a face with a known pose."""
    t = template(CFG) - CFG.size / 2
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return t @ rot.T * scale + np.array(center)


def _candidate(image: np.ndarray, marks: np.ndarray, faces: int = 1) -> Candidate:
    box = (*marks.min(0) - 20, *marks.max(0) + 20)
    face = Face(tuple(float(v) for v in box), 0.99, marks)
    return Candidate(face, align_face(image, face.box, marks, CFG), faces)


def test_similarity_recovers_a_known_transform_and_alignment_puts_landmarks_on_the_template():
    marks = _landmarks((200, 180), 1.7, 20)
    m = similarity(marks, template(CFG))
    assert np.allclose(marks @ m[:, :2].T + m[:, 2], template(CFG), atol=1e-6)
    aligned = align_face(_face_image(np.random.default_rng(0)), (100, 80, 300, 300), marks, CFG)
    assert aligned.image.shape == (112, 112, 3)
    assert np.allclose(aligned.landmarks, template(CFG), atol=1e-6)
    assert aligned.out_of_bounds == 0.0
    x0, y0, x1, y1 = aligned.box
    assert 0 <= x0 < x1 <= 112 and 0 <= y0 < y1 <= 112


def test_each_filter_rejects_with_its_own_reason():
    rng = np.random.default_rng(0)
    image, cfg = _face_image(rng), FilterConfig()
    assert first_rejection(_candidate(image, _landmarks((200, 200), 1.5, 0)), cfg) is None
    cases = {
        "too_many_faces": _candidate(image, _landmarks((200, 200), 1.5, 0), faces=9),
        "face_too_small": _candidate(image, _landmarks((200, 200), 0.05, 0)),
        "crop_out_of_bounds": _candidate(image, _landmarks((10, 10), 1.5, 0)),
        "blurred": _candidate(np.full((400, 400, 3), 128, np.uint8), _landmarks((200, 200), 1.5, 0)),
    }
    profile = _landmarks((200, 200), 1.5, 0)
    profile[2, 0] = profile[1, 0] + 30  # nose beyond the far eye: a profile view
    cases["extreme_pose"] = _candidate(image, profile)
    for reason, cand in cases.items():
        assert first_rejection(cand, cfg)[0] == reason, reason
    yaw, pitch = pose(_landmarks((0, 0), 1.0, 35))
    assert abs(yaw) < 0.01 and 0.3 < pitch < 0.7  # roll alone is not a pose problem


def test_schema_has_celeba_40_and_graded_attributes_with_values_1_minus1_0():
    schema = load_schema("v1")
    binary = [a for a in schema.attributes if a.kind == "binary"]
    assert len(binary) == 40 and {"Smiling", "Eyeglasses", "Male", "Young", "5_o_Clock_Shadow"} <= {
        a.name for a in binary
    }
    age = schema.attribute("age_bucket")
    assert age.kind == "graded" and "20-29" in age.classes and schema.attribute("hair_colour").kind == "graded"
    assert age.choice_of(age.expand("20-29")) == "20-29" and set(age.expand("0").values()) == {0}
    assert schema.attribute("Smiling").expand("-1") == {"Smiling": -1}
    with pytest.raises(ValueError):
        schema.attribute("Smiling").expand("2")
    with pytest.raises(ValueError):
        Label(2, "model", "m", "t")


def _probs(schema, smiling: float) -> dict:
    out = {a.name: {"1": 0.5, "-1": 0.5} for a in schema.attributes if a.kind == "binary"}
    out["Smiling"] = {"1": smiling, "-1": 1 - smiling}
    for a in schema.attributes:
        if a.kind == "graded":
            p = np.full(len(a.classes), 0.5 / (len(a.classes) - 1))
            p[1] = 0.5
            out[a.name] = dict(zip(a.classes, p.tolist(), strict=True))
    return out


def test_prelabel_thresholds_confidence_and_review():
    schema = load_schema()
    labels, review = prelabel(_probs(schema, 0.95), schema, PrelabelConfig(review_below=0.5), "clip-random", "t0")
    assert labels["Smiling"].value == 1 and labels["Smiling"].confidence == pytest.approx(0.9)
    assert labels["Smiling"].source == "model" and labels["Smiling"].annotator == "clip-random"
    assert "Smiling" not in review and "Eyeglasses" in review  # p = 0.5 sits on the threshold: confidence 0
    assert labels["age_bucket=3-9"].value == 1 and labels["age_bucket=0-2"].value == -1
    strict, _ = prelabel(_probs(schema, 0.95), schema, PrelabelConfig(thresholds={"Smiling": 0.97}), "m", "t0")
    assert strict["Smiling"].value == -1


def test_caption_from_attributes():
    values = {"Smiling": 1, "Male": -1, "Blond_Hair": 1, "Eyeglasses": 1, "Wearing_Hat": -1}
    assert caption(values) == "a photo of a smiling woman with blond hair wearing eyeglasses"
    assert caption({"Male": 0}) == "a photo of a person"
    assert (
        caption({"Male": 1, "age_bucket=70+": 1, "hair_colour=gray": 1}) == "a photo of an elderly man with gray hair"
    )


def test_agreement_counts_model_vs_human_on_reviewed_faces():
    schema = load_schema()
    labels, _ = prelabel(_probs(schema, 0.9), schema, PrelabelConfig(), "m", "t0")
    base = {"attributes": {k: v.to_json() for k, v in labels.items()}, "needs_review": []}
    records = [base | {"key": "a"}, base | {"key": "b"}, base | {"key": "c"}]
    records[0] = apply_review(records[0], HumanReview("a", "1", "ann", "t1", {"Smiling": -1}))
    records[1] = apply_review(records[1], HumanReview("b", "2", "ann", "t1", {"Smiling": 1}))
    report = agreement_report(records, schema)
    smiling = report["attributes"]["Smiling"]
    assert smiling["reviewed"] == 2 and smiling["accuracy"] == 0.5 and smiling["changed"] == 1
    assert smiling["balance"] == {"-1": 1, "1": 2} and smiling["coverage"] == 1.0
    assert report["attributes"]["Male"]["reviewed"] == 0 and report["attributes"]["Male"]["accuracy"] is None
