"""Jobs in child processes, a few at a time: each in its own process so that one that crashes (even
hard, killing its interpreter) is reported and the others go on.

A job is a module-level function called as ``fn(*args, report=report)``; ``report(*event)`` sends an
event (progress) to the parent, and the function's return value comes back as the job's result.
Children come from a fork server that imported torch, gymnasium and the core once (never from a fork
of the parent, which may hold torch threads and locks), so a child starts in milliseconds instead of
importing everything again; where there is no fork server (Windows, macOS' default) they are spawned.
Each child takes the parent's ``sys.path``, so it finds the same plugins.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import signal
import sys
import time
import traceback
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from joyrl_core.errors import JoyRLError

# A child that exited is given this long for its last message to come through the pipe.
_EXIT_GRACE_S = 2.0


@dataclass
class Job:
    key: Hashable
    fn: Callable[..., Any]
    args: tuple[Any, ...]


@dataclass
class JobOutcome:
    """How a job ended: ``result`` when ``error`` is ``None``."""

    key: Hashable
    result: Any = None
    error: str | None = None
    interrupted: bool = False  # Ctrl-C reached the job outside the run, which saves what it has itself


def free_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def child_torch_threads(configured: int, parallel: int) -> int:
    """Torch threads for one of ``parallel`` children: the configured number, or where it is 0
    (torch's default, every core) the cores shared out, so the children do not oversubscribe them."""
    return configured if configured > 0 else max(1, free_cores() // max(1, parallel))


_PRELOAD = ["torch", "gymnasium", "joyrl_core", "joyrl_core.run.start"]


def _context() -> Any:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def _child(fn: Callable[..., Any], key: Hashable, args: tuple[Any, ...], events: Any, path: list[str]) -> None:
    import importlib

    from joyrl_core.run.signals import stop_on_signals

    # The fork server started with the sys.path of its first user; plugins added since are on ours.
    sys.path[:] = path
    importlib.invalidate_caches()
    stop_on_signals()
    try:
        result = fn(*args, report=lambda *event: events.put(("event", key, event)))
    except JoyRLError as exc:
        events.put(("error", key, str(exc)))
    except KeyboardInterrupt:
        events.put(("interrupted", key, None))
    except BaseException as exc:  # a plugin can raise anything; the parent reports it as this job's failure
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" at {last[0].filename}:{last[0].lineno}" if last else ""
        events.put(("error", key, f"{type(exc).__name__}: {exc}{where}"))
    else:
        events.put(("result", key, result))


def run_jobs(
    jobs: Sequence[Job], parallel: int, on_event: Callable[[Hashable, tuple[Any, ...]], None] | None = None,
    on_outcome: Callable[[JobOutcome], None] | None = None,
) -> tuple[dict[Hashable, JobOutcome], bool]:
    """Run ``jobs``, at most ``parallel`` at once, until all have ended; returns their outcomes and
    whether it was interrupted (Ctrl-C: running jobs are asked to stop and awaited, no new ones start).
    """
    ctx = _context()
    events = ctx.Queue()
    pending = list(jobs)
    running: dict[Hashable, Any] = {}
    exited_at: dict[Hashable, float] = {}
    outcomes: dict[Hashable, JobOutcome] = {}
    interrupted = False

    def finish(outcome: JobOutcome) -> None:
        outcomes[outcome.key] = outcome
        process = running.pop(outcome.key, None)
        if process is not None:
            process.join()
        exited_at.pop(outcome.key, None)
        if on_outcome is not None:
            on_outcome(outcome)

    while pending or running:
        try:
            while pending and len(running) < parallel and not interrupted:
                job = pending.pop(0)
                process = ctx.Process(target=_child, args=(job.fn, job.key, job.args, events, list(sys.path)),
                                      daemon=True)
                process.start()
                running[job.key] = process
            try:
                kind, key, payload = events.get(timeout=0.2)
            except queue_module.Empty:
                kind = None
            if kind == "event":
                if on_event is not None:
                    on_event(key, payload)
            elif kind == "result":
                finish(JobOutcome(key, result=payload))
            elif kind == "error":
                finish(JobOutcome(key, error=payload))
            elif kind == "interrupted":
                finish(JobOutcome(key, error="interrupted", interrupted=True))
            now = time.monotonic()
            for key, process in list(running.items()):
                if process.exitcode is None:
                    continue
                first_seen = exited_at.setdefault(key, now)
                if now - first_seen > _EXIT_GRACE_S:
                    finish(JobOutcome(key, error=f"its process died (exit code {process.exitcode})"))
            if interrupted:
                pending.clear()
        except KeyboardInterrupt:
            # Children of a terminal's Ctrl-C got it too; a SIGINT or SIGTERM sent to this process alone
            # is passed on, so every running job ends as an interrupted run does (results saved).
            interrupted = True
            for process in running.values():
                if process.exitcode is None:
                    os.kill(process.pid, signal.SIGINT)
    events.close()
    return outcomes, interrupted
