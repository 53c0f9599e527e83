"""End-to-end tests of JoyRL's run modes, driven through the ``joyrl`` CLI as a user drives it.

Train (online eval, checkpoints, figures, loggers, trajectories), resume, test, Ctrl-C, rendering to a
GIF, trajectory collection, and the one-line errors for bad checkpoints and missing displays.
Everything runs on CartPole with a tiny Q-network (or the RANDOM agent where learning is not the
point) and writes only under pytest's temporary folders.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner, Result

from joyrl_core import load_checkpoint, load_trajectories
from joyrl_core.cli.main import main
from joyrl_core.outputs.video import FRAME_CAP

JOYRL = str(Path(sys.executable).with_name("joyrl"))

SEED = 7
MAX_EPISODE = 40
MAX_STEP = 100
SAVE_FRE = 100
EVAL_EPISODES = 3
BATCH = 16
TINY_NET = "algo_cfg.value_layers=[{layer_type: linear, layer_dim: [32], activation: relu}]"
# A tiny, fast-learning DQN: its greedy policy changes between save points, so evaluations differ.
DQN_ALGO = [TINY_NET, f"algo_cfg.batch_size={BATCH}", "algo_cfg.lr=0.01", "algo_cfg.epsilon_decay=200"]


# -- helpers ---------------------------------------------------------------------------------------


def cli_args(task_dir: Path, *sets: str, **general: object) -> list[str]:
    """``run --set general_cfg.task_dir=... --set general_cfg.<k>=<v> ... --set <each of sets>``."""
    args = ["run", "--set", f"general_cfg.task_dir={task_dir}"]
    for key, value in general.items():
        if isinstance(value, bool):
            value = str(value).lower()
        args += ["--set", f"general_cfg.{key}={value}"]
    for item in sets:
        args += ["--set", item]
    return args


def joyrl_run(task_dir: Path, *sets: str, **general: object) -> Result:
    return CliRunner().invoke(main, cli_args(task_dir, *sets, **general))


def task_of(result: Result) -> Path:
    """The task folder a successful run printed on its first line."""
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    first = result.stdout.splitlines()[0]
    assert first.startswith("task folder: "), result.stdout
    return Path(first.removeprefix("task folder: "))


def read_csv(path: Path) -> list[dict[str, float]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def numbered_checkpoints(models: Path) -> dict[int, Path]:
    return {int(p.stem): p for p in models.glob("*.pt") if p.stem.isdigit()}


def snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns, hashlib.sha1(p.read_bytes()).hexdigest())
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def assert_one_line_error(result: Result, *fragments: str) -> str:
    """Exit code 1, nothing on stdout, and exactly one ``Error: ...`` line holding every fragment."""
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert "Traceback" not in result.output and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("Error: "), line
    assert "internal error" not in line, line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


@pytest.fixture(autouse=True)
def _restore_signal_handlers():
    """``joyrl run`` installs SIGINT/SIGTERM handlers; in-process runs must not leave them on pytest."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@dataclass
