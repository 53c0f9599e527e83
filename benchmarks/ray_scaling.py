"""How the ``ray`` backend scales: parallel workers on a slow env, parallel learners on a heavy update.

1. Env-bound: CartPole with a 2 ms sleep per step (the ``slow_noisy`` env of joyrl-envs-custom, or an
   equivalent wrapper defined here when that plugin is not installed) and DQN with a small network, so
   the env dominates. Env steps per second of the single backend, and of ray with 1 and 2 workers.
2. Learner-bound: plain CartPole (fast) and DQN with a 256x256 network and batch_size 4096, so the
   gradient step dominates. Updates per second with 1 and 2 learners (each of 2 learners computes
   half of every batch; gradients are averaged with a gloo all-reduce). DQN takes one gradient step per
   env step once the buffer holds a batch, and the learners hold the worker back, so past that point
   env steps per second are updates per second.

3. On-policy, env-bound: PPO on the same slow env, each worker stepping 2 envs, rollouts of 64 steps
   per env. Ray runs PPO in rounds (every worker collects a rollout with the newest weights, the
   learner updates once all are in), so a second worker adds a rollout per round at the cost of a
   longer update. Env steps per second with 1 and 2 workers.

Parts 1 and 2 use epsilon 1 throughout (random actions), so episodes have the same length distribution in
every setting and only the speed differs. Rates are measured from the 10th episode (env-bound) or
from the first episode after learning started (learner-bound) to the last, leaving Ray's and the
actors' start-up out. Every setting runs ``--repeat`` times, in rounds, and the best rate counts (the
machine may be shared). Targets: workers 2 vs 1 >= 1.7x (DQN and PPO), learners 2 vs 1 >= 1.5x.

    python benchmarks/ray_scaling.py [--episodes-env 200] [--updates 500] [--ppo-steps 6000] [--repeat 2]

The last line is ``summary: workers_2v1=X learners_2v1=Y ppo_workers_2v1=Z``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import tempfile
import time
from typing import Any

import gymnasium as gym

import joyrl_core
from joyrl_core import EnvError, Logger, hookimpl, option

STEP_LATENCY_MS = 2.0
WARMUP_EPISODES = 10
LEARNER_BATCH = 4096


# -- a slow env, when joyrl-envs-custom is not installed ---------------------------------------------

@dataclasses.dataclass
class SlowEnvConfig:
    id: str = option("CartPole-v1", "gymnasium id of the inner env")
    step_latency_ms: float = option(STEP_LATENCY_MS, "sleep per step, in milliseconds", minimum=0.0)


class SlowStep(gym.Wrapper):
    def __init__(self, env: gym.Env, latency_ms: float):
        super().__init__(env)
        self.latency_s = latency_ms / 1000.0

    def step(self, action):
        time.sleep(self.latency_s)
        return self.env.step(action)


def make_slow_env(config: SlowEnvConfig, render_mode: str | None) -> gym.Env:
    try:
        return SlowStep(gym.make(config.id, render_mode=render_mode), config.step_latency_ms)
    except gym.error.Error as exc:
        raise EnvError(f"bench_slow: {exc}") from None


class BenchPlugin:
    @staticmethod
    @hookimpl
    def register_envs(register):
        register("bench_slow", make_slow_env, SlowEnvConfig, "benchmark: a gymnasium env with a sleep per step")


# -- runs -------------------------------------------------------------------------------------------

class Clock(Logger):
    """(time, env steps) at each training episode, and the learner's update rate metric."""

    def __init__(self):
        self.marks: list[tuple[float, int]] = []
        self.update_rates: list[float] = []

    def log_episode(self, record):
        if record.mode == "train":
            self.marks.append((time.perf_counter(), record.env_steps))

    def log_metrics(self, env_steps, metrics):
        if "time/updates_per_sec" in metrics:
            self.update_rates.append(metrics["time/updates_per_sec"])

    def close(self):
        """Nothing to release: the marks live in memory for the benchmark to read."""

    def steps_per_sec(self, from_steps: int = 0) -> float:
        """Env steps per second from the first episode past ``WARMUP_EPISODES`` and ``from_steps``."""
        start = next(i for i, (_, steps) in enumerate(self.marks) if i >= WARMUP_EPISODES and steps >= from_steps)
        (t0, s0), (t1, s1) = self.marks[start], self.marks[-1]
        return (s1 - s0) / (t1 - t0)


def run(registry: joyrl_core.Registry, overrides: list[str], **general_extra: Any) -> tuple[Any, Clock]:
    extra = [f"general_cfg.{key}={value}" for key, value in general_extra.items()]
    cfg = joyrl_core.resolve_config(registry, None, [*overrides, *extra])
    clock = Clock()
    summary, _ = joyrl_core.start_run(cfg, registry, [clock])
    return summary, clock


