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


@pytest.fixture
def stock_nlp():
    """``pipelines.nlp.stock_nlp``: a fresh copy of spaCy's own English pipeline per call (what ``load_nlp`` speeds up);
    the test is skipped where none is installed."""
    from pipelines.nlp import stock_nlp as load

    def fresh():
        try:
            return load()
        except OSError as e:
            pytest.skip(str(e))

    return fresh


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a module: on this shared 2-core machine two threads contend and run tiny models
    (the diffusion UNets) far slower. Restored afterwards."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def unet_teacher():
    """A random-weight tiny UNet (`tests.distill_fixtures.UNET_TINY`, torch seed 0) in eval mode, one per module."""
    import torch

    from models.diffusion.teacher import tiny_unet
    from tests.distill_fixtures import UNET_TINY

    torch.manual_seed(0)
    return tiny_unet(UNET_TINY).eval()


def build(dataset: str, source: Path | str, out: Path | str, workers: int = 1, **config) -> dict:
    return run_build(BuildSpec(dataset, str(source), str(out), config), RunnerConfig(workers=workers))


def files_of(directory: Path) -> dict[str, bytes]:
    """Every committed shard file's bytes by name (tar and parquet: the parts that must be byte-identical)."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.suffix in (".tar", ".parquet")}
