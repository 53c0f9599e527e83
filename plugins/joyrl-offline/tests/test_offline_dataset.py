"""The dataset source: JoyRL trajectory files (globbed task folders) and Minari datasets, read safely and
checked against the run's env before anything is written."""

from __future__ import annotations

import json
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from offline_helpers import offline_overrides, random_policy, write_task

from joyrl_core import DatasetError, EnvSpec, ReplayQueue, load_dataset

CARTPOLE = EnvSpec.from_env(gym.make("CartPole-v1"), "CartPole-v1")


def test_a_glob_reads_every_task_folder_it_matches_into_one_buffer(tmp_path):
    write_task(tmp_path / "Test_a", 3)
    write_task(tmp_path / "Test_b", 2, policy=random_policy, seed=2)
    write_task(tmp_path / "Other", 1)

    dataset = load_dataset([str(tmp_path / "Test_*")], CARTPOLE)
    assert dataset.episodes == 5 and dataset.env_id == "CartPole-v1"
    assert dataset.episode_rewards[:3].tolist() == [500.0] * 3 and dataset.episode_rewards[3:].max() < 100
    assert len(dataset) == int(dataset.episode_rewards.sum())  # CartPole: one reward per step
    assert dataset.terminated[:1500].sum() == 0 and dataset.truncated[:1500].sum() == 3
    buffer = ReplayQueue(len(dataset), CARTPOLE, seed=0)
    dataset.fill(buffer)
    assert len(buffer) == len(dataset)
    assert buffer.sample(8).actions.dtype == np.int64


def test_files_and_results_folders_are_sources_too(tmp_path):
    task = write_task(tmp_path / "Test_a", 2)
    files = sorted((task / "results").iterdir())
    assert len(load_dataset([str(files[0])], CARTPOLE)) == 1000
    assert load_dataset([str(task / "results"), str(task)], CARTPOLE).episodes == 4


def test_an_empty_glob_is_one_line(tmp_path):
    with pytest.raises(DatasetError, match=r"^algo_cfg.dataset: '.*Nothing_\*' matches no file or folder$"):
        load_dataset([str(tmp_path / "Nothing_*")], CARTPOLE)


def test_a_file_that_is_not_a_trajectory_archive_is_refused(tmp_path):
    other = tmp_path / "weights.npz"
    np.savez(other, w=np.zeros(3))
    with pytest.raises(DatasetError, match=r"^algo_cfg.dataset: .*weights.npz: .*trajectory file"):
        load_dataset([str(other)], CARTPOLE)
    crafted = tmp_path / "crafted.pkl"
    crafted.write_bytes(pickle.dumps({"states": [1, 2]}))
    with pytest.raises(DatasetError, match="refused to load: it holds a pickle"):
        load_dataset([str(crafted)], CARTPOLE)


def test_data_of_another_env_is_refused(tmp_path):
    task = write_task(tmp_path / "Test_a", 1)
    acrobot = EnvSpec.from_env(gym.make("Acrobot-v1"), "Acrobot-v1")
    with pytest.raises(DatasetError, match="collected on CartPole-v1 but the run's env is Acrobot-v1; set env_cfg.id"):
        load_dataset([str(task)], acrobot)
    # Without a config.yaml naming the env, the spaces are what tells.
    (task / "config.yaml").unlink()
    with pytest.raises(DatasetError, match=r"observations have shape \(4,\) but Acrobot-v1's are \(6,\)"):
        load_dataset([str(task)], acrobot)
    pendulum = EnvSpec.from_env(gym.make("Pendulum-v1"), "Pendulum-v1")
    three_actions = EnvSpec("Three-v0", (4,), np.dtype(np.float32), "discrete", n_actions=1)
    with pytest.raises(DatasetError, match=r"observations have shape \(4,\) but Pendulum-v1's are \(3,\)"):
        load_dataset([str(task)], pendulum)
    with pytest.raises(DatasetError, match=r"actions range over \[0, 1\] but Three-v0 has 1 actions"):
        load_dataset([str(task)], three_actions)


