"""Face models: detectors with landmarks, FairFace-style alignment, and the open_clip zero-shot attribute scorer."""

from models.faces.align import AlignConfig, AlignedFace, align_face
from models.faces.detector import Face, FaceDetector, FaceDetectorConfig, build_face_detector

__all__ = [
    "AlignConfig",
    "AlignedFace",
    "Face",
    "FaceDetector",
    "FaceDetectorConfig",
    "align_face",
    "build_face_detector",
]
