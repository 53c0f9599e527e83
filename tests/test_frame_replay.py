"""``FRAME_QUE`` / ``FRAME_PER_QUE``: stacks rebuilt by index must be exactly what a plain buffer stored.

Random episodes of random lengths on several interleaved env streams (vector-env style and single pushes
in random stream order), frame stacks built as gymnasium's ``FrameStackObservation`` builds them (both
padding types), episodes ending terminated or truncated, pushed into ``REPLAY_QUE`` and ``FRAME_QUE`` of
the same capacity: every live row, gathered one-step and n-step, must agree field by field, through
several laps of the ring. With priorities, the same seed must draw the same rows with the same weights.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import FrameStackObservation

from joyrl_core import (
    EnvSpec,
    FrameReplay,
    FrameReplayConfig,
    PrioritizedFrameReplay,
    PrioritizedFrameReplayConfig,
    ReplayQueue,
    train,
)
from joyrl_dqn.per import PrioritizedReplayQueue

K, FRAME = 4, (6, 5)
SPEC = EnvSpec("frames", (K, *FRAME), np.dtype(np.uint8), "discrete", n_actions=3)
FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated", "truncated", "discounts", "env_ids", "weights")


class Streams:
    """``n`` env streams of frame-stacked episodes; each ``step`` gives one transition per stream."""

    def __init__(self, n: int, rng: np.random.Generator, padding: str, max_len: int = 12):
        self.n, self.rng, self.padding, self.max_len = n, rng, padding, max_len
        self.stacks = [self._reset() for _ in range(n)]
        self.left = rng.integers(1, max_len, size=n)

    def _frame(self) -> np.ndarray:
        return self.rng.integers(0, 256, size=FRAME, dtype=np.uint8)

    def _reset(self) -> np.ndarray:
        first = self._frame()
        pad = first if self.padding == "reset" else np.zeros(FRAME, np.uint8)
        return np.stack([pad] * (K - 1) + [first])

    def step(self):
        obs = np.stack(self.stacks)
        next_obs = np.stack([np.concatenate([s[1:], self._frame()[None]]) for s in self.stacks])
        self.left -= 1
        done = self.left == 0
        terminated = done & (self.rng.random(self.n) < 0.5)
        truncated = done & ~terminated
        for i in range(self.n):
            self.stacks[i] = self._reset() if done[i] else next_obs[i]
            if done[i]:
                self.left[i] = self.rng.integers(1, self.max_len)
        actions = self.rng.integers(0, 3, size=self.n)
        rewards = self.rng.normal(size=self.n).astype(np.float32)
        return obs, actions, rewards, next_obs, terminated.astype(np.float32), truncated.astype(np.float32)


class StreamwiseReference:
    """The slow reference for interleaved single pushes (``REPLAY_QUE`` chains consecutive rows, one env):
    one ``REPLAY_QUE`` per stream, and the global push order to map rows back."""

    def __init__(self, steps: int):
        self.queues: dict[int, ReplayQueue] = {}
        self.rows: list[tuple[int, int]] = []  # global row -> (stream, row in its queue)
        self.steps = steps

    def push(self, obs, action, reward, next_obs, terminated, truncated, env_id):
        queue = self.queues.setdefault(env_id, ReplayQueue(self.steps, SPEC))
        self.rows.append((env_id, len(queue)))
        queue.push(obs, action, reward, next_obs, terminated, truncated, env_id=env_id)

    def gather(self, rows: np.ndarray, n_step: int, gamma: float):
        parts = [self.queues[s]._gather(np.array([j]), np.ones(1, np.float32), n_step, gamma)
                 for s, j in (self.rows[r] for r in rows)]
        return {name: np.concatenate([getattr(p, name) for p in parts]) for name in FIELDS}


def fill(buffers, streams: Streams, steps: int, single: bool = False):
    """Push ``steps`` steps of every stream into each buffer: one ``push_batch`` a step, or (``single``)
    one ``push`` per row in a random stream order."""
    rng, n_streams = streams.rng, streams.n
    for _ in range(steps):
        obs, actions, rewards, next_obs, terminated, truncated = streams.step()
        if single:
            for i in rng.permutation(n_streams):
                for b in buffers:
                    b.push(obs[i], actions[i], rewards[i], next_obs[i], terminated[i], truncated[i], env_id=int(i))
        else:
            for b in buffers:
                b.push_batch(obs, actions, rewards, next_obs, terminated, truncated)


def assert_same(a, b):
    """Equal batches; n-step reward sums may differ in the last float32 bit (summation order)."""
    get = dict.get if isinstance(a, dict) else getattr
    for name in FIELDS:
        if name == "rewards":
            np.testing.assert_allclose(get(a, name), b.rewards, rtol=1e-6, atol=1e-6)
        else:
            np.testing.assert_array_equal(get(a, name), getattr(b, name), err_msg=name)


def live_slots(buffer: FrameReplay) -> np.ndarray:
    return np.arange(buffer._first_live, buffer._rows_written) % buffer.capacity


@pytest.mark.parametrize("padding", ["reset", "zero"])
@pytest.mark.parametrize("single", [False, True])
def test_stacks_and_n_step_returns_match_a_plain_buffer(padding, single):
    capacity, n_streams = 300, 3
    # Episodes of 1-11 steps take up to 1 + 2/6 frames a row (zero padding stores a zero frame and the reset
    # frame); a ring of 1.5 frames a row keeps every row the plain buffer keeps.
    plain = ReplayQueue(capacity, SPEC, seed=0)
    frames = FrameReplay(capacity, SPEC, FrameReplayConfig(frames_per_row=1.5), seed=0, env_streams=n_streams)
    streams = Streams(n_streams, np.random.default_rng(padding == "zero"), padding)
    # Single pushes come in a random stream order: REPLAY_QUE (one env per push) is no reference there.
    reference = StreamwiseReference(600) if single else None
    for lap in range(4):  # 4 x 150 steps x 3 streams: the ring wraps several times
        fill([reference or plain, frames], streams, 150, single=single)
        assert len(frames) == min(capacity, 450 * (lap + 1))
        rows = np.arange(frames._first_live, frames._rows_written)
        slots = rows % capacity
        ones = np.ones(len(slots), np.float32)
        for n_step in (1, 3, 5):
            expected = reference.gather(rows, n_step, 0.9) if single else plain._gather(slots, ones, n_step, 0.9)
            assert_same(expected, frames._gather(slots, ones, n_step, 0.9))
    batch = frames.sample(64, n_step=3, gamma=0.9)
    assert batch.obs.shape == (64, K, *FRAME) and batch.obs.dtype == np.uint8


def test_episode_ends_rebuild_the_real_final_observation_and_a_clean_first_stack():
    """Spelled out on one stream: the truncated step's next_obs is the real final stack; the next episode's
    first stack holds no frame of the previous one."""
    buffer = FrameReplay(50, SPEC, seed=0)
    streams = Streams(1, np.random.default_rng(3), "zero", max_len=4)
    pushed = []
    for _ in range(20):
        row = streams.step()
        pushed.append(row)
        buffer.push_batch(*row)
    batch = buffer._gather(np.arange(20), np.ones(20, np.float32), 1, 1.0)
    for t, (obs, _, _, next_obs, terminated, truncated) in enumerate(pushed):
        np.testing.assert_array_equal(batch.obs[t], obs[0])
        np.testing.assert_array_equal(batch.next_obs[t], next_obs[0])
        if (terminated[0] or truncated[0]) and t + 1 < len(pushed):
            assert (batch.obs[t + 1][:-1] == 0).all(), "a first stack is zero padding and its reset frame"
    assert {float(r[5][0]) for r in pushed} == {0.0, 1.0} and {float(r[4][0]) for r in pushed} == {0.0, 1.0}


def test_priorities_draw_what_per_que_draws():
    capacity, n_streams = 256, 4
    per = PrioritizedReplayQueue(capacity, SPEC, PrioritizedFrameReplayConfig(alpha=0.7, beta_steps=500), seed=5)
    frames = PrioritizedFrameReplay(capacity, SPEC, PrioritizedFrameReplayConfig(alpha=0.7, beta_steps=500),
                                    seed=5, env_streams=n_streams)
    rng = np.random.default_rng(0)
    streams = Streams(n_streams, np.random.default_rng(1), "reset", max_len=40)
    for lap in range(5):
        fill([per, frames], streams, 50)
        batch = frames.sample(32, n_step=3, gamma=0.99)
        assert_same(per.sample(32, n_step=3, gamma=0.99), batch)
        td = rng.normal(size=32) * 10
        per.update_priorities(batch.indices, td)
        frames.update_priorities(batch.indices, td)
    np.testing.assert_array_equal(per.tree[np.arange(capacity)], frames.priorities.tree[np.arange(capacity)])
    assert frames.beta == per.beta


def test_short_episodes_drop_rows_whose_frames_are_overwritten():
    """Episodes of 1-2 steps take ~1.7 frames a row: the frame ring wraps before the row ring, so the
    oldest rows go; no live row may use an overwritten frame, and every live row is still exact."""
    capacity, n_streams = 200, 2
    config = FrameReplayConfig(frames_per_row=1.2)
    plain = ReplayQueue(capacity, SPEC, seed=0)
    frames = PrioritizedFrameReplay(capacity, SPEC, PrioritizedFrameReplayConfig(frames_per_row=1.2), seed=0,
                                    env_streams=n_streams)
    uniform = FrameReplay(capacity, SPEC, config, seed=0, env_streams=n_streams)
    streams = Streams(n_streams, np.random.default_rng(2), "zero", max_len=3)
    for lap in range(6):
        fill([plain, frames, uniform], streams, 100)
        for buffer in (frames, uniform):
            assert 0 < len(buffer) < capacity
            slots = live_slots(buffer)
            oldest = buffer._frames_written - buffer.frame_capacity
            assert (buffer._obs_ids[slots] >= oldest).all() and (buffer._next_ids[slots] >= oldest).all()
            ones = np.ones(len(slots), np.float32)
            assert_same(plain._gather(slots, ones, 3, 0.9), buffer._gather(slots, ones, 3, 0.9))
        # Dropped rows have priority 0 and are never drawn.
        dead = np.setdiff1d(np.arange(capacity), live_slots(frames))
        assert (frames.priorities.tree[dead] == 0).all()
        assert np.isin(frames.sample(500).indices, live_slots(frames)).all()
        assert np.isin(uniform.sample(500).indices, live_slots(uniform)).all()


def test_steps_of_one_stream_in_one_push_batch_are_chained():
    plain, frames = ReplayQueue(100, SPEC, seed=0), FrameReplay(100, SPEC, seed=0)
    rng = np.random.default_rng(1)
    streams = Streams(1, rng, "reset")
    rows = [streams.step() for _ in range(30)]
    batch = [np.concatenate(column) for column in zip(*rows)]
    for b in (plain, frames):
        for start in range(0, 30, 6):  # six steps of stream 0 per call
            b.push_batch(*(c[start : start + 6] for c in batch), env_ids=np.zeros(6, dtype=np.int64))
    ones = np.ones(30, np.float32)
    plain_batch = plain._gather(np.arange(30), ones, 1, 0.9)
    frames_batch = frames._gather(np.arange(30), ones, 4, 0.9)
    np.testing.assert_array_equal(plain_batch.obs, frames_batch.obs)
    reference = ReplayQueue(100, SPEC, seed=0)  # the same steps pushed one call per step
    for row in rows:
        reference.push_batch(*row)
    assert_same(reference._gather(np.arange(30), ones, 4, 0.9), frames_batch)


def test_bytes_per_transition_on_atari_frames():
    """A full buffer of 4 x 84 x 84 uint8 stacks (episodes of ~100 steps, 4 streams): at most 1.1 bytes
    per pixel of one frame a transition. What it holds: 1.05 frames a row (the ring's slack for episode
    starts) and ~108 bytes a row: 2 x 4 frame indices (64), action, reward, flags, env id, next-row link."""
    spec = EnvSpec("atari", (4, 84, 84), np.dtype(np.uint8), "discrete", n_actions=4)
    capacity, n_streams = 4000, 4
    buffer = FrameReplay(capacity, spec, seed=0, env_streams=n_streams)
    rng = np.random.default_rng(0)
    stacks = rng.integers(0, 256, size=(n_streams, 4, 84, 84), dtype=np.uint8)
    for t in range(capacity // n_streams + 500):
        next_stacks = np.concatenate([stacks[:, 1:], rng.integers(0, 256, size=(n_streams, 1, 84, 84), dtype=np.uint8)], 1)
        done = (t + np.arange(n_streams) * 25) % 100 == 99
        buffer.push_batch(stacks, np.zeros(n_streams, np.int64), np.zeros(n_streams), next_stacks, done)
        stacks = np.where(done[:, None, None, None], np.repeat(next_stacks[:, -1:], 4, axis=1), next_stacks)
    assert len(buffer) == capacity, "episodes of 100 steps fit the frame ring's slack: no row dropped early"
    per_transition = buffer.nbytes / capacity
    assert per_transition <= 1.1 * 84 * 84, per_transition
    plain = ReplayQueue(8, spec)
    assert plain._obs.nbytes * 2 / 8 / per_transition > 7  # REPLAY_QUE keeps 2 stacks: 56 kB a row


def test_refuses_flat_observations():
    from joyrl_core import ConfigError

    with pytest.raises(ConfigError, match=r"FRAME_QUE stores stacks of frames.*shape \(4,\)"):
        FrameReplay(10, EnvSpec("CartPole-v1", (4,), np.dtype(np.float32), "discrete", n_actions=2))


# -- DQN learns through it -------------------------------------------------------------------------------


class CueEnv(gym.Env):
    """A pixel memory task: the first frame shows a cue (a lit cell left or right), the next frames are
    blank, and the action at the fourth step must name the cue (+1, else 0). Only a correct 4-frame stack
    of this episode holds the cue then, so a buffer that mixed episodes' frames would not learn it."""

    observation_space = gym.spaces.Box(0, 255, (5, 5), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.cue, self.t = int(self.np_random.integers(2)), 0
        frame = np.zeros((5, 5), np.uint8)
        frame[2, 4 * self.cue] = 255
        return frame, {}

    def step(self, action):
        self.t += 1
        done = self.t == 4
        reward = float(done and action == self.cue)
        return np.full((5, 5), 60 * self.t, np.uint8), reward, done, False, {}


gym.register("JoyRLTestCue-v0", entry_point=lambda render_mode=None: FrameStackObservation(CueEnv(), 4))


@pytest.mark.parametrize("buffer_type", ["FRAME_QUE", "FRAME_PER_QUE"])
def test_dqn_learns_a_frame_memory_task_through_it(tmp_path, buffer_type):
    """Seed 3; seeds 1 and 7 also reach a perfect evaluation with both buffers."""
    config = {
        "general_cfg": {"algo_name": "DQN", "env_name": "gym", "seed": 3, "max_episode": -1, "max_env_steps": 2000,
                        "max_step": 10, "online_eval": True, "online_eval_episode": 40, "eval_every_steps": 2000,
                        "loggers": ["csv"], "task_dir": str(tmp_path), "torch_threads": 1},
        "algo_cfg": {"buffer_type": buffer_type, "buffer_size": 3000, "batch_size": 32, "lr": 0.002,
                     "gamma": 0.9, "epsilon_start": 1.0, "epsilon_end": 0.05, "epsilon_decay": 1000,
                     "epsilon_schedule": "linear", "learning_starts": 200, "target_update": 50, "n_step": 2,
                     "value_layers": [{"layer_type": "linear", "layer_dim": [64], "activation": "relu"}]},
        "env_cfg": {"id": "JoyRLTestCue-v0", "n_envs": 2},
    }
    summary, task = train(config)
    evals = (task.root / "results" / "evals.csv").read_text().splitlines()
    assert float(evals[-1].split(",")[1]) == 1.0, evals  # mean reward: every episode named its cue


def test_a_stack_of_one_frame_is_stored_once_a_step():
    spec = EnvSpec("one", (1, *FRAME), np.dtype(np.uint8), "discrete", n_actions=3)
    buffer = FrameReplay(20, spec, seed=0)
    frames = np.random.default_rng(0).integers(0, 256, size=(11, 1, *FRAME), dtype=np.uint8)
    for t in range(10):
        buffer.push(frames[t], 0, 1.0, frames[t + 1], False)
    assert buffer._frames_written == 11
    batch = buffer._gather(np.arange(10), np.ones(10, np.float32), 2, 0.5)
    np.testing.assert_array_equal(batch.obs, frames[:10])
    np.testing.assert_array_equal(batch.next_obs, frames[np.minimum(np.arange(10) + 2, 10)])


def test_the_run_memory_check_counts_frames_not_stacks(monkeypatch):
    """A 1M Atari FRAME_QUE (~7.5 GB) passes where REPLAY_QUE's 56 GB would be refused; the estimate is
    what the buffer really allocates."""
    import joyrl_core.run.start as start
    from types import SimpleNamespace

    spec = EnvSpec("ALE/Breakout-v5", (4, 84, 84), np.dtype(np.uint8), "discrete", n_actions=4)
    config = FrameReplayConfig()
    assert abs(config.transition_nbytes(spec) - FrameReplay(2000, spec).nbytes / 2000) < 0.05 * 84 * 84
    monkeypatch.setattr(start, "_available_memory", lambda: 10 * 10**9)
    run = SimpleNamespace(algo=SimpleNamespace(buffer_type="FRAME_QUE", buffer_size=1_000_000), buffer=config)
    start.check_buffer_memory(run, spec)
    from joyrl_core import ConfigError

    with pytest.raises(ConfigError, match=r"1000000 transitions of ALE/Breakout-v5 need at least"):
        start.check_buffer_memory(SimpleNamespace(algo=run.algo, buffer=None), spec)
