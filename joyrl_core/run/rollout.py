"""Rollout: an env stepped by a policy for one episode, transitions handed to a sink.

Kept apart from learning so that any backend can drive it: the ``single`` backend learns between steps
through ``on_step``; a remote worker only collects.

The policy a runner steps with is a callable ``act(obs) -> PolicyStep`` on a batch of observations
(:meth:`joyrl_core.Agent.act` while training, :func:`greedy_policy` for evaluation); the per-step arrays of its
``extras`` go into the buffer with their transitions, row for row.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from joyrl_core.components.wrappers import find_wrapper
from joyrl_core.contracts.agent import Agent, PolicyStep
from joyrl_core.contracts.buffer import Buffer
from joyrl_core.errors import EnvError, JoyRLError, NonFiniteError
from joyrl_core.outputs.trajectories import Trajectory
from joyrl_core.run.finite import non_finite_env_value
from joyrl_core.run.transition_log import TransitionLog


def env_name(env: gym.Env | gym.vector.VectorEnv) -> str:
    """The env's gymnasium id for messages, else its class name."""
    spec = getattr(env, "spec", None)
    return getattr(spec, "id", None) or type(getattr(env, "unwrapped", env)).__name__


def _check_values(env_id: str, obs: Any, reward: Any, where: str) -> None:
    bad = non_finite_env_value(obs, reward)
    if bad is not None:
        raise NonFiniteError(
            f"env {env_id} returned {bad} in {where}; nothing was trained on it "
            "(general_cfg.check_env_values: false turns this check off)"
        )


# The info key by which an env says that the learner's episode ended on this step (``terminated`` or
# ``truncated``) but the env's own, scored episode goes on after the next ``reset`` (DeepMind's episodic
# life: a lost life ends the learner's episode, the game goes on). The runners push the step as the env
# gave it and reset, but count on: one result (reward, length, wall time) per whole scored episode.
EPISODE_CONTINUES = "episode_continues"


def _continues(info: dict[str, Any]) -> bool:
    return bool(info.get(EPISODE_CONTINUES, False))


@dataclass
class EpisodeResult:
    """One episode (a whole scored episode: pieces an env ended with :data:`EPISODE_CONTINUES` count
    as one). ``reward`` is the env's own return: what gymnasium's ``RecordEpisodeStatistics`` (beneath
    any reward-transforming wrapper) measured, where the env has one; else the sum of the rewards the
    learner saw."""

    reward: float
    length: int
    terminated: bool
    wall_time: float
    frames: list[np.ndarray] = field(default_factory=list)
    # The transitions (``record_trajectory``), one Trajectory per learner's episode: a whole scored
    # episode of several pieces (EPISODE_CONTINUES) gives one per piece, each as the learner saw it.
    trajectories: list[Trajectory] = field(default_factory=list)
    cut: bool = False  # stopped by ``on_step`` (the run's stop) before the episode ended


def _trajectory(log: TransitionLog, episode_reward: float) -> Trajectory:
    """The episode in ``log`` as a :class:`Trajectory` (copies: the log is reused for the next one)."""
    arrays = log.arrays()
    return Trajectory(
        states=arrays["obs"],
        actions=arrays["actions"],
        rewards=arrays["rewards"],
        next_states=arrays["next_obs"],
        terminated=arrays["terminated"],
        truncated=arrays["truncated"],
        episode_reward=episode_reward,
    )


ActFn = Callable[[np.ndarray], PolicyStep]


def greedy_policy(agent: Agent) -> ActFn:
    """``agent.predict_action`` as a runner's policy (no extras): evaluation and test mode."""
    predict = agent.predict_action
    return lambda obs: PolicyStep(predict(obs))


