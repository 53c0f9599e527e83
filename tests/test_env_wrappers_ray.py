"""env_cfg.wrappers on the ray backend: each worker builds the wrapped env, and results keep the env score."""

from __future__ import annotations


import numpy as np
import pytest

import joyrl_core

from conftest import quick_overrides, read_episodes, start_local_ray

ray = pytest.importorskip("ray")
pytest.importorskip("joyrl_backend_ray")


def test_ray_workers_wrap_their_envs_and_report_the_env_score(registry, task_root):
    config = joyrl_core.resolve_config(registry, None, [
        *quick_overrides(task_root, mp_backend="ray", n_workers=2, algo_name="RANDOM", max_episode=6, max_step=60,
                         seed=2, collect_traj="true"),
        "env_cfg.wrappers=[{name: ClipReward, min_reward: 0, max_reward: 0.25}]",
    ])
    start_local_ray()
    try:
        summary, task = joyrl_core.start_run(config, registry)
    finally:
        ray.shutdown()
    assert all(np.all(t.rewards == 0.25) for t in joyrl_core.load_trajectories(task.results))
    rows = read_episodes(task.root)
    assert len(rows) == 6 and [float(r["reward"]) for r in rows] == [float(r["length"]) for r in rows]
