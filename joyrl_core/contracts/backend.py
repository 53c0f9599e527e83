"""The ``Backend`` contract: where a run's rollouts and learning happen."""

from __future__ import annotations

import abc

from joyrl_core.contracts.records import RunSummary


class Backend(abc.ABC):
    """Built by a backend factory with the run's :class:`joyrl_core.RunContext`."""

    @abc.abstractmethod
    def run(self) -> RunSummary:
        """Train or test (``general_cfg.mode``) and report the counters. Training stops when the run's
        :class:`joyrl_core.StopRules` say so (episodes, env steps, update steps, ``stop_reward``, Ctrl-C);
        a backend asks them and refuses (``StopRules.refuse``, when built) a key it cannot honour.

        Ctrl-C (``KeyboardInterrupt``) must end the run cleanly: write the final checkpoint and return a
        summary with ``interrupted=True`` rather than raise.
        """
