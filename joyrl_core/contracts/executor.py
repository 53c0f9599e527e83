"""The executor contract: what runs the runs of an experiment (the seeds of ``joyrl run --seeds``, the
trials of ``joyrl tune``).

The core runs them as local processes (``joyrl_core.experiments.processes.ProcessExecutor``); a plugin
may offer another executor through the ``experiment_executor`` hook (a Ray cluster, a batch queue).
An executor never sees configs: it gets :class:`Job` s, each a module-level function and its
(picklable) arguments, called where the executor likes as ``fn(*args, report=report)``. ``report(*event)``
sends a progress event back to the driver; the function's return value is the job's result.
"""

from __future__ import annotations

import threading
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from joyrl_core.errors import JoyRLError

OnEvent = Callable[[Hashable, tuple[Any, ...]], None]


@dataclass
class Job:
    key: Hashable
    fn: Callable[..., Any]  # module-level, so it pickles by reference
    args: tuple[Any, ...]


@dataclass
class JobOutcome:
    """How a job ended: ``result`` when ``error`` is ``None``."""

    key: Hashable
    result: Any = None
    error: str | None = None
    interrupted: bool = False  # Ctrl-C reached the job outside the run, which saves what it has itself


def call_job(job: Job, report: Callable[..., None]) -> JobOutcome:
    """Run ``job`` here and now; its failure becomes the outcome's one-line error, as every executor
    reports it (a JoyRLError's message, else the exception and where it was raised). While it runs (in
    the main thread), SIGINT and SIGTERM stop its run cleanly, as Ctrl-C stops ``joyrl run``."""
    from joyrl_core.run.signals import restore_signals, stop_on_signals

    previous = stop_on_signals() if threading.current_thread() is threading.main_thread() else None
    try:
        return JobOutcome(job.key, result=job.fn(*job.args, report=report))
    except JoyRLError as exc:
        return JobOutcome(job.key, error=str(exc))
    except KeyboardInterrupt:
        return JobOutcome(job.key, error="interrupted", interrupted=True)
    except BaseException as exc:  # a plugin can raise anything; it is this job's failure, not the experiment's
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" at {last[0].filename}:{last[0].lineno}" if last else ""
        return JobOutcome(job.key, error=f"{type(exc).__name__}: {exc}{where}")
    finally:
        if previous is not None:
            restore_signals(previous)


class Executor(ABC):
    """Runs jobs, a few at a time, and says how each ended as it ends.

    Used as a context manager (``open()`` on entry, ``close()`` on exit) around one or more calls of
    :meth:`run`, by the driver process only.
    """

    name: str = ""  # as experiment.json and the progress display say it, e.g. "processes", "ray"

    def __enter__(self) -> Executor:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Connect to (or start) what runs the jobs."""

    def close(self) -> None:
        """Undo what ``open()`` did, and only that."""

    @abstractmethod
    def parallel(self, requested: int | None) -> int:
        """Jobs at once: ``requested`` (``--jobs``; ``None`` when not given) or the default, capped
        where more would not fit (e.g. runs that each place actors of their own on a cluster). Called
        after ``open()``; at least 1."""

    @abstractmethod
    def cores(self) -> int:
        """The CPU cores the jobs share: a run whose ``torch_threads`` is 0 gets ``cores() // parallel``."""

    @abstractmethod
    def run(self, jobs: Sequence[Job], parallel: int, on_event: OnEvent | None = None,
            on_outcome: Callable[[JobOutcome], None] | None = None) -> tuple[dict[Hashable, JobOutcome], bool]:
        """Run ``jobs`` (in order), at most ``parallel`` at once, until all have ended.

        ``on_event(key, event)`` is called in the driver for each ``report(*event)`` of a job,
        ``on_outcome(outcome)`` once per job as it ends, both from the thread that called ``run``. A
        job that fails, even one whose process dies, is an outcome with ``error`` set (one line) and
        the others go on. Ctrl-C (``KeyboardInterrupt`` in the driver) asks the running jobs to stop
        as a run stops on Ctrl-C (they save what they have), starts no new ones and waits for them.
        Returns every job's outcome by key (a job never started has none) and whether it was interrupted.
        """
