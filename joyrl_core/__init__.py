"""JoyRL core: the public API for users and plugin authors.

Everything listed in ``__all__`` is public and stable; every other module attribute is private.
"""

from importlib.metadata import PackageNotFoundError, version

from joyrl_core.agent import Agent
from joyrl_core.backend import Backend
from joyrl_core.buffers import Batch, Buffer, ReplayQueue, TransitionLog, allocate_transitions, write_transitions
from joyrl_core.checkpoint import Counters, load_checkpoint, save_checkpoint
from joyrl_core.config import ExtraKeys, GeneralConfig, RunConfig, config_to_dict, option, resolve_config
from joyrl_core.errors import (
    CheckpointError,
    ComponentNotFoundError,
    ConfigError,
    DuplicateComponentError,
    EnvError,
    JoyRLError,
    PluginError,
)
from joyrl_core.hookspecs import hookimpl
from joyrl_core.loggers import Logger
from joyrl_core.plugins import Component, Registry, load_registry
from joyrl_core.records import EpisodeRecord, RunSummary
from joyrl_core.rollout import EnvRunner, EpisodeResult
from joyrl_core.run import RunContext, start_run
from joyrl_core.spaces import EnvSpec
from joyrl_core.trainer import Trainer, restore_agent
from joyrl_core.trajectories import Trajectory, TrajectoryWriter, load_trajectories

try:
    __version__ = version("joyrl-core")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Agent",
    "Backend",
    "Batch",
    "Buffer",
    "CheckpointError",
    "Component",
    "ComponentNotFoundError",
    "ConfigError",
    "Counters",
    "DuplicateComponentError",
    "EnvError",
    "EnvRunner",
    "EnvSpec",
    "EpisodeRecord",
    "EpisodeResult",
    "ExtraKeys",
    "GeneralConfig",
    "JoyRLError",
    "Logger",
    "PluginError",
    "Registry",
    "ReplayQueue",
    "RunConfig",
    "RunContext",
    "RunSummary",
    "Trainer",
    "Trajectory",
    "TrajectoryWriter",
    "TransitionLog",
    "__version__",
    "allocate_transitions",
    "config_to_dict",
    "hookimpl",
    "load_checkpoint",
    "load_registry",
    "load_trajectories",
    "option",
    "resolve_config",
    "restore_agent",
    "save_checkpoint",
    "start_run",
    "write_transitions",
]
