"""The path off one machine: PortableRunner submits to Beam's job service, the work runs in an external pool's worker
processes, and the shards are byte-identical to the in-process build."""

from __future__ import annotations

import pytest

from pipelines.portable import LocalPortableCluster
from pipelines.runner import BuildSpec, run_build
from pipelines.validate import validate_dataset
from tests.conftest import build, files_of


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_portable_runner_with_external_worker_pool(sample_source, tmp_path):
    build("ingest", sample_source, tmp_path / "ref")
    cluster = LocalPortableCluster(log_dir=tmp_path / "logs")
    with cluster:
        config = cluster.runner_config()
        assert config.runner == "PortableRunner" and "--environment_type=EXTERNAL" in config.options
        report = run_build(BuildSpec("ingest", str(sample_source), str(tmp_path / "portable")), config)
    assert not cluster.pids(), "a job service, pool or worker process outlived stop()"
    assert "Starting worker with command" in cluster.pool_log.read_text()  # the work ran in a pool-started SDK worker
    assert report["counters"]["shards_built"] == 4 and report["counts"]["ok"] > 0
    out = tmp_path / "portable" / "ingest"
    assert files_of(out) == files_of(tmp_path / "ref" / "ingest")
    assert (out / "sizes.json").read_bytes() == (tmp_path / "ref" / "ingest" / "sizes.json").read_bytes()
    assert validate_dataset(str(out)).ok
