"""Starting a run: checks before anything is written, the task folder, loggers, the backend, the outputs."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import logging.handlers
import math
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from joyrl_core.config import RunConfig, dump_config
from joyrl_core.components.wrappers import resolve_wrappers
from joyrl_core.contracts.buffer import transition_nbytes
from joyrl_core.contracts.logger import Logger
from joyrl_core.contracts.records import RunSummary
from joyrl_core.contracts.spaces import EnvSpec
from joyrl_core.data.dataset import Dataset, load_dataset
from joyrl_core.errors import ConfigError, EnvError, JoyRLError, OutputError
from joyrl_core.outputs.loggers import LoggerGroup, read_results_csv
from joyrl_core.outputs.task import TaskPaths, atomic_write_text, create_task_dir, remove_stale_temps
from joyrl_core.plugins.registry import Registry
from joyrl_core.run.verdict import judge, reward_threshold, verdict_line
from joyrl_core.run.context import (
    RunContext,
    env_id_of,
    keep_freed_memory,
    load_run_checkpoint,
    resolve_device,
    seed_everything,
    set_torch_threads,
)
from joyrl_core.run.envs import Normalizer, build_env, restore_normalizer


class _RunLogHandler(logging.FileHandler):
    """``logs/run.log``. A failed write (a full disk) stops the run with one :class:`OutputError`,
    raised from the logging call that hit it, instead of a traceback per record; the log is then off."""

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):
            super().handleError(record)
            return
        self.setLevel(logging.CRITICAL + 1)
        raise OutputError.writing(self.baseFilename, exc) from None


def _open_run_log(task: TaskPaths) -> logging.Logger:
    log = logging.getLogger(f"joyrl.run.{task.root.name}")
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        handler = _RunLogHandler(task.logs / "run.log", encoding="utf-8")
    except OSError as exc:
        raise OutputError.writing(task.logs / "run.log", exc) from None
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
    write_summary(task, summary)
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


def _meminfo_available() -> int | None:
    """Linux's ``MemAvailable`` (free memory plus what the kernel can reclaim) in bytes, or ``None``."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):  # no /proc (not Linux), or a line of another format
        return None
    return None


def _available_memory() -> int | None:
    """Bytes of memory available to a new allocation, or ``None`` if unknown: ``MemAvailable`` where
    Linux gives it, else the free physical pages."""
    available = _meminfo_available()
    if available is not None:
        return available
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError("unreachable")


def check_buffer_memory(config: RunConfig, env_spec: EnvSpec) -> None:
    """Refuse a ``buffer_size`` whose transitions cannot fit in the memory available, before anything
    is allocated (numpy's zeroed arrays are allocated lazily: the run would die far into training)."""
    size = getattr(config.algo, "buffer_size", None)  # an offline buffer is sized by its dataset
    if getattr(config.algo, "buffer_type", None) is None or size is None:
        return
    capacity = int(size)
    # A buffer that keeps less than two observations a row (FRAME_QUE) says how much on its config.
    estimate = getattr(config.buffer, "transition_nbytes", None)
    per = estimate(env_spec) if callable(estimate) else transition_nbytes(env_spec)
    available = _available_memory()
    if available is not None and capacity * per > available:
        raise ConfigError(
            f"algo_cfg.buffer_size: {capacity} transitions of {env_spec.env_id} need at least "
            f"{_bytes(capacity * per)} ({per} bytes each), but only {_bytes(available)} of memory is available"
        )


def counters_line(summary: RunSummary, mode: str) -> str:
    """What the run did, in one line: a test run's update count is its checkpoint's, not work done."""
    if mode == "test":
        return (f"{summary.episodes} test episodes, {summary.env_steps} env steps in {summary.wall_time:.1f} s "
                f"(checkpoint of update step {summary.update_steps})")
    return (f"{summary.episodes} episodes, {summary.env_steps} env steps, {summary.update_steps} update steps "
            f"in {summary.wall_time:.1f} s")


def summary_to_dict(summary: RunSummary) -> dict[str, Any]:
    """The summary as strict JSON data: a NaN or infinite number becomes ``None`` (JSON null)."""
    data = dataclasses.asdict(summary)
    del data["last_rewards"]
    if summary.test_rewards:
        data["test_mean_reward"] = float(np.mean(summary.test_rewards))
        data["test_std_reward"] = float(np.std(summary.test_rewards))
    return _finite_or_none(data)


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    return value


