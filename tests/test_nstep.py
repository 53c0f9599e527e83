"""n-step returns built at sample time by ``REPLAY_QUE`` (and so by ``PER_QUE``, which subclasses it).

Each test builds transitions whose observation says which env step it is, samples many rows, and checks
every distinct sampled row against the return worked out by hand (or by a slow reference walk).
"""

from __future__ import annotations

import numpy as np
import pytest

from joyrl_core import EnvSpec, ReplayQueue

SPEC = EnvSpec("test", (1,), np.dtype(np.float32), "discrete", n_actions=2)


def push_steps(buffer, rewards, terminated=None, truncated=None, start=0):
    """One env: step t has obs t, next_obs t + 0.5, reward rewards[t]."""
    n = len(rewards)
    terminated = terminated or [0] * n
    truncated = truncated or [0] * n
    for t in range(n):
        buffer.push(np.array([start + t]), 0, rewards[t], np.array([start + t + 0.5]), terminated[t], truncated[t])


def rows_by_obs(batch) -> dict[float, tuple]:
    """Sampled rows keyed by their obs: (reward, next_obs, terminated, truncated, discount)."""
    rows = {}
    for i in range(len(batch)):
        row = (float(batch.rewards[i]), float(batch.next_obs[i, 0]), float(batch.terminated[i]),
               float(batch.truncated[i]), float(batch.discounts[i]))
        key = float(batch.obs[i, 0])
        assert rows.setdefault(key, row) == row, f"row of obs {key} sampled twice with different values"
        rows[key] = row
    return rows


def sample_all(buffer, n_step, gamma, size=2000) -> dict[float, tuple]:
    rows = rows_by_obs(buffer.sample(size, n_step=n_step, gamma=gamma))
    assert len(rows) == len(buffer), "every stored row should have been sampled at least once"
    return rows


def test_one_step_is_the_plain_transition_with_discount_gamma():
    buffer = ReplayQueue(10, SPEC, seed=0)
    push_steps(buffer, [1.0, 2.0, 3.0], terminated=[0, 0, 1])
    rows = sample_all(buffer, 1, 0.9, size=200)
    assert rows == {0: (1.0, 0.5, 0.0, 0.0, pytest.approx(0.9)), 1: (2.0, 1.5, 0.0, 0.0, pytest.approx(0.9)),
                    2: (3.0, 2.5, 1.0, 0.0, pytest.approx(0.9))}
    # The default call keeps the seed's sample(batch_size) and gives discount gamma = 1.0.
    assert set(buffer.sample(5).discounts) == {1.0}


def test_n_step_sums_discounted_rewards_and_stops_at_termination():
    buffer = ReplayQueue(20, SPEC, seed=1)
    # Episode 1: steps 0..2, terminated at 2. Episode 2: steps 3..6, still running (6 is the newest).
    push_steps(buffer, [1, 2, 3, 4, 5, 6, 7], terminated=[0, 0, 1, 0, 0, 0, 0])
    g = 0.5
    rows = sample_all(buffer, 3, g)
    assert rows[0] == pytest.approx((1 + g * 2 + g**2 * 3, 2.5, 1.0, 0.0, g**3))
    assert rows[1] == pytest.approx((2 + g * 3, 2.5, 1.0, 0.0, g**2))  # ends at the terminal step 2
    assert rows[2] == pytest.approx((3, 2.5, 1.0, 0.0, g))
    assert rows[3] == pytest.approx((4 + g * 5 + g**2 * 6, 5.5, 0.0, 0.0, g**3))
    assert rows[4] == pytest.approx((5 + g * 6 + g**2 * 7, 6.5, 0.0, 0.0, g**3))
    # Windows that run past the newest transition stop there and bootstrap from its real next_obs.
    assert rows[5] == pytest.approx((6 + g * 7, 6.5, 0.0, 0.0, g**2))
    assert rows[6] == pytest.approx((7, 6.5, 0.0, 0.0, g))


def test_truncation_stops_the_window_but_keeps_the_bootstrap():
    buffer = ReplayQueue(20, SPEC, seed=2)
    # Episode cut at step 1 (time limit): not terminated, truncated. The next episode starts at step 2.
    push_steps(buffer, [1, 2, 3, 4, 5], truncated=[0, 1, 0, 0, 0])
    g = 0.9
    rows = sample_all(buffer, 4, g)
    assert rows[0] == pytest.approx((1 + g * 2, 1.5, 0.0, 1.0, g**2))  # terminated 0: bootstraps with g^2
    assert rows[1] == pytest.approx((2, 1.5, 0.0, 1.0, g))
    assert rows[2] == pytest.approx((3 + g * 4 + g**2 * 5, 4.5, 0.0, 0.0, g**3))


