"""ingest throughput, side by side in one run, interleaved, medians.

Photos (the speed goal): 600 photo-sized JPEGs (640x480 to 1280x960, from the sample source's real photos, see
benchmarks/photos.py) capped to a 512 px long side by img2dataset's own ``Resizer`` and by ingest, on the same bytes in
one process; rates are per CPU-second of this process (per core, whatever else the machine runs). Ingest runs both as
its per-sample ``process`` in memory and as a full build through Beam (tar read and write, manifest, stats). Each stored
image is compared (PSNR) with the full-resolution decode downscaled by Lanczos, which is what ingest stored before. The
duplicate hash alone is timed both ways on the same stored images: sha256 of the stored jpg (what ingest records) and
sha256 of the raw stored pixels (what it recorded before).

Sample source (fixed costs): the I/O floor (a raw copy of the tar bytes), a plain Python loop doing decode + normalise +
encode + tar write, and ingest through Beam with 1 and 2 worker processes."""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import shutil
import statistics
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.common import write_result
from benchmarks.photos import input_samples, make_photos, write_photo_source
from pipelines.datasets.ingest import Ingest, IngestConfig, encode_jpeg, normalise, stored_sha256
from pipelines.decode import DecodeConfig, Decoded, decode_sample
from pipelines.runner import BuildSpec, RunnerConfig, run_build
from pipelines.schema import Written
from pipelines.sources import open_source
from pipelines.sources.sample_source import write_sample_source

MAX_SIDE = 512


def img2dataset_resizer(max_side: int) -> Callable[[bytes], tuple]:
    """img2dataset's ``Resizer`` capping the long side (``keep_ratio_largest``, only if bigger, JPEG q95). The module
    is loaded from its installed file: the package's ``__init__`` imports the downloader's stack (wandb, fire), which is
    not installed (img2dataset goes in with --no-deps: see the README) and which the resizer does not use."""
    spec = importlib.util.find_spec("img2dataset")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("img2dataset is not installed: see the README's Benchmarks section for the --no-deps install")
    path = Path(next(iter(spec.submodule_search_locations))) / "resizer.py"
    module_spec = importlib.util.spec_from_file_location("img2dataset_resizer", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    resizer = module.Resizer(max_side, "keep_ratio_largest", True, encode_quality=95)
    return lambda data: resizer(io.BytesIO(data))


def timed(cases: dict[str, Callable[[], Any]], repeats: int) -> dict[str, dict[str, list[float]]]:
    """Every case once per round, ``repeats`` rounds: wall seconds and CPU seconds of this process (all its threads)."""
    times = {name: {"wall": [], "cpu": []} for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            times[name]["cpu"].append(time.process_time() - cpu)
            times[name]["wall"].append(time.perf_counter() - wall)
    return times


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / mse) if mse else float("inf")


def _decoded(jpg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpg)).convert("RGB"))


def quality(photos: list, resize: Callable[[bytes], tuple], every: int = 3) -> dict[str, float]:
    """Mean PSNR (dB) of stored images (every ``every``-th photo) against the full-resolution decode, upright, downscaled
    by Lanczos (what ingest stored before it decoded at reduced scale), and the mean stored bytes."""
    samples = input_samples(photos[::every])
    scores: dict[str, list[float]] = {"ingest": [], "ingest_444": [], "ingest_fast_dct": [], "img2dataset": []}
    sizes: dict[str, list[int]] = {k: [] for k in scores}
    references = [np.asarray(normalise(decode_sample(s, DecodeConfig()).image, MAX_SIDE)) for s in samples]
    for name, subsampling, fast in (
        ("ingest", "4:2:0", False),
        ("ingest_444", "4:4:4", False),
        ("ingest_fast_dct", "4:2:0", True),
    ):
        ingest = Ingest(IngestConfig(max_side=MAX_SIDE, jpeg_subsampling=subsampling, fast_dct=fast))
        for outcome, reference in zip(ingest.process(samples), references, strict=True):
            scores[name].append(psnr(_decoded(outcome.files["jpg"]), reference))
            sizes[name].append(len(outcome.files["jpg"]))
    for sample, reference in zip(samples, references, strict=True):
        jpg = resize(sample.files["jpg"])[0]
        stored = _decoded(jpg)
        if stored.shape == reference.shape:  # img2dataset ignores the EXIF orientation: those photos are left out
            scores["img2dataset"].append(psnr(stored, reference))
            sizes["img2dataset"].append(len(jpg))
    out = {f"{k}_psnr_db": round(float(statistics.mean(v)), 2) for k, v in scores.items()}
    out |= {f"{k}_stored_bytes_mean": round(statistics.mean(v)) for k, v in sizes.items()}
    return out | {"images_compared": len(samples)}


