"""Data that crosses module boundaries during a run: episode records and the run's summary."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EpisodeRecord:
    """One finished episode. ``env_steps`` is the run's global env-step count after the episode."""

    mode: str  # "train", "test" or "eval"
    episode: int
    env_steps: int
    reward: float
    length: int
    wall_time: float
    terminated: bool
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class RunSummary:
    """What a backend's ``run()`` returns: the counters at the end and how the run ended.

    ``wall_time`` includes ``eval_time``, the seconds spent in online evaluation. ``ended`` is
    ``completed``, ``interrupted`` (Ctrl-C or SIGTERM) or ``failed``, set by ``start_run``; a failed run's
    ``error`` is the one-line message the user saw.
    """

    episodes: int = 0
    env_steps: int = 0
    update_steps: int = 0
    wall_time: float = 0.0
    interrupted: bool = False
    last_rewards: list[float] = field(default_factory=list)
    eval_mean_rewards: list[tuple[int, float]] = field(default_factory=list)
    eval_time: float = 0.0
    best_eval_reward: float | None = None
    test_rewards: list[float] = field(default_factory=list)
    ended: str = "completed"
    error: str | None = None
