"""REINFORCE for JoyRL: the ``REINFORCE`` algorithm and the ``EPISODES`` buffer it learns from."""

from joyrl_reinforce.buffer import EpisodeBuffer
from joyrl_reinforce.config import REINFORCEConfig

__all__ = ["EpisodeBuffer", "REINFORCEConfig"]