def common(task_dir: str, episodes: int, max_step: int) -> list[str]:
    return [
        "general_cfg.algo_name=DQN", f"general_cfg.max_episode={episodes}", f"general_cfg.max_step={max_step}",
        "general_cfg.seed=1", "general_cfg.save_fig=false", "general_cfg.online_eval=false",
        "general_cfg.model_save_fre=1000000", f"general_cfg.task_dir={task_dir}",
        "algo_cfg.epsilon_start=1.0", "algo_cfg.epsilon_end=1.0",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes-env", type=int, default=200, help="episodes per env-bound run")
    parser.add_argument("--updates", type=int, default=500, help="gradient steps per learner-bound run (about)")
    parser.add_argument("--ppo-steps", type=int, default=6000, help="env steps per on-policy (PPO) run")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of every setting; the best rate counts")
    args = parser.parse_args()

    import ray

    registry = joyrl_core.load_registry(extra_plugins=[("bench", BenchPlugin)])
    if "slow_noisy" in registry.names("env"):
        slow_env = ["general_cfg.env_name=slow_noisy", "env_cfg.inner_id=CartPole-v1",
                    f"env_cfg.step_latency_ms={STEP_LATENCY_MS}"]
    else:
        slow_env = ["general_cfg.env_name=bench_slow", "env_cfg.id=CartPole-v1"]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# {cpus} usable CPUs; load average {os.getloadavg()[0]:.2f}; python {sys.version.split()[0]}; "
          f"ray {ray.__version__}; env for part 1: {slow_env[0].split('=')[1]}", flush=True)
    rates: dict[tuple[str, str, str], list[float]] = {}

    def measure(part: str, name: str, unit: str, rate: float, note: str = "") -> None:
        rates.setdefault((part, name, unit), []).append(rate)
        print(f"{part:14s} {name:22s} {rate:8.1f} {unit} {note}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        env_base = common(tmp, args.episodes_env, 100) + slow_env + [
            "general_cfg.loggers=[]", "algo_cfg.value_layers=[{layer_dim: [64]}]", "algo_cfg.batch_size=32"]
        # Random CartPole episodes last about 21 steps; learning starts once a batch is stored.
        episodes = (LEARNER_BATCH + args.updates + 100) // 20
        learner_base = common(tmp, episodes, 200) + [
            "general_cfg.loggers=[]", "env_cfg.id=CartPole-v1", "general_cfg.mp_backend=ray",
            "general_cfg.n_workers=1", f"algo_cfg.batch_size={LEARNER_BATCH}",
            "algo_cfg.value_layers=[{layer_dim: [256]}, {layer_dim: [256]}]"]
        ppo_base = [
            "general_cfg.algo_name=PPO", "general_cfg.max_episode=-1", f"general_cfg.max_env_steps={args.ppo_steps}",
            "general_cfg.max_step=100", "general_cfg.seed=1", "general_cfg.save_fig=false",
            "general_cfg.online_eval=false", "general_cfg.model_save_fre=1000000", f"general_cfg.task_dir={tmp}",
            "general_cfg.loggers=[]", "general_cfg.mp_backend=ray", "env_cfg.n_envs=2", "algo_cfg.n_steps=64",
            "algo_cfg.batch_size=64", "algo_cfg.n_epochs=4", *slow_env]
        for _ in range(args.repeat):
            _, clock = run(registry, env_base + ["general_cfg.mp_backend=single"])
            measure("env-bound", "single", "env steps/s", clock.steps_per_sec())
        # One Ray session for every ray run: the backend uses a session it finds, and its start-up
        # (seconds) stays out of the comparison either way.
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING,
                 log_to_driver=False)
        try:
            for _ in range(args.repeat):  # rounds, so that a change of load hits every setting alike
                for n in (1, 2):
                    _, clock = run(registry, env_base + ["general_cfg.mp_backend=ray", f"general_cfg.n_workers={n}"])
                    measure("env-bound", f"ray, {n} worker(s)", "env steps/s", clock.steps_per_sec())
                for n in (1, 2):
                    _, clock = run(registry, ppo_base + [f"general_cfg.n_workers={n}"])
                    measure("on-policy", f"ppo ray, {n} worker(s)", "env steps/s", clock.steps_per_sec())
                for k in (1, 2):
                    summary, clock = run(registry, learner_base, n_learners=k)
                    rate = clock.steps_per_sec(from_steps=LEARNER_BATCH + 50)
                    measure("learner-bound", f"ray, {k} learner(s)", "updates/s", rate,
                            f"({summary.update_steps} update steps)")
        finally:
            ray.shutdown()

    print(f"\nbest of {args.repeat} (machine shared with other work; load average now {os.getloadavg()[0]:.2f})")
    print("| setting | backend | rate | unit | all runs |\n|---|---|---:|---|---|")
    best = {}
    for (part, name, unit), values in rates.items():
        best[name] = max(values)
        print(f"| {part} | {name} | {best[name]:.1f} | {unit} | {', '.join(f'{v:.1f}' for v in values)} |")
    workers = best["ray, 2 worker(s)"] / best["ray, 1 worker(s)"]
    learners = best["ray, 2 learner(s)"] / best["ray, 1 learner(s)"]
    print(f"workers 2 vs single: {best['ray, 2 worker(s)'] / best['single']:.2f}x")
    ppo = best["ppo ray, 2 worker(s)"] / best["ppo ray, 1 worker(s)"]
    print(f"summary: workers_2v1={workers:.2f} learners_2v1={learners:.2f} ppo_workers_2v1={ppo:.2f}")


if __name__ == "__main__":
    main()
