"""benchmarks/diffusion.py's bookkeeping: which parts ``--only`` runs, the rows and comparisons of those parts, and
the loss terms read back from a trainer's metrics.jsonl (no training, no sampling)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from benchmarks.diffusion import comparisons, loss_terms, parse, parts, samplings
from pipelines.training.trainers.t2i_teacher import T2ITeacherConfig

ARGS = argparse.Namespace(only=None, stages=[16, 8, 4], guidance=4.0, steps_states=["data"], baked=False)
TEACHER = {"teacher": Path("t"), "classifier": Path("c")}
PRUNING = {"pruned_kd": Path("a"), "pruned_no_kd": Path("b"), "pruned_kd_norm": Path("n")}
STEPS = {"cfg": Path("g"), "steps_16": Path("s16"), "steps_8": Path("s8"), "steps_4": Path("s4")}


def test_only_steps_also_trains_its_starting_model_and_the_default_is_every_part():
    assert parts(ARGS) == {"pruning", "cfg", "steps"}
    assert parts(argparse.Namespace(only=["steps"])) == {"steps", "cfg"}
    assert parts(argparse.Namespace(only=["pruning"])) == {"pruning"}


def test_samplings_are_those_of_the_trained_models_and_the_cfg_student_at_4_steps_only_with_the_chain():
    pruning = samplings(ARGS, TEACHER | PRUNING)
    assert {s.model for s in pruning.values()} == {"teacher", *PRUNING}
    assert "pruned KD (normalised features), 32 steps CFG" in pruning
    cfg_only = samplings(ARGS, TEACHER | {"cfg": Path("g")})
    assert "CFG-distilled, 32 steps" in cfg_only and "CFG-distilled, 4 steps" not in cfg_only
    chain = samplings(ARGS, TEACHER | STEPS)
    assert chain["CFG-distilled, 4 steps"].steps == 4 and chain["step-distilled, 4 steps"].model == "steps_4"
    assert {chain[f"CFG-distilled, {k} steps"].steps for k in (16, 8, 4)} == {16, 8, 4}


def _runs(names: list[str]) -> dict[str, dict[str, torch.Tensor]]:
    return {
        n: {"images": torch.full((2, 3, 4, 4), float(i)), "features": torch.ones(2, 3)} for i, n in enumerate(names)
    }


def test_comparisons_pair_each_student_with_its_baselines_and_skip_the_parts_not_run():
    chain = samplings(ARGS, TEACHER | STEPS)
    rows = comparisons(ARGS, _runs(list(chain)))
    assert [(r["model"], r["naive"]) for r in rows] == [
        ("step-distilled, 4 steps", "teacher, 4 steps CFG"),
        ("step-distilled, 16 steps", "CFG-distilled, 16 steps"),
        ("step-distilled, 8 steps", "CFG-distilled, 8 steps"),
        ("step-distilled, 4 steps", "CFG-distilled, 4 steps"),
        ("CFG-distilled, 32 steps", "teacher, 32 steps conditional"),
    ]
    pruning = comparisons(ARGS, _runs(list(samplings(ARGS, TEACHER | PRUNING))))
    assert [r["model"] for r in pruning] == ["pruned KD, 32 steps CFG", "pruned KD (normalised features), 32 steps CFG"]
    assert {r["naive"] for r in pruning} == {"pruned no KD, 32 steps CFG"}


def test_a_second_steps_states_chain_is_sampled_and_compared_with_the_first_and_with_the_cfg_student():
    args = argparse.Namespace(**{**vars(ARGS), "steps_states": ["data", "mix"]})
    mix = {f"steps_mix_{k}": Path(f"m{k}") for k in (16, 8, 4)}
    chain = samplings(args, TEACHER | STEPS | mix)
    assert (
        chain["step-distilled (mix), 4 steps"].model == "steps_mix_4"
        and chain["step-distilled, 4 steps"].model == "steps_4"
    )
    pairs = [(r["model"], r["naive"]) for r in comparisons(args, _runs(list(chain)))]
    for k in (16, 8, 4):
        assert (f"step-distilled (mix), {k} steps", f"CFG-distilled, {k} steps") in pairs
        assert (f"step-distilled, {k} steps", f"step-distilled (mix), {k} steps") in pairs
    assert ("step-distilled (mix), 4 steps", "teacher, 4 steps CFG") not in pairs  # only the first chain faces it


def test_the_baked_chain_is_sampled_and_compared_with_the_teacher_at_each_stage_and_with_the_first_chain():
    args = argparse.Namespace(**{**vars(ARGS), "baked": True})
    baked = {f"steps_baked_{k}": Path(f"b{k}") for k in (16, 8, 4)}
    chain = samplings(args, TEACHER | STEPS | baked)
    label = "step-distilled from the teacher (CFG baked in), {} steps"
    assert {chain[label.format(k)].model for k in (16, 8, 4)} == set(baked)
    assert {(chain[f"teacher, {k} steps CFG"].model, chain[f"teacher, {k} steps CFG"].steps) for k in (16, 8)} == {
        ("teacher", 16),
        ("teacher", 8),
    }
    pairs = [(r["model"], r["naive"]) for r in comparisons(args, _runs(list(chain)))]
    for k in (16, 8, 4):
        assert (label.format(k), f"teacher, {k} steps CFG") in pairs
        assert (label.format(k), f"step-distilled, {k} steps") in pairs
    assert "teacher, 16 steps CFG" not in samplings(ARGS, TEACHER | STEPS)  # only with the baked chain


def test_loss_terms_average_the_first_and_last_quarter_of_the_training_rows():
    rows = [{"step": s, "lr": 1e-4, "samples_per_s": 9.0, "loss": float(s), "task": s / 10} for s in range(10, 101, 10)]
    rows.append({"step": 100, "eval": True, "loss": 99.0})  # an evaluation row is not a training row
    rows[0]["features"] = 5.0  # a term logged in one row only
    terms = loss_terms(rows, 100)
    assert set(terms) == {"loss", "task", "features"}
    assert terms["loss"] == {"first": 15.0, "last": 90.0}  # steps 10, 20 and 80, 90, 100
    assert terms["task"] == {"first": 1.5, "last": 9.0}
    assert terms["features"] == {"first": 5.0}


def test_the_teacher_trainers_defaults_are_the_benchmarks_recorded_teacher():
    """`shardsmith train t2i_teacher` without keys trains the teacher the recorded run measured (its prompt fidelity)."""
    args, teacher = parse([]), T2ITeacherConfig()
    assert (args.teacher_steps, args.teacher_lr, args.batch_size, args.resolution) == (
        teacher.steps,
        teacher.lr,
        teacher.batch_size,
        teacher.resolution,
    )
    assert tuple(args.channels) == teacher.block_out_channels and args.baked
