"""The ``Backend`` contract: where a run's rollouts and learning happen."""

from __future__ import annotations

import abc

from joyrl_core.contracts.records import RunSummary


class Backend(abc.ABC):
    """Built by a backend factory with the run's :class:`joyrl_core.RunContext`."""

    @abc.abstractmethod
    def run(self) -> RunSummary:
        """Train or test (``general_cfg.mode``) until ``max_episode`` or Ctrl-C, and report the counters.

        Ctrl-C (``KeyboardInterrupt``) must end the run cleanly: write the final checkpoint and return a
        summary with ``interrupted=True`` rather than raise.
        """
