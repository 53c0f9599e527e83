"""The core's built-in components, registered through the core's own ``joyrl`` entry point.

They come in exactly as an outside plugin's would, so ``joyrl list-plugins`` shows them with the
``joyrl-core`` distribution, and a clash with a plugin's name is reported like any other.
"""

from __future__ import annotations

from joyrl_core.components.frame_replay import (
    FrameReplay,
    FrameReplayConfig,
    PrioritizedFrameReplay,
    PrioritizedFrameReplayConfig,
)
from joyrl_core.components.gym_env import GymEnvConfig, make_gym_env
from joyrl_core.components.random_agent import make_random_agent
from joyrl_core.components.replay_queue import ReplayQueue
from joyrl_core.components.rollout_buffer import RolloutBuffer, RolloutConfig, make_rollout_buffer
from joyrl_core.contracts.backend import Backend
from joyrl_core.contracts.hookspecs import hookimpl
from joyrl_core.contracts.records import RunSummary
from joyrl_core.errors import ConfigError
from joyrl_core.outputs.loggers import ConsoleLogger, CsvLogger
from joyrl_core.run.context import RunContext
from joyrl_core.run.trainer import Trainer


class SingleBackend(Backend):
    """Acting and learning in this one process, one env, one agent."""

    def __init__(self, run: RunContext):
        self.ctx = run

    def run(self) -> RunSummary:
        run = self.ctx
        agent = run.make_agent(run.seed_for("train"))
        if run.config.general.mode == "test":
            return Trainer(run, agent, None).test()
        return Trainer(run, agent, run.make_buffer(run.seed_for("train"))).train()


def make_tensorboard_logger(run: RunContext):
    # Imported on use: torch.utils.tensorboard is slow to import and only this logger needs it.
    from joyrl_core.outputs.tensorboard_logger import TensorBoardLogger

    return TensorBoardLogger(run)


def make_replay_queue(capacity, env_spec, config, seed, shape=None):
    if capacity is None:
        raise ConfigError("algo_cfg.buffer_size: REPLAY_QUE needs a capacity; the algorithm's config has no buffer_size")
    return ReplayQueue(capacity, env_spec, seed)


def make_frame_queue(capacity, env_spec, config, seed, shape=None):
    if capacity is None:
        raise ConfigError("algo_cfg.buffer_size: FRAME_QUE needs a capacity; the algorithm's config has no buffer_size")
    cls = PrioritizedFrameReplay if isinstance(config, PrioritizedFrameReplayConfig) else FrameReplay
    return cls(capacity, env_spec, config, seed, shape.env_streams if shape is not None else 1)


@hookimpl
def register_algorithms(register):
    register("RANDOM", make_random_agent, None, "uniform random actions; the baseline, no learning")


@hookimpl
def register_buffers(register):
    register("REPLAY_QUE", make_replay_queue, None, "FIFO replay ring buffer in numpy arrays, uniform sampling",
             capabilities=ReplayQueue.capabilities)
    register("FRAME_QUE", make_frame_queue, FrameReplayConfig,
             "replay for stacked frames (k, *frame): each frame stored once, stacks rebuilt by index; n-step",
             capabilities=FrameReplay.capabilities)
    register("FRAME_PER_QUE", make_frame_queue, PrioritizedFrameReplayConfig,
             "FRAME_QUE sampled by priority (PER_QUE's rule: sum-tree, importance weights); n-step",
             capabilities=PrioritizedFrameReplay.capabilities)
    register("ROLLOUT", make_rollout_buffer, RolloutConfig,
             "on-policy rollout: n_steps x env streams in order, agent extras, GAE(lambda), minibatch epochs",
             capabilities=RolloutBuffer.capabilities)


@hookimpl
def register_envs(register):
    register("gym", make_gym_env, GymEnvConfig, "any gymnasium env by id; extra env_cfg keys go to gymnasium.make")


@hookimpl
def register_backends(register):
    register("single", SingleBackend, None, "one process: the env, acting and learning in the same loop")


@hookimpl
def register_loggers(register):
    register("console", ConsoleLogger, None, "live progress bar (rich): episodes, steps, reward, steps/s")
    register("csv", CsvLogger, None, "results/episodes.csv and results/evals.csv")
    register("tensorboard", make_tensorboard_logger, None, "TensorBoard event files in logs/tensorboard/")
