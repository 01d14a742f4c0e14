"""How long a response stays true, noted while it is computed: what keys a page cache exactly.

For one data version of the store (bumped by every write), what a page shows can still change with
the clock: a page judged "now" shows other states once a due date passes, another period once a
month begins, another "as of" once a minute passes. Whoever reads something that depends on the
clock says so here, in wall-clock terms, and the page cache (geova.web.page_cache) keeps the page
only for the instants this collects:

- :func:`judged_at` — the instant the page judges at, and whether it follows the clock (no
  ``as_of`` asked for, no territory clock): only then do windows over that instant bound the page;
- :func:`stable` — a read at ``as_of`` gives the same answer for every instant in
  ``[low, high)`` (geova.store.verdict_replica computes these from the stored instants);
- :func:`moment` — a read at ``as_of`` that cannot say how long it holds (counted in SQL): the page
  is not kept if it follows the clock;
- :func:`until` / :func:`since` — the page changes when the clock reaches this instant (a month
  boundary, the next minute shown), or shows the same only from this instant on.

Instants are microseconds since the epoch, UTC. Pure: no Flask, no database. A computation that
nobody collects (a command-line evaluation) notes into nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

EVER = 2**63 - 1


@dataclass
class Window:
    """The wall-clock instants ``[low, high)`` for which the collected response holds."""

    now: int  # the wall clock when the computation began
    low: int = -EVER
    high: int = EVER
    judged: set[int] = field(default_factory=set)  # judging instants read from the clock

    def narrow(self, low: int, high: int) -> None:
        self.low, self.high = max(self.low, low), min(self.high, high)

    def keep_nothing(self) -> None:
        self.narrow(self.now, self.now)

    @property
    def usable(self) -> bool:
        """Whether the response holds at ``now`` (and so for a while after)."""
        return self.low <= self.now < self.high


_current: ContextVar[Window | None] = ContextVar("geova_validity", default=None)


@contextmanager
def collecting(now: int) -> Iterator[Window]:
    """Collect, into the window yielded, what the computation inside the block depends on."""
    window = Window(now=now)
    token = _current.set(window)
    try:
        yield window
    finally:
        _current.reset(token)


def judged_at(as_of: int, follows_clock: bool) -> None:
    """The page judges at ``as_of``, read from the wall clock or fixed (asked for, a setting)."""
    window = _current.get()
    if window is not None and follows_clock:
        window.judged.add(as_of)


def stable(as_of: int, low: int, high: int) -> None:
    """A read at ``as_of`` holds for every instant in ``[low, high)``. Only a judging instant read
    from the clock bounds the page; a fixed one holds for the whole data version."""
    window = _current.get()
    if window is None or as_of not in window.judged:
        return
    shift = as_of - window.now  # the clock was read a little after the computation began
    window.narrow(low - shift, high - shift)


def moment(as_of: int) -> None:
    """A read at ``as_of`` that holds at that instant only, as far as anyone knows."""
    window = _current.get()
    if window is not None and as_of in window.judged:
        window.keep_nothing()


def until(instant: int) -> None:
    """The response changes when the clock reaches ``instant``."""
    window = _current.get()
    if window is not None:
        window.narrow(window.low, instant)


def since(instant: int) -> None:
    """The response holds only once the clock has reached ``instant``."""
    window = _current.get()
    if window is not None:
        window.narrow(instant, window.high)