class Trained:
    root: Path  # the task_dir
    task: Path  # the task folder of the run
    summary: dict


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Trained:
    """One short DQN train run with every output switched on; several tests read or load it."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    root = tmp_path_factory.mktemp("trained") / "tasks"
    try:
        result = joyrl_run(
            root, *DQN_ALGO, seed=SEED, max_episode=MAX_EPISODE, max_step=MAX_STEP, online_eval=True,
            online_eval_episode=EVAL_EPISODES, model_save_fre=SAVE_FRE, save_fig=True,
            loggers="[csv, tensorboard]", collect_traj=True, keep_checkpoints=0,  # every save point is checked
        )
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    task = task_of(result)
    return Trained(root, task, json.loads((task / "results" / "summary.json").read_text()))


@pytest.fixture
def trained_copy(trained, tmp_path) -> tuple[Path, Path]:
    """(task_dir, task folder): a private copy of the trained task, for runs that add task folders."""
    root = tmp_path / "tasks"
    task = root / trained.task.name
    shutil.copytree(trained.task, task)
    return root, task


# -- 1. train ----------------------------------------------------------------------------------------


def test_train_writes_every_output(trained):
    task, summary = trained.task, trained.summary
    assert trained.task.parent == trained.root and [p.name for p in trained.root.iterdir()] == [task.name]
    assert task.name.startswith("Train_CartPole-v1_DQN_")
    config = yaml.safe_load((task / "config.yaml").read_text())
    assert config["general_cfg"]["model_save_fre"] == SAVE_FRE and config["general_cfg"]["seed"] == SEED
    assert config["algo_cfg"]["value_layers"] == [{"layer_type": "linear", "layer_dim": [32], "activation": "relu",
                                                   "kernel_size": 3, "stride": 1, "padding": 0}]

    # episodes.csv: one row per episode, cumulative env steps, CartPole's reward is its length.
    episodes = read_csv(task / "results" / "episodes.csv")
    assert len(episodes) == MAX_EPISODE
    assert [r["episode"] for r in episodes] == list(range(1, MAX_EPISODE + 1))
    lengths = [int(r["length"]) for r in episodes]
    assert [int(r["env_steps"]) for r in episodes] == list(np.cumsum(lengths))
    assert all(1 <= n <= MAX_STEP for n in lengths)
    assert [r["reward"] for r in episodes] == [float(n) for n in lengths]
    for row in episodes:  # before max_step an episode only ends by termination
        assert row["terminated"] == 1 or row["length"] == MAX_STEP
    env_steps = int(episodes[-1]["env_steps"])

    # Counters: DQN learns once the buffer holds a batch, then once per env step.
    updates = summary["update_steps"]
    assert updates == env_steps - BATCH + 1
    assert summary["episodes"] == MAX_EPISODE and summary["env_steps"] == env_steps
    assert summary["interrupted"] is False and summary["test_rewards"] == []
    assert "last_rewards" not in summary and "test_mean_reward" not in summary

    # Checkpoints exactly at multiples of model_save_fre, at the final update count, and best.
    models = task / "models"
    n_saves = updates // SAVE_FRE
    assert n_saves >= 3
    expected = {f"{k * SAVE_FRE}.pt" for k in range(1, n_saves + 1)} | {f"{updates}.pt", "best.pt"}
    assert {p.name for p in models.iterdir()} == expected
    payloads = {step: load_checkpoint(p) for step, p in numbered_checkpoints(models).items()}
    for step, payload in payloads.items():
        assert payload["counters"]["update_steps"] == step == payload["agent"]["update_steps"]
        if step % SAVE_FRE == 0:  # saved mid-episode, right after the update of env step step+BATCH-1
            assert payload["counters"]["env_steps"] == step + BATCH - 1
    assert payloads[updates]["counters"] == {"episodes": MAX_EPISODE, "env_steps": env_steps, "update_steps": updates}

    # evals.csv: one row per save point (not the final checkpoint), at the save point's env steps.
    evals = read_csv(task / "results" / "evals.csv")
    assert [int(r["env_steps"]) for r in evals] == [k * SAVE_FRE + BATCH - 1 for k in range(1, n_saves + 1)]
    assert [s for s, _ in summary["eval_mean_rewards"]] == [int(r["env_steps"]) for r in evals]
    means = [m for _, m in summary["eval_mean_rewards"]]
    assert [r["mean_reward"] for r in evals] == pytest.approx(means, rel=1e-5)
    assert all(r["std_reward"] >= 0 for r in evals)
    assert len(set(means)) > 1, "evaluations should differ between save points for this test to mean much"
    assert summary["best_eval_reward"] == max(means)

    # best.pt is the first save point that reached the best mean, with the same weights.
    best_index = means.index(max(means))
    best = load_checkpoint(models / "best.pt")
    assert best["extra"]["best_eval"] == max(means)
    twin = payloads[(best_index + 1) * SAVE_FRE]
    assert best["counters"] == twin["counters"]
    for name, tensor in best["agent"]["q_net"].items():
        assert torch.equal(tensor, twin["agent"]["q_net"][name])

    # rewards.png: a real PNG of the figure's size (8 x 5 in at 100 dpi).
    from PIL import Image

    png = task / "results" / "rewards.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (800, 500)
        image.verify()

    # TensorBoard: one scalar per episode on the env-step axis, one per evaluation.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb_dir = task / "logs" / "tensorboard"
    assert list(tb_dir.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    events.Reload()
    rewards = events.Scalars("train/episode_reward")
    assert [e.step for e in rewards] == [int(r["env_steps"]) for r in episodes]
    assert [e.value for e in rewards] == [r["reward"] for r in episodes]
    assert [e.value for e in events.Scalars("train/episode_length")] == [float(n) for n in lengths]
    eval_events = events.Scalars("eval/mean_reward")
    assert [e.step for e in eval_events] == [int(r["env_steps"]) for r in evals]
    assert [e.value for e in eval_events] == pytest.approx(means, rel=1e-6)
    assert "train/loss" in events.Tags()["scalars"] and "train/epsilon" in events.Tags()["scalars"]

    # Trajectories: one per episode, step-aligned, matching the CSV.
    assert sorted(p.name for p in (task / "results").glob("trajs_*.npz")) == ["trajs_0.npz"]
    trajs = list(load_trajectories(task / "results" / "trajs_0.npz"))
    assert len(trajs) == MAX_EPISODE
    for traj, row in zip(trajs, episodes):
        assert len(traj) == row["length"]
        assert float(traj.rewards.sum()) == row["reward"] == traj.episode_reward
        assert traj.states.shape == traj.next_states.shape == (len(traj), 4)
        np.testing.assert_array_equal(traj.next_states[:-1], traj.states[1:])
        assert set(np.unique(traj.actions)) <= {0, 1}
        assert not traj.terminated[:-1].any() and not traj.truncated[:-1].any()
        assert bool(traj.terminated[-1]) == bool(row["terminated"])
        assert bool(traj.truncated[-1]) == (row["length"] == MAX_STEP)

    assert not list(task.rglob(".*.tmp")) and not list(task.rglob("*.part"))
    assert "loaded checkpoint" not in (task / "logs" / "run.log").read_text()


# -- 2. resume ---------------------------------------------------------------------------------------


def test_resume_continues_counters_in_a_new_task_folder(trained_copy):
    root, old = trained_copy
    before = snapshot(old)
    old_steps = numbered_checkpoints(old / "models")
    latest_step = max(old_steps)
    latest = load_checkpoint(old_steps[latest_step])["counters"]

    result = joyrl_run(root, *DQN_ALGO, load_checkpoint=True, load_path=old.name, seed=SEED, max_episode=5,
                       max_step=MAX_STEP, model_save_fre=SAVE_FRE, loggers="[csv]", save_fig=False)
    new = task_of(result)
    assert new != old and new.parent == root
    assert sorted(p.name for p in root.iterdir()) == sorted([old.name, new.name])
    assert snapshot(old) == before, "resuming must not touch the task folder it loads from"
    assert f"loaded checkpoint {old_steps[latest_step]}" in (new / "logs" / "run.log").read_text()

    episodes = read_csv(new / "results" / "episodes.csv")
    assert [int(r["episode"]) for r in episodes] == list(range(latest["episodes"] + 1, latest["episodes"] + 6))
    assert [int(r["env_steps"]) for r in episodes] == list(
        latest["env_steps"] + np.cumsum([int(r["length"]) for r in episodes]))
    new_env_steps = int(episodes[-1]["env_steps"]) - latest["env_steps"]

    summary = json.loads((new / "results" / "summary.json").read_text())
    # Update steps continue from the checkpoint; the replay buffer is not checkpointed, so learning
    # resumes once it holds a batch again.
    assert summary["update_steps"] == latest_step + max(0, new_env_steps - BATCH + 1)
    assert summary["episodes"] == latest["episodes"] + 5
    assert summary["env_steps"] == int(episodes[-1]["env_steps"])

    steps = numbered_checkpoints(new / "models")
    final = max(steps)
    assert final == summary["update_steps"]
    assert all(step > latest_step and step % SAVE_FRE == 0 for step in steps if step != final)
    assert sorted(steps) == sorted(
        {s for s in range(latest_step + 1, final + 1) if s % SAVE_FRE == 0} | {final})
    counters = load_checkpoint(steps[final])["counters"]
    assert counters["env_steps"] == summary["env_steps"] and counters["update_steps"] == final
    if final % SAVE_FRE:  # else the stale-episodes bug of test_final_checkpoint_counts_the_last_episode applies
        assert counters["episodes"] == latest["episodes"] + 5


@pytest.mark.parametrize("which", [str(SAVE_FRE), "best"])
def test_resume_from_a_named_checkpoint(trained_copy, which):
    root, old = trained_copy
    source = old / "models" / f"{which}.pt"
    counters = load_checkpoint(source)["counters"]
    assert counters != load_checkpoint(max(numbered_checkpoints(old / "models").items())[1])["counters"]

    result = joyrl_run(root, *DQN_ALGO, load_checkpoint=True, load_path=old.name, load_model=which, seed=SEED,
                       max_episode=2, max_step=MAX_STEP, model_save_fre=SAVE_FRE, loggers="[csv]", save_fig=False)
    new = task_of(result)
    assert new != old
    assert f"loaded checkpoint {source}" in (new / "logs" / "run.log").read_text()
    episodes = read_csv(new / "results" / "episodes.csv")
    assert [int(r["episode"]) for r in episodes] == [counters["episodes"] + 1, counters["episodes"] + 2]
    assert int(episodes[0]["env_steps"]) == counters["env_steps"] + int(episodes[0]["length"])
    summary = json.loads((new / "results" / "summary.json").read_text())
    assert summary["update_steps"] >= counters["update_steps"]
    assert max(numbered_checkpoints(new / "models")) == summary["update_steps"]


def test_final_checkpoint_counts_the_last_episode(tmp_path):
    # model_save_fre 1: every update is a save point, including the one on the run's last env step.
    result = joyrl_run(tmp_path, *DQN_ALGO, seed=SEED, max_episode=2, max_step=20, model_save_fre=1,
                       loggers="[csv]", save_fig=False)
    task = task_of(result)
    last = read_csv(task / "results" / "episodes.csv")[-1]
    steps = numbered_checkpoints(task / "models")
    assert max(steps) == int(last["env_steps"]) - BATCH + 1
    assert load_checkpoint(steps[max(steps)])["counters"] == {
        "episodes": 2, "env_steps": int(last["env_steps"]), "update_steps": max(steps)}


# -- 3. test mode ------------------------------------------------------------------------------------


def test_test_mode_replays_the_evaluation_of_a_checkpoint(trained_copy, trained):
    root, old = trained_copy
    evals = read_csv(old / "results" / "evals.csv")
    cases = {"best": trained.summary["best_eval_reward"], str(SAVE_FRE): evals[0]["mean_reward"]}
    for which, eval_mean in cases.items():
        result = joyrl_run(root, *DQN_ALGO, mode="test", load_path=old.name, load_model=which, seed=SEED,
                           test_episode=EVAL_EPISODES, online_eval_episode=EVAL_EPISODES, max_step=MAX_STEP,
                           loggers="[csv]", save_fig=False)
        task = task_of(result)
        assert task.name.startswith("Test_CartPole-v1_DQN_")
        summary = json.loads((task / "results" / "summary.json").read_text())
        assert summary["test_mean_reward"] == pytest.approx(eval_mean, rel=1e-5), which
        assert len(summary["test_rewards"]) == summary["episodes"] == EVAL_EPISODES
        assert summary["update_steps"] == load_checkpoint(old / "models" / f"{which}.pt")["counters"]["update_steps"]
        episodes = read_csv(task / "results" / "episodes.csv")
        assert [r["episode"] for r in episodes] == [1, 2, 3]
        assert [r["reward"] for r in episodes] == summary["test_rewards"]
        assert [int(r["env_steps"]) for r in episodes] == list(np.cumsum([int(r["length"]) for r in episodes]))
        assert f"test reward: mean {summary['test_mean_reward']:.2f}" in result.stdout
        assert list((task / "models").iterdir()) == [], "test mode saves no checkpoints"


# -- 4. Ctrl-C ---------------------------------------------------------------------------------------


def test_sigint_saves_a_final_checkpoint_and_complete_results(tmp_path):
    root = tmp_path / "tasks"
    max_step = 50
    args = cli_args(root, *DQN_ALGO, seed=SEED, max_episode=-1, max_step=max_step, collect_traj=True,
                    model_save_fre=100000, loggers="[csv]", save_fig=False)
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.Popen([JOYRL, *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            parts = list(root.glob("*/results/episodes.csv"))
            if parts and len(parts[0].read_text().splitlines()) - 1 >= 5:
                break
            if proc.poll() is not None:
                pytest.fail(f"joyrl exited early with {proc.returncode}: {proc.communicate()}")
            if time.monotonic() > deadline:
                pytest.fail("no 5 episodes in episodes.csv within 60 s")
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (out, err)
    assert "interrupted: the final checkpoint and results were saved" in err
    assert "Traceback" not in err

    (task,) = root.iterdir()
    results = task / "results"
    assert (results / "episodes.csv").is_file()
    episodes = read_csv(results / "episodes.csv")
    assert len(episodes) >= 5
    assert [int(r["episode"]) for r in episodes] == list(range(1, len(episodes) + 1))
    last = episodes[-1]

    summary = json.loads((results / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["episodes"] == len(episodes)

    steps = numbered_checkpoints(task / "models")
    final = max(steps)
    counters = load_checkpoint(steps[final])["counters"]
    assert counters["update_steps"] == final == summary["update_steps"] > 0
    assert counters["episodes"] == int(last["episode"])
    # The interrupted episode's steps were taken (and learned from) but it has no CSV row.
    assert int(last["env_steps"]) <= counters["env_steps"] < int(last["env_steps"]) + max_step
    assert counters["env_steps"] == summary["env_steps"]

    trajs = list(load_trajectories(results))
    assert len(trajs) == len(episodes)
    assert [t.episode_reward for t in trajs] == [r["reward"] for r in episodes]
    assert [len(t) for t in trajs] == [int(r["length"]) for r in episodes]
    assert not list(task.rglob(".*.tmp"))


# -- 5. render to a GIF ------------------------------------------------------------------------------


def _gif_frames(path: Path, fps: int) -> tuple[int, int, tuple[int, int]]:
    """(frames imageio reads, frames the durations add up to at the env's fps, frame height x width)."""
    import imageio.v3 as iio
    from PIL import Image, ImageSequence

    frames = iio.imread(path, index=None)
    with Image.open(path) as image:
        assert image.format == "GIF" and image.n_frames == frames.shape[0]
        # Pillow merges identical consecutive frames into one longer frame (1/fps s per recorded frame,
        # stored in 10 ms steps), so the durations still count every recorded frame.
        recorded = sum(round(frame.info["duration"] * fps / 1000) for frame in ImageSequence.Iterator(image))
    return frames.shape[0], recorded, frames.shape[1:3]


def _expected_frames(episodes: list[dict[str, float]]) -> int:
    # rollout.run_episode: one frame after the reset, then one after each step; FRAME_CAP in all.
    expected = min(sum(int(r["length"]) + 1 for r in episodes), FRAME_CAP)
    assert expected < FRAME_CAP
    return expected


def test_rgb_array_test_run_writes_every_frame_to_a_gif(tmp_path):
    # Acrobot under random actions moves visibly every step, so no two consecutive frames are alike.
    acrobot = ["general_cfg.algo_name=RANDOM", "env_cfg.id=Acrobot-v1"]
    source = task_of(joyrl_run(tmp_path, *acrobot, seed=SEED, max_episode=1, max_step=5, loggers="[csv]",
                               save_fig=False))
    assert not (source / "videos" / "video.gif").exists()
    result = joyrl_run(tmp_path, *acrobot, "env_cfg.render_mode=rgb_array", mode="test", load_path=source.name,
                       seed=SEED, test_episode=3, max_step=20, loggers="[csv]", save_fig=False)
    task = task_of(result)
    episodes = read_csv(task / "results" / "episodes.csv")
    assert [int(r["length"]) for r in episodes] == [20, 20, 20]
    n_frames, recorded, shape = _gif_frames(task / "videos" / "video.gif", fps=15)  # Acrobot's render_fps
    assert n_frames == recorded == _expected_frames(episodes) == 63
    assert shape == (500, 500)


def test_rgb_array_test_run_of_a_dqn_checkpoint(trained_copy):
    root, old = trained_copy
    result = joyrl_run(root, *DQN_ALGO, "env_cfg.render_mode=rgb_array", mode="test", load_path=old.name,
                       load_model=str(SAVE_FRE), seed=SEED, test_episode=3, max_step=MAX_STEP, loggers="[csv]",
                       save_fig=False)
    task = task_of(result)
    episodes = read_csv(task / "results" / "episodes.csv")
    assert len(episodes) == 3
    n_frames, recorded, shape = _gif_frames(task / "videos" / "video.gif", fps=50)  # CartPole's render_fps
    # CartPole barely moves in its first steps, so some consecutive frames are identical and merged.
    assert recorded == _expected_frames(episodes)
    assert 0 < n_frames <= recorded
    assert shape == (400, 600)


# -- 6. trajectory collection ------------------------------------------------------------------------


def test_collecting_2500_trajectories_splits_them_1000_per_file(tmp_path):
    result = joyrl_run(tmp_path, "general_cfg.algo_name=RANDOM", seed=SEED, max_episode=2500, max_step=3,
                       collect_traj=True, loggers="[csv]", save_fig=False)
    task = task_of(result)
    results = task / "results"
    files = sorted(results.glob("trajs_*.npz"))
    assert [p.name for p in files] == ["trajs_0.npz", "trajs_1.npz", "trajs_2.npz"]
    assert [sum(1 for _ in load_trajectories(p)) for p in files] == [1000, 1000, 500]
    trajs = list(load_trajectories(results))
    assert len(trajs) == 2500 and all(len(t) == 3 for t in trajs)
    assert all(t.truncated[-1] and not t.terminated.any() for t in trajs)
    episodes = read_csv(results / "episodes.csv")
    assert len(episodes) == 2500 and int(episodes[-1]["env_steps"]) == 7500
    assert [t.episode_reward for t in trajs] == [r["reward"] for r in episodes]


# -- 7. bad checkpoints and load paths ---------------------------------------------------------------


def _truncated(src: Path, dst: Path) -> None:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])


