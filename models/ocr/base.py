"""The OCR interface: config, the TextLine result and the backend base class."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

Backend = Literal["paddle", "rapid"]


@dataclass(frozen=True)
class TextLine:
    """One recognised line: ``polygon`` (4, 2) float32 pixels of the input image, clockwise from top-left."""

    polygon: np.ndarray
    text: str
    score: float

    def __post_init__(self) -> None:
        if self.polygon.shape != (4, 2) or self.polygon.dtype != np.float32:
            raise ValueError(f"polygon must be float32 (4, 2), got {self.polygon.dtype} {self.polygon.shape}")


@dataclass(frozen=True)
class OCRConfig:
    """How to build an OCR engine. Model dirs hold ``inference.onnx`` + ``inference.yml`` (PaddleX layout);
    ``None`` builds them from the PP-OCRv4 ONNX files in the rapidocr_onnxruntime wheel (see model_dirs.py).

    Detection thresholds go to both backends so that they post-process alike: PaddleOCR 3's pipeline defaults,
    except ``det_box_thresh`` 0.5 (RapidOCR's; with it both backends find all 7 lines of scikit-image's page.png,
    ``page_png`` in benchmarks/results/ocr.json).
    ``rec_score_thresh`` 0 keeps every line: filtering on score is the pipeline's job.
    """

    # Same models, same detections (benchmarks/ocr.py, results/ocr.json, space_boost=16): paddle uses 16% less CPU per
    # image (median 116.1 ms against 138.3), rapid is ahead on sentence accuracy (0.984 against 0.969 on merged lines)
    # and loads faster (0.42-0.52 s against 0.66-2.76 s).
    backend: Backend = "paddle"
    det_model_dir: Path | None = None
    rec_model_dir: Path | None = None
    device: str = "cpu"  # "cpu", or "gpu" / "gpu:N" (needs onnxruntime-gpu's CUDAExecutionProvider)
    det_limit_side_len: int = 960
    det_limit_type: Literal["max", "min"] = "max"
    det_thresh: float = 0.3
    det_box_thresh: float = 0.5
    det_unclip_ratio: float = 1.5
    rec_batch_size: int = 6
    rec_score_thresh: float = 0.0
    # PP-OCRv4's Chinese recogniser drops most word spaces in Latin text; multiplying the space class's probability
    # by this before the greedy CTC argmax restores them (1.0 = the engine's own decoder). See CTCDecoder.
    space_boost: float = 16.0
    cpu_threads: int | None = None  # onnxruntime intra-op threads; None lets onnxruntime choose

    def __post_init__(self) -> None:
        if self.backend not in ("paddle", "rapid"):
            raise ValueError(f"unknown OCR backend {self.backend!r}")
        if self.det_limit_type not in ("max", "min"):
            raise ValueError(f"det_limit_type must be 'max' or 'min', got {self.det_limit_type!r}")
        if self.space_boost < 1.0:
            raise ValueError("space_boost must be >= 1")
        if self.det_limit_side_len < 32 or self.rec_batch_size < 1:
            raise ValueError("det_limit_side_len must be >= 32 and rec_batch_size >= 1")
        if not self.device.startswith(("cpu", "gpu")):
            raise ValueError(f"device must be 'cpu' or 'gpu[:N]', got {self.device!r}")
        for name in ("det_model_dir", "rec_model_dir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))

    @property
    def device_id(self) -> int:
        return int(self.device.split(":")[1]) if ":" in self.device else 0


class OCR(abc.ABC):
    """Detects and recognises text lines. Subclasses load their engine once in ``__init__``."""

    config: OCRConfig
    model_id: str  # backend + model names + sha256 prefixes of the model files

    @abc.abstractmethod
    def read(self, images: list[np.ndarray]) -> list[list[TextLine]]:
        """Text lines of each image (HWC uint8 RGB), in reading order (top to bottom, then left to right)."""


def to_bgr(image: np.ndarray) -> np.ndarray:
    """HWC uint8 RGB -> contiguous BGR, the channel order both PP-OCR engines expect for arrays."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected HWC uint8 RGB, got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image[:, :, ::-1])


def as_polygon(points: np.ndarray | list) -> np.ndarray:
    """(4, 2) float32, reordered clockwise (in image coordinates, y down) if the engine gave it counter-clockwise."""
    poly = np.asarray(points, dtype=np.float32).reshape(4, 2)
    x, y = poly[:, 0], poly[:, 1]
    signed_area = 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    if signed_area < 0:  # counter-clockwise on screen: keep the first point, reverse the rest
        poly = poly[[0, 3, 2, 1]]
    return poly


def decoding_suffix(config: OCRConfig) -> str:
    """The model_id suffix for a non-default decoder (it changes the text a model produces)."""
    return "" if config.space_boost == 1.0 else f";space_boost={config.space_boost:g}"


def _is_cjk(ch: str) -> bool:
    return "\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\uf900" <= ch <= "\ufaff"


@dataclass(frozen=True)
class CTCDecoder:
    """Greedy CTC decoding of recogniser softmax output with the space class boosted.

    ``characters``: the model's classes, ``"blank"`` first and ``" "`` last (PaddleOCR's layout). Frame scores and the
    line score (mean of the kept frames' max probability) are the engines' own; only the argmax sees the boost.
    A space that only the boost produced is dropped between two CJK characters, at either end, and after a space.
    """

    characters: tuple[str, ...]
    space_boost: float

    @classmethod
    def from_character_list(cls, characters: list[str], space_boost: float) -> CTCDecoder:
        """From a dictionary without blank and space (inference.yml's ``character_dict``)."""
        return cls(("blank", *characters, " "), space_boost)

    def __call__(self, probs: np.ndarray) -> list[tuple[str, float]]:
        """(N, T, C) softmax probabilities -> N (text, score)."""
        if probs.ndim != 3 or probs.shape[-1] != len(self.characters):
            raise ValueError(f"recogniser output {probs.shape} does not match {len(self.characters)} characters")
        return [self._decode_one(p) for p in probs]

    def _decode_one(self, p: np.ndarray) -> tuple[str, float]:
        space = len(self.characters) - 1
        boosted = p.copy()
        boosted[:, space] *= self.space_boost
        idx = boosted.argmax(axis=-1)
        keep = idx != 0
        keep[1:] &= idx[1:] != idx[:-1]
        added = (idx == space) & (p.argmax(axis=-1) != space)
        chars, conf = [self.characters[i] for i in idx[keep]], p.max(axis=-1)[keep]
        out, scores = [], []
        for k, (ch, was_added) in enumerate(zip(chars, added[keep], strict=True)):
            nxt = chars[k + 1] if k + 1 < len(chars) else ""
            if was_added and (not out or not nxt or out[-1] == " " or (_is_cjk(out[-1]) and _is_cjk(nxt))):
                continue
            out.append(ch)
            scores.append(float(conf[k]))
        return "".join(out), float(np.mean(scores)) if scores else 0.0
