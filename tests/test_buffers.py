"""REPLAY_QUE: a FIFO ring buffer in numpy arrays, sampled uniformly with replacement."""

from __future__ import annotations

import numpy as np
import pytest

from joyrl_core import Batch, EnvSpec, ReplayQueue

SPEC = EnvSpec("Test-v0", (3,), np.dtype(np.float32), "discrete", n_actions=4)


def transition(i: int):
    """Transition number ``i``: every field is derived from ``i`` so a row tells where it came from."""
    obs = np.full(3, i, dtype=np.float32)
    return obs, i % 4, float(i), obs + 1, i % 2 == 1, i % 3 == 0


def transitions(values):
    rows = [transition(i) for i in values]
    return tuple(np.array(col) for col in zip(*rows))


def stored(buffer: ReplayQueue) -> list[int]:
    """The transition numbers held by ``buffer``, read through ``sample`` and checked row by row."""
    batch = buffer.sample(5000)
    for k in range(len(batch)):
        i = int(batch.rewards[k])
        obs, action, reward, next_obs, terminated, truncated = transition(i)
        np.testing.assert_array_equal(batch.obs[k], obs)
        np.testing.assert_array_equal(batch.next_obs[k], next_obs)
        assert batch.actions[k] == action
        assert batch.terminated[k] == float(terminated) and batch.truncated[k] == float(truncated)
    return sorted({int(r) for r in batch.rewards})


def slot(buffer: ReplayQueue, index: int) -> int:
    """The transition number stored in ring slot ``index`` (found among sampled indices)."""
    batch = buffer.sample(5000)
    hits = batch.rewards[batch.indices == index]
    assert len(hits), f"slot {index} never sampled"
    return int(hits[0])


def test_from_registry(registry):
    buffer = registry.get("buffer", "REPLAY_QUE").factory(7, SPEC, None, 0)
    assert isinstance(buffer, ReplayQueue) and buffer.capacity == 7 and len(buffer) == 0


def test_push_and_sample_shapes_and_dtypes():
    buffer = ReplayQueue(10, SPEC, seed=0)
    for i in range(4):
        buffer.push(*transition(i))
        assert len(buffer) == i + 1

    batch = buffer.sample(6)

    assert isinstance(batch, Batch) and len(batch) == 6
    assert batch.obs.shape == (6, 3) and batch.obs.dtype == np.float32
    assert batch.next_obs.shape == (6, 3) and batch.next_obs.dtype == np.float32
    assert batch.actions.shape == (6,) and batch.actions.dtype == np.int64
    assert batch.rewards.shape == (6,) and batch.rewards.dtype == np.float32
    assert batch.terminated.shape == (6,) and batch.terminated.dtype == np.float32
    assert batch.truncated.shape == (6,) and batch.truncated.dtype == np.float32
    assert batch.indices.shape == (6,) and np.issubdtype(batch.indices.dtype, np.integer)
    assert batch.weights.shape == (6,) and batch.weights.dtype == np.float32 and (batch.weights == 1).all()
    assert ((batch.indices >= 0) & (batch.indices < 4)).all(), "only filled slots are sampled"
    assert stored(buffer) == [0, 1, 2, 3]


def test_continuous_actions_and_discrete_observations():
    spec = EnvSpec("Cont-v0", (), np.dtype(np.int64), "continuous", action_shape=(2,),
                   action_low=np.full(2, -1, np.float32), action_high=np.ones(2, np.float32))
    buffer = ReplayQueue(5, spec, seed=0)
    buffer.push(3, np.array([0.5, -0.25]), 1.0, 4, False)
    batch = buffer.sample(2)
    assert batch.obs.shape == (2,) and batch.obs.dtype == np.int64 and (batch.obs == 3).all()
    assert batch.actions.shape == (2, 2) and batch.actions.dtype == np.float32
    np.testing.assert_array_equal(batch.actions[0], [0.5, -0.25])


def test_wrap_around_overwrites_oldest():
    buffer = ReplayQueue(5, SPEC, seed=0)
    for i in range(8):
        buffer.push(*transition(i))

    assert len(buffer) == 5
    assert stored(buffer) == [3, 4, 5, 6, 7]
    # Slots 0..2 were overwritten by 5..7; slots 3, 4 still hold 3, 4.
    assert [slot(buffer, s) for s in range(5)] == [5, 6, 7, 3, 4]


def test_push_batch_and_push_mix():
    buffer = ReplayQueue(10, SPEC, seed=0)
    buffer.push_batch(*transitions(range(4)))
    assert len(buffer) == 4 and stored(buffer) == [0, 1, 2, 3]
    buffer.push(*transition(4))
    buffer.push_batch(*transitions(range(5, 12)))  # wraps: 10 and 11 replace 0 and 1
    assert len(buffer) == 10
    assert stored(buffer) == list(range(2, 12))
    assert [slot(buffer, s) for s in range(10)] == [10, 11, 2, 3, 4, 5, 6, 7, 8, 9]
    buffer.push(*transition(12))
    assert stored(buffer) == list(range(3, 13))


