"""A run builds its env once (the env it reads the spaces from is the one it trains or tests on; only
the evaluation env, with its own seed, is a second one) and reads its checkpoint once."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import joyrl_core
from joyrl_core.plugins.registry import Registry

from conftest import quick_overrides


@pytest.fixture
def counted(registry):
    """The installed registry with the ``gym`` env factory counting the envs it builds."""
    built: list[object] = []
    gym_env = registry.get("env", "gym")

    def factory(config, render_mode):
        env = gym_env.factory(config, render_mode)
        built.append(env)
        return env

    components = {kind: dict(by_name) for kind, by_name in registry.components.items()}
    components["env"]["gym"] = dataclasses.replace(gym_env, factory=factory)
    return Registry(components=components), built


def run(registry, task_root, *overrides):
    cfg = joyrl_core.resolve_config(registry, None, [*quick_overrides(task_root, max_step=20, seed=2), *overrides])
    return joyrl_core.start_run(cfg, registry)


def test_train_builds_the_env_once_and_the_eval_env_once(counted, task_root):
    registry, built = counted
    run(registry, task_root, "general_cfg.algo_name=RANDOM", "general_cfg.max_episode=3")
    assert len(built) == 1

    built.clear()
    run(registry, task_root, "general_cfg.max_episode=6", "general_cfg.online_eval=true",
        "general_cfg.online_eval_episode=2", "general_cfg.model_save_fre=10", "algo_cfg.batch_size=8")
    assert len(built) == 2, "the training env and the evaluation env"


def test_test_mode_builds_one_env_and_reads_the_checkpoint_once(counted, task_root, monkeypatch):
    registry, built = counted
    _, trained = run(registry, task_root, "general_cfg.max_episode=2", "algo_cfg.batch_size=8")
    built.clear()
    reads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: reads.append(args[0]) or real_load(*args, **kwargs))

    summary, _ = run(registry, task_root, "general_cfg.mode=test", f"general_cfg.load_path={trained.root}",
                     "general_cfg.test_episode=2")

    assert len(summary.test_rewards) == 2
    assert len(built) == 1
    assert len(reads) == 1


def test_resume_reads_the_checkpoint_once(registry, task_root, monkeypatch):
    _, trained = run(registry, task_root, "general_cfg.max_episode=2", "algo_cfg.batch_size=8")
    reads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: reads.append(args[0]) or real_load(*args, **kwargs))
    summary, _ = run(registry, task_root, "general_cfg.max_episode=1", "general_cfg.load_checkpoint=true",
                     f"general_cfg.load_path={trained.root}")
    assert summary.episodes >= 3 and len(reads) == 1