def test_interleaved_vectorized_envs_follow_their_own_env():
    """push_batch of 2 rows per step: env 0's next step is 2 rows on, never env 1's row."""
    buffer = ReplayQueue(50, SPEC, seed=3)
    # env 0: rewards 1, 2, 3, 4 (terminated at its step 1); env 1: rewards 10, 20, 30, 40, never done.
    env0 = [1, 2, 3, 4]
    env1 = [10, 20, 30, 40]
    term0 = [0, 1, 0, 0]
    for t in range(4):
        obs = np.array([[t], [100 + t]], dtype=np.float32)
        buffer.push_batch(obs, np.array([0, 1]), np.array([env0[t], env1[t]], dtype=np.float32), obs + 0.5,
                          np.array([term0[t], 0]), np.array([0, 0]))
    g = 0.5
    rows = sample_all(buffer, 3, g)
    assert rows[0] == pytest.approx((1 + g * 2, 1.5, 1.0, 0.0, g**2))
    assert rows[2] == pytest.approx((3 + g * 4, 3.5, 0.0, 0.0, g**2))  # newest step of env 0 reached
    assert rows[100] == pytest.approx((10 + g * 20 + g**2 * 30, 102.5, 0.0, 0.0, g**3))
    assert rows[101] == pytest.approx((20 + g * 30 + g**2 * 40, 103.5, 0.0, 0.0, g**3))
    assert rows[103] == pytest.approx((40, 103.5, 0.0, 0.0, g))


def test_wrap_around_of_the_ring():
    buffer = ReplayQueue(5, SPEC, seed=4)
    push_steps(buffer, [1, 2, 3, 4, 5, 6, 7])  # steps 0, 1 overwritten: rows hold steps 5, 6, 2, 3, 4
    g = 0.5
    rows = sample_all(buffer, 3, g, size=500)
    assert sorted(rows) == [2, 3, 4, 5, 6]
    assert rows[3] == pytest.approx((4 + g * 5 + g**2 * 6, 5.5, 0.0, 0.0, g**3))  # row 3 -> row 4 -> row 0
    assert rows[4] == pytest.approx((5 + g * 6 + g**2 * 7, 6.5, 0.0, 0.0, g**3))  # row 4 -> rows 0, 1
    # Step 6 (row 1) is the newest: row 2 after it holds the older step 2, not its successor.
    assert rows[6] == pytest.approx((7, 6.5, 0.0, 0.0, g))
    assert rows[5] == pytest.approx((6 + g * 7, 6.5, 0.0, 0.0, g**2))


def reference_rows(log, capacity, n_step, gamma):
    """Slow reference: per stored row, walk its own env's later steps in the push log."""
    by_slot = {}
    position = 0
    for call, batch in enumerate(log):
        for lane, transition in enumerate(batch):
            by_slot[position] = (call, lane, transition)
            position = (position + 1) % capacity
    by_key = {(call, lane): tr for call, lane, tr in by_slot.values()}
    expected = {}
    for call, lane, (obs, reward, next_obs, term, trunc) in by_slot.values():
        total, discount, last = 0.0, 1.0, (next_obs, term, trunc)
        for k in range(n_step):
            step = by_key.get((call + k, lane))
            # The same env's next step exists only in a call of the same width, still in the buffer.
            if step is None or (k and len(log[call + k]) != len(log[call])):
                break
            _, r, nxt, te, tr = step
            total += discount * r
            discount *= gamma
            last = (nxt, te, tr)
            if te or tr:
                break
        expected[obs] = (total, last[0], float(last[1]), float(last[2]), discount)
    return expected


@pytest.mark.parametrize("n_envs, capacity, n_step", [(1, 37, 3), (3, 40, 4), (4, 30, 5), (5, 23, 2)])
def test_random_vectorized_stream_matches_a_slow_reference(n_envs, capacity, n_step):
    rng = np.random.default_rng(n_envs * 100 + capacity)
    buffer = ReplayQueue(capacity, SPEC, seed=5)
    log = []
    obs_id = 0
    for _ in range(60):
        rows = []
        for _ in range(n_envs):
            end = rng.random()
            rows.append((float(obs_id), float(rng.integers(1, 10)), obs_id + 0.5, end < 0.1, 0.1 <= end < 0.2))
            obs_id += 1
        log.append(rows)
        obs, rewards, next_obs, term, trunc = (np.array(c, dtype=np.float32) for c in zip(*rows))
        if n_envs == 1:
            buffer.push(obs[:1], 0, rewards[0], next_obs[:1], bool(term[0]), bool(trunc[0]))
        else:
            buffer.push_batch(obs[:, None], np.zeros(n_envs, dtype=np.int64), rewards, next_obs[:, None], term, trunc)
    gamma = 0.9
    got = sample_all(buffer, n_step, gamma, size=5000)
    expected = reference_rows(log, capacity, n_step, gamma)
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-5), f"row of obs {key}"


def test_a_change_of_batch_width_does_not_join_unrelated_rows():
    buffer = ReplayQueue(20, SPEC, seed=6)
    obs = np.array([[0], [1]], dtype=np.float32)
    buffer.push_batch(obs, np.zeros(2, dtype=np.int64), np.array([1.0, 2.0]), obs + 0.5, np.zeros(2), np.zeros(2))
    push_steps(buffer, [5.0, 6.0], start=2)  # single pushes after: not the same envs' next steps
    rows = sample_all(buffer, 3, 0.5, size=300)
    assert rows[0] == pytest.approx((1.0, 0.5, 0.0, 0.0, 0.5))
    assert rows[1] == pytest.approx((2.0, 1.5, 0.0, 0.0, 0.5))
    assert rows[2] == pytest.approx((5.0 + 0.5 * 6.0, 3.5, 0.0, 0.0, 0.25))


def test_n_step_must_be_positive():
    buffer = ReplayQueue(5, SPEC, seed=0)
    push_steps(buffer, [1.0])
    with pytest.raises(ValueError, match="n_step"):
        buffer.sample(4, n_step=0)

