"""The text-to-image chain side by side, one run: teacher, pruned students, guidance- and step-distilled students.

python -m benchmarks.diffusion [--teacher-steps 4000] [--student-steps 200] [--student-ema 0.98] [--stages 16 8 4] [--out DIR]
    [--cfg-steps N] [--prune-steps N] [--cfg-lr LR] [--steps-lr LR] [--steps-states data ...] [--no-baked]
    [--only pruning | cfg | steps ...] [--kd-weights 1 1 1] [--kd-norm-weights 1 1 0.1] [--guidance-range 2 6]

Renders a shapes train split and a held-out test split (other seed, the test stream), trains through the same
``run(TrainSpec(...))`` as ``shardsmith train``: a ``shapes_classifier`` (the fidelity judge, itself scored on held-out
renders), a ``t2i_teacher``, ``unet_prune`` BK-SDM-Base with KD (BK-SDM's unnormalised loss at ``--kd-weights``, and
``kd_feature_norm`` at ``--kd-norm-weights``) and the same student without KD (``kd=false``), ``unet_cfg_distill`` from
the teacher and ``unet_step_distill`` 32 -> 16 -> 8 -> 4 from the guided student (both on w in ``--guidance-range``;
and, unless ``--no-baked``, the chain from the teacher itself, its CFG at w baked into the first stage, as the
``unet_step_distilled_*`` assets train it),
every student with the same seed, steps, batch, learning rate and EMA (the pruned students their own steps with
``--prune-steps``, the CFG student its own with ``--cfg-steps`` / ``--cfg-lr``, the step stages their lr with
``--steps-lr``). Then, from the same noise and the fidelity prompts (every
colour x shape once at 36), samples every model and reports: UNet evaluations, parameters and wall time per image
(interleaved medians); the quality comparisons against their naive baselines (MSE and the classifier's penultimate
feature distance; the step chain against the teacher at its steps and against the CFG student at them, same evaluations); prompt fidelity (classifier colour / shape / both) beside chance. A rerun on the same ``--out``
reuses every model whose spec is unchanged (``run()``'s rule) and keeps the seconds it took (``train_seconds.json``).
``--only`` trains and compares one part of the chain (the classifier and teacher always: reused on the same ``--out``;
``steps`` also needs ``cfg``, its starting model) and writes its results under ``--out``, not ``benchmarks/results``.
Every student's loss terms (task, output and feature KD, ...) are read back from its ``metrics.jsonl``.
"""

from __future__ import annotations

# isort: off
import models.compat  # noqa: F401  (torchvision's ops before diffusers imports transformers' image utils)

# isort: on
import argparse
import io
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from benchmarks.common import interleaved, median, write_result
from models.training.attribute_cnn import AttributeCNN
from models.training.metrics import read_metrics
from pipelines.loaders import BatchLoader, LoaderConfig, open_shards
from pipelines.sources.shapes import ShapesConfig, write_shapes_source
from pipelines.training.card import ModelDir
from pipelines.training.run import TrainSpec, run
from pipelines.training.t2i_generate import fidelity_prompts, score_fidelity
from pipelines.training.trainers.shapes_classifier import scene_objects
from pipelines.training.unet_distill import chain_sampling, encode_text, fixed_noise, load_teacher, mse, sample_model

CPU = torch.device("cpu")
STAGE_KEYS = ("mse_student_to_teacher", "mse_naive_to_teacher", "student_evals_per_image", "teacher_evals_per_image")


@dataclass(frozen=True)
class Sampling:
    """One way of sampling a model: its directory, DDIM steps and CFG scale (1: one conditional evaluation)."""

    model: str
    steps: int
    guidance: float


def make_data(args: argparse.Namespace, out: Path) -> tuple[str, str]:
    """The train split (seed 0) and a held-out test split (seed 1, the test stream): single-object scenes."""
    splits = {"train": (args.train_n, 0), "test": (args.test_n, 1)}
    for split, (n, seed) in splits.items():
        if not (out / split / "shapes.json").exists():
            config = ShapesConfig(n=n, seed=seed, split=split, size=32, shards=4, max_objects=args.max_objects)
            write_shapes_source(str(out / split), config)
    return str(out / "train"), str(out / "test")


