"""EnvRunner: episodes of a real gymnasium env, truncation vs termination, seeding across resets."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import joyrl_core
from joyrl_core import Buffer, EnvRunner, PolicyStep

from conftest import quick_overrides, read_episodes


def cartpole(**kwargs) -> gym.Env:
    return gym.make("CartPole-v1", **kwargs)


class ListBuffer(Buffer):
    """A Buffer that keeps every pushed transition in order, as given (for inspecting the runner)."""

    def __init__(self):
        self.rows: list[tuple] = []

    def push(self, obs, action, reward, next_obs, terminated, truncated=None, *, env_id=0, extras=None):
        self.rows.append((np.array(obs), action, reward, np.array(next_obs), terminated, truncated))

    def push_batch(self, obs, actions, rewards, next_obs, terminated, truncated=None, *, env_ids=None, extras=None):
        truncated = [None] * len(rewards) if truncated is None else truncated
        for row in zip(obs, actions, rewards, next_obs, terminated, truncated):
            self.push(*row)

    def __len__(self):
        return len(self.rows)

    def column(self, name: str) -> np.ndarray:
        index = ("obs", "action", "reward", "next_obs", "terminated", "truncated").index(name)
        return np.array([row[index] for row in self.rows])


def always(action: int):
    return lambda obs: PolicyStep(np.full(len(obs), action))


def alternate():
    state = {"t": 0}

    def act(obs):
        state["t"] += 1
        return PolicyStep(np.full(len(obs), state["t"] % 2))

    return act


def test_truncation_by_max_step_bootstraps():
    env = cartpole()
    buffer = ListBuffer()
    result = EnvRunner(env, seed=0, max_steps=5).run_episode(alternate(), buffer)

    assert result.length == 5 and result.reward == 5.0
    assert result.terminated is False
    assert len(buffer) == 5
    assert buffer.column("terminated").tolist() == [False] * 5, "a truncated episode's last transition must bootstrap"
    assert buffer.column("truncated").tolist() == [False] * 4 + [True]
    assert buffer.column("action").tolist() == [1, 0, 1, 0, 1]
    assert buffer.column("reward").tolist() == [1.0] * 5
    np.testing.assert_array_equal(buffer.column("obs")[1:], buffer.column("next_obs")[:-1])  # transitions chain


def test_truncation_by_the_env_time_limit_bootstraps():
    env = cartpole(max_episode_steps=8)
    buffer = ListBuffer()
    result = EnvRunner(env, seed=0, max_steps=100).run_episode(alternate(), buffer)

    assert result.length == 8 and result.terminated is False
    assert buffer.column("terminated").tolist() == [False] * 8
    assert buffer.column("truncated").tolist() == [False] * 7 + [True]


def test_falling_pole_terminates():
    env = cartpole()
    buffer = ListBuffer()
    result = EnvRunner(env, seed=0, max_steps=500).run_episode(always(0), buffer)

    assert result.terminated is True
    assert 5 <= result.length < 30
    assert result.reward == result.length
    terminated = buffer.column("terminated")
    assert len(terminated) == result.length
    assert terminated[-1] and not terminated[:-1].any()
    assert not buffer.column("truncated").any()
    last_next_obs = buffer.column("next_obs")[-1]
    assert abs(last_next_obs[2]) > 0.2095, "CartPole ends when the pole angle passes 12 degrees"


def test_on_step_runs_after_each_pushed_transition():
    env = cartpole()
    buffer = ListBuffer()
    calls = []
    result = EnvRunner(env, seed=0, max_steps=6).run_episode(alternate(), buffer, lambda: calls.append(len(buffer)))
    assert calls == [1, 2, 3, 4, 5, 6]
    assert result.length == 6


def run_episodes(seed, n=4, policy="random"):
    """First observations and per-episode (reward, length) of ``n`` episodes of one runner."""
    env = cartpole()
    runner = EnvRunner(env, seed=seed, max_steps=500)
    act = (lambda obs: PolicyStep(np.array([env.action_space.sample()]))) if policy == "random" else always(0)
    firsts, outcomes = [], []
    for _ in range(n):
        buffer = ListBuffer()
        result = runner.run_episode(act, buffer)
        firsts.append(buffer.column("obs")[0])
        outcomes.append((result.reward, result.length))
    env.close()
    return firsts, outcomes


@pytest.mark.parametrize("policy", ["constant", "random"])
def test_later_resets_are_not_reseeded_identically(policy):
    firsts, outcomes = run_episodes(seed=123, policy=policy)
    for i in range(len(firsts)):
        for j in range(i + 1, len(firsts)):
            assert not np.array_equal(firsts[i], firsts[j]), f"episodes {i} and {j} start alike"


@pytest.mark.parametrize("policy", ["constant", "random"])
def test_same_seed_reproduces_the_sequence(policy):
    """With a policy sampling env.action_space, this also needs the runner to seed the action space."""
    firsts_a, outcomes_a = run_episodes(seed=123, policy=policy)
    firsts_b, outcomes_b = run_episodes(seed=123, policy=policy)
    np.testing.assert_array_equal(np.array(firsts_a), np.array(firsts_b))
    assert outcomes_a == outcomes_b

    firsts_c, _ = run_episodes(seed=124, policy=policy)
    assert not np.array_equal(firsts_a[0], firsts_c[0])


def test_trainer_records_truncation_and_termination(registry, task_root):
    """episodes.csv's terminated column: 0 when max_step cut the episode, 1 when the pole fell."""
    for max_step, expect_terminated in ((4, "0"), (200, "1")):
        cfg = joyrl_core.resolve_config(
            registry, None,
            [*quick_overrides(task_root, algo_name="CONSTANT", max_episode=3, max_step=max_step, seed=2)],
        )
        _, task = joyrl_core.start_run(cfg, registry)
        rows = read_episodes(task.root)
        assert len(rows) == 3
        assert {r["terminated"] for r in rows} == {expect_terminated}
        if max_step == 4:
            assert {r["length"] for r in rows} == {"4"}
