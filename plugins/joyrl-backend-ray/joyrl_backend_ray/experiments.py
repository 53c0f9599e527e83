"""Seeds and tune trials as Ray tasks: the ``experiment_executor`` this plugin offers.

It answers for an experiment whose config selects ``mp_backend: ray`` (on the config's ``ray_address``)
and for any experiment given ``--cluster ADDRESS`` (``local`` starts a Ray on this machine with the
CPUs this process may use; ``auto`` or ``host:port`` joins a running cluster). Each run is a Ray task
that calls the core's job function as a local process would, so its task folder is exactly what the
run writes alone.

What one run asks of Ray, so that runs never wait on each other for CPUs:

- ``mp_backend: single`` (the run steps and learns in its own process): the task asks for 1 CPU, and
  by default as many run at once as the cluster has CPUs.
- ``mp_backend: ray`` (the run is a driver that places ``n_workers + n_learners`` actors of its own, one
  CPU each): the task asks for no CPU, as a ``joyrl run`` driver holds none, and at most
  ``cluster CPUs // (n_workers + n_learners)`` runs (at least 1) go at once, ``--jobs`` included. Their
  actors then always fit beside each other; more runs would take CPUs that the next run's actors wait
  for (with whole-CPU actors, forever), and the backend would squeeze every run onto shares of a CPU.

The task folders, and for ``joyrl tune`` the study's SQLite file, are written by the tasks, wherever
Ray places them: on a cluster of several machines the ``task_dir`` (and ``--study-dir``) must be on a
file system they all share. A task starts in the driver's working folder where that folder exists on
its machine, so relative paths in the config mean what they mean to the driver.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from joyrl_core import ConfigError, Executor, Job, JobOutcome, RunConfig, call_job, hookimpl

# How often the driver looks at the events queue while no task ends (seconds).
_POLL_S = 0.2

log = logging.getLogger(__name__)


def _task(job: Job, events: Any, path: list[str], cwd: str) -> JobOutcome:
    """One job in a Ray worker, as a local process would run it."""
    import importlib

    if os.path.isdir(cwd):
        os.chdir(cwd)
    # Plugins found on the driver's path (a test's distribution, a source checkout) are found here too,
    # for this job only: Ray gives the worker process to later tasks.
    own_path = list(sys.path)
    sys.path.extend(p for p in path if p not in sys.path)
    importlib.invalidate_caches()
    try:  # ray.cancel's KeyboardInterrupt, or a SIGTERM, ends the run cleanly (call_job's handlers)
        return call_job(job, lambda *event: events.put((job.key, event)))
    finally:
        sys.path[:] = own_path
        importlib.invalidate_caches()


class RayExecutor(Executor):
    """Runs jobs as Ray tasks on a local Ray or a cluster (see the module docstring)."""

    name = "ray"

    def __init__(self, address: str | None, actors_per_run: int, given_by: str = "--cluster"):
        self.address = address  # None: start a local Ray (unless this process already has one)
        self.actors_per_run = actors_per_run  # 0: the run holds one CPU itself
        self.given_by = given_by  # what the user wrote the address in, for the errors
        self._session: Any = None

    def open(self) -> None:
        from joyrl_backend_ray.session import RayClusterError, RaySession

        self._session = RaySession(self.address, log)
        try:
            self._session.open()
        except RayClusterError as exc:
            raise RayClusterError(str(exc).replace("general_cfg.ray_address", self.given_by, 1)) from None

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def cores(self) -> int:
        import ray

        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def parallel(self, requested: int | None) -> int:
        if not self.actors_per_run:
            return max(1, requested or self.cores())
        fit = max(1, self.cores() // self.actors_per_run)
        if requested is not None and requested > fit:
            log.warning("--jobs %d: %d run(s) at once fit the cluster's %d CPUs (%d actors each)",
                        requested, fit, self.cores(), self.actors_per_run)
        return min(requested or fit, fit)

    def run(self, jobs: Sequence[Job], parallel: int,
            on_event: Callable[[Hashable, tuple[Any, ...]], None] | None = None,
            on_outcome: Callable[[JobOutcome], None] | None = None) -> tuple[dict[Hashable, JobOutcome], bool]:
        import ray
        from ray.util.queue import Empty, Queue

        # max_retries=0: a run whose worker died is reported, not started again over its own folder.
        remote = ray.remote(_task).options(num_cpus=0 if self.actors_per_run else 1, max_retries=0)
        events = Queue(actor_options={"num_cpus": 0})
        pending = list(jobs)
        running: dict[Any, Hashable] = {}
        outcomes: dict[Hashable, JobOutcome] = {}
        interrupted = False

        def deliver_events() -> None:
            while on_event is not None:
                try:
                    key, event = events.get_nowait()
                except Empty:
                    return
                on_event(key, event)

        def finish(ref: Any) -> None:
            key = running.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.TaskCancelledError:
                outcome = JobOutcome(key, error="interrupted", interrupted=True)
            except ray.exceptions.RayError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                outcome = JobOutcome(key, error=f"its Ray worker died ({type(exc).__name__}: {first})")
            outcomes[key] = outcome
            if on_outcome is not None:
                on_outcome(outcome)

        try:
            while pending or running:
                try:
                    while pending and len(running) < parallel and not interrupted:
                        job = pending.pop(0)
                        running[remote.remote(job, events, list(sys.path), os.getcwd())] = job.key
                    done, _ = ray.wait(list(running), num_returns=1, timeout=_POLL_S)
                    deliver_events()
                    for ref in done:
                        finish(ref)
                except KeyboardInterrupt:
                    # As the process executor: running runs stop cleanly (results saved), no new ones start.
                    interrupted = True
                    pending.clear()
                    for ref in running:
                        ray.cancel(ref)
            deliver_events()
        finally:
            ray.kill(events.actor)
        return outcomes, interrupted


@hookimpl
def experiment_executor(config: RunConfig, address: str | None) -> Executor | None:
    general = config.general
    if general.mp_backend == "ray":
        n_learners = getattr(config.backend, "n_learners", 1)
        own = getattr(config.backend, "ray_address", None)
        if address is not None and own is not None and address != own:
            raise ConfigError(f"--cluster {address}: the config's general_cfg.ray_address is {own!r}; "
                              "give one of the two")
        given_by = "--cluster" if address is not None else "general_cfg.ray_address"
        return RayExecutor(_session_address(address or own), general.n_workers + n_learners, given_by)
    if address is not None:
        return RayExecutor(_session_address(address), 0)
    return None


def _session_address(address: str | None) -> str | None:
    """``local`` (or none) starts a Ray here; anything else is what ``ray.init(address=...)`` joins."""
    if address is None or address.strip() == "local":
        return None
    if not address.strip():
        raise ConfigError("--cluster: expected local, auto or host:port, got an empty string")
    return address.strip()
