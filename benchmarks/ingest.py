"""ingest throughput on the sample source, side by side in one run: the I/O floor (a raw copy of the tar bytes), a plain
Python loop doing the same decode + normalise + encode + tar write, and ingest through Beam (1 and 2 worker processes)."""

from __future__ import annotations

import argparse
import io
import shutil
import tarfile
import tempfile
from pathlib import Path

from benchmarks.common import interleaved, median, write_result
from pipelines.datasets.ingest import encode_jpeg, normalise
from pipelines.decode import DecodeConfig, Decoded, decode_sample
from pipelines.runner import BuildSpec, RunnerConfig, run_build
from pipelines.sources import open_source
from pipelines.sources.sample_source import write_sample_source


def raw_copy(source: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for tar in sorted(source.glob("*.tar")):
        (out / tar.name).write_bytes(tar.read_bytes())


def plain_loop(source: Path, out: Path) -> None:
    """What a hand-written script would do: decode each sample, normalise, encode, append to a tar. No manifest, no stats."""
    out.mkdir(parents=True, exist_ok=True)
    src = open_source(str(source))
    config = DecodeConfig()
    for shard in src.shards():
        with tarfile.open(out / f"{shard.shard}.tar", "w") as tar:
            for sample in src.samples(shard):
                d = decode_sample(sample, config)
                if not isinstance(d, Decoded):
                    continue
                data = encode_jpeg(normalise(d.image, 1024), 95)
                info = tarfile.TarInfo(f"{d.key}.jpg")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def ingest(source: Path, out: Path, workers: int) -> None:
    run_build(BuildSpec("ingest", str(source), str(out)), RunnerConfig(workers=workers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=6, help="copies of the 40-sample source (4 shards each)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    source = work / "source"
    summary = write_sample_source(str(source), shards=4, copies=args.copies)
    n = summary["samples"]
    runs = iter(range(10**6))

    def fresh() -> Path:
        return work / f"out{next(runs)}"

    done = fresh()
    ingest(source, done, 1)
    cases = {
        # every shard already done: pipeline start-up and teardown only, with 1 and with 2 worker processes
        "beam_fixed_cost": lambda: ingest(source, done, 1),
        "beam_2_workers_fixed_cost": lambda: ingest(source, done, 2),
        "raw_copy": lambda: raw_copy(source, fresh()),
        "plain_loop": lambda: plain_loop(source, fresh()),
        "ingest_beam_1_worker": lambda: ingest(source, fresh(), 1),
        "ingest_beam_2_workers": lambda: ingest(source, fresh(), 2),
    }
    times = interleaved(cases, args.repeats)
    shutil.rmtree(work)
    cores = {
        "beam_fixed_cost": 1,
        "beam_2_workers_fixed_cost": 2,
        "raw_copy": 1,
        "plain_loop": 1,
        "ingest_beam_1_worker": 1,
        "ingest_beam_2_workers": 2,
    }
    figures = {
        name: {
            "median_s": round(median(ts), 4),
            "samples_per_s": round(n / median(ts), 1),
            "samples_per_s_per_core": round(n / median(ts) / cores[name], 1),
            "runs_s": [round(t, 4) for t in ts],
        }
        for name, ts in times.items()
    }
    fixed = figures["beam_fixed_cost"]["median_s"]
    fixed2 = figures["beam_2_workers_fixed_cost"]["median_s"]
    marginal = n / (figures["ingest_beam_1_worker"]["median_s"] - fixed)
    marginal2 = n / max(figures["ingest_beam_2_workers"]["median_s"] - fixed2, 1e-9)
    ratios = {
        "ingest_1_worker_vs_plain_loop": round(
            figures["ingest_beam_1_worker"]["samples_per_s"] / figures["plain_loop"]["samples_per_s"], 3
        ),
        "ingest_1_worker_without_fixed_cost_vs_plain_loop": round(marginal / figures["plain_loop"]["samples_per_s"], 3),
        "ingest_1_worker_samples_per_s_without_fixed_cost": round(marginal, 1),
        "ingest_2_workers_samples_per_s_without_fixed_cost": round(marginal2, 1),
        "plain_loop_vs_raw_copy": round(
            figures["plain_loop"]["samples_per_s"] / figures["raw_copy"]["samples_per_s"], 4
        ),
    }
    result = {
        "command": f"make bench  (python -m benchmarks.ingest --copies {args.copies} --repeats {args.repeats})",
        "samples": n,
        "shards": summary["shards"],
        "figures": figures,
        "ratios": ratios,
    }
    lines = [
        f"# ingest: {n} samples in {summary['shards']} shards, median of {args.repeats} interleaved runs",
        "",
        "| case | median s | samples/s | samples/s per core |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {k} | {v['median_s']} | {v['samples_per_s']} | {v['samples_per_s_per_core']} |" for k, v in figures.items()
    ]
    lines += [
        "",
        f"ingest (1 worker) / plain loop: {ratios['ingest_1_worker_vs_plain_loop']} "
        f"({ratios['ingest_1_worker_without_fixed_cost_vs_plain_loop']} once Beam's fixed {fixed:.2f}s start-up is taken out); "
        f"plain loop / raw copy: {ratios['plain_loop_vs_raw_copy']}",
        f"Without the fixed costs (runs whose shards are all done already: start-up and teardown, no samples): "
        f"1 worker {marginal:.1f} samples/s, 2 workers {marginal2:.1f} samples/s ({marginal2 / 2:.1f} per core).",
    ]
    path = write_result("ingest", result, "\n".join(lines))
    print("\n".join(lines))
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