def test_bad_data_stops_the_run_before_a_task_folder_is_made(cli, tmp_path, task_root):
    overrides = offline_overrides(task_root, "BC", [tmp_path / "Nothing_*"])
    result = cli("run", *[arg for o in overrides for arg in ("--set", o)])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        f"Error: algo_cfg.dataset: '{tmp_path / 'Nothing_*'}' matches no file or folder"]
    assert not task_root.exists() or not any(task_root.iterdir())


def test_an_offline_run_needs_a_budget_of_update_steps(cli, tmp_path, task_root):
    task = write_task(tmp_path / "Test_a", 1)
    overrides = offline_overrides(task_root, "BC", [task]) + ["general_cfg.max_update_steps=null"]
    result = cli("run", *[arg for o in overrides for arg in ("--set", o)])
    assert result.exit_code != 0 and "general_cfg.max_update_steps" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not task_root.exists() or not any(task_root.iterdir())


# -- Minari ----------------------------------------------------------------------------------------


@pytest.fixture
def minari_store(tmp_path, monkeypatch):
    pytest.importorskip("minari")
    store = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(store))
    return store


def _make_minari_dataset(dataset_id: str, n_episodes: int) -> None:
    """Random CartPole episodes as a Minari dataset, made from episode buffers (Minari's DataCollector
    needs jax)."""
    import minari
    from minari.data_collector.episode_buffer import EpisodeBuffer

    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(0)
    buffers = []
    for i in range(n_episodes):
        obs, _ = env.reset(seed=i)
        observations, actions, rewards, terminations, truncations = [obs], [], [], [], []
        while True:
            action = int(rng.integers(2))
            obs, reward, terminated, truncated, _ = env.step(action)
            observations.append(obs)
            actions.append(action)
            rewards.append(reward)
            terminations.append(terminated)
            truncations.append(truncated)
            if terminated or truncated:
                break
        buffers.append(EpisodeBuffer(id=i, seed=i, observations=np.array(observations), actions=np.array(actions),
                                     rewards=np.array(rewards), terminations=np.array(terminations),
                                     truncations=np.array(truncations), infos={}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Minari asks for an author, a description, ...
        minari.create_dataset_from_buffers(dataset_id, buffers, env="CartPole-v1", algorithm_name="random")


def test_a_minari_dataset_by_id_and_by_path(minari_store):
    _make_minari_dataset("cartpole/random-v0", 4)
    by_id = load_dataset(["minari:cartpole/random-v0"], CARTPOLE)
    by_path = load_dataset([f"minari:{minari_store / 'cartpole' / 'random-v0'}"], CARTPOLE)
    assert by_id.episodes == by_path.episodes == 4 and by_id.env_id == "CartPole-v1"
    assert len(by_id) == len(by_path) == int(by_id.episode_rewards.sum())
    first = int(by_id.episode_rewards[0])  # within an episode, each next observation is the next observation
    np.testing.assert_array_equal(by_id.next_obs[: first - 1], by_id.obs[1:first])
    assert by_id.terminated.sum() == 4 and by_id.actions.dtype == np.int64


def test_minari_errors_are_one_line(minari_store):
    with pytest.raises(DatasetError, match="no such dataset folder, nor a dataset of that id in Minari's local "
                                           "store; fetch it with: minari download cartpole/none-v0"):
        load_dataset(["minari:cartpole/none-v0"], CARTPOLE)
    _make_minari_dataset("cartpole/random-v0", 1)
    metadata_file = minari_store / "cartpole" / "random-v0" / "data" / "metadata.json"
    metadata = json.loads(metadata_file.read_text())
    del metadata["observation_space"]
    metadata_file.write_text(json.dumps(metadata))
    with pytest.raises(DatasetError, match="does not store its spaces.*refused"):
        load_dataset(["minari:cartpole/random-v0"], CARTPOLE)
