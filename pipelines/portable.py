"""The path off one machine: Beam's local job service and an external pool of SDK worker processes, driven by PortableRunner.

This is the stand-in for Flink, Spark or Dataflow here (their job servers need Maven jars or GCP): the pipeline is
submitted over the Job API exactly as to a cluster's job server, and the work runs in separate worker processes that
the pool starts (``sdk_worker`` subprocesses), which share nothing with the submitting process but the storage root.

    with LocalPortableCluster(workers=2) as cluster:
        run_build(spec, cluster.runner_config())

``python -m pipelines.portable pool --port P`` is the worker pool on 127.0.0.1 (Beam's ``worker_pool_main`` binds every
interface). Beam's job service opens its own control/data ports for the workers; Beam binds those on every interface."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pipelines.processes import Service, free_port
from pipelines.runner import RunnerConfig


def portable_options(job_endpoint: str, pool_endpoint: str, workers: int = 1) -> tuple[str, ...]:
    """PortableRunner options for a job server at ``job_endpoint`` whose SDK workers come from the pool at ``pool_endpoint``.

    ``--sdk_worker_parallelism`` is the SDK workers per task manager on Flink and Spark; Beam's Python job service runs a
    job with one SDK worker process (its threads process bundles in parallel) whatever it says."""
    return (
        f"--job_endpoint={job_endpoint}",
        "--environment_type=EXTERNAL",
        f"--environment_config={pool_endpoint}",
        f"--sdk_worker_parallelism={workers}",
    )


def _wait_port(port: int, proc: subprocess.Popen, timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}; see {log}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s; see {log}")


class LocalPortableCluster(Service):
    """Beam's Python job service and an external worker pool as two process groups, stopped (with every worker) on exit."""

    def __init__(self, workers: int = 1, log_dir: str | Path | None = None) -> None:
        self.workers = workers
        self.job_port, self.pool_port = free_port(), free_port()
        self.log_dir = Path(log_dir or os.environ.get("TMPDIR", "/tmp"))
        self._procs: list[subprocess.Popen] = []
        self.pgids: list[int] = []  # kept after stop, to check that nothing of the cluster is left

    @property
    def job_endpoint(self) -> str:
        return f"localhost:{self.job_port}"

    @property
    def pool_endpoint(self) -> str:
        return f"127.0.0.1:{self.pool_port}"

    def runner_config(self) -> RunnerConfig:
        return RunnerConfig("PortableRunner", 1, portable_options(self.job_endpoint, self.pool_endpoint, self.workers))

    def _spawn(self, name: str, args: list[str], port: int) -> None:
        log = self.log_dir / f"beam_{name}_{port}.log"
        # The pool starts workers as `python -c ...`: this interpreter must be the first `python` on PATH.
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        self._procs.append(proc)
        self.pgids.append(proc.pid)
        _wait_port(port, proc, 60.0, log)

    def start(self) -> LocalPortableCluster:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._spawn("pool", ["pipelines.portable", "pool", "--port", str(self.pool_port)], self.pool_port)
        self._spawn(
            "jobs",
            ["apache_beam.runners.portability.local_job_service_main", "--port", str(self.job_port)],
            self.job_port,
        )
        return self

    @property
    def pool_log(self) -> Path:
        return self.log_dir / f"beam_pool_{self.pool_port}.log"

    def pids(self) -> list[int]:
        """The live processes of this cluster: the pool, the job service and the SDK workers (all in their groups)."""
        groups = set(self.pgids)
        alive = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ProcessLookupError):
                    zombie = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
                    if not zombie and os.getpgid(int(entry.name)) in groups:
                        alive.append(int(entry.name))
        return alive

    def stop(self) -> None:
        """SIGTERM each process group (the pool's holds its workers), then SIGKILL whatever is left."""
        for proc in self._procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        deadline = time.monotonic() + 5
        while self.pids() and time.monotonic() < deadline:  # SDK workers the pool started, orphaned by its exit
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        self._procs = []


def serve_pool(port: int) -> None:
    """Beam's external worker pool (each StartWorker request starts an SDK worker process), bound to 127.0.0.1 only."""
    import grpc
    from apache_beam.portability.api import beam_fn_api_pb2_grpc
    from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer
    from apache_beam.utils import thread_pool_executor

    server = grpc.server(thread_pool_executor.shared_unbounded_instance())
    server.add_insecure_port(f"127.0.0.1:{port}")
    pool = BeamFnExternalWorkerPoolServicer(use_process=True)
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
    server.start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.wait_for_termination()
    finally:
        for worker in list(pool._worker_processes.values()):
            worker.kill()
        server.stop(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("pool", help="serve Beam's external worker pool on 127.0.0.1").add_argument(
        "--port", type=int, required=True
    )
    args = parser.parse_args(argv)
    if args.command == "pool":
        serve_pool(args.port)


if __name__ == "__main__":
    main()
