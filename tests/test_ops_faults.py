"""Fault tolerance: a storage error mid-write, a model that raises on one batch, two builds of one shard at once."""

import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import fsspec
import pytest
from dagster import DagsterEventType, DagsterInstance, RetryPolicy, asset, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from fsspec.implementations.memory import MemoryFileSystem

from assets.checks import dataset_check_specs
from assets.common import DatasetRunConfig, build_dataset
from assets.partitions import source_shards
from assets.resources import BeamResource, SourceResource, StorageResource, resources_from_env
from pipelines.datasets.ingest import Ingest, IngestConfig
from pipelines.datasets.registry import register
from pipelines.runner import BuildSpec, run_build
from pipelines.schema import InputSample, Outcome
from pipelines.store import DatasetDir
from pipelines.validate import validate_dataset
from tests.conftest import build, files_of

# --- test-only datasets: real Dataset subclasses, registered by name so Beam workers and Dagster build them ------------


class FlakyModelConfig(IngestConfig):
    fail_on_key: str | None = None  # the "model" raises when a batch holds this key...
    marker: str | None = None  # ...unless this file exists (it creates it): it fails once, then works


@register
class FlakyModel(Ingest):
    """ingest whose model stage raises RuntimeError on the batch holding one key, the first time only."""

    name = "test_flaky_model"
    Config = FlakyModelConfig
    config: FlakyModelConfig

    def process(self, samples: Iterable[InputSample]) -> Iterator[Outcome]:
        batch = list(samples)
        marker = Path(self.config.marker) if self.config.marker else None
        if any(s.key == self.config.fail_on_key for s in batch) and marker is not None and not marker.exists():
            marker.write_text("failed once")
            raise RuntimeError(
                f"model crashed on the batch holding {self.config.fail_on_key} (CUDA error: device-side assert)"
            )
        yield from super().process(batch)


class SlowConfig(IngestConfig):
    seconds_per_sample: float = 0.3


@register
class Slow(Ingest):
    """ingest that takes ``seconds_per_sample`` per sample, so that two builds of a shard surely overlap."""

    name = "test_slow"
    Config = SlowConfig
    config: SlowConfig

    def process(self, samples: Iterable[InputSample]) -> Iterator[Outcome]:
        for outcome in super().process(samples):
            time.sleep(self.config.seconds_per_sample)
            yield outcome


# --- a storage that fails on demand -------------------------------------------------------------------------------------


class FlakyFS(MemoryFileSystem):
    """An in-memory object store that raises OSError after ``fail_write_after`` bytes of a tar, or when moving a file to a
    name ending in ``fail_mv_suffix``."""

    protocol = "flaky"
    store: dict = {}
    pseudo_dirs = [""]
    fail_write_after: int | None = None
    fail_mv_suffix: str | None = None

    def _open(self, path, mode="rb", *args, **kwargs):
        f = super()._open(path, mode, *args, **kwargs)
        budget = FlakyFS.fail_write_after
        if "w" in mode and budget is not None and ".tar" in path:
            write = f.write

            def failing_write(data):
                if f.tell() + len(data) > budget:
                    raise OSError(f"injected storage error writing {path}")
                return write(data)

            f.write = failing_write
        return f

    def mv(self, path1, path2, *args, **kwargs):
        if FlakyFS.fail_mv_suffix is not None and str(path2).endswith(FlakyFS.fail_mv_suffix):
            raise OSError(f"injected storage error renaming to {path2}")
        return super().mv(path1, path2, *args, **kwargs)


@pytest.fixture
def flaky_fs():
    fsspec.register_implementation("flaky", FlakyFS, clobber=True)
    FlakyFS.store.clear()
    yield FlakyFS
    FlakyFS.fail_write_after = FlakyFS.fail_mv_suffix = None
    FlakyFS.store.clear()


def _committed_bytes(url: str) -> dict[str, bytes]:
    d = DatasetDir(url)
    return {
        n: d.fs.cat(f"{d.path}/{n}") for n in d.names() if n.endswith((".tar", ".parquet")) and not n.startswith(".")
    }


@pytest.mark.parametrize("failure", ["write", "rename"])
def test_storage_error_mid_write_leaves_no_partial_file(sample_source, tmp_path, flaky_fs, failure):
    build("ingest", sample_source, tmp_path / "ref")
    reference = files_of(tmp_path / "ref" / "ingest")
    spec = BuildSpec("ingest", str(sample_source), "flaky://root")
    if failure == "write":
        flaky_fs.fail_write_after = 20_000  # the first tar written dies part-way
    else:
        flaky_fs.fail_mv_suffix = "00002.parquet"  # shard 00002's tar is renamed into place, its parquet is not
    with pytest.raises(Exception, match="injected storage error"):
        run_build(spec, only=["00002"])
    out = DatasetDir("flaky://root/ingest")
    assert not out.is_done("00002") and out.tmp_files() == []  # no commit marker, temporaries removed
    partial = {n: b for n, b in _committed_bytes(out.url).items() if b != reference.get(n)}
    assert partial == {}, f"a partial file under a final name: {sorted(partial)}"
    if failure == "rename":
        report = validate_dataset(out.url, only=["00002"])
        assert (
            "00002",
            "not committed: tar or parquet without _stats.json (an interrupted build; rerun it)",
        ) in report.errors
    flaky_fs.fail_write_after = flaky_fs.fail_mv_suffix = None
    report = run_build(spec)
    assert report["counters"]["shards_built"] == 4
    assert _committed_bytes(out.url) == reference
    assert validate_dataset(out.url).ok