def _random_bytes(src: Path, dst: Path) -> None:
    dst.write_bytes(np.random.default_rng(0).integers(0, 256, size=src.stat().st_size, dtype=np.uint8).tobytes())


@pytest.mark.parametrize("damage", [
    pytest.param(_truncated, id="truncated"),
    pytest.param(_random_bytes, id="random-bytes"),
])
@pytest.mark.parametrize("mode", ["test", "train"])
def test_corrupt_checkpoint_is_a_one_line_error(trained, tmp_path, damage, mode):
    bad = tmp_path / "bad.pt"
    damage(trained.task / "models" / f"{SAVE_FRE}.pt", bad)
    result = joyrl_run(tmp_path / "tasks", *DQN_ALGO, mode=mode, load_checkpoint=True, load_path=bad,
                       max_episode=1, loggers="[csv]", save_fig=False)
    assert_one_line_error(result, str(bad), "corrupt or truncated checkpoint")
    assert not (tmp_path / "tasks").exists() or not any((tmp_path / "tasks").iterdir())  # no empty task folder


def test_missing_load_path_is_a_one_line_error(trained, tmp_path):
    root = tmp_path / "tasks"
    result = joyrl_run(root, *DQN_ALGO, mode="test", load_path="Train_no-such-task", loggers="[csv]")
    assert_one_line_error(result, "'Train_no-such-task'", "no such task folder or checkpoint")

    result = joyrl_run(root, *DQN_ALGO, mode="test", loggers="[csv]")
    assert_one_line_error(result, "general_cfg.load_path")

    result = joyrl_run(root, *DQN_ALGO, mode="test", load_path=trained.task, load_model="99999", loggers="[csv]")
    assert_one_line_error(result, str(trained.task / "models" / "99999.pt"), "checkpoint not found", "best")


