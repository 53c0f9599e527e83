"""The Python API for notebooks and scripts: train from a YAML file or a dict, load a trained task
folder as a policy. Both go through the same config validation and errors as the ``joyrl`` command.

```python
import joyrl_core
summary, task = joyrl_core.train("examples/cartpole_dqn_fast.yaml", ["general_cfg.seed=3"])
policy = joyrl_core.load_policy(task.root)          # models/best.pt where there is one, else the latest
action = policy.predict(obs)                        # one observation, or a batch of them
```
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from joyrl_core.config import RunConfig, read_yaml_file, resolve_config
from joyrl_core.contracts.agent import Agent
from joyrl_core.contracts.records import RunSummary
from joyrl_core.contracts.spaces import EnvSpec
from joyrl_core.errors import CheckpointError
from joyrl_core.outputs.checkpoint import find_checkpoint, load_checkpoint
from joyrl_core.outputs.task import TaskPaths
from joyrl_core.plugins.registry import Registry, load_registry
from joyrl_core.components.wrappers import resolve_wrappers
from joyrl_core.run.context import RunContext, env_id_of, resolve_device
from joyrl_core.run.envs import Normalizer, build_env, restore_normalizer


def train(config: str | Path | Mapping[str, Any] | None = None, overrides: Sequence[str] = (),
          registry: Registry | None = None) -> tuple[RunSummary, TaskPaths]:
    """Run ``config`` (a YAML path, a dict of the sections, or ``None`` for the defaults) with
    ``overrides`` (``"section.key=value"`` strings, as ``--set`` takes them) to the end."""
    from joyrl_core.run.start import start_run

    registry = registry or load_registry()
    return start_run(resolve_config(registry, config, overrides), registry)


class Policy:
    """A trained agent with its env's spec: greedy actions for observations.

    With ``env_cfg.normalize_obs``, :meth:`predict` takes observations as :meth:`make_env`'s env returns
    them: normalized by the training run's statistics, frozen.
    """

    def __init__(self, agent: Agent, env_spec: EnvSpec, config: RunConfig, checkpoint: Path, registry: Registry,
                 normalizer: Normalizer | None = None):
        self.agent = agent
        self.env_spec = env_spec
        self.config = config
        self.checkpoint = checkpoint
        self._registry = registry
        self._normalizer = normalizer

    def predict(self, obs: Any) -> Any:
        """The greedy action for one observation, or an array of actions for a batch of them."""
        obs = np.asarray(obs, dtype=self.env_spec.obs_dtype)
        single = obs.shape == self.env_spec.obs_shape
        actions = self.agent.predict_action(obs[None] if single else obs)
        return actions[0] if single else actions

    def make_env(self, render_mode: str | None = None) -> gym.Env:
        """The env the policy was trained on, as its config builds it (wrappers and frozen normalization)."""
        component = self._registry.get("env", self.config.general.env_name)
        env = build_env(component.factory, component.name, self.config.env, self.config.general.max_step,
                        resolve_wrappers(self.config.env_wrap.wrappers, self._registry, self.config.source),
                        render_mode)
        return self._normalizer.wrap(env, train=False) if self._normalizer is not None else env


def load_policy(task_dir: str | Path, checkpoint: str | int | None = None, device: str = "cpu",
                registry: Registry | None = None) -> Policy:
    """The agent of a trained task folder: ``checkpoint`` is best, latest or an update step (default:
    best where the run kept one, else latest)."""
    task = Path(task_dir)
    registry = registry or load_registry()
    config_file = task / "config.yaml"
    document = read_yaml_file(config_file)
    config = resolve_config(registry, document, [f"general_cfg.device={device}"], source=str(config_file))
    if checkpoint is None:
        checkpoint = "best" if (task / "models" / "best.pt").is_file() else "latest"
    path = find_checkpoint(str(task), config.general.task_dir, str(checkpoint))
    payload = load_checkpoint(path)
    component = registry.get("env", config.general.env_name)
    probe = build_env(component.factory, component.name, config.env, config.general.max_step,
                      resolve_wrappers(config.env_wrap.wrappers, registry, config.source))
    try:
        normalizer = Normalizer.for_run(config, probe)
        restore_normalizer(normalizer, payload, str(path), train=False)
        env_spec = EnvSpec.from_env(normalizer.wrap(probe, train=False) if normalizer else probe,
                                    env_id_of(config, probe))
    finally:
        probe.close()
    run = RunContext(config=config, registry=registry, task=TaskPaths(task), env_spec=env_spec,
                     device=resolve_device(device), log=logging.getLogger("joyrl.policy"))
    agent = run.make_agent()
    try:
        agent.load_state_dict(payload["agent"])
    except (ValueError, RuntimeError, KeyError) as exc:
        raise CheckpointError(f"{path}: does not match the task's config: {exc}".splitlines()[0]) from None
    return Policy(agent, env_spec, config, path, registry, normalizer)
