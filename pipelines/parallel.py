"""Bounded read-ahead: run a function on CPU threads ahead of the consumer (decode ahead of the GPU), in input order."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def prefetch_map(fn: Callable[[T], R], items: Iterable[T], threads: int = 2, depth: int = 8) -> Iterator[tuple[T, R]]:
    """Yield ``(item, fn(item))`` in input order, with at most ``depth`` calls in flight (memory stays bounded)."""
    if threads <= 0:
        for item in items:
            yield item, fn(item)
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="prefetch") as pool:
        pending: deque[tuple[T, Future[R]]] = deque()
        it = iter(items)
        for item in islice(it, depth):
            pending.append((item, pool.submit(fn, item)))
        while pending:
            item, future = pending.popleft()
            result = future.result()
            nxt = next(it, _END)
            if nxt is not _END:
                pending.append((nxt, pool.submit(fn, nxt)))
            yield item, result


_END = object()


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch
