"""Resources: where outputs go, where inputs come from, and how Beam runs; typed, configured from the environment."""

from __future__ import annotations

import os
from typing import Any

from dagster import ConfigurableResource

from pipelines.runner import BuildSpec, RunnerConfig, run_build
from pipelines.sources import Source, SourceShard, open_source


class StorageResource(ConfigurableResource):
    """The storage root every dataset is written under: a local path or an fsspec URL (s3://bucket/prefix, gs://...)."""

    root: str

    def dataset_url(self, dataset: str) -> str:
        return self.root.rstrip("/") + "/" + dataset


class SourceResource(ConfigurableResource):
    """The input: img2dataset output (tar shards) or a folder of images with a captions file."""

    uri: str
    kind: str = "auto"
    samples_per_shard: int = 1000
    index_root: str = ""  # a folder source's shard index is kept under the storage root: set it to StorageResource.root

    def open(self) -> Source:
        """The source itself (the checks re-read its shards); a folder source's index lives under ``index_root``."""
        return open_source(self.uri, self.kind, self.samples_per_shard, self.index_root)  # type: ignore[arg-type]

    def shards(self) -> list[SourceShard]:
        return self.open().shards()


class BeamResource(ConfigurableResource):
    """How a partition batch runs: FnApiRunner in process or multi-process here, or a cluster runner by its options."""

    runner: str = "FnApiRunner"
    workers: int = 1
    options: list[str] = []
    profile: str = "tiny"

    def build(
        self,
        dataset: str,
        source: SourceResource,
        storage: StorageResource,
        shards: list[str],
        config: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        spec = BuildSpec(
            dataset, source.uri, storage.root, config or {}, self.profile, source.kind, source.samples_per_shard
        )
        return run_build(spec, RunnerConfig(self.runner, self.workers, tuple(self.options)), only=shards)


def resources_from_env(env: dict[str, str] | None = None) -> dict[str, ConfigurableResource]:
    """``SHARDSMITH_ROOT``, ``SHARDSMITH_SOURCE``, ``SHARDSMITH_RUNNER``, ``SHARDSMITH_WORKERS``, ``SHARDSMITH_BEAM_OPTIONS``
    (space separated), ``SHARDSMITH_PROFILE``; the defaults are the demo's folders under the working directory."""
    env = dict(os.environ if env is None else env)
    root = env.get("SHARDSMITH_ROOT", os.path.abspath("demo_out/storage"))
    return {
        "storage": StorageResource(root=root),
        "source": SourceResource(uri=env.get("SHARDSMITH_SOURCE", os.path.abspath("demo_out/source")), index_root=root),
        "beam": BeamResource(
            runner=env.get("SHARDSMITH_RUNNER", "FnApiRunner"),
            workers=int(env.get("SHARDSMITH_WORKERS", "1")),
            options=env.get("SHARDSMITH_BEAM_OPTIONS", "").split(),
            profile=env.get("SHARDSMITH_PROFILE", "tiny"),
        ),
    }