class EnvRunner:
    """Runs episodes of one env. The first reset uses ``seed``; later resets continue its RNG.

    Seeding every reset with the same value would make every episode start alike; gymnasium's env RNG
    carries on from the first seeded reset instead.
    """

    def __init__(self, env: gym.Env, seed: int | None, max_steps: int | None, check_values: bool = True,
                 env_id: str | None = None):
        self.env = env
        # No cap of our own: the env's time limit (or its termination) ends each episode.
        self.max_steps = math.inf if max_steps is None else max_steps
        self.check_values = check_values
        self.env_id = env_id or env_name(env)
        self.episodes = 0
        self._next_seed = seed
        # Results record the env's real score: RecordEpisodeStatistics sits beneath the wrappers that
        # normalize or clip the rewards the learner sees (joyrl_core.run.envs).
        self._stats = find_wrapper(env, gym.wrappers.RecordEpisodeStatistics)
        if seed is not None:
            env.action_space.seed(seed)

    def _env_return(self, info: dict[str, Any], seen: float) -> float:
        """The episode's return before reward transforms: the ``info["episode"]`` of an episode the env
        ended, the statistics wrapper's running sum of one the run cut, else the rewards ``seen``."""
        if "episode" in info:
            return float(info["episode"]["r"])
        return float(self._stats.episode_returns) if self._stats is not None else seen

    def reseed(self, seed: int | None) -> None:
        """Seed the next reset (``None``: leave the env's RNG running)."""
        self._next_seed = seed

    def _reset(self, episode: int) -> np.ndarray:
        try:
            obs, _ = self.env.reset(seed=self._next_seed)
        except JoyRLError:
            raise
        except Exception as exc:  # a third-party env can raise anything
            raise EnvError(f"env {self.env_id} raised in reset (episode {episode}): {type(exc).__name__}: {exc}") from exc
        self._next_seed = None
        if self.check_values:
            _check_values(self.env_id, obs, 0.0, f"reset (episode {episode})")
        return obs

    def _step(self, action: np.ndarray, episode: int, step: int) -> tuple:
        try:
            out = self.env.step(action)
        except JoyRLError:
            raise
        except Exception as exc:
            raise EnvError(
                f"env {self.env_id} raised in step (episode {episode}, step {step}): {type(exc).__name__}: {exc}"
            ) from exc
        if self.check_values:
            _check_values(self.env_id, out[0], out[1], f"step (episode {episode}, step {step})")
        return out

    def run_episode(
        self,
        act: ActFn,
        buffer: Buffer | None = None,
        on_step: Callable[[], bool] | None = None,
        record_frames: int = 0,
        record_trajectory: bool = False,
        episode: int | None = None,
    ) -> EpisodeResult:
        """Play one episode with ``act`` (batched: ``(1, *obs_shape) -> PolicyStep`` of one row).

        Every transition goes to ``buffer`` as stream 0, with row 0 of the policy's extras; the last one of an episode cut by the env's time limit or by
        ``max_steps`` is pushed with ``terminated=False, truncated=True``, so its value bootstraps;
        ``on_step`` runs after each step (the single backend learns there) and returns ``True`` to end
        the episode there (the run stops); the result's ``cut`` says whether that ended it early. ``record_frames`` > 0 keeps up to that many rendered frames; ``record_trajectory`` keeps
        the episode's transitions as :class:`Trajectory` objects (imitation and offline RL data).

        A step that ends the learner's episode with ``info[EPISODE_CONTINUES]`` is pushed as it is (the
        learner sees the termination), then the env is reset and the episode goes on: the result is the
        whole scored episode, its reward the sum of what ``RecordEpisodeStatistics`` reported for its
        pieces (beneath the wrapper that ends them early it reports once, the whole episode) plus the
        last piece's return. ``max_steps`` cuts each piece, as the run's ``TimeLimit`` does.

        An exception in the env's ``reset``/``step`` becomes an :class:`EnvError`, and (with
        ``check_values``) a NaN or infinite observation or reward a :class:`NonFiniteError`, naming the
        env, ``episode`` (the run's episode number; default: this runner's count) and the step, before
        the transition reaches ``buffer``.
        """
        env = self.env
        start = time.perf_counter()
        self.episodes += 1
        episode = self.episodes if episode is None else episode
        obs = self._reset(episode)
        frames: list[np.ndarray] = []
        if record_frames:
            frames.append(env.render())
        log = TransitionLog() if record_trajectory else None
        trajectories: list[Trajectory] = []
        total = earlier = 0.0  # rewards seen; what RecordEpisodeStatistics reported for earlier pieces
        terminated = truncated = stopped = False
        info: dict[str, Any] = {}
        length = piece = 0
        while True:
            actions, extras = act(np.asarray(obs)[None])
            action = actions[0]
            next_obs, reward, terminated, truncated, info = self._step(action, episode, length + 1)
            total += float(reward)
            length += 1
            piece += 1
            cut = truncated or piece >= self.max_steps
            if buffer is not None:
                if extras:
                    buffer.push(obs, action, reward, next_obs, terminated, cut,
                                extras={name: value[0] for name, value in extras.items()})
                else:
                    buffer.push(obs, action, reward, next_obs, terminated, cut)
            if log is not None:
                log.push(obs, action, reward, next_obs, terminated, cut)
            obs = next_obs
            if len(frames) and len(frames) < record_frames:
                frames.append(env.render())
            ended = terminated or cut
            goes_on = ended and _continues(info)
            if on_step is not None and on_step():
                stopped = goes_on or not ended
                break
            if not goes_on:
                if ended:
                    break
                continue
            if log is not None:  # a trajectory per learner's episode, with the score so far
                trajectories.append(_trajectory(log, earlier + self._env_return(info, total)))
                log.clear()
            if "episode" in info:  # counted in full: the rewards seen count only pieces never reported
                earlier += float(info["episode"]["r"])
                total = 0.0
            obs = self._reset(episode)
            piece = 0
        total = earlier + self._env_return(info, total)
        if log is not None and len(log):
            trajectories.append(_trajectory(log, total))
        return EpisodeResult(total, length, bool(terminated), time.perf_counter() - start, frames, trajectories,
                             cut=stopped)


