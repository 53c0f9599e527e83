"""Builds an Atari env: ale-py's game, then gymnasium's wrappers in DeepMind's order.

From the inside out::

    ale-py game (frameskip 1)
    RecordEpisodeStatistics        info["episode"]["r"] is the game score: it sees every raw reward,
                                   and one episode per game, whatever the wrappers outside end early
    AtariPreprocessing             no-op starts, frame skip with max-pooling, 84x84, grayscale
    EpisodicLife (episodic_life)   the learner's episode ends at each lost life; the game goes on
    FireOnReset (fire_reset)       FIRE after each reset, in games that have it
    ClipReward(-1, 1)              the learner sees clipped rewards (Atari rewards are integers:
                                   this is DeepMind's sign clipping)
    FrameStackObservation          the last frame_stack frames, (frame_stack, 84, 84) uint8

JoyRL's runners record ``info["episode"]["r"]`` as the episode reward where the env gives it, so the
results hold game scores while the agent learns from clipped rewards.
"""

from __future__ import annotations

import difflib

import gymnasium as gym
from gymnasium.wrappers import AtariPreprocessing, ClipReward, FrameStackObservation, RecordEpisodeStatistics

from joyrl_core import EnvError

from joyrl_envs_atari.config import AtariConfig
from joyrl_envs_atari.wrappers import EpisodicLife, FireOnReset


def _registered_ids() -> list[str]:
    import ale_py

    gym.register_envs(ale_py)
    return [env_id for env_id, spec in gym.envs.registry.items() if str(spec.entry_point).startswith("ale_py")]


def _check(config: AtariConfig, render_mode: str | None) -> None:
    ids = _registered_ids()
    if config.id not in ids:
        close = difflib.get_close_matches(config.id, ids, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else " (e.g. BreakoutNoFrameskip-v4, ALE/Pong-v5)"
        raise EnvError(f"env 'atari': env_cfg.id: {config.id!r} is not an ale-py game id{hint}")
    if config.preprocessing and not config.grayscale and config.frame_stack > 1:
        raise EnvError("env 'atari': env_cfg.grayscale: false gives RGB frames, which stack into 4-D observations "
                       f"no conv2d takes; set frame_stack: 1 (got {config.frame_stack}) or grayscale: true")
    if config.repeat_action_probability is not None and config.repeat_action_probability > 1:
        raise EnvError("env 'atari': env_cfg.repeat_action_probability: a probability in [0, 1] is required, "
                       f"got {config.repeat_action_probability}")
    if render_mode not in (None, "rgb_array"):
        raise EnvError(f"env 'atari': render_mode {render_mode!r} is not offered; use rgb_array for a GIF")


def make_atari_env(config: AtariConfig, render_mode: str | None) -> gym.Env:
    """The env of ``env_name: atari`` (the order of the wrappers is the module's docstring)."""
    _check(config, render_mode)
    kwargs = {}
    if config.preprocessing:
        kwargs["frameskip"] = 1  # AtariPreprocessing skips frames itself, max-pooling the last two
        if config.grayscale:
            # AtariPreprocessing reads its frames from the emulator itself and drops what the game env
            # returns each frame: a grayscale frame is cheaper to make than an RGB one (~6 us a frame,
            # ~6% of an env step; the frames the learner sees are the same).
            kwargs["obs_type"] = "grayscale"
    if config.repeat_action_probability is not None:
        kwargs["repeat_action_probability"] = config.repeat_action_probability
    env = RecordEpisodeStatistics(gym.make(config.id, render_mode=render_mode, **kwargs))
    if not config.preprocessing:
        return env
    env = AtariPreprocessing(env, noop_max=config.noop_max, frame_skip=config.frame_skip,
                             screen_size=config.screen_size, grayscale_obs=config.grayscale)
    if config.episodic_life:
        env = EpisodicLife(env)
    meanings = env.unwrapped.get_action_meanings()
    if config.fire_reset and len(meanings) >= 3 and meanings[1] == "FIRE":
        env = FireOnReset(env)
    if config.clip_rewards:
        env = ClipReward(env, -1.0, 1.0)
    if config.frame_stack > 1:
        env = FrameStackObservation(env, config.frame_stack)
    return env
