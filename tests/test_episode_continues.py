"""``info[EPISODE_CONTINUES]``: an env with lives ends the learner's episode at each lost life while
results (episodes.csv, evaluations, the summary) count whole games with their raw score, on the single,
vectorized and Ray worker paths."""

from __future__ import annotations

import dataclasses
import json

import gymnasium as gym
import numpy as np
import pytest

import joyrl_core
from joyrl_core import EPISODE_CONTINUES, EnvRunner, TransitionLog, VectorEnvRunner, hookimpl, option
from joyrl_core.run.envs import build_env

from conftest import quick_overrides, read_episodes

STEPS_PER_LIFE, LIVES, RAW_REWARD = 4, 3, 2.0
GAME_STEPS, GAME_SCORE = STEPS_PER_LIFE * LIVES, STEPS_PER_LIFE * LIVES * RAW_REWARD


class LivesGame(gym.Env):
    """A game of 3 lives, one lost every 4 steps; each step scores 2; over after 12 steps."""

    observation_space = gym.spaces.Box(0.0, 100.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.lives = 0, LIVES
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        if self.t % STEPS_PER_LIFE == 0:
            self.lives -= 1
        return self._obs(), RAW_REWARD, self.lives == 0, False, {}

    def _obs(self):
        return np.array([self.t, self.lives], dtype=np.float32)


class LifeEnds(gym.Wrapper):
    """The learner's episode ends at each lost life (terminated, ``EPISODE_CONTINUES``); the next reset
    goes on with the same game."""

    def __init__(self, env):
        super().__init__(env)
        self._lives, self._goes_on = LIVES, False

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self.env.unwrapped.lives
        self._goes_on = lives < self._lives and not (terminated or truncated)
        self._lives = lives
        if self._goes_on:
            terminated, info = True, {**info, EPISODE_CONTINUES: True}
        return obs, reward, terminated, truncated, info

    def reset(self, *, seed=None, options=None):
        if self._goes_on and seed is None:
            self._goes_on = False
            return self.env.unwrapped._obs(), {}
        self._lives = LIVES
        return self.env.reset(seed=seed, options=options)


@dataclasses.dataclass
class LivesConfig:
    inner_stats: bool = option(True, "RecordEpisodeStatistics beneath the life wrapper (as Atari's)")


def make_lives_game(config: LivesConfig, render_mode=None) -> gym.Env:
    """Raw score 2 a step; the learner sees rewards clipped to 1, and a termination at each lost life."""
    env = LivesGame()
    if config is None or config.inner_stats:
        env = gym.wrappers.RecordEpisodeStatistics(env)
    return gym.wrappers.ClipReward(LifeEnds(env), -1.0, 1.0)


class LivesPlugin:
    @staticmethod
    @hookimpl
    def register_envs(register):
        register("lives_game", make_lives_game, LivesConfig, "test: a game with lives")


def built(inner_stats: bool) -> gym.Env:
    """The env as a run builds it: without stats of its own the core adds them above the life wrapper."""
    return build_env(make_lives_game, "lives_game", LivesConfig(inner_stats), None, [])


def score(inner_stats: bool) -> float:
    """The game's score in results: the raw one beneath the clipping, else (the core's statistics above
    the life wrapper report every life) the clipped rewards of every life added up."""
    return GAME_SCORE if inner_stats else float(GAME_STEPS)


@pytest.mark.parametrize("inner_stats", [True, False])
def test_one_env_learns_lives_and_results_count_games(inner_stats):
    runner = EnvRunner(built(inner_stats), seed=1, max_steps=None)
    log = TransitionLog()
    for _ in range(2):
        result = runner.run_episode(lambda obs: joyrl_core.PolicyStep(np.zeros(1, np.int64)), log)
        assert (result.reward, result.length, result.terminated, result.cut) == (score(inner_stats), GAME_STEPS, True,
                                                                                 False)
    arrays = log.arrays()
    # The learner saw a termination at each lost life, the clipped rewards, and a new game after the last.
    np.testing.assert_array_equal(np.flatnonzero(arrays["terminated"]), [3, 7, 11, 15, 19, 23])
    assert (arrays["rewards"] == 1.0).all()
    np.testing.assert_array_equal(arrays["obs"][[4, 12], 0], [4, 0])


def test_a_stop_inside_a_game_cuts_the_game_not_a_life():
    runner = EnvRunner(built(True), seed=1, max_steps=None)
    steps = []
    result = runner.run_episode(lambda obs: joyrl_core.PolicyStep(np.zeros(1, np.int64)),
                                on_step=lambda: steps.append(1) or len(steps) == STEPS_PER_LIFE)
    # Stopped on the step a life was lost: the game was not over, so the episode was cut.
    assert result.cut and result.length == STEPS_PER_LIFE and result.reward == STEPS_PER_LIFE * RAW_REWARD


@pytest.mark.parametrize("inner_stats", [True, False])
def test_vector_envs_learn_lives_and_results_count_games(inner_stats):
    venv = gym.vector.SyncVectorEnv([lambda: built(inner_stats)] * 2, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    runner = VectorEnvRunner(venv, seed=1)
    log = TransitionLog()
    finished = []
    for t in range(2 * GAME_STEPS):
        finished += [(t, f.env_index, f.result) for f in runner.step(
            lambda obs: joyrl_core.PolicyStep(np.zeros(len(obs), np.int64)), log)]
    game = score(inner_stats)
    assert [(t, i, r.reward, r.length) for t, i, r in finished] == [
        (GAME_STEPS - 1, 0, game, GAME_STEPS), (GAME_STEPS - 1, 1, game, GAME_STEPS),
        (2 * GAME_STEPS - 1, 0, game, GAME_STEPS), (2 * GAME_STEPS - 1, 1, game, GAME_STEPS)]
    terminated = log.arrays()["terminated"].reshape(-1, 2)
    np.testing.assert_array_equal(np.flatnonzero(terminated[:, 0]), [3, 7, 11, 15, 19, 23])
    assert (terminated[:, 0] == terminated[:, 1]).all()


@pytest.mark.parametrize("n_envs", [1, 2])
def test_results_csv_evaluations_and_summary_hold_game_scores(tmp_path, n_envs):
    registry = joyrl_core.load_registry(extra_plugins=[("lives", LivesPlugin)])
    cfg = joyrl_core.resolve_config(registry, None, [
        *quick_overrides(tmp_path / "tasks", algo_name="RANDOM", env_name="lives_game", seed=2, max_episode=-1,
                         max_env_steps=4 * GAME_STEPS, online_eval="true", online_eval_episode=2,
                         eval_every_steps=2 * GAME_STEPS),
        f"env_cfg.n_envs={n_envs}", "general_cfg.collect_traj=true"])
    summary, task = joyrl_core.start_run(cfg, registry)
    rows = read_episodes(task.root)
    # Trajectories stay the learner's episodes (one per life: offline data as the learner saw it).
    trajectories = list(joyrl_core.load_trajectories(task.results))
    assert len(trajectories) == 4 * LIVES
    assert all(len(t) == STEPS_PER_LIFE and t.terminated[-1] and not t.terminated[:-1].any() for t in trajectories)
    assert len(rows) == 4 == summary.episodes
    assert {(float(r["reward"]), int(r["length"]), r["terminated"]) for r in rows} == {(GAME_SCORE, GAME_STEPS, "1")}
    assert [mean for _, mean in summary.eval_mean_rewards] == [GAME_SCORE, GAME_SCORE]
    assert list(summary.last_rewards) == [GAME_SCORE] * 4
    saved = json.loads((task.results / "summary.json").read_text())
    assert saved["best_eval_reward"] == GAME_SCORE and [mean for _, mean in saved["eval_mean_rewards"]] == [GAME_SCORE] * 2


def test_ray_workers_report_whole_games(tmp_path):
    """What a ``ray`` worker reports to the driver (which logs it as the single backend does)."""
    pytest.importorskip("joyrl_backend_ray")
    import logging

    from joyrl_backend_ray.actors import RolloutWorker
    from joyrl_core.outputs.task import create_task_dir

    registry = joyrl_core.load_registry(extra_plugins=[("lives", LivesPlugin)])
    cfg = joyrl_core.resolve_config(registry, None, [
        *quick_overrides(tmp_path / "tasks", algo_name="RANDOM", env_name="lives_game", seed=2, mp_backend="ray"),
        "env_cfg.n_envs=2"])
    spec = joyrl_core.EnvSpec.from_env(built(True), "lives_game")
    task = create_task_dir(cfg.general.task_dir, "train", "lives_game", "RANDOM")
    run = joyrl_core.RunContext(config=cfg, registry=registry, task=task, env_spec=spec, device="cpu",
                                log=logging.getLogger("test_episode_continues"))
    worker = RolloutWorker(run, 0)
    worker.version = 0  # act with its own weights: no Ray to fetch them from
    stats, packed = worker.collect(0, [], 0, GAME_STEPS + 2)
    assert [(t, r.reward, r.length) for t, r in stats["episodes"]] == [(GAME_STEPS - 1, GAME_SCORE, GAME_STEPS)] * 2
    assert packed.unpack()["terminated"].reshape(-1, 2)[:, 0].nonzero()[0].tolist() == [3, 7, 11]
