"""ROLLOUT: steps in order per env stream, extras row-aligned, GAE(lambda) against a hand computation,
minibatch epochs, clearing, and the capability check that refuses it to a replay algorithm."""

from __future__ import annotations

import numpy as np
import pytest

import joyrl_core
from joyrl_core import BufferCapabilities, ConfigError, EnvSpec, RolloutBuffer, RunShape

SPEC = EnvSpec("test", (2,), np.dtype(np.float32), "discrete", n_actions=2)
GAMMA, LAM = 0.9, 0.8


def filled_rollout():
    """Two streams, four steps. Stream 0 is truncated at t=1 and goes on past the rollout's end;
    stream 1 terminates at t=2 and starts a new episode at t=3 that the rollout's end cuts."""
    buffer = RolloutBuffer(n_steps=4, n_streams=2, env_spec=SPEC, seed=0)
    rewards = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]], dtype=np.float32)
    values = np.array([[0.5, 1.5], [2.5, 3.5], [4.5, 5.5], [6.5, 7.5]], dtype=np.float32)
    terminated = np.array([[0, 0], [0, 0], [0, 1], [0, 0]], dtype=np.float32)
    truncated = np.array([[0, 0], [1, 0], [0, 0], [0, 0]], dtype=np.float32)
    for t in range(4):
        # obs[:, 0] says (t, stream); next_obs[:, 0] too, so value_of below can tell which it was asked for.
        obs = np.array([[10 * t + s, 0] for s in range(2)], dtype=np.float32)
        next_obs = obs + np.array([[100, 0]], dtype=np.float32)
        buffer.push_batch(obs, np.array([t % 2, 1]), rewards[t], next_obs, terminated[t], truncated[t],
                          extras={"value": values[t], "log_prob": -values[t]})
    return buffer, rewards, values


def test_gae_by_hand_with_truncation_termination_and_the_rollout_boundary():
    buffer, r, v = filled_rollout()
    assert buffer.full and len(buffer) == 8
    asked = []

    def value_of(next_obs):
        asked.extend(next_obs[:, 0].tolist())
        return 1000.0 + next_obs[:, 0]

    buffer.compute_gae(value_of, GAMMA, LAM)
    # Bootstrapped: stream 0's truncated step (t=1) and both streams' last steps; never the terminated one.
    assert sorted(asked) == [110.0, 130.0, 131.0]
    boot_s0_t1, boot_s0_t3, boot_s1_t3 = 1110.0, 1130.0, 1131.0
    g, gl = GAMMA, GAMMA * LAM
    # Stream 0: t=3 bootstraps across the rollout's end, t=1 from the truncated episode's final obs.
    a0_3 = r[3, 0] + g * boot_s0_t3 - v[3, 0]
    a0_2 = r[2, 0] + g * v[3, 0] - v[2, 0] + gl * a0_3
    a0_1 = r[1, 0] + g * boot_s0_t1 - v[1, 0]  # the truncation stops the trace
    a0_0 = r[0, 0] + g * v[1, 0] - v[0, 0] + gl * a0_1
    # Stream 1: t=2 terminated (no future), t=3 is a new episode cut by the rollout's end.
    a1_3 = r[3, 1] + g * boot_s1_t3 - v[3, 1]
    a1_2 = r[2, 1] - v[2, 1]
    a1_1 = r[1, 1] + g * v[2, 1] - v[1, 1] + gl * a1_2
    a1_0 = r[0, 1] + g * v[1, 1] - v[0, 1] + gl * a1_1
    expected = np.array([[a0_0, a1_0], [a0_1, a1_1], [a0_2, a1_2], [a0_3, a1_3]], dtype=np.float32)

    batch = buffer.batch(np.arange(8))
    np.testing.assert_allclose(batch.extras["advantages"].reshape(4, 2), expected, rtol=1e-5)
    np.testing.assert_allclose(batch.extras["returns"].reshape(4, 2), expected + v, rtol=1e-5)
    np.testing.assert_array_equal(batch.env_ids, [0, 1] * 4)


def test_minibatches_cover_the_rollout_each_epoch_with_rows_aligned():
    buffer, _, values = filled_rollout()
    buffer.compute_gae(lambda obs: np.zeros(len(obs)), GAMMA, LAM)
    batches = list(buffer.minibatches(batch_size=3, n_epochs=2))
    assert [len(b) for b in batches] == [3, 3, 2, 3, 3, 2]
    for epoch in (batches[:3], batches[3:]):
        assert sorted(np.concatenate([b.indices for b in epoch]).tolist()) == list(range(8))
    for b in batches:
        t, s = b.obs[:, 0] // 10, b.obs[:, 0] % 10
        np.testing.assert_array_equal(b.extras["value"], values[t.astype(int), s.astype(int)])
        np.testing.assert_array_equal(b.extras["log_prob"], -b.extras["value"])
        np.testing.assert_array_equal(b.env_ids, s)


