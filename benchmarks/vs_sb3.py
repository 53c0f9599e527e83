#!/usr/bin/env python
"""JoyRL DQN against Stable-Baselines3 DQN on CartPole-v1, side by side in one run.

Needs ``stable-baselines3`` (``pip install -c constraints.txt ".[bench]"`` or ``tox -e bench``); it installs
nothing itself. Upstream ``joyrl`` 0.6.8 is not a column: it pins ray 2.6.3, gymnasium 0.29.1, numpy 1.26
and psutil 0.3.14, which cannot be installed beside this project's dependencies on Python 3.11.

Each runs as installed: SB3 with torch's default thread count (all cores), JoyRL with its default
``torch_threads: 1``; ``--threads N`` gives both N. One evaluation protocol for every contender: 10 greedy
episodes on a separate, seeded env every 2,000 env steps; evaluation time is excluded from training time.

a. same hyper-parameters: SB3 and JoyRL both with the RL-Zoo CartPole-v1 hyper-parameters, same env
   steps: training wall time and env steps/s (target: JoyRL/SB3 wall time <= 0.5);
b. time to solve: SB3 (zoo) against ``examples/cartpole_dqn_fast.yaml``: env steps and training time
   until the eval mean first reaches 475, and the final eval mean (target ratio <= 0.4, all seeds solve
   and stay solved);
c. framework overhead: the single backend's env steps/s with a random policy over raw gymnasium
   steps/s, single env and ``n_envs: 8`` (target >= 0.6 single).

    python benchmarks/vs_sb3.py [--seeds 1 2 3] [--steps 50000] [--threads N]

The last line is machine-readable: ``summary: same_hparams_ratio=X time_to_solve_ratio=Y
overhead_ratio=Z solved_seeds=N/3 final_solved=N/3``.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np

import joyrl_core

REPO = Path(__file__).resolve().parent.parent
FAST_YAML = REPO / "examples" / "cartpole_dqn_fast.yaml"
EVAL_EVERY = 2000
EVAL_EPISODES = 10
SOLVED = 475.0

# RL-Zoo's CartPole-v1 DQN hyper-parameters (rl-baselines3-zoo, hyperparams/dqn.yml).
ZOO = dict(
    learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000, gamma=0.99,
    target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
    exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[256, 256]),
)


@dataclass
class Result:
    train_time: float = 0.0
    env_steps: int = 0
    evals: list[tuple[int, float, float]] = field(default_factory=list)  # env steps, train time, mean

    @property
    def steps_per_sec(self) -> float:
        return self.env_steps / self.train_time

    def solved_at(self, threshold: float = SOLVED) -> tuple[int, float] | None:
        """The first evaluation at or above ``threshold``: (env steps, train time), or ``None``."""
        for steps, train_time, mean in self.evals:
            if mean >= threshold:
                return steps, train_time
        return None

    @property
    def final_eval(self) -> float:
        return self.evals[-1][2] if self.evals else float("nan")


def greedy_eval(predict, seed: int, env_id: str = "CartPole-v1") -> float:
    """Mean reward of ``EVAL_EPISODES`` greedy episodes on a fresh ``env_id`` seeded with ``seed``: the one
    evaluation protocol of every benchmark against SB3."""
    env = gym.make(env_id)
    rewards = []
    obs, _ = env.reset(seed=seed)
    for _ in range(EVAL_EPISODES):
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(predict(obs))
            total += float(reward)
            done = terminated or truncated
        rewards.append(total)
        obs, _ = env.reset()
    env.close()
    return float(np.mean(rewards))


def learn_with_evals(model, total_timesteps: int, seed: int, env_id: str = "CartPole-v1", predict=None,
                     eval_every: int = EVAL_EVERY, stop_at: float | None = None) -> Result:
    """Train the SB3 ``model``, evaluating it with :func:`greedy_eval` each time ``eval_every`` more env
    steps have passed (vectorized envs step several at once); evaluation time is excluded from
    ``train_time``. ``stop_at``: end training at the first evaluation that reaches it."""
    from stable_baselines3.common.callbacks import BaseCallback

    result = Result()
    if predict is None:
        def predict(obs):
            return model.predict(obs, deterministic=True)[0]

    class Evaluate(BaseCallback):
        def __init__(self):
            super().__init__()
            self.start = time.perf_counter()
            self.paused = 0.0
            self.next_eval = eval_every

        def _on_step(self) -> bool:
            if self.num_timesteps < self.next_eval:
                return True
            self.next_eval += eval_every
            t0 = time.perf_counter()
            mean = greedy_eval(predict, seed + 10_000, env_id)
            result.evals.append((self.num_timesteps, t0 - self.start - self.paused, mean))
            self.paused += time.perf_counter() - t0
            return not (stop_at is not None and mean >= stop_at)

    callback = Evaluate()
    model.learn(total_timesteps=total_timesteps, callback=callback)
    result.train_time = time.perf_counter() - callback.start - callback.paused
    result.env_steps = model.num_timesteps
    return result


def run_sb3(seed: int, steps: int, threads: int) -> Result:
    import torch
    from stable_baselines3 import DQN

    # JoyRL sets its torch_threads in this process; give SB3 its own count back.
    torch.set_num_threads(threads)
    model = DQN("MlpPolicy", gym.make("CartPole-v1"), seed=seed, verbose=0, device="cpu", **ZOO)
    return learn_with_evals(model, steps, seed, predict=lambda o: int(model.predict(o, deterministic=True)[0]))


def run_joyrl(seed: int, overrides: list[str], yaml: Path | None, task_dir: str, threads: int | None,
              eval_every: int = EVAL_EVERY) -> Result:
    registry = joyrl_core.load_registry()
    cfg = joyrl_core.resolve_config(registry, yaml, [
        *overrides, *([f"general_cfg.torch_threads={threads}"] if threads else []),
        f"general_cfg.seed={seed}", f"general_cfg.task_dir={task_dir}", "general_cfg.loggers=[csv]",
        "general_cfg.online_eval=true", f"general_cfg.online_eval_episode={EVAL_EPISODES}",
        f"general_cfg.eval_every_steps={eval_every}", "general_cfg.save_fig=false",
    ])
    summary, task = joyrl_core.start_run(cfg, registry)
    result = Result(train_time=summary.wall_time - summary.eval_time, env_steps=summary.env_steps)
    with open(task.results / "evals.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            result.evals.append((int(row["env_steps"]), float(row["train_time"]), float(row["mean_reward"])))
    return result


def zoo_as_joyrl(steps: int) -> list[str]:
    """The zoo hyper-parameters in JoyRL's terms.

    SB3 counts target_update_interval in env steps and trains 128 gradient steps every 256 env steps, so
    its target network is synced between training bursts, never inside one: target_update = 128
    gradient steps does the same. Epsilon decays linearly from 1.0 to 0.04 over 16% of the steps.
    """
    return [
        "algo_cfg.lr=0.0023", "algo_cfg.batch_size=64", "algo_cfg.buffer_size=100000",
        "algo_cfg.learning_starts=1000", "algo_cfg.gamma=0.99", "algo_cfg.target_update=128",
        "algo_cfg.train_freq=256", "algo_cfg.gradient_steps=128", "algo_cfg.epsilon_schedule=linear",
        "algo_cfg.epsilon_start=1.0", "algo_cfg.epsilon_end=0.04", f"algo_cfg.epsilon_decay={int(0.16 * steps)}",
        "algo_cfg.loss=huber", "algo_cfg.max_grad_norm=10",
        "algo_cfg.value_layers=[{layer_dim: [256]}, {layer_dim: [256]}]",
        "general_cfg.max_episode=-1", f"general_cfg.max_env_steps={steps}", "general_cfg.max_step=500",
        "general_cfg.model_save_fre=100000000",
    ]


def raw_gym_rate(n: int = 30_000) -> float:
    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(n):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(2)))
        if terminated or truncated:
            env.reset()
    return n / (time.perf_counter() - start)


def loop_rate(task_dir: str, n_envs: int, episodes: int) -> float:
    registry = joyrl_core.load_registry()
    cfg = joyrl_core.resolve_config(registry, None, [
        "general_cfg.algo_name=RANDOM", f"general_cfg.max_episode={episodes}", "general_cfg.max_step=500",
        "general_cfg.loggers=[]", "general_cfg.save_fig=false", f"general_cfg.task_dir={task_dir}",
        f"env_cfg.n_envs={n_envs}",
    ])
    summary, _ = joyrl_core.start_run(cfg, registry)
    return summary.env_steps / summary.wall_time


def median(values):
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--steps", type=int, default=50_000, help="env steps of the same-hyper-parameter runs")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of both learners (default: each its own default)")
    args = parser.parse_args()
    try:
        import stable_baselines3
    except ImportError:
        sys.exit("stable-baselines3 is not installed: pip install -c constraints.txt '.[bench]' (or tox -e bench)")

    sb3_threads = args.threads or __import__("torch").get_num_threads()
    print(f"torch threads: SB3 {sb3_threads}, JoyRL {args.threads or 'its default torch_threads (1)'}")
    print(f"machine: {os.cpu_count()} cores; torch {__import__('torch').__version__}, gymnasium {gym.__version__}, "
          f"stable-baselines3 {stable_baselines3.__version__}, joyrl-core {joyrl_core.__version__}")
    sb3, same, fast = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            sb3[seed] = run_sb3(seed, args.steps, sb3_threads)
            same[seed] = run_joyrl(seed, zoo_as_joyrl(args.steps), None, tmp, args.threads)
            fast[seed] = run_joyrl(seed, [], FAST_YAML, tmp, args.threads)
            print(f"seed {seed}: sb3 {sb3[seed].train_time:.1f} s, joyrl same-hparams {same[seed].train_time:.1f} s, "
                  f"joyrl fast solved at {fast[seed].solved_at()}", flush=True)
        raw = raw_gym_rate()
        single = loop_rate(tmp, 1, 1500)
        vector = loop_rate(tmp, 8, 1500)
        raw_after = raw_gym_rate()

    print("\na. same hyper-parameters (RL-Zoo), training time without evaluation")
    print(f"{'seed':>4} {'SB3 s':>8} {'JoyRL s':>8} {'ratio':>6} {'SB3 steps/s':>12} {'JoyRL steps/s':>14}")
    for seed in args.seeds:
        print(f"{seed:>4} {sb3[seed].train_time:>8.1f} {same[seed].train_time:>8.1f} "
              f"{same[seed].train_time / sb3[seed].train_time:>6.2f} {sb3[seed].steps_per_sec:>12.0f} "
              f"{same[seed].steps_per_sec:>14.0f}")
    same_ratio = median([same[s].train_time / sb3[s].train_time for s in args.seeds])

    print("\nb. time to solve (first eval mean >= 475), SB3 zoo vs cartpole_dqn_fast.yaml")
    print(f"{'seed':>4} {'SB3 steps':>10} {'SB3 s':>7} {'SB3 final':>9} {'JoyRL steps':>11} {'JoyRL s':>8} {'JoyRL final':>11}")
    sb3_times, our_times = [], []
    for seed in args.seeds:
        s_solved, o_solved = sb3[seed].solved_at(), fast[seed].solved_at()
        cells = []
        for solved in (s_solved, o_solved):
            cells.append(("-", "-") if solved is None else (str(solved[0]), f"{solved[1]:.1f}"))
        print(f"{seed:>4} {cells[0][0]:>10} {cells[0][1]:>7} {sb3[seed].final_eval:>9.1f} "
              f"{cells[1][0]:>11} {cells[1][1]:>8} {fast[seed].final_eval:>11.1f}")
        sb3_times.append(s_solved[1] if s_solved else sb3[seed].train_time)
        our_times.append(o_solved[1] if o_solved else float("inf"))
    solved = sum(fast[s].solved_at() is not None for s in args.seeds)
    final_solved = sum(fast[s].final_eval >= SOLVED for s in args.seeds)
    solve_ratio = median(our_times) / median(sb3_times)

    print("\nc. framework overhead, random policy")
    print(f"raw gymnasium: {raw:.0f} steps/s (again at the end: {raw_after:.0f})")
    print(f"single backend, 1 env: {single:.0f} steps/s = {single / raw:.2f} of raw")
    print(f"single backend, n_envs 8: {vector:.0f} steps/s = {vector / raw:.2f} of raw single-env stepping")
    print(f"\nsummary: same_hparams_ratio={same_ratio:.3f} time_to_solve_ratio={solve_ratio:.3f} "
          f"overhead_ratio={single / raw:.3f} solved_seeds={solved}/{len(args.seeds)} "
          f"final_solved={final_solved}/{len(args.seeds)}")


if __name__ == "__main__":
    main()
