"""When a training run stops: the one place every backend asks.

A run stops at the first of: ``max_episode`` episodes finished in this run, ``max_env_steps`` env steps in
all, ``max_update_steps`` update steps in all, an online evaluation reaching ``stop_reward``, or Ctrl-C
(SIGTERM). The ``single`` backend's loops (one env and vectorized) and the ``ray`` backend ask the same
:class:`StopRules`, so a budget means the same on each; a backend that cannot honour a key refuses the
run with :meth:`StopRules.refuse` (one line naming the key) instead of ignoring it.

What counts, on every backend: env steps are counted as they are stepped (one per env copy per
vectorized step), and an episode is counted once it finished (terminated, or truncated by the env's
time limit or ``max_step``). An episode still running when the run stops (cut by a budget, by
``stop_reward`` or by Ctrl-C) is not an episode of the run: its steps are in ``env_steps`` and in the
buffer, but it is not logged and not counted, because its partial reward would read as a finished
episode's. Episodes that finish in the same vectorized step as the one that ends ``max_episode`` are
past the budget and are not counted either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from joyrl_core.errors import ConfigError

# The general_cfg keys that end a training run, and what each is worth when it is not set.
STOP_KEYS: Mapping[str, Any] = {"max_episode": -1, "max_env_steps": None, "max_update_steps": None,
                                "stop_reward": None}


class StopRules:
    """The stop rules of one training run, from its ``general_cfg``.

    A backend builds one when training starts (after restoring a checkpoint: ``first_episode`` is the
    episode count it resumes from, since ``max_episode`` counts this run's episodes while the step
    budgets count the run's totals) and asks it:

    - :meth:`count_episode` before counting a finished episode (``False``: the budget is spent, drop it);
    - :attr:`stopped` (or :meth:`out_of_steps`) before each step, to know whether to take it;
    - :meth:`out_of_steps` after each (vectorized) env step and update, with the counters so far;
    - :meth:`evaluated` with each online evaluation's mean reward;
    - :meth:`interrupted` when Ctrl-C (``KeyboardInterrupt``) arrives.

    :attr:`reason` then says why the run stopped (``None`` while it goes on); the backend puts it in
    ``RunSummary.stop_reason``.
    """

    def __init__(self, general: Any, first_episode: int = 0):
        self.max_episode: int | None = None if general.max_episode < 0 else general.max_episode
        self.max_env_steps: int | None = general.max_env_steps
        self.max_update_steps: int | None = general.max_update_steps
        self.stop_reward: float | None = general.stop_reward
        self.first_episode = first_episode
        self.reason: str | None = None

    @staticmethod
    def refuse(general: Any, backend: str, keys: Mapping[str, str]) -> None:
        """Raise a :class:`ConfigError` for the first of ``keys`` (key -> why this backend cannot honour
        it) that the run sets; a backend calls it when it is built, before anything runs."""
        for key, why in keys.items():
            if key not in STOP_KEYS:
                raise ValueError(f"{key!r} is not a stop key; stop keys: {', '.join(STOP_KEYS)}")
            value = getattr(general, key)
            if value != STOP_KEYS[key]:
                raise ConfigError(f"general_cfg.{key}: {value} is not honoured by the {backend} backend ({why}); "
                                  f"remove it or use another general_cfg.mp_backend")

    @property
    def stopped(self) -> bool:
        return self.reason is not None

    def episodes_left(self, episodes: int) -> int | None:
        """Episodes this run may still count, with ``episodes`` counted so far; ``None``: no limit."""
        if self.max_episode is None:
            return None
        return max(0, self.max_episode - (episodes - self.first_episode))

    def env_steps_left(self, env_steps: int) -> int | None:
        """Env steps the run may still take, with ``env_steps`` taken so far; ``None``: no limit."""
        return None if self.max_env_steps is None else max(0, self.max_env_steps - env_steps)

    def count_episode(self, episodes: int) -> bool:
        """Whether an episode that just finished counts, with ``episodes`` counted before it: ``False``
        once ``max_episode`` are counted. Counting the last one stops the run. Only the episode budget
        decides: an episode that finished in the step where another rule stopped the run still counts."""
        left = self.episodes_left(episodes)
        if left == 0:
            return False
        if left == 1 and self.reason is None:
            self.reason = "max_episode"
        return True

    def out_of_steps(self, env_steps: int, update_steps: int) -> bool:
        """Whether the run stops now, with these totals (also when an earlier rule stopped it)."""
        if self.stopped:
            return True
        if self.max_env_steps is not None and env_steps >= self.max_env_steps:
            self.reason = "max_env_steps"
        elif self.max_update_steps is not None and update_steps >= self.max_update_steps:
            self.reason = "max_update_steps"
        return self.stopped

    def evaluated(self, mean_reward: float) -> bool:
        """An online evaluation's mean reward; ``True`` (and the run stops) when it reaches ``stop_reward``."""
        if self.stop_reward is not None and mean_reward >= self.stop_reward and not self.stopped:
            self.reason = "stop_reward"
        return self.reason == "stop_reward"

    def interrupted(self) -> None:
        """Ctrl-C or SIGTERM: the run stops now, whatever else was due."""
        self.reason = "interrupted"
