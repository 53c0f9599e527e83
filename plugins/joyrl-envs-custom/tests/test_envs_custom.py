"""The joyrl-envs-custom plugin: gymnasium API conformance, registration, seeding, rendering, the
slow/noisy wrapper, config errors, and DQN learning the grid world through a real run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from gymnasium.utils.env_checker import check_env

import joyrl_core
from joyrl_core import ConfigError, EnvError

import joyrl_envs_custom  # noqa: F401  (installed by tox, like every plugin)

from joyrl_envs_custom import GYMNASIUM_IDS, EnvConfigError  # noqa: E402

# (env plugin name, env_cfg) pairs covering every env and the main options.
CASES = {
    "grid_world": ("grid_world", {}),
    "grid_world_walls_slip_coords": (
        "grid_world",
        {"rows": 4, "cols": 6, "walls": [[1, 1], [2, 1]], "pits": [[0, 3]], "pit_terminates": True,
         "slip": 0.3, "observation": "coords"},
    ),
    "cliff": ("grid_world", {"layout": "cliff", "slip": 0.1}),
    "snake": ("snake", {}),
    "slow_noisy": ("slow_noisy", {"obs_noise_std": 0.1, "step_latency_ms": 0.5}),
    "slow_noisy_over_snake": ("slow_noisy", {"inner_id": "joyrl/Snake-v0", "obs_noise_std": 0.2}),
    "slow_noisy_discrete_obs": ("slow_noisy", {"inner_id": "FrozenLake-v1", "inner_kwargs": {"is_slippery": True}}),
    "catch": ("catch", {}),
    "catch_wide": ("catch", {"rows": 6, "columns": 7}),
    "pixel_point": ("pixel_point", {}),
    "pixel_point_small": ("pixel_point", {"width": 5, "height": 2, "step_size": 0.5}),
}
# Warnings check_env may give about an inner env: CartPole's infinite bounds, and, where pygame is not
# installed, that slow_noisy draws the observation as bars because the inner env cannot render.
INNER_WARNINGS = ("is -infinity", "is infinity", "drawing the observation as bars instead")


@pytest.fixture(scope="module")
def registry() -> joyrl_core.Registry:
    return joyrl_core.load_registry()


def make(registry, name: str, env_cfg: dict | None = None, render_mode: str | None = None) -> gym.Env:
    """Build an env exactly as a run does: the plugin's factory with the typed env_cfg from a mapping."""
    component = registry.get("env", name)
    config = component.config_type(**(env_cfg or {}))
    return component.factory(config, render_mode)


def rollout(env: gym.Env, seed: int, n_steps: int = 60, action_seed: int = 7):
    """Observations, rewards and flags of ``n_steps`` steps from ``reset(seed)`` under a fixed action sequence."""
    rng = np.random.default_rng(action_seed)
    space = env.action_space
    if isinstance(space, gym.spaces.Discrete):
        actions = [int(a) for a in rng.integers(space.n, size=n_steps)]
    else:
        actions = list(rng.uniform(space.low, space.high, size=(n_steps, *space.shape)).astype(space.dtype))
    obs, _ = env.reset(seed=seed)
    trace = [np.array(obs, dtype=np.float64)]
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        trace.append((np.array(obs, dtype=np.float64), float(reward), terminated, truncated))
        if terminated or truncated:
            obs, _ = env.reset()
            trace.append(np.array(obs, dtype=np.float64))
    return trace


def same(a, b) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x, y) if isinstance(x, np.ndarray) else (
            np.array_equal(x[0], y[0]) and x[1:] == y[1:]
        ) for x, y in zip(a, b)
    )


# -- registration -------------------------------------------------------------------------------


def test_plugin_registers_the_envs(registry):
    for name in ("grid_world", "snake", "slow_noisy", "catch", "pixel_point", "minatar"):
        component = registry.get("env", name)
        assert component.distribution == "joyrl-envs-custom"
        assert component.summary
    assert not [b for b in registry.broken if b.distribution == "joyrl-envs-custom"]


def test_config_fields_have_help_texts(registry):
    import dataclasses

    for name in ("grid_world", "snake", "slow_noisy", "catch", "pixel_point", "minatar"):
        for f in dataclasses.fields(registry.get("env", name).config_type):
            assert f.metadata.get("help"), f"{name}.{f.name} has no help text"


