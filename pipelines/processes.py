"""Helpers for the local services the project starts (Beam's job service and worker pool, `dagster dev`)."""

from __future__ import annotations

import socket
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
