"""OCR annotators behind one interface: ``build_ocr(OCRConfig(...)).read(images) -> list[list[TextLine]]``."""

from __future__ import annotations

from collections.abc import Callable

from models.ocr.base import OCR, Backend, OCRConfig, TextLine


def _build_paddle(config: OCRConfig) -> OCR:
    from models.ocr.paddle import PaddleOCRBackend

    return PaddleOCRBackend(config)


def _build_rapid(config: OCRConfig) -> OCR:
    from models.ocr.rapid import RapidOCRBackend

    return RapidOCRBackend(config)


# Backends import their engines lazily: importing this package loads neither paddle nor onnxruntime.
BACKENDS: dict[str, Callable[[OCRConfig], OCR]] = {"paddle": _build_paddle, "rapid": _build_rapid}


def build_ocr(config: OCRConfig) -> OCR:
    """The engine named by ``config.backend``, loaded once (models, sessions); call from a DoFn's ``setup``."""
    return BACKENDS[config.backend](config)


__all__ = ["BACKENDS", "OCR", "Backend", "OCRConfig", "TextLine", "build_ocr"]