def _wider_net_run(trained: Trained, tmp_path: Path) -> Result:
    wider = "algo_cfg.value_layers=[{layer_type: linear, layer_dim: [64], activation: relu}]"
    return joyrl_run(tmp_path / "tasks", wider, mode="test", load_path=trained.task, load_model="best",
                     loggers="[csv]")


def test_network_shape_mismatch_is_a_one_line_error(trained, tmp_path):
    assert_one_line_error(_wider_net_run(trained, tmp_path), str(trained.task / "models" / "best.pt"),
                          "does not match this run's algorithm config")


def test_network_shape_mismatch_names_the_mismatch(trained, tmp_path):
    line = assert_one_line_error(_wider_net_run(trained, tmp_path))
    assert "size mismatch" in line and "torch.Size([64, 4])" in line, line


# -- 8. a checkpoint crafted to run code -------------------------------------------------------------


class _RunsCode:
    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return os.system, (f"touch {self.target}",)


def _craft(path: Path, target: Path, as_zip: bool) -> None:
    payload = {"format": "joyrl-checkpoint", "version": 1, "counters": {"episodes": 0, "env_steps": 0, "update_steps": 0},
               "config": {}, "agent": _RunsCode(target), "extra": {}}
    if as_zip:
        torch.save(payload, path)
    else:
        with open(path, "wb") as fh:
            pickle.dump(payload, fh)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
