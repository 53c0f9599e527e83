"""Reading finished task folders: their config and their evaluation curve, from the public files only
(``config.yaml``, ``results/evals.csv``, ``results/episodes.csv``), so any algorithm's runs can be read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from joyrl_core.errors import JoyRLError
from joyrl_core.outputs.plots import MOVING_AVERAGE_WINDOW, moving_average, read_columns



@dataclass
class Curve:
    """A run's reward against env steps and training wall time.

    ``source`` is ``evals`` (greedy online evaluations) or, for a run without them, ``episodes``
    (the moving average of its training episodes' rewards).
    """

    env_steps: np.ndarray
    reward: np.ndarray
    wall_time: np.ndarray
    source: str


@dataclass
class TaskRun:
    root: Path
    config: dict[str, Any]
    curve: Curve

    @property
    def seed(self) -> int:
        return int((self.config.get("general_cfg") or {}).get("seed", 0))


def read_config(task: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load((task / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise JoyRLError(f"{task / 'config.yaml'}: unreadable ({type(exc).__name__})") from None
    if not isinstance(config, dict):
        raise JoyRLError(f"{task / 'config.yaml'}: not a JoyRL config")
    return config


def read_curve(task: Path) -> Curve:
    evals = task / "results" / "evals.csv"
    if evals.is_file():
        columns = read_columns(evals, ("env_steps", "mean_reward", "train_time"))
        return Curve(columns["env_steps"], columns["mean_reward"], columns["train_time"], "evals")
    episodes = task / "results" / "episodes.csv"
    if not episodes.is_file():
        raise JoyRLError(f"{task}: neither results/evals.csv nor results/episodes.csv; is the run finished?")
    columns = read_columns(episodes, ("env_steps", "reward", "wall_time"))
    return Curve(columns["env_steps"], moving_average(columns["reward"], MOVING_AVERAGE_WINDOW),
                 np.cumsum(columns["wall_time"]), "episodes")


def read_task(task: Path) -> TaskRun:
    return TaskRun(task, read_config(task), read_curve(task))


def is_task_dir(path: Path) -> bool:
    return (path / "config.yaml").is_file() and (path / "results").is_dir()


def find_tasks(folder: Path) -> list[Path]:
    """``folder`` itself if it is a task folder, else every task folder below it, in name order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise JoyRLError(f"{folder}: no such folder")
    if is_task_dir(folder):
        return [folder]
    tasks = sorted(p.parent for p in folder.rglob("config.yaml") if is_task_dir(p.parent))
    if not tasks:
        raise JoyRLError(f"{folder}: holds no task folder (a folder with config.yaml and results/)")
    return tasks


def flat_config(config: dict[str, Any]) -> dict[str, Any]:
    """``{"algo_cfg.lr": 0.001, ...}``: every key of the config's sections."""
    return {f"{section}.{key}": value for section, body in config.items() if isinstance(body, dict)
            for key, value in body.items()}
