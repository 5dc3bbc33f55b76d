"""A dataset directory's shards as a loader sees them: tar URLs, sample counts (sizes.json), checksums for lineage."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pipelines.store.fs import join, open_fs

STATS_SUFFIX = "_stats.json"


@dataclass(frozen=True)
class ShardInfo:
    """One committed shard: its URL, how many samples sizes.json says it holds, its sha256 and the config that built it."""

    name: str
    url: str
    samples: int
    sha256: str
    config_sha256: str


@dataclass(frozen=True)
class ShardSet:
    """The committed shards of one dataset directory, in name order."""

    url: str
    shards: tuple[ShardInfo, ...]

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.shards]

    @property
    def total(self) -> int:
        return sum(s.samples for s in self.shards)

    def lineage(self) -> dict[str, Any]:
        """What a model card records of this input: every shard with its checksum, config hash and sample count."""
        return {
            "url": self.url,
            "samples": self.total,
            "shards": [
                {"name": s.name, "sha256": s.sha256, "config_sha256": s.config_sha256, "samples": s.samples}
                for s in self.shards
            ],
        }

    def checksum(self) -> str:
        """sha256 over the shards' names and checksums: changes when any shard's bytes change (a data version)."""
        return hashlib.sha256("\n".join(f"{s.name} {s.sha256}" for s in self.shards).encode()).hexdigest()


def open_shards(url: str, verify: bool = False) -> ShardSet:
    """The shards of ``url`` (a dataset dir or an img2dataset dir, path or fsspec URL) that have a ``_stats.json`` commit
    marker. Lengths are never guessed by reading the tars: they come from sizes.json (open_clip's convention, what
    every shardsmith dataset writes) or, in a folder without one (img2dataset writes none), from each shard's stats:
    img2dataset's ``successes`` (the samples its tar holds). A committed shard that neither names is an error.
    ``verify`` re-hashes each tar against its stats."""
    fs, root = open_fs(url)
    names = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(root, detail=False))
    sizes = None
    if "sizes.json" in names:
        with fs.open(join(root, "sizes.json"), "rb") as f:
            sizes = json.load(f)
    done = [n[: -len(STATS_SUFFIX)] for n in names if n.endswith(STATS_SUFFIX) and not n.startswith(".")]
    if not done:
        raise FileNotFoundError(f"{url} has no committed shards (no *_stats.json)")
    shards = []
    for shard in done:
        with fs.open(join(root, shard + STATS_SUFFIX), "rb") as f:
            stats = json.load(f)
        samples = _samples(url, shard, sizes, stats)
        tar = join(url.rstrip("/"), f"{shard}.tar")
        sha = stats.get("files", {}).get("tar", {}).get("sha256") or _sha256(fs, join(root, f"{shard}.tar"))
        if verify and _sha256(fs, join(root, f"{shard}.tar")) != sha:
            raise ValueError(f"{tar}: sha256 does not match its {shard}{STATS_SUFFIX}")
        shards.append(ShardInfo(shard, tar, samples, sha, stats.get("config_sha256", "")))
    return ShardSet(url, tuple(shards))


def _samples(url: str, shard: str, sizes: dict[str, int] | None, stats: dict[str, Any]) -> int:
    """A committed shard's sample count: its sizes.json entry, else (no sizes.json) img2dataset's ``successes``."""
    if sizes is not None:
        if f"{shard}.tar" not in sizes:
            raise ValueError(f"{url}: shard {shard} is committed but sizes.json does not list it")
        return int(sizes[f"{shard}.tar"])
    if isinstance(stats.get("successes"), int):
        return stats["successes"]
    raise FileNotFoundError(
        f"{url} has no sizes.json and {shard}{STATS_SUFFIX} no img2dataset 'successes': a loader needs each shard's "
        "length (open_clip's convention)"
    )


def _sha256(fs, path: str) -> str:
    h = hashlib.sha256()
    with fs.open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
