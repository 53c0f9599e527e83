"""Custom gymnasium envs for JoyRL: ``grid_world`` (``layout: cliff`` for CliffWalking), ``snake``,
``slow_noisy``, ``catch`` (a pixel task), ``pixel_point`` (a pixel task with continuous actions), and ``minatar`` (MinAtar's games, with the ``minatar`` extra).

Importing the package registers the gymnasium ids ``joyrl/GridWorld-v0``, ``joyrl/CliffWalking-v0``,
``joyrl/Snake-v0``, ``joyrl/SlowNoisy-v0``, ``joyrl/Catch-v0`` and ``joyrl/PixelPoint-v0`` (JoyRL imports it when it loads its plugins; elsewhere
``import joyrl_envs_custom`` or ``gymnasium.make("joyrl_envs_custom:joyrl/Snake-v0")``).
"""

from joyrl_envs_custom.catch import CatchEnv
from joyrl_envs_custom.errors import EnvConfigError
from joyrl_envs_custom.grid_world import GridWorldEnv
from joyrl_envs_custom.pixel_point import PixelPointEnv
from joyrl_envs_custom.registration import GYMNASIUM_IDS, register_gymnasium_envs
from joyrl_envs_custom.slow_noisy import SlowNoisyEnv
from joyrl_envs_custom.snake import SnakeEnv

register_gymnasium_envs()

__all__ = ["GYMNASIUM_IDS", "CatchEnv", "EnvConfigError", "GridWorldEnv", "PixelPointEnv", "SlowNoisyEnv", "SnakeEnv", "register_gymnasium_envs"]
