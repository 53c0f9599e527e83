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
    ``error`` is the one-line message the user saw. In test mode ``update_steps`` is the tested
    checkpoint's count (test mode makes none). ``stop_reason`` is the rule that ended training
    (:class:`joyrl_core.StopRules`): ``max_episode``, ``max_env_steps``, ``max_update_steps``,
    ``stop_reward`` or ``interrupted``; ``None`` in test mode.

    ``reward_threshold`` is the score that counts as solving the env (gymnasium's
    ``spec.reward_threshold``, else ``stop_reward``; ``None`` where neither is set); ``solved`` says
    whether the best greedy evaluation (test mode: the test mean) reached it, ``None`` where nothing
    was evaluated or there is no threshold. ``verdict`` is that in one line, with the model file to
    use, as ``joyrl run`` prints it last. ``start_run`` sets the three.
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
    reward_threshold: float | None = None
    solved: bool | None = None
    verdict: str = ""
    stop_reason: str | None = None
