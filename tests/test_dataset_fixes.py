"""Regression tests of issue 10's dataset fixes: OCR words filtered before they merge, personalization boxes without an
entity dropped before NMS and tallied, one caption parse, count_words' rules, inflection through the libraries, and face
labels without a wall-clock time."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from models.ocr.base import TextLine
from models.types import Detections, Masks
from pipelines.datasets.personalization import Personalization, PersonalizationConfig
from pipelines.datasets.text_rendering import TextRendering, TextRenderingConfig
from pipelines.faces.prelabel import PrelabelConfig, prelabel
from pipelines.faces.review import provenance_errors
from pipelines.faces.schema import load_schema
from pipelines.negatives.inflect import agree_verb, indefinite_article, is_plural_noun, pluralize, singularize
from pipelines.personalization import entities as entities_module
from pipelines.personalization.counting import counted_caption
from pipelines.personalization.entities import match_phrase, parse_caption
from pipelines.schema import InputSample, Rejected, Written
from pipelines.text.lines import TextRules, merge_words


def _jpeg(width: int, height: int, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 200, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


# ---- text_rendering: the confidence filter comes before the merge ----


def _line(text: str, x0: float, x1: float, score: float) -> TextLine:
    return TextLine(np.array([[x0, 20], [x1, 20], [x1, 80], [x0, 80]], dtype=np.float32), text, score)


class _FakeOCR:
    model_id = "fake-ocr"

    def __init__(self, lines: list[TextLine]) -> None:
        self.lines = lines

    def read(self, images: list[np.ndarray]) -> list[list[TextLine]]:
        return [list(self.lines) for _ in images]


def _text_outcome(lines: list[TextLine]) -> Written | Rejected:
    dataset = TextRendering(TextRenderingConfig())
    dataset.ocr, dataset.rules = _FakeOCR(lines), TextRules()  # set, so setup() builds no OCR engine
    sample = InputSample("sign", {"jpg": _jpeg(400, 200), "txt": b"a shop sign"})
    (outcome,) = dataset.process([sample])
    return outcome


def test_a_low_score_box_is_not_merged_into_a_confident_word():
    outcome = _text_outcome([_line("OPEN", 20, 180, 0.99), _line("#~x", 190, 260, 0.10)])
    assert isinstance(outcome, Written), outcome
    record = json.loads(outcome.files["json"])
    by_text = {x["text"]: x for x in record["text_lines"]}
    assert set(by_text) == {"OPEN", "#~x"}
    assert by_text["OPEN"]["valid"] and by_text["OPEN"]["score"] == 0.99
    assert not by_text["#~x"]["valid"]
    assert record["caption"].endswith('"OPEN"')


def test_a_confident_word_next_to_low_score_noise_is_still_a_confident_line():
    outcome = _text_outcome([_line("SALE", 20, 180, 0.95), _line("~~~~~~~~", 190, 330, 0.10)])
    assert isinstance(outcome, Written), outcome  # merged first, the line scored 0.38: no_confident_line
    assert [x["text"] for x in json.loads(outcome.files["json"])["text_lines"] if x["valid"]] == ["SALE"]


def test_merged_lines_keep_every_word_and_its_score():
    lines = [_line("SALE", 20, 120, 0.95), _line("50%", 130, 200, 0.80), _line("OFF", 210, 290, 0.90)]
    (merged,) = merge_words(lines, min_score=0.5)
    assert merged.text == "SALE 50% OFF"
    assert [(w.text, w.score) for w in merged.words] == [("SALE", 0.95), ("50%", 0.80), ("OFF", 0.90)]
    assert merged.score == pytest.approx((0.95 * 4 + 0.80 * 3 + 0.90 * 3) / 10)
    outcome = _text_outcome(lines)
    (record,) = json.loads(outcome.files["json"])["text_lines"]
    assert [(w["text"], w["score"]) for w in record["words"]] == [("SALE", 0.95), ("50%", 0.8), ("OFF", 0.9)]


# ---- personalization: unmatched boxes, the drop tally, one parse ----


class _FakeDetector:
    model_id = "fake-detector"

    def __init__(self, detections: Detections) -> None:
        self.detections = detections

    def detect(self, images, prompts):
        return [self.detections for _ in images]


class _FakeSegmenter:
    """Masks that fill each box exactly (mask_fill 1)."""

    model_id = "fake-segmenter"

    def segment(self, image: np.ndarray, boxes: np.ndarray) -> Masks:
        masks = np.zeros((len(boxes), *image.shape[:2]), dtype=bool)
        for m, (x0, y0, x1, y1) in zip(masks, boxes.astype(int), strict=True):
            m[y0:y1, x0:x1] = True
        return Masks(masks, np.ones(len(boxes), dtype=np.float32))


CAPTION = "a brown dog on a red sofa next to a cat"


def _personalization(detections: Detections, **config) -> Personalization:
    dataset = Personalization(PersonalizationConfig(min_image_side=64, **config))
    dataset.detector, dataset.segmenter = _FakeDetector(detections), _FakeSegmenter()
    return dataset


def _annotate(dataset: Personalization, caption: str = CAPTION) -> Written | Rejected:
    sample = InputSample("photo", {"jpg": _jpeg(500, 500), "txt": caption.encode()})
    (outcome,) = dataset.process([sample])
    return outcome


def _detections(boxes: list[list[float]], scores: list[float], phrases: list[str]) -> Detections:
    return Detections(np.array(boxes, dtype=np.float32), np.array(scores, dtype=np.float32), phrases)


def test_a_box_without_entity_suppresses_nothing_and_is_tallied():
    det = _detections(
        [[0, 0, 200, 200], [5, 5, 205, 205], [250, 250, 450, 450]],  # box 0 and 1 overlap at IoU 0.95
        [0.9, 0.8, 0.7],
        ["giraffe", "brown dog", "cat"],  # the best box names nothing in the caption
    )
    outcome = _annotate(_personalization(det))
    assert isinstance(outcome, Written), outcome  # before: the giraffe box NMS-suppressed the dog, 1 box left
    record = json.loads(outcome.files["json"])
    assert [e["label"] for e in record["entities"]] == ["dog", "cat"]
    assert record["dropped_boxes"] == {"box_no_entity": 1}
    assert json.loads(outcome.fields["dropped"]) == {"box_no_entity": 1}
    assert outcome.fields["n_detections"] == outcome.fields["n_entities"] + sum(record["dropped_boxes"].values())


def test_every_detection_is_an_entity_or_a_tallied_drop():
    det = _detections(
        [[0, 0, 200, 200], [5, 5, 205, 205], [250, 250, 450, 450], [300, 0, 340, 40], [0, 300, 100, 400]]
        + [[250, 0, 450, 200]],
        [0.9, 0.8, 0.7, 0.9, 0.1, 0.6],
        # kept, NMS, kept, area too small, score too low, and a clean box whose phrase names nothing in the caption
        ["brown dog", "dog", "cat", "sofa", "red sofa", "giraffe"],
    )
    outcome = _annotate(_personalization(det))
    tally = json.loads(outcome.fields["dropped"])
    assert tally == {"box_area_ratio": 1, "box_nms": 1, "box_no_entity": 1, "box_score": 1}
    assert outcome.fields["n_detections"] == 6 == outcome.fields["n_entities"] + sum(tally.values())


def test_a_caption_is_parsed_once(monkeypatch):
    calls = []
    nlp = entities_module.load_nlp()

    def counting_nlp(text):
        calls.append(text)
        return nlp(text)

    monkeypatch.setattr(entities_module, "load_nlp", lambda: counting_nlp)
    det = _detections([[0, 0, 200, 200], [250, 250, 450, 450]], [0.9, 0.8], ["brown dog", "cat"])
    assert isinstance(_annotate(_personalization(det)), Written)
    assert calls == [CAPTION]


def test_count_words_in_a_build_moves_the_spans():
    det = _detections([[0, 0, 200, 200], [250, 250, 450, 450], [0, 250, 200, 450]], [0.9, 0.8, 0.7], ["dog"] * 3)
    outcome = _annotate(_personalization(det, count_words=True), "a dog on a red sofa next to a cat")
    record = json.loads(outcome.files["json"])
    assert record["caption"] == "three dogs on a red sofa next to a cat" == outcome.files["txt"].decode()
    assert record["original_caption"] == "a dog on a red sofa next to a cat"
    assert all(record["caption"][slice(*e["span"])].lower() == e["phrase"] == "dogs" for e in record["entities"])


@pytest.mark.parametrize(
    ("caption", "detected", "expected"),
    [
        # one box per mention: nothing to count
        ("a black dog and a white dog", ["black dog", "white dog"], "a black dog and a white dog"),
        # two boxes for one mention: counted; the other mention (other modifier) stays
        ("a black dog and a white dog", ["black dog", "black dog", "white dog"], "two black dogs and a white dog"),
        # a numeral already counts the phrase, and a plural is never pluralised again
        ("two dogs on a red sofa", ["dogs", "dogs"], "two dogs on a red sofa"),
        ("several cups and a pair of shoes", ["cups", "cups", "shoes", "shoes"], "several cups and a pair of shoes"),
        # a bare plural gets its count; "the" stays in front of it; case of the first word is kept
        ("dogs in a park", ["dogs", "dogs", "dogs"], "three dogs in a park"),
        ("The dog near a bus", ["dog", "dog", "bus", "bus"], "The two dogs near two buses"),
        # irregular and invariant plurals from the library
        ("a woman with a child", ["woman", "child", "child"], "a woman with two children"),
        ("a sheep on a hill", ["sheep", "sheep"], "two sheep on a hill"),
        # the caption names the phrase twice: which mention the boxes belong to is unknown, so nothing changes
        ("a man and a man", ["man", "man"], "a man and a man"),
        # a determiner that does not take a count
        ("my dog on a sofa", ["dog", "dog"], "my dog on a sofa"),
    ],
)
def test_count_words_rules(caption: str, detected: list[str], expected: str):
    entities = parse_caption(caption).entities
    counted = counted_caption(caption, entities, [match_phrase(d, entities) for d in detected])
    assert counted.caption == expected
    assert [counted.caption[slice(*e.span)].lower() for e in counted.entities] == [e.phrase for e in counted.entities]


# ---- inflection from the libraries ----


def test_inflection_never_pluralises_a_plural():
    assert [pluralize(w) for w in ("dogs", "Dogs", "people", "children", "jeans")] == [
        "dogs",
        "Dogs",
        "people",
        "children",
        "jeans",
    ]
    assert [pluralize(w) for w in ("glass", "lens", "cactus", "fish", "bus")] == [
        "glasses",
        "lenses",
        "cactuses",
        "fish",
        "buses",
    ]
    assert [singularize(w) for w in ("doughnuts", "peacocks", "bus", "lens", "jeans", "geese")] == [
        "doughnut",
        "peacock",
        "bus",
        "lens",
        "jeans",
        "goose",
    ]
    assert [is_plural_noun(w) for w in ("dogs", "dog", "sheep", "scissors", "people")] == [
        True,
        False,
        False,
        True,
        True,
    ]


def test_articles_and_verbs_from_the_libraries():
    assert [indefinite_article(w) for w in ("FBI", "euro", "honest", "11", "100", "x-ray")] == [
        "an",
        "a",
        "an",
        "an",
        "a",
        "an",
    ]
    assert [agree_verb(v, True) for v in ("was", "has", "passes", "Is", "sat")] == [
        "were",
        "have",
        "pass",
        "Are",
        "sat",
    ]
    assert [agree_verb(v, False) for v in ("were", "have", "watch", "read")] == ["was", "has", "watches", "reads"]


# ---- face labels carry no wall-clock time ----


def test_model_labels_have_no_time_and_pass_provenance():
    schema = load_schema()
    probs = {
        a.name: ({"1": 0.9, "-1": 0.1} if a.kind == "binary" else {c: 1 / len(a.classes) for c in a.classes})
        for a in schema.attributes
    }
    labels, _ = prelabel(probs, schema, PrelabelConfig(), "clip-random")
    assert {lab.time for lab in labels.values()} == {None}
    record = {"key": "k", "attributes": {k: lab.to_json() for k, lab in labels.items()}}
    assert provenance_errors([record]) == []
    human = dict(record["attributes"]["Smiling"], source="human", time=None, model={})
    assert provenance_errors([{"key": "k", "attributes": {"Smiling": human}}])  # a person's label needs its time