@pytest.mark.parametrize("filled_before", [0, 2])
def test_push_batch_larger_than_capacity_keeps_newest(filled_before):
    buffer = ReplayQueue(5, SPEC, seed=0)
    for i in range(filled_before):
        buffer.push(*transition(100 + i))

    buffer.push_batch(*transitions(range(12)))

    assert len(buffer) == 5
    assert stored(buffer) == [7, 8, 9, 10, 11]
    # The next push overwrites the oldest survivor (7), not a newer one.
    buffer.push(*transition(12))
    assert stored(buffer) == [8, 9, 10, 11, 12]


def test_seeded_sampling_is_reproducible():
    def indices(seed):
        buffer = ReplayQueue(50, SPEC, seed=seed)
        buffer.push_batch(*transitions(range(40)))
        return [buffer.sample(16).indices.tolist() for _ in range(3)]

    assert indices(7) == indices(7)
    assert indices(7) != indices(8)
    first = indices(7)
    assert first[0] != first[1], "successive samples continue the RNG"


def test_sampling_is_uniform_with_replacement():
    buffer = ReplayQueue(8, SPEC, seed=1)
    buffer.push_batch(*transitions(range(8)))
    batch = buffer.sample(16000)
    counts = np.bincount(batch.indices, minlength=8)
    assert counts.sum() == 16000
    assert (np.abs(counts - 2000) < 200).all(), counts
    assert len(buffer.sample(20)) == 20  # more than stored


def test_truncated_defaults_to_false():
    buffer = ReplayQueue(4, SPEC, seed=0)
    buffer.push(np.zeros(3), 1, 1.0, np.ones(3), False)
    obs, actions, rewards, next_obs, terminated, _ = transitions([3, 6])  # both truncated in the helper
    buffer.push_batch(obs, actions, rewards, next_obs, terminated)
    batch = buffer.sample(100)
    assert len(buffer) == 3 and (batch.truncated == 0).all()


def test_sample_returns_copies():
    buffer = ReplayQueue(4, SPEC, seed=0)
    buffer.push(*transition(1))
    batch = buffer.sample(2)
    buffer.push_batch(*transitions(range(10, 14)))
    assert (batch.rewards == 1).all() and (batch.obs == 1).all()


def test_empty_buffer_and_bad_capacity():
    with pytest.raises(ValueError, match="empty buffer"):
        ReplayQueue(3, SPEC, seed=0).sample(1)
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        ReplayQueue(0, SPEC, seed=0)


# -- TransitionLog ----------------------------------------------------------------------------------


def test_transition_log_keeps_pushes_in_order_and_grows():
    from joyrl_core import TransitionLog

    log = TransitionLog(capacity=2)
    assert len(log) == 0 and log.arrays() == {}
    for i in range(5):
        log.push(np.full(3, i, dtype=np.float32), i % 2, float(i), np.full(3, i + 1, dtype=np.float32), i == 4, i == 3)
    log.push_batch(np.full((3, 3), 9, dtype=np.float32), np.array([1, 0, 1]), np.array([0.5, 0.5, 0.5]),
                   np.full((3, 3), 10, dtype=np.float32), np.array([False, False, True]))
    arrays = log.arrays()
    assert list(arrays) == [*TransitionLog.FIELDS, "extras"] and arrays["extras"] == {} and len(log) == 8
    np.testing.assert_array_equal(arrays["env_ids"], [0, 0, 0, 0, 0, 0, 1, 2])
    np.testing.assert_array_equal(arrays["obs"][:, 0], [0, 1, 2, 3, 4, 9, 9, 9])
    np.testing.assert_array_equal(arrays["actions"], [0, 1, 0, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(arrays["rewards"], [0, 1, 2, 3, 4, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(arrays["next_obs"][:, 2], [1, 2, 3, 4, 5, 10, 10, 10])
    np.testing.assert_array_equal(arrays["terminated"], [0, 0, 0, 0, 1, 0, 0, 1])
    np.testing.assert_array_equal(arrays["truncated"], [0, 0, 0, 1, 0, 0, 0, 0])
    assert arrays["obs"].dtype == np.float32 and arrays["rewards"].dtype == np.float32
    assert arrays["terminated"].dtype == bool

    # arrays() hands out copies: clearing and pushing again leaves them as they were.
    log.clear()
    assert len(log) == 0
    log.push(np.zeros(3, dtype=np.float32), 1, -1.0, np.zeros(3, dtype=np.float32), False)
    assert arrays["rewards"][0] == 0 and log.arrays()["rewards"].tolist() == [-1.0]