@pytest.mark.parametrize("env_id", sorted(GYMNASIUM_IDS))
def test_gymnasium_make(env_id):
    env = gym.make(env_id)
    obs, info = env.reset(seed=0)
    assert obs in env.observation_space
    obs, *_ = env.step(env.action_space.sample())
    assert obs in env.observation_space
    env.close()


def test_gymnasium_ids_registered_by_the_joyrl_entry_point_and_by_module_prefix():
    """In a fresh interpreter: loading JoyRL's plugins registers the ids; so does gymnasium's module: prefix."""
    code = (
        "import sys, gymnasium as gym, joyrl_core\n"
        "assert 'joyrl/Snake-v0' not in gym.envs.registry\n"
        "gym.make('joyrl_envs_custom:joyrl/Snake-v0').reset(seed=0)\n"
        "sys.modules.pop('joyrl_envs_custom', None)\n"
        "for key in [k for k in gym.envs.registry if k.startswith('joyrl/')]: del gym.envs.registry[key]\n"
        "joyrl_core.load_registry()\n"
        "assert 'joyrl/GridWorld-v0' in gym.envs.registry\n"
        "gym.make('joyrl/GridWorld-v0').reset(seed=0)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "JOYRL_DISABLE_PLUGINS"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr


def test_joyrl_gym_env_takes_the_ids_too(registry):
    """``env_name: gym`` with ``id: joyrl/...`` works, because loading the plugins registered the ids."""
    cfg = joyrl_core.resolve_config(registry, None, [
        "general_cfg.env_name=gym", "env_cfg.id=joyrl/CliffWalking-v0", "env_cfg.slip=0.0",
    ])
    env = registry.get("env", "gym").factory(cfg.env, None)
    assert env.unwrapped.layout == "cliff"
    assert env.observation_space.shape == (48,)


# -- gymnasium API conformance ------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_check_env(registry, case, render_mode):
    name, env_cfg = CASES[case]
    env = make(registry, name, env_cfg, render_mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    ours = [str(w.message) for w in caught if not any(s in str(w.message) for s in INNER_WARNINGS)]
    assert not ours, ours
    env.close()


def test_factory_applies_the_time_limit(registry):
    env = make(registry, "grid_world", {"max_episode_steps": 7})
    env.reset(seed=0)
    flags = [env.step(0)[2:4] for _ in range(7)]  # up from the top-left corner: bumping in place
    assert flags[-1] == (False, True) and not any(any(f) for f in flags[:-1])
    assert env.spec.max_episode_steps == 7


def test_cliff_layout_is_gymnasiums_cliff_walking(registry):
    """The same rewards, terminations and positions as CliffWalking-v1 under a long random action sequence."""
    ours = make(registry, "grid_world", {"layout": "cliff", "max_episode_steps": 10_000})
    theirs = gym.make("CliffWalking-v1", max_episode_steps=10_000)
    obs, _ = ours.reset(seed=0)
    state, _ = theirs.reset(seed=0)
    assert int(np.argmax(obs)) == state
    falls = goals = 0
    for action in np.random.default_rng(3).integers(4, size=3000):
        obs, reward, terminated, _, _ = ours.step(int(action))
        state, their_reward, their_terminated, _, _ = theirs.step(int(action))
        assert (int(np.argmax(obs)), reward, terminated) == (int(state), their_reward, their_terminated)
        falls += reward == -100
        if terminated:
            goals += 1
            obs, _ = ours.reset()
            state, _ = theirs.reset()
    assert falls > 10


def test_grid_world_rules(registry):
    env = make(registry, "grid_world", {"rows": 3, "cols": 3, "walls": [[0, 1]], "pits": [[1, 1]],
                                        "pit_terminates": True, "goal_reward": 5.0, "step_reward": -0.5})
    obs, info = env.reset(seed=0)
    assert info["cell"] == (0, 0) and obs.tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert env.step(1)[1:3] == (-0.5, False) and env.unwrapped.pos == (0, 0)  # into the wall: stays
    env.step(2)  # down to (1, 0)
    _, reward, terminated, _, info = env.step(1)  # right into the pit
    assert (reward, terminated, info["fell"]) == (-100.0, True, True)
    env.reset()
    for action in (2, 2, 1):
        env.step(action)
    _, reward, terminated, _, _ = env.step(1)  # (2, 1) -> (2, 2), the goal
    assert (reward, terminated) == (5.0, True)


def test_snake_observation_flags(registry):
    env = make(registry, "snake", {"size": 6, "initial_length": 3})
    snake = env.unwrapped
    env.reset(seed=0)
    # Place it by hand: head at (0, 2) heading up, body below it; food at (3, 5).
    from collections import deque

    snake.heading, snake.body = 0, deque([(0, 2), (1, 2), (2, 2)])
    snake.occupied, snake.food = set(snake.body), (3, 5)
    obs = snake._obs()
    assert obs[:3].tolist() == [1, 0, 0]  # the wall is straight ahead; right and left are free
    assert obs[3:7].tolist() == [1, 0, 0, 0]  # heading up
    assert obs[7:].tolist() == [0, 1, 1, 0]  # food below and to the right
    _, reward, terminated, _, _ = env.step(0)  # straight into the wall
    assert (reward, terminated) == (-1.0, True)


def test_snake_eats_grows_and_starves(registry):
    env = make(registry, "snake", {"size": 6, "max_steps_without_food": 5})
    snake = env.unwrapped
    env.reset(seed=0)
    head = snake.body[0]
    dr, dc = ((-1, 0), (0, 1), (1, 0), (0, -1))[snake.heading]
    snake.occupied.discard(snake.food)
    snake.food = (head[0] + dr, head[1] + dc)
    _, reward, terminated, truncated, info = env.step(0)
    assert (reward, terminated, truncated, info["score"], info["length"]) == (1.0, False, False, 1, 4)
    flags = []
    for _ in range(5):  # circle on the spot without food until hunger truncates
        snake.food = None
        flags.append(env.step(1)[2:4])
    assert flags[-1] == (False, True) and not any(any(f) for f in flags[:-1])


# -- seeding ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_seed_same_rollout(registry, case):
    name, env_cfg = CASES[case]
    env = make(registry, name, env_cfg)
    first = rollout(env, seed=42)
    second = rollout(env, seed=42)
    assert same(first, second)
    other = make(registry, name, env_cfg)
    assert same(first, rollout(other, seed=42)), "a second env instance replays the same episodes"


@pytest.mark.parametrize("case", ["grid_world_walls_slip_coords", "cliff", "snake", "slow_noisy", "pixel_point"])
def test_other_seed_other_rollout(registry, case):
    name, env_cfg = CASES[case]
    env = make(registry, name, env_cfg)
    assert not same(rollout(env, seed=1), rollout(env, seed=2))


# -- catch and minatar: pixel tasks ----------------------------------------------------------------


def test_catch_rules(registry):
    """The ball falls a row a step for rows - 1 steps; +1 if the paddle is under it at the end, else -1."""
    env = make(registry, "catch")
    for seed in range(6):
        board, _ = env.reset(seed=seed)
        assert board.shape == (10, 5) and board.dtype == bool and board.sum() == 2
        ball = int(np.flatnonzero(board[0])[0])
        assert board[9, 2]  # the paddle starts mid-board
        # Chase the ball: move towards its column, then stay.
        for step in range(9):
            paddle = env.unwrapped.paddle
            board, reward, terminated, truncated, _ = env.step(1 + int(np.sign(ball - paddle)))
            assert board[step + 1, ball] and not truncated
            assert terminated == (step == 8) and reward == (1.0 if step == 8 else 0.0)
    # Moving away from the ball misses it: -1.
    board, _ = env.reset(seed=0)
    ball = int(np.flatnonzero(board[0])[0])
    away = 0 if ball >= 2 else 2
    rewards = [env.step(away)[1] for _ in range(9)]
    assert rewards[-1] == -1.0 and sum(rewards) == -1.0


def test_pixel_point_rules(registry):
    """The image shows the point's column; an action moves it step_size * action; reward -|x|; 20 steps."""
    env = make(registry, "pixel_point")
    spec = joyrl_core.EnvSpec.from_env(env, "pixel_point")
    assert spec.obs_shape == (5, 21, 1) and spec.obs_dtype == np.uint8 and spec.action_shape == (1,)
    for seed in range(4):
        image, _ = env.reset(seed=seed)
        x = env.unwrapped.x
        rewards = []
        for step in range(20):
            column = round((x + 1) / 2 * 20)
            assert (image[:, column] == 255).all() and image.sum() == 5 * 255
            action = np.array([-1.0 if x > 0 else 0.5], np.float32)  # towards the centre, sometimes past it
            image, reward, terminated, truncated, _ = env.step(action)
            x = float(np.clip(x + 0.2 * float(action[0]), -1, 1))
            assert env.unwrapped.x == pytest.approx(x) and reward == pytest.approx(-abs(x))
            assert not terminated and truncated == (step == 19)
            rewards.append(reward)
        assert sum(rewards) > -4  # near the centre after at most 5 steps
    env.reset(seed=0)
    env.step(np.array([5.0], np.float32))  # clipped to 1: one step_size at most
    assert env.unwrapped.x <= 1.0


def test_minatar_games_are_envs_with_channels_last_bool_frames(registry):
    pytest.importorskip("minatar")
    env = make(registry, "minatar", {"id": "MinAtar/Breakout-v1"})
    spec = joyrl_core.EnvSpec.from_env(env, "minatar")
    assert spec.obs_shape == (10, 10, 4) and spec.obs_dtype == bool and spec.n_actions == 3
    assert make(registry, "minatar", {"id": "MinAtar/Breakout-v0"}).action_space.n == 6
    first = rollout(env, seed=4)
    assert same(first, rollout(env, seed=4))
    assert not same(first, rollout(env, seed=5))
    assert make(registry, "minatar", {"id": "MinAtar/Breakout-v1"}, "rgb_array").reset(seed=0) is not None


@pytest.mark.parametrize("env_cfg, message", [
    ({"id": "MinAtar/Breakout-v2"}, r"env_cfg.id: unknown MinAtar id 'MinAtar/Breakout-v2'; did you mean"),
    ({"sticky_action_prob": 2.0}, r"env_cfg.sticky_action_prob: a probability in \[0, 1\]"),
])
def test_minatar_bad_config_is_one_line(registry, env_cfg, message):
    with pytest.raises(EnvError, match=message):
        make(registry, "minatar", env_cfg)


def test_minatar_without_the_package_names_the_extra(registry, monkeypatch):
    monkeypatch.setitem(sys.modules, "minatar", None)
    with pytest.raises(EnvError, match=r"pip install 'joyrl-envs-custom\[minatar\]'"):
        make(registry, "minatar", {"id": "MinAtar/Asterix-v1"})


# -- rendering ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case, shape, actions",
    [("grid_world", (160, 160, 3), [2, 1, 2]), ("cliff", (128, 384, 3), [0, 1, 1]),
     ("snake", (192, 192, 3), [0, 1, 0]), ("slow_noisy_over_snake", (192, 192, 3), [0, 2, 0]),
     ("catch", (240, 120, 3), [0, 1, 2]),
     ("pixel_point", (60, 252, 3), [np.array([1.0], np.float32), np.array([-0.5], np.float32)])],
)
def test_rgb_array_frames(registry, case, shape, actions):
    name, env_cfg = CASES[case]
    env_cfg = {k: v for k, v in env_cfg.items() if k != "slip"}  # every move must move
    env = make(registry, name, env_cfg, "rgb_array")
    assert env.metadata["render_modes"] == ["rgb_array"] and env.metadata["render_fps"] > 0
    env.reset(seed=3)
    frames = [env.render()]
    for action in actions:
        env.step(action)
        frames.append(env.render())
    for frame in frames:
        assert isinstance(frame, np.ndarray) and frame.shape == shape and frame.dtype == np.uint8
    assert all(not np.array_equal(a, b) for a, b in zip(frames, frames[1:])), "each move changes the frame"


def test_slow_noisy_renders_the_inner_env_or_bars(registry):
    env = make(registry, "slow_noisy", {"obs_noise_std": 0.1}, "rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    assert frame.shape == env.render().shape
    # An inner env that cannot draw (no rgb_array mode): the observation as bars.
    env = make(registry, "slow_noisy", {"inner_id": "joyrl/Snake-v0"}, "rgb_array")
    env.unwrapped._bars_only = True
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (160, 11 * 40, 3) and frame.dtype == np.uint8


# -- slow_noisy ---------------------------------------------------------------------------------


def test_slow_noisy_sleeps(registry):
    env = make(registry, "slow_noisy", {"step_latency_ms": 5.0})
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(20):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    assert time.perf_counter() - start >= 0.1


def test_slow_noisy_noise_has_the_given_std(registry):
    std = 0.2
    noisy = make(registry, "slow_noisy", {"obs_noise_std": std})
    clean = make(registry, "slow_noisy", {"obs_noise_std": 0.0})
    plain = gym.make("CartPole-v1")
    diffs = []
    for episode in range(20):
        seed = 1000 + episode
        a, _ = noisy.reset(seed=seed)
        b, _ = clean.reset(seed=seed)
        c, _ = plain.reset(seed=seed)
        assert np.array_equal(b, c), "with no noise the observation is the inner env's"
        diffs.append(a - b)
        for action in np.random.default_rng(seed).integers(2, size=30):
            a, _, terminated, truncated, _ = noisy.step(int(action))
            b, *_ = clean.step(int(action))
            diffs.append(a - b)
            if terminated or truncated:
                break
    diffs = np.asarray(diffs)
    assert diffs.shape[0] > 200
    assert np.all(np.abs(diffs.mean(axis=0)) < 4 * std / np.sqrt(len(diffs)))
    assert np.all(np.abs(diffs.std(axis=0) / std - 1) < 0.15)
    assert abs(np.corrcoef(diffs[:-1, 0], diffs[1:, 0])[0, 1]) < 0.2, "independent from step to step"
    assert noisy.observation_space.contains(a)


def test_slow_noisy_noise_is_reproducible_per_seed(registry):
    env = make(registry, "slow_noisy", {"obs_noise_std": 0.5})
    a, _ = env.reset(seed=5)
    b, _ = env.reset(seed=5)
    c, _ = env.reset(seed=6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


# -- bad configs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, env_cfg, message",
    [
        ("grid_world", {"walls": [[0, 0]]}, "env_cfg.walls: [0, 0] is the start cell"),
        ("grid_world", {"pits": [[4, 4]]}, "env_cfg.pits: [4, 4] is the goal cell"),
        ("grid_world", {"start": [2, 2], "goal": [2, 2]}, "env_cfg.goal: [2, 2] is also the start cell"),
        ("grid_world", {"walls": [[9, 0]]}, "env_cfg.walls[0]: [9, 0] is outside the 5x5 grid"),
        ("grid_world", {"start": [1]}, "env_cfg.start: expected a cell [row, col]"),
        ("grid_world", {"walls": [[3, 4], [4, 3]]}, "env_cfg.goal: [4, 4] cannot be reached"),
        ("grid_world", {"slip": 1.5}, "env_cfg.slip: a probability in [0, 1]"),
        ("snake", {"initial_length": 5}, "env_cfg.initial_length: an integer from 1 to size // 2 = 4"),
        ("pixel_point", {"step_size": 3.0}, "env_cfg.step_size: a number in (0, 2] is required, got 3.0"),
        ("slow_noisy", {"inner_id": "CartPol-v1"}, "env_cfg.inner_id: unknown gymnasium env id 'CartPol-v1'; did you mean CartPole-v1"),
        ("slow_noisy", {"inner_id": "FrozenLake-v1", "obs_noise_std": 0.1}, "env_cfg.obs_noise_std: noise needs a float Box"),
        ("slow_noisy", {"inner_kwargs": {"no_such_arg": 1}}, "env_cfg.inner_kwargs: 'CartPole-v1' rejected ['no_such_arg']"),
    ],
)
def test_bad_config_is_one_line_env_error(registry, name, env_cfg, message):
    with pytest.raises(EnvError) as info:
        make(registry, name, env_cfg)
    text = str(info.value)
    assert text.startswith(f"env {name!r}: {message}"), text
    assert "\n" not in text


def test_human_rendering_without_pygame_is_an_env_error(registry, monkeypatch):
    monkeypatch.setitem(sys.modules, "pygame", None)  # import pygame now raises ImportError
    with pytest.raises(EnvError, match="render_mode 'human' needs pygame .*use render_mode: rgb_array"):
        make(registry, "snake", {}, "human")


def test_plain_gymnasium_users_get_a_value_error():
    with pytest.raises(ValueError, match="walls: \\[0, 0\\] is the start cell") as info:
        gym.make("joyrl/GridWorld-v0", walls=[[0, 0]])
    assert isinstance(info.value, EnvConfigError)


def test_types_and_lower_bounds_are_checked_when_the_yaml_is_read(registry, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"general_cfg": {"env_name": "grid_world"}, "env_cfg": {"rows": 1}}))
    with pytest.raises(ConfigError, match="env_cfg.rows: expected a value >= 2"):
        joyrl_core.resolve_config(registry, path)
    with pytest.raises(ConfigError, match="unknown key env_cfg.slipp .*did you mean 'slip'"):
        joyrl_core.resolve_config(registry, None, ["general_cfg.env_name=grid_world", "env_cfg.slipp=0.1"])
    with pytest.raises(ConfigError, match="env_cfg.layout: expected one of 'open', 'cliff'"):
        joyrl_core.resolve_config(registry, None, ["general_cfg.env_name=grid_world", "env_cfg.layout=maze"])


