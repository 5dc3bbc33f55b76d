"""Face models: MTCNN from configured weights, the Haar fallback, and the tiny random CLIP through open_clip's own loader."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from skimage import data

from models.faces import FaceDetectorConfig, build_face_detector
from models.faces.clip_labeler import TINY_CLIP_NAME, ClipScorer, tiny_clip
from models.faces.detector import MTCNN_NETS, wheel_weights_dir


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_mtcnn_loads_configured_weights_and_finds_the_astronaut_with_landmarks(tmp_path):
    for name in MTCNN_NETS:
        shutil.copy(wheel_weights_dir() / f"{name}.pt", tmp_path / f"{name}.pt")
    det = build_face_detector(FaceDetectorConfig(weights=str(tmp_path)))
    faces = det.detect(data.astronaut())
    assert len(faces) == 1 and faces[0].score > 0.99 and faces[0].landmarks.shape == (5, 2)
    x0, y0, x1, y1 = faces[0].box
    assert 150 < x0 < x1 < 300 and 30 < y0 < y1 < 200  # her face, upper middle of the 512 x 512 photo
    assert det.detect(data.coffee()) == []
    assert det.detect(np.zeros((12, 300, 3), np.uint8)) == []  # smaller than the smallest face: no pyramid level
    with pytest.raises(FileNotFoundError):
        build_face_detector(FaceDetectorConfig(weights=str(tmp_path / "missing")))


def test_haar_fallback_finds_the_astronaut():
    faces = build_face_detector(FaceDetectorConfig(backend="haar")).detect(data.astronaut())
    assert len(faces) == 1 and faces[0].landmarks is None


def test_tiny_clip_is_a_real_open_clip_model_loaded_through_the_production_loader(tmp_path):
    import open_clip

    config = tiny_clip(tmp_path)
    assert config.model == TINY_CLIP_NAME and "random" in config.model
    scorer = ClipScorer(config)
    saved = torch.load(config.pretrained, weights_only=True)
    loaded = scorer.model.state_dict()
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved)
    assert isinstance(scorer.model, open_clip.CLIP) and "random" in scorer.model_id
    assert tiny_clip(tmp_path) == config  # cached
    probs = scorer.probabilities(
        [np.zeros((224, 224, 3), np.uint8), data.astronaut()],
        {
            "Smiling": {"1": ("a smiling face",), "-1": ("a neutral face",)},
            "age": {"young": ("a young person",), "old": ("an old person",), "child": ("a child",)},
        },
    )
    assert len(probs) == 2 and all(abs(sum(p["age"].values()) - 1) < 1e-5 for p in probs)
    assert set(probs[0]["Smiling"]) == {"1", "-1"}
