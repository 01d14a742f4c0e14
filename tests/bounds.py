"""The issue's bound on any answer, measured the same way by every fuzz test.

A test client runs the request in the test's own thread, so the thread's processor time is the work
the request cost (parsing, SQL on SpatiaLite, evaluation, rendering), whatever else the shared 2-core
machine runs at the same time: a wall-clock bound would fail on a loaded machine for a request that
did nothing wrong. (PostgreSQL's own time is not counted; its queries are bounded by the same
parameters, and the benchmarks in bench/ time the whole path.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

SLOW = 2.0  # seconds: issue 8's bound for any answer


class Took:
    seconds: float = 0.0


@contextmanager
def cost() -> Iterator[Took]:
    """``with cost() as took: ...``; then ``took.seconds`` is the processor time spent inside."""
    took = Took()
    started = time.thread_time()
    try:
        yield took
    finally:
        took.seconds = time.thread_time() - started
