#!/usr/bin/env python
"""Pixels: JoyRL's frame replay and DQN on Atari Breakout against Stable-Baselines3, and DQN on Catch.

Needs ``stable-baselines3`` (the ``bench`` extra) and ale-py (the ``atari`` extra, with
``plugins/joyrl-envs-atari`` for part b); it installs nothing itself. A part whose prerequisites are
missing prints ``skipped: why``. Both learners get the same torch thread count (``--threads``, default 1).

a. replay memory: 100k ALE/Breakout-v5 transitions (DeepMind preprocessing: gymnasium's
   AtariPreprocessing and FrameStackObservation, 4 x 84 x 84 uint8, a random policy) pushed into
   ``FRAME_QUE`` and into SB3's ``ReplayBuffer(optimize_memory_usage=True)``, both of capacity 100k: bytes
   of their arrays per stored transition, ours/SB3 (target <= 0.3); and ``sample(32)`` time against SB3's
   and ``REPLAY_QUE``'s (filled with the first 20k of the same transitions: a full 100k would take 5.6 GB).
b. speed: DQN on ALE/Breakout-v5 with RL-Zoo's Atari DQN settings (Nature CNN, batch 32, train_freq 4,
   target update every 1000 env steps = 250 gradient steps, lr 1e-4, Huber loss, gradient norm 10, buffer
   100k; epsilon 1 -> 0.01 over 10% of the steps), ``--learning-starts`` random steps, then
   ``--steps`` env steps timed: env steps/s, ours/SB3 (target >= 1.5). SB3 keeps its replay with
   ``optimize_memory_usage`` (4-frame stacks once), ours in ``FRAME_QUE``; both env-stepping one env.
c. Catch: ``examples/catch_dqn_cnn.yaml`` on seeds 1-3; a seed counts when an evaluation's mean reward
   reaches 0.9 (target 3/3).

    python benchmarks/atari_vs_sb3.py [--threads 1] [--steps 20000] [--learning-starts 2000] [--parts a b c]
                                      [--catch-yaml examples/catch_dqn_cnn.yaml]

The last line is machine-readable: ``summary: replay_bytes_ratio=X steps_per_s_ratio=Y catch_solved_seeds=N/3``
(``nan`` / ``-`` for a part that was skipped).

Part b measured 2026-12-05 on the 2-core machine with nothing else running (``--parts b --threads 1``, main
057fd5a): steps_per_s_ratio 1.502 (JoyRL 171.9, SB3 114.5 env steps/s) and 1.412 (170.5 / 120.7) in two runs.
JoyRL's figure uses the second core for the target network's pass (DQN's fast path); on one core the
ratio is bounded by 1.47 (``benchmarks/cpu_floors.py``). At load 1-3 from other jobs: 1.242; the sides run
one after the other, so the ratio swings with the load.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import joyrl_core
from joyrl_core.contracts.buffer import transition_nbytes

REPO = Path(__file__).resolve().parent.parent
CATCH_YAML = REPO / "examples" / "catch_dqn_cnn.yaml"
ENV_ID = "ALE/Breakout-v5"
MEMORY_TRANSITIONS = 100_000
PLAIN_TRANSITIONS = 20_000
CATCH_SOLVED = 0.9
# The Nature DQN's network (Mnih et al., 2015), as SB3's CnnPolicy builds it.
NATURE_CNN = "[{layer_type: nature_cnn}, {layer_type: linear, layer_dim: [512], activation: relu}]"


def missing(*modules: str) -> str | None:
    """The first of ``modules`` that is not installed, or ``None``."""
    return next((m for m in modules if importlib.util.find_spec(m) is None), None)


def breakout() -> gym.Env:
    import ale_py
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    gym.register_envs(ale_py)
    return FrameStackObservation(AtariPreprocessing(gym.make(ENV_ID, frameskip=1)), 4)


def array_bytes(obj) -> int:
    return sum(a.nbytes for a in vars(obj).values() if isinstance(a, np.ndarray))


def time_samples(samplers: dict, rounds: int = 7, calls: int = 100) -> dict[str, float]:
    """Microseconds per call of each sampler: the best of ``rounds`` rounds of ``calls`` calls, the samplers
    taking turns within each round, so that a busy machine slows them alike and its spikes drop out."""
    best = dict.fromkeys(samplers, float("inf"))
    for _ in range(rounds):
        for name, sample in samplers.items():
            start = time.perf_counter()
            for _ in range(calls):
                sample()
            best[name] = min(best[name], (time.perf_counter() - start) / calls * 1e6)
    return best


def part_a(threads: int) -> float:
    """Replay memory and sampling time; returns ours/SB3 bytes per stored transition."""
    from stable_baselines3.common.buffers import ReplayBuffer

    env = breakout()
    spec = joyrl_core.EnvSpec.from_env(env, ENV_ID)
    ours = joyrl_core.FrameReplay(MEMORY_TRANSITIONS, spec, seed=0)
    plain = joyrl_core.ReplayQueue(PLAIN_TRANSITIONS, spec, seed=0)
    sb3 = ReplayBuffer(MEMORY_TRANSITIONS, env.observation_space, env.action_space, device="cpu",
                       optimize_memory_usage=True, handle_timeout_termination=False)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    episodes, start = 0, time.perf_counter()
    for t in range(MEMORY_TRANSITIONS):
        action = int(rng.integers(env.action_space.n))
        next_obs, reward, terminated, truncated, _ = env.step(action)
        ours.push(obs, action, reward, next_obs, terminated, truncated)
        sb3.add(obs[None], next_obs[None], np.array([action]), np.array([reward]), np.array([terminated or truncated]),
                [{}])
        if t < PLAIN_TRANSITIONS:
            plain.push(obs, action, reward, next_obs, terminated, truncated)
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
            episodes += 1
    collect = time.perf_counter() - start
    ours_bytes, sb3_bytes, frame_pixels = ours.nbytes, array_bytes(sb3), 84 * 84
    ours_row, sb3_row = ours_bytes / len(ours), sb3_bytes / sb3.size()
    print(f"\na. replay memory: {MEMORY_TRANSITIONS} {ENV_ID} transitions, {episodes} episodes ({collect:.0f} s to collect)")
    micros = time_samples({
        "frame": lambda: ours.sample(32), "sb3": lambda: sb3.sample(32), "plain": lambda: plain.sample(32),
        "frame n3": lambda: ours.sample(32, n_step=3, gamma=0.99), "plain n3": lambda: plain.sample(32, n_step=3, gamma=0.99),
    })
    rows = [
        ("JoyRL FRAME_QUE", len(ours), ours_bytes, micros["frame"], micros["frame n3"]),
        ("SB3 ReplayBuffer(optimize_memory_usage)", sb3.size(), sb3_bytes, micros["sb3"], float("nan")),
        (f"JoyRL REPLAY_QUE ({PLAIN_TRANSITIONS // 1000}k)", len(plain), transition_nbytes(spec) * PLAIN_TRANSITIONS,
         micros["plain"], micros["plain n3"]),
    ]
    print(f"{'buffer':<38} {'rows held':>9} {'MB':>8} {'bytes/row':>10} {'x frame':>8} {'sample(32) us':>14} "
          f"{'n-step 3 us':>12}")
    for name, held, nbytes, one, three in rows:
        print(f"{name:<38} {held:>9} {nbytes / 1e6:>8.1f} {nbytes / held:>10.0f} {nbytes / held / frame_pixels:>8.2f} "
              f"{one:>14.0f} {three:>12.0f}")
    print(f"  a 1M-transition FRAME_QUE would take {ours_row * 1e6 / 1e9:.2f} GB")
    return ours_row / sb3_row


def clock_plugin(learning_starts: int, marks: dict):
    """A plugin with the ``bench_clock`` logger: it notes (env steps, time) at the first training episode
    that ends past ``learning_starts``, and the time the run closes its loggers."""

    class Clock(joyrl_core.Logger):
        def log_episode(self, record) -> None:
            if "start" not in marks and record.mode == "train" and record.env_steps >= learning_starts:
                marks["start"] = (record.env_steps, time.perf_counter())

        def log_metrics(self, env_steps, metrics) -> None:
            """Metrics do not move the clock: it times episodes only."""

        def close(self) -> None:
            marks["end"] = time.perf_counter()

    class Plugin:
        @joyrl_core.hookimpl
        def register_loggers(self, register):
            register("bench_clock", lambda run: Clock(), None, "notes when learning starts and when the run ends")

    return Plugin()


def joyrl_rate(seed: int, steps: int, learning_starts: int, threads: int, task_dir: str) -> tuple[float, int]:
    """Env steps/s of JoyRL's DQN after ``learning_starts`` (from the first episode ending past it)."""
    total = learning_starts + steps
    marks: dict = {}
    registry = joyrl_core.load_registry([("bench_clock", clock_plugin(learning_starts, marks))])
    cfg = joyrl_core.resolve_config(registry, None, [
        "general_cfg.algo_name=DQN", "general_cfg.env_name=atari", f"env_cfg.id={ENV_ID}",
        "general_cfg.max_episode=-1", f"general_cfg.max_env_steps={total}", "general_cfg.max_step=27000",
        f"general_cfg.seed={seed}", f"general_cfg.torch_threads={threads}", f"general_cfg.task_dir={task_dir}",
        "general_cfg.loggers=[bench_clock]", "general_cfg.save_fig=false", "general_cfg.model_save_fre=100000000",
        f"algo_cfg.value_layers={NATURE_CNN}", "algo_cfg.buffer_type=FRAME_QUE", "algo_cfg.buffer_size=100000",
        "algo_cfg.batch_size=32", "algo_cfg.lr=0.0001", "algo_cfg.gamma=0.99", "algo_cfg.train_freq=4",
        "algo_cfg.gradient_steps=1", "algo_cfg.target_update=250", f"algo_cfg.learning_starts={learning_starts}",
        "algo_cfg.epsilon_schedule=linear", "algo_cfg.epsilon_start=1.0", "algo_cfg.epsilon_end=0.01",
        f"algo_cfg.epsilon_decay={int(0.1 * total)}", "algo_cfg.loss=huber", "algo_cfg.max_grad_norm=10",
    ])
    summary, _ = joyrl_core.start_run(cfg, registry)
    if "start" not in marks:
        raise SystemExit(f"b: no training episode ended past learning_starts ({learning_starts}) within "
                         f"{total} env steps; give more --steps")
    s0, t0 = marks["start"]
    return (summary.env_steps - s0) / (marks["end"] - t0), summary.update_steps


