"""`shardsmith validate` over a few thousand shards: is it fast enough to run after every backfill?

Generates a dataset of N committed shards quickly (one real shard written by ShardWriter, copied N times with its stats
renamed, sizes.json and run.json to match), breaks a few shards on purpose (uncommitted, truncated tar, lost tar, never
built), then times `validate_dataset` quick (stats + parquet + tar size) and deep (also every tar: keys, json, image sizes,
checksums), and checks that every broken shard is reported by name."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import tempfile
import time
from pathlib import Path

from PIL import Image

from benchmarks.common import write_result
from pipelines.schema import Failed, Rejected, Written
from pipelines.store import DatasetDir, ShardWriter
from pipelines.store.layout import dumps
from pipelines.validate import validate_dataset
from pipelines.version import code_version

MODELS = {"detector": "bench-synthetic"}


def _sample(i: int, side: int) -> Written:
    image = Image.new("RGB", (side, side * 3 // 4), ((i * 37) % 256, (i * 91) % 256, 128))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=85)
    key = f"s{i:05d}"
    record = {
        "key": key,
        "source_key": key,
        "width": image.width,
        "height": image.height,
        "caption": f"sample {i}",
        "models": MODELS,
    }
    files = {"jpg": buf.getvalue(), "txt": record["caption"].encode(), "json": json.dumps(record).encode()}
    return Written(key, key, files)


def write_template(out: DatasetDir, samples: int, side: int) -> dict:
    """One real shard "00000": ``samples`` inputs, of which one rejected and one failed, via the production writer."""
    with ShardWriter(out, "00000", __import__("pyarrow").schema([])) as writer:
        for i in range(samples):
            if i == 1:
                writer.add(Rejected(f"s{i:05d}", f"s{i:05d}", "too_small"))
            elif i == 2:
                writer.add(Failed(f"s{i:05d}", f"s{i:05d}", "truncated"))
            else:
                writer.add(_sample(i, side))
        stats = writer.commit(
            dataset="bench",
            inputs=samples,
            input_keys={f"s{i:05d}" for i in range(samples)},
            models=MODELS,
            config_sha256="bench",
            code_version=code_version(),
        )
    return stats.to_dict()


def generate(root: Path, shards: int, samples: int, side: int) -> DatasetDir:
    """``shards`` committed shards named 00000.. (copies of one real shard, each with its own stats), sizes.json, run.json."""
    out = DatasetDir(str(root / "bench"))
    stats = write_template(out, samples, side)
    base = Path(out.path)
    for n in range(1, shards):
        name = f"{n:05d}"
        shutil.copyfile(base / "00000.tar", base / f"{name}.tar")
        shutil.copyfile(base / "00000.parquet", base / f"{name}.parquet")
        (base / f"{name}_stats.json").write_bytes(dumps({**stats, "shard": name}))
    out.write_sizes()
    out.write_json("run.json", {"dataset": "bench", "config_sha256": "bench", "models": MODELS})
    return out


def break_some(out: DatasetDir, shards: int) -> dict[str, str]:
    """Break five shards the ways a killed or damaged build does; return shard -> what was done."""
    base = Path(out.path)
    a, b, c, d = (f"{shards * i // 5:05d}" for i in range(1, 5))
    (base / f"{a}_stats.json").unlink()  # killed after its renames, before the commit marker
    tar = base / f"{b}.tar"
    tar.write_bytes(
        tar.read_bytes()[: tar.stat().st_size // 2 + 100]
    )  # damaged in storage after the commit, mid-member
    (base / f"{c}.tar").unlink()  # lost
    (base / f"{d}.parquet").write_bytes(b"not a parquet file")  # overwritten by something else
    out.write_sizes()
    return {a: "uncommitted", b: "truncated tar", c: "lost tar", d: "garbage parquet", f"{shards:05d}": "never built"}


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=3000)
    parser.add_argument("--samples", type=int, default=32, help="inputs per shard")
    parser.add_argument("--side", type=int, default=128, help="image width in pixels")
    parser.add_argument("--workers", type=int, default=8, help="validate's thread pool")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_validate_"))
    try:
        out, gen_s = timed(lambda: generate(work, args.shards, args.samples, args.side))
        tar_bytes = sum(p.stat().st_size for p in Path(out.path).glob("*.tar"))
        clean = {
            mode: timed(lambda d=deep: validate_dataset(out.url, deep=d, workers=args.workers))
            for mode, deep in (("quick", False), ("deep", True))
        }
        assert all(report.ok for report, _ in clean.values()), [r.errors[:5] for r, _ in clean.values()]
        broken = break_some(out, args.shards)
        expected = [f"{n:05d}" for n in range(args.shards + 1)]  # what the source lists: one more than was built
        found = {
            mode: timed(lambda d=deep: validate_dataset(out.url, deep=d, workers=args.workers, only=expected))
            for mode, deep in (("quick", False), ("deep", True))
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    reported = {mode: sorted({s for s, _ in r.errors}) for mode, (r, _) in found.items()}
    result = {
        "shards": args.shards,
        "samples_per_shard": args.samples,
        "image_side": args.side,
        "workers": args.workers,
        "tar_mib": round(tar_bytes / 2**20, 1),
        "generate_s": round(gen_s, 2),
        "validate_s": {mode: round(s, 3) for mode, (_, s) in clean.items()},
        "shards_per_s": {mode: round(args.shards / s) for mode, (_, s) in clean.items()},
        "broken": broken,
        "reported_shards": reported,
        "errors": {mode: [f"{s}: {m}" for s, m in r.errors] for mode, (r, _) in found.items()},
    }
    q, d = clean["quick"][1], clean["deep"][1]
    md = (
        f"# validate over {args.shards} shards ({args.samples} inputs each, {result['tar_mib']} MiB of tars, warm page cache)\n\n"
        f"| mode | seconds | shards/s |\n| --- | --- | --- |\n| quick (stats + parquet + tar size) | {q:.2f} | {args.shards / q:.0f} |\n"
        f"| deep (+ every tar: keys, json, image sizes, checksums) | {d:.2f} | {args.shards / d:.0f} |\n\n"
        f"Broken on purpose: {broken}.\nReported by quick: {reported['quick']}; by deep: {reported['deep']}.\n"
    )
    write_result("validate_scale", result, md)
    print(md)
    missed = {s for s in broken if s not in reported["deep"]}
    if missed:
        raise SystemExit(f"deep validate missed broken shards {sorted(missed)}")


if __name__ == "__main__":
    main()
