"""Packed transitions (what ``ray`` workers ship): unpacked byte for byte, whatever the observations, and a
learner's buffer fed from them holds exactly what it holds fed from the collected arrays."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import joyrl_core
from joyrl_core import TransitionLog, pack_transitions
from joyrl_core.run import shipping

from conftest import quick_overrides

COLUMNS = ("obs", "actions", "rewards", "next_obs", "terminated", "truncated", "env_ids")


def stacked_streams(steps: int, streams: int, k: int, frame: tuple[int, ...], dtype, seed: int = 0,
                    pad: str = "reset") -> dict:
    """What a vector env of frame stacks pushes: stacks shifting one frame a step, episodes ending
    (terminated or truncated, with the real final stack as next_obs) and restarting with a padded stack."""
    rng = np.random.default_rng(seed)
    log = TransitionLog()

    def new_frame(n):
        return (rng.integers(0, 255, (n, 1, *frame)) if dtype != np.float32 else rng.normal(size=(n, 1, *frame))).astype(dtype)

    def reset_stack(n):
        first = new_frame(n)
        return np.repeat(first, k, axis=1) if pad == "reset" else np.concatenate(
            [np.zeros((n, k - 1, *frame), dtype), first], axis=1)

    obs = reset_stack(streams)
    for _ in range(steps):
        real_next = np.concatenate([obs[:, 1:], new_frame(streams)], axis=1)
        terminated = rng.random(streams) < 0.04
        truncated = ~terminated & (rng.random(streams) < 0.03)
        log.push_batch(obs, rng.integers(0, 4, streams), rng.normal(size=streams).astype(np.float32), real_next,
                       terminated, truncated, extras={"value": rng.normal(size=streams).astype(np.float32)})
        done = terminated | truncated
        obs = real_next.copy()
        if done.any():
            obs[done] = reset_stack(int(done.sum()))
    return log.arrays()


def assert_same(got: dict, want: dict, rows=slice(None)):
    for name in COLUMNS:
        assert got[name].dtype == want[name].dtype and got[name].shape == want[name][rows].shape, name
        np.testing.assert_array_equal(got[name], want[name][rows], err_msg=name)
    for name, column in want["extras"].items():
        np.testing.assert_array_equal(got["extras"][name], column[rows], err_msg=name)


@pytest.mark.parametrize("streams", [1, 3])
@pytest.mark.parametrize("dtype, frame, pad", [(np.uint8, (16, 16), "reset"), (np.uint8, (8, 40), "zero"),
                                               (np.float32, (9, 9), "reset")])
def test_frame_stacks_come_back_byte_for_byte_and_ship_about_one_frame_a_step(streams, dtype, frame, pad):
    arrays = stacked_streams(120, streams, 4, frame, dtype, pad=pad)
    assert arrays["terminated"].any() and arrays["truncated"].any()
    packed = pack_transitions(arrays, streams)
    assert_same(packed.unpack(), arrays)
    for start in range(0, len(packed), streams):  # as a learner takes it: vector step by vector step
        assert_same(packed.unpack(start, start + streams), arrays, slice(start, start + streams))
    one_frame = int(np.prod(frame)) * np.dtype(dtype).itemsize
    raw = arrays["obs"].nbytes + arrays["next_obs"].nbytes
    # About 1 frame a step (plus a stack per episode start) instead of 8: obs and next_obs, 4 frames each.
    assert packed.nbytes < raw / 4 and packed.obs_stacks.nbytes + packed.next_frames.nbytes + \
        packed.next_stacks.nbytes < 1.8 * one_frame * len(packed)
    # Rows in another order than the one given stay exact (they only chain less).
    assert_same(pack_transitions(arrays, streams + 1).unpack(), arrays)


def test_any_observation_comes_back_exactly():
    rng = np.random.default_rng(1)
    n = 40
    # Float vectors with NaN and -0.0 (compared as bytes), chained as an env's states are.
    states = rng.normal(size=(n + 1, 300)).astype(np.float32)
    states[5, 3], states[9, 0] = np.nan, -0.0
    arrays = {"obs": states[:-1].copy(), "next_obs": states[1:].copy(), "actions": rng.normal(size=(n, 2)),
              "rewards": rng.normal(size=n).astype(np.float32), "terminated": np.zeros(n, bool),
              "truncated": np.zeros(n, bool), "env_ids": np.zeros(n, np.int64), "extras": {}}
    arrays["next_obs"][20] = 0.0  # an episode end: next_obs is not the next obs
    packed = pack_transitions(arrays, 1)
    assert_same(packed.unpack(), arrays)
    assert packed.obs_sent.sum() == 2 and packed.nbytes < 0.6 * (arrays["obs"].nbytes + arrays["next_obs"].nbytes)
    # Images with no stack axis (a (k, ...) whose "frames" seldom shift) and small observations: exact.
    image = {**arrays, "obs": rng.random((n, 32, 32)) < 0.5, "next_obs": rng.random((n, 32, 32)) < 0.5}
    assert_same(pack_transitions(image, 1).unpack(), image)
    small = {**arrays, "obs": states[:-1, :4].copy(), "next_obs": states[1:, :4].copy()}
    packed = pack_transitions(small, 1)
    assert packed.obs_stacks.nbytes == small["obs"].nbytes  # shipped whole: below MIN_PACKED_OBS_BYTES
    assert_same(packed.unpack(), small)
    # The packed batch shares no memory with the collector's arrays, which it reuses.
    packed.columns["rewards"][:] = 0
    assert small["rewards"].any()


def catch_context(registry, tmp_path, buffer_type: str, max_step: int | None) -> joyrl_core.RunContext:
    """A run context (no run) of DQN on 4-frame stacks of Catch, 3 envs a worker."""
    from joyrl_core.components.wrappers import resolve_wrappers
    from joyrl_core.outputs.task import create_task_dir
    from joyrl_core.run.envs import build_env

    cfg = joyrl_core.resolve_config(registry, None, [
        *quick_overrides(tmp_path / "tasks", algo_name="DQN", env_name="catch", seed=3,
                         max_step="null" if max_step is None else max_step),
        "env_cfg.wrappers=[{name: FrameStackObservation, stack_size: 4}]", "env_cfg.n_envs=3",
        f"algo_cfg.buffer_type={buffer_type}", "algo_cfg.buffer_size=1000", "algo_cfg.learning_starts=100000"])
    probe = build_env(registry.get("env", "catch").factory, "catch", cfg.env, max_step,
                      resolve_wrappers(cfg.env_wrap.wrappers, registry, cfg.source))
    spec = joyrl_core.EnvSpec.from_env(probe, "catch")
    task = create_task_dir(cfg.general.task_dir, "train", "catch", "DQN")
    return joyrl_core.RunContext(config=cfg, registry=registry, task=task, env_spec=spec, device="cpu",
                                 log=logging.getLogger("test_shipping"))


@pytest.mark.parametrize("buffer_type, max_step", [("FRAME_QUE", None), ("FRAME_QUE", 4), ("REPLAY_QUE", None)])
def test_the_learners_buffer_holds_what_the_worker_collected(registry, tmp_path, monkeypatch, buffer_type, max_step):
    """A worker's packed chunks, pushed by the learner vector step by vector step, leave its buffer
    exactly as the collected arrays pushed the same way leave a buffer of the same seed."""
    from joyrl_backend_ray.actors import Learner, RolloutWorker

    monkeypatch.setattr(shipping, "MIN_PACKED_OBS_BYTES", 0)  # Catch's 4x10x5 stacks are small
    run = catch_context(registry, tmp_path, buffer_type, max_step)
    learner, worker = Learner(run, 0, 1), RolloutWorker(run, 0)
    reference = run.make_buffer(run.seed_for("train", 0))
    worker.version = 0
    shipped = collected = 0
    for call in range(6):  # chunks of 10 vector steps: episodes (9 steps, or cut at 4) span chunks
        _, packed = worker.collect(0, [], call * 30, 10)
        arrays = worker.sink.arrays()
        assert arrays["obs"].dtype == np.bool_  # what the env gives, never converted on the worker
        shipped += packed.nbytes
        collected += sum(a.nbytes for name, a in arrays.items() if name != "extras")
        learner.train(packed, 0, 0, 10, 3, 0, call * 30, [0] * 10, 10**9)
        for t in range(10):
            rows = slice(3 * t, 3 * t + 3)
            reference.push_batch(*(arrays[name][rows] for name in COLUMNS[:6]), env_ids=np.arange(3))
    assert arrays["truncated"].any() if max_step else arrays["terminated"].any()
    assert len(learner.buffer) == len(reference) == 180
    for a, b in ((learner.buffer.sample(256), reference.sample(256)), (learner.buffer.sample(64, 3, 0.9),
                                                                       reference.sample(64, 3, 0.9))):
        for name in ("obs", "actions", "rewards", "next_obs", "terminated", "truncated", "indices", "env_ids"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert shipped < 0.5 * collected
