"""`make ui` stops, with everything it started, on the signals a supervisor or a terminal sends (SIGTERM, SIGINT)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from dagster_project.server import wait_until_loaded
from pipelines.processes import free_port, processes_with_env

REPO = Path(__file__).resolve().parents[1]
MARK = "SHARDSMITH_TEST_UI_RUN"
STOP_WITHIN_S = 15.0  # the launcher's grace (8 s) before it kills what is left, plus its own exit


def _ignore_sigint() -> None:
    """What a process started in the background by a non-interactive shell (or `nohup`) inherits."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _launcher(home: Path, port: int) -> list[str]:
    """The command that `make ui`'s recipe execs."""
    return [sys.executable, "-m", "dagster_project.ui", "--home", str(home), "--port", str(port)]


def _make_ui(home: Path, port: int) -> list[str]:
    """`make ui` itself, with this venv; `-o` the install stamp and PYTHON=false: never (re)install the venv here."""
    venv = Path(sys.prefix)
    return ["make", "-s", "-o", str(venv / ".installed"), "ui", f"VENV={venv}", "PYTHON=false", f"UI_HOME={home}"]


def _send(proc: subprocess.Popen, sig: int, to_group: bool) -> None:
    (os.killpg if to_group else os.kill)(proc.pid, sig)


def _start_and_stop(
    tmp_path: Path, command: Callable[[Path, int], list[str]], sig: int, to_group: bool, exits: set[int]
) -> float:
    """Start ``command`` in a session of its own, as a supervisor starts its main process (with SIGINT inherited as
    ignored, the case that kept `dagster dev` running); once the UI has loaded, send ``sig``; check that the process
    exits with a status in ``exits`` and that everything it started has exited too; return how long that took."""
    port, mark = free_port(), uuid.uuid4().hex  # every process started from here inherits the mark in its environment
    env = {**os.environ, "PORT": str(port), "PYTHONPATH": str(REPO), MARK: mark}
    with open(tmp_path / "ui.log", "wb") as log:
        proc = subprocess.Popen(
            command(tmp_path / "home", port),
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_ignore_sigint,
            start_new_session=True,
        )
    try:
        wait_until_loaded(f"http://127.0.0.1:{port}", 240, proc, str(tmp_path / "ui.log"))
        ours = processes_with_env(MARK, mark)
        assert len(ours) >= 5, ours  # (make,) the launcher, dagster dev, its webserver, daemon and code server
        start = time.monotonic()
        _send(proc, sig, to_group)
        assert proc.wait(STOP_WITHIN_S) in exits
        while processes_with_env(MARK, mark) and time.monotonic() - start < STOP_WITHIN_S:
            time.sleep(0.1)
        elapsed = time.monotonic() - start
        assert not processes_with_env(MARK, mark), "left running"
        return elapsed
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in processes_with_env(MARK, mark):
            os.kill(pid, signal.SIGKILL)
        print((tmp_path / "ui.log").read_text(errors="replace")[-3000:])


@pytest.mark.slow
@pytest.mark.timeout(360)
@pytest.mark.parametrize(
    ("sig", "to_group"),
    [
        pytest.param(signal.SIGTERM, False, id="SIGTERM-to-main-process"),  # docker stop; systemd KillMode=mixed
        pytest.param(signal.SIGINT, False, id="SIGINT-to-main-process"),  # a supervisor whose stop signal is SIGINT
    ],
)
def test_launcher_stops_on_a_supervisors_signal(tmp_path, sig, to_group):
    # it dies of the signal it was sent, after stopping everything, as a shell or supervisor expects
    elapsed = _start_and_stop(tmp_path, _launcher, sig, to_group, exits={-sig})
    print(f"stopped {elapsed:.1f}s after {signal.Signals(sig).name}")


@pytest.mark.slow
@pytest.mark.timeout(360)
@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
@pytest.mark.parametrize(
    ("sig", "to_group"),
    [
        pytest.param(signal.SIGTERM, False, id="SIGTERM-to-make"),  # `CMD make ui` in a container, then docker stop
        pytest.param(signal.SIGINT, True, id="SIGINT-to-process-group"),  # Ctrl-C in a terminal
    ],
)
def test_make_ui_stops_on_a_signal(tmp_path, sig, to_group):
    # make dies of the signal too, or, where it inherited the signal as ignored, exits 2 because its recipe was killed
    elapsed = _start_and_stop(tmp_path, _make_ui, sig, to_group, exits={-sig, 2})
    print(f"make ui stopped {elapsed:.1f}s after {signal.Signals(sig).name}")
