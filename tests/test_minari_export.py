"""``joyrl export-minari``: a run's trajectories as a Minari dataset, read back by minari itself."""

from __future__ import annotations

import numpy as np
import pytest

import joyrl_core
from joyrl_core import load_trajectories
from joyrl_core.testing import quick_overrides

minari = pytest.importorskip("minari", reason="the minari extra (tox installs it)")


@pytest.fixture
def minari_root(tmp_path, monkeypatch):
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def collect(registry, task_root, episodes: int = 4):
    cfg = joyrl_core.resolve_config(
        registry, None,
        [*quick_overrides(task_root, algo_name="RANDOM", max_episode=episodes, seed=3, collect_traj="true")],
    )
    _, task = joyrl_core.start_run(cfg, registry)
    return task.root


def test_export_round_trip(registry, task_root, minari_root, cli):
    task = collect(registry, task_root)
    result = cli("export-minari", str(task), "joyrl/cartpole/random-v0", "--author", "tester")
    assert result.exit_code == 0, result.output
    assert "4 episodes" in result.output and "joyrl/cartpole/random-v0" in result.output

    dataset = minari.load_dataset("joyrl/cartpole/random-v0")
    trajs = list(load_trajectories(task / "results"))
    assert dataset.total_episodes == len(trajs) == 4
    assert dataset.total_steps == sum(len(t) for t in trajs)
    for episode, traj in zip(dataset.iterate_episodes(), trajs):
        np.testing.assert_allclose(episode.observations[:-1], traj.states)
        np.testing.assert_allclose(episode.observations[-1], traj.next_states[-1])
        np.testing.assert_array_equal(episode.actions, traj.actions)
        np.testing.assert_allclose(episode.rewards, traj.rewards)
        np.testing.assert_array_equal(episode.terminations, traj.terminated)
        np.testing.assert_array_equal(episode.truncations, traj.truncated)
    assert dataset.recover_environment().spec.id == "CartPole-v1"


def test_export_refusals_are_one_line(registry, task_root, minari_root, cli, tmp_path):
    result = cli("export-minari", str(tmp_path), "joyrl/none-v0")
    assert result.exit_code == 1 and result.stderr == f"Error: {tmp_path}: not a task folder (no config.yaml)\n"

    cfg = joyrl_core.resolve_config(registry, None, quick_overrides(task_root, algo_name="RANDOM", max_episode=1))
    _, task = joyrl_core.start_run(cfg, registry)
    result = cli("export-minari", str(task.root), "joyrl/none-v0")
    assert result.exit_code == 1 and "no trajs_*.npz files" in result.stderr

    done = collect(registry, task_root, episodes=1)
    assert cli("export-minari", str(done), "joyrl/once-v0").exit_code == 0
    again = cli("export-minari", str(done), "joyrl/once-v0")
    assert again.exit_code == 1 and again.stderr.startswith("Error: minari refused dataset 'joyrl/once-v0': ")
