"""joyrl-envs-atari: DeepMind's preprocessing from one switch, game scores kept beside clipped rewards,
the two wrappers gymnasium lacks, one-line config errors, and the Breakout examples building."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml

import joyrl_core
from joyrl_core import EnvError, EnvSpec
from joyrl_core.testing import read_episodes

from joyrl_envs_atari import FireOnReset

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def registry() -> joyrl_core.Registry:
    return joyrl_core.load_registry()


def make(registry, **env_cfg):
    component = registry.get("env", "atari")
    return component.factory(component.config_type(**env_cfg), None)


def wrappers(env) -> list[str]:
    names = []
    while hasattr(env, "env"):
        names.append(type(env).__name__)
        env = env.env
    return names


def play(env, seed: int, action_seed: int = 0, max_steps: int = 5000):
    """Random play from reset(seed) to the end of the learner's episode: rewards, flags, last info."""
    rng = np.random.default_rng(action_seed)
    obs, _ = env.reset(seed=seed)
    frames, rewards = [obs], []
    for _ in range(max_steps):
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        frames.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            return frames, rewards, info
    raise AssertionError("the episode did not end")


def test_preprocessing_is_one_switch_in_deepminds_order(registry):
    env = make(registry, id="BreakoutNoFrameskip-v4")
    spec = EnvSpec.from_env(env, "atari")
    assert spec.obs_shape == (4, 84, 84) and spec.obs_dtype == np.uint8  # channels first, pixels as bytes
    assert wrappers(env) == ["FrameStackObservation", "ClipReward", "FireOnReset", "AtariPreprocessing",
                             "RecordEpisodeStatistics", "OrderEnforcing", "PassiveEnvChecker"]
    assert env.unwrapped._frameskip == 1  # AtariPreprocessing does the frame skip (with max-pooling)
    raw = make(registry, id="BreakoutNoFrameskip-v4", preprocessing=False)
    assert raw.observation_space.shape == (210, 160, 3)
    # No FIRE in Freeway: no FireOnReset; episodic_life adds its wrapper.
    assert "FireOnReset" not in wrappers(make(registry, id="FreewayNoFrameskip-v4"))
    assert "EpisodicLife" in wrappers(make(registry, id="BreakoutNoFrameskip-v4", episodic_life=True))


def test_learner_sees_clipped_rewards_and_info_episode_keeps_the_game_score(registry):
    env = make(registry, id="SpaceInvadersNoFrameskip-v4")
    _, rewards, info = play(env, seed=3)
    assert set(rewards) <= {-1.0, 0.0, 1.0}
    score = info["episode"]["r"]
    # Space Invaders pays 5 to 30 points an invader: the game score is a multiple of 5, well above the
    # number of rewarded steps the clipped rewards add up to.
    assert score % 5 == 0 and score > sum(rewards) > 0, (score, sum(rewards))
    unclipped = make(registry, id="SpaceInvadersNoFrameskip-v4", clip_rewards=False)
    _, raw_rewards, raw_info = play(unclipped, seed=3)
    assert sum(raw_rewards) == raw_info["episode"]["r"] == score  # the same game, seeded alike


def first_frames(env, seed: int, n: int = 40) -> np.ndarray:
    rng = np.random.default_rng(0)
    frames = [env.reset(seed=seed)[0]]
    frames += [env.step(int(rng.integers(env.action_space.n)))[0] for _ in range(n)]
    return np.stack(frames)


def test_same_seed_same_frames(registry):
    env = make(registry, id="BreakoutNoFrameskip-v4")
    assert np.array_equal(first_frames(env, 5), first_frames(env, 5))
    # The seed draws the number of no-ops at reset (1 to 30): some of seeds 6-9 start elsewhere.
    assert any(not np.array_equal(first_frames(env, 5), first_frames(env, seed)) for seed in range(6, 10))


def test_the_grayscale_game_env_gives_the_frames_of_the_rgb_one():
    """The game env makes grayscale frames for AtariPreprocessing, which reads the emulator's screen itself:
    the learner sees what it sees on top of the RGB game env (gymnasium's default)."""
    import gymnasium as gym
    from gymnasium.wrappers import AtariPreprocessing

    ours = make(joyrl_core.load_registry(), id="BreakoutNoFrameskip-v4", frame_stack=1, fire_reset=False)
    assert ours.unwrapped._obs_type == "grayscale"
    rgb = AtariPreprocessing(gym.make("BreakoutNoFrameskip-v4", frameskip=1))
    assert rgb.unwrapped._obs_type == "rgb"
    assert np.array_equal(first_frames(ours, 4, n=300), first_frames(rgb, 4, n=300))


