"""``env_cfg`` of ``atari``: the game and DeepMind's preprocessing (Mnih et al., 2015), each step a key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from joyrl_core import option


@dataclass
class AtariConfig:
    """``env_cfg`` of ``atari``. With ``preprocessing: true`` (the default) the env is what DQN and PPO
    papers train on: no-op starts, a frame skip with max-pooling, 84x84 grayscale, 4 stacked frames,
    clipped rewards for learning (``info["episode"]`` keeps the game score) and FIRE at the start."""

    id: str = option("BreakoutNoFrameskip-v4", "ale-py id: <Game>NoFrameskip-v4 (no sticky actions) or "
                     "ALE/<Game>-v5 (sticky actions 0.25); the frame skip is this plugin's")
    preprocessing: bool = option(True, "DeepMind preprocessing (the keys below); false: ALE's raw 210x160 RGB frames")
    noop_max: int = option(30, "at most this many no-op actions after each reset (a random number)", minimum=0)
    frame_skip: int = option(4, "repeat each action this many frames; the obs is the max of the last two", minimum=1)
    screen_size: int = option(84, "frames resized to screen_size x screen_size", minimum=1)
    grayscale: bool = option(True, "grayscale frames; false: RGB (then frame_stack must be 1)")
    frame_stack: int = option(4, "stack the last this many frames, channels first: (frame_stack, 84, 84)", minimum=1)
    clip_rewards: bool = option(True, "learn from rewards clipped to [-1, 1]; results still record game scores")
    fire_reset: bool = option(True, "press FIRE after each reset (and each lost life with episodic_life) in games that have it")
    episodic_life: bool = option(False, "end the learner's episode at each lost life (the game goes on; RL-Zoo's default)")
    repeat_action_probability: float | None = option(
        None, "sticky actions: probability that ALE repeats the previous action; null = the id's (v4 0, v5 0.25)",
        minimum=0.0)
    render_mode: Literal["rgb_array"] | None = option(None, "null or rgb_array (the game's frames for the GIF)")