# -- the shipped examples and DQN learning ----------------------------------------------------------

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_yamls_resolve_and_build(registry, path):
    cfg = joyrl_core.resolve_config(registry, path)
    assert cfg.general.algo_name == "DQN"
    env = registry.get("env", cfg.general.env_name).factory(cfg.env, None)
    assert isinstance(env.action_space, gym.spaces.Discrete)
    assert cfg.general.max_step >= env.spec.max_episode_steps, "max_step must not cut episodes shorter than the env"


def test_examples_are_shipped():
    assert [p.stem for p in EXAMPLES] == ["cliff_dqn", "grid_world_dqn", "snake_dqn"]



GRID_YAML = {
    "general_cfg": {
        "algo_name": "DQN", "env_name": "grid_world", "max_episode": 60, "max_step": 100, "seed": 1,
        "online_eval": True, "online_eval_episode": 1, "model_save_fre": 100, "save_fig": False,
        "loggers": ["csv"],
    },
    "algo_cfg": {
        "value_layers": [{"layer_type": "linear", "layer_dim": [64], "activation": "relu"}],
        "batch_size": 32, "buffer_size": 10000, "epsilon_start": 1.0, "epsilon_end": 0.05,
        "epsilon_decay": 300, "gamma": 0.95, "lr": 0.003, "target_update": 20,
    },
    "env_cfg": {"rows": 5, "cols": 5, "slip": 0.0},
}
OPTIMAL_RETURN = -8.0  # 8 moves from [0, 0] to [4, 4] at -1 each