def photo_cases(work: Path, photos: list) -> dict[str, Callable[[], Any]]:
    samples = input_samples(photos)
    resize = img2dataset_resizer(MAX_SIDE)
    source = work / "photos"
    write_photo_source(str(source), photos)
    runs = iter(range(10**6))

    def ingest_process(subsampling: str = "4:2:0", fast_dct: bool = False) -> None:
        config = IngestConfig(max_side=MAX_SIDE, jpeg_subsampling=subsampling, fast_dct=fast_dct)
        outcomes = list(Ingest(config).process(samples))
        assert sum(isinstance(o, Written) for o in outcomes) == len(samples)

    def ingest_beam() -> None:
        spec = BuildSpec("ingest", str(source), str(work / f"photo_out{next(runs)}"), config={"max_side": MAX_SIDE})
        assert run_build(spec, RunnerConfig(workers=1))["counts"]["ok"] == len(samples)

    decode_config = DecodeConfig(max_side=MAX_SIDE)
    pixels = [decode_sample(s, decode_config).pixels for s in samples]
    jpgs = [encode_jpeg(p, 95, "4:2:0") for p in pixels]
    return {
        "img2dataset_resizer": lambda: [resize(s.files["jpg"]) for s in samples],
        # ingest's decode stage alone (reduced-scale decode, shrink, orientation): the floor under ingest's per-sample path
        "ingest_decode_stage": lambda: [decode_sample(s, decode_config) for s in samples],
        "ingest_process": ingest_process,
        "ingest_process_444": lambda: ingest_process("4:4:4"),
        # the opt-in fast integer IDCT on the reduced decode (IngestConfig.fast_dct): its speed, its PSNR in quality()
        "ingest_process_fast_dct": lambda: ingest_process(fast_dct=True),
        "ingest_beam_1_worker": ingest_beam,
        # the duplicate hash alone, on the same stored images: what ingest records, and the raw-pixel hash it replaced
        "hash_stored_jpg_sha256": lambda: [stored_sha256(j) for j in jpgs],
        "hash_stored_pixels_sha256": lambda: [hashlib.sha256(p.data).hexdigest() for p in pixels],
    }


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


def sample_cases(work: Path, copies: int) -> tuple[dict[str, Callable[[], Any]], dict[str, Any]]:
    source = work / "source"
    summary = write_sample_source(str(source), shards=4, copies=copies)
    runs = iter(range(10**6))

    def fresh() -> Path:
        return work / f"out{next(runs)}"

    def ingest(out: Path, workers: int) -> None:
        run_build(BuildSpec("ingest", str(source), str(out)), RunnerConfig(workers=workers))

    done = fresh()
    ingest(done, 1)
    cases = {
        # every shard already done: pipeline start-up and teardown only, with 1 and with 2 worker processes
        "beam_fixed_cost": lambda: ingest(done, 1),
        "beam_2_workers_fixed_cost": lambda: ingest(done, 2),
        "raw_copy": lambda: raw_copy(source, fresh()),
        "plain_loop": lambda: plain_loop(source, fresh()),
        "ingest_beam_1_worker": lambda: ingest(fresh(), 1),
        "ingest_beam_2_workers": lambda: ingest(fresh(), 2),
    }
    return cases, summary


