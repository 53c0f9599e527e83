"""What a new user meets in the first hour: episode limits from the env, the end-of-run verdict, test
mode's summary, per-episode timing on vector envs, re-running a task's config, the task folder, and
``joyrl info`` in an 80-column terminal."""

from __future__ import annotations

import re
import time

import gymnasium as gym
import pytest
import yaml
from click.testing import CliRunner
from gymnasium.envs.classic_control import CartPoleEnv

import joyrl_core
from joyrl_core.cli.main import main

from conftest import PER_STEP_DQN_YAML, SKILL_PLUGIN, quick_overrides, read_episodes

STEP_SLEEP = 0.002


class _SlowCartPole(CartPoleEnv):
    """CartPole whose every step takes at least STEP_SLEEP seconds."""

    def step(self, action):
        time.sleep(STEP_SLEEP)
        return super().step(action)


# A CartPole that a random policy solves (threshold 5), and one with no threshold at all.
for _id, _threshold in (("FirstHourEasy-v0", 5.0), ("FirstHourNoThreshold-v0", None)):
    if _id not in gym.envs.registry:
        gym.register(id=_id, entry_point=CartPoleEnv, max_episode_steps=50, reward_threshold=_threshold)
if "FirstHourNoLimit-v0" not in gym.envs.registry:
    gym.register(id="FirstHourNoLimit-v0", entry_point=CartPoleEnv)
if "FirstHourSlow-v0" not in gym.envs.registry:
    gym.register(id="FirstHourSlow-v0", entry_point=_SlowCartPole, max_episode_steps=500)


def run(task_root, *extra, **general):
    overrides = [*quick_overrides(task_root, **general), *extra]
    return CliRunner().invoke(main, ["run", *[arg for o in overrides for arg in ("--set", o)]])


def task_of(result) -> tuple[str, ...]:
    assert result.exit_code == 0, (result.output, result.exception)
    return tuple(result.stdout.splitlines())


@pytest.mark.parametrize("n_envs", [1, 2])
def test_max_step_defaults_to_the_envs_own_limit(tmp_path, n_envs):
    # Acrobot-v1's limit is 500 steps, and a random policy practically never swings up before it;
    # the old default of 200 cut every episode at 200.
    lines = task_of(run(tmp_path, "general_cfg.algo_name=RANDOM", "env_cfg.id=Acrobot-v1", f"env_cfg.n_envs={n_envs}",
                        max_episode=n_envs, seed=3))
    task = tmp_path / lines[0].removeprefix(f"task folder: {tmp_path}/")
    rows = read_episodes(task)
    assert [(r["length"], r["terminated"]) for r in rows] == [("500", "0")] * n_envs
    assert yaml.safe_load((task / "config.yaml").read_text())["general_cfg"]["max_step"] is None


def test_joyrl_run_without_yaml_plays_cartpole_to_its_own_limit(tmp_path, make_distribution):
    # A balancing controller (SKILL) with no YAML: CartPole-v1's episodes run past the old cut at 200
    # up to its own limit of 500.
    make_distribution("joyrl-skill", "joyrl_skill", SKILL_PLUGIN)
    lines = task_of(run(tmp_path, "general_cfg.algo_name=SKILL", max_episode=3, seed=1))
    lengths = [int(r["length"]) for r in read_episodes(tmp_path / lines[0].rsplit("/", 1)[1])]
    assert max(lengths) > 200 and max(lengths) <= 500, lengths


def test_max_step_still_cuts_when_set(tmp_path):
    lines = task_of(run(tmp_path, "general_cfg.algo_name=RANDOM", "env_cfg.id=Acrobot-v1", max_episode=1,
                        max_step=30, seed=3))
    assert [r["length"] for r in read_episodes(tmp_path / lines[0].rsplit("/", 1)[1])] == ["30"]


def test_an_env_without_a_time_limit_is_named_in_the_log(tmp_path):
    lines = task_of(run(tmp_path, "general_cfg.algo_name=RANDOM", "env_cfg.id=FirstHourNoLimit-v0", max_episode=1,
                        seed=3))
    log = (tmp_path / lines[0].rsplit("/", 1)[1] / "logs" / "run.log").read_text()
    assert ("FirstHourNoLimit-v0 has no time limit of its own and general_cfg.max_step is null: an episode ends "
            "only when the env terminates it") in log
    lines = task_of(run(tmp_path, "general_cfg.algo_name=RANDOM", max_episode=1, seed=3))
    assert "no time limit" not in (tmp_path / lines[0].rsplit("/", 1)[1] / "logs" / "run.log").read_text()


