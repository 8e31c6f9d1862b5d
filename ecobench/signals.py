"""SIGTERM as an orderly stop. The handler raises `Terminated` (like KeyboardInterrupt, so every `finally` runs and
the results folder's lock is released). Inside a finalizer (`__del__`), where Python would swallow the exception
and print a traceback, it only sets a flag, checked between cells and when the command returns, so the run still
stops at the next safe point."""

from __future__ import annotations

import signal
from typing import Any


class Terminated(BaseException):
    """SIGTERM received."""


_requested = False


def on_sigterm(signum: int, frame: Any) -> None:
    global _requested
    _requested = True
    if not _inside_finalizer(frame):  # there a raise would be swallowed (and printed as a traceback)
        raise Terminated


def _inside_finalizer(frame: Any) -> bool:
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


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