def figures(times: dict[str, dict[str, list[float]]], n: int, cores: dict[str, int]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, t in times.items():
        wall, cpu = statistics.median(t["wall"]), statistics.median(t["cpu"])
        out[name] = {
            "median_s": round(wall, 4),
            "median_cpu_s": round(cpu, 4),
            "samples_per_s": round(n / wall, 1),
            "samples_per_s_per_core": round(n / wall / cores.get(name, 1), 1),
            "samples_per_cpu_s": round(n / cpu, 1),
            "runs_s": [round(x, 4) for x in t["wall"]],
            "runs_cpu_s": [round(x, 4) for x in t["cpu"]],
        }
    return out


def photo_report(fig: dict[str, dict[str, Any]], q: dict[str, float], photos: list) -> tuple[dict[str, Any], list[str]]:
    base = fig["img2dataset_resizer"]["samples_per_cpu_s"]
    ratios = {
        "ingest_process_vs_img2dataset_per_core": round(fig["ingest_process"]["samples_per_cpu_s"] / base, 3),
        "ingest_beam_1_worker_vs_img2dataset_per_core": round(
            fig["ingest_beam_1_worker"]["samples_per_cpu_s"] / base, 3
        ),
        "ingest_process_444_vs_img2dataset_per_core": round(fig["ingest_process_444"]["samples_per_cpu_s"] / base, 3),
        "ingest_decode_stage_vs_img2dataset_per_core": round(fig["ingest_decode_stage"]["samples_per_cpu_s"] / base, 3),
        "ingest_process_fast_dct_vs_img2dataset_per_core": round(
            fig["ingest_process_fast_dct"]["samples_per_cpu_s"] / base, 3
        ),
        "hash_stored_pixels_vs_jpg_cpu": round(
            fig["hash_stored_pixels_sha256"]["median_cpu_s"] / fig["hash_stored_jpg_sha256"]["median_cpu_s"], 3
        ),
        "hash_saving_share_of_ingest_process_cpu": round(
            (fig["hash_stored_pixels_sha256"]["median_cpu_s"] - fig["hash_stored_jpg_sha256"]["median_cpu_s"])
            / fig["ingest_process"]["median_cpu_s"],
            3,
        ),
        "encode_444_vs_420_cpu": round(
            fig["ingest_process_444"]["median_cpu_s"] / fig["ingest_process"]["median_cpu_s"], 3
        ),
    }
    sizes = [Image.open(io.BytesIO(p.jpg)).size for p in photos]
    data = {
        "photos": len(photos),
        "photo_bytes_mean": round(statistics.mean(len(p.jpg) for p in photos)),
        "photo_bits_per_pixel": round(8 * sum(len(p.jpg) for p in photos) / sum(w * h for w, h in sizes), 3),
        "max_side": MAX_SIDE,
        "figures": fig,
        "ratios": ratios,
        "quality": q,
    }
    lines = [
        f"## photos: {len(photos)} JPEGs, 640x480 to 1280x960 ({data['photo_bits_per_pixel']} bits/pixel), capped to "
        f"{MAX_SIDE} px, median of {len(next(iter(fig.values()))['runs_s'])} interleaved runs",
        "",
        "| case | median CPU s | images per CPU-second | median wall s |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {k} | {v['median_cpu_s']} | {v['samples_per_cpu_s']} | {v['median_s']} |" for k, v in fig.items()]
    lines += [
        "",
        f"Per core, against img2dataset's resizer on the same bytes: ingest's per-sample path "
        f"{ratios['ingest_process_vs_img2dataset_per_core']}x, a full ingest build through Beam (1 worker) "
        f"{ratios['ingest_beam_1_worker_vs_img2dataset_per_core']}x; ingest storing 4:4:4 chroma "
        f"{ratios['ingest_process_444_vs_img2dataset_per_core']}x (ingest's default is 4:2:0, as img2dataset's); "
        f"ingest's decode stage alone {ratios['ingest_decode_stage_vs_img2dataset_per_core']}x; ingest with the opt-in "
        f"fast IDCT (fast_dct) {ratios['ingest_process_fast_dct_vs_img2dataset_per_core']}x.",
        f"Duplicate hash: sha256 of the stored jpg (recorded) takes {fig['hash_stored_jpg_sha256']['median_cpu_s']} CPU s "
        f"for the {len(photos)} stored images, sha256 of their raw pixels (recorded before) "
        f"{fig['hash_stored_pixels_sha256']['median_cpu_s']} s ({ratios['hash_stored_pixels_vs_jpg_cpu']}x; "
        f"{ratios['hash_saving_share_of_ingest_process_cpu']} of ingest's per-sample CPU time).",
        f"PSNR against the full-resolution decode downscaled by Lanczos ({q['images_compared']} photos): ingest "
        f"{q['ingest_psnr_db']} dB ({q['ingest_stored_bytes_mean']} bytes), ingest at 4:4:4 {q['ingest_444_psnr_db']} dB "
        f"({q['ingest_444_stored_bytes_mean']} bytes), ingest with fast_dct {q['ingest_fast_dct_psnr_db']} dB "
        f"({q['ingest_fast_dct_stored_bytes_mean']} bytes), img2dataset {q['img2dataset_psnr_db']} dB "
        f"({q['img2dataset_stored_bytes_mean']} bytes; photos with an EXIF rotation left out, img2dataset ignores it).",
    ]
    return data, lines


def _net_rate(n: int, seconds: float) -> float | None:
    """Samples per second net of the fixed cost; None where the difference of two noisy medians is not positive."""
    return round(n / seconds, 1) if seconds > 0 else None


def sample_report(fig: dict[str, dict[str, Any]], summary: dict[str, Any], repeats: int) -> tuple[dict, list[str]]:
    n = summary["samples"]
    fixed, fixed2 = fig["beam_fixed_cost"]["median_s"], fig["beam_2_workers_fixed_cost"]["median_s"]
    marginal = _net_rate(n, fig["ingest_beam_1_worker"]["median_s"] - fixed)
    marginal2 = _net_rate(n, fig["ingest_beam_2_workers"]["median_s"] - fixed2)
    plain = fig["plain_loop"]["samples_per_s"]
    ratios = {
        "ingest_1_worker_vs_plain_loop": round(fig["ingest_beam_1_worker"]["samples_per_s"] / plain, 3),
        "ingest_1_worker_without_fixed_cost_vs_plain_loop": round(marginal / plain, 3) if marginal else None,
        "ingest_1_worker_samples_per_s_without_fixed_cost": marginal,
        "ingest_2_workers_samples_per_s_without_fixed_cost": marginal2,
        "plain_loop_vs_raw_copy": round(plain / fig["raw_copy"]["samples_per_s"], 4),
    }
    lines = [
        f"## sample source: {n} samples in {summary['shards']} shards, median of {repeats} interleaved runs (wall)",
        "",
        "| case | median s | samples/s | samples/s per core |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {k} | {v['median_s']} | {v['samples_per_s']} | {v['samples_per_s_per_core']} |" for k, v in fig.items()
    ]
    lines += [
        "",
        f"ingest (1 worker) / plain loop: {ratios['ingest_1_worker_vs_plain_loop']} "
        f"({ratios['ingest_1_worker_without_fixed_cost_vs_plain_loop']} once Beam's fixed {fixed:.2f}s start-up is taken "
        f"out); plain loop / raw copy: {ratios['plain_loop_vs_raw_copy']}",
        f"Without the fixed costs (runs whose shards are all done already: start-up and teardown, no samples): "
        f"1 worker {marginal} samples/s, 2 workers "
        + (
            f"{marginal2} samples/s ({marginal2 / 2:.1f} per core)."
            if marginal2
            else "not measurable (start-up varied more than the work)."
        ),
    ]
    return {"samples": n, "shards": summary["shards"], "figures": fig, "ratios": ratios}, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=600)
    parser.add_argument("--copies", type=int, default=6, help="copies of the 40-sample source (4 shards each)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sample-repeats", type=int, default=3, help="rounds of the sample-source cases")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        photos = make_photos(args.photos)
        cases = photo_cases(work, photos)
        q = quality(photos, img2dataset_resizer(MAX_SIDE))
        photo_data, photo_lines = photo_report(figures(timed(cases, args.repeats), len(photos), {}), q, photos)
        s_cases, summary = sample_cases(work, args.copies)
        cores = {"beam_2_workers_fixed_cost": 2, "ingest_beam_2_workers": 2}
        s_fig = figures(timed(s_cases, args.sample_repeats), summary["samples"], cores)
        sample_data, sample_lines = sample_report(s_fig, summary, args.sample_repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "command": f"python -m benchmarks.ingest --photos {args.photos} --copies {args.copies} --repeats {args.repeats} "
        f"--sample-repeats {args.sample_repeats}",
        "repeats": args.repeats,
        "photos": photo_data,
        "sample_source": sample_data,
    }
    title = f"# ingest, medians of interleaved runs (`{result['command']}`)"
    lines = [title, "", *photo_lines, "", *sample_lines]
    path = write_result("ingest", result, "\n".join(lines))
    print("\n".join(lines))
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
