"""``face_attributes``: detect faces, align each to a fixed-size crop, filter, pre-label attributes zero-shot, caption.

One manifest row per face candidate (key ``<input key>_f<i>``, source_key the input's); an input without a face is one
row rejected ``no_face``. The stored jpg is the aligned crop: ``faces[0].box``/``landmarks`` are in crop pixels, the
detection in source pixels is ``faces[0].source_box``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Literal

import numpy as np
import pyarrow as pa
from PIL import Image

from models.faces import AlignConfig, FaceDetectorConfig, align_face, build_face_detector
from models.faces.clip_labeler import ClipConfig, ClipScorer, tiny_clip
from pipelines.datasets.base import Dataset, DatasetConfig
from pipelines.datasets.ingest import encode_jpeg
from pipelines.datasets.registry import register
from pipelines.decode import DecodeConfig, Decoded, decode_sample
from pipelines.faces.caption import caption, face_label
from pipelines.faces.filters import Candidate, FilterConfig, first_rejection, pose, sharpness
from pipelines.faces.prelabel import PrelabelConfig, prelabel
from pipelines.faces.schema import load_schema
from pipelines.schema import Failed, InputSample, Outcome, Rejected, Written


class FaceAttributesConfig(DatasetConfig):
    detector: Literal["mtcnn", "haar"] = "mtcnn"
    # directory with pnet.pt/rnet.pt/onet.pt (else env SHARDSMITH_FACE_DETECTOR_WEIGHTS, else the weights in facenet-pytorch's wheel)
    detector_weights: str | None = None
    min_face_size: int = 40
    score_threshold: float = 0.9
    crop_size: int = 224
    margin: float = 0.25
    filters: FilterConfig = FilterConfig()
    prelabel: PrelabelConfig = PrelabelConfig()
    schema_version: str = "v1"
    clip_model: str | None = None  # production: open_clip architecture (else env SHARDSMITH_FACE_CLIP_MODEL)
    clip_pretrained: str | None = None  # production: checkpoint path (else env SHARDSMITH_FACE_CLIP_WEIGHTS)
    jpeg_quality: int = 95
    max_pixels: int = 64_000_000
    batch_inputs: int = 16  # inputs whose faces are scored by CLIP together


@dataclass(frozen=True)
class _Found:
    """One input's decoded image and its candidates, with a rejection (reason, detail) or None for each."""

    decoded: Decoded
    candidates: list[Candidate]
    verdicts: list[tuple[str, str] | None]


