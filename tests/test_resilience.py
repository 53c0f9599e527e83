"""Nothing lost, nothing silent: runs killed, interrupted twice, or stopped by a broken env, NaNs, a full
disk or a bad checkpoint leave readable results and say in one line what happened.

Signals are sent to real ``joyrl run`` subprocesses; broken envs are tiny gymnasium envs registered by a
plugin distribution made at runtime.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from joyrl_core import load_checkpoint, read_results_csv
from joyrl_core.plugins.registry import DISABLE_ENV_VAR
from joyrl_core.testing import joyrl_script, quick_overrides, read_episodes

TINY_NET = "algo_cfg.value_layers=[{layer_type: linear, layer_dim: [16], activation: relu}]"
QUICK_DQN = [TINY_NET, "algo_cfg.batch_size=16"]


def _sets(overrides: list[str]) -> list[str]:
    args = []
    for item in overrides:
        args += ["--set", item]
    return args


def _numbered(models: Path) -> list[int]:
    return sorted(int(p.stem) for p in models.glob("*.pt") if p.stem.isdigit())


def _popen(tmp_path: Path, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "MPLBACKEND": "Agg", "COLUMNS": "200"}
    env.pop(DISABLE_ENV_VAR, None)
    return subprocess.Popen([str(joyrl_script()), *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(proc: subprocess.Popen, ready, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"joyrl exited early with {proc.returncode}: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


# -- 1. SIGKILL keeps the history ---------------------------------------------------------------------


def test_kill_9_leaves_readable_results_that_do_not_lag_the_newest_checkpoint(tmp_path, run_joyrl):
    root = tmp_path / "tasks"
    overrides = quick_overrides(root, max_episode=-1, max_step=30, model_save_fre=10, online_eval="true",
                                online_eval_episode=1, keep_checkpoints=0, seed=3) + QUICK_DQN
    proc = _popen(tmp_path, ["run", *_sets(overrides)])
    try:
        def saved_enough() -> bool:
            evals = list(root.glob("*/results/evals.csv"))
            return bool(evals) and len(read_results_csv(evals[0])[1]) >= 3
        _wait_for(proc, saved_enough, "three evaluations")
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    (task,) = root.iterdir()
    episodes = read_episodes(task)
    newest = _numbered(task / "models")[-1]
    counters = load_checkpoint(task / "models" / f"{newest}.pt")["counters"]
    assert len(episodes) >= counters["episodes"] > 0, "every episode a checkpoint counts has its row"
    assert [int(r["episode"]) for r in episodes] == list(range(1, len(episodes) + 1))
    assert len(read_results_csv(task / "results" / "evals.csv")[1]) >= 3

    # A torn last row (a kill in the middle of a write) is dropped by every reader.
    with open(task / "results" / "episodes.csv", "a", encoding="utf-8") as fh:
        fh.write("999,12")
    assert len(read_episodes(task)) == len(episodes)
    plotted = run_joyrl(["plot", str(task), "-o", str(tmp_path / "killed.png")])
    assert plotted.returncode == 0, plotted.stderr
    assert (tmp_path / "killed.png").stat().st_size > 0

    # Resuming from it works, and cleans what a killed save left, but not a live writer's file.
    stale = task / "models" / f".{newest + 5}.pt.999999999.abc123.tmp"  # above any pid_max: no such process
    live = task / "models" / f".{newest + 6}.pt.{os.getpid()}.def456.tmp"
    stale.write_bytes(b"half a checkpoint")
    live.write_bytes(b"being written")
    resumed = run_joyrl(["run", *_sets(quick_overrides(root, max_episode=2, max_step=30, load_checkpoint="true",
                                                       load_path=task.name) + QUICK_DQN)])
    assert resumed.returncode == 0, resumed.stderr
    assert not stale.exists() and live.exists()


# -- 2. checkpoint retention --------------------------------------------------------------------------


def test_only_the_newest_checkpoints_and_best_are_kept(cli, task_root):
    result = cli("run", *_sets(quick_overrides(task_root, max_episode=5, max_step=10, model_save_fre=2,
                                               online_eval="true", eval_every_steps=20, online_eval_episode=1,
                                               keep_checkpoints=3)
                               + QUICK_DQN))
    assert result.exit_code == 0, result.output
    (task,) = task_root.iterdir()
    kept = _numbered(task / "models")
    assert len(kept) == 3
    assert kept[-1] == load_checkpoint(task / "models" / f"{kept[-1]}.pt")["counters"]["update_steps"] > 3
    assert (task / "models" / "best.pt").is_file()


def test_keep_checkpoints_0_keeps_every_checkpoint(cli, task_root):
    result = cli("run", *_sets(quick_overrides(task_root, max_episode=6, max_step=20, model_save_fre=5,
                                               keep_checkpoints=0) + QUICK_DQN))
    assert result.exit_code == 0, result.output
    (task,) = task_root.iterdir()
    kept = _numbered(task / "models")
    assert kept[:-1] == list(range(5, kept[-1], 5)) and len(kept) > 5


# -- 4 and 5. a broken env is named; NaN and inf are caught, not trained on ----------------------------

BROKEN_ENVS = """
    from dataclasses import dataclass

    import gymnasium as gym
    import numpy as np

    from joyrl_core import hookimpl


    @dataclass
    class BrokenConfig:
        fault: str = "raise"  # raise, nan_obs, inf_reward, raise_reset
        at_step: int = 50


    class BrokenEnv(gym.Env):
        observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
        action_space = gym.spaces.Discrete(2)

        def __init__(self, config):
            self.config = config
            self.steps = 0
            self.t = 0

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            if self.config.fault == "raise_reset" and self.steps >= self.config.at_step:
                raise OSError("lost the connection to the simulator")
            self.t = 0
            return np.zeros(3, np.float32), {}

        def step(self, action):
            self.steps += 1
            self.t += 1
            obs = np.full(3, 0.1 * self.t, np.float32)
            reward = 1.0
            if self.steps == self.config.at_step:
                if self.config.fault == "raise":
                    raise RuntimeError(f"simulator crashed at step {self.steps}")
                if self.config.fault == "nan_obs":
                    obs[1] = np.nan
                if self.config.fault == "inf_reward":
                    reward = float("inf")
            return obs, reward, False, self.t >= 10, {}


    @hookimpl
    def register_envs(register):
        register("broken", lambda config, render_mode: BrokenEnv(config), BrokenConfig, "fails on purpose")
