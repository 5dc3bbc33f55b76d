"""Wall time of the inspection commands (``stats``, ``validate``, ``show``, ``grid``), each a fresh ``shardsmith``
process as a user runs it, on the sample source's ``ingest`` (4 shards), beside the interpreter's own start-up and the
import that ``stats`` used to pay (``pipelines.runner``: Beam and every dataset, with torch). Target: under 1 s each.

Wall time and the process's CPU time (user + system, from ``wait4``) are both recorded: on busy shared cores the wall
time is mostly waiting for a core, and CPU time is what the command costs, the wall time of an idle single core."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import interleaved, median, write_result

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 1.0


def build_dataset(tmp: Path, shards: int) -> tuple[Path, str]:
    """``ingest`` of the sample source in ``shards`` shards, built by the real pipeline; returns its folder and an ok key."""
    from pipelines.runner import BuildSpec, run_build
    from pipelines.sources.sample_source import write_sample_source
    from pipelines.store import ShardReader

    write_sample_source(str(tmp / "src"), shards=shards)
    run_build(BuildSpec("ingest", str(tmp / "src"), str(tmp / "out")))
    dataset = tmp / "out" / "ingest"
    key = next(ShardReader(str(dataset)).all_samples()).key
    return dataset, key


def commands(dataset: Path, key: str, tmp: Path) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "pipelines.cli"]
    return {
        "python_startup": [sys.executable, "-c", "pass"],
        "import_pipelines_runner": [sys.executable, "-c", "import pipelines.runner"],
        "stats": [*cli, "stats", str(dataset)],
        "validate": [*cli, "validate", str(dataset)],
        "validate_quick": [*cli, "validate", str(dataset), "--quick"],
        "show": [*cli, "show", str(dataset), key, "--out", str(tmp / "show.png")],
        "grid": [*cli, "grid", str(dataset), "--n", "16", "--out", str(tmp / "grid.png")],
    }


def _run(argv: list[str]) -> float:
    """Run ``argv`` to completion (raising on failure); its CPU seconds, user + system."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            log.seek(0)
            raise subprocess.CalledProcessError(proc.returncode, argv, log.read().decode(errors="replace"))
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    from pipelines.store import ShardReader

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        dataset, key = build_dataset(tmp, args.shards)
        cases = commands(dataset, key, tmp)
        for argv in cases.values():  # warm the page cache and the bytecode cache once
            _run(argv)
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        times = interleaved(
            {name: (lambda n=name, a=argv: cpu[n].append(_run(a))) for name, argv in cases.items()}, args.repeats
        )
        samples = sum(1 for _ in ShardReader(str(dataset)).all_samples())
    figures = {
        name: {
            "median_s": round(median(t), 3),
            "max_s": round(max(t), 3),
            "median_cpu_s": round(median(cpu[name]), 3),
            "runs_s": [round(x, 3) for x in t],
            "runs_cpu_s": [round(x, 3) for x in cpu[name]],
        }
        for name, t in times.items()
    }
    inspection = ("stats", "validate", "validate_quick", "show", "grid")
    result = {
        "command": f"python -m benchmarks.cli --repeats {args.repeats} --shards {args.shards}",
        "dataset": f"ingest of the sample source, {args.shards} shards, {samples} ok samples",
        "target_s": TARGET_S,
        "all_under_target_wall": all(figures[n]["median_s"] < TARGET_S for n in inspection),
        "all_under_target_cpu": all(figures[n]["median_cpu_s"] < TARGET_S for n in inspection),
        "figures": figures,
    }
    md = [
        f"# shardsmith inspection commands, wall time per fresh process, median of {args.repeats} interleaved runs",
        "",
        f"{result['dataset']}; under {TARGET_S} s: CPU time {'met' if result['all_under_target_cpu'] else 'NOT met'}, "
        f"wall time {'met' if result['all_under_target_wall'] else 'NOT met'} (load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores at the end)",
        "",
        "| command | median CPU s | median wall s | slowest wall s |",
        "| --- | ---: | ---: | ---: |",
    ]
    md += [f"| {name} | {v['median_cpu_s']} | {v['median_s']} | {v['max_s']} |" for name, v in figures.items()]
    write_result("cli", result, "\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
