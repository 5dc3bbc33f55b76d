"""Shared fixtures: the bundled sample source, written once per session, and a tiny helper to build datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.runner import BuildSpec, RunnerConfig, run_build
from pipelines.sources.sample_source import write_sample_source


@pytest.fixture(scope="session")
def sample_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample_source")
    write_sample_source(str(out))
    return out


def build(dataset: str, source: Path | str, out: Path | str, workers: int = 1, **config) -> dict:
    return run_build(BuildSpec(dataset, str(source), str(out), config), RunnerConfig(workers=workers))


def files_of(directory: Path) -> dict[str, bytes]:
    """Every committed shard file's bytes by name (tar and parquet: the parts that must be byte-identical)."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.suffix in (".tar", ".parquet")}
