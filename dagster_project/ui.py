"""`make ui`: the Dagster UI on 127.0.0.1 until a terminal or a supervisor (a container runtime, systemd) stops it."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from dagster_project.server import DagsterDev

# SIGTERM: `docker stop`, systemd, Kubernetes; SIGINT: Ctrl-C, or a supervisor's configured stop signal; SIGHUP: a
# closed terminal. Each stops dagster dev and everything it started, then this process exits by that same signal.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
POLL_S = 0.2


def catch_stop_signals() -> list[int]:
    """Record every stop signal in the returned list, whatever disposition this process inherited: started in the
    background by a non-interactive shell, a process inherits SIGINT ignored, and `dagster dev`, which maps SIGTERM to
    its SIGINT handler, then ignores both. The handler only records: nothing can interrupt a shutdown halfway."""
    received: list[int] = []

    def record(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, record)
    return received


def exit_by(signum: int) -> int:
    """Die of ``signum`` with its default action, as a shell or supervisor expects of a process stopped by it; where the
    kernel does not deliver it (PID 1 in a container ignores signals it has no handler for), return 128 + ``signum``."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    return 128 + signum


def serve(home: Path, port: int, grace_s: float) -> int:
    """Run dagster dev until a stop signal arrives or it exits on its own; then stop everything it started and return
    the status to exit with (dagster dev's own if it ended first)."""
    received = catch_stop_signals()
    dev = DagsterDev(home, {}, port=port, inherit_output=True)
    print(f"shardsmith: Dagster UI on {dev.url} (DAGSTER_HOME={dev.home}); SIGTERM or Ctrl-C stops it", flush=True)
    try:
        proc = dev.spawn()
        while not received and proc.poll() is None:
            time.sleep(POLL_S)
    finally:
        killed = dev.stop(grace_s)
    if killed:
        print(f"shardsmith: killed {len(killed)} process(es) still running after {grace_s:g} s", file=sys.stderr)
    if not received:
        return proc.returncode
    name = signal.Signals(received[0]).name
    print(f"shardsmith: {name}: dagster dev and everything it started have stopped", file=sys.stderr, flush=True)
    return exit_by(received[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dagster_project.ui", description=__doc__)
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("DAGSTER_HOME") or ".dagster_home"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 3000))
    # under `docker stop`'s default of 10 s before it sends SIGKILL
    parser.add_argument("--grace", type=float, default=8.0, help="seconds before what is left is killed")
    args = parser.parse_args(argv)
    return serve(args.home, args.port, args.grace)


if __name__ == "__main__":
    sys.exit(main())
