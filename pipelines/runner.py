"""The Beam pipeline every dataset shares: ``Create(shards) | Reshuffle | ParDo(BuildShard)``, then sizes.json.

Runners: ``FnApiRunner`` in process (``workers=1``) or its multi-processing mode (``workers>1``: ``sdk_worker_main``
subprocesses), or any runner Beam knows by name with its standard options (``PortableRunner``, ``DataflowRunner``,
``FlinkRunner``, ``SparkRunner``). Never the bare ``DirectRunner``: offline it hangs downloading the Prism binary."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.metrics.metric import Metrics, MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.datasets import Dataset, build_shard, make_dataset
from pipelines.sources.base import SourceShard, open_source
from pipelines.store.layout import DatasetDir
from pipelines.summary import summarize

log = logging.getLogger(__name__)

_WORKER_DATASETS: dict[str, Dataset] = {}  # models load once per worker process, shared by every DoFn instance in it


@dataclass(frozen=True)
class BuildSpec:
    """Everything a worker needs to build shards: picklable, no local state."""

    dataset: str
    source: str
    out_root: str
    config: dict[str, Any] = field(default_factory=dict)
    profile: str = "tiny"
    source_kind: str = "auto"
    samples_per_shard: int = 1000

    @property
    def out(self) -> DatasetDir:
        return DatasetDir.under(self.out_root, self.dataset)

    def make_dataset(self) -> Dataset:
        return make_dataset(self.dataset, self.config, self.profile)

    def open_source(self):
        return open_source(self.source, self.source_kind, self.samples_per_shard, self.out_root)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RunnerConfig:
    runner: str = "FnApiRunner"
    workers: int = 1
    options: tuple[str, ...] = ()  # extra Beam pipeline options, e.g. ("--project=p", "--region=r")


class BuildShardFn(beam.DoFn):
    """Builds one output shard per input shard element; counters by status and reason."""

    def __init__(self, spec: BuildSpec) -> None:
        self.spec = spec

    def setup(self) -> None:
        cache_key = repr(self.spec)
        if cache_key not in _WORKER_DATASETS:
            dataset = self.spec.make_dataset()
            dataset.setup()
            _WORKER_DATASETS[cache_key] = dataset
        self.dataset = _WORKER_DATASETS[cache_key]
        self.source = self.spec.open_source()

    def process(self, shard: SourceShard):
        result = build_shard(self.dataset, self.source, shard, self.spec.out)
        ns = f"shardsmith.{self.spec.dataset}"
        Metrics.counter(ns, "shards_skipped" if result.skipped else "shards_built").inc()
        if not result.skipped:
            stats = result.stats
            Metrics.counter(ns, "inputs").inc(stats["inputs"])
            for status, n in stats["counts"].items():
                Metrics.counter(ns, status).inc(n)
            for status, reasons in stats["reasons"].items():
                for reason, n in reasons.items():
                    Metrics.counter(ns, f"{status}.{reason}").inc(n)
        yield result.shard


def finalize(built: list[str], spec: BuildSpec) -> None:
    """After every shard: sizes.json from all committed shards, and run.json with the model ids the workers recorded
    (so that the driver never loads a model). A run that built nothing keeps the run.json it finds."""
    out = spec.out
    out.write_sizes()
    dataset = spec.make_dataset()
    current = [s for s in built if out.is_done(s) and out.read_stats(s).get("config_sha256") == dataset.config_sha256()]
    if current or not out.fs.exists(f"{out.path}/run.json"):
        models = out.read_stats(current[0]).get("models", {}) if current else {}
        out.write_json("run.json", dataset.run_info(spec.source, models))


def pipeline_options(config: RunnerConfig) -> PipelineOptions:
    if config.runner == "DirectRunner":
        raise ValueError("use FnApiRunner: the bare DirectRunner downloads the Prism binary first and hangs offline")
    # Beam's SDK workers log every channel at INFO; keep them to warnings unless the caller asks otherwise.
    args = ["--default_sdk_harness_log_level=WARNING", *config.options]
    if config.runner == "FnApiRunner" and config.workers > 1:
        args += ["--direct_running_mode=multi_processing", f"--direct_num_workers={config.workers}"]
    elif config.runner != "FnApiRunner":
        args += [f"--runner={config.runner}"]
    return PipelineOptions(args)


def make_runner(config: RunnerConfig):
    if config.runner == "FnApiRunner":
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return FnApiRunner()
    return None  # the runner named in the options


def build_pipeline(p: beam.Pipeline, spec: BuildSpec, shards: list[SourceShard]) -> None:
    (
        p
        | "Shards" >> beam.Create(shards)
        | "Spread" >> beam.Reshuffle()
        | "BuildShard" >> beam.ParDo(BuildShardFn(spec))
        | "AllDone" >> beam.combiners.ToList()
        | "Finalize" >> beam.Map(finalize, spec)
    )


def select_shards(
    all_shards: list[SourceShard], only: list[str] | None = None, limit: int | None = None
) -> list[SourceShard]:
    chosen = [s for s in all_shards if only is None or s.shard in set(only)]
    if only is not None and len(chosen) != len(set(only)):
        missing = sorted(set(only) - {s.shard for s in chosen})
        raise KeyError(f"source has no shards {missing}")
    return chosen[:limit] if limit is not None else chosen


def run_build(
    spec: BuildSpec, runner: RunnerConfig = RunnerConfig(), only: list[str] | None = None, limit: int | None = None
) -> dict[str, Any]:
    """Build the chosen shards of ``spec.dataset`` and return a report: counts over the chosen shards and Beam's counters."""
    shards = select_shards(spec.open_source().shards(), only, limit)
    spec.make_dataset()  # validates the config before any worker starts
    options = pipeline_options(runner)
    with beam.Pipeline(runner=make_runner(runner), options=options) as p:
        build_pipeline(p, spec, shards)
    result = p.result
    counters = {r.key.metric.name: r.committed for r in result.metrics().query(MetricsFilter())["counters"]}
    return summarize(spec.out, [s.shard for s in shards], counters)
