"""PaddleX-layout OCR model dirs (inference.onnx + inference.yml), built from the PP-OCRv4 ONNX files in rapidocr's wheel."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from models.cache import cache_root

DET_MODEL_NAME = "PP-OCRv4_mobile_det"
REC_MODEL_NAME = "PP-OCRv4_mobile_rec"
WHEEL_DET_ONNX = "ch_PP-OCRv4_det_infer.onnx"
WHEEL_REC_ONNX = "ch_PP-OCRv4_rec_infer.onnx"
ONNX_FILE = "inference.onnx"
YML_FILE = "inference.yml"


@dataclass(frozen=True)
class ModelDirs:
    det: Path
    rec: Path


def wheel_onnx(filename: str) -> Path:
    """A model file shipped inside the installed rapidocr_onnxruntime wheel."""
    import rapidocr_onnxruntime

    path = Path(rapidocr_onnxruntime.__file__).parent / "models" / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: is rapidocr_onnxruntime 1.4.x installed?")
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def onnx_character_list(onnx_path: Path) -> list[str]:
    """The recogniser's character list, stored one per line in the ONNX metadata key ``character`` (no blank, no space)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    if "character" not in meta:
        raise ValueError(f"{onnx_path} has no 'character' metadata; pass a model dir with an inference.yml instead")
    return meta["character"].split("\n")


def det_yml(model_name: str = DET_MODEL_NAME) -> dict:
    """inference.yml for a DB text detector, as PaddleOCR's export writes it (PaddleX reads PreProcess/PostProcess)."""
    return {
        "Global": {"model_name": model_name},
        "PreProcess": {
            "transform_ops": [
                {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
                {"DetLabelEncode": None},
                {"DetResizeForTest": {"resize_long": 960}},
                {
                    "NormalizeImage": {
                        "mean": [0.485, 0.456, 0.406],
                        "std": [0.229, 0.224, 0.225],
                        "scale": 1 / 255,
                        "order": "hwc",
                    }
                },
                {"ToCHWImage": None},
                {"KeepKeys": {"keep_keys": ["image", "shape", "polys", "ignore_tags"]}},
            ]
        },
        "PostProcess": {
            "name": "DBPostProcess",
            "thresh": 0.3,
            "box_thresh": 0.6,
            "max_candidates": 1000,
            "unclip_ratio": 1.5,
        },
    }


def rec_yml(characters: list[str], model_name: str = REC_MODEL_NAME) -> dict:
    """inference.yml for a CTC recogniser; PaddleX adds the CTC blank in front and the space at the end."""
    return {
        "Global": {"model_name": model_name},
        "PreProcess": {
            "transform_ops": [
                {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
                {"MultiLabelEncode": {"gtc_encode": "NRTRLabelEncode"}},
                {"RecResizeImg": {"image_shape": [3, 48, 320]}},
                {"KeepKeys": {"keep_keys": ["image", "label_ctc", "label_gtc", "length", "valid_ratio"]}},
            ]
        },
        "PostProcess": {"name": "CTCLabelDecode", "character_dict": characters},
    }


def build_model_dir(onnx_path: Path, yml: dict, out_dir: Path) -> Path:
    """Write ``out_dir`` (onnx + yml) atomically: built under a temporary name, then renamed; an existing one is kept."""
    if (out_dir / YML_FILE).is_file() and (out_dir / ONNX_FILE).is_file():
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        shutil.copyfile(onnx_path, tmp / ONNX_FILE)
        with open(tmp / YML_FILE, "w", encoding="utf-8") as f:
            yaml.safe_dump(yml, f, allow_unicode=True, sort_keys=False)
        os.replace(tmp, out_dir)
    except OSError:
        if not (out_dir / YML_FILE).is_file():  # another worker did not win the race: a real failure
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def default_model_dirs(cache: Path | None = None) -> ModelDirs:
    """The offline PP-OCRv4 mobile det/rec dirs under ``<cache>/ocr/<model>-<sha12>``, built on first use."""
    root = (cache or cache_root()) / "ocr"
    det_onnx, rec_onnx = wheel_onnx(WHEEL_DET_ONNX), wheel_onnx(WHEEL_REC_ONNX)
    det_dir = root / f"{DET_MODEL_NAME}-{sha256_file(det_onnx)[:12]}"
    rec_dir = root / f"{REC_MODEL_NAME}-{sha256_file(rec_onnx)[:12]}"
    build_model_dir(det_onnx, det_yml(), det_dir)
    if not (rec_dir / YML_FILE).is_file():
        build_model_dir(rec_onnx, rec_yml(onnx_character_list(rec_onnx)), rec_dir)
    return ModelDirs(det=det_dir, rec=rec_dir)


def read_yml(model_dir: Path) -> dict:
    with open(model_dir / YML_FILE, encoding="utf-8") as f:
        return yaml.safe_load(f)


def model_name(model_dir: Path) -> str:
    return read_yml(model_dir)["Global"]["model_name"]


def character_list(model_dir: Path) -> list[str]:
    """The rec dir's characters: its yml's ``character_dict``."""
    return list(read_yml(model_dir)["PostProcess"]["character_dict"])


def model_file_id(model_dir: Path) -> str:
    """``<model_name>@<sha256 prefix of inference.onnx>``, for run records."""
    return f"{model_name(model_dir)}@{sha256_file(model_dir / ONNX_FILE)[:12]}"
