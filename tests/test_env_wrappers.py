"""env_cfg.wrappers (gymnasium's and plugins'), and results that keep the env's own rewards."""

from __future__ import annotations

import numpy as np
import pytest

import joyrl_core
from joyrl_core import ComponentNotFoundError, ConfigError, EnvError, load_trajectories
from joyrl_core.components.wrappers import resolve_wrappers

from conftest import quick_overrides, read_episodes


def run(registry, task_root, *overrides, **general):
    general = {"max_episode": 4, "max_step": 60, "seed": 3, "algo_name": "RANDOM", "collect_traj": "true", **general}
    config = joyrl_core.resolve_config(registry, None, [*quick_overrides(task_root, **general), *overrides])
    return joyrl_core.start_run(config, registry)


@pytest.mark.parametrize("n_envs", [1, 3])
def test_a_clipped_reward_reaches_the_learner_but_results_keep_the_env_score(registry, task_root, n_envs):
    summary, task = run(registry, task_root, f"env_cfg.n_envs={n_envs}",
                        "env_cfg.wrappers=[{name: ClipReward, min_reward: 0, max_reward: 0.25}]")
    # What the buffer is pushed (the trajectories log the same transitions): CartPole's +1 clipped.
    trajectories = list(load_trajectories(task.results))
    assert trajectories and all(np.all(t.rewards == 0.25) for t in trajectories)
    # What results record: the env's return, one per step.
    rows = read_episodes(task.root)
    assert [float(r["reward"]) for r in rows] == [float(r["length"]) for r in rows]
    assert summary.last_rewards == [float(r["reward"]) for r in rows]
    assert sorted(t.episode_reward for t in trajectories) == sorted(summary.last_rewards)


def test_wrappers_apply_in_order_and_change_what_the_agent_sees(registry, task_root):
    config = joyrl_core.resolve_config(registry, None, [
        *quick_overrides(task_root, algo_name="RANDOM"),
        "env_cfg.wrappers=[{name: TimeAwareObservation}, {name: FrameStackObservation, stack_size: 2}]",
    ])
    summary, task = joyrl_core.start_run(config, registry)
    # CartPole's 4 numbers plus the time step, stacked twice.
    assert joyrl_core.load_policy(task.root, registry=registry).env_spec.obs_shape == (2, 5)


def test_a_plugin_wrapper_takes_its_typed_options(registry, task_root):
    summary, task = run(registry, task_root, "env_cfg.wrappers=[{name: scale_reward, factor: -3}]")
    assert all(np.all(t.rewards == -3.0) for t in load_trajectories(task.results))
    assert all(float(r["reward"]) > 0 for r in read_episodes(task.root))
    with pytest.raises(ConfigError, match=r"--set env_cfg.wrappers: env_cfg.wrappers\[0\].factor: expected a number"):
        joyrl_core.resolve_config(registry, None, ["env_cfg.wrappers=[{name: scale_reward, factor: big}]"])


@pytest.mark.parametrize("wrappers, error, message", [
    ("[{name: ClipRewards}]", ComponentNotFoundError,
     r"env_cfg.wrappers\[0\]: unknown wrapper 'ClipRewards' \(did you mean 'ClipReward'\?\).*installed: scale_reward"),
    ("[{name: os.system}]", ComponentNotFoundError, r"unknown wrapper 'os.system'"),
    ("[{name: TimeAwareObservation}, {name: ClipReward, min_rewrd: -1}]", ConfigError,
     r"env_cfg.wrappers\[1\]: unknown option 'min_rewrd' \(did you mean 'min_reward'\?\); ClipReward takes: "
     r"min_reward, max_reward"),
    ("[{name: FrameStackObservation}]", ConfigError, r"FrameStackObservation needs the option 'stack_size'"),
    ("[{name: TransformReward, func: abs}]", ConfigError, r"'func' is a function, which a YAML file cannot give"),
    ("[{name: NormalizeObservation}]", ConfigError, r"applied by the core; use env_cfg.normalize_obs: true"),
    ("[{min_reward: -1}]", ConfigError, r"expected a mapping with a wrapper name, e.g. \{name: ClipReward"),
    ("[ClipReward]", ConfigError, r"env_cfg.wrappers\[0\]: expected a mapping, got 'ClipReward'"),
    ("{name: ClipReward}", ConfigError, r"env_cfg.wrappers: expected a list"),
])
def test_bad_wrapper_entries_are_one_line_errors_before_the_run(registry, task_root, wrappers, error, message):
    with pytest.raises(error, match=message) as caught:
        joyrl_core.resolve_config(registry, None, [f"env_cfg.wrappers={wrappers}"])
    assert "\n" not in str(caught.value) and str(caught.value).startswith("--set env_cfg.wrappers")


def test_a_value_the_wrapper_refuses_stops_the_run_before_its_folder_exists(registry, task_root):
    with pytest.raises(EnvError, match=r"env_cfg.wrappers\[0\] \(DiscretizeObservation\) could not wrap the env"):
        run(registry, task_root, "env_cfg.wrappers=[{name: DiscretizeObservation, bins: 0}]")
    assert not task_root.exists() or not any(task_root.iterdir())


def test_a_plugin_cannot_take_a_gymnasium_wrapper_name():
    class Plugin:
        @joyrl_core.hookimpl
        def register_wrappers(register):
            register("ClipReward", lambda env, config: env)

    registry = joyrl_core.load_registry(extra_plugins=[("shadow", Plugin)])
    broken = [b for b in registry.broken if b.name == "shadow"]
    assert broken and "wrapper 'ClipReward': gymnasium.wrappers exports a wrapper of this name" in broken[0].error
    assert "ClipReward" not in registry.names("wrapper")


def test_resolved_wrappers_pickle_for_async_vector_envs(registry, task_root):
    import pickle

    specs = resolve_wrappers([{"name": "ClipReward", "min_reward": -1, "max_reward": 1},
                              {"name": "scale_reward", "factor": 2}], registry, "x.yaml")
    assert pickle.loads(pickle.dumps(specs)) == specs
    summary, task = run(registry, task_root, "env_cfg.n_envs=2", "env_cfg.vector_mode=async",
                        "env_cfg.wrappers=[{name: ClipReward, min_reward: 0, max_reward: 0.5}]", max_episode=2)
    assert [float(r["reward"]) for r in read_episodes(task.root)] == [float(r["length"]) for r in read_episodes(task.root)]


def test_info_describes_a_gymnasium_wrapper_and_a_plugin_wrapper(cli):
    result = cli("info", "FrameStackObservation")
    assert result.exit_code == 0
    assert "env_cfg.wrappers entry" in result.output and "options: stack_size, padding_type (default 'reset')" in result.output
    result = cli("info", "scale_reward")
    assert result.exit_code == 0 and "wrapper scale_reward from joyrl-testplugin" in result.output and "factor" in result.output
    assert "scale_reward" in cli("list-plugins", "--kind", "wrapper").output
