"""Seeds as Ray tasks (joyrl-backend-ray's ``experiment_executor``), on one local Ray of 2 CPUs shut
down after the module: the same per-seed results as local processes, failures reported, and seeds of
``mp_backend: ray`` runs that never wait on each other's CPUs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import SKILL_PLUGIN, read_episodes, start_local_ray

from joyrl_core.experiments.seeds import run_seeds

ray = pytest.importorskip("ray")

TINY_DQN = {
    "general_cfg": {"algo_name": "DQN", "max_episode": -1, "max_env_steps": 400, "max_step": 200,
                    "online_eval": True, "online_eval_episode": 1, "eval_every_steps": 200,
                    "model_save_fre": 100000, "save_fig": False, "loggers": ["csv"]},
    "algo_cfg": {"value_layers": [{"layer_type": "linear", "layer_dim": [16], "activation": "relu"}],
                 "batch_size": 16, "learning_starts": 64, "train_freq": 4, "lr": 0.001},
    "env_cfg": {"id": "CartPole-v1"},
}


@pytest.fixture(scope="module")
def ray_cluster():
    start_local_ray()
    yield
    ray.shutdown()


def runs_of(experiment):
    record = json.loads((experiment.root / "experiment.json").read_text())
    return record, {int(seed): run for seed, run in record["runs"].items()}


def test_seeds_as_ray_tasks_match_local_processes(ray_cluster, registry, tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY_DQN))
    results = {}
    for cluster in (None, "local"):
        experiment = run_seeds(config, [f"general_cfg.task_dir={tmp_path / str(cluster)}"], [1, 2], jobs=2,
                               registry=registry, show_progress=False, cluster=cluster)
        assert not experiment.failed and not experiment.interrupted
        record, runs = runs_of(experiment)
        assert record["executor"] == ("ray" if cluster else "processes") and record["jobs"] == 2
        results[cluster] = {seed: (read_episodes(experiment.root / run["task"]),
                                   (experiment.root / run["task"] / "results" / "evals.csv").read_text())
                            for seed, run in runs.items()}
    for seed in (1, 2):
        (ray_rows, ray_evals), (local_rows, local_evals) = results["local"][seed], results[None][seed]
        assert [(r["env_steps"], r["reward"]) for r in ray_rows] == [(r["env_steps"], r["reward"]) for r in local_rows]
        assert [row.split(",")[:3] for row in ray_evals.splitlines()] == \
            [row.split(",")[:3] for row in local_evals.splitlines()]
    assert [r["reward"] for r in results["local"][1][0]] != [r["reward"] for r in results["local"][2][0]]


def test_a_failed_seed_on_ray_is_reported_and_the_others_finish(ray_cluster, cli, tmp_path, make_distribution):
    make_distribution("joyrl-skill", "joyrl_skill", SKILL_PLUGIN)
    config = tmp_path / "skill.yaml"
    config.write_text(yaml.safe_dump({"general_cfg": {"algo_name": "SKILL", "max_episode": 3, "max_step": 50,
                                                      "save_fig": False, "task_dir": str(tmp_path / "tasks")}}))
    # Seed 13 kills its Ray worker, 14 raises: both are reported, neither is retried; 12 finishes.
    result = cli("run", str(config), "--seeds", "12-14", "--cluster", "local")
    assert result.exit_code == 1, result.output
    assert "seed 12: Train_CartPole-v1_SKILL_" in result.output
    assert "seed 13: FAILED: its Ray worker died (" in result.output
    assert "seed 14: FAILED: RuntimeError: seed 14 fails on purpose" in result.output
    [exp] = (tmp_path / "tasks").iterdir()
    runs = json.loads((exp / "experiment.json").read_text())["runs"]
    assert runs["13"]["task"] is None and len(read_episodes(exp / runs["12"]["task"])) == 3
    assert len([p for p in exp.iterdir() if p.is_dir()]) == 2  # 12's and 14's folders: 13 was not run again


def test_seeds_of_ray_backend_runs_go_as_many_as_their_actors_fit(ray_cluster, registry, tmp_path):
    # Each run places 1 worker + 1 learner (1 CPU each): on 2 CPUs one run at a time, --jobs 2 or not.
    document = {**TINY_DQN, "general_cfg": {**TINY_DQN["general_cfg"], "mp_backend": "ray", "n_workers": 1,
                                            "max_env_steps": None, "max_episode": 4, "online_eval": False}}
    experiment = run_seeds(document, [f"general_cfg.task_dir={tmp_path}"], [1, 2], jobs=2, registry=registry,
                           show_progress=False)
    assert not experiment.failed, experiment.outcomes
    record, runs = runs_of(experiment)
    assert record["executor"] == "ray" and record["jobs"] == 1
    for seed, run in runs.items():
        assert len(read_episodes(experiment.root / run["task"])) == 4


def test_tune_trials_as_ray_tasks(ray_cluster, cli, tmp_path, make_distribution):
    make_distribution("joyrl-skill", "joyrl_skill", SKILL_PLUGIN)
    config = tmp_path / "tune.yaml"
    config.write_text(yaml.safe_dump({
        "general_cfg": {"algo_name": "SKILL", "max_episode": -1, "max_env_steps": 400, "max_step": 200, "seed": 1,
                        "save_fig": False, "loggers": ["csv"], "task_dir": str(tmp_path / "tasks")},
        "tune": {"n_trials": 2, "sampler": "random", "pruner": "none", "seed": 1,
                 "space": {"algo_cfg.skill": {"categorical": [0, 1]}}}}))
    result = cli("tune", str(config), "--cluster", "local", "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert "trials are evaluated online every 26 env steps" in result.output and "trials: 2 complete" in result.output
    study = json.loads((tmp_path / "tasks" / "Tune_tune" / "study.json").read_text())
    for trial in study["trials"]:  # each a normal task folder, with its online evaluations
        assert (tmp_path / "tasks" / "Tune_tune" / "trials").samefile(Path(trial["task"]).parent)
        assert (Path(trial["task"]) / "results" / "evals.csv").is_file()
    assert (tmp_path / "tasks" / "Tune_tune" / "best.yaml").is_file()