def write_summary(task: TaskPaths, summary: RunSummary) -> None:
    text = json.dumps(summary_to_dict(summary), indent=2, allow_nan=False)
    atomic_write_text(task.results / "summary.json", text + "\n")


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
    if general.keep_freed_memory:
        keep_freed_memory()

    env_component = registry.get("env", general.env_name)
    # Built once: read for the spaces here, then handed to the run as its first env (RunContext.make_env).
    probe = build_env(env_component.factory, env_component.name, config.env, general.max_step,
                      resolve_wrappers(config.env_wrap.wrappers, registry, config.source))
    try:
        env_id = env_id_of(config, probe)
        normalizer = Normalizer.for_run(config, probe)
        # The spaces the agent sees: normalization makes observations float32.
        env_spec = EnvSpec.from_env(normalizer.wrap(probe, train=False) if normalizer else probe, env_id)
        render_fps = int(probe.metadata.get("render_fps") or 30)
        threshold, threshold_source = reward_threshold(probe, general)
        own_limit = getattr(getattr(probe, "spec", None), "max_episode_steps", None)
        # Read once, here: a wrong load_path, or a corrupt or unsafe file, fails before a task folder is
        # made for a run that cannot start, and the run restores from what was read.
        if general.mode == "train":
            check_buffer_memory(config, env_spec)
        checkpoint = load_run_checkpoint(config) if general.load_checkpoint or general.mode == "test" else None
        if checkpoint is not None:
            restore_normalizer(normalizer, checkpoint.payload, str(checkpoint.path), train=general.mode == "train")
            # A run killed while saving there left its temporary file behind.
            remove_stale_temps(checkpoint.path.parent)
        dataset = _offline_dataset(config, env_spec)
        if dataset is not None and normalizer is not None:
            raise ConfigError(f"{config.source}: env_cfg.normalize_obs/normalize_reward: {general.algo_name} learns "
                              "offline from a dataset's own observations and rewards; switch normalization off")
        task = create_task_dir(general.task_dir, general.mode, env_id, general.algo_name)
    except BaseException:
        probe.close()
        raise
    log: logging.Logger | None = None
    run: RunContext | None = None
    failure: BaseException | None = None
    try:
        atomic_write_text(task.config_file, dump_config(config))
        log = _open_run_log(task)
        run = RunContext(config=config, registry=registry, task=task, env_spec=env_spec, device=device, log=log,
                         render_fps=render_fps, dataset=dataset, checkpoint=checkpoint, normalizer=normalizer,
                         _spare_env=probe)
        log.info("task folder %s; config from %s; device %s", task.root, config.source, device)
        if general.max_step is None and own_limit is None and dataset is None:
            log.warning("%s has no time limit of its own and general_cfg.max_step is null: an episode ends "
                        "only when the env terminates it", env_id)
        if dataset is not None:
            log.info("offline dataset: %d transitions in %d episodes (mean episode reward %.2f)",
                     len(dataset), dataset.episodes, float(dataset.episode_rewards.mean()))
        if logger_overrides is not None:
            run.loggers = LoggerGroup(logger_overrides)
        else:
            for name in general.loggers:
                run.loggers.loggers.append(registry.get("logger", name).factory(run))
        run.loggers.loggers.extend(factory(run) for factory in extra_loggers)
        backend = registry.get("backend", general.mp_backend).factory(run)
        summary = backend.run()
        summary.ended = "interrupted" if summary.interrupted else "completed"
        judge(summary, threshold)
        summary.verdict = verdict_line(summary, general, task, env_id, threshold_source, run.step_axis)
        run.loggers.close()
        _write_outputs(config, task, summary, log, env_id)
        log.info("finished: %s%s", counters_line(summary, general.mode),
                 " (interrupted)" if summary.interrupted else "")
        log.info("%s", summary.verdict)
        return summary, task
    except (Exception, KeyboardInterrupt) as exc:
        failure = exc
        if log is not None:
            with contextlib.suppress(OutputError):  # the log itself may be what cannot be written
                log.error("run failed: %s: %s", type(exc).__name__, exc)
        raise
    finally:
        # While the run's own error propagates, a second one from closing its files would replace it.
        try:
            with contextlib.suppress(*((JoyRLError,) if failure is not None else ())):
                if run is not None:
                    run.close_spare_env()
                    run.loggers.close()
        finally:
            with contextlib.suppress(*((JoyRLError,) if failure is not None else ())):
                if log is not None:
                    _close_run_log(log)
            if failure is not None:
                _after_failure(task, run.summary if run is not None else None, failure)


def _never_started(task: TaskPaths) -> bool:
    """No checkpoint and no episode: the run was refused while it was being built."""
    if any(task.models.iterdir()):
        return False
    episodes = task.results / "episodes.csv"
    return not episodes.is_file() or not read_results_csv(episodes)[1]


def _after_failure(task: TaskPaths, summary: RunSummary | None, exc: BaseException) -> None:
    """Remove the folder of a run that never started; else write its summary with the error.

    Nothing here may raise over the run's own error (the disk may be what failed).
    """
    with contextlib.suppress(OSError, JoyRLError):
        if _never_started(task):
            shutil.rmtree(task.root, ignore_errors=True)
            return
        summary = summary or RunSummary()
        if isinstance(exc, KeyboardInterrupt):
            summary.ended, summary.interrupted = "interrupted", True
        else:
            summary.ended = "failed"
            summary.error = str(exc) if isinstance(exc, JoyRLError) else f"internal error: {type(exc).__name__}: {exc}"
        write_summary(task, summary)
