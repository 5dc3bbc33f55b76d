"""Quality filters for face candidates, each a pure function named by its reject reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict

from models.faces import AlignedFace, Face


class FilterConfig(BaseModel):
    """Thresholds. Pose is measured on the 5 landmarks: ``yaw`` is the nose's horizontal offset from the eye midpoint in
    inter-eye distances (0 frontal, about 0.5 when the nose reaches an eye); ``pitch`` is where the nose sits between the
    eye line (0) and the mouth line (1), about 0.5 frontal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_face_px: int = 48  # short side of the detected box, source pixels
    min_sharpness: float = 40.0  # variance of the Laplacian of the grey aligned crop
    max_yaw: float = 0.7
    pitch_range: tuple[float, float] = (0.15, 0.85)
    max_faces: int = 4  # more faces than this in one image: a crowd, not a portrait
    max_out_of_bounds: float = 0.2  # fraction of the crop that lies outside the source image


@dataclass(frozen=True)
class Candidate:
    """One detected face with its aligned crop, and how many faces its image has."""

    face: Face
    aligned: AlignedFace
    faces_in_image: int


def pose(landmarks: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) proxies from (5, 2) landmarks (left eye, right eye, nose, mouth left, mouth right), any frame."""
    eyes, nose, mouth = landmarks[:2].mean(0), landmarks[2], landmarks[3:].mean(0)
    axis = landmarks[1] - landmarks[0]
    eye_dist = float(np.linalg.norm(axis)) or 1e-6
    ux = axis / eye_dist
    uy = np.array([-ux[1], ux[0]])
    yaw = float((nose - eyes) @ ux) / eye_dist
    span = float((mouth - eyes) @ uy) or 1e-6
    return yaw, float((nose - eyes) @ uy) / span


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of an HWC uint8 RGB image (low: blurred)."""
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def face_too_small(c: Candidate, cfg: FilterConfig) -> str | None:
    x0, y0, x1, y1 = c.face.box
    side = min(x1 - x0, y1 - y0)
    return f"face {side:.0f}px < {cfg.min_face_px}px" if side < cfg.min_face_px else None


def blurred(c: Candidate, cfg: FilterConfig) -> str | None:
    value = sharpness(c.aligned.image)
    return f"laplacian variance {value:.1f} < {cfg.min_sharpness}" if value < cfg.min_sharpness else None


def extreme_pose(c: Candidate, cfg: FilterConfig) -> str | None:
    if c.face.landmarks is None:
        return None
    yaw, pitch = pose(c.face.landmarks)
    lo, hi = cfg.pitch_range
    if abs(yaw) > cfg.max_yaw or not lo <= pitch <= hi:
        return f"yaw {yaw:.2f} (max {cfg.max_yaw}), pitch {pitch:.2f} (range {lo}-{hi})"
    return None


def too_many_faces(c: Candidate, cfg: FilterConfig) -> str | None:
    return f"{c.faces_in_image} faces > {cfg.max_faces}" if c.faces_in_image > cfg.max_faces else None


def crop_out_of_bounds(c: Candidate, cfg: FilterConfig) -> str | None:
    frac = c.aligned.out_of_bounds
    return f"{frac:.0%} of the crop is outside the image" if frac > cfg.max_out_of_bounds else None


FaceFilter = Callable[[Candidate, FilterConfig], "str | None"]
FILTERS: tuple[FaceFilter, ...] = (too_many_faces, face_too_small, crop_out_of_bounds, extreme_pose, blurred)


def first_rejection(c: Candidate, cfg: FilterConfig) -> tuple[str, str] | None:
    """(reason, detail) of the first filter that removes the candidate, or None when it passes them all."""
    for f in FILTERS:
        detail = f(c, cfg)
        if detail is not None:
            return f.__name__, detail
    return None
