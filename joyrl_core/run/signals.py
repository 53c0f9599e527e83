"""Ctrl-C and SIGTERM as ``KeyboardInterrupt``, which ends a run cleanly (final checkpoint, results)."""

from __future__ import annotations

import signal


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def stop_on_signals() -> dict[int, object]:
    """Install the handlers, even where a shell that started the process in the background set SIGINT
    to be ignored (and in child processes, which inherit that). Returns the handlers to put back."""
    previous = {signal.SIGINT: signal.getsignal(signal.SIGINT), signal.SIGTERM: signal.getsignal(signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    return previous


def restore_signals(previous: dict[int, object]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
