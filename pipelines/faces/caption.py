"""A caption per face from its attribute labels: "a photo of a smiling woman with blond hair wearing eyeglasses"."""

from __future__ import annotations

AGE_WORDS = {
    "0-2": "baby",
    "3-9": "child",
    "10-19": "teenage",
    "20-29": "young",
    "30-39": "",
    "40-49": "middle-aged",
    "50-59": "middle-aged",
    "60-69": "older",
    "70+": "elderly",
}
HAIR = (
    ("Bald", None),
    ("Blond_Hair", "blond"),
    ("Black_Hair", "black"),
    ("Brown_Hair", "brown"),
    ("Gray_Hair", "gray"),
)
WEARING = (
    ("Eyeglasses", "eyeglasses"),
    ("Wearing_Hat", "a hat"),
    ("Wearing_Earrings", "earrings"),
    ("Wearing_Necklace", "a necklace"),
    ("Wearing_Necktie", "a necktie"),
    ("Wearing_Lipstick", "lipstick"),
)
FACIAL_HAIR = (("Mustache", "a mustache"), ("Goatee", "a goatee"))


def _graded(values: dict[str, int], name: str) -> str | None:
    chosen = [k.split("=", 1)[1] for k, v in values.items() if k.startswith(f"{name}=") and v == 1]
    return chosen[0] if len(chosen) == 1 else None


def _noun(values: dict[str, int]) -> str:
    age = _graded(values, "age_bucket")
    young = age in ("0-2", "3-9", "10-19") if age else False
    male = values.get("Male", 0)
    if male == 1:
        return "boy" if young else "man"
    if male == -1:
        return "girl" if young else "woman"
    return "child" if young else "person"


def _hair(values: dict[str, int]) -> str | None:
    for key, colour in HAIR:
        if values.get(key) == 1:
            return "a bald head" if colour is None else f"{colour} hair"
    colour = _graded(values, "hair_colour")
    if colour:
        return "a bald head" if colour == "bald" else f"{colour} hair"
    return None


def caption(values: dict[str, int]) -> str:
    """From label key -> value (1 / -1 / 0); undefined (0) and absent labels say nothing."""
    adjectives = []
    if values.get("Smiling") == 1:
        adjectives.append("smiling")
    age = _graded(values, "age_bucket")
    if age and AGE_WORDS.get(age) and AGE_WORDS[age] not in ("baby", "child", "teenage"):
        adjectives.append(AGE_WORDS[age])
    elif not age and values.get("Young") == 1:
        adjectives.append("young")
    noun = " ".join([*adjectives, _noun(values)])
    article = "an" if noun[0] in "aeiou" else "a"
    withs = [w for w in [_hair(values)] if w]
    withs += [phrase for key, phrase in FACIAL_HAIR if values.get(key) == 1]
    if values.get("No_Beard") == -1 and values.get("Goatee") != 1:
        withs.append("a beard")
    wearing = [phrase for key, phrase in WEARING if values.get(key) == 1]
    text = f"a photo of {article} {noun}"
    if withs:
        text += " with " + _join(withs)
    if wearing:
        text += " wearing " + _join(wearing)
    return text


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def face_label(score: float, values: dict[str, int], limit: int = 3) -> str:
    """The short label drawn on the face box: detector score and the first present binary attributes."""
    present = [k for k, v in values.items() if v == 1 and "=" not in k][:limit]
    return f"face {score:.2f}" + (": " + ", ".join(present) if present else "")
