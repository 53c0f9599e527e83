"""What the ``ray`` backend reads from ``general_cfg``, checked once before anything starts.

``n_workers`` is a core key; ``n_learners`` and ``ray_address`` are this backend's own keys
(:class:`RayBackendConfig`, registered as its ``config_type``, so they sit in ``general_cfg`` and are
validated with it when ``mp_backend: ray``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from joyrl_core import option

# An off-policy worker call takes about this many env steps (vector steps of its n_envs envs) before it
# hands them on. Small, so the policy acting stays close to the learner's (DQN on CartPole learns much
# later with batches of hundreds of steps); on-policy calls take one whole rollout instead.
CHUNK_STEPS = 32
# Restarts Ray makes of a worker actor that died (its in-flight call is retried on the new process).
WORKER_MAX_RESTARTS = 3
# Seconds to wait at the stop for worker calls still in flight, to count a restart whose retried call
# had not come back yet (a restarted process imports torch first); healthy calls take milliseconds.
WORKER_SETTLE_S = 15.0
# Seconds a gradient all-reduce waits for the other learners before failing (replicas out of step).
COLLECTIVE_TIMEOUT_S = 120.0
# Seconds to wait at the end (or after Ctrl-C) for the learners to finish queued batches.
DRAIN_TIMEOUT_S = 60.0


@dataclass
class RayBackendConfig:
    """The ``ray`` backend's ``general_cfg`` keys."""

    n_learners: int = option(1, "learner replicas; each takes part of every batch and they average gradients", minimum=1)
    ray_address: str | None = option(None, "null starts a local Ray; auto or host:port joins a running cluster")
    actor_start_timeout_s: float = option(
        120.0, "seconds to wait for every worker and learner to be placed and built (a new actor imports torch: "
        "raise it on a heavily loaded machine) before the run fails naming the actors that did not start",
        minimum=1.0)

    def __post_init__(self) -> None:
        if self.ray_address is not None and not self.ray_address.strip():
            raise ValueError("ray_address: expected null (start a local Ray), auto, or host:port, got an empty string")


@dataclass(frozen=True)
class RayOptions:
    n_workers: int
    n_learners: int
    ray_address: str | None
    actor_start_timeout_s: float = 120.0

    @classmethod
    def from_config(cls, config: Any) -> RayOptions:
        general = config.general
        backend = config.backend if isinstance(config.backend, RayBackendConfig) else RayBackendConfig()
        n_workers, n_learners, address = general.n_workers, backend.n_learners, backend.ray_address
        return cls(n_workers, n_learners, address.strip() if address else None, backend.actor_start_timeout_s)


def actor_prefix(task_name: str) -> str:
    """``joyrl/<task folder>/<6 hex digits>``: the names of a run's actors start with it. The random part
    keeps names apart when runs on several machines (same config, same second) share one cluster."""
    return f"joyrl/{task_name}/{secrets.token_hex(3)}"


def actor_name(prefix: str, role: str, index: int) -> str:
    """``<prefix>/worker-<i>`` or ``<prefix>/learner-<k>``: ``ray.get_actor(name)`` reaches it (from the
    driver's Ray job), e.g. to inspect one, or to kill one in a test."""
    return f"{prefix}/{role}-{index}"
