"""The two DeepMind Atari wrappers gymnasium does not have (its ``AtariPreprocessing`` covers the rest).

``AtariPreprocessing(terminal_on_life_loss=True)`` ends the episode at a lost life but then resets the
whole game; DeepMind's (and SB3's ``EpisodicLifeEnv``) only tells the learner that the life ended and
goes on with the same game, so an agent still sees the later, harder parts of it.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from joyrl_core import EPISODE_CONTINUES


class EpisodicLife(gym.Wrapper):
    """``terminated`` when a life is lost, with ``info[joyrl_core.EPISODE_CONTINUES]``: the game goes
    on, so JoyRL's results count whole games (the ``RecordEpisodeStatistics`` beneath reports each game
    once) while the learner sees each lost life as a termination. ``reset`` after a lost life continues
    the game with a no-op step; after anything else (the game's end, a time limit above) it resets the
    game for real."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self._lives = 0
        self._life_lost = False

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self.env.unwrapped.ale.lives()
        lost = 0 < lives < self._lives
        self._life_lost = lost and not (terminated or truncated)  # else the game ended here anyway
        if lost:
            terminated = True
        if self._life_lost:
            info = {**info, EPISODE_CONTINUES: True}
        self._lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if not self._life_lost or seed is not None:
            obs, info = self.env.reset(seed=seed, options=options)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:  # the no-op ended the game after all
                obs, info = self.env.reset(options=options)
        self._life_lost = False
        self._lives = self.env.unwrapped.ale.lives()
        return obs, info


class FireOnReset(gym.Wrapper):
    """Press FIRE (then action 2, as DeepMind's code does) after each reset, for games that wait for it
    to start (Breakout serves no ball before FIRE)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        meanings = env.unwrapped.get_action_meanings()
        if len(meanings) < 3 or meanings[1] != "FIRE":
            raise ValueError(f"FireOnReset needs a game whose action 1 is FIRE; this one has {meanings}")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.env.reset(seed=seed, options=options)
        for action in (1, 2):
            obs, _, terminated, truncated, info = self.env.step(action)
            if terminated or truncated:
                obs, info = self.env.reset(options=options)
        return obs, info
