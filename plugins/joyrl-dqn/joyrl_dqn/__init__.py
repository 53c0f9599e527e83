"""DQN for JoyRL: the ``DQN`` algorithm plugin (double, dueling, n-step) and the ``PER_QUE`` buffer."""

from joyrl_core import LayerConfig

from joyrl_dqn.config import DQNConfig, PERConfig

__all__ = ["DQNConfig", "LayerConfig", "PERConfig"]
