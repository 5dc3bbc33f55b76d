"""The ``shardsmith`` command line: build datasets without Dagster, and look at what was built.

Only click, pyarrow, PIL and fsspec load at import: torch, OpenCV, Beam and the models load inside ``build`` (and the
commands that need them), so that ``stats``, ``validate``, ``show`` and ``grid`` answer at once."""

from __future__ import annotations

import json
import logging
import random
import sys
import threading
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from pipelines.store import DatasetDir, ShardReader


class DatasetName(click.ParamType):
    """A dataset name, checked against the registry only when a command gets one (importing every dataset loads torch)."""

    name = "dataset"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from pipelines.datasets import dataset_names

        if value not in (names := dataset_names()):
            self.fail(f"{value!r} is not one of {', '.join(names)}", param, ctx)
        return value

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "DATASET"


def _parse_sets(values: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        name, sep, raw = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not key=value", param_hint="--set")
        try:
            out[name] = json.loads(raw)
        except json.JSONDecodeError:
            out[name] = raw
    return out


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log Beam and pipeline details.")
def main(verbose: bool) -> None:
    """shardsmith: build sharded multimodal training corpora and inspect them."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@main.command("sample-source")
@click.option("--out", required=True, help="Directory or fsspec URL to write img2dataset-format shards to.")
@click.option(
    "--kind",
    type=click.Choice(["photos", "shapes"]),
    default="photos",
    show_default=True,
    help="photos: the bundled photos, rendered signs and broken inputs; shapes: rendered scenes of coloured shapes.",
)
@click.option("--shards", default=4, show_default=True, help="Shards to spread the samples over.")
@click.option("--copies", default=1, show_default=True, help="photos: repeat the whole set this many times.")
@click.option("--n", "n", default=1000, show_default=True, help="shapes: how many scenes.")
@click.option("--seed", default=0, show_default=True, help="shapes: the seed (same seed, same bytes).")
@click.option(
    "--split",
    type=click.Choice(["train", "test", "general"]),
    default="train",
    show_default=True,
    help="shapes: train and test draw the same distribution from their own streams; general has other shapes, "
    "colours and backgrounds (replay data).",
)
@click.option("--size", default=64, show_default=True, help="shapes: image side in pixels.")
@click.option("--max-objects", default=3, show_default=True, help="shapes: objects per scene, at most (1-3).")
def sample_source(
    out: str, kind: str, shards: int, copies: int, n: int, seed: int, split: str, size: int, max_objects: int
) -> None:
    """Write a sample source: the bundled photos (default) or a rendered shapes corpus, as img2dataset shards."""
    if kind == "shapes":
        from pipelines.sources.shapes import ShapesConfig, write_shapes_source

        config = ShapesConfig(n=n, seed=seed, split=split, size=size, shards=shards, max_objects=max_objects)
        summary = write_shapes_source(out, config)
    else:
        from pipelines.sources.sample_source import write_sample_source

        summary = write_sample_source(out, shards=shards, copies=copies)
    click.echo(f"wrote {summary['samples']} samples in {summary['shards']} shards to {out}")


@main.command()
@click.argument("dataset", type=DatasetName())
@click.option(
    "--source", required=True, help="img2dataset output or a folder of images with a captions file (path or URL)."
)
@click.option("--out", required=True, help="Storage root; the dataset is written to OUT/DATASET.")
@click.option(
    "--workers", default=1, show_default=True, help="Worker processes (FnApiRunner multi-processing when > 1)."
)
@click.option("--shards", "limit", type=int, default=None, help="Build only the first K source shards.")
@click.option("--only", default=None, help="Comma-separated source shard ids to build (e.g. 00000,00003).")
@click.option(
    "--profile",
    default="tiny",
    show_default=True,
    help="Model profile: tiny (random-weight real architectures) or production.",
)
@click.option(
    "--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="JSON file with the dataset config."
)
@click.option(
    "--set", "sets", multiple=True, help="Override one config field: --set max_side=512 (value parsed as JSON)."
)
@click.option(
    "--runner",
    default="FnApiRunner",
    show_default=True,
    help="Beam runner (FnApiRunner, PortableRunner, DataflowRunner, ...).",
)
@click.option(
    "--beam-option",
    "beam_options",
    multiple=True,
    help="Extra Beam pipeline option, e.g. --beam-option=--region=europe-west4.",
)
@click.option("--source-kind", type=click.Choice(["auto", "img2dataset", "folder"]), default="auto", show_default=True)
@click.option("--samples-per-shard", default=1000, show_default=True, help="Shard size for a folder source.")
def build(
    dataset: str,
    source: str,
    out: str,
    workers: int,
    limit: int | None,
    only: str | None,
    profile: str,
    config_file: str | None,
    sets: tuple[str, ...],
    runner: str,
    beam_options: tuple[str, ...],
    source_kind: str,
    samples_per_shard: int,
) -> None:
    """Build DATASET from SOURCE into OUT/DATASET; done shards are skipped, unfinished ones rebuilt."""
    from pipelines.runner import BuildSpec, RunnerConfig, run_build, select_shards

    config = json.loads(Path(config_file).read_text()) if config_file else {}
    config.update(_parse_sets(sets))
    spec = BuildSpec(dataset, source, out, config, profile, source_kind, samples_per_shard)
    ids = only.split(",") if only else None
    chosen = [s.shard for s in select_shards(spec.open_source().shards(), ids, limit)]
    with _progress(spec.out, chosen):
        report = run_build(spec, RunnerConfig(runner, workers, beam_options), only=ids, limit=limit)
    _print_summary(report)


class _progress:
    """A progress bar over committed shards, polled from storage (works whatever runner does the work)."""

    def __init__(self, out: DatasetDir, shards: list[str]) -> None:
        self.out, self.shards, self._stop = out, set(shards), threading.Event()

    def _poll(self) -> None:
        with tqdm(total=len(self.shards), unit="shard", desc=f"build {self.out.url}", file=sys.stderr) as bar:
            while True:
                done = len(self.shards & set(self.out.done_shards()))
                bar.update(done - bar.n)
                if self._stop.wait(0.5):
                    bar.update(len(self.shards & set(self.out.done_shards())) - bar.n)
                    return

    def __enter__(self) -> _progress:
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _print_summary(report: dict[str, Any]) -> None:
    c = report["counts"]
    click.echo(
        f"{report['dataset_dir']}: {len(report['shards_done'])}/{len(report['shards'])} shards, "
        f"{report['inputs']} inputs: ok {c['ok']}, rejected {c['rejected']}, failed {c['failed']}"
    )
    for status in ("rejected", "failed"):
        for reason, n in sorted(report["reasons"][status].items(), key=lambda kv: -kv[1]):
            click.echo(f"  {status:<8} {reason:<28} {n}")


@main.command()
@click.argument("directory")
@click.option("--json", "as_json", is_flag=True, help="Print the totals as JSON.")
@click.option("--per-shard", is_flag=True, help="One line per shard.")
def stats(directory: str, as_json: bool, per_shard: bool) -> None:
    """Totals over the committed shards of a dataset directory: counts by status and reason, timings."""
    from pipelines.summary import summarize

    d = DatasetDir(directory)
    shards = d.done_shards()
    report = summarize(d, shards)
    report.pop("counters")
    seconds = sum(d.read_stats(s)["timings_s"].get("total", 0.0) for s in shards)
    report["build_seconds"] = round(seconds, 3)
    report["samples_per_second"] = round(report["inputs"] / seconds, 2) if seconds else None
    if as_json:
        click.echo(json.dumps(report, indent=1))
        return
    _print_summary(report)
    click.echo(f"  build time {seconds:.2f}s over all shards ({report['samples_per_second']} inputs/s)")
    if per_shard:
        for s in shards:
            st = d.read_stats(s)
            click.echo(
                f"  {s}: inputs {st['inputs']:>6}  ok {st['counts']['ok']:>6}  rejected {st['counts']['rejected']:>5}  "
                f"failed {st['counts']['failed']:>5}  {st['timings_s'].get('total', 0):.2f}s"
            )


@main.command()
@click.argument("directory")
@click.argument("key")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG to write.")
def show(directory: str, key: str, out: str) -> None:
    """Draw sample KEY with its boxes, masks, polygons, points and caption; for a rejected or failed key, say why."""
    from pipelines.draw import render_sample

    reader = ShardReader(directory)
    found = reader.locate(key)
    if found is None:
        raise click.ClickException(f"no key {key!r} in {directory}")
    shard, row = found
    if row["status"] != "ok":
        raise click.ClickException(
            f"{key} (shard {shard}, source {row['source_key']}) is {row['status']}: {row['reason']}"
            + (f" ({row['detail']})" if row.get("detail") else "")
        )
    sample = reader.sample(key)
    render_sample(sample.files, sample.record).save(out)
    click.echo(f"{key} (shard {shard}) -> {out}")


@main.command()
@click.argument("directory")
@click.option("--n", default=16, show_default=True, help="How many samples.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG to write.")
@click.option("--seed", type=int, default=None, help="Pick samples at random with this seed (default: the first N).")
@click.option("--cell", default=256, show_default=True, help="Tile size in pixels.")
def grid(directory: str, n: int, out: str, seed: int | None, cell: int) -> None:
    """A contact sheet of N samples with their geometry drawn."""
    from pipelines.draw import contact_sheet, draw_record, load_image

    samples = pick_samples(ShardReader(directory), n, seed)
    if not samples:
        raise click.ClickException(f"no ok samples in {directory}")
    tiles = [(draw_record(load_image(s.files), s.record), s.key) for s in samples]
    contact_sheet(tiles, cell=cell).save(out)
    click.echo(f"{len(tiles)} samples -> {out}")


def pick_samples(reader: ShardReader, n: int, seed: int | None) -> list:
    if seed is None:
        out = []
        for sample in reader.all_samples():
            out.append(sample)
            if len(out) >= n:
                break
        return out
    return random.Random(seed).sample(all_ := list(reader.all_samples()), min(n, len(all_)))


@main.command()
@click.argument("directory")
@click.option("--quick", is_flag=True, help="Check stats, manifests and sizes.json only; do not read the tars.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--source", default=None, help="Also check that every key of this source is named by a dataset row.")
@click.option("--source-kind", type=click.Choice(["auto", "img2dataset", "folder"]), default="auto", show_default=True)
def validate(directory: str, quick: bool, as_json: bool, source: str | None, source_kind: str) -> None:
    """Check a dataset directory against the data contract; exits 1 on any violation."""
    from pipelines.validate import validate_dataset

    report = validate_dataset(directory, deep=not quick, source=source, source_kind=source_kind)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=1))
    else:
        for shard, message in report.errors:
            click.echo(f"ERROR   {shard}: {message}")
        for shard, message in report.warnings:
            click.echo(f"warning {shard}: {message}")
        click.echo(
            f"{'OK' if report.ok else 'INVALID'}: {report.shards} shards, {report.samples} samples, "
            f"{len(report.errors)} errors, {len(report.warnings)} warnings"
        )
    sys.exit(0 if report.ok else 1)


@main.command("datasets")
def list_datasets() -> None:
    """List the datasets this installation can build."""
    from pipelines.datasets import dataset_names

    for name in dataset_names():
        click.echo(name)


def _add_review() -> None:
    from pipelines.review_cli import review

    main.add_command(review)


_add_review()


def _add_training() -> None:
    from pipelines.training.cli import train, trainers  # click only at import; the trainers load when a command runs

    main.add_command(train)
    main.add_command(trainers)
    from pipelines.training.retrieval_cli import eval_group, index_group, search_cmd  # click only, too

    main.add_command(eval_group)
    main.add_command(index_group)
    main.add_command(search_cmd)
    from pipelines.training.generate_cli import generate_cmd  # click only, too

    main.add_command(generate_cmd)


_add_training()


if __name__ == "__main__":
    main()
