"""A run: everything a backend needs, built from a resolved config, and the code that starts it."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import logging.handlers
import os
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from joyrl_core.agent import Agent
from joyrl_core.buffers import Buffer
from joyrl_core.checkpoint import find_checkpoint, load_checkpoint
from joyrl_core.config import RunConfig, dump_config
from joyrl_core.errors import EnvError, JoyRLError
from joyrl_core.loggers import Logger, LoggerGroup
from joyrl_core.plugins import Registry
from joyrl_core.records import RunSummary
from joyrl_core.spaces import EnvSpec
from joyrl_core.task import TaskPaths, atomic_write_text, create_task_dir

_ROLE_CODES = {"train": 0, "eval": 1, "test": 2, "worker": 3}


def resolve_device(device: str) -> str:
    """``auto`` becomes ``cuda`` where a GPU is present, else ``cpu``; asking for a missing GPU is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise JoyRLError(f"general_cfg.device is {device!r} but torch sees no CUDA GPU; use cpu or auto")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise JoyRLError(f"general_cfg.device is {device!r} but only {torch.cuda.device_count()} GPU(s) exist")
    return device


def set_torch_threads(n: int) -> None:
    """Small networks are bound by per-op overhead, where extra threads only add synchronisation."""
    if n > 0:
        import torch

        torch.set_num_threads(n)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch globally (a seed of 0 means unseeded: nothing is touched)."""
    import torch

    if seed == 0:
        return
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def env_id_of(config: RunConfig, env: gym.Env | None = None) -> str:
    """The env's name for folders and titles: its gymnasium id where it has one, else the config's."""
    spec_id = getattr(getattr(env, "spec", None), "id", None)
    return str(spec_id or getattr(config.env, "id", None) or config.general.env_name)


@dataclass
class RunContext:
    """What a backend, a logger and the trainer loop get: config, task folder and component factories."""

    config: RunConfig
    registry: Registry
    task: TaskPaths
    env_spec: EnvSpec
    device: str
    log: logging.Logger
    loggers: LoggerGroup = field(default_factory=LoggerGroup)
    render_fps: int = 30

    def seed_for(self, role: str, index: int = 0) -> int | None:
        """A distinct, reproducible seed per env or component role (train, eval, test, worker N)."""
        seed = self.config.general.seed
        if seed == 0:
            return None
        return int(np.random.SeedSequence([seed, _ROLE_CODES[role], index]).generate_state(1)[0])

    def make_env(self, render_mode: str | None = None) -> gym.Env:
        component = self.registry.get("env", self.config.general.env_name)
        return _call_env_factory(component.factory, component.name, self.config.env, render_mode)

    def make_vector_env(self) -> gym.vector.VectorEnv:
        """``env_cfg.n_envs`` copies of the env, each cut at ``max_step`` steps, autoresetting in the
        same step (the final observation is in ``info["final_obs"]``)."""
        component = self.registry.get("env", self.config.general.env_name)
        make = functools.partial(_build_limited_env, component.factory, component.name, self.config.env,
                                 self.config.general.max_step)
        vector = self.config.vector
        cls = gym.vector.AsyncVectorEnv if vector.vector_mode == "async" else gym.vector.SyncVectorEnv
        return cls([make] * vector.n_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)

    def make_agent(self, seed: int | None = None) -> Agent:
        component = self.registry.get("algorithm", self.config.general.algo_name)
        try:
            agent = component.factory(self.config.algo, self.env_spec, self.device, seed)
        except JoyRLError:
            raise
        except (ValueError, TypeError) as exc:  # the plugin's way of saying the config or env does not fit
            raise JoyRLError(
                f"algorithm {component.name!r} cannot run on env {self.env_spec.env_id!r}: {exc}"
            ) from exc
        if not isinstance(agent, Agent):
            raise JoyRLError(
                f"algorithm {component.name!r} ({component.distribution}) built {type(agent).__name__}, "
                "which is not a joyrl_core.Agent"
            )
        return agent

    def make_buffer(self, seed: int | None = None) -> Buffer | None:
        """The buffer ``algo_cfg.buffer_type`` names, or ``None`` for an algorithm without one."""
        buffer_type = getattr(self.config.algo, "buffer_type", None)
        if buffer_type is None:
            return None
        component = self.registry.get("buffer", buffer_type)
        capacity = int(getattr(self.config.algo, "buffer_size"))
        return component.factory(capacity, self.env_spec, self.config.buffer, seed)


def _call_env_factory(factory: Any, name: str, env_cfg: Any, render_mode: str | None) -> gym.Env:
    try:
        env = factory(env_cfg, render_mode)
    except JoyRLError:
        raise
    except Exception as exc:  # a third-party env's constructor can raise anything
        raise EnvError(f"env plugin {name!r} failed to build the env: {type(exc).__name__}: {exc}") from exc
    if not isinstance(env, gym.Env):
        raise EnvError(f"env plugin {name!r} returned {type(env).__name__}, not a gymnasium.Env")
    return env


def _build_limited_env(factory: Any, name: str, env_cfg: Any, max_step: int) -> gym.Env:
    # Module-level (not a closure over the run) so async vector envs can pickle it to subprocesses.
    return gym.wrappers.TimeLimit(_call_env_factory(factory, name, env_cfg, None), max_episode_steps=max_step)


def _open_run_log(task: TaskPaths) -> logging.Logger:
    log = logging.getLogger(f"joyrl.run.{task.root.name}")
    log.setLevel(logging.INFO)
    log.propagate = False
    handler = logging.FileHandler(task.logs / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    # A line per episode flushed one by one costs more than a short episode's steps; buffer them.
    log.addHandler(logging.handlers.MemoryHandler(200, flushLevel=logging.WARNING, target=handler))
    return log


def _close_run_log(log: logging.Logger) -> None:
    for handler in list(log.handlers):
        handler.close()
        if isinstance(handler, logging.handlers.MemoryHandler) and handler.target is not None:
            handler.target.close()
        log.removeHandler(handler)
    logging.Logger.manager.loggerDict.pop(log.name, None)


def check_display(render_mode: str | None) -> None:
    """``render_mode: human`` needs a screen; say so before training rather than crash mid-run."""
    if render_mode != "human" or sys.platform != "linux":
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise EnvError(
            "env_cfg.render_mode is human but no display is available (DISPLAY is not set); "
            "use render_mode: rgb_array to write videos/video.gif instead"
        )


def _write_outputs(config: RunConfig, task: TaskPaths, summary: RunSummary, log: logging.Logger, env_id: str) -> None:
    """After the loggers closed their files: the summary, and the reward figure when asked."""
    atomic_write_text(task.results / "summary.json", json.dumps(summary_to_dict(summary), indent=2) + "\n")
    general = config.general
    if not (general.save_fig or general.show_fig):
        return
    episodes_csv = task.results / "episodes.csv"
    if not episodes_csv.is_file():
        log.warning("save_fig: no figure, because the csv logger (results/episodes.csv) was not active")
        return
    from joyrl_core.plots import plot_rewards, show_figure

    png = plot_rewards(episodes_csv, task.results / "rewards.png", task.results / "evals.csv",
                       title=f"{general.algo_name} on {env_id}")
    if general.show_fig:
        show_figure(png)


def summary_to_dict(summary: RunSummary) -> dict[str, Any]:
    data = dataclasses.asdict(summary)
    del data["last_rewards"]
    if summary.test_rewards:
        data["test_mean_reward"] = float(np.mean(summary.test_rewards))
        data["test_std_reward"] = float(np.std(summary.test_rewards))
    return data


def start_run(config: RunConfig, registry: Registry, logger_overrides: Sequence[Logger] | None = None) -> tuple[RunSummary, TaskPaths]:
    """Create the task folder, build loggers and the backend, and run it to the end.

    ``logger_overrides`` replaces the configured loggers (tests and embedding applications).
    """
    general = config.general
    check_display(getattr(config.env, "render_mode", None))
    device = resolve_device(general.device)
    seed_everything(general.seed)
    set_torch_threads(general.torch_threads)

    env_component = registry.get("env", general.env_name)
    probe = _call_env_factory(env_component.factory, env_component.name, config.env, None)
    try:
        env_id = env_id_of(config, probe)
        env_spec = EnvSpec.from_env(probe, env_id)
        render_fps = int(probe.metadata.get("render_fps") or 30)
    finally:
        probe.close()

    if general.load_checkpoint or general.mode == "test":
        # Fail on a wrong load_path, or a corrupt or unsafe file, before a task folder is made for a
        # run that cannot start.
        load_checkpoint(find_checkpoint(general.load_path, general.task_dir, general.load_model))

    task = create_task_dir(general.task_dir, general.mode, env_id, general.algo_name)
    atomic_write_text(task.config_file, dump_config(config))
    log = _open_run_log(task)
    run = RunContext(config=config, registry=registry, task=task, env_spec=env_spec, device=device, log=log,
                     render_fps=render_fps)
    log.info("task folder %s; config from %s; device %s", task.root, config.source, device)
    try:
        if logger_overrides is not None:
            run.loggers = LoggerGroup(logger_overrides)
        else:
            for name in general.loggers:
                run.loggers.loggers.append(registry.get("logger", name).factory(run))
        backend = registry.get("backend", general.mp_backend).factory(run)
        summary = backend.run()
        run.loggers.close()
        _write_outputs(config, task, summary, log, env_id)
        log.info(
            "finished: %d episodes, %d env steps, %d update steps in %.1f s%s",
            summary.episodes, summary.env_steps, summary.update_steps, summary.wall_time,
            " (interrupted)" if summary.interrupted else "",
        )
        return summary, task
    except Exception as exc:
        log.error("run failed: %s: %s", type(exc).__name__, exc)
        raise
    finally:
        try:
            run.loggers.close()
        finally:
            _close_run_log(log)
