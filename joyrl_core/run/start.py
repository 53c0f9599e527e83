"""Starting a run: checks before anything is written, the task folder, loggers, the backend, the outputs."""

from __future__ import annotations

import dataclasses
import json
import logging
import logging.handlers
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from joyrl_core.config import RunConfig, dump_config
from joyrl_core.contracts.logger import Logger
from joyrl_core.contracts.records import RunSummary
from joyrl_core.contracts.spaces import EnvSpec
from joyrl_core.data.dataset import Dataset, load_dataset
from joyrl_core.errors import ConfigError, EnvError
from joyrl_core.outputs.loggers import LoggerGroup
from joyrl_core.outputs.task import TaskPaths, atomic_write_text, create_task_dir
from joyrl_core.plugins.registry import Registry
from joyrl_core.run.context import (
    RunContext,
    call_env_factory,
    env_id_of,
    load_run_checkpoint,
    resolve_device,
    seed_everything,
    set_torch_threads,
)


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
    from joyrl_core.outputs.plots import plot_rewards, show_figure

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


def _offline_dataset(config: RunConfig, env_spec: EnvSpec) -> Dataset | None:
    """The dataset an offline algorithm (one whose config has ``dataset``) learns from in train mode,
    read and checked against the env now, so that bad data never leaves a task folder behind."""
    general = config.general
    sources = getattr(config.algo, "dataset", None)
    if general.mode != "train" or sources is None:
        return None
    if general.max_update_steps is None:
        raise ConfigError(f"{config.source}: general_cfg.max_update_steps: {general.algo_name} learns offline, "
                          "from a dataset, and needs a budget of update steps, e.g. --set "
                          "general_cfg.max_update_steps=10000")
    if general.eval_every_steps is not None:
        raise ConfigError(f"{config.source}: general_cfg.eval_every_steps counts env steps, and {general.algo_name} "
                          "steps no env: an offline run evaluates at every save point (model_save_fre update steps)")
    return load_dataset(sources, env_spec)


def start_run(
    config: RunConfig, registry: Registry, logger_overrides: Sequence[Logger] | None = None,
    extra_loggers: Sequence[Callable[[RunContext], Logger]] = (),
) -> tuple[RunSummary, TaskPaths]:
    """Create the task folder, build loggers and the backend, and run it to the end.

    ``logger_overrides`` replaces the configured loggers (tests and embedding applications).
    ``extra_loggers`` are factories called with the run's context once the configured loggers are
    built; their loggers see every event too, without changing the config or the task folder (how
    ``joyrl run --seeds`` shows progress and ``joyrl tune`` feeds evaluations to its pruner). An
    exception a logger raises ends the run like any error, after the final checkpoint is saved.
    """
    general = config.general
    check_display(getattr(config.env, "render_mode", None))
    device = resolve_device(general.device)
    seed_everything(general.seed)
    set_torch_threads(general.torch_threads)

    env_component = registry.get("env", general.env_name)
    # Built once: read for the spaces here, then handed to the run as its first env (RunContext.make_env).
    probe = call_env_factory(env_component.factory, env_component.name, config.env, None)
    try:
        env_id = env_id_of(config, probe)
        env_spec = EnvSpec.from_env(probe, env_id)
        render_fps = int(probe.metadata.get("render_fps") or 30)
        # Read once, here: a wrong load_path, or a corrupt or unsafe file, fails before a task folder is
        # made for a run that cannot start, and the run restores from what was read.
        checkpoint = load_run_checkpoint(config) if general.load_checkpoint or general.mode == "test" else None
        dataset = _offline_dataset(config, env_spec)
        task = create_task_dir(general.task_dir, general.mode, env_id, general.algo_name)
    except BaseException:
        probe.close()
        raise
    atomic_write_text(task.config_file, dump_config(config))
    log = _open_run_log(task)
    run = RunContext(config=config, registry=registry, task=task, env_spec=env_spec, device=device, log=log,
                     render_fps=render_fps, dataset=dataset, checkpoint=checkpoint, _spare_env=probe)
    log.info("task folder %s; config from %s; device %s", task.root, config.source, device)
    if dataset is not None:
        log.info("offline dataset: %d transitions in %d episodes (mean episode reward %.2f)",
                 len(dataset), dataset.episodes, float(dataset.episode_rewards.mean()))
    try:
        if logger_overrides is not None:
            run.loggers = LoggerGroup(logger_overrides)
        else:
            for name in general.loggers:
                run.loggers.loggers.append(registry.get("logger", name).factory(run))
        run.loggers.loggers.extend(factory(run) for factory in extra_loggers)
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
            run.close_spare_env()
            run.loggers.close()
        finally:
            _close_run_log(log)
