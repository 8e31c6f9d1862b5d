"""SIGTERM as an orderly stop. The handler raises `Terminated` (like KeyboardInterrupt, so every `finally` runs and
the results folder's lock is released); if the signal lands inside a finalizer, where Python swallows exceptions,
the flag it sets is checked again between cells, so the run still stops at the next safe point."""

from __future__ import annotations

import signal
from typing import Any


class Terminated(BaseException):
    """SIGTERM received."""


_requested = False


def on_sigterm(signum: int, frame: Any) -> None:
    global _requested
    _requested = True
    raise Terminated


def install() -> Any:
    """Install the handler (main thread only); returns the previous one for `restore`."""
    global _requested
    _requested = False
    return signal.signal(signal.SIGTERM, on_sigterm)


def restore(previous: Any) -> None:
    signal.signal(signal.SIGTERM, previous)


def check() -> None:
    """Raise Terminated if SIGTERM arrived and its first raise was swallowed."""
    if _requested:
        raise Terminated


def requested() -> bool:
    return _requested
