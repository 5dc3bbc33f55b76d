"""Writes a deterministic file of templated, COCO-style captions (one a line) for the retrieval_negatives benchmark."""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

COLOURS = ["red", "blue", "green", "yellow", "white", "black", "brown", "gray", "orange", "pink", "purple", "silver"]
SIZES = ["small", "large", "big", "little", "tiny", "tall", "short", "huge"]
MATERIALS = ["wooden", "metal", "plastic", "glass", "stone", "brick", "leather", "ceramic", "paper"]
STATES = ["empty", "open", "closed", "wet", "dirty", "clean", "old", "new", "broken", "sliced"]
PATTERNS = ["striped", "spotted", "checkered", "plaid", "floral", "plain"]
PEOPLE = ["man", "woman", "boy", "girl", "person", "child", "skier", "surfer", "chef", "player"]
ANIMALS = ["dog", "cat", "horse", "cow", "sheep", "giraffe", "elephant", "zebra", "bird", "bear"]
THINGS = [
    "car",
    "truck",
    "bus",
    "bike",
    "table",
    "chair",
    "bench",
    "umbrella",
    "kite",
    "plate",
    "cup",
    "box",
    "vase",
    "clock",
    "laptop",
    "bag",
    "boat",
    "train",
    "sign",
    "pizza",
]
PLACES = ["street", "field", "beach", "kitchen", "park", "road", "room", "table", "counter", "bridge", "grass"]
ACTIONS = ["sitting on", "standing next to", "walking along", "parked near", "lying on", "looking at", "riding"]
WEARS = ["shirt", "jacket", "dress", "hat", "helmet", "coat", "scarf"]
NUMBERS = ["two", "three", "four", "five", "2", "3", "several", "a couple of", "many"]
PLAIN = [
    "A man talking on his phone while walking.",
    "Surfers riding waves at the beach.",
    "A train pulling into a station.",
    "People waiting at a bus stop.",
    "A close up of a sandwich.",
]


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _plural(noun: str) -> str:
    irregular = {"man": "men", "woman": "women", "person": "people", "child": "children", "sheep": "sheep"}
    if noun in irregular:
        return irregular[noun]
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def _one_attribute(rng: random.Random) -> str:
    adjective = rng.choice(COLOURS + SIZES + MATERIALS + STATES + PATTERNS)
    thing = rng.choice(THINGS + ANIMALS)
    return f"{_a(adjective)} {thing} {rng.choice(ACTIONS)} the {rng.choice(PLACES)}"


def _two_nouns(rng: random.Random) -> str:
    first, second = rng.sample(COLOURS, 2)
    return f"{_a(first)} {rng.choice(THINGS)} next to {_a(second)} {rng.choice(THINGS + ANIMALS)}"


def _person_wearing(rng: random.Random) -> str:
    stack = f"{rng.choice(SIZES)} " if rng.random() < 0.3 else ""
    return f"{_a(stack + rng.choice(PEOPLE))} in {_a(rng.choice(COLOURS + PATTERNS))} {rng.choice(WEARS)}"


def _counted(rng: random.Random) -> str:
    noun = rng.choice(ANIMALS + THINGS + PEOPLE)
    colour = f"{rng.choice(COLOURS)} " if rng.random() < 0.5 else ""
    return f"{rng.choice(NUMBERS)} {colour}{_plural(noun)} {rng.choice(ACTIONS)} {_a(rng.choice(PLACES))}"


def _stacked(rng: random.Random) -> str:
    size, colour, material = rng.choice(SIZES), rng.choice(COLOURS), rng.choice(MATERIALS)
    return f"{_a(size)} {colour} {material} {rng.choice(THINGS)} in {_a(rng.choice(STATES))} {rng.choice(PLACES)}"


def _predicate(rng: random.Random) -> str:
    return f"the {rng.choice(THINGS)} is {rng.choice(COLOURS)} and {rng.choice(COLOURS)}"


TEMPLATES: list[Callable[[random.Random], str]] = [
    _one_attribute,
    _two_nouns,
    _person_wearing,
    _counted,
    _stacked,
    _predicate,
]


def _styled(caption: str, rng: random.Random) -> str:
    """Vary surface form the way human captions do: capitalisation and the final period."""
    style = rng.random()
    if style < 0.6:
        return caption[0].upper() + caption[1:] + "."
    if style < 0.9:
        return caption
    return caption.title()


def captions(n: int, seed: int = 0) -> Iterator[str]:
    """`n` captions, the same for the same (n, seed); about 5% carry no attribute at all."""
    rng = random.Random(seed)
    for _ in range(n):
        if rng.random() < 0.05:
            yield rng.choice(PLAIN)
            continue
        yield _styled(rng.choice(TEMPLATES)(rng), rng)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000, help="number of captions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="output file (default: stdout)")
    args = parser.parse_args(argv)
    text = "".join(f"{c}\n" for c in captions(args.n, args.seed))
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