@dataclass
class FinishedEpisode:
    """An episode that ended inside a vectorized step: which sub-env, and how it went."""

    env_index: int
    result: EpisodeResult


class VectorEnvRunner:
    """Steps N copies of an env at once (gymnasium's vector API, same-step autoreset).

    Each ``step`` acts on all N observations with one batched call, pushes N transitions with one
    ``push_batch`` (row ``i`` is sub-env ``i``, with row ``i`` of the policy's extras), and reports the
    episodes that ended. For an episode that
    ended, the pushed ``next_obs`` is the real final observation, not the reset one. An end with
    ``info[EPISODE_CONTINUES]`` is no episode's end here either: the sub-env's scored episode goes on.
    """

    def __init__(self, venv: gym.vector.VectorEnv, seed: int | None, record_trajectories: bool = False,
                 check_values: bool = True, env_id: str | None = None):
        self.venv = venv
        self.n = venv.num_envs
        self.check_values = check_values
        self.env_id = env_id or env_name(venv)
        self.steps = 0
        try:
            self._obs, _ = venv.reset(seed=seed)
        except JoyRLError:
            raise
        except Exception as exc:
            raise EnvError(f"env {self.env_id} raised in reset: {type(exc).__name__}: {exc}") from exc
        if check_values:
            _check_values(self.env_id, self._obs, 0.0, "reset")
        if seed is not None:
            venv.action_space.seed(seed)
        self._returns = np.zeros(self.n)
        self._earlier = np.zeros(self.n)  # what RecordEpisodeStatistics reported for earlier pieces
        self._lengths = np.zeros(self.n, dtype=np.int64)
        self._starts = np.full(self.n, time.perf_counter())
        self._logs = [TransitionLog() for _ in range(self.n)] if record_trajectories else None
        self._pieces: list[list[Trajectory]] = [[] for _ in range(self.n)]  # of scored episodes going on

    def step(self, act: ActFn, buffer: Buffer | None) -> list[FinishedEpisode]:
        obs = self._obs
        actions, extras = act(obs)
        self.steps += 1
        try:
            next_obs, rewards, terminated, truncated, info = self.venv.step(actions)
        except JoyRLError:
            raise
        except Exception as exc:
            raise EnvError(f"env {self.env_id} raised in step (vector step {self.steps} of {self.n} copies): "
                           f"{type(exc).__name__}: {exc}") from exc
        if self.check_values:
            _check_values(self.env_id, next_obs, rewards, f"step (vector step {self.steps} of {self.n} copies)")
        done = terminated | truncated
        real_next = next_obs
        if done.any():
            real_next = next_obs.copy()
            for i in np.flatnonzero(done):
                real_next[i] = info["final_obs"][i]
        if buffer is not None:
            if extras:
                buffer.push_batch(obs, actions, rewards, real_next, terminated, truncated, extras=extras)
            else:
                buffer.push_batch(obs, actions, rewards, real_next, terminated, truncated)
        self._returns += rewards
        self._lengths += 1
        if self._logs is not None:
            for i, log in enumerate(self._logs):
                log.push(obs[i], actions[i], rewards[i], real_next[i], terminated[i], truncated[i])
        self._obs = next_obs
        if not done.any():
            return []
        now = time.perf_counter()
        finished = []
        # The sub-envs' RecordEpisodeStatistics (beneath any reward transform) report in the final infos.
        stats = info.get("final_info", {})
        recorded = stats.get("_episode")
        goes_on = stats.get(EPISODE_CONTINUES)
        for i in np.flatnonzero(done):
            reported = recorded is not None and recorded[i]
            if goes_on is not None and stats["_" + EPISODE_CONTINUES][i] and goes_on[i]:
                # The learner's episode ended, the scored one goes on (EnvRunner.run_episode says how).
                piece = float(stats["episode"]["r"][i]) if reported else float(self._returns[i])
                if self._logs is not None:
                    self._pieces[i].append(_trajectory(self._logs[i], self._earlier[i] + piece))
                    self._logs[i].clear()
                if reported:  # counted in full: the rewards seen count only pieces never reported
                    self._earlier[i] += piece
                    self._returns[i] = 0.0
                continue
            reward = self._earlier[i] + (float(stats["episode"]["r"][i]) if reported else float(self._returns[i]))
            trajectories = []
            if self._logs is not None:
                trajectories, self._pieces[i] = [*self._pieces[i], _trajectory(self._logs[i], reward)], []
            finished.append(FinishedEpisode(int(i), EpisodeResult(
                reward, int(self._lengths[i]), bool(terminated[i]), now - self._starts[i],
                trajectories=trajectories,
            )))
            if self._logs is not None:
                self._logs[i].clear()
            self._returns[i] = self._earlier[i] = 0.0
            self._lengths[i] = 0
            self._starts[i] = now
        return finished
