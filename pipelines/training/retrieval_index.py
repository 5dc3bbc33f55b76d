"""The retrieval index: a model's fp16 gallery embeddings of a shards folder (safetensors + keys), text search over it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from PIL import Image

from models.retrieval.index import Fp16Index
from models.retrieval.scorers import load_scorer
from pipelines.store.layout import dumps
from pipelines.training.card import ModelDir
from pipelines.training.retrieval_data import any_shards, one_pass, raw_images

META_FILE = "index.json"


@dataclass(frozen=True)
class Hit:
    key: str
    score: float


@torch.no_grad()
def build_index(model_dir: str | Path, data: str, out: str | Path, batch_size: int = 64, device: str = "cpu") -> Path:
    """Embed every image of ``data`` with the committed model in ``model_dir`` and write ``out``: ``index.safetensors``
    (unit fp16 embeddings), ``keys.json`` and ``index.json`` (the model dir, its card's sha256, the data's checksum)."""
    model = ModelDir(Path(model_dir))
    if not model.committed():
        raise FileNotFoundError(f"{model_dir} is not a committed model directory (no _SUCCESS)")
    scorer, preprocess = load_scorer(model.path, device)
    shards = any_shards(data)
    features, keys = [], []
    for batch in one_pass(shards, {"model": preprocess}, batch_size, None):
        features.append(scorer.image_features(batch["model"]["pixel_values"].to(device)).float().cpu())
        keys += batch["keys"]
    if not keys:
        raise ValueError(f"{data}: no sample with jpg and txt to index")
    card_sha = model.card_sha256()
    index = Fp16Index.build(
        torch.cat(features), keys, {"model_dir": str(model.path.resolve()), "card_sha256": card_sha}
    )
    path = index.save(out)
    meta = {
        "model_dir": str(model.path.resolve()),
        "card_sha256": card_sha,
        "trainer": model.card().get("trainer"),
        "data": data,
        "data_checksum": shards.checksum(),
        "count": len(index),
        "dim": index.dim,
    }
    (path / META_FILE).write_bytes(dumps(meta))
    return path


def index_meta(index_dir: str | Path) -> dict:
    return json.loads((Path(index_dir) / META_FILE).read_text())


@torch.no_grad()
def search(index_dir: str | Path, query: str, k: int = 8, device: str = "cpu") -> list[Hit]:
    """The ``k`` gallery images closest to ``query``, best first. The index's model must be unchanged: a model
    directory whose card no longer matches the sha256 the index recorded is an error (its embeddings are stale)."""
    meta = index_meta(index_dir)
    model = ModelDir(Path(meta["model_dir"]))
    if model.card_sha256() != meta["card_sha256"]:
        raise ValueError(f"{model.path} changed since the index was built (card sha256); rebuild the index")
    scorer, preprocess = load_scorer(model.path, device)
    text = {name: t.to(device) for name, t in preprocess.text([query]).items()}
    result = Fp16Index.load(index_dir).search(scorer.text_features(text).float().cpu(), k)
    return [Hit(key, float(s)) for key, s in zip(result.keys[0], result.scores[0].tolist(), strict=True)]


def hit_images(data: str, keys: list[str]) -> dict[str, Image.Image]:
    """The images of ``keys`` read from the shards of ``data`` (one scan, stopping when all are found)."""
    return raw_images(any_shards(data), keys)


def hit_sheet(index_dir: str | Path, query: str, hits: list[Hit], out: str | Path, cell: int = 224) -> Path:
    """A contact sheet of the hits, best first, each titled with its score and key; the query written below."""
    from pipelines.draw import contact_sheet, with_caption

    images = hit_images(index_meta(index_dir)["data"], [h.key for h in hits])
    tiles = [(images[h.key].resize((cell, cell)), f"{h.score:.3f} {h.key}") for h in hits]
    sheet = with_caption(contact_sheet(tiles, cell=cell, cols=min(4, len(tiles))), f"query: {query}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return Path(out)


def hits_json(hits: list[Hit]) -> list[dict]:
    return [asdict(h) for h in hits]
