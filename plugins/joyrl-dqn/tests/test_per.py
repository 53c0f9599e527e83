"""Prioritized replay (``PER_QUE`` from joyrl-dqn): its sum-tree, sampling frequencies, importance
weights, beta annealing, priority updates, and how a run selects and configures it."""

from __future__ import annotations

import numpy as np
import pytest

import joyrl_core

from joyrl_core import ConfigError, EnvSpec, ReplayQueue, resolve_config
from joyrl_dqn import PERConfig
from joyrl_dqn.per import PrioritizedReplayQueue, SumTree

SPEC = EnvSpec("test", (1,), np.dtype(np.float32), "discrete", n_actions=2)


def filled(capacity=10, n=10, seed=0, **config) -> PrioritizedReplayQueue:
    buffer = PrioritizedReplayQueue(capacity, SPEC, PERConfig(**config), seed=seed)
    for t in range(n):
        buffer.push(np.array([t]), 0, 0.0, np.array([t]), False)
    return buffer


def frequencies(indices: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(indices, minlength=n) / len(indices)


# -- the sum-tree ------------------------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [1, 7, 10, 16, 1000])
def test_sum_tree_total_and_leaves(capacity):
    tree = SumTree(capacity)
    values = np.random.default_rng(capacity).random(capacity)
    tree.update(np.arange(capacity), values)
    assert tree.total == pytest.approx(values.sum())
    np.testing.assert_allclose(tree[np.arange(capacity)], values)
    tree.update(np.array([0, capacity - 1]), np.array([5.0, 7.0]))
    values[[0, capacity - 1]] = [5.0, 7.0]
    assert tree.total == pytest.approx(values.sum())
    tree.set(capacity // 2, 0.25)
    values[capacity // 2] = 0.25
    assert tree.total == pytest.approx(values.sum())
    # Every inner node is the sum of its children.
    inner = np.arange(1, tree.n_leaves)
    np.testing.assert_allclose(tree._tree[inner], tree._tree[2 * inner] + tree._tree[2 * inner + 1])


def test_sum_tree_find_matches_a_cumulative_sum_search():
    rng = np.random.default_rng(1)
    tree = SumTree(37)
    values = rng.random(37) + 0.01
    tree.update(np.arange(37), values)
    u = rng.random(10000) * values.sum()
    np.testing.assert_array_equal(tree.find(u), np.searchsorted(np.cumsum(values), u, side="left"))


def test_sum_tree_sampling_frequencies_match_values():
    rng = np.random.default_rng(2)
    values = np.arange(1.0, 11.0)
    tree = SumTree(10)
    tree.update(np.arange(10), values)
    draws = tree.find(rng.random(100_000) * tree.total)
    np.testing.assert_allclose(frequencies(draws, 10), values / values.sum(), atol=0.006)
    # A priority update changes the frequencies at once.
    tree.update(np.array([0, 9]), np.array([45.0, 0.0]))
    values[[0, 9]] = [45.0, 0.0]
    draws = tree.find(rng.random(100_000) * tree.total)
    freq = frequencies(draws, 10)
    np.testing.assert_allclose(freq, values / values.sum(), atol=0.006)
    assert freq[0] == pytest.approx(0.5, abs=0.006) and freq[9] == 0


def test_sum_tree_duplicate_leaves_last_value_wins():
    tree = SumTree(4)
    tree.update(np.array([1, 2, 1]), np.array([3.0, 4.0, 5.0]))
    assert tree.total == pytest.approx(9.0)
    assert tree[1] == 5.0


# -- the PER_QUE buffer ------------------------------------------------------------------------------


def test_new_transitions_get_the_largest_priority_so_far():
    buffer = filled(alpha=0.5)
    np.testing.assert_allclose(buffer.tree[np.arange(10)], 1.0)  # max priority starts at 1
    buffer.update_priorities(np.array([2, 3]), np.array([-8.0, 3.0]))
    buffer.push(np.array([10]), 0, 0.0, np.array([10]), False)  # overwrites row 0
    assert buffer.tree[0] == pytest.approx((8.0 + 1e-6) ** 0.5)
    assert buffer.tree[2] == pytest.approx((8.0 + 1e-6) ** 0.5)
    assert buffer.tree[3] == pytest.approx((3.0 + 1e-6) ** 0.5)
    obs = np.zeros((3, 1), dtype=np.float32)
    buffer.push_batch(obs, np.zeros(3, dtype=np.int64), np.zeros(3), obs, np.zeros(3))
    np.testing.assert_allclose(buffer.tree[np.array([1, 2, 3])], (8.0 + 1e-6) ** 0.5)


def test_sampling_frequencies_follow_priorities_to_the_alpha():
    alpha = 0.7
    buffer = filled(alpha=alpha, seed=3)
    td = np.arange(10.0)  # row i: |TD error| = i
    buffer.update_priorities(np.arange(10), td)
    p = (td + 1e-6) ** alpha
    draws = np.concatenate([buffer.sample(1000).indices for _ in range(100)])
    np.testing.assert_allclose(frequencies(draws, 10), p / p.sum(), atol=0.005)
    # Updating priorities changes what is drawn.
    buffer.update_priorities(np.arange(10), td[::-1])
    draws = np.concatenate([buffer.sample(1000).indices for _ in range(100)])
    np.testing.assert_allclose(frequencies(draws, 10), p[::-1] / p.sum(), atol=0.005)


def test_sampling_is_stratified():
    """One draw per equal segment of the total: with equal priorities, each row once per batch of 10."""
    buffer = filled(seed=4)
    for _ in range(5):
        assert sorted(buffer.sample(10).indices) == list(range(10))


def test_importance_weights_formula_and_beta_annealing():
    alpha, beta_start, beta_steps = 0.6, 0.4, 100
    buffer = filled(capacity=20, n=10, seed=5, alpha=alpha, beta_start=beta_start, beta_steps=beta_steps)
    td = np.array([0.5, 1.0, 2.0, 4.0, 0.1, 3.0, 0.0, 1.5, 2.5, 0.7])
    buffer.update_priorities(np.arange(10), td)
    beta = beta_start + (1 - beta_start) * 10 / beta_steps  # 10 transitions pushed so far
    assert buffer.beta == pytest.approx(beta)
    p = (td + 1e-6) ** alpha
    probs = p / p.sum()
    batch = buffer.sample(64)
    w = (10 * probs[batch.indices]) ** -beta
    np.testing.assert_allclose(batch.weights, w / w.max(), rtol=1e-5)
    assert batch.weights.dtype == np.float32 and batch.weights.max() == pytest.approx(1.0)
    # Rarely drawn (low-priority) rows weigh more.
    order = np.argsort(probs[batch.indices])
    assert np.all(np.diff(batch.weights[order]) <= 1e-6) and batch.weights.min() < 0.9

    for t in range(200):
        buffer.push(np.array([t]), 0, 0.0, np.array([t]), False)
    assert buffer.beta == 1.0  # annealed to 1 after beta_steps transitions


def test_uniform_when_alpha_is_zero():
    buffer = filled(alpha=0.0, seed=6)
    buffer.update_priorities(np.arange(10), np.arange(10.0) * 100)
    batch = buffer.sample(100)
    np.testing.assert_allclose(batch.weights, 1.0)


def test_n_step_returns_come_from_replay_queue():
    """PER builds n-step rows exactly as REPLAY_QUE does for the same indices."""
    per = PrioritizedReplayQueue(16, SPEC, PERConfig(), seed=7)
    plain = ReplayQueue(16, SPEC, seed=7)
    rng = np.random.default_rng(7)
    for t in range(20):
        args = (np.array([t]), 0, float(rng.integers(5)), np.array([t + 0.5]), rng.random() < 0.2, False)
        per.push(*args)
        plain.push(*args)
    batch = per.sample(256, n_step=3, gamma=0.9)
    reference = plain._gather(batch.indices, batch.weights, 3, 0.9)
    for name in ("obs", "rewards", "next_obs", "terminated", "discounts"):
        np.testing.assert_array_equal(getattr(batch, name), getattr(reference, name))


def test_per_config_validation(registry):
    with pytest.raises(joyrl_core.ConfigError, match=r"algo_cfg.beta_start: expected a value <= 1.0, got 1.5"):
        joyrl_core.resolve_config(registry, None, ["algo_cfg.buffer_type=PER_QUE", "algo_cfg.beta_start=1.5"])
    with pytest.raises(ValueError, match="priority_eps"):
        PERConfig(priority_eps=0.0)


# -- registration and config -------------------------------------------------------------------------


def test_per_que_is_a_buffer_of_joyrl_dqn(registry):
    component = registry.get("buffer", "PER_QUE")
    assert component.distribution == "joyrl-dqn" and component.config_type is PERConfig


def test_per_options_sit_in_algo_cfg_beside_the_algorithms(registry):
    cfg = resolve_config(registry, None, ["algo_cfg.buffer_type=PER_QUE", "algo_cfg.alpha=0.7",
                                          "algo_cfg.beta_steps=500", "algo_cfg.n_step=3"])
    assert cfg.buffer == PERConfig(alpha=0.7, beta_steps=500)
    assert cfg.algo.n_step == 3 and not hasattr(cfg.algo, "alpha")
    buffer = registry.get("buffer", "PER_QUE").factory(100, SPEC, cfg.buffer, 0)
    assert isinstance(buffer, PrioritizedReplayQueue) and buffer.config.alpha == 0.7
    with pytest.raises(ConfigError, match="alpha"):
        resolve_config(registry, None, ["algo_cfg.alpha=0.7"])  # REPLAY_QUE has no alpha
    with pytest.raises(ConfigError, match="beta_start"):
        resolve_config(registry, None, ["algo_cfg.buffer_type=PER_QUE", "algo_cfg.beta_start=2"])
