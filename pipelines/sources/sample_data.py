"""What the bundled sample source is made of: real photos that installed packages ship, captions written for them,
rendered text lines with known ground truth, and deliberately broken inputs."""

from __future__ import annotations

import os

import matplotlib
import skimage
import sklearn.datasets

_SKIMAGE = os.path.join(os.path.dirname(skimage.__file__), "data")
_SKLEARN = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")
_MPL = os.path.join(matplotlib.get_data_path(), "sample_data")
FONTS = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")

# (package, path, caption, tags). Tags say what each photo is good for: "face" (a real person), "text", "object", "no_face".
PHOTOS: list[tuple[str, str, str, tuple[str, ...]]] = [
    (
        "skimage",
        "astronaut.png",
        "a smiling woman astronaut in an orange spacesuit next to a white space shuttle and an american flag",
        ("face",),
    ),
    (
        "skimage",
        "camera.png",
        "a black and white photo of a man in a dark coat looking through a camera on a tripod in a grassy field",
        ("face",),
    ),
    (
        "matplotlib",
        "grace_hopper.jpg",
        "an old woman in a dark navy uniform and a white cap with large glasses in front of an american flag",
        ("face",),
    ),
    ("skimage", "chelsea.png", "a close-up of a brown tabby cat with green eyes", ("object", "no_face")),
    (
        "skimage",
        "coffee.png",
        "a red cup of coffee on a red saucer with a silver spoon on a wooden table",
        ("object", "no_face"),
    ),
    (
        "skimage",
        "rocket.jpg",
        "a white rocket on a launch pad between three tall towers at night",
        ("object", "no_face"),
    ),
    (
        "skimage",
        "motorcycle_left.png",
        "a red motorcycle parked in a cluttered garage with wooden shelves",
        ("object", "no_face"),
    ),
    (
        "sklearn",
        "china.jpg",
        "a tall chinese pagoda with a red roof among green trees next to a lake",
        ("object", "no_face"),
    ),
    ("sklearn", "flower.jpg", "an orange dahlia flower with green leaves", ("object", "no_face")),
    ("skimage", "coins.png", "twenty four old silver coins in rows on a black background", ("object", "no_face")),
    ("skimage", "horse.png", "a black silhouette of a horse on a white background", ("object", "no_face")),
    ("skimage", "hubble_deep_field.jpg", "hundreds of small colorful galaxies on a black sky", ("no_face",)),
    ("skimage", "ihc.png", "a microscope image of brown and blue stained tissue", ("no_face",)),
    ("skimage", "retina.jpg", "a round red photo of a human retina with dark blood vessels", ("no_face",)),
    ("skimage", "color.png", "a round colour wheel on a black background", ("no_face",)),
    ("skimage", "brick.png", "a grey brick wall", ("no_face",)),
    ("skimage", "clock_motion.png", "a blurred grey photo of a small round clock", ("no_face",)),
    ("skimage", "logo.png", "a round green and orange logo with a snake", ("no_face",)),
    ("skimage", "page.png", "a scanned page of printed text about region-based segmentation", ("text", "no_face")),
    ("skimage", "text.png", "handwritten numbers and letters on grey paper", ("text", "no_face")),
    ("matplotlib", "logo2.png", "the blue matplotlib logo on a black background", ("text", "no_face")),
    (
        "matplotlib",
        "Minduka_Present_Blue_Pack.png",
        "a small blue gift box with a silver ribbon",
        ("object", "no_face"),
    ),
]

# Rendered text images: (lines, background, caption). Ground truth polygons are measured from the font when rendered.
TEXT_SIGNS: list[tuple[tuple[str, ...], str, str]] = [
    (("OPEN 24 HOURS",), "#b71c1c", "a red shop sign"),
    (("FRESH COFFEE", "DAILY"), "#3e2723", "a brown cafe sign"),
    (("NO PARKING",), "#f5f5f5", "a white street sign"),
    (("PLATFORM 9",), "#0d47a1", "a blue station sign"),
    (("SALE 50% OFF", "TODAY ONLY"), "#fdd835", "a yellow sale poster"),
    (("Welcome Home",), "#2e7d32", "a green doormat"),
    (("EXIT",), "#1b5e20", "a green exit sign"),
    (("Hello World", "from shardsmith"), "photo:coffee.png", "text written over a photo of a coffee cup"),
    (("BOOKS", "MUSIC", "FILMS"), "#4a148c", "a purple store directory"),
    (("Main Street",), "photo:brick.png", "a street name on a brick wall"),
]

# Inputs that must fail or be rejected, each for its own reason: (name, expected status, expected reason).
BROKEN: list[tuple[str, str, str]] = [
    ("truncated_jpeg", "failed", "truncated"),
    ("html_not_image", "failed", "not_an_image"),
    ("decompression_bomb", "failed", "too_large"),
    ("empty_caption", "failed", "empty_caption"),
    ("empty_file", "failed", "empty_file"),
    ("bad_json", "failed", "bad_metadata"),
    ("missing_image", "failed", "missing_image"),
    ("exact_duplicate", "rejected", "exact_duplicate"),
]


def photo_path(package: str, name: str) -> str:
    return os.path.join({"skimage": _SKIMAGE, "sklearn": _SKLEARN, "matplotlib": _MPL}[package], name)
