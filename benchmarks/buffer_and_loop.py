#!/usr/bin/env python
"""Benchmark REPLAY_QUE and the single backend's env loop against raw gymnasium stepping.

Every rate is printed as a ratio against raw gymnasium stepping of the same env, measured in the same
run (CartPole-v1 from ``gymnasium.make``, a random action per step from a seeded numpy rng, reset on
terminated/truncated), so the numbers carry over between machines:

* ``REPLAY_QUE push`` / ``push_batch(1000)`` / ``sample(64)`` in transitions/s, on real CartPole
  transitions collected before timing (same Python types the rollout hands to ``push``);
* ``EnvRunner loop``: the bare :class:`joyrl_core.EnvRunner` with the ``RANDOM`` agent, no buffer, no
  trainer (the loop's own overhead), and the same loop pushing into ``REPLAY_QUE``;
* ``single backend``: the real thing, ``resolve_config`` + ``start_run`` with ``algo_name=RANDOM``;
  its rate is ``summary.env_steps / summary.wall_time`` (trainer loop, loggers, final checkpoint), and
  once more over the whole ``start_run`` call (start-up included).

Each measurement runs ``--reps`` times (default 3), interleaved, and the best is reported; raw gym is
measured in every pass and once more at the very end, and its spread is printed as the noise level.

    .venv/bin/python benchmarks/buffer_and_loop.py [--steps N] [--reps 3] [--loggers none|csv]

The last line is machine-readable:
``summary: push_ratio=X sample_ratio=Y loop_ratio=Z`` where X is single ``push`` transitions/s, Y is
``sample(64)`` transitions/s and Z is the single backend's env steps/s (``summary.wall_time``), each
divided by raw gym env steps/s. Nothing is written to the repository (task folders go to a temp dir).
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time

import gymnasium as gym
import numpy as np

import joyrl_core
from joyrl_core import EnvRunner, EnvSpec, PolicyStep, ReplayQueue, load_registry, resolve_config, start_run

ENV_ID = "CartPole-v1"
MAX_STEP = 500  # CartPole-v1's own TimeLimit; random episodes end long before (~22 steps)
BUFFER_CAPACITY = 100_000  # joyrl-dqn's default buffer_size
PUSH_BATCH = 1000
SAMPLE_BATCH = 64


# -- measurements -----------------------------------------------------------------------------------


def raw_gym(n_steps: int, seed: int) -> tuple[float, float]:
    """Env steps/s of plain gymnasium stepping, and the mean episode length seen."""
    env = gym.make(ENV_ID)
    rng = np.random.default_rng(seed)
    n_actions = int(env.action_space.n)
    env.reset(seed=seed)
    episodes = 0
    gc.collect()
    start = time.perf_counter()
    for _ in range(n_steps):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(n_actions)))
        if terminated or truncated:
            env.reset()
            episodes += 1
    elapsed = time.perf_counter() - start
    env.close()
    return n_steps / elapsed, n_steps / max(episodes, 1)


def collect_transitions(n: int, seed: int) -> list[tuple]:
    """Real CartPole transitions, as the rollout hands them to ``Buffer.push``.

    obs/next_obs are the env's own float32 arrays, action an ``np.int64`` (``act(...)[0]``), reward a
    Python float, terminated and truncated Python bools.
    """
    env = gym.make(ENV_ID)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    out = []
    for _ in range(n):
        action = rng.integers(0, 2, size=1)[0]
        next_obs, reward, terminated, truncated, _ = env.step(action)
        out.append((obs, action, reward, next_obs, terminated, truncated))
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return out


def as_arrays(transitions: list[tuple]) -> tuple[np.ndarray, ...]:
    columns = list(zip(*transitions))
    arrays = [
        np.stack(columns[0]),
        np.asarray(columns[1], dtype=np.int64),
        np.asarray(columns[2], dtype=np.float32),
        np.stack(columns[3]),
        np.asarray(columns[4], dtype=np.float32),
        np.asarray(columns[5], dtype=np.float32),
    ]
    return tuple(arrays)


def bench_push(transitions: list[tuple], spec: EnvSpec) -> float:
    buf = ReplayQueue(BUFFER_CAPACITY, spec, seed=0)
    push = buf.push
    gc.collect()
    start = time.perf_counter()
    for transition in transitions:
        push(*transition)
    return len(transitions) / (time.perf_counter() - start)


def bench_push_batch(arrays: tuple[np.ndarray, ...], spec: EnvSpec) -> float:
    buf = ReplayQueue(BUFFER_CAPACITY, spec, seed=0)
    push_batch = buf.push_batch
    n = len(arrays[2])
    gc.collect()
    start = time.perf_counter()
    for i in range(0, n, PUSH_BATCH):
        j = i + PUSH_BATCH
        push_batch(*(a[i:j] for a in arrays))
    return n / (time.perf_counter() - start)


def bench_sample(arrays: tuple[np.ndarray, ...], spec: EnvSpec, n_calls: int) -> float:
    buf = ReplayQueue(BUFFER_CAPACITY, spec, seed=0)
    buf.push_batch(*arrays)
    sample = buf.sample
    gc.collect()
    start = time.perf_counter()
    for _ in range(n_calls):
        sample(SAMPLE_BATCH)
    return n_calls * SAMPLE_BATCH / (time.perf_counter() - start)


def bench_env_runner(registry, spec: EnvSpec, n_steps: int, seed: int, with_buffer: bool) -> float:
    """The bare EnvRunner loop as the trainer drives it, without trainer, loggers or start-up."""
    env = registry.get("env", "gym").factory(_gym_env_config(registry), None)
    agent = registry.get("algorithm", "RANDOM").factory(None, spec, "cpu", seed)
    buffer = ReplayQueue(BUFFER_CAPACITY, spec, seed=seed) if with_buffer else None
    runner = EnvRunner(env, seed, MAX_STEP)
    steps = 0

    def act(obs: np.ndarray) -> PolicyStep:  # the trainer's closure
        return agent.act(obs, steps)

    gc.collect()
    start = time.perf_counter()
    while steps < n_steps:
        steps += runner.run_episode(act, buffer).length
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def _gym_env_config(registry):
    config_type = registry.get("env", "gym").config_type
    return config_type(id=ENV_ID)


def bench_start_run(registry, n_episodes: int, seed: int, loggers: str, task_dir: str) -> tuple[float, float, int]:
    """(env steps/s over summary.wall_time, env steps/s over the whole start_run call, env steps)."""
    overrides = [
        "general_cfg.algo_name=RANDOM",
        "general_cfg.env_name=gym",
        f"env_cfg.id={ENV_ID}",
        "general_cfg.mode=train",
        "general_cfg.device=cpu",
        f"general_cfg.seed={seed}",
        f"general_cfg.max_step={MAX_STEP}",
        f"general_cfg.max_episode={n_episodes}",
        f"general_cfg.loggers={'[]' if loggers == 'none' else '[csv]'}",
        f"general_cfg.task_dir={task_dir}",
        "general_cfg.save_fig=false",
    ]
    cfg = resolve_config(registry, None, overrides)
    gc.collect()
    start = time.perf_counter()
    summary, _task = start_run(cfg, registry)
    outer = time.perf_counter() - start
    return summary.env_steps / summary.wall_time, summary.env_steps / outer, summary.env_steps


# -- driver -----------------------------------------------------------------------------------------


def best_of(results: list[float]) -> float:
    return max(results)


def fmt_rate(rate: float) -> str:
    if rate >= 1e6:
        return f"{rate / 1e6:8.2f} M/s"
    return f"{rate / 1e3:8.1f} k/s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=50_000,
                        help="env steps (and transitions) per measurement (default 50000, ~25 s in all)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each measurement; best is kept")
    parser.add_argument("--loggers", choices=("none", "csv"), default="none",
                        help="loggers of the start_run measurement (default none: loggers=[])")
    parser.add_argument("--seed", type=int, default=1, help="seed of envs, rngs and the run (>= 1)")
    args = parser.parse_args(argv)
    if args.steps < PUSH_BATCH or args.reps < 1 or args.seed < 1:
        parser.error(f"--steps must be >= {PUSH_BATCH}, --reps >= 1, --seed >= 1")

    t_total = time.perf_counter()
    n = args.steps
    registry = load_registry()
    probe = gym.make(ENV_ID)
    spec = EnvSpec.from_env(probe, ENV_ID)
    probe.close()

    # Warm-up: torch import (start_run imports it), gymnasium registration, numpy paths.
    import torch  # noqa: F401

    raw_runs: list[float] = []
    rate, mean_len = raw_gym(n, args.seed)
    raw_runs.append(rate)
    transitions = collect_transitions(n, args.seed)
    arrays = as_arrays(transitions)
    n_episodes = max(1, round(n / mean_len))
    sample_calls = max(1000, n // 5)

    results: dict[str, list[float]] = {}

    def record(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)

    steps_per_run = 0
    with tempfile.TemporaryDirectory(prefix="joyrl-bench-") as task_dir:
        for rep in range(args.reps):
            if rep > 0:
                raw_runs.append(raw_gym(n, args.seed + rep)[0])
            record("push", bench_push(transitions, spec))
            record("push_batch", bench_push_batch(arrays, spec))
            record("sample", bench_sample(arrays, spec, sample_calls))
            record("runner", bench_env_runner(registry, spec, n, args.seed + rep, with_buffer=False))
            record("runner_buf", bench_env_runner(registry, spec, n, args.seed + rep, with_buffer=True))
            inner, outer, steps_per_run = bench_start_run(registry, n_episodes, args.seed + rep, args.loggers, task_dir)
            record("single", inner)
            record("single_outer", outer)
        raw_runs.append(raw_gym(n, args.seed + args.reps)[0])

    raw = best_of(raw_runs)
    rows: list[tuple[str, str, float]] = [
        ("raw gym (gym.make + rng), env steps", "raw", raw),
        ("REPLAY_QUE.push, transitions", "push", best_of(results["push"])),
        (f"REPLAY_QUE.push_batch({PUSH_BATCH}), transitions", "push_batch", best_of(results["push_batch"])),
        (f"REPLAY_QUE.sample({SAMPLE_BATCH}), transitions", "sample", best_of(results["sample"])),
        ("EnvRunner + RANDOM, no buffer, env steps", "runner", best_of(results["runner"])),
        ("EnvRunner + RANDOM + REPLAY_QUE, env steps", "runner_buf", best_of(results["runner_buf"])),
        ("single backend (summary.wall_time), env steps", "single", best_of(results["single"])),
        ("single backend (whole start_run), env steps", "single_outer", best_of(results["single_outer"])),
    ]

    print(f"joyrl-core {joyrl_core.__version__}, python {sys.version.split()[0]}, numpy {np.__version__}, "
          f"gymnasium {gym.__version__}")
    print(f"{ENV_ID}, {n} steps per measurement, best of {args.reps}; start_run: {n_episodes} episodes "
          f"(~{steps_per_run} env steps), loggers={args.loggers}; mean random episode {mean_len:.1f} steps")
    spread = (max(raw_runs) - min(raw_runs)) / max(raw_runs)
    print("raw gym per pass (first .. last): " + ", ".join(f"{r / 1e3:.1f}k" for r in raw_runs)
          + f" steps/s; spread {spread:.1%}")
    if spread > 0.10:
        print("warning: raw gym varied by more than 10% between passes (a busy machine?); "
              "the ratios below are uncertain by about as much")
    print()
    width = max(len(name) for name, _, _ in rows)
    print(f"{'name':<{width}}  {'rate':>12}  {'us/item':>8}  {'vs raw gym':>10}")
    print("-" * (width + 36))
    for name, _key, rate in rows:
        print(f"{name:<{width}}  {fmt_rate(rate):>12}  {1e6 / rate:8.2f}  {rate / raw:9.3f}x")
    print()
    print(f"total time {time.perf_counter() - t_total:.1f} s")
    ratios = {key: rate / raw for _name, key, rate in rows}
    print(f"summary: push_ratio={ratios['push']:.3f} sample_ratio={ratios['sample']:.3f} "
          f"loop_ratio={ratios['single']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