@register
class FaceAttributes(Dataset):
    name = "face_attributes"
    Config = FaceAttributesConfig
    fields = pa.schema(
        [
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("face_index", pa.int32()),
            ("faces_in_image", pa.int32()),
            ("score", pa.float32()),
            ("source_box", pa.list_(pa.float32())),
            ("sharpness", pa.float32()),
            ("yaw", pa.float32()),
            ("pitch", pa.float32()),
            ("caption", pa.string()),
            ("needs_review", pa.list_(pa.string())),
            ("url", pa.string()),
        ]
    )
    config: FaceAttributesConfig

    def setup(self) -> None:
        c = self.config
        self.schema = load_schema(c.schema_version)
        weights = c.detector_weights or os.environ.get("SHARDSMITH_FACE_DETECTOR_WEIGHTS") or None
        self.detector = build_face_detector(
            FaceDetectorConfig(c.detector, weights, c.min_face_size, score_threshold=c.score_threshold)
        )
        self.align = AlignConfig(c.crop_size, c.margin)
        self.scorer = ClipScorer(self._clip_config())
        self.options = {a.name: a.prompts for a in self.schema.attributes}

    def _clip_config(self) -> ClipConfig:
        if self.profile == "tiny":
            return tiny_clip()
        model = self.config.clip_model or os.environ.get("SHARDSMITH_FACE_CLIP_MODEL")
        weights = self.config.clip_pretrained or os.environ.get("SHARDSMITH_FACE_CLIP_WEIGHTS")
        if not model or not weights:
            raise ValueError("face_attributes: set clip_model/clip_pretrained or SHARDSMITH_FACE_CLIP_MODEL/_WEIGHTS")
        return ClipConfig(model, weights, os.environ.get("SHARDSMITH_DEVICE", "cpu"))

    def models(self) -> dict[str, str]:
        if not hasattr(self, "detector"):
            self.setup()
        return {"face_detector": self.detector.model_id, "attribute_labeller": self.scorer.model_id}

    def process(self, samples: Iterable[InputSample]) -> Iterator[Outcome]:
        if not hasattr(self, "detector"):
            self.setup()
        it = iter(samples)
        while chunk := list(islice(it, self.config.batch_inputs)):
            yield from self._chunk(chunk)

    def _chunk(self, chunk: list[InputSample]) -> Iterator[Outcome]:
        decode = DecodeConfig(max_pixels=self.config.max_pixels, require_caption=False)
        found: list[_Found | Failed] = []
        for sample in chunk:
            d = decode_sample(sample, decode)
            found.append(d if isinstance(d, Failed) else self._detect(d))
        passing = [
            c.aligned.image
            for f in found
            if isinstance(f, _Found)
            for c, v in zip(f.candidates, f.verdicts, strict=True)
            if v is None
        ]
        probs = iter(self.scorer.probabilities(passing, self.options))
        for f in found:
            if isinstance(f, Failed):
                yield f
            elif not f.candidates:
                yield Rejected(
                    f.decoded.key,
                    f.decoded.sample.source_key,
                    "no_face",
                    "the detector found no face",
                    {"faces_in_image": 0, "url": _url(f.decoded)},
                )
            else:
                for i, (c, v) in enumerate(zip(f.candidates, f.verdicts, strict=True)):
                    yield self._rejected(f.decoded, i, c, v) if v else self._written(f.decoded, i, c, next(probs))

    def _detect(self, d: Decoded) -> _Found:
        image = d.array()
        faces = self.detector.detect(image)
        cands = [Candidate(f, align_face(image, f.box, f.landmarks, self.align), len(faces)) for f in faces]
        return _Found(d, cands, [first_rejection(c, self.config.filters) for c in cands])

    def _fields(self, d: Decoded, i: int, c: Candidate) -> dict:
        yaw, pitch = pose(c.face.landmarks) if c.face.landmarks is not None else (None, None)
        return {
            "face_index": i,
            "faces_in_image": c.faces_in_image,
            "score": c.face.score,
            "source_box": [round(v, 2) for v in c.face.box],
            "sharpness": sharpness(c.aligned.image),
            "yaw": yaw,
            "pitch": pitch,
            "url": _url(d),
        }

    def _rejected(self, d: Decoded, i: int, c: Candidate, verdict: tuple[str, str]) -> Rejected:
        return Rejected(f"{d.key}_f{i}", d.sample.source_key, verdict[0], verdict[1], self._fields(d, i, c))

    def _written(self, d: Decoded, i: int, c: Candidate, probs: dict) -> Written:
        labels, review = prelabel(probs, self.schema, self.config.prelabel, self.scorer.model_id)
        values = {k: lab.value for k, lab in labels.items()}
        text = caption(values)
        fields = self._fields(d, i, c) | {
            "width": self.config.crop_size,
            "height": self.config.crop_size,
            "caption": text,
            "needs_review": review,
        }
        record = face_record(d, f"{d.key}_f{i}", c, fields, self.models(), self.schema.id) | {
            "attributes": {k: lab.to_json() for k, lab in labels.items()},
            "needs_review": review,
            "caption": text,
        }
        record["faces"][0]["label"] = face_label(c.face.score, values)
        jpg = encode_jpeg(Image.fromarray(c.aligned.image), self.config.jpeg_quality)
        files = {
            "jpg": jpg,
            "txt": text.encode(),
            "json": json.dumps(record, sort_keys=True, ensure_ascii=False).encode(),
        }
        return Written(f"{d.key}_f{i}", d.sample.source_key, files, fields)


def face_record(d: Decoded, key: str, c: Candidate, fields: dict, models: dict[str, str], schema_id: str) -> dict:
    """The json record of one face (attributes are added by the caller)."""
    marks = c.aligned.landmarks
    source_marks = c.face.landmarks
    face = {
        "box": list(c.aligned.box),
        "score": round(c.face.score, 4),
        "label": f"face {c.face.score:.2f}",
        "source_box": fields["source_box"],
        "source_landmarks": None if source_marks is None else np.round(source_marks, 2).tolist(),
    }
    if marks is not None:
        face["landmarks"] = np.round(marks, 2).tolist()
    return {
        "key": key,
        "source_key": d.sample.source_key,
        "width": fields["width"],
        "height": fields["height"],
        "faces": [face],
        "face_index": fields["face_index"],
        "faces_in_image": fields["faces_in_image"],
        "quality": {
            "sharpness": round(fields["sharpness"], 2),
            "yaw": fields["yaw"],
            "pitch": fields["pitch"],
            "out_of_bounds": round(c.aligned.out_of_bounds, 4),
        },
        "source": {"width": d.image.width, "height": d.image.height, "url": fields["url"], "caption": d.caption},
        "alignment": {"size": fields["width"], "matrix": np.round(c.aligned.matrix, 6).tolist()},
        "models": models,
        "attribute_schema": schema_id,
    }


def _url(d: Decoded) -> str | None:
    return d.meta.get("url") or d.sample.url or None