def sb3_rate(seed: int, steps: int, learning_starts: int, threads: int) -> tuple[float, int]:
    import torch
    from stable_baselines3 import DQN
    from stable_baselines3.common.atari_wrappers import AtariWrapper
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack
    import ale_py

    gym.register_envs(ale_py)
    torch.set_num_threads(threads)
    venv = VecFrameStack(DummyVecEnv([lambda: AtariWrapper(gym.make(ENV_ID, frameskip=1))]), 4)
    total = learning_starts + steps
    model = DQN("CnnPolicy", venv, buffer_size=100_000, learning_rate=1e-4, batch_size=32,
                learning_starts=learning_starts, target_update_interval=1000, train_freq=4, gradient_steps=1,
                exploration_fraction=0.1, exploration_final_eps=0.01, optimize_memory_usage=True,
                replay_buffer_kwargs=dict(handle_timeout_termination=False), seed=seed, device="cpu", verbose=0)
    marks = {}

    class Clock(BaseCallback):
        def _on_step(self) -> bool:
            if "start" not in marks and self.num_timesteps >= learning_starts:
                marks["start"] = (self.num_timesteps, time.perf_counter())
            return True

    model.learn(total_timesteps=total, callback=Clock())
    s0, t0 = marks["start"]
    return (model.num_timesteps - s0) / (time.perf_counter() - t0), model._n_updates


