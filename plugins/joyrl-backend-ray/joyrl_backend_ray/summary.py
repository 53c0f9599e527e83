"""The ``ray`` backend's run summary: the core's fields plus per-worker and per-learner counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from joyrl_core import RunSummary


@dataclass
class RaySummary(RunSummary):
    """Lands in ``results/summary.json`` beside the core's fields.

    ``workers``: one entry per worker: ``episodes`` and ``env_steps`` it delivered (as counted by the
    driver), ``reported_env_steps`` (as counted by the worker processes themselves; equal unless a chunk
    was lost) and ``restarts`` (times Ray restarted it after it died). ``learner_update_steps``: update
    steps of each learner replica at the end (equal across replicas). ``replicas_in_sync``: whether all
    replicas held identical weights at the end (``None`` with one learner or when not checked).
    ``actor_prefix``: what the Ray names of the run's actors start with (see :func:`actor_name`).
    ``learner_batches``: worker batches the learners took in; ``policy_lag_max``/``policy_lag_mean``: of
    those, how many weight updates the learner had made since the weights the batch was collected with
    (0 throughout for on-policy buffers, whose rounds wait for the newest weights).
    """

    n_workers: int = 0
    n_learners: int = 0
    worker_restarts: int = 0
    workers: list[dict[str, Any]] = field(default_factory=list)
    learner_update_steps: list[int] = field(default_factory=list)
    replicas_in_sync: bool | None = None
    actor_prefix: str = ""
    learner_batches: int = 0
    policy_lag_max: int = 0
    policy_lag_mean: float = 0.0
