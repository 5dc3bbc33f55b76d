"""``shardsmith sample-source``: write the bundled sample source as img2dataset output (tar + parquet + _stats.json)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageDraw, ImageFont

from pipelines.sources.sample_data import BROKEN, FONTS, PHOTOS, TEXT_SIGNS, photo_path
from pipelines.store.fs import join, open_fs, write_bytes_atomic
from pipelines.store.tarfmt import TarSink


@dataclass
class Item:
    """One sample of the sample source before it gets its img2dataset key."""

    name: str
    files: dict[str, bytes]
    meta: dict[str, Any] = field(default_factory=dict)


def _jpeg(image: Image.Image, quality: int = 95, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality, **kwargs)
    return buf.getvalue()


def _png(image: Image.Image, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", **kwargs)
    return buf.getvalue()


def _photo_bytes(name: str, image: Image.Image) -> tuple[bytes, str]:
    """Most photos are stored as img2dataset stores them (RGB JPEG); a few keep an awkward form that decode must handle."""
    if name == "chelsea.png":  # stored rotated, with EXIF orientation 6 ("rotate 90 CW to view"): decode must undo it
        exif = Image.Exif()
        exif[0x0112] = 6
        return _jpeg(
            image.convert("RGB").transpose(Image.Transpose.ROTATE_90), exif=exif.tobytes()
        ), "exif_rotated_jpeg"
    if name == "coffee.png":
        return _jpeg(image.convert("CMYK")), "cmyk_jpeg"
    if name == "camera.png":  # 16-bit greyscale PNG
        return _png(
            Image.fromarray((np.asarray(image.convert("L"), dtype=np.uint16) * 257).astype(np.uint16))
        ), "gray16_png"
    if name == "Minduka_Present_Blue_Pack.png":  # palette PNG with a transparent colour
        return _png(image.convert("RGBA").quantize(64), transparency=0), "palette_transparent_png"
    if image.mode in ("RGBA", "LA", "P"):
        return _png(image), "png"
    return _jpeg(image.convert("RGB")), "jpeg"


def photo_items() -> list[Item]:
    items = []
    for package, name, caption, tags in PHOTOS:
        image = Image.open(photo_path(package, name))
        image.load()
        data, form = _photo_bytes(name, image)
        meta = {
            "url": f"pkg://{package}/{name}",
            "caption": caption,
            "tags": list(tags),
            "stored_as": form,
            "original_width": image.width,
            "original_height": image.height,
        }
        items.append(Item(os.path.splitext(name)[0], {"jpg": data, "txt": caption.encode()}, meta))
    return items


def _background(spec: str, size: tuple[int, int]) -> Image.Image:
    if spec.startswith("photo:"):
        photo = Image.open(photo_path("skimage", spec[len("photo:") :])).convert("RGB")
        return photo.resize(size, Image.Resampling.LANCZOS)
    return Image.new("RGB", size, spec)


def render_sign(
    lines: tuple[str, ...], background: str, rng: random.Random
) -> tuple[Image.Image, list[dict[str, Any]]]:
    """Render horizontal text lines; returns the image and, per line, its text and 4-point polygon (clockwise from top-left)."""
    font_file = rng.choice(["DejaVuSans-Bold.ttf", "DejaVuSans.ttf", "DejaVuSerif-Bold.ttf"])
    font = ImageFont.truetype(os.path.join(FONTS, font_file), rng.randint(40, 56))
    size = (rng.choice([512, 576, 640]), 128 + 84 * len(lines))
    image = _background(background, size)
    mean = np.asarray(image).mean()
    ink = (20, 20, 20) if mean > 140 else (250, 250, 250)
    draw = ImageDraw.Draw(image)
    truth, y = [], rng.randint(24, 48)
    for text in lines:
        x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
        x = rng.randint(16, max(17, size[0] - (x1 - x0) - 16))
        draw.text((x - x0, y - y0), text, font=font, fill=ink)
        poly = [[x, y], [x + x1 - x0, y], [x + x1 - x0, y + y1 - y0], [x, y + y1 - y0]]
        truth.append({"text": text, "polygon": poly})
        y += (y1 - y0) + rng.randint(28, 40)
    return image, truth


def text_items(seed: int = 0) -> list[Item]:
    rng = random.Random(seed)
    items = []
    for i, (lines, background, base) in enumerate(TEXT_SIGNS):
        image, truth = render_sign(lines, background, rng)
        caption = base + ", with the words " + ", ".join(f'"{t}"' for t in lines)
        meta = {
            "url": f"render://sign/{i}",
            "caption": caption,
            "tags": ["text", "rendered", "no_face"],
            "text_lines": truth,
            "font": "DejaVu",
            "original_width": image.width,
            "original_height": image.height,
        }
        items.append(Item(f"sign_{i}", {"jpg": _jpeg(image), "txt": caption.encode()}, meta))
    return items


def _bomb_png() -> bytes:
    """A small PNG whose header claims 40000 x 40000 pixels: decoding it would need 4.8 GB."""
    data = bytearray(_png(Image.new("L", (64, 64))))
    ihdr = struct.pack(">II", 40000, 40000) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


def broken_items(photos: list[Item]) -> list[Item]:
    rocket = next(p for p in photos if p.name == "rocket")
    good = rocket.files["jpg"]
    make = {
        "truncated_jpeg": {"jpg": good[: len(good) // 2], "txt": b"a white rocket on a launch pad"},
        "html_not_image": {
            "jpg": b"<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>",
            "txt": b"a photo of a dog",
        },
        "decompression_bomb": {"jpg": _bomb_png(), "txt": b"a black square"},
        "empty_caption": {"jpg": good, "txt": b"   "},
        "empty_file": {"jpg": b"", "txt": b"a photo of a beach"},
        "bad_json": {"jpg": good, "txt": b"a white rocket at night"},
        "missing_image": {"txt": b"a caption whose image was never downloaded"},
    }
    items = []
    for name, status, reason in BROKEN:
        if name == "exact_duplicate":
            continue
        meta = {
            "url": f"broken://{name}",
            "caption": make[name]["txt"].decode(),
            "tags": ["broken"],
            "expect": {"status": status, "reason": reason},
        }
        items.append(Item(name, make[name], meta))
    return items


def all_items(seed: int = 0) -> list[Item]:
    photos = photo_items()
    return photos + text_items(seed) + broken_items(photos)


def _shard_items(items: list[Item], shards: int) -> list[list[Item]]:
    """Round-robin items over shards; the exact duplicate of the astronaut goes right after it, in the same shard."""
    out: list[list[Item]] = [[] for _ in range(shards)]
    for i, item in enumerate(items):
        out[i % shards].append(item)
        if item.name == "astronaut":
            dup_meta = dict(
                item.meta,
                url="pkg://skimage/astronaut.png#copy",
                tags=["broken"],
                expect={"status": "rejected", "reason": "exact_duplicate"},
            )
            out[i % shards].append(Item("astronaut_copy", dict(item.files), dup_meta))
    return out


IMG2DATASET_SCHEMA = pa.schema(
    [
        ("url", pa.string()),
        ("key", pa.string()),
        ("status", pa.string()),
        ("error_message", pa.string()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("original_width", pa.int64()),
        ("original_height", pa.int64()),
        ("exif", pa.string()),
        ("sha256", pa.string()),
        ("caption", pa.string()),
    ]
)


def _write_shard(fs, root: str, shard_id: int, items: list[Item], name_suffix: str) -> int:
    rows, buf = [], io.BytesIO()
    sink = TarSink(buf)
    for j, item in enumerate(items):
        key = f"{shard_id:05d}{j:04d}"
        meta = dict(
            item.meta,
            key=key,
            status="success",
            error_message=None,
            name=item.name + name_suffix,
            sha256=hashlib.sha256(item.files.get("jpg", b"")).hexdigest(),
        )
        files = dict(item.files)
        files["json"] = (
            b'{"url": "broken://bad_json", "caption": '
            if item.name == "bad_json"
            else json.dumps(meta, sort_keys=True).encode()
        )
        sink.add(key, files)
        rows.append({c: meta.get(c) for c in IMG2DATASET_SCHEMA.names} | {"key": key, "exif": None})
    sink.close()
    write_bytes_atomic(fs, join(root, f"{shard_id:05d}.tar"), buf.getvalue())
    table = pa.Table.from_pylist(rows, schema=IMG2DATASET_SCHEMA)
    pbuf = io.BytesIO()
    pq.write_table(table, pbuf)
    write_bytes_atomic(fs, join(root, f"{shard_id:05d}.parquet"), pbuf.getvalue())
    stats = {
        "count": len(items),
        "successes": len(items),
        "failed_to_download": 0,
        "failed_to_resize": 0,
        "status_dict": {"success": len(items)},
    }
    write_bytes_atomic(fs, join(root, f"{shard_id:05d}_stats.json"), json.dumps(stats, sort_keys=True).encode())
    return len(items)


def write_sample_source(out: str, shards: int = 4, copies: int = 1, seed: int = 0) -> dict[str, Any]:
    """Write ``shards * copies`` img2dataset shards to ``out`` (a path or fsspec URL); returns a summary."""
    fs, root = open_fs(out)
    fs.makedirs(root, exist_ok=True)
    groups = _shard_items(all_items(seed), shards)
    total, shard_id = 0, 0
    for copy in range(copies):
        for group in groups:
            total += _write_shard(fs, root, shard_id, group, f"#copy{copy}" if copy else "")
            shard_id += 1
    return {"out": out, "shards": shard_id, "samples": total}
