"""env_cfg.normalize_obs/normalize_reward: running statistics in checkpoints, frozen outside training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import joyrl_core
from joyrl_core import CheckpointError, ConfigError, EnvError
from joyrl_core.outputs.checkpoint import find_checkpoint, load_checkpoint
from joyrl_core.run.envs import Normalizer, restore_normalizer

from conftest import quick_overrides, read_episodes

NORMALIZE = ["env_cfg.normalize_obs=true", "env_cfg.normalize_reward=true"]
EPS = 1e-4  # RunningMeanStd's initial count


def run(registry, task_root, *overrides, **general):
    general = {"max_episode": 6, "max_step": 80, "seed": 5, "algo_name": "RANDOM", **general}
    config = joyrl_core.resolve_config(registry, None, [*quick_overrides(task_root, **general), *overrides])
    return joyrl_core.start_run(config, registry)


def latest(task):
    return load_checkpoint(find_checkpoint(str(task.root), task.root.parent, "latest"))


def test_statistics_are_saved_and_evaluation_leaves_them_unchanged(registry, task_root):
    summary, task = run(registry, task_root, *NORMALIZE, online_eval="true", online_eval_episode=3,
                        eval_every_steps=50, collect_traj="true")
    stats = latest(task)["normalizer"]
    assert summary.eval_mean_rewards, "the run evaluated"
    # Every training observation (one per step, one per reset) and nothing the evaluations saw.
    assert stats["obs"]["count"] == pytest.approx(EPS + summary.env_steps + summary.episodes)
    assert stats["reward"]["count"] == pytest.approx(EPS + summary.env_steps)
    assert stats["obs"]["mean"].shape == (4,) and bool((stats["obs"]["var"] > 0).all())
    # The learner saw scaled rewards (CartPole's are all 1); results keep the env's.
    learned = np.concatenate([t.rewards for t in joyrl_core.load_trajectories(task.results)])
    assert not np.allclose(learned, 1.0)
    assert [float(r["reward"]) for r in read_episodes(task.root)] == [float(r["length"]) for r in read_episodes(task.root)]


def test_resume_continues_the_saved_statistics_and_test_mode_freezes_them(registry, task_root):
    _, first = run(registry, task_root, *NORMALIZE)
    saved = latest(first)["normalizer"]

    # The resumed run's env normalizes with exactly the saved statistics.
    config = joyrl_core.resolve_config(registry, None, [*quick_overrides(task_root), *NORMALIZE])
    env = joyrl_core.load_policy(first.root, registry=registry).make_env()
    raw_env = env.unwrapped
    obs, _ = env.reset(seed=11)
    mean, var = saved["obs"]["mean"].numpy(), saved["obs"]["var"].numpy()
    raw = np.asarray(raw_env.state, dtype=np.float32)
    expected = np.clip(np.float32((raw - mean) / np.sqrt(var + 1e-8)), -10, 10)
    np.testing.assert_array_equal(obs, expected)
    env.close()
    normalizer = Normalizer.for_run(config, joyrl_core.load_policy(first.root, registry=registry).make_env())
    restore_normalizer(normalizer, latest(first), "x.pt", train=True)
    np.testing.assert_array_equal(normalizer.obs_rms.mean, mean)
    assert normalizer.return_rms.count == saved["reward"]["count"]

    summary, resumed = run(registry, task_root, *NORMALIZE, "general_cfg.load_checkpoint=true",
                           f"general_cfg.load_path={first.root}", max_episode=3)
    again = latest(resumed)["normalizer"]
    first_summary = latest(first)["counters"]
    added_steps = summary.env_steps - first_summary["env_steps"]
    assert again["obs"]["count"] == pytest.approx(saved["obs"]["count"] + added_steps + 3)
    assert again["reward"]["count"] == pytest.approx(saved["reward"]["count"] + added_steps)

    summary, tested = run(registry, task_root, *NORMALIZE, mode="test", load_path=str(first.root), test_episode=2)
    assert len(summary.test_rewards) == 2 and not any(tested.models.iterdir())


def test_a_normalized_model_is_not_run_on_raw_observations(registry, task_root):
    _, first = run(registry, task_root, "env_cfg.normalize_obs=true", max_episode=2)
    with pytest.raises(CheckpointError, match="trained on normalized observations; set env_cfg.normalize_obs: true"):
        run(registry, task_root, mode="test", load_path=str(first.root))
    _, plain = run(registry, task_root, max_episode=2)
    with pytest.raises(CheckpointError, match="holds no obs normalization statistics, but env_cfg.normalize_obs is true"):
        run(registry, task_root, "env_cfg.normalize_obs=true", mode="test", load_path=str(plain.root))
    assert sorted(p.name[:5] for p in task_root.iterdir()) == ["Train", "Train"]  # no folder for the refused runs


def test_vector_copies_share_one_set_of_statistics(registry, task_root):
    summary, task = run(registry, task_root, *NORMALIZE, "env_cfg.n_envs=3", max_episode=-1, max_env_steps=300)
    stats = latest(task)["normalizer"]
    # Each copy's steps and resets went into the one set (three separate sets would hold a third each).
    assert stats["reward"]["count"] == pytest.approx(EPS + summary.env_steps)
    finished_at_least = summary.episodes
    assert EPS + summary.env_steps + 3 + finished_at_least <= stats["obs"]["count"]
    assert stats["obs"]["count"] <= EPS + summary.env_steps + 3 + finished_at_least + 3
    assert [float(r["reward"]) for r in read_episodes(task.root)] == [float(r["length"]) for r in read_episodes(task.root)]


def test_normalization_runs_ppo_on_vectorized_pendulum(registry, task_root):
    pytest.importorskip("joyrl_ppo")
    summary, task = run(registry, task_root, *NORMALIZE, "env_cfg.id=Pendulum-v1", "env_cfg.n_envs=2",
                        "algo_cfg.n_steps=64", algo_name="PPO", max_episode=-1, max_env_steps=512, max_step=200)
    stats = latest(task)["normalizer"]
    assert stats["obs"]["mean"].shape == (3,) and stats["reward"]["count"] == pytest.approx(EPS + summary.env_steps)
    # Pendulum's rewards are at most 0: results keep them so, scaled or not.
    assert all(float(r["reward"]) < 0 for r in read_episodes(task.root))


@pytest.mark.parametrize("overrides, message", [
    (["general_cfg.mp_backend=ray", "env_cfg.normalize_obs=true"],
     r"env_cfg.normalize_obs needs mp_backend single \(got 'ray'"),
    (["env_cfg.n_envs=2", "env_cfg.vector_mode=async", "env_cfg.normalize_reward=true"],
     r"env_cfg.normalize_reward needs vector_mode sync with n_envs > 1"),
    (["env_cfg.normalize_gamma=1.5", "env_cfg.normalize_reward=true"], r"env_cfg.normalize_gamma: expected a value <= 1"),
])
def test_normalization_the_run_cannot_keep_consistent_is_refused(registry, overrides, message):
    if "general_cfg.mp_backend=ray" in overrides and "ray" not in registry.names("backend"):
        pytest.skip("the ray backend plugin is not installed")
    with pytest.raises(ConfigError, match=message):
        joyrl_core.resolve_config(registry, None, overrides)


def test_an_observation_space_without_a_shape_to_normalize_is_refused(registry, task_root):
    with pytest.raises(EnvError, match="env_cfg.normalize_obs: needs a Box observation space"):
        run(registry, task_root, "env_cfg.id=FrozenLake-v1", "env_cfg.normalize_obs=true")
    assert not task_root.exists() or not any(task_root.iterdir())


@pytest.mark.parametrize("change, message", [
    (lambda n: n["obs"].__setitem__("var", -n["obs"]["var"]), r"field normalizer.obs.var: variances cannot be negative"),
    (lambda n: n["obs"].__setitem__("count", "many"), r"field normalizer.obs.count: expected a positive number"),
    (lambda n: n.__setitem__("actions", {}), r"field normalizer.actions: unknown statistics"),
    (lambda n: n["obs"].__setitem__("mean", torch.zeros(7)), r"field normalizer.obs: statistics of shape \(7,\)"),
])
def test_tampered_statistics_are_refused_naming_the_field(registry, task_root, change, message):
    _, first = run(registry, task_root, *NORMALIZE, max_episode=2)
    path = find_checkpoint(str(first.root), task_root, "latest")
    payload = load_checkpoint(path)
    change(payload["normalizer"])
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=message):
        run(registry, task_root, *NORMALIZE, mode="test", load_path=str(first.root))
