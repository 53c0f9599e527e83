"""Jobs in child processes, a few at a time: each in its own process so that one that crashes (even
hard, killing its interpreter) is reported and the others go on.

A job is a module-level function called as ``fn(*args, report=report)``; ``report(*event)`` sends an
event (progress) to the parent, and the function's return value comes back as the job's result.
Children come from a fork server that imported torch, gymnasium and the core once (never from a fork
of the parent, which may hold torch threads and locks), so a child starts in milliseconds instead of
importing everything again; where there is no fork server (Windows, macOS' default) they are spawned.
Each child takes the parent's ``sys.path``, so it finds the same plugins. The children run core
functions only, never the caller's script: a script that calls ``run_seeds``/``run_tune`` at its top
level, without an ``if __name__ == "__main__":`` guard, works as it does with one.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue as queue_module
import signal
import sys
import time
import types
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

from joyrl_core.contracts.executor import Executor, Job, JobOutcome, OnEvent, call_job

# A child that exited is given this long for its last message to come through the pipe.
_EXIT_GRACE_S = 2.0


def free_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def child_torch_threads(configured: int, parallel: int, cores: int | None = None) -> int:
    """Torch threads for one of ``parallel`` runs sharing ``cores`` (default: this process's free
    cores): the configured number, or where it is 0 (torch's default, every core) the cores shared
    out, so the runs do not oversubscribe them."""
    return configured if configured > 0 else max(1, (cores or free_cores()) // max(1, parallel))


_PRELOAD = ["torch", "gymnasium", "joyrl_core", "joyrl_core.run.start"]


def _context() -> Any:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


@contextlib.contextmanager
def _without_main_module() -> Iterator[None]:
    """While children (and the fork server) start: multiprocessing re-imports the parent's ``__main__``
    in them, which re-runs a script's top level unless it is guarded. The jobs are core functions that
    never need it, so the children are told of no main module to import."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _child(job: Job, events: Any, path: list[str]) -> None:
    import importlib

    # The fork server started with the sys.path of its first user; plugins added since are on ours.
    sys.path[:] = path
    importlib.invalidate_caches()
    outcome = call_job(job, lambda *event: events.put(("event", job.key, event)))
    events.put(("outcome", job.key, outcome))


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
                process = ctx.Process(target=_child, args=(job, events, list(sys.path)), daemon=True)
                with _without_main_module():
                    process.start()
                running[job.key] = process
            try:
                kind, key, payload = events.get(timeout=0.2)
            except queue_module.Empty:
                kind = None
            if kind == "event":
                if on_event is not None:
                    on_event(key, payload)
            elif kind == "outcome":
                finish(payload)
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


class ProcessExecutor(Executor):
    """The core's executor: each job in a child process on this machine, by default as many at once as
    there are free cores."""

    name = "processes"

    def parallel(self, requested: int | None) -> int:
        return max(1, requested or free_cores())

    def cores(self) -> int:
        return free_cores()

    def run(self, jobs: Sequence[Job], parallel: int, on_event: OnEvent | None = None,
            on_outcome: Callable[[JobOutcome], None] | None = None) -> tuple[dict[Hashable, JobOutcome], bool]:
        return run_jobs(jobs, parallel, on_event, on_outcome)
