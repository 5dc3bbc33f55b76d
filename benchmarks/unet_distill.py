"""Guidance then progressive distillation of a text-to-image teacher: each student against its naive baseline, one run.

python -m benchmarks.unet_distill --teacher MODELS/t2i_teacher --data SHAPES [--stages 16 8 4] [--steps 300]

Trains ``unet_cfg_distill`` from the teacher, then one ``unet_step_distill`` stage per entry of ``--stages`` (the first
distils 2 x stages[0] steps of the guided student), through the same ``run(spec)`` as ``shardsmith train``. Reports each
stage's final metrics (its N-step samples vs its teacher's 2N-step samples, against the teacher at N steps) and, end to
end from the same noise and prompts: the final student's samples vs the teacher's two-evaluation CFG at 2 x stages[0]
steps, against the teacher sampled directly with the final student's steps; UNet evaluations and wall time per image.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import interleaved, median, write_result
from pipelines.loaders import open_shards
from pipelines.training.card import ModelDir
from pipelines.training.run import TrainSpec, run
from pipelines.training.trainers.unet_step_distill import run_stages
from pipelines.training.unet_distill import (
    chain_sampling,
    encode_text,
    eval_captions,
    fixed_noise,
    load_teacher,
    mse,
    sample_model,
)

STAGE_KEYS = ("mse_student_to_teacher", "mse_naive_to_teacher", "student_evals_per_image", "teacher_evals_per_image")


def train_chain(args: argparse.Namespace, out: Path) -> tuple[Path, list[Path], float]:
    common = {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "seed": 0, "cpu_threads": 1,
              "eval_prompts": args.prompts, "checkpoint_every": args.steps, "log_every": 25}  # fmt: skip
    start = time.perf_counter()
    cfg = {**common, "sample_steps": 2 * args.stages[0], "eval_guidance": [args.guidance], "cond_dim": args.cond_dim}
    guided = run(TrainSpec("unet_cfg_distill", (args.data,), str(out / "cfg"), cfg, args.teacher))
    stages = run_stages((args.data,), str(guided.path), str(out), args.stages, **common, guidance=args.guidance)
    return guided.path, [s.path for s in stages], time.perf_counter() - start


@torch.no_grad()
def end_to_end(args: argparse.Namespace, final: Path, repeats: int = 3) -> dict[str, Any]:
    """From the same noise and prompts: the final student at N steps and the teacher at N steps (CFG), both against the
    teacher at 2 x stages[0] steps (CFG); evaluations counted, wall time per image as interleaved medians."""
    teacher, student = load_teacher(Path(args.teacher)), load_teacher(final)
    t_sampling, s_sampling = chain_sampling(Path(args.teacher)), chain_sampling(final)
    cpu = torch.device("cpu")
    captions = eval_captions(open_shards(args.data), args.prompts)
    prompts, noise = encode_text(teacher, captions, cpu), fixed_noise(teacher, len(captions), 0, cpu)
    n, top, w = args.stages[-1], 2 * args.stages[0], args.guidance
    t_pred, s_pred = teacher.scheduler.config.prediction_type, student.scheduler.config.prediction_type
    runs = {
        f"teacher_{top}_steps_cfg": lambda: sample_model(
            teacher, teacher.unet, t_sampling, prompts, noise, top, w, t_pred
        ),
        f"teacher_{n}_steps_cfg": lambda: sample_model(teacher, teacher.unet, t_sampling, prompts, noise, n, w, t_pred),
        f"student_{n}_steps": lambda: sample_model(student, student.unet, s_sampling, prompts, noise, n, w, s_pred),
    }
    results = {name: fn() for name, fn in runs.items()}
    times = interleaved(runs, repeats)
    reference = results[f"teacher_{top}_steps_cfg"].images
    return {
        "prompts": len(captions),
        "guidance": w,
        "models": {
            name: {
                "mse_to_reference": mse(r.images, reference),
                "unet_evals_per_image": r.evals_per_image,
                "seconds_per_image": round(median(times[name]) / len(captions), 5),
            }
            for name, r in results.items()
        },
    }


def summary(result: dict[str, Any]) -> str:
    lines = ["# unet_distill", "", result["setup"], "", "| model | vs | MSE | naive MSE | evals/image (student, teacher) |",
             "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for name, m in result["stages"].items():
        lines.append(
            f"| {name} | its teacher | {m['mse_student_to_teacher']} | {m['mse_naive_to_teacher']} | "
            f"{m['student_evals_per_image']:g}, {m['teacher_evals_per_image']:g} |"
        )
    e = result["end_to_end"]
    lines += ["", f"End to end, {e['prompts']} prompts, w = {e['guidance']}, against the first model's samples:", "",
              "| model | MSE to reference | UNet evals/image | s/image |", "| --- | --- | --- | --- |"]  # fmt: skip
    lines += [f"| {k} | {v['mse_to_reference']} | {v['unet_evals_per_image']:g} | {v['seconds_per_image']} |"
              for k, v in e["models"].items()]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", required=True, help="a committed two-evaluation teacher model directory")
    p.add_argument("--data", required=True, help="text-image shards (jpg + txt)")
    p.add_argument("--out", default="demo_out/bench_unet_distill")
    p.add_argument("--stages", type=int, nargs="+", default=[16, 8, 4])
    p.add_argument("--steps", type=int, default=300, help="optimizer steps per trainer")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--guidance", type=float, default=4.0)
    p.add_argument("--cond-dim", type=int, default=64)
    p.add_argument("--prompts", type=int, default=16)
    p.add_argument("--name", default="unet_distill")
    args = p.parse_args()
    torch.set_num_threads(1)
    guided, stages, train_s = train_chain(args, Path(args.out))
    metrics = {"unet_cfg_distill": guided} | {f"unet_step_distill {s.name}": s for s in stages}
    result = {
        "setup": f"teacher {args.teacher}, data {args.data}; {args.steps} steps x batch {args.batch_size} per trainer, "
        f"lr {args.lr}, stages {args.stages}; training took {train_s:.0f} s",
        "args": vars(args),
        "teacher_card": {k: ModelDir(Path(args.teacher)).card().get(k) for k in ("trainer", "config", "inputs")},
        "stages": {k: {m: load_card_metric(v, m) for m in STAGE_KEYS} for k, v in metrics.items()},
        "end_to_end": end_to_end(args, stages[-1]),
    }
    print(summary(result))
    write_result(args.name, result, summary(result))


def load_card_metric(model_dir: Path, key: str) -> float:
    return ModelDir(model_dir).card()["final_metrics"][key]


if __name__ == "__main__":
    main()
