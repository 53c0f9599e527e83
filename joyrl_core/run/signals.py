"""Ctrl-C and SIGTERM as ``KeyboardInterrupt``, which ends a run cleanly (final checkpoint, results)."""

from __future__ import annotations

import signal
import sys
import time

STOP_GRACE_S = 10.0


class _CleanStop:
    """The handler of Ctrl-C and SIGTERM while a run is on.

    The first signal raises ``KeyboardInterrupt``, which the backend turns into a clean stop (final
    checkpoint, results, figure). A second one while that stop is under way would abort it half done
    (an impatient double Ctrl-C), so for ``STOP_GRACE_S`` seconds further signals are only answered
    with a line on stderr; after that, one aborts the stop.
    """

    def __init__(self) -> None:
        self.first: float | None = None

    def __call__(self, signum, frame) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = now
            raise KeyboardInterrupt
        left = STOP_GRACE_S - (now - self.first)
        if left <= 0:
            raise KeyboardInterrupt
        sys.stderr.write(
            "already stopping: writing the final checkpoint and results; this signal is ignored "
            f"(one after {left:.0f} more s aborts without them)\n"
        )


def stop_on_signals() -> dict[int, object]:
    """Install the handlers, even where a shell that started the process in the background set SIGINT
    to be ignored (and in child processes, which inherit that). Returns the handlers to put back."""
    previous = {signal.SIGINT: signal.getsignal(signal.SIGINT), signal.SIGTERM: signal.getsignal(signal.SIGTERM)}
    handler = _CleanStop()
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return previous


def restore_signals(previous: dict[int, object]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
