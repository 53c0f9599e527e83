"""Which executor runs an experiment's runs: the one a plugin offers (``experiment_executor`` hook),
else local processes."""

from __future__ import annotations

from joyrl_core.config import RunConfig
from joyrl_core.contracts.executor import Executor
from joyrl_core.errors import ConfigError
from joyrl_core.experiments.processes import ProcessExecutor
from joyrl_core.plugins.registry import Registry


def choose_executor(registry: Registry, config: RunConfig, cluster: str | None) -> Executor:
    """The executor for runs of ``config``; ``cluster`` is the ``--cluster`` address, or ``None``."""
    executor = registry.experiment_executor(config, cluster)
    if executor is not None:
        return executor
    if cluster is not None:
        raise ConfigError(f"--cluster {cluster}: no installed plugin runs experiments on a cluster (none answers "
                          "the experiment_executor hook; `joyrl list-plugins` shows what is installed)")
    return ProcessExecutor()
