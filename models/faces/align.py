"""FairFace-style alignment: a similarity transform puts the 5 landmarks on a fixed template inside a square crop with margin."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# ArcFace's 5-point template in a 112 x 112 face box (left eye, right eye, nose, mouth left, mouth right), XY.
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)


@dataclass(frozen=True)
class AlignConfig:
    """``size``: crop side in pixels; ``margin``: context added on each side, as a fraction of the face box (FairFace: 0.25)."""

    size: int = 224
    margin: float = 0.25


@dataclass(frozen=True)
class AlignedFace:
    """``image``: (size, size, 3) uint8 RGB; ``matrix``: 2x3 affine, source pixels -> crop pixels; ``box`` XYXY and
    ``landmarks`` (5, 2) in crop pixels; ``out_of_bounds``: fraction of crop pixels that fall outside the source image."""

    image: np.ndarray
    matrix: np.ndarray
    box: tuple[float, float, float, float]
    landmarks: np.ndarray | None
    out_of_bounds: float


def template(config: AlignConfig) -> np.ndarray:
    """Where the 5 landmarks go in the crop: the 112-px template scaled to the inner face box, centred with the margin."""
    inner = config.size / (1 + 2 * config.margin)
    return TEMPLATE_112 / 112.0 * inner + config.margin * inner


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation) mapping ``src`` points onto ``dst`` (Umeyama)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / s.var(0).sum()
    return np.hstack([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]])


def box_matrix(box: tuple[float, float, float, float], config: AlignConfig) -> np.ndarray:
    """Without landmarks: a square around the box centre, side = the box's long side plus the margin on each side."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * config.margin)
    scale = config.size / side
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return np.array([[scale, 0, config.size / 2 - scale * cx], [0, scale, config.size / 2 - scale * cy]])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def align_face(
    image: np.ndarray,
    box: tuple[float, float, float, float],
    landmarks: np.ndarray | None,
    config: AlignConfig = AlignConfig(),
) -> AlignedFace:
    """Warp one face of an HWC uint8 image (``box`` XYXY, ``landmarks`` (5, 2) in its pixels) to a size x size crop."""
    matrix = similarity(landmarks, template(config)) if landmarks is not None else box_matrix(box, config)
    size = (config.size, config.size)
    crop = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    inside = cv2.warpAffine(np.ones(image.shape[:2], np.uint8), matrix, size, flags=cv2.INTER_NEAREST, borderValue=0)
    x0, y0, x1, y1 = box
    corners = apply(matrix, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64))
    lo, hi = np.clip(corners.min(0), 0, config.size), np.clip(corners.max(0), 0, config.size)
    crop_box = tuple(round(float(v), 2) for v in (lo[0], lo[1], hi[0], hi[1]))
    marks = None if landmarks is None else np.clip(apply(matrix, landmarks), 0, config.size)
    return AlignedFace(crop, matrix, crop_box, marks, float(1.0 - inside.mean()))  # type: ignore[arg-type]