def test_model_raising_fails_the_shard_and_a_rerun_builds_it(sample_source, tmp_path):
    marker = tmp_path / "failed_once"
    config = {"fail_on_key": "000020003", "marker": str(marker)}
    spec = BuildSpec("test_flaky_model", str(sample_source), str(tmp_path / "out"), config)
    with pytest.raises(Exception, match="model crashed"):
        run_build(spec)
    out = spec.out
    assert not out.is_done("00002") and not (Path(out.path) / "00002.tar").exists() and out.tmp_files() == []
    report = run_build(spec)  # the retry: done shards are skipped, 00002 is built
    assert report["counters"]["shards_built"] >= 1 and out.done_shards() == ["00000", "00001", "00002", "00003"]
    reference = BuildSpec("test_flaky_model", str(sample_source), str(tmp_path / "ref"))
    run_build(reference)
    assert files_of(Path(out.path)) == files_of(Path(reference.out.path))
    assert validate_dataset(out.url).ok


@asset(
    name="test_flaky_model",
    partitions_def=source_shards,
    check_specs=dataset_check_specs("test_flaky_model"),
    retry_policy=RetryPolicy(max_retries=2, delay=0),
)
def flaky_model_asset(
    context, config: DatasetRunConfig, storage: StorageResource, source: SourceResource, beam: BeamResource
):
    return build_dataset(context, "test_flaky_model", config, storage, source, beam)


def test_model_raising_is_retried_by_dagster(sample_source, tmp_path):
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(source_shards.name, ["00000", "00001", "00002", "00003"])
    resources = resources_from_env(
        {"SHARDSMITH_SOURCE": str(sample_source), "SHARDSMITH_ROOT": str(tmp_path / "storage")}
    )
    settings = f'{{"fail_on_key": "000020003", "marker": "{tmp_path / "failed_once"}"}}'
    result = materialize(
        [flaky_model_asset],
        instance=instance,
        resources=resources,
        run_config={"ops": {"test_flaky_model": {"config": {"settings": settings}}}},
        tags={ASSET_PARTITION_RANGE_START_TAG: "00001", ASSET_PARTITION_RANGE_END_TAG: "00003"},
    )
    assert result.success
    events = [e.event_type for e in result.all_events]
    assert events.count(DagsterEventType.STEP_UP_FOR_RETRY) == 1 and DagsterEventType.STEP_SUCCESS in events
    assert {c.check_name: c.passed for c in result.get_asset_check_evaluations()} == {
        "accounting": True,
        "contract": True,
    }
    assert DatasetDir(str(tmp_path / "storage" / "test_flaky_model")).done_shards() == ["00001", "00002", "00003"]


_CONCURRENT_BUILD = """
import sys, time
from pathlib import Path
import tests.test_ops_faults  # registers test_slow
from pipelines.runner import BuildSpec, run_build
source, out, go = sys.argv[1:4]
Path(go + "." + sys.argv[4]).touch()
while not Path(go).exists():
    time.sleep(0.005)
report = run_build(BuildSpec("test_slow", source, out), only=["00001"])
print("built", report["counters"].get("shards_built", 0))
"""


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_two_builds_of_one_shard_at_once_leave_one_valid_shard(sample_source, tmp_path):
    build("test_slow", sample_source, tmp_path / "ref", seconds_per_sample=0.0)
    reference = files_of(tmp_path / "ref" / "test_slow")
    out_root, go = tmp_path / "out", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CONCURRENT_BUILD, str(sample_source), str(out_root), str(go), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        deadline = time.monotonic() + 120
        while not all(Path(f"{go}.{i}").exists() for i in range(2)) and time.monotonic() < deadline:
            time.sleep(0.05)
        go.touch()  # both start the same shard together; each takes ~3 s, so they overlap
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outputs]
    assert [o.strip().splitlines()[-1] for o, _ in outputs] == ["built 1", "built 1"]  # both really wrote the shard
    out = out_root / "test_slow"
    assert DatasetDir(str(out)).done_shards() == ["00001"] and DatasetDir(str(out)).tmp_files() == []
    assert files_of(out) == {n: b for n, b in reference.items() if n.startswith("00001")}
    assert validate_dataset(str(out)).ok
