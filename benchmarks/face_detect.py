"""Face detectors side by side on images whose faces are known: MTCNN (the default), OpenCV's Haar cascade with and
without the eye check (the fallback), and scikit-image's LBP cascade.

Sets: the sample source's photos (its 3 portraits, each with the face box drawn by hand below, and its 19 photos and
10 rendered signs without people), and scikit-image's ``lfw_subset`` (100 LFW face crops and 100 non-face patches,
25 px, upscaled to 100 px). A detection is the face when its IoU with the known box is >= 0.3; every other detection
is a false positive. Times are the median over interleaved repeats, per image, on one core (torch and OpenCV held to
one thread: on shared cores their thread pools otherwise measure the neighbours)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from benchmarks.common import interleaved, median, write_result

Box = tuple[float, float, float, float]

# Face boxes (XYXY, pixels of the package's original file) drawn by hand around forehead-to-chin, ear to ear.
PORTRAIT_FACES: dict[str, Box] = {
    "astronaut.png": (172, 60, 265, 172),
    "camera.png": (195, 100, 255, 195),  # in profile, looking into the camera
    "grace_hopper.jpg": (170, 130, 360, 320),
}
MATCH_IOU = 0.3


@dataclass(frozen=True)
class Case:
    name: str
    image: np.ndarray  # HWC uint8 RGB
    faces: tuple[Box, ...]


def sample_source_cases() -> list[Case]:
    """The sample source's portraits (with their hand-drawn face box) and every photo or sign tagged ``no_face``."""
    from pipelines.sources.sample_data import PHOTOS, photo_path
    from pipelines.sources.sample_source import text_items

    cases = []
    for package, name, _, tags in PHOTOS:
        if "face" in tags or "no_face" in tags:
            image = np.asarray(Image.open(photo_path(package, name)).convert("RGB"))
            faces = (PORTRAIT_FACES[name],) if "face" in tags else ()
            cases.append(Case(name, image, faces))
    for item in text_items():
        cases.append(Case(item.name, _rgb(item.files["jpg"]), ()))
    return cases


def lfw_cases(scale: int = 4) -> list[Case]:
    """scikit-image's lfw_subset: rows 0-99 are faces (the whole crop is the face), 100-199 are not."""
    from skimage.data import lfw_subset

    cases = []
    for i, patch in enumerate(lfw_subset()):
        gray = Image.fromarray((patch * 255).astype(np.uint8)).resize((25 * scale, 25 * scale), Image.BICUBIC)
        side = 25 * scale
        faces = ((0.0, 0.0, float(side), float(side)),) if i < 100 else ()
        cases.append(Case(f"lfw_{i:03d}", np.asarray(gray.convert("RGB")), faces))
    return cases


def _rgb(data: bytes) -> np.ndarray:
    import io

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def detectors(min_face: int) -> dict[str, Callable[[np.ndarray], list[Box]]]:
    """Each detector as image -> boxes, at the same minimum face size."""
    import cv2
    from skimage.data import lbp_frontal_face_cascade_filename
    from skimage.feature import Cascade

    from models.faces.detector import FaceDetectorConfig, HaarDetector, MTCNNDetector

    mtcnn = MTCNNDetector(FaceDetectorConfig(min_face_size=min_face))
    haar_eye = HaarDetector(FaceDetectorConfig(backend="haar", min_face_size=min_face))
    haar = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    lbp = Cascade(lbp_frontal_face_cascade_filename())

    def plain_haar(image: np.ndarray) -> list[Box]:
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        found = haar.detectMultiScale(gray, 1.1, 5, minSize=(min_face, min_face))
        return [(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h in found]

    def skimage_lbp(image: np.ndarray) -> list[Box]:
        side = min(image.shape[:2])
        if side < min_face:
            return []
        found = lbp.detect_multi_scale(image, 1.2, 1, (min_face, min_face), (side, side))
        return [(d["c"], d["r"], d["c"] + d["width"], d["r"] + d["height"]) for d in found]

    return {
        "mtcnn": lambda im: [f.box for f in mtcnn.detect(im)],
        "haar_eye_check": lambda im: [f.box for f in haar_eye.detect(im)],
        "haar": plain_haar,
        "skimage_lbp": skimage_lbp,
    }


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def score(cases: list[Case], found: list[list[Box]]) -> dict[str, int]:
    """Known faces found, false-positive boxes, and images without a face that got any box."""
    hits = fps = fp_images = 0
    for case, boxes in zip(cases, found, strict=True):
        matched = {i for i, box in enumerate(boxes) for face in case.faces if iou(box, face) >= MATCH_IOU}
        hits += sum(any(iou(box, face) >= MATCH_IOU for box in boxes) for face in case.faces)
        fps += len(boxes) - len(matched)
        fp_images += not case.faces and bool(boxes)
    faces = sum(len(c.faces) for c in cases)
    return {
        "faces": faces,
        "found": hits,
        "false_positives": fps,
        "images_without_faces": sum(not c.faces for c in cases),
        "of_which_with_a_box": fp_images,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-face", type=int, default=40, help="minimum face side, px (face_attributes' default)")
    args = parser.parse_args()
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    sets = {"sample_source": sample_source_cases(), "lfw_subset_x4": lfw_cases()}
    dets = detectors(args.min_face)
    found: dict[tuple[str, str], list[list[Box]]] = {}
    cases = {
        f"{d}/{s}": (lambda d=d, s=s: found.__setitem__((d, s), [dets[d](c.image) for c in sets[s]]))
        for d in dets
        for s in sets
    }
    times = interleaved(cases, args.repeats)
    figures = {
        name: {
            **score(sets[name.split("/")[1]], found[tuple(name.split("/"))]),
            "ms_per_image": round(1000 * median(t) / len(sets[name.split("/")[1]]), 2),
        }
        for name, t in times.items()
    }
    result = {
        "command": f"python -m benchmarks.face_detect --repeats {args.repeats} --min-face {args.min_face}",
        "match_iou": MATCH_IOU,
        "portrait_faces": PORTRAIT_FACES,
        "figures": figures,
    }
    md = [
        f"# face detectors on known faces (IoU >= {MATCH_IOU}), min face {args.min_face} px, median of {args.repeats}",
        "",
        "| detector / set | faces found | false-positive boxes | face-free images with a box | ms/image |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    md += [
        f"| {k} | {v['found']}/{v['faces']} | {v['false_positives']} | "
        f"{v['of_which_with_a_box']}/{v['images_without_faces']} | {v['ms_per_image']} |"
        for k, v in figures.items()
    ]
    write_result("face_detect", result, "\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
