"""What each retrieval_student loss term buys on held-out shapes scenes (hard negatives, distillation, LwF), and the
production-size student's training throughput; every model trained through ``pipelines.training.run`` as the CLI does.

Corpus: the shapes source's binding-hard scenes (``ShapesConfig(binding=True)``: 2-3 single objects sharing one size
and one pattern, captions without positions) through the real ``retrieval_negatives`` build; the general split for
replay and forgetting. Trainings run two at a time in worker processes (one torch thread each), each a side-by-side
pair with the same seed, steps and data; figures are ``evaluate_retrieval`` on the saved model directories."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import write_result

TEST = "test"  # eval set names
GENERAL = "general_heldout"


@dataclass(frozen=True)
class Job:
    """One training (or a corpus build, ``trainer == "build"``): parents and teacher by job name."""

    name: str
    trainer: str
    data: tuple[str, ...]
    config: dict[str, Any] = field(default_factory=dict)
    teacher: str | None = None
    parent: str | None = None
    evals: tuple[str, ...] = (TEST,)

    def deps(self) -> set[str]:
        """Jobs this one reads: parents, ``job:NAME/...`` data, and the test shards every training evaluates on."""
        built = {d[len("job:") :].split("/")[0] for d in self.data if d.startswith("job:")}
        return (
            {d for d in (self.teacher, self.parent) if d} | built | ({"neg_test"} if self.trainer != "build" else set())
        )


@dataclass(frozen=True)
class Budget:
    steps: int  # from-scratch students and the general base
    ft_steps: int  # fine-tunes (--from)
    teacher_steps: int
    batch_size: int | None  # None: the trainer's default
    seeds: tuple[int, ...]
    eval_samples: int
    lwf_weight: float


def _init_worker() -> None:
    import torch

    import models.compat  # noqa: F401  (torchvision importable before open_clip)

    torch.set_num_threads(1)


def _run_job(job: Job, work: str, evals: dict[str, str]) -> dict[str, Any]:
    """Build or train ``job`` into ``work/job.name``; return its wall time and figures."""
    start = time.perf_counter()
    if job.trainer == "build":
        from pipelines.runner import BuildSpec, RunnerConfig, run_build

        report = run_build(BuildSpec("retrieval_negatives", job.data[0], f"{work}/{job.name}", {}), RunnerConfig())
        return {"wall_s": time.perf_counter() - start, "counts": report["counts"]}
    from pipelines.training.eval_retrieval import evaluate_retrieval
    from pipelines.training.run import TrainSpec, run

    data = tuple(d.replace("job:", f"{work}/") for d in job.data)
    teacher = f"{work}/{job.teacher}" if job.teacher else None
    parent = f"{work}/{job.parent}" if job.parent else None
    out = run(TrainSpec(job.trainer, data, f"{work}/{job.name}", job.config, teacher, parent), overwrite=True)
    train_s = time.perf_counter() - start
    card = out.card()
    figures = {e: evaluate_retrieval(out.path, evals[e], limit=400).metrics() for e in job.evals}
    return {"wall_s": train_s, "steps": card["steps"], "config": card["config"], "figures": figures}


def run_jobs(jobs: list[Job], work: str, evals: dict[str, str], parallel: int) -> dict[str, dict[str, Any]]:
    """Run ``jobs`` on ``parallel`` worker processes, each as soon as the jobs it needs are done (list order first)."""
    pending, done, running = list(jobs), {}, {}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(parallel, mp_context=ctx, initializer=_init_worker) as pool:
        while pending or running:
            for job in [j for j in pending if j.deps() <= set(done)][: parallel - len(running)]:
                pending.remove(job)
                running[pool.submit(_run_job, job, work, evals)] = job
            if not running:
                raise RuntimeError(f"jobs wait on missing ones: {[j.name for j in pending]}")
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                job = running.pop(fut)
                done[job.name] = _result(fut, job)
                print(f"done {job.name} in {done[job.name]['wall_s']:.0f} s", flush=True)
    return done


def _result(fut: Future, job: Job) -> dict[str, Any]:
    return fut.result()  # a failed training raises here: the benchmark stops rather than report half a table


def plan(work: str, b: Budget) -> list[Job]:
    """Corpus builds, then per seed: from scratch with/without hard negatives, fine-tunes of the without-model
    with/without them, the distilled student, and fine-tunes of the general base with/without LwF."""
    neg, test_neg = "job:neg_train/retrieval_negatives", "job:neg_test/retrieval_negatives"
    eval_data = test_neg.replace("job:", f"{work}/")
    common: dict[str, Any] = {"cpu_threads": 1, "eval_data": eval_data, "eval_samples": b.eval_samples}
    common |= {"checkpoint_every": 10_000}  # one checkpoint at the end: saving is not what is measured
    sized = common | ({"batch_size": b.batch_size} if b.batch_size else {})
    student = {**sized, "steps": b.steps, "distill_weight": 0.0}
    ft = {**sized, "steps": b.ft_steps, "distill_weight": 0.0}
    jobs = [
        Job("neg_train", "build", (f"{work}/shapes_train",)),
        Job("neg_test", "build", (f"{work}/shapes_test",)),
        Job("teacher", "retrieval_teacher", (neg,), {**common, "steps": b.teacher_steps}),
        Job("general_base", "retrieval_student", (f"{work}/general_train",), {**student, "hard_negative_weight": 0.0},
            evals=(TEST, GENERAL)),
    ]  # fmt: skip
    for s in b.seeds:
        jobs += [
            Job(f"scratch_hn0_s{s}", "retrieval_student", (neg,), {**student, "seed": s, "hard_negative_weight": 0.0}),
            Job(f"scratch_hn1_s{s}", "retrieval_student", (neg,), {**student, "seed": s}),
            Job(f"distill_s{s}", "retrieval_student", (neg,), {**student, "seed": s, "distill_weight": None},
                teacher="teacher"),
            Job(f"ft_hn0_s{s}", "retrieval_student", (neg,), {**ft, "seed": s, "hard_negative_weight": 0.0},
                parent=f"scratch_hn0_s{s}"),
            Job(f"ft_hn1_s{s}", "retrieval_student", (neg,), {**ft, "seed": s}, parent=f"scratch_hn0_s{s}"),
            Job(f"lwf0_s{s}", "retrieval_student", (neg, f"{work}/general_train"), {**ft, "seed": s},
                parent="general_base", evals=(TEST, GENERAL)),
            Job(f"lwf1_s{s}", "retrieval_student", (neg, f"{work}/general_train"),
                {**ft, "seed": s, "lwf_weight": b.lwf_weight}, parent="general_base", evals=(TEST, GENERAL)),
        ]  # fmt: skip
    return [_defaults_filled(j) for j in jobs]


def _defaults_filled(job: Job) -> Job:
    """``None`` values take the trainer's default as the trainer files say it now (``distill_weight`` of the
    distilled student); nothing else is changed from the defaults beyond what ``plan`` overrides."""
    if job.trainer == "build" or None not in job.config.values():
        return job
    from pipelines.training.registry import trainer_class

    defaults = trainer_class(job.trainer).Config().model_dump()
    return Job(job.name, job.trainer, job.data, {k: defaults[k] if v is None else v for k, v in job.config.items()},
               job.teacher, job.parent, job.evals)  # fmt: skip


def write_corpus(work: str, n_train: int, n_test: int, n_general: int) -> dict[str, Any]:
    from pipelines.sources.shapes import ShapesConfig, write_shapes_source

    binding = {"binding": True, "positions": False}
    configs = {
        "shapes_train": ShapesConfig(n=n_train, seed=0, split="train", **binding),
        "shapes_test": ShapesConfig(n=n_test, seed=0, split="test", **binding),
        "general_train": ShapesConfig(n=n_general, seed=0, split="general", **binding),
        GENERAL: ShapesConfig(n=n_test, seed=1, split="general", **binding),
    }
    for name, config in configs.items():
        write_shapes_source(f"{work}/{name}", config)
    return {name: c.as_dict() for name, c in configs.items()}


def throughput(data: str, work: str, steps: int, batch_size: int) -> dict[str, Any]:
    """The production-size student (``arch=mobile-s0``) trained for ``steps`` on one torch thread through ``run``;
    median wall time between consecutive steps after the first (data loading included)."""
    import torch

    from pipelines.training.run import TrainSpec, run

    torch.set_num_threads(1)
    stamps: list[float] = []
    config = {"arch": "mobile-s0", "steps": steps, "batch_size": batch_size, "distill_weight": 0.0, "cpu_threads": 1}
    config |= {"eval_samples": 16, "checkpoint_every": 10_000, "log_every": 1}
    spec = TrainSpec("retrieval_student", (data,), f"{work}/throughput_mobile_s0", config)
    run(spec, on_step=lambda step: stamps.append(time.perf_counter()), overwrite=True)
    step_s = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    med = statistics.median(step_s)
    return {
        "arch": "mobile-s0",
        "device": "cpu",
        "torch_threads": 1,
        "batch_size": batch_size,
        "steps_timed": len(step_s),
        "median_step_s": med,
        "step_s": step_s,
        "samples_per_s": batch_size / med,
    }


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def effects(done: dict[str, dict[str, Any]], seeds: tuple[int, ...]) -> list[dict[str, Any]]:
    """Each comparison: the metric per arm per seed, medians and ranges, and the paired (same seed) differences."""
    rows = []
    specs = [
        ("hard negatives, from scratch", "scratch_hn1", "scratch_hn0", TEST, ("swap-att_acc", "replace-att_acc")),
        ("hard negatives, fine-tune of a model trained without", "ft_hn1", "ft_hn0", TEST,
         ("swap-att_acc", "replace-att_acc")),
        ("distilled vs no teacher (same student, from scratch)", "distill", "scratch_hn1", TEST,
         ("t2i_r@1", "i2t_r@1")),
        ("LwF vs none, fine-tune of the general base (general held-out: forgetting)", "lwf1", "lwf0", GENERAL,
         ("t2i_r@1", "i2t_r@1", "t2i_r@5")),
        ("LwF vs none, the same fine-tunes on the new task (test)", "lwf1", "lwf0", TEST, ("t2i_r@1", "swap-att_acc")),
    ]  # fmt: skip
    for title, with_, without, split, metrics in specs:
        for m in metrics:
            a = [done[f"{with_}_s{s}"]["figures"][split][m] for s in seeds]
            b = [done[f"{without}_s{s}"]["figures"][split][m] for s in seeds]
            diff = [x - y for x, y in zip(a, b, strict=True)]
            rows.append({"effect": title, "with": with_, "without": without, "eval": split, "metric": m,
                         "with_values": a, "without_values": b, "with_stats": _spread(a),
                         "without_stats": _spread(b), "paired_diff": _spread(diff)})  # fmt: skip
    return rows


def _fmt(st: dict[str, float]) -> str:
    return f"{st['median']:.3f} ({st['min']:.3f}-{st['max']:.3f})"


def summary_md(result: dict[str, Any]) -> str:
    b, seeds = result["budget"], result["budget"]["seeds"]
    lines = [
        f"# Retrieval loss terms on held-out binding-hard shapes scenes ({result['mode']} run)",
        "",
        f"Medians over seeds {seeds} (min-max); diff = median of the same-seed differences (with - without).",
        f"Steps: {b['steps']} from scratch, {b['ft_steps']} per fine-tune, {b['teacher_steps']} for the teacher "
        f"(the trainers' defaults are {result['defaults']['retrieval_student']['steps']} and "
        f"{result['defaults']['retrieval_teacher']['steps']}: cut for the CPU budget); batch "
        f"{result['batch_size']}; `cpu_threads=1`; distillation and LwF off unless compared; every other key is the "
        f"trainer's default at run time. Eval: {result['n_test']} test scenes (`evaluate_retrieval` on each saved "
        f"model); general held-out: {result['n_test']} scenes of the general split, seed 1.",
        "",
        "| effect | metric | with | without | diff | direction |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for r in result["effects"]:
        d = r["paired_diff"]
        way = "helps" if d["min"] > 0 else "hurts" if d["max"] < 0 else "mixed across seeds"
        lines.append(
            f"| {r['effect']} | {r['eval']} {r['metric']} | {_fmt(r['with_stats'])} | {_fmt(r['without_stats'])} "
            f"| {d['median']:+.3f} ({d['min']:+.3f}..{d['max']:+.3f}) | {way} |"
        )
    base = result["runs"]["general_base"]["figures"][GENERAL]
    teacher = result["runs"]["teacher"]["figures"][TEST]
    t = result["throughput"]
    lines += [
        "",
        f"General base before fine-tuning, general held-out: t2i_r@1 {base['t2i_r@1']:.3f}, i2t_r@1 "
        f"{base['i2t_r@1']:.3f}, t2i_r@5 {base['t2i_r@5']:.3f} (what the fine-tunes forget from).",
        f"Teacher on test: t2i_r@1 {teacher['t2i_r@1']:.3f}, swap-att {teacher.get('swap-att_acc', float('nan')):.3f}, "
        f"replace-att {teacher.get('replace-att_acc', float('nan')):.3f} ({result['teacher_kind']}).",
        "",
        "| training throughput, production student (mobile-s0) | samples/s | median step |",
        "| --- | ---: | ---: |",
        f"| CPU, {t['torch_threads']} torch thread, batch {t['batch_size']}, {t['steps_timed']} steps timed | "
        f"{t['samples_per_s']:.2f} | {t['median_step_s']:.2f} s |",
        "| GPU, bf16 | not measured: no device lent | |",
        "",
        "## Design",
        "",
        *DESIGN,
        "",
        f"Wall time: {result['wall_s'] / 60:.1f} min for the whole run, {result['parallel']} trainings at a time.",
        *([f"Note: {result['note']}"] if result.get("note") else []),
    ]
    return "\n".join(lines)


DESIGN = [
    "- Corpus: `ShapesConfig(binding=True, positions=False)`: 2-3 single objects with distinct shapes and colours "
    "that share one size and one pattern, no position words. A scene's words tell it from almost every other scene "
    "in a batch, so in-batch negatives can be won by a bag of words; only the colour-to-shape binding tells a "
    "caption from its swap-att negative. Negatives by the real `retrieval_negatives` build (n=3 per caption).",
    "- Hard negatives: `hard_negative_weight` default vs 0, from scratch, and as practised: each seed's "
    "from-scratch model without them is the `--from` parent of two fine-tunes (with, without), same steps and seed.",
    "- Distillation: the tiny teacher (the trainer's default kind) trained on the same shards, then the student "
    "with its default `distill_weight` against the same student with 0 (the from-scratch hard-negative run).",
    "- LwF: a base student is trained on the general split only (other shapes, colours and backgrounds), then "
    "fine-tuned on the shapes train shards with the general split as replay (`--data` twice) with `lwf_weight` "
    "> 0 vs 0 (same data, steps, seed; the replay batches are loaded either way). Forgetting is the general recall "
    "lost on 400 held-out general scenes (another seed) the base was not trained on; the test row shows the price "
    "on the new task. No teacher in these fine-tunes, so the comparison is LwF alone.",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="tiny corpus and a few steps: a check that it all runs")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--ft-steps", type=int, default=50)
    ap.add_argument("--teacher-steps", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lwf-weight", type=float, default=1.0)
    ap.add_argument("--n-train", type=int, default=1500)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--throughput-steps", type=int, default=4)
    ap.add_argument("--throughput-batch", type=int, default=8)
    ap.add_argument("--note", default="", help="a line for the summary (how this run came about, what was cut)")
    ap.add_argument("--work", default=None, help="where corpora and models go (default: a temporary directory)")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.steps, args.ft_steps, args.teacher_steps, args.n_train = 2, 3, 2, 3, 64
        args.throughput_steps, args.throughput_batch = 3, 4
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as tmp:
        work = args.work or tmp
        result = _measure(args, work)
        result["wall_s"] = time.perf_counter() - start
        Path(work, "result.json").write_text(json.dumps(result, indent=1, default=str))  # kept if the summary fails
    write_result("retrieval", result, summary_md(result))
    print(summary_md(result))


def _measure(args: argparse.Namespace, work: str) -> dict[str, Any]:
    from pipelines.training.registry import trainer_class

    n_test = 64 if args.quick else 400
    corpus = write_corpus(work, args.n_train, n_test, 1000 if not args.quick else 64)
    b = Budget(args.steps, args.ft_steps, args.teacher_steps, args.batch_size, tuple(range(args.seeds)), 64,
               args.lwf_weight)  # fmt: skip
    evals = {TEST: f"{work}/neg_test/retrieval_negatives", GENERAL: f"{work}/{GENERAL}"}
    done = run_jobs(plan(work, b), work, evals, args.parallel)
    defaults = {
        n: trainer_class(n).Config().model_dump(mode="json") for n in ("retrieval_student", "retrieval_teacher")
    }
    tp = throughput(f"{work}/neg_train/retrieval_negatives", work, args.throughput_steps, args.throughput_batch)
    return {
        "mode": "quick" if args.quick else "full",
        "note": args.note,
        "n_test": n_test,
        "budget": {**b.__dict__, "seeds": list(b.seeds)},
        "batch_size": args.batch_size,
        "parallel": args.parallel,
        "corpus": corpus,
        "defaults": defaults,
        "teacher_kind": done["teacher"]["config"]["kind"],
        "runs": done,
        "effects": effects(done, b.seeds),
        "throughput": tp,
        "throughput_gpu": "not measured: no device lent",
    }


if __name__ == "__main__":
    main()
