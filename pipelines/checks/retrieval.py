"""Checks of the retrieval models and their index: eval figures above floors; an index re-derived from gallery and model."""

from __future__ import annotations

import hashlib
import io
import json
import math
import tarfile
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from pipelines.checks.base import CheckOutcome, outcome
from pipelines.store.fs import join, open_fs

# A stored row is the fp16 rounding of a unit vector: its inner product with the fp32 vector is 1 within a few 2**-11
# (half an fp16 ulp at 1.0 per component, summed over a unit vector); 2e-3 also covers batch-size noise of the forward.
INDEX_TOLERANCE = 2e-3


def eval_floors(metrics: Mapping[str, float], floors: Mapping[str, float], name: str = "eval_floors") -> CheckOutcome:
    """Every figure named in ``floors`` is in ``metrics``, finite, and at least its floor (e.g. ``t2i_r@1: 0.3``)."""
    problems = []
    for key, floor in sorted(floors.items()):
        value = metrics.get(key)
        if value is None:
            problems.append(f"{key}: not in the final metrics (have {sorted(metrics)})")
        elif not math.isfinite(float(value)) or float(value) < floor:
            problems.append(f"{key} = {value} is below its floor {floor}")
    figures = {key: metrics.get(key) for key in sorted(floors)}
    return outcome(name, problems, figures=figures, floors=dict(sorted(floors.items())))


def merged(name: str, parts: Mapping[str, CheckOutcome]) -> CheckOutcome:
    """One outcome of the same check run on several parts (splits): problems prefixed with their part."""
    problems = [f"{part}: {p}" for part, result in sorted(parts.items()) for p in result.problems]
    return outcome(name, problems, **{part: dict(r.metadata) for part, r in sorted(parts.items())})


def gallery_members(url: str) -> dict[str, dict[str, str]]:
    """``{key: {ext: tar url}}`` of every member of the gallery's ``*.tar`` files, read with ``tarfile`` (WebDataset's
    convention: the key is the member name up to its first dot)."""
    fs, root = open_fs(url)
    tars = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(root, detail=False) if p.endswith(".tar"))
    members: dict[str, dict[str, str]] = {}
    for name in tars:
        with fs.open(join(root, name), "rb") as f, tarfile.open(fileobj=f, mode="r|") as tar:
            for m in tar:
                if m.isfile():
                    key, ext = m.name.split(".", 1)
                    members.setdefault(key, {})[ext] = join(url.rstrip("/"), name)
    return members


def read_jpegs(members: Mapping[str, Mapping[str, str]], keys: list[str]) -> dict[str, Image.Image]:
    """The ``jpg`` images of ``keys``, read straight from their tars."""
    by_tar: dict[str, set[str]] = {}
    for key in keys:
        by_tar.setdefault(members[key]["jpg"], set()).add(f"{key}.jpg")
    images = {}
    for url, names in by_tar.items():
        fs, path = open_fs(url)
        with fs.open(path, "rb") as f, tarfile.open(fileobj=f, mode="r|") as tar:
            for m in tar:
                if m.name in names:
                    images[m.name[: -len(".jpg")]] = Image.open(io.BytesIO(tar.extractfile(m).read())).convert("RGB")
    return images


def _load_index(index_dir: Path) -> tuple[torch.Tensor, list[str], dict]:
    from safetensors import safe_open

    with safe_open(str(index_dir / "index.safetensors"), framework="pt") as f:
        embeddings = f.get_tensor("embeddings")
    keys = json.loads((index_dir / "keys.json").read_text())
    return embeddings, keys, json.loads((index_dir / "index.json").read_text())


def index_keys_problems(keys: list[str], rows: int, members: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The index's keys are unique, one per row, and exactly the gallery's samples with ``jpg`` and ``txt``."""
    problems = [] if len(keys) == rows else [f"{len(keys)} keys for {rows} rows"]
    if len(set(keys)) != len(keys):
        problems.append(f"{len(keys) - len(set(keys))} duplicate keys")
    gallery = {k for k, exts in members.items() if {"jpg", "txt"} <= set(exts)}
    problems += [f"gallery sample {k} is not in the index" for k in sorted(gallery - set(keys))]
    problems += [f"index key {k} is not a gallery sample" for k in sorted(set(keys) - gallery)]
    return problems


@torch.no_grad()
def embed_with_open_clip(model_folder: Path, images: list[Image.Image]) -> torch.Tensor:
    """Unit fp32 image embeddings (N, D) by the model as open_clip's own ``local-dir:`` loader builds it."""
    from models.compat import ensure_torchvision

    ensure_torchvision()
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{model_folder}")
    model.eval()
    return F.normalize(model.encode_image(torch.stack([preprocess(im) for im in images])).float(), dim=-1)


def index_faithful(
    index_dir: str | Path, model_dir: str | Path, gallery: str, sample: int = 16, tolerance: float = INDEX_TOLERANCE
) -> CheckOutcome:
    """The index holds exactly the gallery's keys (its tars read with ``tarfile``), and for ``sample`` rows spread over
    it (first and last included) the image re-embedded by the model (open_clip's own loader) finds its own row first and
    scores within ``tolerance`` of 1 against it; the model's card is the one the index was built from."""
    index_dir, model_dir = Path(index_dir), Path(model_dir)
    embeddings, keys, meta = _load_index(index_dir)
    members = gallery_members(gallery)
    problems = index_keys_problems(keys, embeddings.shape[0], members)
    card = hashlib.sha256((model_dir / "card.json").read_bytes()).hexdigest()
    if meta.get("card_sha256") != card:
        problems.append(f"the index was built from card {meta.get('card_sha256')}, the model's card is now {card}")
    n = embeddings.shape[0]
    rows = sorted({round(i * (n - 1) / max(1, sample - 1)) for i in range(min(sample, n))})
    present = [r for r in rows if r < len(keys) and "jpg" in members.get(keys[r], {})]
    images = read_jpegs(members, [keys[r] for r in present])
    fresh = embed_with_open_clip(model_dir / "model", [images[keys[r]] for r in present]) if present else None
    scores = fresh @ embeddings.float().T if fresh is not None else torch.zeros(0, n)
    for row, s in zip(present, scores, strict=True):
        own, best = float(s[row]), int(s.argmax())
        if abs(own - 1.0) > tolerance:
            problems.append(
                f"{keys[row]}: re-embedded, it scores {own:.5f} against its stored row (want 1 +- {tolerance})"
            )
        if float(s[best]) > own + tolerance:
            problems.append(f"{keys[row]}: re-embedded, its top-1 is {keys[best]} ({float(s[best]):.5f} > {own:.5f})")
    figures = {"rows": n, "dim": int(embeddings.shape[1]), "sampled": len(present), "gallery_samples": len(members)}
    if len(present):
        figures["min_own_score"] = round(float(scores[torch.arange(len(present)), present].min()), 6)
    return outcome("index_faithful", problems, **figures)
