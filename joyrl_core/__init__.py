"""JoyRL core: the public API for users and plugin authors.

Everything listed in ``__all__`` is public and stable; every other module attribute is private.
"""

from importlib.metadata import PackageNotFoundError, version

from joyrl_core.components.frame_replay import (
    FrameReplay,
    FrameReplayConfig,
    PrioritizedFrameReplay,
    PrioritizedFrameReplayConfig,
)
from joyrl_core.components.priorities import Priorities, PriorityConfig, SumTree
from joyrl_core.components.replay_queue import ReplayQueue
from joyrl_core.components.rollout_buffer import RolloutBuffer
from joyrl_core.config import (
    ExtraKeys,
    GeneralConfig,
    RunConfig,
    config_to_dict,
    option,
    resolve_config,
)
from joyrl_core.contracts.agent import Agent, PolicyStep
from joyrl_core.contracts.backend import Backend
from joyrl_core.contracts.buffer import (
    Batch,
    Buffer,
    BufferCapabilities,
    ExtraColumns,
    allocate_transitions,
    read_transitions,
    write_transitions,
)
from joyrl_core.contracts.executor import Executor, Job, JobOutcome, call_job
from joyrl_core.contracts.hookspecs import hookimpl
from joyrl_core.contracts.logger import Logger
from joyrl_core.contracts.records import EpisodeRecord, RunSummary
from joyrl_core.contracts.run_shape import RunShape
from joyrl_core.contracts.spaces import EnvSpec, stack_depth
from joyrl_core.data.dataset import Dataset, dataset_field, load_dataset
from joyrl_core.errors import (
    CheckpointError,
    ComponentNotFoundError,
    ConfigError,
    DatasetError,
    DuplicateComponentError,
    EnvError,
    JoyRLError,
    NonFiniteError,
    OutputError,
    PluginError,
)
from joyrl_core.networks.explicit_mlp import ExplicitMLP
from joyrl_core.networks.inputs import obs_tensor
from joyrl_core.networks.layers import (
    LayerConfig,
    build_layers,
    init_weights,
    layer_list,
    layers_field,
    parse_layers,
)
from joyrl_core.networks.modules import use_channels_last
from joyrl_core.networks.weights import load_module_weights, module_weights
from joyrl_core.outputs.checkpoint import Counters, load_checkpoint, save_checkpoint
from joyrl_core.outputs.loggers import read_results_csv
from joyrl_core.outputs.trajectories import (
    Trajectory,
    TrajectoryWriter,
    load_trajectories,
)
from joyrl_core.plugins.registry import Component, Registry, load_registry
from joyrl_core.run.api import Policy, load_policy, train
from joyrl_core.run.context import RunContext
from joyrl_core.run.rollout import (
    EPISODE_CONTINUES,
    EnvRunner,
    EpisodeResult,
    FinishedEpisode,
    VectorEnvRunner,
    greedy_policy,
)
from joyrl_core.run.shipping import PackedTransitions, pack_transitions
from joyrl_core.run.start import start_run
from joyrl_core.run.stop import StopRules
from joyrl_core.run.trainer import Trainer, restore_agent
from joyrl_core.run.transition_log import TransitionLog

try:
    __version__ = version("joyrl-core")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "LayerConfig",
    "build_layers",
    "init_weights",
    "layer_list",
    "layers_field",
    "parse_layers",
    "obs_tensor",
    "use_channels_last",
    "ExplicitMLP",
    "Agent",
    "Backend",
    "Batch",
    "Buffer",
    "BufferCapabilities",
    "CheckpointError",
    "Component",
    "ComponentNotFoundError",
    "ConfigError",
    "Counters",
    "Dataset",
    "DatasetError",
    "DuplicateComponentError",
    "EnvError",
    "EPISODE_CONTINUES",
    "EnvRunner",
    "PackedTransitions",
    "pack_transitions",
    "stack_depth",
    "EnvSpec",
    "EpisodeRecord",
    "EpisodeResult",
    "Executor",
    "FinishedEpisode",
    "ExtraColumns",
    "ExtraKeys",
    "GeneralConfig",
    "Job",
    "JobOutcome",
    "JoyRLError",
    "Logger",
    "NonFiniteError",
    "OutputError",
    "PluginError",
    "Policy",
    "PolicyStep",
    "Registry",
    "ReplayQueue",
    "RolloutBuffer",
    "RunConfig",
    "RunContext",
    "RunShape",
    "RunSummary",
    "StopRules",
    "Trainer",
    "Trajectory",
    "TrajectoryWriter",
    "TransitionLog",
    "VectorEnvRunner",
    "FrameReplay",
    "FrameReplayConfig",
    "Priorities",
    "PriorityConfig",
    "PrioritizedFrameReplay",
    "PrioritizedFrameReplayConfig",
    "SumTree",
    "__version__",
    "allocate_transitions",
    "call_job",
    "config_to_dict",
    "dataset_field",
    "greedy_policy",
    "hookimpl",
    "load_checkpoint",
    "load_dataset",
    "load_policy",
    "load_module_weights",
    "load_registry",
    "load_trajectories",
    "read_results_csv",
    "read_transitions",
    "module_weights",
    "option",
    "resolve_config",
    "restore_agent",
    "save_checkpoint",
    "start_run",
    "train",
    "write_transitions",
]
