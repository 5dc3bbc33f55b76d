"""``shardsmith eval retrieval``, ``index build`` and ``search`` on a tiny trained student: figures in range and
counted against the data, hits that exist in the gallery with the scores the model gives, a stale index refused."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
import webdataset as wds
from click.testing import CliRunner
from PIL import Image

from models.retrieval.clip import load_clip
from pipelines.cli import main
from pipelines.training.eval_retrieval import evaluate_retrieval
from pipelines.training.run import TrainSpec, run
from tests.retrieval_corpus import retrieval_corpus
from tests.test_cli_imports import _probe

STUDENT = {
    "steps": 2, "batch_size": 8, "log_every": 1, "checkpoint_every": 2, "warmup_steps": 1, "shuffle": 16,
    "eval_samples": 8, "cpu_threads": 1, "distill_weight": 0.0,
}  # fmt: skip
RECALL = {f"{d}_r@{k}" for d in ("i2t", "t2i") for k in (1, 5, 10)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return retrieval_corpus(tmp_path_factory)


@pytest.fixture(scope="module")
def student(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("student") / "s"
    return run(TrainSpec("retrieval_student", (str(corpus.negatives),), str(out), STUDENT))


def _samples(directory) -> list[dict]:
    return list(wds.WebDataset(sorted(str(p) for p in directory.glob("*.tar")), shardshuffle=False))


def test_eval_cli_gives_recall_and_per_kind_accuracy_counted_against_the_data(student, corpus):
    result = CliRunner().invoke(
        main, ["eval", "retrieval", str(student.path), "--data", str(corpus.negatives), "--json"]
    )
    assert result.exit_code == 0, result.output
    got = json.loads(result.output.strip().splitlines()[-1])
    kinds = Counter(n["kind"] for s in _samples(corpus.negatives) for n in json.loads(s["json"])["negatives"])
    assert {"replace-att", "swap-att"} <= set(kinds)
    assert set(got) >= RECALL and got["eval_samples"] == 32 and got["negative_scorer"] == "cosine"
    for kind, n in kinds.items():
        assert got[f"{kind}_n"] == n and 0.0 <= got[f"{kind}_acc"] <= 1.0
    assert all(0.0 <= got[k] <= 1.0 for k in RECALL)
    assert got["i2t_r@1"] <= got["i2t_r@5"] <= got["i2t_r@10"]


def test_eval_of_shards_without_negatives_gives_recall_only_and_a_limit_is_kept(student, corpus):
    result = evaluate_retrieval(student.path, str(corpus.general), limit=10)
    assert result.samples == 10 and set(result.recall) == RECALL and result.negatives == {}
    # among 10 images the true caption is always within the 10 best: recall@10 is exactly 1
    assert result.recall["i2t_r@10"] == 1.0 and result.recall["t2i_r@10"] == 1.0
    out = CliRunner().invoke(main, ["eval", "retrieval", str(student.path), "--data", str(corpus.general)])
    assert out.exit_code == 0 and "no json negatives" in out.output and "build retrieval_negatives" in out.output


def test_eval_of_a_blip_teacher_scores_negatives_with_its_matching_head(corpus, tmp_path):
    config = {**STUDENT, "kind": "blip", "width": 32, "layers": 1, "vocab_size": 200}
    config.pop("distill_weight")
    teacher = run(TrainSpec("retrieval_teacher", (str(corpus.negatives),), str(tmp_path / "t"), config))
    result = evaluate_retrieval(teacher.path, str(corpus.negatives), limit=8)
    assert result.negative_scorer == "itm" and result.samples == 8 and result.negatives
    assert all(0.0 <= v["accuracy"] <= 1.0 and v["n"] > 0 for v in result.negatives.values())


def test_index_and_search_return_gallery_keys_with_the_models_own_scores(student, corpus, tmp_path):
    runner = CliRunner()
    index = tmp_path / "index"
    built = runner.invoke(
        main, ["index", "build", str(student.path), "--data", str(corpus.negatives), "--out", str(index)]
    )
    assert built.exit_code == 0, built.output
    meta = json.loads((index / "index.json").read_text())
    assert meta["card_sha256"] == student.card_sha256() and meta["count"] == 32
    sheet = tmp_path / "sheet.png"
    found = runner.invoke(main, ["search", str(index), "a small red circle", "--k", "5", "--out", str(sheet), "--json"])
    assert found.exit_code == 0, found.output
    hits = json.loads(found.output.strip().splitlines()[-1])
    samples = {s["__key__"]: s for s in _samples(corpus.negatives)}
    assert len(hits) == 5 and {h["key"] for h in hits} <= set(samples)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    # independently: open_clip's own loader, the top hit's image against the query, in fp32
    model, preprocess, tokenizer = load_clip(student.model)
    with torch.no_grad():
        image = preprocess(Image.open(io.BytesIO(samples[hits[0]["key"]]["jpg"])).convert("RGB"))[None]
        img = F.normalize(model.encode_image(image), dim=-1)
        txt = F.normalize(model.encode_text(tokenizer(["a small red circle"])), dim=-1)
    assert float(img @ txt.T) == pytest.approx(hits[0]["score"], abs=2e-3)  # fp16 gallery
    assert Image.open(sheet).size[0] > 0


def test_search_refuses_an_index_whose_model_changed(student, corpus, tmp_path):
    from pipelines.training.retrieval_index import build_index, search

    index = build_index(student.path, str(corpus.general), tmp_path / "index")
    meta = json.loads((index / "index.json").read_text())
    meta["card_sha256"] = "0" * 64
    (index / "index.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="changed since the index was built"):
        search(index, "a red circle")


def test_the_new_commands_load_no_heavy_library_for_their_help():
    for command in (["eval", "retrieval", "--help"], ["index", "build", "--help"], ["search", "--help"]):
        got = _probe(*command)
        assert got["exit"] == 0 and got["loaded"] == [], (command, got)


def test_eval_reads_a_plain_folder_of_tars_as_it_reads_the_dataset(student, corpus, tmp_path):
    import shutil

    plain = tmp_path / "plain"
    plain.mkdir()
    for tar in sorted(corpus.negatives.glob("*.tar")):
        shutil.copy(tar, plain / tar.name)  # no sizes.json, no _stats.json: shards from elsewhere
    a = evaluate_retrieval(student.path, str(corpus.negatives))
    b = evaluate_retrieval(student.path, str(plain))
    assert b.samples == a.samples == 32 and b.recall == a.recall and b.negatives == a.negatives
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .tar files"):
        evaluate_retrieval(student.path, str(tmp_path / "empty"))
