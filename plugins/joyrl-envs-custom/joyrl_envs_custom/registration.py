"""The gymnasium ids of this package's envs, registered when the package is imported."""

from __future__ import annotations

import gymnasium as gym

NAMESPACE = "joyrl"

# id -> (entry point, default max_episode_steps or None, fixed kwargs)
GYMNASIUM_IDS: dict[str, tuple[str, int | None, dict]] = {
    f"{NAMESPACE}/GridWorld-v0": ("joyrl_envs_custom.grid_world:GridWorldEnv", 100, {}),
    f"{NAMESPACE}/CliffWalking-v0": ("joyrl_envs_custom.grid_world:GridWorldEnv", 100, {"layout": "cliff"}),
    f"{NAMESPACE}/Snake-v0": ("joyrl_envs_custom.snake:SnakeEnv", 1000, {}),
    f"{NAMESPACE}/SlowNoisy-v0": ("joyrl_envs_custom.slow_noisy:SlowNoisyEnv", None, {}),
    f"{NAMESPACE}/Catch-v0": ("joyrl_envs_custom.catch:CatchEnv", None, {}),
    f"{NAMESPACE}/PixelPoint-v0": ("joyrl_envs_custom.pixel_point:PixelPointEnv", 20, {}),
}


def register_gymnasium_envs() -> None:
    """Register every id with gymnasium; ids already registered are left alone (no override warning)."""
    for env_id, (entry_point, max_episode_steps, kwargs) in GYMNASIUM_IDS.items():
        if env_id not in gym.envs.registry:
            gym.register(id=env_id, entry_point=entry_point, max_episode_steps=max_episode_steps, kwargs=dict(kwargs))