def test_run_ends_with_a_solved_line_naming_the_best_model(tmp_path):
    lines = task_of(run(tmp_path, "general_cfg.algo_name=RANDOM", "env_cfg.id=FirstHourEasy-v0", max_episode=50,
                        seed=1, online_eval="true", eval_every_steps=100, stop_reward=5))
    task = lines[0].removeprefix("task folder: ")
    assert re.fullmatch(
        rf"solved FirstHourEasy-v0: best greedy eval [\d.]+ >= 5 \(the env's reward threshold\) at env step 100, "
        rf"where training stopped; best model: {re.escape(task)}/models/best.pt", lines[-1]), lines[-1]
    summary = yaml.safe_load(open(f"{task}/results/summary.json"))
    assert summary["solved"] is True and summary["reward_threshold"] == 5.0 and summary["verdict"] == lines[-1]


def test_run_says_when_it_did_not_solve(tmp_path):
    # A random policy on CartPole-v1 scores ~20 against its threshold of 475.
    lines = task_of(run(tmp_path, "general_cfg.algo_name=RANDOM", max_episode=12, seed=1, online_eval="true",
                        eval_every_steps=100, online_eval_episode=2))
    task = lines[0].removeprefix("task folder: ")
    assert lines[-1].startswith("NOT solved CartPole-v1: best greedy eval "), lines[-1]
    assert " < 475 (the env's reward threshold) at env step " in lines[-1]
    assert lines[-1].endswith(f"; best model: {task}/models/best.pt")


def test_without_a_threshold_the_line_says_so(tmp_path):
    lines = task_of(run(tmp_path, "general_cfg.algo_name=RANDOM", "env_cfg.id=FirstHourNoThreshold-v0",
                        max_episode=4, seed=1, online_eval="true", eval_every_steps=50, online_eval_episode=2))
    assert "(FirstHourNoThreshold-v0 sets no reward threshold)" in lines[-1], lines[-1]


def test_test_mode_summary_counts_test_work_and_a_tasks_config_reruns_in_test_mode(tmp_path):
    # The product document's example names a load_path placeholder while not loading anything: the
    # task's config.yaml must not point at it, and must run again as a test of that task.
    train = task_of(CliRunner().invoke(main, [
        "run", str(PER_STEP_DQN_YAML), "--set", "general_cfg.load_path=Train_CartPole-v1_DQN_20221026-054757",
        *[a for o in quick_overrides(tmp_path, max_episode=3, seed=2) for a in ("--set", o)],
        "--set", "algo_cfg.batch_size=8", "--set", "algo_cfg.value_layers=[{layer_dim: [16]}]"]))
    task = train[0].removeprefix("task folder: ")
    config = yaml.safe_load(open(f"{task}/config.yaml"))
    assert config["general_cfg"]["load_path"] is None
    updates = int(re.search(r"(\d+) update steps in", train[1]).group(1))

    test = task_of(CliRunner().invoke(main, ["run", f"{task}/config.yaml", "--set", "general_cfg.mode=test",
                                             "--set", "general_cfg.test_episode=2"]))
    env_steps = sum(int(r["length"]) for r in read_episodes(tmp_path / test[0].rsplit("/", 1)[1]))
    assert re.fullmatch(rf"2 test episodes, {env_steps} env steps in [\d.]+ s \(checkpoint of update step {updates}\)",
                        test[1]), test[1]
    assert "updates in" not in "\n".join(test)
    assert test[-1].startswith("NOT solved CartPole-v1: test mean ")
    test_config = yaml.safe_load(open(f"{test[0].removeprefix('task folder: ')}/config.yaml"))
    assert test_config["general_cfg"]["load_path"] == task