"""


@pytest.fixture
def broken_env(make_distribution):
    make_distribution("joyrl-broken-envs", "joyrl_broken_envs", BROKEN_ENVS)


def _broken_run(cli, task_root, fault: str, at_step: int, *extra: str, **general):
    general = {"env_name": "broken", "max_episode": 20, "model_save_fre": 5, **general}
    overrides = quick_overrides(task_root, **general)
    overrides += QUICK_DQN + [f"env_cfg.fault={fault}", f"env_cfg.at_step={at_step}", *extra]
    return cli("run", *_sets(overrides))


def _one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def _failed_summary(task_root: Path) -> tuple[Path, dict]:
    (task,) = task_root.iterdir()
    import json

    summary = json.loads((task / "results" / "summary.json").read_text(encoding="utf-8"))
    assert summary["ended"] == "failed"
    return task, summary


def test_an_env_that_raises_in_step_is_named_and_the_run_ends_cleanly(cli, task_root, broken_env):
    line = _one_line_error(_broken_run(cli, task_root, "raise", 55))
    # Episodes are 10 steps long: step 55 in all is step 5 of episode 6.
    assert line == ("Error: env broken raised in step (episode 6, step 5): "
                    "RuntimeError: simulator crashed at step 55")
    task, summary = _failed_summary(task_root)
    assert summary["error"] == line.removeprefix("Error: ")
    assert summary["episodes"] == 5 and summary["env_steps"] == 54
    assert len(read_episodes(task)) == 5
    final = _numbered(task / "models")[-1]
    assert load_checkpoint(task / "models" / f"{final}.pt")["counters"]["env_steps"] == 54


def test_a_vector_env_that_raises_or_returns_nan_is_named(cli, task_root, broken_env):
    line = _one_line_error(_broken_run(cli, task_root, "raise", 25, "env_cfg.n_envs=2"))
    # Both copies count their own steps: each reaches its 25th step at vector step 25.
    assert line == ("Error: env broken raised in step (vector step 25 of 2 copies): "
                    "RuntimeError: simulator crashed at step 25")
    shutil.rmtree(task_root)
    line = _one_line_error(_broken_run(cli, task_root, "nan_obs", 7, "env_cfg.n_envs=2"))
    assert line.startswith("Error: env broken returned observation nan in step (vector step 7 of 2 copies)"), line


def test_an_env_that_raises_in_reset_is_named(cli, task_root, broken_env):
    line = _one_line_error(_broken_run(cli, task_root, "raise_reset", 30))
    assert line == "Error: env broken raised in reset (episode 4): OSError: lost the connection to the simulator"


@pytest.mark.parametrize("fault, what", [("nan_obs", "observation nan"), ("inf_reward", "reward inf")])
def test_a_non_finite_observation_or_reward_stops_the_run_before_it_is_learned_from(cli, task_root, broken_env,
                                                                                    fault, what):
    line = _one_line_error(_broken_run(cli, task_root, fault, 23))
    assert line.startswith(f"Error: env broken returned {what} in step (episode 3, step 3); nothing was "
                           "trained on it"), line
    assert "check_env_values: false" in line
    task, summary = _failed_summary(task_root)
    assert summary["env_steps"] == 22  # the bad step was not counted
    final = _numbered(task / "models")[-1]
    state = load_checkpoint(task / "models" / f"{final}.pt")["agent"]
    import torch

    assert all(torch.isfinite(t).all() for t in _tensors(state))


def test_check_env_values_false_lets_the_values_through_to_the_loss_check(cli, task_root, broken_env):
    line = _one_line_error(_broken_run(cli, task_root, "inf_reward", 23, check_env_values="false"))
    assert line.startswith("Error: DQN update step ") and "returned loss inf" in line, line
    (task,) = task_root.iterdir()
    import json

    text = (task / "results" / "summary.json").read_text(encoding="utf-8")
    summary = json.loads(text, parse_constant=lambda name: pytest.fail(f"summary.json holds {name}"))
    assert summary["ended"] == "failed" and summary["error"] == line.removeprefix("Error: ")
    assert summary["env_steps"] >= 23, "the inf reward was stepped through"


def test_a_diverging_loss_stops_training_and_keeps_the_last_finite_checkpoint(cli, task_root):
    overrides = quick_overrides(task_root, max_episode=50, max_step=50, model_save_fre=1, keep_checkpoints=0)
    result = cli("run", *_sets(overrides + QUICK_DQN + ["algo_cfg.lr=1e30"]))
    line = _one_line_error(result)
    assert line.startswith("Error: DQN update step "), line
    assert "returned loss nan" in line or "returned loss inf" in line, line
    assert "training diverged and stops" in line and "is the last finite checkpoint" in line, line
    task, summary = _failed_summary(task_root)
    kept = _numbered(task / "models")
    assert kept and f"models/{kept[-1]}.pt is the last finite checkpoint" in line
    import torch

    for step in kept:
        state = load_checkpoint(task / "models" / f"{step}.pt")["agent"]
        assert all(torch.isfinite(t).all() for t in _tensors(state)), step


def _tensors(state):
    import torch

    if isinstance(state, torch.Tensor):
        if state.is_floating_point():
            yield state
    elif isinstance(state, dict):
        for value in state.values():
            yield from _tensors(value)
    elif isinstance(state, (list, tuple)):
        for value in state:
            yield from _tensors(value)


# -- 6. checkpoints are validated, not trusted --------------------------------------------------------


@pytest.fixture
def saved_run(cli, tmp_path) -> Path:
    """The task folder of one short train run (its own task_dir, apart from ``task_root``)."""
    root = tmp_path / "saved"
    result = cli("run", *_sets(quick_overrides(root, max_episode=3, max_step=20) + QUICK_DQN))
    assert result.exit_code == 0, result.output
    (task,) = root.iterdir()
    return task


def _tamper(task: Path, change) -> Path:
    import torch

    (path,) = [task / "models" / f"{step}.pt" for step in _numbered(task / "models")[-1:]]
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("change, field, got", [
    (lambda p: p["counters"].update(restarts=2), "field counters: unknown key(s) restarts", ""),
    (lambda p: p["counters"].update(episodes="12"), "field counters.episodes", "got '12'"),
    (lambda p: p["counters"].update(env_steps=-3), "field counters.env_steps", "got -3"),
    (lambda p: p["counters"].pop("update_steps"), "field counters.update_steps", "got missing"),
    (lambda p: p.update(agent=[1, 2]), "field agent: expected a mapping", "got a list"),
    (lambda p: p["extra"].update(best_eval="high"), "field extra.best_eval", "got 'high'"),
])
def test_a_tampered_checkpoint_is_refused_naming_the_file_and_field(cli, task_root, saved_run, change, field, got):
    path = _tamper(saved_run, change)
    result = cli("run", *_sets(quick_overrides(task_root, max_episode=2, max_step=20, load_checkpoint="true",
                                               load_path=str(saved_run)) + QUICK_DQN))
    line = _one_line_error(result)
    assert line.startswith(f"Error: {path}: {field}"), line
    assert got in line
    assert not task_root.exists() or not list(task_root.iterdir()), "no task folder for a refused run"


# -- 7. refused runs leave no debris -------------------------------------------------------------------


def test_dqn_on_a_continuous_env_leaves_no_task_folder(cli, task_root):
    result = cli("run", *_sets(quick_overrides(task_root, max_episode=2) + ["env_cfg.id=Pendulum-v1"]))
    line = _one_line_error(result)
    assert "Pendulum-v1" in line
    assert not list(task_root.iterdir()), "the half-made folder is removed"


def test_a_checkpoint_of_another_network_leaves_no_task_folder(cli, task_root, saved_run):
    wider = "algo_cfg.value_layers=[{layer_type: linear, layer_dim: [24], activation: relu}]"
    result = cli("run", *_sets(quick_overrides(task_root, max_episode=2, load_checkpoint="true",
                                               load_path=str(saved_run)) + [wider]))
    line = _one_line_error(result)
    assert "does not match this run's algorithm config" in line
    assert not list(task_root.iterdir())


def test_a_buffer_that_cannot_fit_in_memory_is_refused_before_anything_is_made(cli, task_root):
    result = cli("run", *_sets(quick_overrides(task_root, max_episode=2) + ["algo_cfg.buffer_size=100000000000"]))
    line = _one_line_error(result)
    # CartPole: 2 x 4 float32 observations, an int64 action, reward and two flags: 52 bytes.
    assert line.startswith("Error: algo_cfg.buffer_size: 100000000000 transitions of CartPole-v1 need at least "
                           "4.73 TiB (52 bytes each), but only "), line
    assert line.endswith("of memory is available")
    assert not task_root.exists() or not list(task_root.iterdir())


# -- 3. a full disk, and other write errors on the task folder -----------------------------------------


class _FullDisk:
    """Files written under ``root`` share ``budget`` bytes; a write beyond it fails with ENOSPC, as on a
    full filesystem. Covers ``open`` (CSV files and the run log) and ``os.fdopen`` (atomic writes)."""

    def __init__(self, root: Path, budget: int):
        self.root = str(root)
        self.left = budget

    def spend(self, n: int) -> None:
        if n > self.left:
            self.left = 0
            import errno

            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.left -= n

    def install(self, monkeypatch) -> None:
        import builtins

        real_open, real_fdopen = builtins.open, os.fdopen
        disk = self

        class Limited:
            def __init__(self, fh):
                self._fh = fh

            def write(self, data):
                disk.spend(len(data))
                return self._fh.write(data)

            def __getattr__(self, name):
                return getattr(self._fh, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self._fh.close()

        def wrap(fh, path, mode):
            writing = any(flag in mode for flag in "wax+")
            return Limited(fh) if writing and str(path).startswith(disk.root) else fh

        def limited_open(file, mode="r", *args, **kwargs):
            return wrap(real_open(file, mode, *args, **kwargs), file, mode)

        def limited_fdopen(fd, mode="r", *args, **kwargs):
            return wrap(real_fdopen(fd, mode, *args, **kwargs), os.readlink(f"/proc/self/fd/{fd}"), mode)

        monkeypatch.setattr(builtins, "open", limited_open)
        monkeypatch.setattr(os, "fdopen", limited_fdopen)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="the fake disk names files through /proc")
@pytest.mark.parametrize("budget", [20_000, 60_000])
def test_a_full_disk_stops_the_run_with_one_line_and_keeps_what_was_written(cli, task_root, monkeypatch, budget):
    _FullDisk(task_root, budget).install(monkeypatch)
    overrides = quick_overrides(task_root, max_episode=200, max_step=20, model_save_fre=5, keep_checkpoints=0)
    line = _one_line_error(cli("run", *_sets(overrides + QUICK_DQN)))
    monkeypatch.undo()
    (task,) = task_root.iterdir()
    assert line.startswith(f"Error: cannot write {task}/") and line.endswith(": no space left on device"), line
    kept = _numbered(task / "models")
    assert kept, "a checkpoint was written before the disk filled"
    newest = load_checkpoint(task / "models" / f"{kept[-1]}.pt")
    assert len(read_episodes(task)) >= newest["counters"]["episodes"]
    assert not list(task.rglob(".*.tmp"))


def test_a_file_where_the_task_dir_should_be_is_one_line(cli, tmp_path):
    (tmp_path / "taken").write_text("not a folder")
    line = _one_line_error(cli("run", *_sets(quick_overrides(tmp_path / "taken", max_episode=1))))
    assert line == f"Error: general_cfg.task_dir '{tmp_path / 'taken'}': {tmp_path / 'taken'} exists and is not a folder"


def test_a_dangling_symlink_as_task_dir_is_one_line(cli, tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    line = _one_line_error(cli("run", *_sets(quick_overrides(tmp_path / "link", max_episode=1))))
    assert line.endswith(f"{tmp_path / 'link'} exists and is not a folder"), line


def test_an_empty_task_dir_is_refused(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _one_line_error(cli("run", "--set", "general_cfg.task_dir=''"))
    assert "task_dir" in line and "use . for the current folder" in line, line
    assert not list(tmp_path.iterdir())


# -- 9. a second Ctrl-C ---------------------------------------------------------------------------------


def test_a_second_ctrl_c_during_the_clean_stop_is_ignored_and_said_so(tmp_path):
    root = tmp_path / "tasks"
    overrides = quick_overrides(root, max_episode=-1, max_step=30, save_fig="true", model_save_fre=100000) + QUICK_DQN
    proc = _popen(tmp_path, ["run", *_sets(overrides)])
    try:
        def five_episodes() -> bool:
            csvs = list(root.glob("*/results/episodes.csv"))
            return bool(csvs) and len(read_results_csv(csvs[0])[1]) >= 5
        _wait_for(proc, five_episodes, "five episodes")
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (out, err)
    assert "Aborted" not in err and "Traceback" not in err, err
    assert "already stopping: writing the final checkpoint and results; this signal is ignored" in err
    assert "interrupted: the final checkpoint and results were saved" in err
    (task,) = root.iterdir()
    assert (task / "results" / "rewards.png").stat().st_size > 0
    assert _numbered(task / "models")
