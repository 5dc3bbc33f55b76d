"""Start and drive a real `dagster dev` (webserver + daemon + code server) on 127.0.0.1: for end-to-end tests and scripts.

`dagster dev` started from a non-interactive parent inherits SIGINT as ignored and maps SIGTERM to SIGINT, so it would
not stop; SIGINT is reset to default before exec. Every process it starts is found by a service id in its environment
(``SHARDSMITH_SERVICE_ID``, unique per start) and stopped with it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from pipelines.processes import Service, free_port, processes_with_env, stop_process_tree

LOCATION = "dagster_project.definitions"
REPOSITORY = "__repository__"  # the name Dagster gives the repository of a `Definitions` object

ADD_PARTITION = """
mutation($selector: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $selector, partitionsDefName: $name, partitionKey: $key) {
    __typename
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}"""

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on PartitionSetNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}"""

BACKFILL_STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status numPartitions runs { id status tags { key value } } error { message } }
    ... on PythonError { message }
  }
}"""

SERVICE_ID = "SHARDSMITH_SERVICE_ID"  # set in the environment of dagster dev, so that all it starts carries it

LOCATION_STATUS = """
query { workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``data`` of a GraphQL answer from the webserver at ``url``; its ``errors`` raise."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{url}/graphql", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {answer['errors']}")
    return answer["data"]


def wait_until_loaded(url: str, timeout_s: float, proc: subprocess.Popen | None = None, see: str = "its log") -> None:
    """Until the webserver at ``url`` answers and our code location has loaded; raise with its error if it failed to
    load, and as soon as ``proc`` (the server's process, where known) has exited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {proc.returncode}; see {see}")
        try:
            entries = graphql(url, LOCATION_STATUS)["workspaceOrError"]["locationEntries"]
        except (OSError, KeyError):
            time.sleep(0.5)
            continue
        loaded = [e for e in entries if e["name"] == LOCATION and e["loadStatus"] == "LOADED"]
        if loaded and loaded[0]["locationOrLoadError"]["__typename"] == "PythonError":
            raise RuntimeError(f"code location failed to load: {loaded[0]['locationOrLoadError']['message']}")
        if loaded:
            return
        time.sleep(0.5)
    raise TimeoutError(f"dagster dev not ready after {timeout_s}s; see {see}")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class DagsterDev(Service):
    """``with DagsterDev(home, env) as dev:`` runs `dagster dev -m dagster_project.definitions` until the block ends.

    Its output goes to ``log`` (default ``<home>/dagster_dev.log``), or to this process's stdout/stderr with
    ``inherit_output``."""

    def __init__(
        self,
        home: Path,
        env: dict[str, str],
        port: int | None = None,
        log: Path | None = None,
        inherit_output: bool = False,
    ) -> None:
        self.home, self.port = Path(home).resolve(), port or free_port()
        self.tag = (SERVICE_ID, uuid.uuid4().hex)
        self.env = {**os.environ, **env, "DAGSTER_HOME": str(self.home), SERVICE_ID: self.tag[1]}
        self.log, self.inherit_output = log or self.home / "dagster_dev.log", inherit_output
        self.see = "its output above" if inherit_output else str(self.log)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 90.0) -> DagsterDev:
        self.spawn()
        self.wait_ready(timeout_s)
        return self

    def spawn(self) -> subprocess.Popen:
        """Start dagster dev in a session of its own (``stop()`` signals it whole, a terminal's Ctrl-C does not)."""
        self.home.mkdir(parents=True, exist_ok=True)
        if not (self.home / "dagster.yaml").exists():
            shutil.copy(Path(__file__).with_name("dagster.yaml"), self.home / "dagster.yaml")
        dagster = str(Path(sys.executable).with_name("dagster"))
        cmd = [dagster, "dev", "-m", LOCATION, "-h", "127.0.0.1", "-p", str(self.port)]
        with contextlib.ExitStack() as stack:
            log = None if self.inherit_output else stack.enter_context(open(self.log, "ab"))
            self.proc = subprocess.Popen(
                cmd,
                env=self.env,
                cwd=Path(__file__).resolve().parents[1],
                stdout=log,
                stderr=None if log is None else subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_default_sigint,
                start_new_session=True,
            )
        return self.proc

    def wait_ready(self, timeout_s: float) -> None:
        wait_until_loaded(self.url, timeout_s, self.proc, self.see)

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return graphql(self.url, query, variables)

    def add_partitions(self, partitions_def: str, keys: list[str]) -> None:
        selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
        for key in keys:
            result = self.graphql(ADD_PARTITION, {"selector": selector, "name": partitions_def, "key": key})[
                "addDynamicPartition"
            ]
            if result["__typename"] != "AddDynamicPartitionSuccess":
                raise RuntimeError(f"addDynamicPartition {key}: {result}")

    def launch_backfill(self, asset: str, partitions: list[str]) -> str:
        params = {"partitionNames": partitions, "assetSelection": [{"path": [asset]}], "fromFailure": False}
        result = self.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"launchPartitionBackfill: {result}")
        return result["backfillId"]

    def wait_backfill(self, backfill_id: str, timeout_s: float) -> dict[str, Any]:
        """Poll until the backfill leaves REQUESTED/CANCELING/FAILING; return its last state."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
            if state.get("status") not in ("REQUESTED", "CANCELING", "FAILING"):
                return state
            time.sleep(1.0)
        raise TimeoutError(f"backfill {backfill_id} still running after {timeout_s}s; see {self.see}")

    def our_processes(self) -> list[int]:
        """Every live process that carries this start's service id: dagster dev and all it started, wherever reparented."""
        return processes_with_env(*self.tag)

    def stop(self, grace_s: float = 10.0) -> list[int]:
        """SIGTERM dagster dev's process group; SIGKILL what is left of it after ``grace_s``, and every process it started.
        Returns the processes that had to be killed."""
        if self.proc is None:
            return []
        left = stop_process_tree(self.proc, self.tag, grace_s)
        self.proc = None
        return left
