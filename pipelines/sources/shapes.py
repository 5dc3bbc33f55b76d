"""``shardsmith sample-source --kind shapes``: rendered scenes of coloured shapes with captions (en, zh) and ground truth."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageDraw

from models.rle import masks_to_rle
from pipelines.store.fs import HashingWriter, join, open_fs, write_bytes_atomic
from pipelines.store.layout import dumps
from pipelines.store.tarfmt import TarSink

Split = Literal["train", "test", "general"]
SPLITS: tuple[Split, ...] = ("train", "test", "general")
VERSION = "shapes-v1"

# Every attribute word is one that pipelines/negatives/data/attributes_v1.json detects and swaps (colour, size, pattern
# categories); the nouns are plain count nouns, so replace-count applies to "two small red circles".
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "blue": (30, 70, 220),
    "green": (30, 170, 50),
    "yellow": (235, 205, 20),
    "purple": (140, 40, 180),
    "pink": (245, 120, 190),
}
GENERAL_COLOURS: dict[str, tuple[int, int, int]] = {
    "brown": (130, 80, 35),
    "black": (20, 20, 20),
    "white": (250, 250, 250),
    "gray": (128, 128, 128),
}
SHAPES = ("circle", "square", "triangle", "star", "heart", "diamond")
GENERAL_SHAPES = ("cross", "ring", "pentagon", "hexagon")
SIZES = {"small": 0.3, "large": 0.46}  # radius as a fraction of a grid cell
PATTERNS = ("plain", "striped", "spotted", "checkered")
COUNT_WORDS = {1: "a", 2: "two", 3: "three"}
CELLS = ("top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right")
PREPOSITION = {"top": "at the top", "bottom": "at the bottom", "left": "on the left", "right": "on the right"}

ZH = {
    "red": "红色", "blue": "蓝色", "green": "绿色", "yellow": "黄色", "purple": "紫色", "pink": "粉色",
    "brown": "棕色", "black": "黑色", "white": "白色", "gray": "灰色",
    "circle": "圆形", "square": "正方形", "triangle": "三角形", "star": "星形", "heart": "心形", "diamond": "菱形",
    "cross": "十字形", "ring": "圆环", "pentagon": "五边形", "hexagon": "六边形",
    "small": "小", "large": "大", "plain": "纯色", "striped": "条纹", "spotted": "圆点", "checkered": "格子",
    "top left": "左上方", "top": "上方", "top right": "右上方", "left": "左边", "center": "中间", "right": "右边",
    "bottom left": "左下方", "bottom": "下方", "bottom right": "右下方",
}  # fmt: skip
ZH_COUNTS = {1: "一个", 2: "两个", 3: "三个"}


@dataclass(frozen=True)
class ShapesConfig:
    """What a shapes corpus is a function of: the same config always writes the same bytes."""

    n: int = 1000
    seed: int = 0
    split: Split = "train"
    size: int = 64
    shards: int = 4
    max_objects: int = 3
    positions: bool = True  # name each single object's grid cell in the caption ("on the left")
    # binding-hard scenes: 2..max_objects single objects that share one size and one pattern, captions without
    # positions, so a scene's words tell it from other scenes and only colour-to-shape binding tells it from its swaps
    binding: bool = False

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split {self.split!r} is not one of {SPLITS}")
        if not 1 <= self.max_objects <= 3 or self.size < 32 or self.n < 0 or self.shards < 1:
            raise ValueError(f"bad shapes config {self}")
        if self.binding and (self.max_objects < 2 or self.positions):
            raise ValueError("binding scenes need max_objects >= 2 and positions=False")

    def as_dict(self) -> dict[str, Any]:
        """The config as recorded (shapes.json, the stats' hash); ``binding`` only when on, so that the default
        corpus keeps the bytes and hashes it had before the option existed."""
        d = asdict(self)
        if not self.binding:
            del d["binding"]
        return d


@dataclass(frozen=True)
class ObjectSpec:
    """One object of a scene: ``count`` identical copies, each in its own cell of a 3x3 grid."""

    shape: str
    colour: str
    size: str
    pattern: str
    count: int
    cells: tuple[int, ...]

    def phrase(self) -> str:
        noun = self.shape if self.count == 1 else self.shape + ("es" if self.shape.endswith("s") else "s")
        # size, pattern, colour: in this order spaCy tags every word right ("a small striped red circle"); after
        # "red striped" it took the colour for the head noun and replace-count wrote "two small reds striped circle"
        return f"{COUNT_WORDS[self.count]} {self.size} {self.pattern} {self.colour} {noun}"

    def phrase_zh(self) -> str:
        size = ZH[self.size] + "的"
        return f"{ZH_COUNTS[self.count]}{size}{ZH[self.colour]}{ZH[self.pattern]}{ZH[self.shape]}"


def scene_rng(config: ShapesConfig, index: int) -> np.random.Generator:
    """One generator per scene: scene i is the same whatever ``n`` is, and each split draws from its own stream."""
    return np.random.default_rng([config.seed, SPLITS.index(config.split), index])


def sample_scene(config: ShapesConfig, rng: np.random.Generator) -> tuple[ObjectSpec, ...]:
    """One to ``max_objects`` objects with distinct shapes and distinct colours (so every scene needs attribute binding);
    attributes are drawn independently, so the same attributes recombine on other shapes across images."""
    if config.binding:
        return _binding_scene(config, rng)
    general = config.split == "general"
    shapes = GENERAL_SHAPES if general else SHAPES
    colours = list({**COLOURS, **GENERAL_COLOURS}) if general else list(COLOURS)
    k = int(rng.choice(np.arange(1, config.max_objects + 1), p=_object_probs(config.max_objects)))
    counts = [int(rng.choice([1, 2, 3], p=[0.7, 0.2, 0.1])) for _ in range(k)]
    cells = [int(c) for c in rng.permutation(9)[: sum(counts)]]
    picked_shapes = rng.choice(len(shapes), size=k, replace=False)
    picked_colours = rng.choice(len(colours), size=k, replace=False)
    objects, start = [], 0
    for i in range(k):
        objects.append(
            ObjectSpec(
                shape=shapes[int(picked_shapes[i])],
                colour=colours[int(picked_colours[i])],
                size=str(rng.choice(list(SIZES))),
                pattern=str(rng.choice(PATTERNS)),
                count=counts[i],
                cells=tuple(sorted(cells[start : start + counts[i]])),
            )
        )
        start += counts[i]
    return tuple(objects)


def _binding_scene(config: ShapesConfig, rng: np.random.Generator) -> tuple[ObjectSpec, ...]:
    """2..max_objects objects of count 1 with distinct shapes and colours and one shared size and pattern."""
    general = config.split == "general"
    shapes = GENERAL_SHAPES if general else SHAPES
    colours = list({**COLOURS, **GENERAL_COLOURS}) if general else list(COLOURS)
    k = int(rng.integers(2, config.max_objects + 1))
    cells = rng.permutation(9)[:k]
    picked_shapes = rng.choice(len(shapes), size=k, replace=False)
    picked_colours = rng.choice(len(colours), size=k, replace=False)
    size, pattern = str(rng.choice(list(SIZES))), str(rng.choice(PATTERNS))
    return tuple(
        ObjectSpec(shapes[int(s)], colours[int(c)], size, pattern, 1, (int(cell),))
        for s, c, cell in zip(picked_shapes, picked_colours, cells, strict=True)
    )


def _object_probs(max_objects: int) -> list[float]:
    weights = [0.2, 0.4, 0.4][:max_objects]
    return [w / sum(weights) for w in weights]


def caption_en(objects: tuple[ObjectSpec, ...], positions: bool) -> str:
    parts = []
    for o in objects:
        where = CELLS[o.cells[0]]
        place = PREPOSITION.get(where, f"at the {where}" if where != "center" else "in the center")
        parts.append(o.phrase() + (f" {place}" if positions and o.count == 1 else ""))
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def caption_zh(objects: tuple[ObjectSpec, ...], positions: bool) -> str:
    parts = []
    for o in objects:
        place = f"在{ZH[CELLS[o.cells[0]]]}" if positions and o.count == 1 else ""
        parts.append(o.phrase_zh() + place)
    return "和".join(parts) if len(parts) <= 2 else "、".join(parts[:-1]) + "和" + parts[-1]


SUPERSAMPLE = 4  # shapes are drawn at 4x and downsampled: smooth edges, masks at the stored resolution


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    def regular(n: int, radii: tuple[float, ...], phase: float = -np.pi / 2) -> list[tuple[float, float]]:
        m = n * len(radii)
        return [
            (cx + r * radii[i % len(radii)] * np.cos(phase + 2 * np.pi * i / m),
             cy + r * radii[i % len(radii)] * np.sin(phase + 2 * np.pi * i / m))
            for i in range(m)
        ]  # fmt: skip

    if shape == "square":
        h = 0.82 * r
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "diamond":
        return [(cx, cy - r), (cx + 0.68 * r, cy), (cx, cy + r), (cx - 0.68 * r, cy)]
    if shape == "heart":
        t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        x, y = 16 * np.sin(t) ** 3, 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
        return [(cx + r * xi / 17, cy - r * (yi + 2) / 17) for xi, yi in zip(x, y, strict=True)]
    if shape == "cross":
        a = 0.34 * r
        pts = [
            (-a, -r),
            (a, -r),
            (a, -a),
            (r, -a),
            (r, a),
            (a, a),
            (a, r),
            (-a, r),
            (-a, a),
            (-r, a),
            (-r, -a),
            (-a, -a),
        ]
        return [(cx + x, cy + y) for x, y in pts]
    sides = {"triangle": (3, (1.0,)), "star": (5, (1.0, 0.45)), "pentagon": (5, (1.0,)), "hexagon": (6, (1.0,))}
    n, radii = sides[shape]
    return regular(n, radii)


def _shape_mask(shape: str, side: int, cx: float, cy: float, r: float) -> np.ndarray:
    """(side, side) bool mask of one shape centred at (cx, cy) with radius r, in supersampled pixels."""
    canvas = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(canvas)
    if shape in ("circle", "ring"):
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        if shape == "ring":
            draw.ellipse([cx - 0.55 * r, cy - 0.55 * r, cx + 0.55 * r, cy + 0.55 * r], fill=0)
    else:
        draw.polygon(_polygon(shape, cx, cy, r), fill=255)
    return np.asarray(canvas) > 127


def _pattern(pattern: str, side: int, period: float) -> np.ndarray:
    """(side, side) bool: where the pattern's second colour goes (never for plain)."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float64)
    if pattern == "striped":
        return ((x + y) // period) % 2 == 1
    if pattern == "checkered":
        return ((x // period) + (y // period)) % 2 == 1
    if pattern == "spotted":
        gx, gy = (x % (2 * period)) - period, (y % (2 * period)) - period
        return gx**2 + gy**2 <= (0.55 * period) ** 2
    return np.zeros((side, side), dtype=bool)


def _second_colour(rgb: tuple[int, int, int]) -> np.ndarray:
    base = np.asarray(rgb, dtype=np.float64)
    luminance = 0.299 * base[0] + 0.587 * base[1] + 0.114 * base[2]
    return 0.35 * base + 0.65 * (255.0 if luminance < 160 else 0.0)


def _background(config: ShapesConfig, rng: np.random.Generator, side: int) -> np.ndarray:
    """Light uniform grey for train/test; for the general split a gradient between two random light colours."""
    if config.split != "general":
        return np.full((side, side, 3), float(rng.integers(205, 236)))
    a, b = rng.integers(150, 256, size=3), rng.integers(150, 256, size=3)
    t = np.linspace(0.0, 1.0, side)[None, :, None] if rng.random() < 0.5 else np.linspace(0.0, 1.0, side)[:, None, None]
    return np.broadcast_to(a * (1 - t) + b * t, (side, side, 3)).astype(np.float64)


def render_scene(
    config: ShapesConfig, objects: tuple[ObjectSpec, ...], rng: np.random.Generator
) -> tuple[Image.Image, list[dict[str, Any]]]:
    """The RGB image (config.size square) and one instance per drawn copy: label, cell, box [x0, y0, x1, y1] in pixels
    of the stored image, and its COCO RLE mask."""
    side, cell = config.size * SUPERSAMPLE, config.size * SUPERSAMPLE / 3
    canvas = _background(config, rng, side).copy()
    palette = {**COLOURS, **GENERAL_COLOURS}
    instances, masks = [], []
    for index, o in enumerate(objects):
        r = SIZES[o.size] * cell
        second = _pattern(o.pattern, side, max(2.0, config.size / 22) * SUPERSAMPLE)
        for c in o.cells:
            slack = cell / 2 - r
            cx = (c % 3 + 0.5) * cell + rng.uniform(-0.6, 0.6) * slack
            cy = (c // 3 + 0.5) * cell + rng.uniform(-0.6, 0.6) * slack
            mask = _shape_mask(o.shape, side, cx, cy, r)
            canvas[mask & ~second] = palette[o.colour]
            canvas[mask & second] = _second_colour(palette[o.colour])
            small = mask.reshape(config.size, SUPERSAMPLE, config.size, SUPERSAMPLE).mean(axis=(1, 3)) >= 0.5
            masks.append(small)
            instances.append({"object": index, "label": f"{o.colour} {o.shape}", "cell": CELLS[c], "box": _box(small)})
    image = Image.fromarray(canvas.clip(0, 255).astype(np.uint8)).resize(
        (config.size, config.size), Image.Resampling.BOX
    )
    for inst, rle in zip(instances, masks_to_rle(np.stack(masks)), strict=True):
        inst["mask"] = rle
    return image, instances


def _box(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


@dataclass(frozen=True)
class Scene:
    """One rendered sample: its key, the image files (jpg, txt, zh.txt, json) and the json record."""

    key: str
    files: dict[str, bytes]
    record: dict[str, Any]


def make_scene(config: ShapesConfig, index: int) -> Scene:
    """Scene ``index`` of the corpus that ``config`` describes; a pure function of (config, index)."""
    rng = scene_rng(config, index)
    objects = sample_scene(config, rng)
    image, instances = render_scene(config, objects, rng)
    key = f"{config.split}-{config.seed}-{index:07d}"
    en, zh = caption_en(objects, config.positions), caption_zh(objects, config.positions)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=95, subsampling=0)
    jpg = buf.getvalue()
    record = {
        "key": key,
        "url": f"render://shapes/{config.split}/{config.seed}/{index}",
        "caption": en,
        "caption_zh": zh,
        "split": config.split,
        "width": config.size,
        "height": config.size,
        "original_width": config.size,
        "original_height": config.size,
        "objects": [{**{k: v for k, v in asdict(o).items() if k != "cells"}, "phrase": o.phrase()} for o in objects],
        "instances": instances,
        "status": "success",
        "error_message": None,
        "sha256": hashlib.sha256(jpg).hexdigest(),
        "generator": VERSION,
    }
    files = {
        "jpg": jpg,
        "txt": en.encode(),
        "zh.txt": zh.encode(),
        "json": json.dumps(record, sort_keys=True, ensure_ascii=False).encode(),
    }
    return Scene(key, files, record)


def config_sha256(config: ShapesConfig) -> str:
    return hashlib.sha256(dumps({"source": VERSION, "config": config.as_dict()})).hexdigest()


def _write_shard(fs, root: str, shard: str, scenes: list[Scene], config: ShapesConfig) -> int:
    from pipelines.sources.sample_source import IMG2DATASET_SCHEMA  # here: that module imports scikit-learn's data

    raw = io.BytesIO()
    hashing = HashingWriter(raw)
    sink = TarSink(hashing)
    for s in scenes:
        sink.add(s.key, s.files)
    sink.close()
    write_bytes_atomic(fs, join(root, f"{shard}.tar"), raw.getvalue())
    rows = [{c: s.record.get(c) for c in IMG2DATASET_SCHEMA.names} | {"exif": None} for s in scenes]
    pbuf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=IMG2DATASET_SCHEMA), pbuf)
    write_bytes_atomic(fs, join(root, f"{shard}.parquet"), pbuf.getvalue())
    stats = {  # img2dataset's stats fields, plus the checksum and config hash that training lineage reads
        "count": len(scenes),
        "successes": len(scenes),
        "failed_to_download": 0,
        "failed_to_resize": 0,
        "status_dict": {"success": len(scenes)},
        "counts": {"ok": len(scenes), "rejected": 0, "failed": 0},
        "files": {"tar": {"bytes": hashing.size, "sha256": hashing.sha256}},
        "config_sha256": config_sha256(config),
        "dataset": "shapes",
        "shard": shard,
    }
    write_bytes_atomic(fs, join(root, f"{shard}_stats.json"), dumps(stats))
    return len(scenes)


def write_shapes_source(out: str, config: ShapesConfig) -> dict[str, Any]:
    """Write ``config.n`` scenes round-robin over ``config.shards`` img2dataset shards (tar, parquet, _stats.json written
    last), then sizes.json and shapes.json (the config); returns a summary."""
    fs, root = open_fs(out)
    fs.makedirs(root, exist_ok=True)
    sizes = {}
    for s in range(config.shards):
        shard = f"{s:05d}"
        scenes = [make_scene(config, i) for i in range(s, config.n, config.shards)]
        sizes[f"{shard}.tar"] = _write_shard(fs, root, shard, scenes, config)
    write_bytes_atomic(fs, join(root, "sizes.json"), dumps(sizes))
    info = {"source": VERSION, "config": config.as_dict(), "config_sha256": config_sha256(config)}
    write_bytes_atomic(fs, join(root, "shapes.json"), dumps(info))
    return {"out": out, "shards": config.shards, "samples": sum(sizes.values()), "split": config.split}
