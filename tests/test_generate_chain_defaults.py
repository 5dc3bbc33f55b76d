"""``generate``'s defaults follow a distilled student's own sampling record (steps, baked-in guidance)."""

from __future__ import annotations

import json

from pipelines.training.t2i_generate import load_t2i
from pipelines.training.unet_distill import CHAIN_FILE
from tests.distill_fixtures import teacher_dir


def test_baked_guidance_student_samples_with_one_conditional_pass(tmp_path, one_torch_thread):
    model = teacher_dir(tmp_path / "m")
    teacher = load_t2i(model)
    assert teacher.guidance > 1  # a teacher: two-evaluation CFG by default
    (model / "model" / CHAIN_FILE).write_text(json.dumps({"steps": 4, "guided": False, "baked_guidance": 4.0}))
    student = load_t2i(model)
    assert (student.steps, student.guidance) == (4, 1.0)


def test_unguided_chain_record_keeps_cfg(tmp_path, one_torch_thread):
    model = teacher_dir(tmp_path / "m")
    (model / "model" / CHAIN_FILE).write_text(json.dumps({"steps": 8, "guided": False, "baked_guidance": None}))
    student = load_t2i(model)
    assert student.steps == 8 and student.guidance > 1


def test_the_record_is_read_from_a_bare_pipeline_directory_too(tmp_path, one_torch_thread):
    pipeline = teacher_dir(tmp_path / "m") / "model"
    (pipeline / CHAIN_FILE).write_text(json.dumps({"steps": 2, "guided": False, "baked_guidance": 4.0}))
    student = load_t2i(pipeline)
    assert (student.steps, student.guidance) == (2, 1.0)
