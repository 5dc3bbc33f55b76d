"""Tests for caption parsing, attribute detection, vocabularies and inflection in pipelines.negatives."""

from __future__ import annotations

import json

import pytest

from pipelines.negatives import VOCAB_VERSION, attribute_words
from pipelines.negatives.attributes import find_counts
from pipelines.negatives.inflect import agree_verb, indefinite_article, match_case, pluralize, singularize
from pipelines.negatives.parse import load_nlp, parse_caption, parse_captions
from pipelines.negatives.vocab import DATA_DIR, load_vocabulary


def test_words_and_phrases_index_the_caption() -> None:
    caption = "A man riding a red motorcycle down a dirt road."
    parsed = parse_caption(caption)
    assert all(caption[w.start : w.end] == w.text for w in parsed.words)
    assert [p.text for p in parsed.phrases] == ["A man", "a red motorcycle", "a dirt road"]
    assert all(caption[p.start : p.end] == p.text for p in parsed.phrases)
    bike = parsed.phrases[1]
    assert (bike.head.text, bike.determiner.text if bike.determiner else None) == ("motorcycle", "a")
    assert [m.text for m in bike.modifiers] == ["red"]
    assert [m.text for m in parsed.phrases[2].modifiers] == ["dirt"]


def test_numerals_and_plural_heads() -> None:
    parsed = parse_caption("Three brown dogs sit next to 2 cats.")
    dogs, cats = parsed.phrases
    assert [n.text for n in dogs.numerals] == ["Three"] and dogs.head.is_plural
    assert [n.text for n in cats.numerals] == ["2"] and cats.head.text == "cats"


def test_model_is_loaded_once_without_ner() -> None:
    assert load_nlp() is load_nlp()
    assert "ner" not in load_nlp().pipe_names


def test_title_case_caption_keeps_original_text() -> None:
    caption = "A Red Car On The Street Next To A Blue Bus"
    parsed = parse_caption(caption)
    assert parsed.case_normalised and parsed.text == caption
    assert [a.text for a in attribute_words(caption)] == ["Red", "Blue"]


def test_batch_parse_matches_single_parse() -> None:
    captions = ["a gray cat", "Two dogs on a wooden bench."]
    assert parse_captions(captions) == [parse_caption(c) for c in captions]


@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        ("A black-and-white photo of a train.", [("black-and-white", "colour")]),
        ("The bus is red and white.", [("red", "colour"), ("white", "colour")]),
        ("A light blue wooden bench", [("light", "tone"), ("blue", "colour"), ("wooden", "material")]),
        ("An orange on a striped towel", [("striped", "pattern")]),
        ("A man holding a hot dog near a traffic light", []),
        ("A golden retriever in New York", []),
        ("an old man next to an old car", [("old", "age"), ("old", "condition")]),
        ("A woman dressed in red", [("red", "colour")]),
        ("A 3 year old boy with a kite", []),
        ("A table made of wood", [("wood", "material")]),
    ],
)
def test_attribute_words(caption: str, expected: list[tuple[str, str]]) -> None:
    found = attribute_words(caption)
    assert [(a.text, a.category) for a in found] == expected
    assert all(caption[a.start : a.end] == a.text for a in found)


def test_attribute_head_nouns() -> None:
    found = attribute_words("A red car and a bus that is blue.")
    assert [(a.text, a.head) for a in found] == [("red", "car"), ("blue", "bus")]


def test_colour_words_on_people_are_not_attributes() -> None:
    assert [a.text for a in attribute_words("A black man in a white shirt")] == ["white"]


def test_counts_read_articles_and_numerals() -> None:
    parsed = parse_caption("A dog and 3 cats on a lot of grass")
    counts = [(c.word.text, c.value, c.noun.text, c.is_article) for c in find_counts(parsed, load_vocabulary())]
    assert counts == [("A", 1, "dog", True), ("3", 3, "cats", False)]


def test_vocabulary_files_are_versioned_and_consistent() -> None:
    for path in DATA_DIR.glob("*.json"):
        assert json.loads(path.read_text())["version"] in VOCAB_VERSION
    vocab = load_vocabulary()
    names = {c.name for c in vocab.categories}
    assert {"colour", "material", "size", "shape", "pattern", "texture", "state", "age"} <= names
    for category in vocab.categories:
        canon = {g[0] for g in category.groups}
        for confusable in category.confusable:
            assert set(confusable.words) <= canon, (category.name, set(confusable.words) - canon)


def test_synonyms_are_never_replacements() -> None:
    vocab = load_vocabulary()
    colour, size = vocab.category("colour"), vocab.category("size")
    assert "grey" not in colour.replacements("gray", "thing") and "gray" not in colour.replacements("grey", "thing")
    assert not {"big", "large", "huge"} & set(size.replacements("big", "thing"))
    assert not {"small", "little", "tiny"} & set(size.replacements("tiny", "thing"))
    for category in vocab.categories:
        for group in category.groups:
            for word in group:
                assert not set(category.replacements(word, "thing")) & category.synonyms(word)


@pytest.mark.parametrize(
    ("singular", "plural"),
    [
        ("dog", "dogs"),
        ("box", "boxes"),
        ("baby", "babies"),
        ("man", "men"),
        ("person", "people"),
        ("bus", "buses"),
        ("child", "children"),
        ("knife", "knives"),
        ("sheep", "sheep"),
        ("policeman", "policemen"),
        ("toy", "toys"),
        ("Dog", "Dogs"),
        ("tomato", "tomatoes"),
        ("church", "churches"),
    ],
)
def test_inflection_round_trip(singular: str, plural: str) -> None:
    assert pluralize(singular) == plural
    assert singularize(plural) == singular


def test_articles_verbs_and_case() -> None:
    assert [indefinite_article(w) for w in ["orange", "red", "umbrella", "unicorn", "hour", "one", "8"]] == [
        "an",
        "a",
        "an",
        "a",
        "an",
        "a",
        "an",
    ]
    assert (agree_verb("is", True), agree_verb("sits", True), agree_verb("are", False), agree_verb("sit", False)) == (
        "are",
        "sit",
        "is",
        "sits",
    )
    assert (match_case("Red", "blue"), match_case("RED", "blue"), match_case("red", "blue")) == ("Blue", "BLUE", "blue")
