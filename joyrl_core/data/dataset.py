"""Offline datasets: transitions read once from JoyRL trajectory files or Minari datasets.

An offline algorithm's ``algo_cfg.dataset`` lists its sources (:func:`dataset_field`); each entry is

- a path or glob pattern (``~`` and ``**`` allowed) of JoyRL trajectory files, of the ``results``
  folders holding them, or of task folders (their ``results`` folder is read): every match is read,
  in sorted order, and a pattern that matches nothing is an error;
- ``minari:<dataset id>`` (a dataset in Minari's local store, ``MINARI_DATASETS_PATH`` or
  ``~/.minari/datasets``; fetch it first with ``minari download <id>``) or ``minari:<path>`` (a
  dataset folder, or its ``data`` folder).

Nothing read executes code: trajectory files go through :func:`joyrl_core.load_trajectories`
(``numpy.load(allow_pickle=False)``), Minari's metadata is JSON and its arrays HDF5 or Arrow; a Minari
dataset that does not store its spaces is refused, since Minari would build (import) its env to learn
them. Every source is checked against the run's env before a task folder is made: observation and
action shapes, discrete actions in range, finite numbers, and the env id where the source names one (a
task folder's ``config.yaml``, a Minari dataset's env spec).
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from joyrl_core.config import option
from joyrl_core.contracts.buffer import Buffer
from joyrl_core.contracts.spaces import EnvSpec
from joyrl_core.errors import DatasetError, JoyRLError
from joyrl_core.outputs.trajectories import load_trajectories

MINARI_PREFIX = "minari:"
DATASET_KEY = "algo_cfg.dataset"


def dataset_field() -> Any:
    """The ``dataset`` field of an offline algorithm's config: the list of sources described above."""
    return option([], "offline data, read once: trajectory files or task folders (globs allowed), "
                      "or minari:<dataset id or path>")


@dataclass(frozen=True)
class Dataset:
    """Every transition of the sources, concatenated: row ``t`` of each array is one transition."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episode_rewards: np.ndarray
    env_id: str | None

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def episodes(self) -> int:
        return len(self.episode_rewards)

    def fill(self, buffer: Buffer) -> None:
        """Push every transition into ``buffer`` (sized for them) in one call."""
        buffer.push_batch(self.obs, self.actions, self.rewards, self.next_obs, self.terminated, self.truncated)


@dataclass
class _Episodes:
    """One source's episodes, before they are checked and joined."""

    label: str
    env_id: str | None
    columns: list[tuple[np.ndarray, ...]]  # per episode: obs, actions, rewards, next_obs, terminated, truncated
    episode_rewards: list[float]


def load_dataset(sources: Sequence[str], env_spec: EnvSpec) -> Dataset:
    """Read every source of ``sources`` and check it against ``env_spec``; see the module docstring."""
    if not sources:
        raise DatasetError(f"{DATASET_KEY} is empty: list trajectory files, task folders or minari:<id>")
    parts: list[_Episodes] = []
    for source in sources:
        if source.startswith(MINARI_PREFIX):
            parts.append(_read_minari(source[len(MINARI_PREFIX):], source))
        else:
            parts.extend(_read_joyrl(source))
    env_ids = {part.env_id for part in parts if part.env_id is not None}
    if len(env_ids) > 1:
        raise DatasetError(f"{DATASET_KEY}: the sources come from different envs: {', '.join(sorted(env_ids))}")
    env_id = env_ids.pop() if env_ids else None
    if env_id is not None and env_id != env_spec.env_id:
        raise DatasetError(f"{DATASET_KEY}: the data was collected on {env_id} but the run's env is "
                           f"{env_spec.env_id}; set env_cfg.id: {env_id}")
    joined = []
    for part in parts:
        if not part.columns:
            raise DatasetError(f"{DATASET_KEY}: {part.label} holds no episodes")
        columns = [np.concatenate(column) for column in zip(*part.columns)]
        joined.append(_checked(columns, env_spec, part.label))
    columns = [np.concatenate(column) for column in zip(*joined)]
    if len(columns[2]) == 0:
        raise DatasetError(f"{DATASET_KEY}: the sources hold no transitions")
    rewards = np.array([r for part in parts for r in part.episode_rewards], dtype=np.float64)
    return Dataset(*columns, episode_rewards=rewards, env_id=env_id)


def _checked(columns: list[np.ndarray], env_spec: EnvSpec, label: str) -> tuple[np.ndarray, ...]:
    """The columns in the buffer's dtypes, or a DatasetError naming what does not fit the env."""
    obs, actions, rewards, next_obs, terminated, truncated = columns
    prefix = f"{DATASET_KEY}: {label}"
    for name, array in (("observations", obs), ("next observations", next_obs)):
        if array.shape[1:] != env_spec.obs_shape:
            raise DatasetError(f"{prefix}: {name} have shape {array.shape[1:]} but {env_spec.env_id}'s are "
                               f"{env_spec.obs_shape}")
    if env_spec.action_kind == "discrete":
        actions = actions.reshape(len(actions), -1) if actions.ndim > 1 else actions
        if actions.ndim > 1 and actions.shape[1] != 1:
            raise DatasetError(f"{prefix}: actions have shape {actions.shape[1:]} but {env_spec.env_id} has "
                               f"{env_spec.n_actions} discrete actions (one integer per step)")
        actions = actions.reshape(-1)
        if not (np.issubdtype(actions.dtype, np.integer) or np.all(np.mod(actions, 1) == 0)):
            raise DatasetError(f"{prefix}: actions are not integers but {env_spec.env_id}'s actions are discrete")
        if len(actions) and (actions.min() < 0 or actions.max() >= env_spec.n_actions):
            raise DatasetError(f"{prefix}: actions range over [{actions.min()}, {actions.max()}] but "
                               f"{env_spec.env_id} has {env_spec.n_actions} actions (0 to {env_spec.n_actions - 1})")
    elif actions.shape[1:] != env_spec.action_shape:
        raise DatasetError(f"{prefix}: actions have shape {actions.shape[1:]} but {env_spec.env_id}'s are "
                           f"{env_spec.action_shape}")
    for name, array in (("observations", obs), ("actions", actions), ("rewards", rewards)):
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            raise DatasetError(f"{prefix}: {name} hold inf or nan")
    return (obs.astype(env_spec.obs_dtype, copy=False), actions.astype(env_spec.action_dtype, copy=False),
            rewards.astype(np.float32, copy=False), next_obs.astype(env_spec.obs_dtype, copy=False),
            terminated.astype(np.float32, copy=False), truncated.astype(np.float32, copy=False))


