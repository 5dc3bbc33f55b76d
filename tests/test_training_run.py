"""The training floor end to end on a tiny shapes corpus: resume after a kill, the card's lineage, the commit marker."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from models.training import read_metrics
from models.training.attribute_cnn import AttributeCNN
from pipelines.cli import main
from pipelines.sources.shapes import ShapesConfig, write_shapes_source
from pipelines.training.run import TrainSpec, run
from tests.resume import kill_at, same_weights

TINY = {
    "steps": 6, "batch_size": 4, "width": 8, "image_size": 32, "checkpoint_every": 2, "log_every": 1,
    "shuffle": 16, "eval_samples": 8, "warmup_steps": 2, "ema_decay": 0.5, "lr": 0.01, "cpu_threads": 1,
}  # fmt: skip


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    write_shapes_source(str(root / "train"), ShapesConfig(n=24, seed=0, shards=2, size=32))
    return root / "train"


@pytest.fixture(scope="module")
def unkilled(shapes, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "whole"
    return run(TrainSpec("shapes_classifier", (str(shapes),), str(out), TINY))


def _weights(model_dir) -> dict[str, torch.Tensor]:
    return load_file(str(model_dir / "model" / "model.safetensors"))


def _same_weights(a, b) -> bool:
    return same_weights(a / "model" / "model.safetensors", b / "model" / "model.safetensors")


def test_a_run_interrupted_after_step_5_resumes_from_4_and_ends_where_an_unkilled_run_ends(shapes, unkilled, tmp_path):
    out = tmp_path / "killed"
    spec = TrainSpec("shapes_classifier", (str(shapes),), str(out), TINY)
    kill_at(spec, 5)
    assert not (out / "_SUCCESS").exists() and sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "step-2",
        "step-4",
    ]
    done = run(spec)
    assert done.card()["resumed_from"] == 4
    assert _same_weights(done.path, unkilled.path)
    assert done.card()["held_loss"] == unkilled.card()["held_loss"]  # the resumed run kept its fixed batch's "before"
    steps = [r["step"] for r in read_metrics(done.metrics) if "eval" not in r]
    assert steps == [1, 2, 3, 4, 5, 6]  # the rows of the re-run steps 5 and 6 are not doubled


def test_another_seed_gives_other_weights(shapes, unkilled, tmp_path):
    other = run(TrainSpec("shapes_classifier", (str(shapes),), str(tmp_path / "o"), {**TINY, "seed": 1}))
    assert not _same_weights(other.path, unkilled.path)


def test_card_names_every_shard_with_the_checksum_of_its_bytes(shapes, unkilled):
    card = unkilled.card()
    shards = card["inputs"][0]["shards"]
    assert [s["name"] for s in shards] == ["00000", "00001"]
    for s in shards:
        stats = json.loads((shapes / f"{s['name']}_stats.json").read_text())
        assert s["sha256"] == stats["files"]["tar"]["sha256"]
        assert s["sha256"] == hashlib.sha256((shapes / f"{s['name']}.tar").read_bytes()).hexdigest()
        assert s["config_sha256"] == stats["config_sha256"] and s["samples"] == 12
    assert card["config"]["steps"] == 6 and card["config_sha256"] and card["code_version"]
    assert card["device"] == "cpu" and card["dtype"] == "float32" and card["ema"] is True
    assert set(card["final_metrics"]) >= {"shape_label_acc", "colour_label_acc", "objects_acc"}
    assert (
        card["model_files"]["model.safetensors"]
        == hashlib.sha256((unkilled.model / "model.safetensors").read_bytes()).hexdigest()
    )


def test_success_is_written_last_and_the_model_loads_without_the_trainer(unkilled):
    marker = unkilled.path / "_SUCCESS"
    assert marker.read_text().strip() == hashlib.sha256(unkilled.card_path.read_bytes()).hexdigest()
    others = [p for p in unkilled.path.rglob("*") if p.is_file() and p != marker]
    assert all(p.stat().st_mtime_ns <= marker.stat().st_mtime_ns for p in others)
    model = AttributeCNN.from_pretrained(unkilled.model)
    logits = model(torch.rand(2, 3, 32, 32))
    assert logits["shape"].shape == (2, 10) and all(torch.isfinite(v).all() for v in logits.values())
    assert (unkilled.samples / "loss.png").stat().st_size > 0 and (unkilled.samples / "sheet.png").stat().st_size > 0
    losses = [r["loss"] for r in read_metrics(unkilled.metrics) if "loss" in r]
    assert len(losses) == 6 and all(map(lambda v: v == v, losses)) and losses[-1] < losses[0]


def test_a_committed_model_is_not_retrained_and_another_config_is_refused(shapes, unkilled):
    before = unkilled.card_path.read_bytes()
    assert (
        run(TrainSpec("shapes_classifier", (str(shapes),), str(unkilled.path), TINY)).card_path.read_bytes() == before
    )
    with pytest.raises(FileExistsError):
        run(TrainSpec("shapes_classifier", (str(shapes),), str(unkilled.path), {**TINY, "lr": 0.02}))
    assert unkilled.card_path.read_bytes() == before


def _train_then_sigkill_self(spec: TrainSpec, at_step: int) -> None:
    def kill(step: int) -> None:
        if step == at_step:
            os.kill(os.getpid(), signal.SIGKILL)

    run(spec, on_step=kill)


def test_sigkill_after_checkpoint_then_cli_resume(shapes, unkilled, tmp_path):
    """A forked copy of this process (everything already imported) trains and is SIGKILLed right after checkpoint 4;
    the CLI then resumes the directory."""
    out = tmp_path / "sigkilled"
    spec = TrainSpec("shapes_classifier", (str(shapes),), str(out), TINY)
    child = multiprocessing.get_context("fork").Process(target=_train_then_sigkill_self, args=(spec, 4))
    child.start()
    child.join(timeout=300)
    assert child.exitcode == -signal.SIGKILL
    assert not (out / "_SUCCESS").exists() and (out / "checkpoints" / "step-4").is_dir()
    sets = [f"--set={k}={json.dumps(v)}" for k, v in TINY.items()]
    result = CliRunner().invoke(main, ["train", "shapes_classifier", "--data", str(shapes), "--out", str(out), *sets])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "card.json").read_text())["resumed_from"] == 4
    assert _same_weights(out, unkilled.path)


def test_from_a_parent_starts_at_its_weights_and_names_it(shapes, unkilled, tmp_path):
    child = run(
        TrainSpec("shapes_classifier", (str(shapes),), str(tmp_path / "child"), {**TINY, "steps": 1, "lr": 1e-9},
                  parent=str(unkilled.path))
    )  # fmt: skip
    assert child.card()["parents"]["from"]["card_sha256"] == unkilled.card_sha256()
    parent_w, child_w = _weights(unkilled.path), _weights(child.path)
    assert all(torch.allclose(parent_w[k], child_w[k], atol=1e-4) for k in parent_w if "n_averaged" not in k)
    with pytest.raises(FileNotFoundError, match="_SUCCESS"):
        run(TrainSpec("shapes_classifier", (str(shapes),), str(tmp_path / "x"), TINY, parent=str(tmp_path / "none")))


def test_trainers_lists_the_registered_trainers_with_their_defaults():
    result = CliRunner().invoke(main, ["trainers", "--json"])
    assert result.exit_code == 0, result.output
    (described,) = [t for t in json.loads(result.output) if t["name"] == "shapes_classifier"]
    assert described["config"]["steps"] == 300 and "lr" in described["config"]


def test_overwrite_replaces_a_model_of_another_run_only(shapes, tmp_path):
    out = str(tmp_path / "m")
    first = run(TrainSpec("shapes_classifier", (str(shapes),), out, {**TINY, "steps": 2}))
    old = first.card()["run_sha256"]
    again = run(TrainSpec("shapes_classifier", (str(shapes),), out, {**TINY, "steps": 2}), overwrite=True)
    assert again.card()["run_sha256"] == old and again.card()["resumed_from"] is None  # same run: kept, not redone
    other = run(TrainSpec("shapes_classifier", (str(shapes),), out, {**TINY, "steps": 2, "lr": 0.02}), overwrite=True)
    card = other.card()
    assert card["run_sha256"] != old and card["config"]["lr"] == 0.02 and other.committed()
    assert sorted(p.name for p in other.checkpoints.iterdir()) == ["step-2"]