def test_dqn_learns_the_grid_world_optimum(registry, tmp_path):
    doc = yaml.safe_load(yaml.safe_dump(GRID_YAML))
    doc["general_cfg"]["task_dir"] = str(tmp_path / "tasks")
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(doc))

    start = time.perf_counter()
    summary, task = joyrl_core.start_run(joyrl_core.resolve_config(registry, path), registry)
    seconds = time.perf_counter() - start
    assert summary.episodes == 60
    evals = [mean for _, mean in summary.eval_mean_rewards]
    assert summary.best_eval_reward == OPTIMAL_RETURN, evals
    assert evals[-1] == OPTIMAL_RETURN, evals
    assert seconds < 60, f"a {summary.env_steps}-step run took {seconds:.1f} s"

    # Test mode replays the best model greedily and writes the rendered episodes as a GIF.
    test_cfg = joyrl_core.resolve_config(registry, path, [
        "general_cfg.mode=test", "general_cfg.load_checkpoint=true", f"general_cfg.load_path={task.root}",
        "general_cfg.load_model=best", "general_cfg.test_episode=3", "env_cfg.render_mode=rgb_array",
    ])
    test_summary, test_task = joyrl_core.start_run(test_cfg, registry)
    assert test_summary.test_rewards == [OPTIMAL_RETURN] * 3
    gif = test_task.root / "videos" / "video.gif"
    assert gif.is_file() and gif.stat().st_size > 0
