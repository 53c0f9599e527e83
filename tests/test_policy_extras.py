"""Per-step policy outputs: what ``Agent.act`` returns with the actions reaches the buffer row-aligned and
unchanged through the one-env runner, the vectorized runner and the trainer; off-policy agents hand none."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import joyrl_core
from joyrl_core import EnvRunner, EnvSpec, PolicyStep, RolloutBuffer, TransitionLog
from joyrl_core.run.rollout import VectorEnvRunner

from conftest import quick_overrides


def tagging_policy():
    """Actions from the pole's lean; extras that can be checked against the row they were stored with:
    a copy of the observation, and the running count of steps acted on."""
    count = {"steps": 0}

    def act(obs: np.ndarray) -> PolicyStep:
        n = len(obs)
        tags = np.arange(count["steps"], count["steps"] + n, dtype=np.int64)
        count["steps"] += n
        return PolicyStep((obs[:, 2] > 0).astype(np.int64), {"obs_copy": obs.astype(np.float32) * 2, "tag": tags})

    return act


def test_one_env_runner_carries_extras_row_for_row():
    env = gym.make("CartPole-v1")
    spec = EnvSpec.from_env(env, "CartPole-v1")
    buffer = RolloutBuffer(n_steps=300, n_streams=1, env_spec=spec)
    log = TransitionLog()
    runner = EnvRunner(env, seed=3, max_steps=40)
    act = tagging_policy()
    steps = 0
    while steps < 100:
        steps += runner.run_episode(act, buffer).length
    batch = buffer.batch(np.arange(len(buffer)))
    np.testing.assert_array_equal(batch.extras["obs_copy"], batch.obs * 2)
    np.testing.assert_array_equal(batch.extras["tag"], np.arange(len(buffer)))
    np.testing.assert_array_equal(batch.env_ids, 0)
    # The episodes cut at max_steps are marked truncated, the rest terminated.
    assert batch.truncated.sum() + batch.terminated.sum() >= 2

    # A TransitionLog keeps the extras too (what remote workers ship).
    runner.run_episode(lambda obs: act(obs), log)
    arrays = log.arrays()
    np.testing.assert_array_equal(arrays["extras"]["obs_copy"], arrays["obs"] * 2)
    assert arrays["extras"]["tag"].dtype == np.int64 and (np.diff(arrays["extras"]["tag"]) == 1).all()


def test_vector_runner_carries_extras_with_their_sub_env():
    n = 3

    def make():
        return gym.wrappers.TimeLimit(gym.make("CartPole-v1"), max_episode_steps=30)

    venv = gym.vector.SyncVectorEnv([make] * n, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    spec = EnvSpec.from_env(make(), "CartPole-v1")
    buffer = RolloutBuffer(n_steps=50, n_streams=n, env_spec=spec)
    runner = VectorEnvRunner(venv, seed=4)
    act = tagging_policy()
    finished = []
    for _ in range(50):
        finished += runner.step(act, buffer)
    assert buffer.full and finished
    batch = buffer.batch(np.arange(len(buffer)))
    np.testing.assert_array_equal(batch.extras["obs_copy"], batch.obs * 2)
    np.testing.assert_array_equal(batch.extras["tag"], np.arange(50 * n))
    np.testing.assert_array_equal(batch.env_ids, np.tile(np.arange(n), 50))
    # Row t*n + i is sub-env i at step t: its next_obs is the obs of row (t+1)*n + i unless it ended.
    obs, next_obs = batch.obs.reshape(50, n, 4), batch.next_obs.reshape(50, n, 4)
    ended = (batch.terminated + batch.truncated).reshape(50, n) > 0
    np.testing.assert_array_equal(next_obs[:-1][~ended[:-1]], obs[1:][~ended[:-1]])
    venv.close()


def test_off_policy_agents_hand_no_extras(registry, task_root):
    """The default ``act`` is ``sample_action`` with no extras, so the trainer pushes plain transitions."""
    spec = EnvSpec.from_env(gym.make("CartPole-v1"), "CartPole-v1")
    agent = registry.get("algorithm", "RANDOM").factory(None, spec, "cpu", 0, joyrl_core.RunShape())
    step = agent.act(np.zeros((2, 4), dtype=np.float32), 0)
    assert step.actions.shape == (2,) and not step.extras
    cfg = joyrl_core.resolve_config(registry, None, [*quick_overrides(task_root, algo_name="DQN", max_episode=2),
                                                     "env_cfg.n_envs=2"])
    summary, _ = joyrl_core.start_run(cfg, registry)
    assert summary.episodes == 2


def test_run_shape_of_a_config(registry):
    cfg = joyrl_core.resolve_config(registry, None, ["env_cfg.n_envs=4", "general_cfg.n_workers=3",
                                                     "general_cfg.max_env_steps=1000"])
    shape = joyrl_core.RunShape.of(cfg)
    # The single backend has one collecting process whatever n_workers says.
    assert shape == joyrl_core.RunShape(n_envs=4, n_workers=1, backend="single", max_env_steps=1000, mode="train")
    assert shape.env_streams == 4
