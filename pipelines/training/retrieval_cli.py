"""``shardsmith eval retrieval``, ``shardsmith index build`` and ``shardsmith search``: click only at import."""

from __future__ import annotations

import json

import click


@click.group("eval")
def eval_group() -> None:
    """Evaluate a trained model on a folder of shards."""


@eval_group.command("retrieval")
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--data", required=True, help="A folder of WebDataset shards with jpg + txt (json negatives optional).")
@click.option("--limit", type=int, default=None, help="Evaluate the first N samples only.")
@click.option("--batch-size", default=64, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def eval_retrieval(model_dir: str, data: str, limit: int | None, batch_size: int, as_json: bool) -> None:
    """Recall@1/5/10 image-to-text and text-to-image, and SugarCrepe accuracy per negative kind."""
    from pipelines.training.eval_retrieval import evaluate_retrieval

    result = evaluate_retrieval(model_dir, data, limit, batch_size)
    if as_json:
        click.echo(json.dumps({**result.metrics(), "negative_scorer": result.negative_scorer}, sort_keys=True))
        return
    click.echo(f"{result.samples} samples")
    for name, value in sorted(result.recall.items()):
        click.echo(f"{name:<12} {value:.4f}")
    for kind, v in result.negatives.items():
        click.echo(f"{kind:<16} {v['accuracy']:.4f}  (n={int(v['n'])}, {result.negative_scorer})")
    if not result.negatives:
        click.echo(
            f"no json negatives in {data}: no SugarCrepe accuracy (shardsmith build retrieval_negatives writes them)",
            err=True,
        )


@click.group("index")
def index_group() -> None:
    """Build a gallery index for on-device search."""


@index_group.command("build")
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--data", required=True, help="The gallery: a folder of WebDataset shards with jpg + txt.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="The index directory to write.")
@click.option("--batch-size", default=64, show_default=True)
def index_build(model_dir: str, data: str, out: str, batch_size: int) -> None:
    """Embed every image of DATA with MODEL_DIR into an fp16 index (safetensors + keys + index.json)."""
    from pipelines.training.retrieval_index import build_index, index_meta

    path = build_index(model_dir, data, out, batch_size)
    meta = index_meta(path)
    click.echo(f"indexed {meta['count']} images x {meta['dim']} (fp16) -> {path}")


@click.command("search")
@click.argument("index_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("query")
@click.option("--k", default=8, show_default=True, help="How many images.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write a contact sheet of the hits with scores (PNG).")
@click.option("--json", "as_json", is_flag=True, help="Print the hits as JSON.")
def search_cmd(index_dir: str, query: str, k: int, out: str | None, as_json: bool) -> None:
    """The K gallery images of INDEX_DIR closest to QUERY (exact search, cosine)."""
    from pipelines.training.retrieval_index import hit_sheet, hits_json, search

    hits = search(index_dir, query, k)
    if out:
        hit_sheet(index_dir, query, hits, out)
    if as_json:
        click.echo(json.dumps(hits_json(hits)))
    else:
        for i, hit in enumerate(hits, 1):
            click.echo(f"{i:>3}. {hit.score:.4f}  {hit.key}")
