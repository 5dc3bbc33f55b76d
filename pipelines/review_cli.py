"""``shardsmith review``: the face-attribute review loop from the command line (Label Studio tasks out, exports back in)."""

from __future__ import annotations

import json

import click

from pipelines.store import DatasetDir


@click.group()
def review() -> None:
    """Human review of face attributes with Label Studio: export tasks, import its exports, report agreement."""


@review.command("export")
@click.argument("dataset_dir")
@click.option("--out", required=True, help="Folder for labeling_config.xml, <shard>/tasks.json and the crops.")
@click.option(
    "--image-base",
    default="/data/local-files/?d=tasks",
    show_default=True,
    help="URL prefix under which Label Studio serves OUT (its local-files storage, S3, ...).",
)
@click.option("--all", "everything", is_flag=True, help="Every face, not only those with low-confidence labels.")
@click.option("--schema-version", default="v1", show_default=True)
def export(dataset_dir: str, out: str, image_base: str, everything: bool, schema_version: str) -> None:
    """Write Label Studio import tasks (model labels as predictions) for a face_attributes directory."""
    from pipelines.faces.review import UnsafeKey, export_review
    from pipelines.faces.schema import load_schema

    shards = DatasetDir(dataset_dir).done_shards()
    try:
        counts = export_review(dataset_dir, out, load_schema(schema_version), shards, image_base, not everything)
    except UnsafeKey as e:
        raise click.ClickException(str(e)) from e
    click.echo(
        f"{sum(counts.values())} tasks in {len(shards)} shards -> {out} (labeling config: {out}/labeling_config.xml)"
    )


@review.command("import")
@click.argument("dataset_dir")
@click.argument("exports", nargs=-1, required=True)
@click.option("--out", required=True, help="Where the reviewed dataset is written (a dataset directory).")
@click.option(
    "--store", required=True, help="The label store (JSON) that merges every export; re-importing is idempotent."
)
@click.option("--schema-version", default="v1", show_default=True)
def import_(dataset_dir: str, exports: tuple[str, ...], out: str, store: str, schema_version: str) -> None:
    """Merge Label Studio JSON exports (human labels override the model's) and rewrite the shards with them."""
    from pipelines.faces.agreement import agreement_report, agreement_table
    from pipelines.faces.review import import_exports, write_reviewed_shard
    from pipelines.faces.schema import load_schema
    from pipelines.store import ShardReader

    schema = load_schema(schema_version)
    merged = import_exports(list(exports), store, schema)
    shards = DatasetDir(dataset_dir).done_shards()
    for shard in shards:
        write_reviewed_shard(dataset_dir, out, shard, merged)
    DatasetDir(out).write_sizes()
    report = agreement_report([s.record for s in ShardReader(out).all_samples()], schema)
    click.echo(f"{len(merged)} reviewed faces; {len(shards)} shards -> {out}")
    click.echo(agreement_table(report))


@review.command("agreement")
@click.argument("reviewed_dir")
@click.option("--json", "as_json", is_flag=True)
@click.option("--schema-version", default="v1", show_default=True)
def agreement(reviewed_dir: str, as_json: bool, schema_version: str) -> None:
    """Per attribute: model vs human accuracy on reviewed faces, label balance, coverage."""
    from pipelines.faces.agreement import agreement_report, agreement_table
    from pipelines.faces.schema import load_schema
    from pipelines.store import ShardReader

    report = agreement_report([s.record for s in ShardReader(reviewed_dir).all_samples()], load_schema(schema_version))
    click.echo(json.dumps(report, indent=1, sort_keys=True) if as_json else agreement_table(report))
