"""RapidOCR (rapidocr_onnxruntime) on the same PP-OCR ONNX det + rec files, no angle classifier."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from models.ocr.base import OCR, CTCDecoder, OCRConfig, TextLine, as_polygon, decoding_suffix, to_bgr
from models.ocr.model_dirs import ONNX_FILE, cache_root, character_list, default_model_dirs, model_file_id, read_yml


class RapidOCRBackend(OCR):
    """``rapidocr_onnxruntime.RapidOCR`` on ``<dir>/inference.onnx``; characters from the rec dir's inference.yml."""

    def __init__(self, config: OCRConfig) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self.config = config
        det_dir, rec_dir = config.det_model_dir, config.rec_model_dir
        if det_dir is None or rec_dir is None:
            defaults = default_model_dirs()
            det_dir, rec_dir = det_dir or defaults.det, rec_dir or defaults.rec
        use_cuda = config.device.startswith("gpu")
        threads = {} if config.cpu_threads is None else {"intra_op_num_threads": config.cpu_threads}
        self._engine = RapidOCR(
            use_cls=False,
            text_score=config.rec_score_thresh,
            det_model_path=str(det_dir / ONNX_FILE),
            det_use_cuda=use_cuda,
            det_limit_side_len=config.det_limit_side_len,
            det_limit_type=config.det_limit_type,
            det_thresh=config.det_thresh,
            det_box_thresh=config.det_box_thresh,
            det_unclip_ratio=config.det_unclip_ratio,
            **_det_yml_params(det_dir),
            rec_model_path=str(rec_dir / ONNX_FILE),
            rec_use_cuda=use_cuda,
            rec_keys_path=str(_keys_file(rec_dir)),
            rec_batch_num=config.rec_batch_size,
            **threads,
        )
        if config.space_boost != 1.0:
            decoder = CTCDecoder.from_character_list(character_list(rec_dir), config.space_boost)
            self._engine.text_rec.postprocess_op = _RapidDecode(decoder)
        self.model_id = f"rapid:{model_file_id(det_dir)}+{model_file_id(rec_dir)}" + decoding_suffix(config)

    def read(self, images: list[np.ndarray]) -> list[list[TextLine]]:
        """One engine call per image (RapidOCR batches the line crops of an image, not images)."""
        return [self._read_one(image) for image in images]

    def _read_one(self, image: np.ndarray) -> list[TextLine]:
        result, _ = self._engine(to_bgr(image))
        if not result:  # None when nothing was detected
            return []
        return [
            TextLine(polygon=as_polygon(box), text=str(text).strip(), score=float(score)) for box, text, score in result
        ]


class _RapidDecode:
    """Stands in for RapidOCR's CTCLabelDecode: ``(preds, return_word_box, **kwargs) -> [(text, score)]``."""

    def __init__(self, decoder: CTCDecoder) -> None:
        self.decoder = decoder

    def __call__(self, preds: np.ndarray, return_word_box: bool = False, **kwargs: object) -> list[tuple[str, float]]:
        if return_word_box:
            raise NotImplementedError("word boxes need space_boost=1.0 (the engine's own decoder)")
        return self.decoder(preds)


def _det_yml_params(det_dir: Path) -> dict:
    """Normalisation and dilation from the det dir's inference.yml, so RapidOCR pre/post-processes as PaddleX does
    (RapidOCR's own defaults, mean = std = 0.5 and dilation on, find fewer lines on page.png)."""
    yml = read_yml(det_dir)
    params = {"det_use_dilation": bool(yml.get("PostProcess", {}).get("use_dilation", False))}
    for op in yml.get("PreProcess", {}).get("transform_ops", []):
        norm = (op or {}).get("NormalizeImage")
        if norm:
            params |= {"det_mean": list(norm["mean"]), "det_std": list(norm["std"])}
    return params


def _keys_file(rec_dir: Path) -> Path:
    """The rec dir's character list as the one-per-line keys file RapidOCR reads, cached by content hash."""
    text = "\n".join(character_list(rec_dir)) + "\n"
    path = cache_root() / "ocr" / f"keys-{hashlib.sha256(text.encode()).hexdigest()[:12]}.txt"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".keys.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    return path
