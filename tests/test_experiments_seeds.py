"""``joyrl run --seeds``: one task per seed in parallel processes, each exactly a single run's."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from conftest import SKILL_PLUGIN, read_episodes

import joyrl_core
from joyrl_core.errors import ConfigError
from joyrl_core.experiments.seeds import parse_seeds, run_seeds, seed_config
from joyrl_core.outputs.task import TaskPaths

# DQN learning from its first env steps, with online evaluations: short, but every part of a run.
TINY_DQN = {
    "general_cfg": {"algo_name": "DQN", "max_episode": -1, "max_env_steps": 600, "max_step": 200,
                    "online_eval": True, "online_eval_episode": 2, "eval_every_steps": 300,
                    "model_save_fre": 100000, "save_fig": False, "loggers": ["console", "csv"]},
    "algo_cfg": {"value_layers": [{"layer_type": "linear", "layer_dim": [16], "activation": "relu"}],
                 "batch_size": 16, "learning_starts": 64, "train_freq": 4, "lr": 0.001},
    "env_cfg": {"id": "CartPole-v1"},
}


def write_config(path, document):
    path.write_text(yaml.safe_dump(document))
    return path


def test_parse_seeds():
    assert parse_seeds("1-5") == [1, 2, 3, 4, 5]
    assert parse_seeds("1,4,9") == [1, 4, 9]
    assert parse_seeds("7, 1-2") == [7, 1, 2]
    for bad, message in (("5-1", "empty"), ("0-2", "seed 0"), ("1,1", "more than once"), ("a", "expected")):
        with pytest.raises(ConfigError, match=message):
            parse_seeds(bad)


def test_parallel_seeds_match_sequential_runs(tmp_path, registry):
    config = write_config(tmp_path / "tiny.yaml", TINY_DQN)
    overrides = [f"general_cfg.task_dir={tmp_path / 'tasks'}"]
    experiment = run_seeds(config, overrides, [1, 2], jobs=2, registry=registry, show_progress=False)
    assert not experiment.failed and not experiment.interrupted
    assert experiment.root.parent == tmp_path / "tasks" and experiment.root.name.startswith("Exp_CartPole-v1_DQN_")
    record = json.loads((experiment.root / "experiment.json").read_text())
    assert record["seeds"] == [1, 2] and sorted(record["runs"]) == ["1", "2"]
    for outcome in experiment.outcomes:
        task = TaskPaths(experiment.root / record["runs"][str(outcome.seed)]["task"])
        assert yaml.safe_load(task.config_file.read_text())["general_cfg"]["seed"] == outcome.seed
        # The same seed run alone, in this process, as `joyrl run --set general_cfg.seed=N` would.
        alone = seed_config(registry, str(config), overrides, outcome.seed, tmp_path / f"alone{outcome.seed}")
        summary, alone_task = joyrl_core.start_run(alone, registry)
        parallel_rows = read_episodes(task.root)
        alone_rows = read_episodes(alone_task.root)
        assert [r["reward"] for r in parallel_rows] == [r["reward"] for r in alone_rows]
        assert [r["env_steps"] for r in parallel_rows] == [r["env_steps"] for r in alone_rows]
        evals = (task.results / "evals.csv").read_text().splitlines()
        alone_evals = (alone_task.results / "evals.csv").read_text().splitlines()
        assert [row.split(",")[:3] for row in evals] == [row.split(",")[:3] for row in alone_evals]
        assert outcome.summary["env_steps"] == summary.env_steps == 600
    rewards = [[r["reward"] for r in read_episodes(experiment.root / record["runs"][s]["task"])] for s in "12"]
    assert rewards[0] != rewards[1]  # the seeds did differ


def test_failed_seeds_are_reported_and_the_others_finish(cli, tmp_path, make_distribution):
    make_distribution("joyrl-skill", "joyrl_skill", SKILL_PLUGIN)
    config = write_config(tmp_path / "skill.yaml", {
        "general_cfg": {"algo_name": "SKILL", "max_episode": 3, "max_step": 50, "save_fig": False,
                        "task_dir": str(tmp_path / "tasks")},
    })
    # Seed 13 kills its process, 14 raises: both are reported; 12 finishes as usual.
    result = cli("run", str(config), "--seeds", "12-14")
    assert result.exit_code == 1, result.output
    assert "seed 12: Train_CartPole-v1_SKILL_" in result.output
    assert "seed 13: FAILED: its process died (exit code 3)" in result.output
    assert "seed 14: FAILED: RuntimeError: seed 14 fails on purpose" in result.output
    [exp] = (tmp_path / "tasks").iterdir()
    runs = json.loads((exp / "experiment.json").read_text())["runs"]
    assert runs["13"]["task"] is None and "died" in runs["13"]["error"]
    assert len(read_episodes(exp / runs["12"]["task"])) == 3


def test_bad_seeds_or_config_make_no_folder(cli, tmp_path):
    config = write_config(tmp_path / "tiny.yaml", TINY_DQN)
    task_dir = tmp_path / "tasks"
    result = cli("run", str(config), "--seeds", "2-1", "--set", f"general_cfg.task_dir={task_dir}")
    assert result.exit_code != 0 and "Error: --seeds 2-1: the range 2-1 is empty" in result.output
    result = cli("run", str(config), "--seeds", "1-2", "--set", "algo_cfg.lrr=1", "--set",
                 f"general_cfg.task_dir={task_dir}")
    assert result.exit_code != 0 and "unknown key algo_cfg.lrr (did you mean 'lr'?)" in result.output
    result = cli("run", str(config), "--jobs", "2")
    assert result.exit_code != 0 and "--jobs goes with --seeds" in result.output
    assert not task_dir.exists()


def test_a_script_without_a_main_guard_runs_seeds(tmp_path):
    # The children never re-import the caller's script, so its unguarded top level runs once.
    document = {**TINY_DQN, "general_cfg": {**TINY_DQN["general_cfg"], "max_env_steps": 200, "loggers": ["csv"]}}
    script = tmp_path / "seeds_script.py"
    script.write_text(
        "from joyrl_core.experiments.seeds import run_seeds\n"
        f"experiment = run_seeds({document!r}, ['general_cfg.task_dir={tmp_path / 'tasks'}'], [1, 2], jobs=2,\n"
        "                       show_progress=False)\n"
        "print('failed:', [o.error for o in experiment.failed])\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["failed: []"]
    [exp] = (tmp_path / "tasks").iterdir()
    assert sorted(json.loads((exp / "experiment.json").read_text())["runs"]) == ["1", "2"]


def test_the_executor_is_a_plugin_s_or_local_processes(registry, monkeypatch):
    from joyrl_core.experiments.executors import choose_executor
    from joyrl_core.experiments.processes import ProcessExecutor

    config = seed_config(registry, TINY_DQN, [], 1)
    monkeypatch.setattr(registry, "experiment_executor", lambda config, address: None)  # no plugin answers
    assert isinstance(choose_executor(registry, config, None), ProcessExecutor)
    with pytest.raises(ConfigError, match="^--cluster auto: no installed plugin runs experiments on a cluster"):
        choose_executor(registry, config, "auto")
