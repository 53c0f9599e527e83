"""``RunContext``: everything a backend needs, built from a resolved config (component factories, seeds, device)."""

from __future__ import annotations

import functools
import logging
import logging.handlers
import platform
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from joyrl_core.components.wrappers import WrapperSpec, resolve_wrappers
from joyrl_core.config import RunConfig
from joyrl_core.contracts.agent import Agent
from joyrl_core.contracts.buffer import Buffer
from joyrl_core.contracts.run_shape import RunShape
from joyrl_core.contracts.records import RunSummary
from joyrl_core.contracts.spaces import EnvSpec
from joyrl_core.data.dataset import Dataset
from joyrl_core.errors import JoyRLError
from joyrl_core.outputs.checkpoint import find_checkpoint, load_checkpoint
from joyrl_core.outputs.loggers import LoggerGroup
from joyrl_core.outputs.task import TaskPaths
from joyrl_core.plugins.registry import Registry
from joyrl_core.run.envs import Normalizer, build_env

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


# glibc's mallopt parameters (malloc.h) and the values keep_freed_memory sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc's largest; bigger blocks are still mapped and unmapped
_TRIM_THRESHOLD_BYTES = 256 * 2**20


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed memory for reuse: blocks up to 32 MiB come from the heap, and the
    heap is given back to the system only past 256 MiB free at its top. By default glibc maps blocks over
    a moving threshold and trims the heap past twice that, so a CPU gradient step that makes and frees
    tensors of megabytes (a Nature-CNN DQN step at batch 32: ~1,000 page faults, each page zeroed by the
    kernel) pays for fresh pages every step; with this, ~50 and ~10% less time. Process-wide, like
    torch's thread count; ``False`` where the C library is not glibc (nothing changed)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):  # no C library to load, or not glibc's
        mallopt = None
    if mallopt is None or "glibc" not in " ".join(platform.libc_ver()):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES))


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


@dataclass(frozen=True)
class LoadedCheckpoint:
    """The checkpoint a run starts from (``load_path``/``load_model``), read once by ``start_run``."""

    path: Path
    payload: dict[str, Any]


def load_run_checkpoint(config: RunConfig) -> LoadedCheckpoint:
    """Find and read the checkpoint the config's ``load_path``/``load_model`` name."""
    general = config.general
    path = find_checkpoint(general.load_path, general.task_dir, general.load_model)
    return LoadedCheckpoint(path, load_checkpoint(path))


@dataclass
class RunContext:
    """What a backend, a logger and the trainer loop get: config, task folder and component factories.

    ``checkpoint`` is the checkpoint the run resumes or tests (``None`` when it starts fresh).

    ``dataset`` is the offline data an offline algorithm learns from in train mode (read before the
    task folder was made), else ``None``; such a run counts its steps in update steps (``step_axis``).
    """

    config: RunConfig
    registry: Registry
    task: TaskPaths
    env_spec: EnvSpec
    device: str
    log: logging.Logger
    loggers: LoggerGroup = field(default_factory=LoggerGroup)
    render_fps: int = 30
    dataset: Dataset | None = None
    checkpoint: LoadedCheckpoint | None = None
    # The running statistics of env_cfg.normalize_obs/normalize_reward, shared by the envs the run builds.
    normalizer: Normalizer | None = None
    # The env start_run built to read the spaces from; the first make_env(None) hands it out instead of
    # building another (it has not been reset or stepped).
    _spare_env: gym.Env | None = field(default=None, repr=False)

    @property
    def step_axis(self) -> str:
        """What the run's step counts, for loggers and figures: ``env_steps``, or ``update_steps`` for
        an offline run (no env is stepped)."""
        return "update_steps" if self.dataset is not None else "env_steps"
    # The summary the trainer keeps up to date; start_run writes it when the backend raises.
    summary: RunSummary | None = None

    @property
    def shape(self) -> RunShape:
        """The run's shape, as algorithm and buffer factories receive it."""
        return RunShape.of(self.config)

    def seed_for(self, role: str, index: int = 0) -> int | None:
        """A distinct, reproducible seed per env or component role (train, eval, test, worker N)."""
        seed = self.config.general.seed
        if seed == 0:
            return None
        return int(np.random.SeedSequence([seed, _ROLE_CODES[role], index]).generate_state(1)[0])

    @functools.cached_property
    def wrappers(self) -> list[WrapperSpec]:
        """The ``env_cfg.wrappers`` entries, resolved (``resolve_config`` checked them)."""
        return resolve_wrappers(self.config.env_wrap.wrappers, self.registry, self.config.source)

    def make_env(self, render_mode: str | None = None, train: bool = False) -> gym.Env:
        """One env with the core's layers (:mod:`joyrl_core.run.envs`): a ``train`` env updates the
        normalization statistics and scales rewards; any other (evaluation, test) reads them frozen."""
        if render_mode is None and self._spare_env is not None:
            env, self._spare_env = self._spare_env, None
        else:
            component = self.registry.get("env", self.config.general.env_name)
            env = build_env(component.factory, component.name, self.config.env, self.config.general.max_step,
                            self.wrappers, render_mode)
        return self.normalizer.wrap(env, train) if self.normalizer is not None else env

    def close_spare_env(self) -> None:
        """Close the probe env if no one took it (a vectorized or rendering run builds its own)."""
        if self._spare_env is not None:
            self._spare_env.close()
            self._spare_env = None

    def make_vector_env(self) -> gym.vector.VectorEnv:
        """``env_cfg.n_envs`` training copies of the env, each with the core's layers (a ``TimeLimit`` of
        ``max_step`` where set), autoresetting in the same step (the final observation is in
        ``info["final_obs"]``)."""
        component = self.registry.get("env", self.config.general.env_name)
        make = functools.partial(build_env, component.factory, component.name, self.config.env,
                                 self.config.general.max_step, self.wrappers)
        if self.normalizer is not None:  # sync copies only (resolve_config): they share the statistics
            make = functools.partial(_normalized, make, self.normalizer)
        vector = self.config.vector
        cls = gym.vector.AsyncVectorEnv if vector.vector_mode == "async" else gym.vector.SyncVectorEnv
        return cls([make] * vector.n_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)

    def make_agent(self, seed: int | None = None) -> Agent:
        component = self.registry.get("algorithm", self.config.general.algo_name)
        try:
            agent = component.factory(self.config.algo, self.env_spec, self.device, seed, self.shape)
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
        """The buffer ``algo_cfg.buffer_type`` names, or ``None`` for an algorithm without one; its
        capacity is ``algo_cfg.buffer_size``, or the size of the offline ``dataset``."""
        buffer_type = getattr(self.config.algo, "buffer_type", None)
        if buffer_type is None:
            return None
        component = self.registry.get("buffer", buffer_type)
        capacity = len(self.dataset) if self.dataset is not None else getattr(self.config.algo, "buffer_size", None)
        buffer = component.factory(None if capacity is None else int(capacity), self.env_spec, self.config.buffer,
                                   seed, self.shape)
        if not isinstance(buffer, Buffer):
            raise JoyRLError(f"buffer {component.name!r} ({component.distribution}) built {type(buffer).__name__}, "
                             "which is not a joyrl_core.Buffer")
        return buffer


def _normalized(make: Any, normalizer: Normalizer) -> gym.Env:
    return normalizer.wrap(make(), train=True)
