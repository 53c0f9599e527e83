"""Connecting to Ray, and placing a run's actors on the CPUs (and GPUs) it has.

- ``ray_address: null`` starts a local Ray with the CPUs this process may use, and shuts it down at the
  end; ``auto`` or ``host:port`` joins a running cluster (``ray start --head``) and only disconnects.
  A process that already called ``ray.init`` (an application embedding JoyRL, a test) keeps its session.
- Actors ask for one CPU each; when the cluster has fewer free CPUs than actors, they share them
  (fractional ``num_cpus``) rather than wait forever for CPUs that will never come. Actors that still
  cannot be placed (or fail while starting) end the run within ``actor_start_timeout_s`` (a ``general_cfg`` key) with an error
  saying what to change.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from joyrl_core import JoyRLError


# Seconds to wait for CPUs that the actors of an earlier run are still giving back.
RESOURCE_SETTLE_S = 10.0

AUTH_HINT = (
    "if the cluster uses token authentication (RAY_AUTH_MODE=token on the head), set RAY_AUTH_MODE=token "
    "and the cluster's token (RAY_AUTH_TOKEN, or the file ~/.ray/auth_token, or RAY_AUTH_TOKEN_PATH) in "
    "the environment of `joyrl run` too"
)


class RayClusterError(JoyRLError):
    """Ray could not be started or joined, or cannot host the actors the run asks for."""


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask), not every CPU of the machine."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class RaySession:
    """``open()`` connects (or starts) Ray; ``close()`` undoes only what ``open()`` did."""

    def __init__(self, address: str | None, log: logging.Logger):
        self.address = address
        self.log = log
        self.owned = False

    def open(self) -> None:
        import ray

        if ray.is_initialized():
            self.log.info("using this process's Ray session (ray.init was called before the run)")
            return
        if self.address is None:
            cpus = usable_cpus()
            with _keep_signal_handlers():
                ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
            self.owned = True
            self.log.info("started a local Ray with %d CPUs", cpus)
            return
        _check_reachable(self.address)
        auth_error = getattr(ray.exceptions, "AuthenticationError", ConnectionError)  # Ray >= 2.5x
        try:
            with _keep_signal_handlers():
                ray.init(address=self.address, logging_level=logging.WARNING)
        except (ConnectionError, auth_error) as exc:
            raise RayClusterError(
                f"general_cfg.ray_address {self.address!r}: could not join the Ray cluster "
                f"({type(exc).__name__}: {str(exc).strip().splitlines()[0]}). Check that `ray start --head` "
                "is running there (`ray status` on the head shows its address; ray_address: auto joins the "
                f"cluster started on this machine); {AUTH_HINT}"
            ) from None
        self.owned = True  # ours to disconnect from (the cluster itself keeps running)
        self.log.info("joined the Ray cluster at %s: %s", self.address, ray.cluster_resources())

    def close(self) -> None:
        if self.owned:
            import ray

            ray.shutdown()
            self.owned = False


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail at once when nothing listens at a ``host:port`` address (Ray itself retries for minutes)."""
    if address == "auto" or "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise RayClusterError(f"general_cfg.ray_address {address!r}: expected auto or host:port, e.g. 10.0.0.1:6379")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise RayClusterError(
            f"general_cfg.ray_address {address!r}: nothing answers there ({exc.strerror or type(exc).__name__}); "
            "start the cluster with `ray start --head --port <port>` on that machine, or fix the address "
            "(`ray status` on the head prints it)"
        ) from None


@contextlib.contextmanager
def _keep_signal_handlers():
    """Put back this process's SIGTERM/SIGINT handlers after ``ray.init``.

    Ray's core installs its own SIGTERM handler in the driver, which kills the process at once; the
    `joyrl` CLI's handler turns SIGTERM into a clean stop (final checkpoint, results) instead.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)


@dataclass(frozen=True)
class Placement:
    """What each actor asks Ray for."""

    worker_cpus: float
    learner_cpus: float
    learner_gpus: float


def plan_placement(n_workers: int, n_learners: int, learner_on_gpu: bool) -> Placement:
    """One CPU per actor where the cluster has them free; an equal share of the free CPUs otherwise."""
    import ray

    n_actors = n_workers + n_learners
    total = ray.cluster_resources()
    # The actors of a run that just ended (ray.kill returns at once) give their CPUs back a moment later.
    deadline = time.monotonic() + RESOURCE_SETTLE_S
    while True:
        free = ray.available_resources()
        cpus = float(free.get("CPU", 0.0))
        if cpus >= min(n_actors, float(total.get("CPU", 0.0))) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    share = 1.0 if cpus >= n_actors else math.floor(cpus / n_actors * 100) / 100
    if share < 0.01:
        raise RayClusterError(
            f"the Ray cluster has {cpus:g} free CPUs (of {total.get('CPU', 0):g}) for {n_workers} worker(s) and "
            f"{n_learners} learner(s); lower general_cfg.n_workers / n_learners, free CPUs, or add nodes"
        )
    gpus = 0.0
    if learner_on_gpu:
        free_gpus = float(free.get("GPU", 0.0))
        gpus = min(1.0, math.floor(free_gpus / n_learners * 100) / 100)
        if gpus < 0.01:
            raise RayClusterError(
                f"general_cfg.device asks for CUDA but the Ray cluster has {free_gpus:g} free GPUs "
                f"(of {total.get('GPU', 0):g}); use device: cpu, or start Ray where a GPU is visible"
            )
    return Placement(worker_cpus=share, learner_cpus=share, learner_gpus=gpus)


def wait_until_started(actors: Sequence[Any], names: Sequence[str], timeout_s: float) -> None:
    """Block until every actor's constructor ran; fail with the names of those that did not."""
    import ray

    refs = [actor.ready.remote() for actor in actors]
    ready, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
    for ref, name in zip(refs, names):
        if ref in ready:
            try:
                ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                raise RayClusterError(f"actor {name} failed to start: {_first_error_line(exc)}") from None
    if pending:
        stuck = [name for ref, name in zip(refs, names) if ref in pending]
        raise RayClusterError(
            f"Ray did not start {len(stuck)} actor(s) within {timeout_s:.0f} s ({', '.join(stuck)}); free "
            f"resources: {ray.available_resources()}. Lower general_cfg.n_workers / n_learners, add nodes, or (on a "
            f"busy machine) raise general_cfg.actor_start_timeout_s"
        )


def _first_error_line(exc: BaseException) -> str:
    """The last meaningful line of a Ray error: the original exception of a failed constructor."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line.split(":")[0] or "Exception" in line.split(":")[0]:
            return line
    return lines[-1] if lines else type(exc).__name__
