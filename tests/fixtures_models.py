"""Session fixtures for the model tests: tiny random-weight models built once in a temp cache, two real photos."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from skimage import data

from models import build, tiny_spec
from models.types import ModelSpec


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One intra-op thread while a model test module runs: on 2 shared cores, OpenMP threads that spin-wait on
    busy cores made a tiny Grounding DINO forward 4-7x slower. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("tiny_models")


@pytest.fixture(scope="session")
def photos() -> list[np.ndarray]:
    """astronaut 512x512 and chelsea 300x451: different aspect ratios, so a batch of both is padded."""
    return [data.astronaut(), data.chelsea()]


@pytest.fixture(scope="session")
def gd_spec(tiny_cache) -> ModelSpec:
    return tiny_spec("grounding_dino", cache_dir=tiny_cache)


@pytest.fixture(scope="session")
def detector(gd_spec):
    return build("grounding_dino", gd_spec)


@pytest.fixture(scope="session")
def open_detector(detector):
    """The same weights with both thresholds at 0, so every query comes back (random weights score arbitrarily);
    160 px inputs keep the CPU tests fast."""
    from models.detection.grounding_dino import GroundingDinoDetector

    spec = dataclasses.replace(detector.spec, box_threshold=0.0, text_threshold=0.0, image_size=160, max_size=267)
    return GroundingDinoDetector(detector._model, spec, detector.checkpoint_sha256)


@pytest.fixture(scope="session")
def sam_spec(tiny_cache) -> ModelSpec:
    return tiny_spec("sam", cache_dir=tiny_cache)


@pytest.fixture(scope="session")
def segmenter(sam_spec):
    return build("sam", sam_spec)