def test_episodic_life_ends_the_learners_episode_and_the_game_goes_on(registry):
    env = make(registry, id="BreakoutNoFrameskip-v4", episodic_life=True)
    _, _, info = play(env, seed=1)
    assert "episode" not in info  # a life was lost, the game is not over
    assert info[joyrl_core.EPISODE_CONTINUES]  # results count on: one row per game
    lives = env.unwrapped.ale.lives()
    assert lives == 4
    env.reset()
    assert env.unwrapped.ale.lives() == 4  # continued, not a new game
    while True:  # play the game out: its end has the whole game's statistics
        _, _, info = play_on(env)
        if "episode" in info:
            break
        env.reset()
    assert env.unwrapped.ale.lives() == 0 and joyrl_core.EPISODE_CONTINUES not in info


def test_with_episodic_life_a_result_is_a_whole_game_and_the_learner_sees_each_life_end(registry):
    env = make(registry, id="BreakoutNoFrameskip-v4", episodic_life=True, frame_stack=1, noop_max=0)
    log = joyrl_core.TransitionLog()
    runner = joyrl_core.EnvRunner(env, seed=3, max_steps=None)
    rng = np.random.default_rng(0)
    result = runner.run_episode(lambda obs: joyrl_core.PolicyStep(rng.integers(0, 4, size=1)), log)
    assert env.unwrapped.ale.lives() == 0 and result.terminated  # one result: the game played out
    terminated = log.arrays()["terminated"]
    assert terminated.sum() == 5 and terminated[-1] and result.length == len(terminated)
    # The game's score: the raw points (Breakout's bricks score 1 to 7), here above the clipped sum.
    assert result.reward >= log.arrays()["rewards"].sum()
    # A time limit above the wrapper ends the game: the next reset starts a new one.
    limited = gym.wrappers.TimeLimit(make(registry, id="BreakoutNoFrameskip-v4", episodic_life=True, noop_max=0), 5)
    limited.reset(seed=1)
    started = limited.unwrapped.ale.getEpisodeFrameNumber()  # the frames FIRE at reset took
    for _ in range(5):
        *_, truncated, _ = limited.step(0)
    assert truncated and limited.unwrapped.ale.getEpisodeFrameNumber() > started
    limited.reset()
    assert limited.unwrapped.ale.getEpisodeFrameNumber() == started


def play_on(env):
    rng = np.random.default_rng(1)
    while True:
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            return obs, reward, info


def test_fire_on_reset_serves_the_ball(registry):
    env = make(registry, id="BreakoutNoFrameskip-v4", noop_max=0, frame_stack=1)
    frame, _ = env.reset(seed=0)
    without = make(registry, id="BreakoutNoFrameskip-v4", noop_max=0, frame_stack=1, fire_reset=False)
    idle, _ = without.reset(seed=0)
    # After FIRE the ball is in play: the frames differ; the wrapper refuses games without FIRE.
    assert not np.array_equal(frame, idle)
    with pytest.raises(ValueError, match="FIRE"):
        FireOnReset(make(registry, id="FreewayNoFrameskip-v4", preprocessing=False))


@pytest.mark.parametrize("env_cfg, message", [
    ({"id": "BreakoutNoFrameskip-v5"}, r"env_cfg.id: 'BreakoutNoFrameskip-v5' is not an ale-py game id; did you mean .*BreakoutNoFrameskip-v4"),
    ({"grayscale": False}, r"env_cfg.grayscale: false .* set frame_stack: 1 \(got 4\)"),
    ({"repeat_action_probability": 1.5}, r"env_cfg.repeat_action_probability: a probability in \[0, 1\]"),
])
def test_bad_config_is_a_one_line_env_error(registry, env_cfg, message):
    with pytest.raises(EnvError, match=message) as info:
        make(registry, **env_cfg)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("example", ["breakout_dqn.yaml", "breakout_ppo.yaml"])
def test_breakout_examples_resolve_and_their_networks_fit_the_frames(registry, example):
    config = joyrl_core.resolve_config(registry, REPO_ROOT / "examples" / example)
    env = registry.get("env", "atari").factory(config.env, None)
    spec = EnvSpec.from_env(env, "atari")
    shape = joyrl_core.RunShape(n_envs=1, n_workers=1, backend="single", max_env_steps=10_000_000, mode="train")
    agent = registry.get("algorithm", config.general.algo_name).factory(config.algo, spec, "cpu", 1, shape)
    actions = agent.predict_action(np.zeros((2, *spec.obs_shape), dtype=np.uint8))
    assert actions.shape == (2,)


def test_episode_rewards_in_results_are_game_scores(registry, tmp_path):
    doc = {
        "general_cfg": {"algo_name": "RANDOM", "env_name": "atari", "max_episode": 2, "seed": 3,
                        "task_dir": str(tmp_path / "tasks"), "loggers": ["csv"], "save_fig": False},
        "env_cfg": {"id": "SpaceInvadersNoFrameskip-v4"},
    }
    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump(doc))
    _, task = joyrl_core.start_run(joyrl_core.resolve_config(registry, path), registry)
    rows = read_episodes(task.root)
    scores = [float(row["reward"]) for row in rows]
    # Clipped, each episode would add up to its number of kills (about 15 in random play); the game
    # pays 5 to 30 points a kill.
    assert len(scores) == 2 and all(s % 5 == 0 for s in scores) and max(scores) >= 50, scores
