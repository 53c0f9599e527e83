"""Several seeds of one config: one task per seed under one experiment folder, run in parallel by an
executor (local processes, or what a plugin offers through the ``experiment_executor`` hook).

Every seed's run is a normal run (``resolve_config`` + ``start_run``) in its own process, with
``general_cfg.seed`` and ``general_cfg.task_dir`` (the experiment folder) set, so each task folder is
exactly what a single run writes. The seeds' runs leave out the ``console`` logger: the experiment
shows one progress display for all of them instead.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joyrl_core.config import RunConfig, resolve_config
from joyrl_core.errors import ConfigError
from joyrl_core.contracts.executor import Executor, Job, JobOutcome
from joyrl_core.experiments.executors import choose_executor
from joyrl_core.experiments.processes import child_torch_threads
from joyrl_core.experiments.progress import ProgressBoard, ReportingLogger, without_console
from joyrl_core.outputs.task import atomic_write_text, create_unique_dir, safe_name
from joyrl_core.plugins.registry import Registry, load_registry
from joyrl_core.run.context import env_id_of

ConfigSource = str | Path | Mapping[str, Any] | None


def parse_seeds(text: str) -> list[int]:
    """``1-5``, ``1,4,9`` or a mix (``1-3,7``) as a list of distinct seeds >= 1, in the given order."""
    seeds: list[int] = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if match is None:
            raise ConfigError(f"--seeds {text}: expected seeds like 1-5 or 1,4,9, got {part.strip()!r}")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ConfigError(f"--seeds {text}: the range {part.strip()} is empty (write it low-high)")
        seeds.extend(range(first, last + 1))
    if 0 in seeds:
        raise ConfigError(f"--seeds {text}: seeds must be >= 1 (seed 0 means unseeded)")
    duplicates = sorted({s for s in seeds if seeds.count(s) > 1})
    if duplicates:
        raise ConfigError(f"--seeds {text}: lists seed(s) {', '.join(map(str, duplicates))} more than once")
    return seeds


def seed_config(registry: Registry, source: ConfigSource, overrides: Sequence[str], seed: int,
                task_dir: str | Path | None = None, *, source_label: str | None = None) -> RunConfig:
    """The config of one seed's run: ``source`` and ``overrides`` with the seed (and task folder) set,
    without the console logger."""
    extra = [f"general_cfg.seed={seed}"]
    if task_dir is not None:
        extra.append(f"general_cfg.task_dir={Path(task_dir)}")
    return without_console(resolve_config(registry, source, [*overrides, *extra], source=source_label))


def run_one_seed(source: ConfigSource, overrides: Sequence[str], seed: int, task_dir: str, threads: int,
                 source_label: str | None, *, report) -> dict[str, Any]:
    """An executor's job: one seed's run; returns its task folder and summary."""
    from joyrl_core.run.context import set_torch_threads
    from joyrl_core.run.start import start_run, summary_to_dict

    set_torch_threads(threads)
    registry = load_registry()
    config = seed_config(registry, source, overrides, seed, task_dir, source_label=source_label)
    summary, task = start_run(config, registry, extra_loggers=[lambda run: ReportingLogger(report)])
    return {"task": str(task.root), "summary": summary_to_dict(summary)}


@dataclass
class SeedOutcome:
    seed: int
    task: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Experiment:
    """What ``run_seeds`` returns: the experiment folder and each seed's outcome."""

    root: Path
    outcomes: list[SeedOutcome]
    interrupted: bool = False

    @property
    def failed(self) -> list[SeedOutcome]:
        return [o for o in self.outcomes if o.error is not None]


def run_seeds(source: ConfigSource, overrides: Sequence[str], seeds: Sequence[int], jobs: int | None = None,
              registry: Registry | None = None, show_progress: bool = True,
              source_label: str | None = None, cluster: str | None = None) -> Experiment:
    """Run ``seeds`` of one config, ``jobs`` at a time (default: as many as the executor has room for:
    the free cores for local processes).

    The runs go to the executor a plugin offers for this config or for ``cluster`` (an address, e.g. of
    a Ray cluster), else to local processes. The config is checked (every seed's) and the executor
    opened before the experiment folder ``<task_dir>/Exp_<env id>_<algo>_<YYYYMMDD-HHMMSS>/`` is made;
    ``experiment.json`` there lists the seeds and, once they have ended, their task folders or errors.
    """
    if not seeds:
        raise ConfigError("--seeds: no seeds given")
    registry = registry or load_registry()
    if isinstance(source, Path | str):
        source_label = source_label or str(source)
        source = str(Path(source).resolve())  # an executor's worker may start in another folder
    configs = {seed: seed_config(registry, source, overrides, seed, source_label=source_label) for seed in seeds}
    first = configs[seeds[0]]
    if first.general.mode != "train":
        raise ConfigError("--seeds runs training: general_cfg.mode must be train")
    with choose_executor(registry, first, cluster) as executor:
        parallel = min(executor.parallel(jobs), len(seeds))
        threads = child_torch_threads(first.general.torch_threads, parallel, executor.cores())
        return _run_seed_jobs(executor, first, source, overrides, seeds, parallel, threads, show_progress,
                              source_label)


def _run_seed_jobs(executor: Executor, first: RunConfig, source: ConfigSource, overrides: Sequence[str],
                   seeds: Sequence[int], parallel: int, threads: int, show_progress: bool,
                   source_label: str | None) -> Experiment:
    general = first.general
    exp = create_unique_dir(Path(general.task_dir).resolve(),
                            f"Exp_{safe_name(env_id_of(first))}_{safe_name(general.algo_name)}")
    record: dict[str, Any] = {
        "source": source_label or (source if isinstance(source, str) else "<dict>"),
        "overrides": list(overrides), "seeds": list(seeds), "executor": executor.name, "jobs": parallel,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runs": {},
    }
    atomic_write_text(exp / "experiment.json", json.dumps(record, indent=2) + "\n")
    job_list = [Job(seed, run_one_seed, (source, list(overrides), seed, str(exp), threads, source_label))
                for seed in seeds]
    outcomes: dict[int, SeedOutcome] = {seed: SeedOutcome(seed, error="not started (interrupted)") for seed in seeds}

    def on_outcome(outcome: JobOutcome) -> None:
        if outcome.error is None:
            result = SeedOutcome(outcome.key, outcome.result["task"], outcome.result["summary"])
        else:
            result = SeedOutcome(outcome.key, error=outcome.error)
        outcomes[outcome.key] = result
        record["runs"][str(outcome.key)] = {"task": result.task and Path(result.task).name, "error": result.error}
        atomic_write_text(exp / "experiment.json", json.dumps(record, indent=2) + "\n")
        if board is not None:
            board.finish(outcome.key, "failed: " + result.error if result.error else "done")

    total, unit = (general.max_env_steps, "env steps") if general.max_env_steps else (
        general.max_episode if general.max_episode > 0 else None, "episodes")
    board = ProgressBoard(total, unit) if show_progress else None
    if board is None:
        _, interrupted = executor.run(job_list, parallel, on_outcome=on_outcome)
    else:
        with board:
            for seed in seeds:
                board.add(seed, f"seed {seed}")
            _, interrupted = executor.run(job_list, parallel, on_event=board.update, on_outcome=on_outcome)
    return Experiment(exp, [outcomes[seed] for seed in seeds], interrupted)
