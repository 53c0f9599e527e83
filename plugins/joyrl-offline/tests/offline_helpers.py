"""Datasets for the offline tests: CartPole episodes of a scripted expert and of random play, written
as JoyRL task folders (``config.yaml`` naming the env, ``results/`` holding the trajectory files)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

from joyrl_core import Trajectory, TrajectoryWriter
from joyrl_core.testing import quick_overrides

# A linear controller that balances CartPole-v1 for its full 500 steps from every start state we tried.
EXPERT_WEIGHTS = np.array([0.1, 0.5, 10.0, 2.0])
SMALL_NET = "[{layer_dim: [64]}, {layer_dim: [64]}]"


def expert(obs: np.ndarray, rng: np.random.Generator) -> int:
    return int(EXPERT_WEIGHTS @ obs > 0)


def random_policy(obs: np.ndarray, rng: np.random.Generator) -> int:
    return int(rng.integers(2))


def write_task(folder: Path, n_episodes: int, policy=expert, seed: int = 1, env_id: str = "CartPole-v1") -> Path:
    """``n_episodes`` of ``policy`` on ``env_id`` as a task folder at ``folder``; returns it."""
    env = gym.make(env_id)
    rng = np.random.default_rng(seed)
    (folder / "results").mkdir(parents=True)
    (folder / "config.yaml").write_text(f"general_cfg:\n  mode: test\nenv_cfg:\n  id: {env_id}\n", encoding="utf-8")
    with TrajectoryWriter(folder / "results") as writer:
        for i in range(n_episodes):
            obs, _ = env.reset(seed=seed * 1000 + i)
            steps = []
            while True:
                action = policy(obs, rng)
                next_obs, reward, terminated, truncated, _ = env.step(action)
                steps.append((obs, action, reward, next_obs, terminated, truncated))
                obs = next_obs
                if terminated or truncated:
                    break
            states, actions, rewards, next_states, term, trunc = (np.array(column) for column in zip(*steps))
            writer.add(Trajectory(states, actions, rewards.astype(np.float32), next_states, term, trunc,
                                  float(rewards.sum())))
    env.close()
    return folder


def offline_overrides(task_root: Path, algo: str, dataset: list[Path] | list[str], **general) -> list[str]:
    """``--set`` overrides of a short, quiet offline run on CartPole-v1 with a small network."""
    layers_key = "policy_layers" if algo == "BC" else "value_layers"
    sources = "[" + ", ".join(f"'{source}'" for source in dataset) + "]"
    values = {"algo_name": algo, "max_step": 500, "online_eval_episode": 5, "max_update_steps": 300,
              "model_save_fre": 300, "seed": 1}
    values.update(general)
    return [*quick_overrides(task_root, **values), f"algo_cfg.dataset={sources}",
            f"algo_cfg.{layers_key}={SMALL_NET}", "env_cfg.id=CartPole-v1"]
