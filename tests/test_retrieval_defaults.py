"""The retrieval trainers' defaults: the open_clip teacher, and replay batches read only when LwF uses them."""

from __future__ import annotations

import pytest

from pipelines.training.run import TrainSpec, resolve
from tests.retrieval_corpus import retrieval_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return retrieval_corpus(tmp_path_factory)


def _first_batch(corpus, tmp_path, lwf_weight: float) -> dict:
    config = {"batch_size": 4, "shuffle": 8, "distill_weight": 0.0, "lwf_weight": lwf_weight}
    spec = TrainSpec("retrieval_student", (str(corpus.negatives), str(corpus.general)), str(tmp_path), config)
    trainer = resolve(spec).trainer
    return next(iter(trainer.task(trainer.build()).batches(0)))


def test_replay_batches_are_read_only_when_lwf_is_on(corpus, tmp_path, one_torch_thread):
    """The general split given as a second --data feeds the eval's ``general_`` recall; without LwF no step reads it."""
    assert _first_batch(corpus, tmp_path / "off", 0.0)["replay"] is None
    on = _first_batch(corpus, tmp_path / "on", 1.0)["replay"]
    assert on is not None and on["student"]["pixel_values"].shape[0] == 4


def test_the_default_teacher_is_the_open_clip_dual_encoder():
    from pipelines.training.trainers.retrieval_teacher import RetrievalTeacherConfig

    config = RetrievalTeacherConfig()
    assert config.kind == "open_clip" and config.hard_negative_weight > 0 and config.itc_weight > 0