def test_full_rollout_refuses_pushes_until_cleared():
    buffer, _, _ = filled_rollout()
    with pytest.raises(ValueError, match="full"):
        buffer.push_batch(np.zeros((2, 2)), np.zeros(2), np.zeros(2), np.zeros((2, 2)), np.zeros(2))
    buffer.clear()
    assert len(buffer) == 0 and not buffer.full
    with pytest.raises(ValueError, match="full rollout"):
        buffer.compute_gae(lambda obs: np.zeros(len(obs)), GAMMA, LAM)


def test_streams_fill_on_their_own_when_pushed_by_id():
    buffer = RolloutBuffer(n_steps=2, n_streams=3, env_spec=SPEC)
    for step in range(2):
        for stream in (2, 0, 1):  # as batches of several workers arrive, in any order
            buffer.push_batch(np.full((1, 2), 10 * step + stream), np.zeros(1), np.zeros(1), np.zeros((1, 2)),
                              np.zeros(1), env_ids=np.array([stream]), extras={"value": np.array([stream])})
        assert len(buffer) == 3 * (step + 1)
    assert buffer.full
    batch = buffer.batch(np.arange(6))
    np.testing.assert_array_equal(batch.obs[:, 0], [0, 1, 2, 10, 11, 12])
    np.testing.assert_array_equal(batch.extras["value"], [0, 1, 2, 0, 1, 2])


def test_one_env_pushes_and_missing_value_extra():
    buffer = RolloutBuffer(n_steps=3, n_streams=1, env_spec=SPEC)
    for t in range(3):
        buffer.push(np.full(2, t), 1, 1.0, np.full(2, t + 1), False, False, extras={"other": 0.5})
    assert buffer.full
    with pytest.raises(ValueError, match="no 'value' extra"):
        buffer.compute_gae(lambda obs: np.zeros(len(obs)), GAMMA, LAM)


def test_capabilities_and_the_registered_factory(registry):
    component = registry.get("buffer", "ROLLOUT")
    assert component.capabilities == RolloutBuffer.capabilities
    assert component.capabilities.names() == ["ordered_rollouts", "extra_columns"]
    config = component.config_type(n_steps=5)
    buffer = component.factory(None, SPEC, config, 0, RunShape(n_envs=4, n_workers=2, backend="ray"))
    assert (buffer.n_steps, buffer.n_streams) == (5, 8)
    assert BufferCapabilities(random_sampling=True).missing(BufferCapabilities(ordered_rollouts=True)) == [
        "ordered_rollouts"]
    with pytest.raises(ConfigError, match="does not sample at random"):
        buffer.sample(4)


class _NeedsRollouts:
    """An algorithm plugin that declares it needs an ordered rollout buffer with extras."""

    @staticmethod
    @joyrl_core.hookimpl
    def register_algorithms(register):
        from dataclasses import dataclass

        @dataclass
        class Config:
            buffer_type: str = joyrl_core.option("REPLAY_QUE", "buffer component")

        register("NEEDS_ROLLOUTS", lambda *args: None, Config, "test fixture",
                 buffer_needs=lambda config, shape: BufferCapabilities(ordered_rollouts=True, extra_columns=True))


def test_a_buffer_that_cannot_serve_the_algorithm_is_refused_in_one_line(tmp_path):
    registry = joyrl_core.load_registry(extra_plugins=[("needs_rollouts", _NeedsRollouts)])
    with pytest.raises(ConfigError) as info:
        joyrl_core.resolve_config(registry, None, ["general_cfg.algo_name=NEEDS_ROLLOUTS",
                                                   f"general_cfg.task_dir={tmp_path / 'tasks'}"])
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("defaults: algo_cfg.buffer_type: algorithm 'NEEDS_ROLLOUTS' (<local>) needs")
    assert "ordered_rollouts, extra_columns" in message and "'REPLAY_QUE' (joyrl-core)" in message
    assert message.endswith("installed buffers that do: ROLLOUT")
    config = joyrl_core.resolve_config(registry, None, ["general_cfg.algo_name=NEEDS_ROLLOUTS",
                                                        "algo_cfg.buffer_type=ROLLOUT", "algo_cfg.n_steps=8"])
    assert config.buffer.n_steps == 8
    assert not (tmp_path / "tasks").exists()