@pytest.mark.parametrize("as_zip", [True, False], ids=["torch-save", "plain-pickle"])
def test_checkpoint_that_runs_code_is_refused(tmp_path, as_zip):
    # The crafted file does run code when loaded unsafely (a canary, not the checked file).
    canary = tmp_path / "canary"
    _craft(tmp_path / "canary.pt", canary, as_zip)
    if as_zip:
        torch.load(tmp_path / "canary.pt", weights_only=False)
    else:
        with open(tmp_path / "canary.pt", "rb") as fh:
            pickle.load(fh)
    assert canary.exists()

    pwned = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    _craft(evil, pwned, as_zip)
    result = joyrl_run(tmp_path / "tasks", *DQN_ALGO, mode="test", load_path=evil, loggers="[csv]")
    assert_one_line_error(result, str(evil), "refused to load")
    assert not pwned.exists()


def test_refusal_names_what_was_blocked_and_gives_no_unsafe_advice(tmp_path):
    evil = tmp_path / "evil.pt"
    _craft(evil, tmp_path / "pwned", as_zip=True)
    line = assert_one_line_error(joyrl_run(tmp_path / "tasks", *DQN_ALGO, mode="test", load_path=evil,
                                           loggers="[csv]"), "refused to load")
    assert "system" in line and "weights_only" not in line, line
    assert not (tmp_path / "pwned").exists()


# -- 9. render_mode human without a display ----------------------------------------------------------


@pytest.mark.skipif(sys.platform != "linux", reason="the display check applies on Linux")
@pytest.mark.parametrize("mode", ["train", "test"])
def test_human_render_without_display_is_a_one_line_error(tmp_path, monkeypatch, mode):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    root = tmp_path / "tasks"
    result = joyrl_run(root, "general_cfg.algo_name=RANDOM", "env_cfg.render_mode=human", mode=mode,
                       load_path="anything", max_episode=1, loggers="[csv]")
    assert_one_line_error(result, "render_mode", "display", "rgb_array")
    assert not root.exists(), "the check must come before a task folder is created"
