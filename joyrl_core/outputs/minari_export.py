"""Export a task folder's trajectories as a Minari dataset, the format offline-RL libraries read.

Minari (the ``minari`` extra: ``pip install "joyrl-core[minari]"``) stores each episode with
``observations`` one longer than its ``actions``: the first state of every step plus the last next
state. JoyRL's step-aligned ``states``/``next_states`` give exactly that. The env is built from the
task's ``config.yaml`` to give the dataset its observation and action spaces (and its gymnasium id,
so ``dataset.recover_environment()`` works for envs gymnasium knows).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from joyrl_core.errors import JoyRLError
from joyrl_core.outputs.trajectories import load_trajectories


def export_minari(task_dir: str | Path, dataset_id: str, registry: Any, *, author: str | None = None,
                  description: str | None = None) -> Any:
    """Write the trajectories of ``task_dir`` (a run with ``collect_traj: true``) as Minari dataset
    ``dataset_id`` (e.g. ``joyrl/cartpole/dqn-v0``) under Minari's data path; return the dataset.

    ``registry`` builds the run's env from its ``config.yaml`` (the env plugin must be installed).
    """
    try:
        import minari
        from minari.data_collector import EpisodeBuffer
    except ImportError:
        raise JoyRLError('export-minari needs the minari package: pip install "joyrl-core[minari]"') from None
    from joyrl_core.config import resolve_config
    from joyrl_core.components.wrappers import resolve_wrappers
    from joyrl_core.run.envs import build_env

    task_dir = Path(task_dir)
    config_file = task_dir / "config.yaml"
    if not config_file.is_file():
        raise JoyRLError(f"{task_dir}: not a task folder (no config.yaml)")
    config = resolve_config(registry, config_file)
    component = registry.get("env", config.general.env_name)
    env = build_env(component.factory, component.name, config.env, None,
                    resolve_wrappers(config.env_wrap.wrappers, registry, str(config_file)))
    try:
        observation_space, action_space = env.observation_space, env.action_space
        env_id = getattr(env.spec, "id", None)
    finally:
        env.close()

    episodes = [
        EpisodeBuffer(
            id=i,
            observations=np.concatenate([traj.states, traj.next_states[-1:]]).astype(observation_space.dtype),
            actions=np.asarray(traj.actions).astype(action_space.dtype),
            rewards=np.asarray(traj.rewards, dtype=np.float64),
            terminations=np.asarray(traj.terminated, dtype=bool),
            truncations=np.asarray(traj.truncated, dtype=bool),
        )
        for i, traj in enumerate(load_trajectories(task_dir / "results"))
        if len(traj) > 0
    ]
    if not episodes:
        raise JoyRLError(f"{task_dir}: the trajectory files hold no steps to export")
    with warnings.catch_warnings():
        # Minari's advice to fill in optional metadata (email, code link, eval env) is not a problem.
        warnings.filterwarnings("ignore", message=r"`\w+` is set to None", category=UserWarning)
        try:
            return minari.create_dataset_from_buffers(
                dataset_id=dataset_id,
                buffer=episodes,
                env=env_id if env_id is not None and env_id in gym.registry else None,
                algorithm_name=config.general.algo_name,
                author=author,
                description=description or f"JoyRL {config.general.mode} run {task_dir.name}",
                observation_space=observation_space,
                action_space=action_space,
            )
        except ValueError as exc:  # minari's own checks: a malformed id, an existing dataset of that id
            raise JoyRLError(f"minari refused dataset {dataset_id!r}: {exc}") from None