def test_vector_episodes_time_themselves_and_never_report_zero_speed(tmp_path):
    # Four copies cut at 10 steps end together: each of those episodes took its own 10 vector steps,
    # and each logs the rate of that stretch, not "0 steps/s".
    n_envs, max_step = 4, 10
    lines = task_of(run(tmp_path, "general_cfg.algo_name=RANDOM", "env_cfg.id=FirstHourSlow-v0",
                        f"env_cfg.n_envs={n_envs}", max_episode=12, max_step=max_step, seed=5))
    task = tmp_path / lines[0].rsplit("/", 1)[1]
    rows = read_episodes(task)
    assert sum(r["length"] == str(max_step) for r in rows) >= 8
    for r in rows:
        # A vector step steps every copy, one after the other.
        assert float(r["wall_time"]) >= 0.9 * int(r["length"]) * n_envs * STEP_SLEEP, r
    speeds = [float(s) for s in re.findall(r", ([\d.]+) steps/s", (task / "logs" / "run.log").read_text())]
    assert len(speeds) == len(rows) and min(speeds) > 0


def test_no_empty_videos_folder(tmp_path):
    lines = task_of(run(tmp_path, "general_cfg.algo_name=RANDOM", max_episode=1, seed=1))
    task = tmp_path / lines[0].rsplit("/", 1)[1]
    assert sorted(p.name for p in task.iterdir()) == ["config.yaml", "logs", "models", "results"]


@pytest.mark.parametrize("name", ["DQN", "general_cfg"])
def test_info_fits_80_columns(name):
    result = CliRunner().invoke(main, ["info", name], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(map(len, lines)) <= 80
    assert "…" not in result.output, "nothing is cut with an ellipsis"
    # Every key is on one line of its own, whole, at the left.
    keys = {"DQN": ["value_layers", "epsilon_schedule", "max_grad_norm"],
            "general_cfg": ["online_eval_episode", "check_env_values", "max_update_steps"]}[name]
    for key in keys:
        assert any(line.startswith(key + " ") for line in lines), key


def test_verdict_names_the_last_evaluation_when_training_went_on(tmp_path):
    # Solved at 2000 env steps, trained on and wobbled: the line gives both, and the model that solved.
    from joyrl_core.config import GeneralConfig
    from joyrl_core.contracts.records import RunSummary
    from joyrl_core.outputs.task import create_task_dir
    from joyrl_core.run.verdict import judge, verdict_line

    task = create_task_dir(tmp_path, "train", "CartPole-v1", "DQN")
    (task.models / "best.pt").write_bytes(b"")
    summary = RunSummary(eval_mean_rewards=[(1000, 120.0), (2000, 500.0), (3000, 180.5)], best_eval_reward=500.0)
    judge(summary, 475.0)
    assert summary.solved is True
    line = verdict_line(summary, GeneralConfig(algo_name="DQN", online_eval=True), task, "CartPole-v1",
                        "the env's reward threshold")
    assert line == ("solved CartPole-v1: best greedy eval 500.00 >= 475 (the env's reward threshold) at env step "
                    f"2000 (last evaluation: 180.50 at env step 3000); best model: {task.models / 'best.pt'}")


def test_console_eval_line_has_no_source_location():
    import io
    from types import SimpleNamespace

    from rich.console import Console

    from joyrl_core.config import GeneralConfig
    from joyrl_core.outputs.loggers import ConsoleLogger

    out = io.StringIO()
    run_ctx = SimpleNamespace(config=SimpleNamespace(general=GeneralConfig(algo_name="DQN")), dataset=None,
                              env_spec=SimpleNamespace(env_id="CartPole-v1"))
    logger = ConsoleLogger(run_ctx, console=Console(file=out, width=120, force_terminal=False))
    logger.log_metrics(512, {"eval/mean_reward": 9.5, "eval/std_reward": 0.5})
    logger.close()
    assert "eval at 512 steps: mean reward 9.5" in out.getvalue()
    assert ".py:" not in out.getvalue()


def test_an_unused_load_path_is_dropped_and_a_used_one_kept(registry):
    from joyrl_core.config import resolve_config

    path = "general_cfg.load_path=Train_CartPole-v1_DQN_20221026-054757"
    assert resolve_config(registry, None, [path]).general.load_path is None
    for used in ("general_cfg.mode=test", "general_cfg.load_checkpoint=true"):
        assert resolve_config(registry, None, [path, used]).general.load_path == path.split("=")[1]
