"""retrieval_negatives end to end: build, validate, audit, open_clip-readable shards, and the training loader."""

from __future__ import annotations

import json

import torch
import webdataset as wds

from pipelines.loaders import negatives_loader
from pipelines.negatives.audit import audit_record
from pipelines.store import ShardReader
from pipelines.validate import validate_dataset
from tests.conftest import build


def test_build_audit_and_load(sample_source, tmp_path):
    report = build("retrieval_negatives", sample_source, tmp_path, n=2, seed=7)
    out = tmp_path / "retrieval_negatives"
    assert validate_dataset(str(out)).ok
    assert sum(report["counts"].values()) == report["inputs"] == 40
    records = [s.record for s in ShardReader(str(out)).all_samples()]
    assert len(records) == report["counts"]["ok"] >= 25
    for r in records:
        assert 1 <= len(r["negatives"]) <= 2 and not audit_record(r)
        assert {n["kind"] for n in r["negatives"]} <= {"replace-att", "swap-att", "replace-count"}
    # open_clip's webdataset loader reads jpg + txt and sizes.json unchanged
    sizes = json.loads((out / "sizes.json").read_text())
    assert sum(sizes.values()) == len(records)
    pairs = list(
        wds.WebDataset(sorted(str(p) for p in out.glob("*.tar")), shardshuffle=False)
        .decode("pil")
        .to_tuple("jpg", "txt")
    )
    assert len(pairs) == len(records) and all(isinstance(t, str) and t for _, t in pairs)
    batches = list(
        negatives_loader(
            sorted(str(p) for p in out.glob("*.tar")),
            8,
            transform=lambda im: torch.zeros(3, 8, 8),
            negatives_per_caption=1,
        )
    )
    images, captions, negatives = batches[0]
    assert images.shape == (8, 3, 8, 8) and len(captions) == 8 and all(len(n) == 1 for n in negatives)
    assert sum(len(b[1]) for b in batches) == len(records)


def test_same_seed_same_bytes_other_seed_other_negatives(sample_source, tmp_path):
    build("retrieval_negatives", sample_source, tmp_path / "a", seed=1)
    build("retrieval_negatives", sample_source, tmp_path / "b", seed=1)
    build("retrieval_negatives", sample_source, tmp_path / "c", seed=2)
    a, b, c = (tmp_path / x / "retrieval_negatives" / "00000.tar" for x in "abc")
    assert a.read_bytes() == b.read_bytes() and a.read_bytes() != c.read_bytes()


def test_caption_without_attributes_is_rejected(tmp_path):
    import io

    from PIL import Image

    root = tmp_path / "photos"
    root.mkdir()
    for name, caption in [
        ("a.png", "people walking along the beach at sunset"),
        ("b.png", "a red car parked next to a blue truck"),
    ]:
        buf = io.BytesIO()
        Image.new("RGB", (32, 32), "gray").save(buf, format="PNG")
        (root / name).write_bytes(buf.getvalue())
        (root / name.replace(".png", ".txt")).write_text(caption)
    report = build("retrieval_negatives", root, tmp_path / "out")
    assert report["counts"] == {"ok": 1, "rejected": 1, "failed": 0}
    assert report["reasons"]["rejected"] == {"no_attribute_to_swap": 1}


def test_the_parse_config_reaches_the_rules_and_the_provenance(tmp_path):
    """`parse` picks the caption structure the rules read, and each record names it; on these captions the two
    structures give different negatives (checked first), so a config that did not reach the rules would fail."""
    import io

    from PIL import Image

    from pipelines.negatives import NegativesConfig, generate_negatives_many

    captions = ["A close up of a sandwich.", "3 silver vases lying on a kitchen.", "a red car next to a blue truck"]
    root = tmp_path / "photos"
    root.mkdir()
    for i, caption in enumerate(captions):
        buf = io.BytesIO()
        Image.new("RGB", (32, 32), "gray").save(buf, format="PNG")
        (root / f"{i}.png").write_bytes(buf.getvalue())
        (root / f"{i}.txt").write_text(caption)
    expected = {
        parse: [[n.text for n in negs] for negs in generate_negatives_many(captions, NegativesConfig(parse=parse))]
        for parse in ("pos", "dep")
    }
    assert expected["pos"] != expected["dep"]
    for parse in ("pos", "dep"):
        build("retrieval_negatives", root, tmp_path / parse, parse=parse)
        records = {
            s.record["caption"]: s.record
            for s in ShardReader(str(tmp_path / parse / "retrieval_negatives")).all_samples()
        }
        got = [[n["text"] for n in records[c]["negatives"]] if c in records else [] for c in captions]
        assert got == expected[parse]
        assert all(r["models"]["parser"].endswith(f"+{parse}") for r in records.values())
