"""The retrieval asset checks as plain functions: eval floors and the index re-derived from gallery and model, each
passing on good output and failing on broken output (a figure under its floor, a row corrupted, a key missing)."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from pipelines.checks import outcome
from pipelines.checks.retrieval import eval_floors, gallery_members, index_faithful, merged
from pipelines.training.retrieval_index import build_index
from pipelines.training.run import TrainSpec, run
from tests.retrieval_corpus import retrieval_corpus

STUDENT = {
    "steps": 2, "batch_size": 8, "log_every": 1, "checkpoint_every": 2, "warmup_steps": 1, "shuffle": 16,
    "eval_samples": 8, "cpu_threads": 1, "distill_weight": 0.0,
}  # fmt: skip
METRICS = {"t2i_r@1": 0.31, "t2i_r@10": 0.8, "replace-att_acc": 0.92, "swap-att_acc": 0.71}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return retrieval_corpus(tmp_path_factory)


@pytest.fixture(scope="module")
def student(corpus, tmp_path_factory, one_torch_thread):
    out = tmp_path_factory.mktemp("student") / "s"
    return run(TrainSpec("retrieval_student", (str(corpus.negatives),), str(out), STUDENT))


@pytest.fixture(scope="module")
def built(student, corpus, tmp_path_factory):
    return build_index(student.path, str(corpus.negatives), tmp_path_factory.mktemp("index") / "index")


@pytest.fixture
def index(built, tmp_path):
    """A fresh copy of the built index, free to break."""
    return shutil.copytree(built, tmp_path / "index")


def _rewrite(index, edit) -> None:
    """Replace the stored embeddings and keys with ``edit(embeddings, keys)``, as a writer bug would."""
    embeddings = load_file(str(index / "index.safetensors"))["embeddings"]
    embeddings, keys = edit(embeddings.clone(), json.loads((index / "keys.json").read_text()))
    save_file({"embeddings": embeddings.contiguous()}, str(index / "index.safetensors"))
    (index / "keys.json").write_text(json.dumps(keys))


def test_eval_floors_pass_at_or_above_and_fail_below_missing_or_nan():
    floors = {"t2i_r@1": 0.3, "replace-att_acc": 0.9, "swap-att_acc": 0.71}
    assert eval_floors(METRICS, floors).passed
    low = eval_floors({**METRICS, "swap-att_acc": 0.69}, floors)
    assert not low.passed and low.problems == ("swap-att_acc = 0.69 is below its floor 0.71",)
    missing = eval_floors({k: v for k, v in METRICS.items() if k != "t2i_r@1"}, floors)
    assert not missing.passed and "t2i_r@1: not in the final metrics" in missing.problems[0]
    assert not eval_floors({**METRICS, "t2i_r@1": math.nan}, floors).passed
    assert low.metadata["figures"]["swap-att_acc"] == 0.69 and low.metadata["floors"] == floors


def test_merged_prefixes_each_parts_problems():
    result = merged("contract", {"train": outcome("contract", []), "test": outcome("contract", ["bad tar"])})
    assert result.name == "contract" and result.problems == ("test: bad tar",)
    assert merged("contract", {"train": outcome("contract", [])}).passed


def test_index_check_passes_on_the_built_index(built, student, corpus):
    result = index_faithful(built, student.path, str(corpus.negatives), sample=32)
    assert result.passed, result.problems
    assert result.metadata["rows"] == 32 and result.metadata["sampled"] == 32
    assert result.metadata["min_own_score"] == pytest.approx(1.0, abs=2e-3)
    members = gallery_members(str(corpus.negatives))
    assert set(json.loads((built / "keys.json").read_text())) == set(members)


def test_index_check_fails_on_a_corrupted_row(index, student, corpus):
    def corrupt(embeddings, keys):
        embeddings[0] = -embeddings[0]  # the first row (always sampled) no longer the image's embedding
        return embeddings, keys

    _rewrite(index, corrupt)
    result = index_faithful(index, student.path, str(corpus.negatives), sample=4)
    assert not result.passed
    first = json.loads((index / "keys.json").read_text())[0]
    assert any(p.startswith(f"{first}: re-embedded, it scores") for p in result.problems), result.problems


def test_index_check_fails_on_rows_and_keys_out_of_step(index, student, corpus):
    def swap(embeddings, keys):
        return embeddings, [keys[-1], *keys[1:-1], keys[0]]  # first and last key swapped: rows point at other images

    _rewrite(index, swap)
    result = index_faithful(index, student.path, str(corpus.negatives), sample=2)
    assert not result.passed and any("its top-1 is" in p for p in result.problems), result.problems


def test_index_check_fails_on_a_missing_key(index, student, corpus):
    dropped = []

    def drop(embeddings, keys):
        dropped.append(keys[5])
        return torch.cat([embeddings[:5], embeddings[6:]]), keys[:5] + keys[6:]

    _rewrite(index, drop)
    result = index_faithful(index, student.path, str(corpus.negatives))
    assert result.problems == (f"gallery sample {dropped[0]} is not in the index",)


def test_index_check_fails_on_an_index_of_another_model_card(index, student, corpus):
    meta = json.loads((index / "index.json").read_text())
    (index / "index.json").write_text(json.dumps({**meta, "card_sha256": "0" * 64}))
    result = index_faithful(index, student.path, str(corpus.negatives), sample=2)
    assert not result.passed and "the index was built from card 000" in result.problems[0]