# -- JoyRL trajectory files --------------------------------------------------------------------------


def _read_joyrl(pattern: str) -> Iterable[_Episodes]:
    matches = sorted(glob.glob(os.path.expanduser(pattern), recursive=True))
    if not matches:
        raise DatasetError(f"{DATASET_KEY}: {pattern!r} matches no file or folder")
    for match in matches:
        path = Path(match)
        if path.is_dir() and (path / "results").is_dir():
            path = path / "results"
        episodes = _Episodes(str(path), _task_env_id(path), [], [])
        try:
            for traj in load_trajectories(path):
                episodes.columns.append((traj.states, traj.actions, traj.rewards, traj.next_states,
                                         traj.terminated, traj.truncated))
                episodes.episode_rewards.append(traj.episode_reward)
        except DatasetError:
            raise
        except JoyRLError as exc:
            raise DatasetError(f"{DATASET_KEY}: {exc}") from None
        yield episodes


def _task_env_id(path: Path) -> str | None:
    """The env id of the task folder ``path`` belongs to (its config.yaml), ``None`` where there is none."""
    folder = path if path.is_dir() else path.parent
    for candidate in (folder, folder.parent):
        config_file = candidate / "config.yaml"
        if config_file.is_file():
            try:
                config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError, UnicodeDecodeError):
                return None
            env = config.get("env_cfg") if isinstance(config, dict) else None
            env_id = env.get("id") if isinstance(env, dict) else None
            return str(env_id) if env_id else None
    return None


# -- Minari datasets -----------------------------------------------------------------------------------


def _read_minari(ref: str, label: str) -> _Episodes:
    try:
        import minari
        from minari.storage.datasets_root_dir import get_dataset_path
    except ImportError:
        raise DatasetError(f"{DATASET_KEY}: {label} needs the minari package: "
                           "pip install 'joyrl-core[minari]'") from None
    path = Path(ref).expanduser()
    if path.is_dir():
        data_path = path / "data" if (path / "data").is_dir() else path
    else:
        try:
            data_path = Path(get_dataset_path(ref)) / "data"
        except (ValueError, AssertionError):
            data_path = None
        if data_path is None or not data_path.is_dir():
            raise DatasetError(f"{DATASET_KEY}: {label}: no such dataset folder, nor a dataset of that id in "
                               f"Minari's local store; fetch it with: minari download {ref}")
    metadata = _minari_metadata(data_path, label)
    try:
        dataset = minari.MinariDataset(data_path)
        episodes = _Episodes(label, _minari_env_id(metadata), [], [])
        for episode in dataset.iterate_episodes():
            observations = episode.observations
            if not isinstance(observations, np.ndarray):
                raise DatasetError(f"{DATASET_KEY}: {label}: observations are {type(observations).__name__} "
                                   "(a Dict or Tuple space); JoyRL learns from Box or Discrete observations")
            actions = np.asarray(episode.actions)
            terminated = np.asarray(episode.terminations)
            episodes.columns.append((observations[:-1], actions, np.asarray(episode.rewards), observations[1:],
                                     terminated, np.asarray(episode.truncations)))
            episodes.episode_rewards.append(float(np.sum(episode.rewards)))
    except DatasetError:
        raise
    except Exception as exc:  # h5py, pyarrow and minari raise many kinds on a corrupt dataset
        raise DatasetError(f"{DATASET_KEY}: {label}: unreadable Minari dataset "
                           f"({type(exc).__name__}: {_first_line(exc)})") from None
    return episodes


def _minari_metadata(data_path: Path, label: str) -> dict[str, Any]:
    try:
        metadata = json.loads((data_path / "metadata.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{DATASET_KEY}: {label}: not a Minari dataset (no {data_path / 'metadata.json'})") from None
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{DATASET_KEY}: {label}: unreadable Minari metadata ({_first_line(exc)})") from None
    if not isinstance(metadata, dict):
        raise DatasetError(f"{DATASET_KEY}: {label}: not a Minari dataset (metadata.json is not a mapping)")
    if "observation_space" not in metadata or "action_space" not in metadata:
        raise DatasetError(f"{DATASET_KEY}: {label}: the dataset does not store its spaces, and Minari would "
                           "build its env (running the env's code) to learn them; refused")
    return metadata


def _minari_env_id(metadata: dict[str, Any]) -> str | None:
    spec = metadata.get("env_spec")
    if not isinstance(spec, str):
        return None
    try:
        env_id = json.loads(spec).get("id")
    except (ValueError, AttributeError):
        return None
    return str(env_id) if env_id else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["Dataset", "dataset_field", "load_dataset"]
