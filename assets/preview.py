"""An inline preview of a materialization: a contact sheet of a few samples, drawn as the CLI draws them, as Markdown.

The Dagster 1.13 UI renders ``MetadataValue.md`` with react-markdown 8 + rehype-sanitize, whose sanitize schema adds the
``data`` protocol to ``src`` (ui-core ``MarkdownWithPlugins.tsx``) and sets no ``transformImageUri``; so an image with a
base64 ``data:`` URI shows inline, and nothing has to be written next to the dataset."""

from __future__ import annotations

import base64
import io
from itertools import islice

from PIL import Image

from pipelines.draw import contact_sheet, draw_record, load_image
from pipelines.store import ShardReader

# A JPEG of up to 12 tiles of 160 px stays around 60-120 KB of base64: small enough for the event log.
PREVIEW_SAMPLES = 12
PREVIEW_CELL = 160


def preview_sheet(
    dataset_url: str, shards: list[str], n: int = PREVIEW_SAMPLES, cell: int = PREVIEW_CELL
) -> Image.Image | None:
    """A contact sheet of the first ``n`` ok samples over ``shards`` (committed ones only), geometry drawn; None if none."""
    reader = ShardReader(dataset_url)
    done = set(reader.shards())
    samples = (s for shard in shards if shard in done for s in reader.samples(shard))
    tiles = [(draw_record(load_image(s.files), s.record), f"{s.shard}/{s.key}") for s in islice(samples, n)]
    return contact_sheet(tiles, cell=cell) if tiles else None


def markdown_image(image: Image.Image, title: str, quality: int = 80) -> str:
    """``image`` as a Markdown image with an inline base64 JPEG ``data:`` URI."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=quality)
    return f"![{title}](data:image/jpeg;base64,{base64.b64encode(buf.getvalue()).decode()})"


def preview_markdown(dataset_url: str, shards: list[str]) -> str:
    sheet = preview_sheet(dataset_url, shards)
    if sheet is None:
        return "_no ok samples in these shards_"
    return markdown_image(sheet, f"{len(shards)} shard(s) of {dataset_url}")
