"""Vectorized collection: per-env episode accounting, final observations, truncation, the trainer's CSV."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import joyrl_core
from joyrl_core import EnvRunner, EnvSpec, PolicyStep, ReplayQueue
from joyrl_core.run.rollout import VectorEnvRunner

from conftest import quick_overrides, read_episodes

SEED = 11


def lean_policy(obs: np.ndarray) -> PolicyStep:
    """Push the cart towards where the pole leans: deterministic, and episodes of varied length."""
    return PolicyStep((obs[:, 2] > 0).astype(np.int64))


def make_vector(n: int, max_step: int) -> gym.vector.VectorEnv:
    def make():
        return gym.wrappers.TimeLimit(gym.make("CartPole-v1"), max_episode_steps=max_step)

    return gym.vector.SyncVectorEnv([make] * n, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


def collect(n_envs: int, steps: int, max_step: int = 500):
    venv = make_vector(n_envs, max_step)
    spec = EnvSpec.from_env(gym.make("CartPole-v1"), "CartPole-v1")
    buffer = ReplayQueue(steps * n_envs, spec)
    runner = VectorEnvRunner(venv, SEED)
    finished = []
    for _ in range(steps):
        finished.extend(runner.step(lean_policy, buffer))
    venv.close()
    return finished, buffer, runner


def test_each_sub_env_plays_the_episodes_a_single_env_would():
    finished, _, _ = collect(n_envs=3, steps=400)
    for i in range(3):
        lengths = [f.result.length for f in finished if f.env_index == i]
        # gymnasium seeds sub-env i with SEED + i and lets later resets continue its RNG, like EnvRunner.
        single = EnvRunner(gym.make("CartPole-v1"), SEED + i, max_steps=500)
        expected = [single.run_episode(lean_policy).length for _ in lengths]
        assert lengths == expected and len(lengths) >= 3


def test_every_step_is_counted_once():
    steps, n = 300, 4
    finished, buffer, runner = collect(n_envs=n, steps=steps)
    in_progress = runner._lengths.sum()
    assert sum(f.result.length for f in finished) + in_progress == steps * n == len(buffer)
    assert all(f.result.reward == f.result.length for f in finished)  # CartPole pays 1 per step


def test_done_rows_keep_the_real_final_observation():
    finished, buffer, _ = collect(n_envs=2, steps=300)
    n = 2
    obs, next_obs, terminated = buffer._obs[: len(buffer)], buffer._next_obs[: len(buffer)], buffer._terminated[: len(buffer)]
    done_rows = np.flatnonzero(terminated)
    assert len(done_rows) == len(finished)
    for row in done_rows:
        # The pole fell: the stored next_obs is past the 12 degree limit or the cart off the track...
        assert abs(next_obs[row, 2]) > 0.2094 or abs(next_obs[row, 0]) > 2.4
        # ... while the same env's next row starts from the reset state, near zero.
        if row + n < len(buffer):
            assert np.all(np.abs(obs[row + n]) <= 0.05)


def test_time_limit_truncates_and_bootstraps():
    finished, buffer, _ = collect(n_envs=2, steps=40, max_step=10)
    assert [f.result.length for f in finished] == [10] * 8
    assert not any(f.result.terminated for f in finished)
    assert buffer._terminated[:80].sum() == 0 and buffer._truncated[:80].sum() == 8


@pytest.mark.parametrize("vector_mode", ["sync", "async"])
def test_trainer_counts_vectorized_episodes(registry, task_root, vector_mode):
    overrides = quick_overrides(task_root, algo_name="RANDOM", max_episode=30, seed=3, max_step=50)
    cfg = joyrl_core.resolve_config(registry, None, [*overrides, "env_cfg.n_envs=4", f"env_cfg.vector_mode={vector_mode}"])
    summary, task = joyrl_core.start_run(cfg, registry)
    rows = read_episodes(task.root)
    assert [int(r["episode"]) for r in rows] == list(range(1, 31)) and summary.episodes == 30
    steps = [int(r["env_steps"]) for r in rows]
    assert steps == sorted(steps) and all(s % 4 == 0 for s in steps)  # counted per vectorized step
    assert all(1 <= int(r["length"]) <= 50 for r in rows)
    assert summary.env_steps >= sum(int(r["length"]) for r in rows)