def train(name: str, spec: TrainSpec, seconds: dict[str, Any]) -> Path:
    """``run(spec)``; a model this ``--out`` already holds from the same spec is reused (its card is unchanged), and
    keeps the seconds its training took then (``train_seconds.json`` next to the models)."""
    record = Path(spec.out).parent / "train_seconds.json"
    earlier = json.loads(record.read_text()) if record.exists() else {}
    card = Path(spec.out) / "card.json"
    before = card.read_bytes() if card.exists() else None
    start = time.perf_counter()
    path = run(spec, overwrite=True).path
    reused = before is not None and before == card.read_bytes() and name in earlier
    seconds[name] = earlier[name] | {"reused": True} if reused else {"seconds": round(time.perf_counter() - start, 1)}
    now = json.loads(record.read_text()) if record.exists() else {}  # read again: another --only may have written
    record.write_text(json.dumps(now | {name: {"seconds": seconds[name]["seconds"]}}, indent=1))
    print(f"{name}: {seconds[name]}", flush=True)
    return path


def budget(steps: int) -> dict[str, int]:
    """A student's optimizer steps, one checkpoint at the end, about 20 logged rows."""
    return {"steps": steps, "checkpoint_every": steps, "log_every": max(1, steps // 20)}


PARTS = ("pruning", "cfg", "steps")
PRUNED = {"pruned_kd": {"kd": True, "kd_feature_norm": False}, "pruned_no_kd": {"kd": False},
          "pruned_kd_norm": {"kd": True, "kd_feature_norm": True}}  # fmt: skip


def parts(args: argparse.Namespace) -> set[str]:
    """The parts of the chain this invocation trains and compares (``--only``; all by default)."""
    chosen = set(args.only or PARTS)
    return chosen | {"cfg"} if "steps" in chosen else chosen


def train_chain(args: argparse.Namespace, out: Path, train_data: str, test: str) -> tuple[dict[str, Path], dict]:
    """Every model of the chain (of ``parts(args)``) through ``run(TrainSpec)``; the students share seed, steps, batch,
    lr and EMA (the guidance-distilled one its own steps and lr with ``--cfg-steps`` and ``--cfg-lr``, the step
    stages their own lr with ``--steps-lr``)."""
    seconds: dict[str, float] = {}
    base = {"seed": 0, "cpu_threads": 1, "log_every": 50}
    data = (train_data,)
    clf_cfg = {**base, "steps": args.classifier_steps, "batch_size": 32, "image_size": args.resolution,
               "eval_data": test, "checkpoint_every": args.classifier_steps}  # fmt: skip
    clf = train("shapes_classifier", TrainSpec("shapes_classifier", data, str(out / "classifier"), clf_cfg), seconds)
    image = {"resolution": args.resolution, "eval_data": test, "classifier": str(clf), "guidance": args.guidance}
    teacher_cfg = {**base, **image, "steps": args.teacher_steps, "batch_size": args.batch_size, "lr": args.teacher_lr,
                   "block_out_channels": args.channels, "ema_decay": args.teacher_ema,
                   "checkpoint_every": args.teacher_steps}  # fmt: skip
    teacher = train("t2i_teacher", TrainSpec("t2i_teacher", data, str(out / "teacher"), teacher_cfg), seconds)
    student = {**base, **budget(args.student_steps), "batch_size": args.student_batch, "lr": args.student_lr,
               "ema_decay": args.student_ema}  # fmt: skip
    models = {"teacher": teacher}
    chosen = parts(args)
    if "pruning" in chosen:
        pruning = {**student, **budget(args.prune_steps or args.student_steps), **image, "blocks": "bk-base",
                   "analysis": "units", "latency_repeats": 1}  # fmt: skip
        for name, kd in PRUNED.items():
            weights = {"kd_weights": args.kd_norm_weights if kd.get("kd_feature_norm") else args.kd_weights}
            weights = weights if kd["kd"] else {}  # the task-only student has no KD terms
            cfg = {**pruning, **kd, **weights}
            models[name] = train(name, TrainSpec("unet_prune", data, str(out / name), cfg, str(teacher)), seconds)
    if "cfg" in chosen:
        cfg = {**student, **budget(args.cfg_steps or args.student_steps), "lr": args.cfg_lr or args.student_lr,
               "cond_dim": args.cond_dim, "sample_steps": 2 * args.stages[0], "guidance_range": args.guidance_range,
               "eval_guidance": [args.guidance]}  # fmt: skip
        models["cfg"] = train("cfg", TrainSpec("unet_cfg_distill", data, str(out / "cfg"), cfg, str(teacher)), seconds)
    if "steps" in chosen:
        for chain in step_chains(args):  # one chain per source of x_t from the CFG student, and the baked one
            teacher_dir = str(models["teacher" if chain == BAKED else "cfg"])
            states = args.steps_states[0] if chain == BAKED else chain
            for n in args.stages:  # run_stages' loop, one train() per stage for the seconds
                cfg = {**student, "lr": args.steps_lr or args.student_lr, "target_steps": n, "guidance": args.guidance,
                       "guidance_range": args.guidance_range, "states": states,
                       "trajectories": args.trajectories}  # fmt: skip
                key = stage_key(args, chain, n)
                spec = TrainSpec("unet_step_distill", data, str(out / "steps" / chain / f"steps-{n}"), cfg, teacher_dir)
                models[key] = train(key, spec, seconds)
                teacher_dir = str(models[key])
    return models | {"classifier": clf}, seconds


BAKED = "baked"  # the step chain from the teacher itself, its two-evaluation CFG at --guidance baked into stage one


def step_chains(args: argparse.Namespace) -> list[str]:
    """The step chains this invocation trains: one per ``--steps-states`` from the CFG student, then ``--baked``'s."""
    return [*args.steps_states, *([BAKED] if args.baked else [])]


def stage_key(args: argparse.Namespace, chain: str, n: int) -> str:
    """A step chain's models: ``steps_N`` for the first ``--steps-states``, ``steps_<chain>_N`` for the others."""
    return f"steps_{n}" if chain == args.steps_states[0] else f"steps_{chain}_{n}"


def stage_label(args: argparse.Namespace, chain: str, k: int) -> str:
    if chain == BAKED:
        return f"step-distilled from the teacher (CFG baked in), {k} steps"
    return f"step-distilled, {k} steps" if chain == args.steps_states[0] else f"step-distilled ({chain}), {k} steps"


LOGGED = ("step", "lr", "samples_per_s")  # metrics.jsonl's bookkeeping, not loss terms


def loss_terms(rows: list[dict[str, Any]], steps: int) -> dict[str, dict[str, float]]:
    """Each loss term a trainer logged (``metrics.jsonl``'s training rows): its mean over the logged rows of the first
    and of the last quarter of the steps, and its share of the loss there (a weighted term's share is its weight times
    its value over the loss; the caller knows the weights)."""
    train_rows = [r for r in rows if "step" in r and "loss" in r and "eval" not in r]
    quarter = max(1, steps // 4)
    spans = {"first": [r for r in train_rows if r["step"] <= quarter],
             "last": [r for r in train_rows if r["step"] > steps - quarter]}  # fmt: skip
    out: dict[str, dict[str, float]] = {}
    for term in sorted({k for r in train_rows for k in r if k not in LOGGED}):
        out[term] = {}
        for span, picked in spans.items():
            values = [r[term] for r in picked if r.get(term) is not None]
            if values:
                out[term][span] = round(sum(values) / len(values), 6)
    return out


def classifier_on_renders(clf_dir: Path, test: str, n: int, size: int) -> dict[str, float]:
    """The judge on held-out renders (test split, first ``n``): argmax accuracy over the corpus colours / shapes, as
    `score_fidelity` scores generated images; its ceiling for the fidelity figures."""
    config = LoaderConfig(n, 0, resampled=False, shuffle=0, required=("jpg", "json"), split_by_node=False)
    loader = BatchLoader(open_shards(test), config, lambda s: s, list)
    samples = list(itertools.chain.from_iterable(itertools.islice(loader, 1)))
    images, items = [], []
    for s in samples:
        obj = scene_objects(json.loads(s["json"]))[0]
        pil = Image.open(io.BytesIO(s["jpg"])).convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
        images.append(torch.from_numpy(np.asarray(pil, dtype=np.float32) / 255.0).permute(2, 0, 1))
        items.append(("", obj["colour"], obj["shape"]))
    return score_fidelity(torch.stack(images), items, load_classifier(clf_dir), classifier_size(clf_dir))


def load_classifier(clf_dir: Path) -> AttributeCNN:
    return AttributeCNN.from_pretrained(clf_dir / "model").eval()


def classifier_size(clf_dir: Path) -> int:
    return int(ModelDir(clf_dir).card()["config"]["image_size"])


@torch.no_grad()
def features(classifier: AttributeCNN, images: torch.Tensor, size: int) -> torch.Tensor:
    """The classifier's penultimate features (B, 4 width) of images in [0, 1]."""
    x = torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear")
    return classifier.features((x - 0.5) / 0.25)


def feature_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean cosine distance between paired feature rows."""
    return round(float(1 - torch.nn.functional.cosine_similarity(a, b, dim=1).mean()), 5)


def samplings(args: argparse.Namespace, models: dict[str, Path]) -> dict[str, Sampling]:
    """Every sampling of the trained models: the teacher's three always, the students' of this invocation's parts."""
    top, w, n = 2 * args.stages[0], args.guidance, args.stages[-1]
    runs = {
        f"teacher, {top} steps CFG": Sampling("teacher", top, w),
        f"teacher, {top} steps conditional": Sampling("teacher", top, 1.0),
        f"teacher, {n} steps CFG": Sampling("teacher", n, w),
        f"pruned KD, {top} steps CFG": Sampling("pruned_kd", top, w),
        f"pruned KD (normalised features), {top} steps CFG": Sampling("pruned_kd_norm", top, w),
        f"pruned no KD, {top} steps CFG": Sampling("pruned_no_kd", top, w),
        f"CFG-distilled, {top} steps": Sampling("cfg", top, w),
    }
    if f"steps_{n}" in models:  # the CFG student at each stage's steps: the step chain's start at the same cost
        runs |= {f"CFG-distilled, {k} steps": Sampling("cfg", k, w) for k in args.stages}
    if f"steps_{BAKED}_{n}" in models:  # the teacher at each stage's steps: the baked chain's start
        runs |= {f"teacher, {k} steps CFG": Sampling("teacher", k, w) for k in args.stages}
    for chain in step_chains(args):
        runs |= {stage_label(args, chain, k): Sampling(stage_key(args, chain, k), k, w) for k in args.stages}
    return {name: s for name, s in runs.items() if s.model in models}


@torch.no_grad()
def sample_all(args: argparse.Namespace, models: dict[str, Path]) -> dict[str, Any]:
    """Every sampling from the same noise and the fidelity prompts: images, evaluations, fidelity, features, time."""
    items = fidelity_prompts(args.prompts)
    captions = [p for p, _, _ in items]
    pipes = {name: load_teacher(models[name]) for name in {s.model for s in samplings(args, models).values()}}
    noise = fixed_noise(pipes["teacher"], len(items), 0, CPU)
    clf, size = load_classifier(models["classifier"]), classifier_size(models["classifier"])

    def sampler(s: Sampling, noise: torch.Tensor, captions: list[str]):
        pipe = pipes[s.model]
        prompts, sampling = encode_text(pipe, captions, CPU), chain_sampling(models[s.model])
        prediction = pipe.scheduler.config.prediction_type
        return lambda: sample_model(pipe, pipe.unet, sampling, prompts, noise, s.steps, s.guidance, prediction)

    fns = {name: sampler(s, noise, captions) for name, s in samplings(args, models).items()}
    results = {name: fn() for name, fn in fns.items()}
    k = min(args.time_prompts, len(items))  # wall time on the first k prompts (a batch of k), interleaved rounds
    times = interleaved({name: sampler(s, noise[:k], captions[:k]) for name, s in samplings(args, models).items()},
                        args.repeats)  # fmt: skip
    out = {}
    for name, r in results.items():
        s = samplings(args, models)[name]
        images = (r.images + 1) / 2
        out[name] = {
            "model": s.model,
            "steps": s.steps,
            "guidance": s.guidance,
            "unet_params": sum(p.numel() for p in pipes[s.model].unet.parameters()),
            "unet_evals_per_image": r.evals_per_image,
            "seconds_per_image": round(median(times[name]) / k, 5),
            "images": r.images,
            "features": features(clf, images, size),
            **score_fidelity(images, items, clf, size),
        }
    return out


def compare(runs: dict[str, Any], model: str, naive: str, reference: str) -> dict[str, Any]:
    """``model`` and its naive baseline, both against ``reference`` (same noise, same prompts)."""
    ref = runs[reference]
    row = {"model": model, "naive": naive, "reference": reference}
    for key, name in (("model", model), ("naive", naive)):
        row[f"{key}_mse"] = mse(runs[name]["images"], ref["images"])
        row[f"{key}_feature_distance"] = feature_distance(runs[name]["features"], ref["features"])
    row["model_wins_mse"] = row["model_mse"] < row["naive_mse"]
    row["model_wins_feature"] = row["model_feature_distance"] < row["naive_feature_distance"]
    return row


def comparisons(args: argparse.Namespace, runs: dict[str, Any]) -> list[dict[str, Any]]:
    """Each student against its naive baseline (both against the teacher's 32-step CFG samples), of the students
    sampled: the step chain against the teacher at its steps (the issue's baseline) and each stage against the chain's
    starting model, the CFG student, at that stage's steps (the same evaluations); both KD losses against the
    task-only student."""
    top, n = 2 * args.stages[0], args.stages[-1]
    ref = f"teacher, {top} steps CFG"
    pairs = [
        (f"step-distilled, {n} steps", f"teacher, {n} steps CFG"),
        *((f"step-distilled, {k} steps", f"CFG-distilled, {k} steps") for k in args.stages),
        *(
            (stage_label(args, states, k), f"CFG-distilled, {k} steps")
            for states in args.steps_states[1:]
            for k in args.stages
        ),
        *(
            (f"step-distilled, {k} steps", stage_label(args, states, k))
            for states in args.steps_states[1:]
            for k in args.stages
        ),
        *((stage_label(args, BAKED, k), f"teacher, {k} steps CFG") for k in args.stages),
        *((stage_label(args, BAKED, k), f"step-distilled, {k} steps") for k in args.stages),
        (f"pruned KD, {top} steps CFG", f"pruned no KD, {top} steps CFG"),
        (f"pruned KD (normalised features), {top} steps CFG", f"pruned no KD, {top} steps CFG"),
        (f"CFG-distilled, {top} steps", f"teacher, {top} steps conditional"),
    ]
    return [compare(runs, model, naive, ref) for model, naive in pairs if model in runs and naive in runs]


def chance(prompts: int) -> dict[str, float]:
    """Fidelity of a model that ignores its prompt: one over the colours / shapes the prompts use (both: product)."""
    items = fidelity_prompts(prompts)
    colours, shapes = len({c for _, c, _ in items}), len({s for _, _, s in items})
    return {"colour": round(1 / colours, 4), "shape": round(1 / shapes, 4), "both": round(1 / (colours * shapes), 4)}


def summary(result: dict[str, Any]) -> str:
    lines = ["# diffusion", "", result["setup"], "", f"Sampling ({result['prompts']} fidelity prompts, same noise): "
             f"evaluations, parameters, wall time per image (medians of {result['args']['repeats']} interleaved rounds "
             f"on a batch of {result['args']['time_prompts']}); prompt fidelity by the classifier, "
             f"chance {result['chance']}; the classifier on held-out renders: {result['classifier_on_renders']}.", "",
             "| sampling | UNet params | UNet evals/image | s/image | speedup | colour | shape | both |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    base = next(iter(result["samplings"].values()))["seconds_per_image"]
    for name, r in result["samplings"].items():
        lines.append(
            f"| {name} | {r['unet_params']:,} | {r['unet_evals_per_image']:g} | {r['seconds_per_image']} | "
            f"{base / r['seconds_per_image']:.1f}x | {r['fidelity_colour']} | {r['fidelity_shape']} | "
            f"{r['fidelity_both']} |"
        )
    lines += ["", "Quality: each student and its naive baseline against the same reference (lower is closer):", "",
              "| model | naive baseline | reference | MSE | naive MSE | feature dist | naive feature dist |",
              "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    lines += [f"| {c['model']} | {c['naive']} | {c['reference']} | {c['model_mse']} | {c['naive_mse']} | "
              f"{c['model_feature_distance']} | {c['naive_feature_distance']} |" for c in result["comparisons"]]  # fmt: skip
    if result["stage_metrics"]:  # none with --only pruning
        lines += ["", "Each trainer's own final metrics (its samples vs its teacher's, against the naive sampling):", "",
                  "| stage | MSE to its teacher | naive MSE | evals/image (student, teacher) |",
                  "| --- | --- | --- | --- |"]  # fmt: skip
        lines += [f"| {k} | {m['mse_student_to_teacher']} | {m['mse_naive_to_teacher']} | "
                  f"{m['student_evals_per_image']:g}, {m['teacher_evals_per_image']:g} |"
                  for k, m in result["stage_metrics"].items()]  # fmt: skip
    lines += ["", "Each student's loss terms from its metrics.jsonl (mean over the logged rows of the first and the last "
              f"quarter of its steps; unet_prune's KD weights task, output, features: {result['args']['kd_weights']}, "
              f"with normalised features {result['args']['kd_norm_weights']}):", "",
              "| student | term | first quarter | last quarter |", "| --- | --- | --- | --- |"]  # fmt: skip
    lines += [f"| {k} | {term} | {v.get('first', '')} | {v.get('last', '')} |"
              for k, terms in result["loss_terms"].items() for term, v in terms.items()]  # fmt: skip
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="demo_out/bench_diffusion")
    p.add_argument("--train-n", type=int, default=2000)
    p.add_argument("--test-n", type=int, default=500)
    p.add_argument("--max-objects", type=int, default=1, help="objects per scene (1: what the fidelity prompts ask)")
    p.add_argument("--resolution", type=int, default=16)
    p.add_argument("--channels", type=int, nargs="+", default=[16, 32, 32], help="the teacher's block_out_channels")
    p.add_argument("--classifier-steps", type=int, default=1500)
    p.add_argument("--teacher-steps", type=int, default=4000)
    p.add_argument("--teacher-lr", type=float, default=2e-3)
    p.add_argument("--teacher-ema", type=float, default=0.0, help="the teacher's EMA decay (the saved weights)")
    p.add_argument("--batch-size", type=int, default=32, help="the teacher's")
    p.add_argument("--student-steps", type=int, default=200, help="optimizer steps of every student trainer")
    p.add_argument("--cfg-steps", type=int, help="the guidance-distilled student's steps (default: --student-steps)")
    p.add_argument("--prune-steps", type=int, default=800, help="the pruned students' retraining steps")
    p.add_argument("--cfg-lr", type=float, default=3e-4, help="the guidance-distilled student's lr")
    p.add_argument("--steps-lr", type=float, default=3e-5, help="the step-distilled stages' lr")
    p.add_argument("--student-batch", type=int, default=16)
    p.add_argument("--student-lr", type=float, default=1e-4)
    p.add_argument("--student-ema", type=float, default=0.98, help="every student's EMA decay (the saved weights)")
    p.add_argument("--stages", type=int, nargs="+", default=[16, 8, 4])
    p.add_argument(
        "--steps-states",
        nargs="+",
        default=["data"],
        choices=("data", "trajectories", "mix"),
        help="one step chain per value (unet_step_distill's states); the first is the chain compared with "
        "the teacher, the others are compared with it",
    )
    p.add_argument("--trajectories", type=int, default=256, help="teacher paths in each stage's pool")
    p.add_argument("--baked", action=argparse.BooleanOptionalAction, default=True,
                   help="also a step chain from the teacher itself, its CFG at --guidance baked into the first stage "
                   "(x_t from the first --steps-states), compared with the teacher at each stage's steps and with the "
                   "chain from the CFG student")  # fmt: skip
    p.add_argument("--guidance", type=float, default=4.0)
    p.add_argument("--cond-dim", type=int, default=64)
    p.add_argument("--prompts", type=int, default=36)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--time-prompts", type=int, default=8, help="the batch the wall times are measured on")
    p.add_argument("--kd-weights", type=float, nargs=3, default=[1.0, 1.0, 1.0], metavar=("TASK", "OUTPUT", "FEATURES"),
                   help="unet_prune's kd_weights for the KD student (BK-SDM's 1 1 1)")  # fmt: skip
    p.add_argument("--kd-norm-weights", type=float, nargs=3, default=[1.0, 1.0, 0.1], metavar=("TASK", "OUTPUT", "FEATURES"),
                   help="kd_weights of the KD student with kd_feature_norm")  # fmt: skip
    p.add_argument("--guidance-range", type=float, nargs=2, default=[2.0, 6.0], metavar=("LOW", "HIGH"),
                   help="the w range the guided students (CFG and step stages) train on, around the measured w = 4 "
                   "(Meng et al. and the trainers' default: 2 14)")  # fmt: skip
    p.add_argument("--only", nargs="+", choices=PARTS, help="train and compare only these parts (steps implies cfg); "
                   "results under --out")  # fmt: skip
    p.add_argument("--name", default="diffusion")
    return p.parse_args(argv)


def main() -> None:
    args = parse()
    torch.set_num_threads(1)
    out = Path(args.out)
    start = time.perf_counter()
    train_data, test = make_data(args, out)
    models, seconds = train_chain(args, out, train_data, test)
    runs = sample_all(args, models)
    chains = (stage_key(args, chain, n) for chain in step_chains(args) for n in args.stages)
    stage_names = [k for k in ("cfg", *chains) if k in models]
    students = [k for k in (*PRUNED, *stage_names) if k in models]
    result = {
        "setup": f"shapes {args.train_n} train / {args.test_n} held-out test scenes (max {args.max_objects} object), "
        f"{args.resolution} px, teacher block_out_channels {args.channels}: classifier {args.classifier_steps} steps, "
        f"teacher {args.teacher_steps} steps x batch {args.batch_size} at lr {args.teacher_lr}, EMA {args.teacher_ema}; "
        f"every student "
        f"{args.student_steps} steps x batch {args.student_batch} at lr {args.student_lr}, EMA {args.student_ema}, seed 0 "
        f"(the pruned students {args.prune_steps or args.student_steps} steps, "
        f"the CFG student {args.cfg_steps or args.student_steps} steps at lr {args.cfg_lr or args.student_lr}, "
        f"the step stages at lr {args.steps_lr or args.student_lr}, x_t from {args.steps_states} "
        f"({args.trajectories} teacher paths per stage where trajectories are used)"
        f"{'; and a chain from the teacher, its CFG at w baked into stage one' if args.baked else ''}); "
        f"guided students trained on w in {args.guidance_range}; stages "
        f"{args.stages}, w = {args.guidance}; training {sum(v['seconds'] for v in seconds.values()):.0f} s "
        f"({sum(bool(v.get('reused')) for v in seconds.values())} of {len(seconds)} models reused from an earlier "
        f"invocation on this --out), this invocation {time.perf_counter() - start:.0f} s",
        "args": vars(args),
        "train_seconds": seconds,
        "prompts": args.prompts,
        "chance": chance(args.prompts),
        "classifier_on_renders": classifier_on_renders(models["classifier"], test, 4 * args.prompts, args.resolution),
        "samplings": {k: {m: v for m, v in r.items() if m not in ("images", "features")} for k, r in runs.items()},
        "comparisons": comparisons(args, runs),
        "stage_metrics": {
            k: {m: ModelDir(models[k]).card()["final_metrics"][m] for m in STAGE_KEYS} for k in stage_names
        },  # fmt: skip
        "card_metrics": {k: ModelDir(models[k]).card()["final_metrics"] for k in ("teacher", *PRUNED) if k in models},
        "loss_terms": {
            k: loss_terms(read_metrics(ModelDir(models[k]).metrics), ModelDir(models[k]).card()["config"]["steps"])
            for k in students
        },
    }
    print(summary(result))
    if args.only:  # a part of the chain: not the benchmark's record
        (out / f"{args.name}_{'_'.join(sorted(parts(args)))}.json").write_text(json.dumps(result, indent=1) + "\n")
        (out / f"{args.name}_{'_'.join(sorted(parts(args)))}.md").write_text(summary(result) + "\n")
    else:
        write_result(args.name, result, summary(result))


if __name__ == "__main__":
    main()
