"""Helpers for the local services the project starts (Beam's job service and worker pool, `dagster dev`)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Self


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """A context manager over ``start()``/``stop()``: ``stop()`` also runs when ``start()`` fails halfway, so no process
    a failed start left behind outlives the ``with`` block."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def processes_with_env(name: str, value: str) -> list[int]:
    """Every live process but this one whose environment has ``name=value``: a service tags its environment so, and
    everything it starts inherits the tag, wherever it is reparented and whatever process group it sits in."""
    marker = f"{name}={value}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return pids


def stop_process_tree(proc: subprocess.Popen, tag: tuple[str, str], grace_s: float) -> list[int]:
    """SIGTERM the process group that ``proc`` leads (started with ``start_new_session=True``); give it and every
    process tagged ``tag`` (see ``processes_with_env``) ``grace_s`` to exit, then SIGKILL what is left, and reap ``proc``.
    Returns the tagged processes that were still running after ``grace_s`` (killed)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace_s)
    while processes_with_env(*tag) and time.monotonic() < deadline:
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    left = processes_with_env(*tag)
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(5)
    return left
