"""retrieval_teacher and retrieval_student on a tiny shapes -> retrieval_negatives corpus: a few steps each, every loss
term logged exactly when its weight is > 0, models loadable by their own libraries, the teacher in the student's card."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from models.retrieval.blip import load_blip
from models.retrieval.clip import load_clip
from models.training import read_metrics
from pipelines.cli import main
from pipelines.training.run import TrainSpec, run
from tests.resume import killed_and_resumed, same_weights
from tests.retrieval_corpus import retrieval_corpus

FAST = {
    "steps": 3, "batch_size": 8, "log_every": 1, "checkpoint_every": 3, "warmup_steps": 1, "shuffle": 16,
    "eval_samples": 16, "cpu_threads": 1,
}  # fmt: skip
TINY_BLIP = {"kind": "blip", "width": 32, "layers": 1, "vocab_size": 200}
TERMS = ("contrastive", "distill", "hard_negative", "lwf")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return retrieval_corpus(tmp_path_factory)


@pytest.fixture(scope="module")
def blip_teacher(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher") / "blip"
    return run(TrainSpec("retrieval_teacher", (str(corpus.negatives),), str(out), {**FAST, **TINY_BLIP}))


def _rows(model_dir) -> list[dict]:
    return [r for r in read_metrics(model_dir.metrics) if "eval" not in r]


def test_blip_teacher_trains_itc_itm_and_hard_negatives_and_loads_with_transformers(blip_teacher, corpus):
    rows = _rows(blip_teacher)
    assert [r["step"] for r in rows] == [1, 2, 3]
    for r in rows:
        assert {"itc", "itm", "hard_negative"} <= set(r) and all(r[k] > 0 for k in ("itc", "itm", "hard_negative"))
        assert r["loss"] == pytest.approx(r["itc"] + r["itm"] + r["hard_negative"], rel=1e-5)
    model, processor = load_blip(blip_teacher.model)
    assert processor.tokenizer.tokenize("a small red circle") == ["a", "small", "red", "circle"]
    metrics = blip_teacher.card()["final_metrics"]
    assert {"t2i_r@1", "i2t_r@10", "replace-att_acc", "swap-att_acc"} <= set(metrics)


def test_open_clip_teacher_has_no_itm_term_loads_with_open_clip_and_teaches_a_student(corpus, tmp_path):
    config = {**FAST, "kind": "open_clip", "steps": 2, "hard_negative_weight": 0.0}
    teacher = run(TrainSpec("retrieval_teacher", (str(corpus.negatives),), str(tmp_path / "t"), config))
    assert all(set(r) & {"itc", "itm", "hard_negative"} == {"itc"} for r in _rows(teacher))
    model, _, tokenizer = load_clip(teacher.model)
    assert model.encode_text(tokenizer(["a red circle"])).shape == (1, 64)
    config = {**FAST, "steps": 2, "hard_negative_weight": 0.0}  # distilled from its scaled cosines
    student = run(
        TrainSpec("retrieval_student", (str(corpus.negatives),), str(tmp_path / "s"), config, str(teacher.path))
    )
    assert all(r["distill"] > 0 and "hard_negative" not in r for r in _rows(student))
    assert student.card()["parents"]["teacher"]["card_sha256"] == teacher.card_sha256()


def test_student_distils_the_teacher_with_every_term_and_names_it_in_its_card(blip_teacher, corpus, tmp_path):
    out = tmp_path / "student"
    sets = [f"{k}={v}" for k, v in {**FAST, "lwf_weight": 0.5, "distill_weight": 2.0}.items()]
    args = ["train", "retrieval_student", "--data", str(corpus.negatives), "--data", str(corpus.general)]
    result = CliRunner().invoke(main, [*args, "--teacher", str(blip_teacher.path), "--out", str(out)] + [
        a for s in sets for a in ("--set", s)
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [r for r in read_metrics(out / "metrics.jsonl") if "eval" not in r]
    for r in rows:
        assert set(TERMS) <= set(r)
        weighted = r["contrastive"] + 2.0 * r["distill"] + r["hard_negative"] + 0.5 * r["lwf"]
        assert r["loss"] == pytest.approx(weighted, rel=1e-5)
        assert min(r["contrastive"], r["distill"], r["hard_negative"]) > 0
    assert rows[0]["lwf"] == pytest.approx(0.0, abs=1e-6)  # the student starts as its own reference
    assert rows[-1]["lwf"] > 0
    card = json.loads((out / "card.json").read_text())
    assert card["parents"]["teacher"]["card_sha256"] == blip_teacher.card_sha256()
    assert card["parents"]["teacher"]["trainer"] == "retrieval_teacher"
    assert [i["url"] for i in card["inputs"]] == [str(corpus.negatives), str(corpus.general)]
    assert {"general_t2i_r@1", "t2i_r@1", "swap-att_acc"} <= set(card["final_metrics"])
    model, _, tokenizer = load_clip(out / "model")
    with torch.no_grad():
        assert torch.isfinite(model.encode_image(torch.rand(2, 3, 64, 64))).all()


@pytest.mark.parametrize(
    "weights",
    [
        {"contrastive_weight": 1.0, "distill_weight": 0.0, "hard_negative_weight": 0.0, "lwf_weight": 0.0},
        {"contrastive_weight": 0.0, "distill_weight": 0.0, "hard_negative_weight": 1.0, "lwf_weight": 0.0},
    ],
)
def test_a_zero_weight_turns_its_term_off(corpus, tmp_path, weights):
    student = run(TrainSpec("retrieval_student", (str(corpus.negatives),), str(tmp_path / "s"), {**FAST, **weights}))
    on = {t for t in TERMS if weights[f"{t}_weight"]}
    for r in _rows(student):
        assert set(r) & set(TERMS) == on
        assert r["loss"] == pytest.approx(sum(r[t] for t in on), rel=1e-5) and r["loss"] > 0


def test_distillation_without_a_teacher_and_lwf_without_replay_are_refused(corpus, tmp_path):
    with pytest.raises(ValueError, match="needs --teacher"):
        run(TrainSpec("retrieval_student", (str(corpus.negatives),), str(tmp_path / "a"), FAST))
    with pytest.raises(ValueError, match="needs replay data"):
        config = {**FAST, "distill_weight": 0.0, "lwf_weight": 1.0}
        run(TrainSpec("retrieval_student", (str(corpus.negatives),), str(tmp_path / "b"), config))


def _img2dataset_folder(corpus, root):
    """The general split (json without negatives) as img2dataset writes it: tars, ``_stats.json``, no sizes.json."""
    import shutil

    root.mkdir()
    for tar in sorted(corpus.general.glob("*.tar")):
        shutil.copy(tar, root / tar.name)
        n = json.loads((corpus.general / "sizes.json").read_text())[tar.name]
        (root / f"{tar.stem}_stats.json").write_text(json.dumps({"count": n, "successes": n, "failed_to_download": 0}))
    return root


def test_hard_negatives_on_data_without_them_are_built_from_the_captions_or_refused(corpus, tmp_path):
    raw = str(_img2dataset_folder(corpus, tmp_path / "i2d"))
    student = {**FAST, "distill_weight": 0.0}
    for name, config in (("retrieval_student", student), ("retrieval_teacher", {**FAST, "kind": "open_clip"})):
        with pytest.raises(ValueError, match="build retrieval_negatives"):
            run(TrainSpec(name, (raw,), str(tmp_path / name), {**config, "generate_negatives": False}))
        built = run(TrainSpec(name, (raw,), str(tmp_path / f"{name}-built"), config))
        assert all(r["hard_negative"] > 0 for r in _rows(built)), name  # the NegCLIP term trains, not 0
    model = run(TrainSpec("retrieval_student", (raw,), str(tmp_path / "ok"), {**student, "hard_negative_weight": 0.0}))
    assert [r["step"] for r in _rows(model)] == [1, 2, 3]


def test_negatives_built_while_batching_are_retrieval_negatives_own_whatever_the_batch():
    from pipelines.negatives import NegativesConfig, generate_negatives_many
    from pipelines.training.retrieval_data import with_generated_negatives

    captions = ["a small red circle and a large blue square", "two green triangles", "a striped yellow star"]
    items = [{"caption": c, "negatives": []} for c in captions] + [{"caption": "kept", "negatives": [("k", "own")]}]
    rules = NegativesConfig()
    expected = [[(n.kind, n.text) for n in negs] for negs in generate_negatives_many(captions, rules)]
    assert [i["negatives"] for i in with_generated_negatives(items, rules)] == [*expected, [("k", "own")]]
    assert [i["negatives"] for i in with_generated_negatives(items[::-1], rules)][::-1] == [*expected, [("k", "own")]]
    assert all(expected)


def test_a_killed_student_resumes_with_its_replay_stream_and_ends_where_an_unkilled_run_ends(corpus, tmp_path):
    config = {**FAST, "steps": 4, "checkpoint_every": 2, "distill_weight": 0.0, "lwf_weight": 1.0}
    data = (str(corpus.negatives), str(corpus.general))
    whole = run(TrainSpec("retrieval_student", data, str(tmp_path / "whole"), config))
    resumed = killed_and_resumed(TrainSpec("retrieval_student", data, str(tmp_path / "killed"), config), 3)
    assert resumed.card()["resumed_from"] == 2
    weights = "open_clip_model.safetensors"
    assert same_weights(whole.model / weights, resumed.model / weights, atol=1e-5)
    assert [r["lwf"] for r in _rows(resumed)] == pytest.approx([r["lwf"] for r in _rows(whole)], rel=1e-4)
    assert (resumed.samples / "sheet.png").stat().st_size > 0


def test_hardest_in_batch_negatives_skip_the_pair_itself_and_captions_equal_to_it():
    from pipelines.training.trainers.retrieval_teacher import hardest_in_batch

    sims = torch.tensor([[0.9, 0.8, 0.1], [0.7, 0.95, 0.2], [0.3, 0.1, 0.99]])
    images, texts = hardest_in_batch(sims, ["a", "b", "c"])
    assert list(zip(images.tolist(), texts.tolist(), strict=True)) == [(0, 1), (1, 0), (2, 0), (1, 0), (0, 1), (1, 2)]
    images, texts = hardest_in_batch(sims, ["a", "a", "c"])  # captions 0 and 1 are the same text: no negative
    assert all({i, t} != {0, 1} for i, t in zip(images.tolist(), texts.tolist(), strict=True))
    assert hardest_in_batch(sims, ["a"] * 3)[0].numel() == 0


def test_teacher_starts_from_production_weights_by_path(blip_teacher, corpus, tmp_path):
    from safetensors.torch import load_file

    config = {**FAST, **TINY_BLIP, "steps": 1, "lr": 0.0, "weights": str(blip_teacher.model)}
    again = run(TrainSpec("retrieval_teacher", (str(corpus.negatives),), str(tmp_path / "t"), config))
    a, b = (load_file(str(d.model / "model.safetensors")) for d in (blip_teacher, again))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (again.model / "vocab.txt").read_text() == (blip_teacher.model / "vocab.txt").read_text()


def test_all_zero_or_negative_loss_weights_are_refused_before_training():
    from pydantic import ValidationError

    from pipelines.training.trainers.retrieval_student import RetrievalStudentConfig
    from pipelines.training.trainers.retrieval_teacher import RetrievalTeacherConfig

    with pytest.raises(ValidationError, match="every loss weight is 0"):
        RetrievalStudentConfig(contrastive_weight=0, distill_weight=0, hard_negative_weight=0)
    with pytest.raises(ValidationError, match="every loss weight is 0"):
        RetrievalTeacherConfig(itc_weight=0, itm_weight=0, hard_negative_weight=0)
    with pytest.raises(ValidationError, match="no ITM head"):
        RetrievalTeacherConfig(kind="open_clip", itc_weight=0, hard_negative_weight=0)
    with pytest.raises(ValidationError, match=">= 0"):
        RetrievalStudentConfig(lwf_weight=-1)
    assert RetrievalStudentConfig(distill_weight=0, hard_negative_weight=0).contrastive_weight == 1.0
