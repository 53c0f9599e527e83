"""``joyrl tune``: checks before any trial, pruning, crashes, Ctrl-C and rerun, best.yaml."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import optuna
import pytest
import yaml
from conftest import REPO_ROOT, SKILL_PLUGIN, joyrl_script

from joyrl_core import load_registry
from joyrl_core.experiments.space import TuneConfig
from joyrl_core.experiments.tune import (
    STUDY_NAME,
    PruningLogger,
    _pruner,
    finished_count,
    min_resource,
    plan_tune,
    run_tune,
    pruner_startup_trials,
    warmup_steps,
)

TINY_DQN = {
    "general_cfg": {"algo_name": "DQN", "max_episode": -1, "max_env_steps": 300, "max_step": 200, "seed": 1,
                    "online_eval": True, "online_eval_episode": 1, "eval_every_steps": 150,
                    "model_save_fre": 100000, "save_fig": False, "loggers": ["csv"]},
    "algo_cfg": {"value_layers": [{"layer_type": "linear", "layer_dim": [16], "activation": "relu"}],
                 "batch_size": 16, "learning_starts": 32, "train_freq": 4},
    "env_cfg": {"id": "CartPole-v1"},
}
SPACE = {"algo_cfg.lr": {"loguniform": [1.0e-4, 1.0e-2]}, "algo_cfg.batch_size": {"categorical": [16, 32]},
         "algo_cfg.train_freq": {"int": [1, 8]}}


def write_tune_file(path, task_dir, document=None, **tune):
    doc = {**(document or TINY_DQN)}
    doc["general_cfg"] = {**doc["general_cfg"], "task_dir": str(task_dir)}
    doc["tune"] = {"space": SPACE, **tune}
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("change, message", [
    ({"space": {"algo_cfg.lrr": {"uniform": [0.1, 0.2]}}}, "unknown key algo_cfg.lrr (did you mean 'lr'?)"),
    ({"space": {"algo_cfg.lr": {"gaussian": [0, 1]}}}, "tune.space.algo_cfg.lr: expected one of"),
    ({"space": {"algo_cfg.lr": {"uniform": [0.1, 0.01]}}}, "the range [0.1, 0.01] is empty"),
    ({"space": {"algo_cfg.batch_size": {"int": [0, 8]}}}, "algo_cfg.batch_size: expected a value >= 1"),
    ({"space": {"general_cfg.seed": {"int": [1, 8]}}}, "the tuner sets this key itself"),
    ({"n_trial": 3}, "unknown key tune.n_trial (did you mean 'n_trials'?)"),
])
def test_bad_tune_section_is_one_error_before_any_trial(cli, tmp_path, change, message):
    config = write_tune_file(tmp_path / "t.yaml", tmp_path / "tasks", **change)
    result = cli("tune", str(config))
    assert result.exit_code != 0
    assert message in result.output and result.output.count("\n") == 1, result.output
    assert not (tmp_path / "tasks").exists()


def test_tune_turns_on_online_evaluations_or_says_what_to_add(cli, registry, tmp_path):
    document = {**TINY_DQN, "general_cfg": {**TINY_DQN["general_cfg"], "online_eval": False}}
    del document["general_cfg"]["eval_every_steps"]
    config = write_tune_file(tmp_path / "t.yaml", tmp_path / "tasks", document)
    plan = plan_tune(registry, config)
    assert plan.eval_every_steps == 20 and plan.overrides[-2:] == ["general_cfg.online_eval=true",
                                                                   "general_cfg.eval_every_steps=20"]
    assert plan.notes == ["trials are evaluated online every 20 env steps (1 episodes; set general_cfg.online_eval "
                          "and eval_every_steps to choose)"]
    by_episodes = {**document, "general_cfg": {**document["general_cfg"], "max_env_steps": None, "max_episode": 5}}
    result = cli("tune", str(write_tune_file(tmp_path / "e.yaml", tmp_path / "tasks", by_episodes)))
    assert result.exit_code != 0 and result.output.count("\n") == 1, result.output
    assert "set general_cfg.max_env_steps (tune then evaluates every 1/15 of it), or online_eval" in result.output
    assert not (tmp_path / "tasks").exists()
    result = cli("run", str(config))
    assert result.exit_code != 0 and "a tune section is read by `joyrl tune`" in result.output


@pytest.mark.parametrize("pruner, pruned_at", [("median", 200), ("halving", 400)])  # halving: from 2 evals
def test_pruning_stops_a_clearly_worse_trial_and_a_crash_is_a_failed_trial(tmp_path, make_distribution, pruner,
                                                                            pruned_at):
    make_distribution("joyrl-skill", "joyrl_skill", SKILL_PLUGIN)
    document = {"general_cfg": {"algo_name": "SKILL", "max_episode": -1, "max_env_steps": 2000, "max_step": 200,
                                "seed": 1, "online_eval": True, "online_eval_episode": 1, "eval_every_steps": 200,
                                "save_fig": False, "loggers": ["csv"]},
                "tune": {"n_trials": 4, "pruner": pruner, "pruner_startup_trials": 2, "sampler": "random",
                         "space": {"algo_cfg.skill": {"categorical": [0, 1]},
                                   "algo_cfg.fail": {"categorical": [False, True]}}}}
    document["general_cfg"]["task_dir"] = str(tmp_path / "tasks")
    plan = plan_tune(load_registry(), document, study_dir=tmp_path / "study")
    plan.study_dir.mkdir()
    study = optuna.create_study(study_name=STUDY_NAME, storage=plan.storage, direction="maximize")
    for params in ({"skill": 1, "fail": False}, {"skill": 1, "fail": False}, {"skill": 0, "fail": False},
                   {"skill": 1, "fail": True}):
        study.enqueue_trial({f"algo_cfg.{k}": v for k, v in params.items()})
    result = run_tune(plan, show_progress=False)
    states = [t["state"] for t in result.trials]
    assert states == ["complete", "complete", "pruned", "fail"], result.trials
    good, _, bad, crashed = result.trials
    assert bad["env_steps"] == pruned_at and good["env_steps"] == 2000
    assert "fail: true fails on purpose" in crashed["error"]
    assert result.best["number"] == 0 and result.best["value"] >= 150
    for name in ("best.yaml", "history.png", "study.json"):
        assert (plan.study_dir / name).is_file()


def _completed(db):
    """Completed trials, read without Optuna: opening the storage would race the tuner creating it."""
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
            return connection.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.Error:  # not made yet
        return 0


def test_interrupted_study_continues_on_rerun_and_best_yaml_runs(cli, tmp_path):
    task_dir = tmp_path / "tasks"
    config = write_tune_file(tmp_path / "tune_me.yaml", task_dir, n_trials=4, pruner="none", seed=3)
    study_dir = task_dir / "Tune_tune_me"
    storage = f"sqlite:///{study_dir / 'study.db'}"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    process = subprocess.Popen([str(joyrl_script()), "tune", str(config)], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while _completed(study_dir / "study.db") < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, output
    assert "rerun the same command to continue" in output
    done = finished_count(optuna, optuna.load_study(study_name=STUDY_NAME, storage=storage))
    assert 2 <= done < 4
    result = cli("tune", str(config))
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage)
    assert finished_count(optuna, study) == 4
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 4
    # best.yaml is a complete config that `joyrl run` takes as it is, and it writes the same config back.
    best = yaml.safe_load((study_dir / "best.yaml").read_text())
    assert best["general_cfg"]["task_dir"] == str(task_dir) and best["general_cfg"]["loggers"] == ["csv"]
    result = cli("run", str(study_dir / "best.yaml"))
    assert result.exit_code == 0, result.output
    [task] = [p for p in task_dir.iterdir() if p.name.startswith("Train_")]
    assert yaml.safe_load((task / "config.yaml").read_text()) == best


def test_every_tune_key_is_in_the_readme():
    from joyrl_core.config import describe_options
    from joyrl_core.experiments.space import TuneConfig

    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [row.key for row in describe_options(TuneConfig) if f"| `{row.key}` |" not in readme]
    assert not missing, f"README's tune table lacks {missing}"


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "examples").glob("tune_*.yaml")), ids=lambda p: p.name)
def test_every_shipped_tune_example_plans(registry, path):
    plan = plan_tune(registry, path)
    assert plan.tune.n_trials >= 1 and plan.params


def test_pruner_defaults_follow_the_study(registry):
    plan = plan_tune(registry, REPO_ROOT / "examples" / "tune_cartpole_dqn.yaml")
    assert plan.tune.pruner == "halving" and plan.tune.min_resource is None
    pruner = _pruner(optuna, plan)
    assert isinstance(pruner, optuna.pruners.SuccessiveHalvingPruner) and min_resource(plan) == 4000  # 2 evals
    plan.tune.min_resource = 6000
    assert min_resource(plan) == 6000
    assert plan.tune.pruner_startup_trials is None and plan.tune.warmup_steps is None
    assert pruner_startup_trials(plan.tune) == 2 and warmup_steps(plan) == 3000  # 16 trials / 8; 30k env steps / 10
    plan.tune.n_trials, plan.tune.warmup_steps = 40, 0
    assert pruner_startup_trials(plan.tune) == 5 and warmup_steps(plan) == 0


@pytest.mark.parametrize("direction, best", [("maximize", [100, 100, 300]), ("minimize", [100, 20, 20])])
def test_the_pruner_is_told_the_best_objective_so_far(tmp_path, direction, best):
    # A noisy evaluation after a good one must not make a promising trial look hopeless.
    study = optuna.create_study(direction=direction, pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    logger = PruningLogger(trial, TuneConfig(last_k=1, direction=direction), optuna, tmp_path)
    for steps, reward in ((100, 100.0), (200, 20.0), (300, 300.0)):
        logger.log_metrics(steps, {"eval/mean_reward": reward})
    logger.log_metrics(350, {"train/loss": 1.0})  # not an evaluation: nothing reported
    assert study.trials[0].intermediate_values == dict(zip((100, 200, 300), best))
