"""Issue 11's acceptance run through the CLI: held-out shapes scenes, default teacher and students, floors on test.

Renders shapes scenes with seeds that the tests and the demo never use, builds their retrieval_negatives, trains the
retrieval teacher and the student with every default (the student once as it is and once with
``--set hard_negative_weight=0``; the two in parallel, one torch thread each), and evaluates every model on the test
split with ``shardsmith eval retrieval --limit 400 --json``. Records wall and CPU seconds of each command, the steps and
configs from the cards, and whether the students clear the floors (replace-att >= 0.9, swap-att >= 0.7, text-to-image
recall@1 >= 0.3 among 400 images)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, write_result

ROOT = Path(__file__).resolve().parent.parent
FLOORS = {"replace-att_acc": 0.9, "swap-att_acc": 0.7, "t2i_r@1": 0.3}
STUDENTS = {"student": [], "student_no_hard_negatives": ["--set", "hard_negative_weight=0"]}
SHOWN = ("t2i_r@1", "i2t_r@1", "t2i_r@5", "replace-att_acc", "swap-att_acc", "replace-obj_acc", "replace-count_acc")


@dataclass(frozen=True)
class Timed:
    """One finished command: its arguments after ``shardsmith``, wall and CPU (user + system) seconds, stdout."""

    args: tuple[str, ...]
    wall_s: float
    cpu_s: float
    stdout: str


class Command:
    """``python -m pipelines.cli ARGS`` started now, with one torch thread; ``wait`` raises when it fails."""

    def __init__(self, args: list[str]) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.args, self.started = tuple(args), time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )

    def wait(self) -> Timed:
        stdout = self.proc.stdout.read() if self.proc.stdout else ""
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - self.started
        if self.proc.returncode:
            raise RuntimeError(f"shardsmith {' '.join(self.args)} exited with {self.proc.returncode}")
        return Timed(self.args, round(wall, 1), round(usage.ru_utime + usage.ru_stime, 1), stdout)


def cli(*args: str) -> Timed:
    return Command(list(args)).wait()


def make_corpus(work: Path, n: int, test_n: int, seed: int) -> list[Timed]:
    """Train, test and general splits of seeds ``seed``, ``seed + 1``, ``seed + 2``, and negatives of train and test."""
    shapes, timed = work / "shapes", []
    for split, count, s in (("train", n, seed), ("test", test_n, seed + 1), ("general", test_n, seed + 2)):
        out = str(shapes / split)
        timed.append(cli("sample-source", "--kind", "shapes", "--split", split, "--n", str(count), "--seed", str(s), "--out", out))  # fmt: skip
    timed.append(cli("build", "retrieval_negatives", "--source", str(shapes / "train"), "--out", str(work / "out")))
    timed.append(cli("build", "retrieval_negatives", "--source", str(shapes / "test"), "--out", str(work / "out_test")))
    return timed


def train_models(work: Path) -> dict[str, Timed]:
    """The default teacher, then both students side by side (two processes)."""
    data, models = str(work / "out" / "retrieval_negatives"), work / "models"
    timed = {"teacher": cli("train", "retrieval_teacher", "--data", data, "--out", str(models / "teacher"))}
    running = {
        name: Command(
            [
                "train",
                "retrieval_student",
                "--data",
                data,
                "--data",
                str(work / "shapes" / "general"),
                "--teacher",
                str(models / "teacher"),
                "--out",
                str(models / name),
                *extra,
            ]
        )  # fmt: skip
        for name, extra in STUDENTS.items()
    }
    return timed | {name: command.wait() for name, command in running.items()}


def evaluate(work: Path, name: str, limit: int) -> tuple[dict[str, Any], Timed]:
    model, data = str(work / "models" / name), str(work / "out_test" / "retrieval_negatives")
    timed = cli("eval", "retrieval", model, "--data", data, "--limit", str(limit), "--json")
    return json.loads(timed.stdout.strip().splitlines()[-1]), timed


def card_summary(model_dir: Path) -> dict[str, Any]:
    card = json.loads((model_dir / "card.json").read_text())
    return {"steps": card["steps"], "config": card["config"], "config_sha256": card["config_sha256"]}


def floors(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: {"value": metrics.get(k), "floor": f, "pass": (metrics.get(k) or 0.0) >= f} for k, f in FLOORS.items()}


def run(work: Path, n: int, test_n: int, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    corpus = make_corpus(work, n, test_n, seed)
    trained = train_models(work)
    models: dict[str, Any] = {}
    for name, timed in trained.items():
        metrics, eval_timed = evaluate(work, name, test_n)
        models[name] = {
            **card_summary(work / "models" / name),
            "train": asdict(timed) | {"stdout": None},
            "eval_wall_s": eval_timed.wall_s,
            "eval_cpu_s": eval_timed.cpu_s,
            "test_metrics": metrics,
            "floors": floors(metrics),
        }
    passed = all(v["pass"] for name in STUDENTS for v in models[name]["floors"].values())
    return {
        "seeds": {"train": seed, "test": seed + 1, "general": seed + 2},
        "scenes": {"train": n, "test": test_n, "general": test_n},
        "corpus": [asdict(t) | {"stdout": t.stdout.strip()} for t in corpus],
        "models": models,
        "floors": FLOORS,
        "students_pass": passed,
        "total_wall_s": round(time.perf_counter() - started, 1),
        "total_cpu_s": round(
            sum(t.cpu_s for t in corpus) + sum(m["train"]["cpu_s"] + m["eval_cpu_s"] for m in models.values()), 1
        ),  # fmt: skip
    }


def markdown(result: dict[str, Any]) -> str:
    """The summary table; the same text from a fresh result or from its results json (whose keys are sorted)."""
    splits = ("train", "test", "general")
    seeds = {k: result["seeds"][k] for k in splits}
    scenes = {k: result["scenes"][k] for k in splits}
    lines = [
        "# retrieval_floor: issue 11's acceptance run on held-out shapes scenes (defaults, CLI)",
        "",
        f"Seeds {seeds}, scenes {scenes}; students pass every floor: **{result['students_pass']}**; "
        f"whole run {result['total_wall_s']} s wall, {result['total_cpu_s']} s CPU (students in parallel, one torch "
        "thread each).",
        "",
        "| model | steps | train wall s | train CPU s | " + " | ".join(SHOWN) + " | floors |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in SHOWN) + " | --- |",
    ]
    for name in ("teacher", *STUDENTS):
        m = result["models"][name]
        figures = " | ".join(f"{m['test_metrics'].get(k, float('nan')):.3f}" for k in SHOWN)
        verdict = "pass" if all(v["pass"] for v in m["floors"].values()) else "FAIL"
        verdict = verdict if name in STUDENTS else f"({verdict})"
        lines.append(
            f"| {name} | {m['steps']} | {m['train']['wall_s']} | {m['train']['cpu_s']} | {figures} | {verdict} |"
        )
    floors_text = ", ".join(f"{k} >= {v}" for k, v in FLOORS.items())
    kind = result["models"]["teacher"]["config"].get("kind")
    lines += ["", f"Floors (students): {floors_text}. The teacher's row (kind={kind}) is for reference."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000, help="train scenes (README's command)")
    ap.add_argument("--test-n", type=int, default=400)
    ap.add_argument("--seed", type=int, default=211, help="train seed; test and general take the next two")
    ap.add_argument(
        "--work",
        help="keep the corpus and models here (default: a temporary directory); a rerun into the same folder resumes "
        "(committed models are kept, a killed training continues from its checkpoint; times then count the rerun)",
    )
    ap.add_argument(
        "--rewrite-md",
        action="store_true",
        help="only rewrite benchmarks/results/retrieval_floor.md from the existing retrieval_floor.json (no run)",
    )
    args = ap.parse_args()
    if args.rewrite_md:
        result = json.loads((RESULTS / "retrieval_floor.json").read_text())
        (RESULTS / "retrieval_floor.md").write_text(markdown(result).rstrip() + "\n")
        print(markdown(result))
        return
    if args.work:
        result = run(Path(args.work), args.n, args.test_n, args.seed)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = run(Path(tmp), args.n, args.test_n, args.seed)
    path = write_result("retrieval_floor", result, markdown(result))
    print(markdown(result))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