def part_b(seed: int, steps: int, learning_starts: int, threads: int, task_dir: str) -> float:
    ours, ours_updates = joyrl_rate(seed, steps, learning_starts, threads, task_dir)
    theirs, sb3_updates = sb3_rate(seed, steps, learning_starts, threads)
    print(f"\nb. DQN on {ENV_ID}, RL-Zoo Atari settings, {steps} env steps after {learning_starts} random ones, "
          f"torch threads {threads}")
    print(f"{'':<8} {'env steps/s':>12} {'gradient steps':>15}")
    print(f"{'SB3':<8} {theirs:>12.1f} {sb3_updates:>15}")
    print(f"{'JoyRL':<8} {ours:>12.1f} {ours_updates:>15}")
    return ours / theirs


def part_c(yaml: Path, threads: int, task_dir: str) -> int:
    registry = joyrl_core.load_registry()
    print(f"\nc. Catch, {yaml.name}")
    print(f"{'seed':>4} {'best eval':>10} {'at env steps':>13} {'train s':>8}")
    solved = 0
    for seed in (1, 2, 3):
        cfg = joyrl_core.resolve_config(registry, yaml, [
            f"general_cfg.seed={seed}", f"general_cfg.torch_threads={threads}", f"general_cfg.task_dir={task_dir}",
            "general_cfg.save_fig=false", "general_cfg.loggers=[csv]"])
        summary, task = joyrl_core.start_run(cfg, registry)
        with open(task.results / "evals.csv", newline="") as fh:
            evals = [(float(r["mean_reward"]), int(r["env_steps"])) for r in csv.DictReader(fh)]
        best = max(evals, default=(float("nan"), 0))
        solved += best[0] >= CATCH_SOLVED
        print(f"{seed:>4} {best[0]:>10.2f} {best[1]:>13} {summary.wall_time - summary.eval_time:>8.1f}", flush=True)
    return solved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads of both learners")
    parser.add_argument("--steps", type=int, default=20_000, help="part b: env steps timed after learning starts")
    parser.add_argument("--learning-starts", type=int, default=2000, help="part b: random env steps first")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--catch-yaml", type=Path, default=CATCH_YAML, help="part c's config")
    parser.add_argument("--parts", nargs="+", default=["a", "b", "c"], choices=["a", "b", "c"])
    args = parser.parse_args()
    import torch

    print(f"machine: {os.cpu_count()} cores; torch {torch.__version__} ({args.threads} threads both sides), "
          f"gymnasium {gym.__version__}, joyrl-core {joyrl_core.__version__}")
    registry = joyrl_core.load_registry()
    bytes_ratio = speed_ratio = float("nan")
    catch = "-"
    with tempfile.TemporaryDirectory() as tmp:
        # ale-py comes with the Atari env plugin; the core has no atari extra.
        install = "pip install -c constraints.txt '.[bench]' ./plugins/joyrl-envs-atari"
        lack = missing("stable_baselines3", "ale_py")
        if "a" in args.parts:
            if lack:
                print(f"\na. skipped: {lack} is not installed ({install})")
            else:
                bytes_ratio = part_a(args.threads)
        if "b" in args.parts:
            if lack or "atari" not in registry.names("env"):
                why = f"{lack} is not installed" if lack else "no 'atari' env plugin"
                why += f" ({install})"
                print(f"\nb. skipped: {why}")
            else:
                speed_ratio = part_b(args.seed, args.steps, args.learning_starts, args.threads, tmp)
        if "c" in args.parts:
            if "catch" not in registry.names("env") or not args.catch_yaml.exists():
                print(f"\nc. skipped: needs the 'catch' env (joyrl-envs-custom) and {args.catch_yaml}")
            else:
                catch = f"{part_c(args.catch_yaml, args.threads, tmp)}/3"
    print(f"\nsummary: replay_bytes_ratio={bytes_ratio:.3f} steps_per_s_ratio={speed_ratio:.3f} "
          f"catch_solved_seeds={catch}")


if __name__ == "__main__":
    sys.exit(main())
