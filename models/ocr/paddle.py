"""PaddleOCR 3 (PaddleX OCR pipeline) on ONNX Runtime: PP-OCR det + rec, no doc or textline orientation models."""

from __future__ import annotations

import os

import numpy as np

from models.ocr.base import OCR, CTCDecoder, OCRConfig, TextLine, as_polygon, decoding_suffix, to_bgr
from models.ocr.model_dirs import character_list, default_model_dirs, model_file_id, model_name


class PaddleOCRBackend(OCR):
    """``paddleocr.PaddleOCR(engine="onnxruntime")`` on the config's model dirs (or the offline wheel ones)."""

    def __init__(self, config: OCRConfig) -> None:
        # Model dirs are always local: tell PaddleX never to probe the model hosters (no network here).
        os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")
        from paddleocr import PaddleOCR

        self.config = config
        det_dir, rec_dir = config.det_model_dir, config.rec_model_dir
        if det_dir is None or rec_dir is None:
            defaults = default_model_dirs()
            det_dir, rec_dir = det_dir or defaults.det, rec_dir or defaults.rec
        engine_config = {"device_type": "gpu" if config.device.startswith("gpu") else "cpu"}
        if config.device.startswith("gpu"):
            engine_config["device_id"] = config.device_id
        if config.cpu_threads is not None:
            engine_config["intra_op_num_threads"] = config.cpu_threads
        self._engine = PaddleOCR(
            engine="onnxruntime",
            engine_config=engine_config,
            device=config.device,
            text_detection_model_name=model_name(det_dir),
            text_detection_model_dir=str(det_dir),
            text_recognition_model_name=model_name(rec_dir),
            text_recognition_model_dir=str(rec_dir),
            text_recognition_batch_size=config.rec_batch_size,
            use_doc_orientation_classify=False,
            use_doc_unwarping=False,
            use_textline_orientation=False,
            text_det_limit_side_len=config.det_limit_side_len,
            text_det_limit_type=config.det_limit_type,
            text_det_thresh=config.det_thresh,
            text_det_box_thresh=config.det_box_thresh,
            text_det_unclip_ratio=config.det_unclip_ratio,
            text_rec_score_thresh=config.rec_score_thresh,
        )
        if config.space_boost != 1.0:
            decoder = CTCDecoder.from_character_list(character_list(rec_dir), config.space_boost)
            _rec_predictor(self._engine).post_op = _PaddleXDecode(decoder)
        self.model_id = f"paddle:{model_file_id(det_dir)}+{model_file_id(rec_dir)}" + decoding_suffix(config)

    def read(self, images: list[np.ndarray]) -> list[list[TextLine]]:
        if not images:
            return []
        results = self._engine.predict([to_bgr(image) for image in images])
        return [_to_lines(result) for result in results]


class _PaddleXDecode:
    """Stands in for paddlex's CTCLabelDecode: ``(outputs, **kwargs) -> (texts, scores)``; no word boxes."""

    def __init__(self, decoder: CTCDecoder) -> None:
        self.decoder = decoder

    def __call__(self, pred: list[np.ndarray], return_word_box: bool = False, **kwargs: object) -> tuple[list, list]:
        if return_word_box:
            raise NotImplementedError("word boxes need space_boost=1.0 (the engine's own decoder)")
        results = self.decoder(np.asarray(pred[0]))
        return [text for text, _ in results], [score for _, score in results]


def _rec_predictor(engine: object) -> object:
    """The PaddleX text recognition predictor inside a PaddleOCR 3.x pipeline; fails loudly if the layout changed."""
    predictor = getattr(getattr(getattr(engine, "paddlex_pipeline", None), "_pipeline", None), "text_rec_model", None)
    if predictor is None or not hasattr(predictor, "post_op"):
        raise RuntimeError("PaddleOCR layout changed: no paddlex_pipeline._pipeline.text_rec_model.post_op")
    return predictor


def _to_lines(result: dict) -> list[TextLine]:
    """An OCRResult (dict-like: rec_polys int16 (4, 2), rec_texts, rec_scores) -> TextLines, in PaddleX's order."""
    return [
        TextLine(polygon=as_polygon(poly), text=str(text).strip(), score=float(score))
        for poly, text, score in zip(result["rec_polys"], result["rec_texts"], result["rec_scores"], strict=True)
    ]
