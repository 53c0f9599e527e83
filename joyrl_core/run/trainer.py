"""The trainer loop of one process: counters, learning cadence, evaluation, checkpoints, stopping.

The ``single`` backend runs it as is; other backends reuse its pieces (checkpointing, evaluation).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping

import numpy as np

from joyrl_core.config import config_to_dict
from joyrl_core.contracts.agent import Agent, PolicyStep
from joyrl_core.contracts.buffer import Buffer
from joyrl_core.contracts.records import EpisodeRecord, RunSummary
from joyrl_core.errors import CheckpointError, ConfigError, JoyRLError, NonFiniteError, OutputError
from joyrl_core.outputs.checkpoint import Counters, prune_checkpoints, save_checkpoint
from joyrl_core.outputs.trajectories import TrajectoryWriter
from joyrl_core.outputs.video import FRAME_CAP, write_gif
from joyrl_core.run.context import RunContext, load_run_checkpoint
from joyrl_core.run.finite import non_finite_metrics, non_finite_tensors
from joyrl_core.run.rollout import EnvRunner, EpisodeResult, VectorEnvRunner, greedy_policy
from joyrl_core.run.stop import StopRules


# An offline run reports its averaged update metrics (and its progress) every this many update steps.
OFFLINE_LOG_EVERY = 100


def _next_multiple(value: int, every: int) -> int:
    """The first multiple of ``every`` above ``value``: counters can jump several steps at once."""
    return (value // every + 1) * every


def restore_agent(run: RunContext, agent: Agent) -> Counters:
    """Load the run's checkpoint (``load_path``/``load_model``) into ``agent``; return its counters.

    ``start_run`` has read it already (``run.checkpoint``); a context made without it reads it here.
    """
    loaded = run.checkpoint or load_run_checkpoint(run.config)
    path, payload = loaded.path, loaded.payload
    try:
        agent.load_state_dict(payload["agent"])
    except (ValueError, RuntimeError, KeyError) as exc:
        # torch's message opens with a generic line; the mismatches themselves follow it.
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = " ".join(lines[:3]) if lines else type(exc).__name__
        raise CheckpointError(f"{path}: does not match this run's algorithm config: {detail}") from None
    run.log.info("loaded checkpoint %s", path)
    return Counters(**payload["counters"])


class Trainer:
    """Drives one agent on one env: ``train()`` or ``test()``, each returning a :class:`RunSummary`."""

    def __init__(self, run: RunContext, agent: Agent, buffer: Buffer | None):
        self.run = run
        self.agent = agent
        self.buffer = buffer
        self.general = run.config.general
        self.counters = Counters()
        self.summary = RunSummary()
        self.best_eval: float | None = None
        self._eval_runner: EnvRunner | None = None
        self._metric_sums: dict[str, float] = {}
        self._metric_counts: dict[str, int] = {}
        # Save points and evaluations are scheduled by train(); none happen before it starts.
        self._next_save = math.inf
        self._next_eval = math.inf
        self.stop = StopRules(self.general)
        self._start = time.perf_counter()
        self._speed_mark = (self._start, 0)
        self._speed = 0.0
        self._trajectories = TrajectoryWriter(run.task.results) if self.general.collect_traj else None
        self._render_mode = getattr(run.config.env, "render_mode", None)
        self._frames: list[np.ndarray] = []
        self._last_checkpoint: str | None = None

    def _runner(self, env, seed: int | None) -> EnvRunner:
        return EnvRunner(env, seed, self.general.max_step, check_values=self.general.check_env_values,
                         env_id=self.run.env_spec.env_id)

    def _step(self) -> int:
        """Where the run is on its step axis (``run.step_axis``): env steps, or update steps offline."""
        return self.agent.update_steps if self.run.dataset is not None else self.counters.env_steps

    def _frames_wanted(self) -> int:
        """How many frames the next episode may record: rgb_array runs, up to FRAME_CAP in all."""
        return FRAME_CAP - len(self._frames) if self._render_mode == "rgb_array" else 0

    def keep(self, result: EpisodeResult) -> None:
        """Keep what the run collects of an episode (its trajectory, with ``collect_traj``)."""
        if self._trajectories is not None:
            for trajectory in result.trajectories:
                self._trajectories.add(trajectory)

    # -- checkpoints and evaluation -------------------------------------------------------------

    def save(self, name: str) -> None:
        """Write checkpoint ``models/<name>.pt``; after a numbered one, keep only the newest
        ``keep_checkpoints``. Weights that are no longer finite are a :class:`NonFiniteError`, so
        every checkpoint on disk holds finite weights."""
        state = self.agent.state_dict()
        bad = next(non_finite_tensors(state), None)
        if bad is not None:
            raise NonFiniteError(
                f"{self.general.algo_name} agent state{bad} is not finite at update step {self.agent.update_steps}; "
                f"models/{name}.pt was not written{self._last_checkpoint_note()}"
            )
        save_checkpoint(
            self.run.task.models / f"{name}.pt",
            state,
            self.counters,
            config_to_dict(self.run.config),
            {"best_eval": self.best_eval},
            self.run.normalizer.state_dict() if self.run.normalizer is not None else None,
        )
        if name.isdigit():
            self._last_checkpoint = name
            prune_checkpoints(self.run.task.models, self.general.keep_checkpoints)

    def _last_checkpoint_note(self) -> str:
        if self._last_checkpoint is None:
            return " (no checkpoint was saved before)"
        return f"; models/{self._last_checkpoint}.pt is the last finite checkpoint"

    def evaluate(self, n_episodes: int) -> tuple[float, float, list[np.ndarray]]:
        """Mean and std of the greedy reward over ``n_episodes`` on the evaluation env (own seed).

        With ``render_mode: rgb_array`` the first episode's frames come back too, else an empty list.
        """
        if self._eval_runner is None:
            env = self.run.make_env("rgb_array" if self._render_mode == "rgb_array" else None)
            self._eval_runner = self._runner(env, None)
        # Every evaluation starts from the same seed, so evaluations compare models on the same
        # episodes, and test mode with the run's seed replays what the evaluation of a checkpoint saw.
        self._eval_runner.reseed(self.run.seed_for("eval"))
        rewards = []
        frames: list[np.ndarray] = []
        for i in range(n_episodes):
            result = self._eval_runner.run_episode(
                greedy_policy(self.agent), record_frames=self._frames_wanted() if i == 0 else 0
            )
            frames = frames or result.frames
            rewards.append(result.reward)
            self.run.loggers.log_episode(
                EpisodeRecord("eval", i + 1, self._step(), result.reward, result.length,
                              result.wall_time, result.terminated)
            )
        return float(np.mean(rewards)), float(np.std(rewards)), frames

    def save_point(self) -> None:
        """Every ``model_save_fre`` updates: a checkpoint, and with online eval the best model.

        Backends that learn elsewhere call it when the learner passes a save point.
        """
        self.counters.update_steps = self.agent.update_steps
        self.save(str(self.counters.update_steps))
        if self.general.online_eval and self.general.eval_every_steps is None:
            self.online_eval()

    def online_eval(self) -> None:
        """Evaluate greedily, log it, and keep the best model (and its GIF) when it improved.

        Its wall time is kept apart, so ``train_time`` in evals.csv and the summary is learning alone.
        """
        start = time.perf_counter()
        self.counters.update_steps = self.agent.update_steps
        mean, std, frames = self.evaluate(self.general.online_eval_episode)
        self.summary.eval_mean_rewards.append((self._step(), mean))
        self.run.log.info("eval at %d %s: mean %.2f std %.2f", self._step(), self.run.step_axis.replace("_", " "),
                          mean, std)
        if self.best_eval is None or mean > self.best_eval:
            self.best_eval = mean
            if self.general.save_best_model:
                self.save("best")
            if frames:
                # The GIF of a training run shows the best model so far playing greedily.
                write_gif(frames, self.run.task.videos / "video.gif", fps=self.run.render_fps)
        if self.stop.evaluated(mean):
            self.run.log.info("eval mean %.2f reached stop_reward %.2f: training stops", mean, self.stop.stop_reward)
        self.summary.eval_time += time.perf_counter() - start
        train_time = time.perf_counter() - self._start - self.summary.eval_time
        self.run.loggers.log_metrics(
            self._step(), {"eval/mean_reward": mean, "eval/std_reward": std, "time/train_time": train_time}
        )

    # -- training ------------------------------------------------------------------------------

    def _learn(self) -> None:
        """After each (vectorized) env step: let the agent learn, save when a save point is passed,
        and evaluate when ``eval_every_steps`` env steps have passed."""
        metrics = self.agent.update(self.buffer, self.counters.env_steps)
        if metrics is not None:
            self.check_metrics(metrics)
        if self.counters.env_steps >= self._next_eval:
            self.online_eval()
            self._next_eval = _next_multiple(self.counters.env_steps, self.general.eval_every_steps)
        if metrics is None:
            return
        self._record_metrics(metrics)
        # An update may take several gradient steps, so compare rather than test divisibility.
        if self.agent.update_steps >= self._next_save:
            self.save_point()
            self._next_save = _next_multiple(self.agent.update_steps, self.general.model_save_fre)

    def check_metrics(self, metrics: Mapping[str, float]) -> None:
        """Stop with a :class:`NonFiniteError` when an update returned a NaN or infinite metric (a loss
        that diverged): what it trained is not saved. Backends that learn elsewhere call it too."""
        bad = non_finite_metrics(metrics)
        if bad:
            values = ", ".join(f"{key} {float(metrics[key])}" for key in bad)
            raise NonFiniteError(
                f"{self.general.algo_name} update step {self.agent.update_steps} returned {values}: training "
                f"diverged and stops{self._last_checkpoint_note()} (a lower algo_cfg.lr may help)"
            )

    def _record_metrics(self, metrics: Mapping[str, float]) -> None:
        for key, value in metrics.items():
            self._metric_sums[key] = self._metric_sums.get(key, 0.0) + value
            self._metric_counts[key] = self._metric_counts.get(key, 0) + 1

    def _on_step(self) -> bool:
        self.counters.env_steps += 1
        self._learn()
        return self._out_of_steps()

    def _out_of_steps(self) -> bool:
        """Whether the run stops now (:class:`StopRules`: a budget is spent, an evaluation reached
        ``stop_reward``)."""
        return self.stop.out_of_steps(self.counters.env_steps, self.agent.update_steps)

    def _episode_metrics(self) -> dict[str, float]:
        metrics = {k: self._metric_sums[k] / self._metric_counts[k] for k in self._metric_sums}
        self._metric_sums.clear()
        self._metric_counts.clear()
        return metrics

    def _episode_done(self, result: EpisodeResult) -> None:
        """Count, keep and log one finished training episode."""
        counters = self.counters
        counters.episodes += 1
        self.keep(result)
        exploration = dict(self.agent.exploration(counters.env_steps))
        self.run.loggers.log_episode(EpisodeRecord(
            "train", counters.episodes, counters.env_steps, result.reward, result.length, result.wall_time,
            result.terminated, exploration,
        ))
        now = time.perf_counter()
        mark_time, mark_steps = self._speed_mark
        if counters.env_steps > mark_steps:
            self._speed = (counters.env_steps - mark_steps) / max(now - mark_time, 1e-9)
            self._speed_mark = (now, counters.env_steps)
        # else: another sub-env's episode ended in the same vector step; its rate is that step's.
        speed = self._speed
        metrics = {f"train/{k}": v for k, v in self._episode_metrics().items()}
        metrics.update({f"train/{k}": v for k, v in exploration.items()})
        metrics["time/steps_per_sec"] = speed
        self.run.loggers.log_metrics(counters.env_steps, metrics)
        self.run.log.info("episode %d: reward %.2f, length %d, env steps %d, %.0f steps/s",
                          counters.episodes, result.reward, result.length, counters.env_steps, speed)
        self.summary.last_rewards.append(result.reward)

    def _act(self, obs: np.ndarray) -> PolicyStep:
        return self.agent.act(obs, self.counters.env_steps)

    def _train_one_env(self) -> None:
        env = self.run.make_env("human" if self._render_mode == "human" else None, train=True)
        runner = self._runner(env, self.run.seed_for("train"))
        try:
            while not self._out_of_steps():
                result = runner.run_episode(self._act, self.buffer, self._on_step,
                                            record_trajectory=self._trajectories is not None,
                                            episode=self.counters.episodes + 1)
                # An episode the run's stop cut short is not one of its episodes (joyrl_core.run.stop).
                if not result.cut and self.stop.count_episode(self.counters.episodes):
                    self._episode_done(result)
        finally:
            env.close()

    def _train_vector(self) -> None:
        venv = self.run.make_vector_env()
        runner = VectorEnvRunner(venv, self.run.seed_for("train"), record_trajectories=self._trajectories is not None,
                                 check_values=self.general.check_env_values, env_id=self.run.env_spec.env_id)
        counters = self.counters
        try:
            while not self._out_of_steps():
                finished = runner.step(self._act, self.buffer)
                counters.env_steps += runner.n
                self._learn()
                for episode in finished:
                    if self.stop.count_episode(counters.episodes):
                        self._episode_done(episode.result)
        finally:
            venv.close()

    def _offline(self) -> bool:
        """Whether the agent learns from the run's dataset alone (:attr:`joyrl_core.Agent.offline`)."""
        if self.agent.offline != (self.run.dataset is not None):
            name = self.general.algo_name
            if self.agent.offline:
                raise ConfigError(f"algorithm {name} learns offline but its algo_cfg has no dataset key; "
                                  "its config must declare one with joyrl_core.dataset_field()")
            raise ConfigError(f"algorithm {name} learns online but was given a dataset (algo_cfg.dataset)")
        return self.agent.offline

    def _train_offline(self) -> None:
        """Fill the buffer with the dataset once, then update until ``max_update_steps``; no env steps.

        Checkpoints and online evaluation come at the save points, as online; the averaged update
        metrics and the update rate are logged every ``OFFLINE_LOG_EVERY`` update steps.
        """
        if self.buffer is None:
            raise ConfigError(f"algorithm {self.general.algo_name} learns offline but names no buffer_type to "
                              "read its dataset into")
        self.run.dataset.fill(self.buffer)
        next_log = _next_multiple(self.agent.update_steps, OFFLINE_LOG_EVERY)
        while not self._out_of_steps():
            before = self.agent.update_steps
            metrics = self.agent.update(self.buffer, self.counters.env_steps)
            if metrics is not None:
                self.check_metrics(metrics)
                self._record_metrics(metrics)
            steps = self.agent.update_steps
            if steps == before:  # nothing else would ever end the loop
                raise JoyRLError(f"algorithm {self.general.algo_name} learns offline but its update() made no "
                                 "update step; an offline agent must make at least one per call")
            if steps >= next_log:
                self._log_offline_progress()
                next_log = _next_multiple(steps, OFFLINE_LOG_EVERY)
            if steps >= self._next_save:
                self.save_point()
                self._next_save = _next_multiple(steps, self.general.model_save_fre)

    def _log_offline_progress(self) -> None:
        now = time.perf_counter()
        mark_time, mark_steps = self._speed_mark
        steps = self.agent.update_steps
        speed = (steps - mark_steps) / max(now - mark_time, 1e-9)
        self._speed_mark = (now, steps)
        metrics = {f"train/{k}": v for k, v in self._episode_metrics().items()}
        metrics["time/updates_per_sec"] = speed
        self.run.loggers.log_metrics(steps, metrics)
        self.run.log.info("update step %d: %s, %.0f updates/s", steps,
                          ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k.startswith("train/")), speed)

    def train(self) -> RunSummary:
        if self.general.load_checkpoint:
            self.counters = restore_agent(self.run, self.agent)
        counters = self.counters
        self.stop.first_episode = counters.episodes
        self._next_save = _next_multiple(self.agent.update_steps, self.general.model_save_fre)
        if self.general.online_eval and self.general.eval_every_steps is not None:
            self._next_eval = _next_multiple(counters.env_steps, self.general.eval_every_steps)
        self._speed_mark = (time.perf_counter(), self._step())
        offline = self._offline()
        failed = False
        try:
            if offline:
                self._train_offline()
            elif self.run.config.vector.n_envs > 1:
                self._train_vector()
            else:
                self._train_one_env()
        except KeyboardInterrupt:
            self.stop.interrupted()
            self.summary.interrupted = True
            self.run.log.warning("interrupted at episode %d, env step %d", counters.episodes, counters.env_steps)
        except BaseException:
            failed = True
            raise
        finally:
            # Always written, even over a save point's file of the same update step: the episode
            # counter may have moved on since.
            counters.update_steps = self.agent.update_steps
            try:
                self.save(str(counters.update_steps))
            except JoyRLError as exc:
                if not failed:
                    raise
                # The run's own error is what the user needs to see; this one goes to the log (if
                # the log can still be written).
                with contextlib.suppress(OutputError):
                    self.run.log.error("final checkpoint not written: %s", exc)
            finally:
                self.close_outputs()
        return self.finish()

    # -- testing -------------------------------------------------------------------------------

    def test(self) -> RunSummary:
        general = self.general
        self.counters = restore_agent(self.run, self.agent)
        self.counters.env_steps = 0
        n_episodes = general.test_episode or general.online_eval_episode
        env = self.run.make_env(self._render_mode)
        runner = self._runner(env, self.run.seed_for("eval"))
        try:
            for i in range(n_episodes):
                result = runner.run_episode(greedy_policy(self.agent), record_frames=self._frames_wanted(),
                                            record_trajectory=self._trajectories is not None)
                self._frames.extend(result.frames)
                self.keep(result)
                self.counters.env_steps += result.length
                self.run.loggers.log_episode(
                    EpisodeRecord("test", i + 1, self.counters.env_steps, result.reward, result.length,
                                  result.wall_time, result.terminated)
                )
                self.summary.test_rewards.append(result.reward)
                self.summary.last_rewards.append(result.reward)
                self.counters.episodes = i + 1
        except KeyboardInterrupt:
            self.summary.interrupted = True
        finally:
            env.close()
            if self._frames:
                write_gif(self._frames, self.run.task.videos / "video.gif", fps=self.run.render_fps)
            self.close_outputs()
        if self.summary.test_rewards:
            rewards = self.summary.test_rewards
            self.run.loggers.log_metrics(
                self.counters.env_steps, {"test/mean_reward": float(np.mean(rewards)), "test/std_reward": float(np.std(rewards))}
            )
        return self.finish()

    def close_outputs(self) -> None:
        """Close the evaluation env and flush the trajectory files; called once at the end, also when
        the run fails, so the summary so far is left on the run context for ``start_run`` to write."""
        self.run.summary = self.finish()
        if self._eval_runner is not None:
            self._eval_runner.env.close()
        if self._trajectories is not None:
            self._trajectories.close()

    def finish(self) -> RunSummary:
        """The summary with the final counters and times."""
        summary = self.summary
        summary.episodes = self.counters.episodes
        summary.env_steps = self.counters.env_steps
        summary.update_steps = self.agent.update_steps
        summary.wall_time = time.perf_counter() - self._start
        summary.best_eval_reward = self.best_eval
        summary.stop_reason = self.stop.reason
        return summary

