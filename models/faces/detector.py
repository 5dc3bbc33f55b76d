"""Face detectors behind one interface: MTCNN (weights shipped in facenet-pytorch's wheel) and OpenCV Haar + eye check.

benchmarks/face_detect.py (results/face_detect.md) compares them on known faces: MTCNN with score >= 0.9 finds 3/3
portraits of the sample source with no false positive, with 5 landmarks; Haar with the eye check finds 2/3, plain Haar
and skimage's LBP cascade give false positives. MTCNN is the default; Haar stays as a dependency-light fallback."""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch

Backend = Literal["mtcnn", "haar"]
MTCNN_NETS = ("pnet", "rnet", "onet")


@dataclass(frozen=True)
class Face:
    """One face in source pixels: ``box`` XYXY, ``landmarks`` (5, 2) XY (left eye, right eye, nose, mouth left, mouth right
    as seen in the image) or None when the detector has none."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray | None = None


@dataclass(frozen=True)
class FaceDetectorConfig:
    """``weights``: a directory holding pnet.pt/rnet.pt/onet.pt (state dicts); None means the ones in facenet-pytorch's wheel."""

    backend: Backend = "mtcnn"
    weights: str | None = None
    min_face_size: int = 40
    stage_thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    score_threshold: float = 0.9
    scale_factor: float = 0.709
    device: str = "cpu"
    haar_min_neighbors: int = 5


class FaceDetector(Protocol):
    model_id: str

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in an HWC uint8 RGB image, best score first."""
        ...


def wheel_weights_dir() -> Path:
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("facenet-pytorch is not installed: pip install --no-deps facenet-pytorch==2.6.0")
    return Path(spec.origin).parent / "data"


class MTCNNDetector:
    """MTCNN (P-, R-, O-Net cascade) from facenet-pytorch, its weights loaded with ``weights_only=True`` from a directory."""

    def __init__(self, config: FaceDetectorConfig) -> None:
        from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

        import models  # noqa: F401  (torchvision compat must run before facenet_pytorch imports torchvision)

        self.config = config
        root = Path(config.weights) if config.weights else wheel_weights_dir()
        digest = hashlib.sha256()
        self.nets = []
        for cls, name in zip((PNet, RNet, ONet), MTCNN_NETS, strict=True):
            path = root / f"{name}.pt"
            digest.update(path.read_bytes())
            net = cls(pretrained=False)
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            self.nets.append(net.to(config.device).eval())
        self.model_id = f"mtcnn-facenet_pytorch(sha256:{digest.hexdigest()[:8]})"

    @torch.no_grad()
    def detect(self, image: np.ndarray) -> list[Face]:
        from facenet_pytorch.models.utils.detect_face import detect_face

        c = self.config
        if min(image.shape[:2]) < c.min_face_size:  # no pyramid scale fits: MTCNN itself would fail on an empty list
            return []
        boxes, points = detect_face(
            image[None], c.min_face_size, *self.nets, list(c.stage_thresholds), c.scale_factor, c.device
        )
        boxes, points = np.asarray(boxes[0], dtype=np.float64).reshape(-1, 5), np.asarray(points[0], dtype=np.float64)
        faces = [
            Face(tuple(float(v) for v in b[:4]), float(b[4]), p.reshape(5, 2))
            for b, p in zip(boxes, points, strict=True)
            if b[4] >= c.score_threshold
        ]
        return sorted(faces, key=lambda f: -f.score)


@dataclass
class HaarDetector:
    """OpenCV's frontal-face Haar cascade, keeping only boxes in which the eye cascade finds an eye; no landmarks."""

    config: FaceDetectorConfig
    model_id: str = field(init=False, default="opencv-haar_frontalface_default+eye")

    def __post_init__(self) -> None:
        import cv2

        self._cv2 = cv2
        self._face = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        self._eye = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_eye.xml")

    def detect(self, image: np.ndarray) -> list[Face]:
        cv2 = self._cv2
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        size = self.config.min_face_size
        found = self._face.detectMultiScale(gray, 1.1, self.config.haar_min_neighbors, minSize=(size, size))
        faces = []
        for x, y, w, h in found:
            if len(self._eye.detectMultiScale(gray[y : y + (2 * h) // 3, x : x + w], 1.1, 3)):
                faces.append(Face((float(x), float(y), float(x + w), float(y + h)), 1.0))
        return faces


def build_face_detector(config: FaceDetectorConfig) -> FaceDetector:
    return MTCNNDetector(config) if config.backend == "mtcnn" else HaarDetector(config)
