"""Photo-sized JPEGs for the ingest benchmark, made deterministically from the real photos the sample source uses."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from pipelines.schema import InputSample
from pipelines.sources.sample_data import PHOTOS, photo_path
from pipelines.store.fs import join, open_fs, write_bytes_atomic
from pipelines.store.tarfmt import TarSink

# colour and greyscale photos with real texture (the flat logos, scans and silhouettes of the sample source are left out)
SOURCES = (
    "astronaut.png",
    "camera.png",
    "grace_hopper.jpg",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "china.jpg",
    "flower.jpg",
    "brick.png",
)
QUALITIES = (75, 85, 90, 95)  # what web images are saved at; every quality appears equally often


@dataclass(frozen=True)
class Photo:
    key: str
    caption: str
    jpg: bytes


def _sources() -> list[tuple[np.ndarray, str]]:
    by_name = {name: (package, caption) for package, name, caption, _ in PHOTOS}
    out = []
    for name in SOURCES:
        package, caption = by_name[name]
        image = Image.open(photo_path(package, name))
        out.append((np.asarray(image.convert("L" if image.mode in ("L", "I;16") else "RGB")), caption))
    return out


def _photo(src: np.ndarray, size: tuple[int, int], grain: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A random crop of ``src`` with the aspect of ``size``, upscaled (bilinear) to ``size``, plus a random window of
    ``grain`` (sensor-like luminance noise), so that it has the fine texture, and the JPEG entropy, of a real photo
    rather than an upscale's smoothness."""
    import cv2

    h, w = src.shape[:2]
    aspect = size[0] / size[1]
    ch = int(min(h, w / aspect) * rng.uniform(0.7, 1.0))
    cw = int(ch * aspect)
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    big = cv2.resize(np.ascontiguousarray(src[y : y + ch, x : x + cw]), size, interpolation=cv2.INTER_LINEAR)
    gy, gx = int(rng.integers(0, grain.shape[0] - size[1] + 1)), int(rng.integers(0, grain.shape[1] - size[0] + 1))
    noise = grain[gy : gy + size[1], gx : gx + size[0]]
    noisy = big.astype(np.int16) + (noise if big.ndim == 2 else noise[..., None])
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def make_photos(n: int = 600, seed: int = 0) -> list[Photo]:
    """``n`` JPEGs whose long side runs evenly from 640 to 1280 px (4:3, one in five portrait, one in twenty stored rotated
    with an EXIF orientation), saved at the qualities in ``QUALITIES``, 4:2:0 like a camera or a web server."""
    rng = np.random.default_rng(seed)
    sources = _sources()
    grain = np.rint(rng.normal(0.0, 2.5, (1400, 1400))).astype(np.int16)
    photos = []
    for i in range(n):
        src, caption = sources[i % len(sources)]
        long = 640 + (640 * i) // max(n - 1, 1)
        size = (long, long * 3 // 4) if i % 5 else (long * 3 // 4, long)
        image = _photo(src, size, grain, rng)
        kwargs: dict = {"quality": QUALITIES[i % len(QUALITIES)]}
        if i % 20 == 7:
            exif = Image.Exif()
            exif[0x0112] = 6  # the viewer turns it 90 degrees clockwise
            image, kwargs["exif"] = image.transpose(Image.Transpose.ROTATE_90), exif.tobytes()
        buf = io.BytesIO()
        image.save(buf, format="JPEG", **kwargs)
        photos.append(Photo(f"photo{i:04d}", caption, buf.getvalue()))
    return photos


def input_samples(photos: list[Photo]) -> list[InputSample]:
    return [InputSample(p.key, {"jpg": p.jpg, "txt": p.caption.encode()}) for p in photos]


def write_photo_source(out: str, photos: list[Photo], per_shard: int = 100) -> int:
    """The photos as img2dataset-style shards (``NNNNN.tar`` of jpg + txt); returns the number of shards."""
    fs, root = open_fs(out)
    fs.makedirs(root, exist_ok=True)
    shards = 0
    for start in range(0, len(photos), per_shard):
        buf = io.BytesIO()
        sink = TarSink(buf)
        for p in photos[start : start + per_shard]:
            sink.add(p.key, {"jpg": p.jpg, "txt": p.caption.encode()})
        sink.close()
        write_bytes_atomic(fs, join(root, f"{shards:05d}.tar"), buf.getvalue())
        shards += 1
    return shards
