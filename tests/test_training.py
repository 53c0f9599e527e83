"""Real DQN training runs: seeding determinism, learning CartPole, and the task folder they leave."""

from __future__ import annotations

import csv

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import joyrl_core
from joyrl_core.outputs.checkpoint import load_checkpoint
from joyrl_core.config import config_to_dict
from joyrl_core.plugins.registry import DISABLE_ENV_VAR
from joyrl_core.outputs.task import create_task_dir

from conftest import EPISODES_HEADER, PER_STEP_DQN_YAML, quick_overrides, read_episodes

# The product document's example (per-step DQN) with a budget that learns CartPole in seconds: episodes are cut at 200 steps,
# a larger learning rate, no online evaluation. Seed 1 balances for 200 steps from episode ~20 on.
LEARN_EPISODES = 35
LEARN_MAX_STEP = 200


def dqn_config(registry, task_root, *extra, **general):
    return joyrl_core.resolve_config(registry, PER_STEP_DQN_YAML, [*quick_overrides(task_root, **general), *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short real DQN run on CartPole, shared by the tests that read what it left behind."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(DISABLE_ENV_VAR, raising=False)
        registry = joyrl_core.load_registry()
    task_root = tmp_path_factory.mktemp("trained") / "tasks"
    cfg = dqn_config(
        registry, task_root, "algo_cfg.lr=0.001",
        max_episode=LEARN_EPISODES, max_step=LEARN_MAX_STEP, seed=1, loggers="[csv, jsonl]",
    )
    start = time.perf_counter()
    summary, task = joyrl_core.start_run(cfg, registry)
    return registry, cfg, summary, task, time.perf_counter() - start


def test_dqn_learns_cartpole(trained):
    _, _, summary, task, seconds = trained
    rewards = [float(row["reward"]) for row in read_episodes(task.root)]
    assert len(rewards) == LEARN_EPISODES
    assert rewards == summary.last_rewards
    assert np.mean(rewards[:10]) < 50, "the first episodes are near-random"
    assert np.mean(rewards[-10:]) >= 100, f"DQN did not learn: {rewards}"
    assert seconds < 60, f"the learning run took {seconds:.0f} s; the budget is meant to be a few seconds"


def test_episodes_csv(trained):
    _, cfg, summary, task, _ = trained
    text = (task.results / "episodes.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(EPISODES_HEADER)
    rows = read_episodes(task.root)
    assert [int(r["episode"]) for r in rows] == list(range(1, LEARN_EPISODES + 1))
    lengths = [int(r["length"]) for r in rows]
    assert [int(r["env_steps"]) for r in rows] == np.cumsum(lengths).tolist()
    assert int(rows[-1]["env_steps"]) == summary.env_steps
    assert all(1 <= n <= LEARN_MAX_STEP for n in lengths)
    for r in rows:
        assert float(r["reward"]) == int(r["length"])  # CartPole pays 1 per step
        # Cut at max_step: not terminated (bootstrapped); shorter: the pole fell.
        assert r["terminated"] == ("0" if int(r["length"]) == LEARN_MAX_STEP else "1")
        assert float(r["wall_time"]) >= 0


def test_task_folder_contents(trained):
    _, cfg, summary, task, _ = trained
    root = task.root
    assert root.parent == Path(cfg.general.task_dir)
    assert re.fullmatch(r"Train_CartPole-v1_DQN_\d{8}-\d{6}(-\d+)?", root.name)
    for sub in ("models", "results", "logs"):
        assert (root / sub).is_dir()
    assert not (root / "videos").exists(), "videos/ is made only for a GIF"

    assert yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8")) == config_to_dict(cfg)

    # DQN takes one gradient step per env step once the buffer holds a batch.
    assert summary.update_steps == summary.env_steps - (cfg.algo.batch_size - 1)
    names = sorted(int(p.stem) for p in task.models.glob("*.pt"))
    fre = cfg.general.model_save_fre
    expected = list(range(fre, summary.update_steps + 1, fre))
    if summary.update_steps % fre:
        expected.append(summary.update_steps)
    assert names == expected[-cfg.general.keep_checkpoints:], "the newest keep_checkpoints are kept"
    assert not (task.models / "best.pt").exists(), "no online eval, no best model"
    last = load_checkpoint(task.models / f"{summary.update_steps}.pt")
    assert last["counters"] == {"episodes": LEARN_EPISODES, "env_steps": summary.env_steps,
                                "update_steps": summary.update_steps}
    assert last["config"] == config_to_dict(cfg)
    save_point = names[0]  # a save point, not the final checkpoint
    assert load_checkpoint(task.models / f"{save_point}.pt")["counters"]["update_steps"] == save_point

    log = (task.logs / "run.log").read_text(encoding="utf-8")
    assert f"task folder {root}" in log
    assert "episode 1: reward" in log and f"episode {LEARN_EPISODES}: reward" in log
    assert f"finished: {LEARN_EPISODES} episodes, {summary.env_steps} env steps, {summary.update_steps} update steps" in log


def test_plugin_logger_saw_the_same_run(trained):
    """The testplugin's jsonl logger, listed in general_cfg.loggers, received every event."""
    _, _, summary, task, _ = trained
    events = [json.loads(line) for line in (task.logs / "events.jsonl").read_text().splitlines()]
    episodes = [e for e in events if e["event"] == "episode"]
    assert [e["reward"] for e in episodes] == summary.last_rewards
    assert {e["mode"] for e in episodes} == {"train"}
    assert all(0.0 < e["metrics"]["epsilon"] <= 0.95 for e in episodes)
    metrics = [e for e in events if e["event"] == "metrics"]
    losses = [m["metrics"]["train/loss"] for m in metrics if "train/loss" in m["metrics"]]
    assert losses and all(np.isfinite(losses))


def test_greedy_test_mode_from_the_checkpoint(trained, registry):
    """mode: test loads the trained task folder's latest checkpoint and plays greedily."""
    _, cfg, _, task, _ = trained
    test_cfg = dqn_config(
        registry, task.root.parent,
        mode="test", load_checkpoint="true", load_path=task.root.name, test_episode=3,
        max_step=LEARN_MAX_STEP, seed=1,
    )
    summary, test_task = joyrl_core.start_run(test_cfg, registry)
    assert test_task.root.name.startswith("Test_CartPole-v1_DQN_")
    assert summary.update_steps == max(int(p.stem) for p in task.models.glob("*.pt"))
    assert len(summary.test_rewards) == 3
    assert np.mean(summary.test_rewards) >= 100
    rows = read_episodes(test_task.root)
    assert [float(r["reward"]) for r in rows] == summary.test_rewards


def test_resume_continues_the_counters(trained, registry):
    """load_checkpoint in train mode: episode numbers, env steps and update steps carry on."""
    _, cfg, summary, task, _ = trained
    resume_cfg = dqn_config(
        registry, task.root.parent, "algo_cfg.lr=0.001",
        load_checkpoint="true", load_path=task.root.name, max_episode=2, max_step=LEARN_MAX_STEP, seed=2,
    )
    resumed, resumed_task = joyrl_core.start_run(resume_cfg, registry)
    rows = read_episodes(resumed_task.root)
    assert [int(r["episode"]) for r in rows] == [LEARN_EPISODES + 1, LEARN_EPISODES + 2]
    lengths = [int(r["length"]) for r in rows]
    assert [int(r["env_steps"]) for r in rows] == [summary.env_steps + lengths[0], summary.env_steps + sum(lengths)]
    assert resumed.episodes == LEARN_EPISODES + 2 and resumed.env_steps == summary.env_steps + sum(lengths)
    # The replay buffer starts empty: learning resumes once it holds a batch again.
    assert resumed.update_steps == summary.update_steps + max(0, sum(lengths) - (cfg.algo.batch_size - 1))
    final = load_checkpoint(resumed_task.models / f"{resumed.update_steps}.pt")
    assert final["counters"]["episodes"] == LEARN_EPISODES + 2


def rewards_of_run(registry, task_root, seed, episodes=15):
    cfg = dqn_config(registry, task_root, "algo_cfg.lr=0.001", "algo_cfg.batch_size=32",
                     max_episode=episodes, max_step=LEARN_MAX_STEP, seed=seed)
    _, task = joyrl_core.start_run(cfg, registry)
    return [(row["reward"], row["length"], row["terminated"]) for row in read_episodes(task.root)]


def test_same_seed_same_run(registry, task_root):
    first = rewards_of_run(registry, task_root, seed=3)
    second = rewards_of_run(registry, task_root, seed=3)
    assert len(first) == 15
    assert first == second
    assert rewards_of_run(registry, task_root, seed=4) != first


def test_two_task_folders_in_the_same_second(tmp_path):
    a = create_task_dir(tmp_path, "train", "CartPole-v1", "DQN")
    b = create_task_dir(tmp_path, "train", "CartPole-v1", "DQN")
    assert a.root != b.root
    assert a.root.is_dir() and b.root.is_dir()
    for task in (a, b):
        assert re.fullmatch(r"Train_CartPole-v1_DQN_\d{8}-\d{6}(-\d+)?", task.root.name)
        assert all(p.is_dir() for p in (task.models, task.results, task.logs))
        assert not task.videos.exists()


def test_same_second_gets_numbered_suffixes(tmp_path, monkeypatch):
    # Freeze the clock (the stdlib's, not ours) so every call lands in the same second.
    monkeypatch.setattr(time, "strftime", lambda fmt, *args: "20240102-030405")
    roots = [create_task_dir(tmp_path, "test", "ALE/Pong-v5", "DQN").root for _ in range(3)]
    assert [r.name for r in roots] == [
        "Test_ALE-Pong-v5_DQN_20240102-030405",
        "Test_ALE-Pong-v5_DQN_20240102-030405-1",
        "Test_ALE-Pong-v5_DQN_20240102-030405-2",
    ]
    assert all(r.parent == tmp_path for r in roots)


def test_logger_listed_twice(registry, task_root):
    overrides = quick_overrides(task_root, algo_name="RANDOM", max_episode=2, seed=1, loggers="[csv, csv]")
    with pytest.raises(joyrl_core.ConfigError, match=r"^--set general_cfg.loggers: .*lists csv more than once"):
        joyrl_core.resolve_config(registry, None, overrides)


@pytest.mark.parametrize("n_envs", [1, 4])
def test_max_env_steps_is_exact(registry, task_root, n_envs):
    overrides = quick_overrides(task_root, algo_name="RANDOM", max_episode=-1, max_env_steps=400, seed=2)
    cfg = joyrl_core.resolve_config(registry, None, [*overrides, f"env_cfg.n_envs={n_envs}"])
    summary, task = joyrl_core.start_run(cfg, registry)
    assert summary.env_steps == 400
    rows = read_episodes(task.root)
    assert int(rows[-1]["env_steps"]) <= 400 and len(rows) == summary.episodes


def test_evaluation_every_env_steps(registry, task_root):
    overrides = quick_overrides(task_root, algo_name="RANDOM", max_episode=-1, max_env_steps=600, seed=2,
                                online_eval="true", eval_every_steps=150, online_eval_episode=3)
    summary, task = joyrl_core.start_run(joyrl_core.resolve_config(registry, None, overrides), registry)
    evals = _evals(task)
    assert [int(row["env_steps"]) for row in evals] == [150, 300, 450, 600]
    train_times = [float(row["train_time"]) for row in evals]
    assert train_times == sorted(train_times) and summary.eval_time > 0


def test_stop_reward_ends_training_at_the_first_good_evaluation(registry, task_root):
    # A random CartPole policy scores ~20, so the first evaluation reaches a stop_reward of 5.
    overrides = quick_overrides(task_root, algo_name="RANDOM", max_episode=-1, seed=2, online_eval="true",
                                eval_every_steps=150, online_eval_episode=3, stop_reward=5)
    summary, task = joyrl_core.start_run(joyrl_core.resolve_config(registry, None, overrides), registry)
    assert summary.env_steps == 150 and len(_evals(task)) == 1
    assert summary.best_eval_reward >= 5


def _evals(task) -> list[dict[str, str]]:
    with open(task.results / "evals.csv", newline="") as fh:
        return list(csv.DictReader(fh))
