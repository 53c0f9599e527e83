#!/usr/bin/env python
"""JoyRL SAC and TD3 against Stable-Baselines3 on Pendulum-v1, side by side in one run.

Needs ``stable-baselines3`` (``pip install -c constraints.txt ".[bench]"`` or ``tox -e bench``) and
``joyrl-sac``. Both sides run with the same torch thread count (``--threads``, default 1, JoyRL's
default). One evaluation protocol for every contender: 10 greedy episodes on a separate, seeded env every
2,000 env steps; evaluation time is excluded from training time.

a. same hyper-parameters: SAC with RL-Zoo's Pendulum-v1 settings (20k env steps, lr 1e-3, SB3's
   defaults otherwise: batch 256, tau 0.005, gamma 0.99, learning_starts 100, 256x256, tuned entropy)
   on both sides: training wall time (target: JoyRL/SB3 <= 0.5);
b. time to solve (eval mean >= -200): SB3 SAC with the zoo settings (the runs of a.) against
   ``examples/pendulum_sac.yaml``: training time to the first solved eval (target ratio <= 0.5, every
   seed solves and is still >= -200 at the end);
c. TD3 with RL-Zoo's Pendulum-v1 settings (20k env steps, gamma 0.98, learning_starts 10000, Gaussian
   noise 0.1, lr 1e-3, 400x300) on both sides: whether each solves, and the wall-time ratio.

    python benchmarks/sac_vs_sb3.py [--seeds 1 2 3] [--threads 1]

The last line is machine-readable: ``summary: same_hparams_ratio=X time_to_solve_ratio=Y
solved_seeds=N/3 td3_solved_seeds=M/3``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np

import joyrl_core

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vs_sb3 import Result, learn_with_evals, median, run_joyrl  # noqa: E402  (the DQN benchmark's protocol)

REPO = Path(__file__).resolve().parent.parent
SAC_YAML = REPO / "examples" / "pendulum_sac.yaml"
ENV = "Pendulum-v1"
STEPS = 20_000
EVAL_EVERY = 2000
EVAL_EPISODES = 10
SOLVED = -200.0

# RL-Zoo's Pendulum-v1 settings (rl-baselines3-zoo, hyperparams/sac.yml and td3.yml).
ZOO_SAC = dict(learning_rate=1e-3)
ZOO_TD3 = dict(learning_rate=1e-3, gamma=0.98, buffer_size=200_000, learning_starts=10_000, train_freq=1,
               gradient_steps=1, policy_kwargs=dict(net_arch=[400, 300]))
TD3_NOISE_STD = 0.1


def run_sb3(algo: str, seed: int, threads: int) -> Result:
    import torch
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.noise import NormalActionNoise

    torch.set_num_threads(threads)
    env = gym.make(ENV)
    if algo == "SAC":
        model = SAC("MlpPolicy", env, seed=seed, verbose=0, device="cpu", **ZOO_SAC)
    else:
        noise = NormalActionNoise(np.zeros(1), TD3_NOISE_STD * np.ones(1))
        model = TD3("MlpPolicy", env, seed=seed, verbose=0, device="cpu", action_noise=noise, **ZOO_TD3)
    return learn_with_evals(model, STEPS, seed, ENV)


def zoo_as_joyrl(algo: str) -> list[str]:
    """The zoo settings in JoyRL's terms (SB3's defaults are JoyRL's defaults for the other keys;
    Pendulum's Box is [-2, 2], so SB3's noise std 0.1 in [-1, 1] units is JoyRL's noise_std 0.1)."""
    common = [f"general_cfg.algo_name={algo}", f"env_cfg.id={ENV}", "general_cfg.max_episode=-1",
              f"general_cfg.max_env_steps={STEPS}", "general_cfg.max_step=200",
              "general_cfg.model_save_fre=100000000", "algo_cfg.lr=0.001"]
    if algo == "SAC":
        return [*common, "algo_cfg.actor_layers=[{layer_dim: [256]}, {layer_dim: [256]}]",
                "algo_cfg.critic_layers=[{layer_dim: [256]}, {layer_dim: [256]}]"]
    return [*common, "algo_cfg.actor_layers=[{layer_dim: [400]}, {layer_dim: [300]}]",
            "algo_cfg.critic_layers=[{layer_dim: [400]}, {layer_dim: [300]}]", "algo_cfg.gamma=0.98",
            "algo_cfg.buffer_size=200000", "algo_cfg.learning_starts=10000", "algo_cfg.noise_std=0.1"]


def cell(solved: tuple[int, float] | None) -> tuple[str, str]:
    return ("-", "-") if solved is None else (str(solved[0]), f"{solved[1]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--threads", type=int, default=1, help="torch threads of both learners")
    args = parser.parse_args()
    try:
        import stable_baselines3
    except ImportError:
        sys.exit("stable-baselines3 is not installed: pip install -c constraints.txt '.[bench]' (or tox -e bench)")
    import torch

    print(f"torch threads: {args.threads} on both sides")
    print(f"machine: {os.cpu_count()} cores; torch {torch.__version__}, gymnasium {gym.__version__}, "
          f"stable-baselines3 {stable_baselines3.__version__}, joyrl-core {joyrl_core.__version__}")
    sb3, same, ours, sb3_td3, td3 = {}, {}, {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            sb3[seed] = run_sb3("SAC", seed, args.threads)
            same[seed] = run_joyrl(seed, zoo_as_joyrl("SAC"), None, tmp, args.threads)
            ours[seed] = run_joyrl(seed, [], SAC_YAML, tmp, args.threads)
            sb3_td3[seed] = run_sb3("TD3", seed, args.threads)
            td3[seed] = run_joyrl(seed, zoo_as_joyrl("TD3"), None, tmp, args.threads)
            print(f"seed {seed}: SAC sb3 {sb3[seed].train_time:.1f} s, joyrl same-hparams {same[seed].train_time:.1f} s, "
                  f"example solved at {ours[seed].solved_at(SOLVED)}; TD3 sb3 {sb3_td3[seed].train_time:.1f} s, "
                  f"joyrl {td3[seed].train_time:.1f} s", flush=True)

    print("\na. SAC, same hyper-parameters (RL-Zoo), training time without evaluation")
    print(f"{'seed':>4} {'SB3 s':>8} {'JoyRL s':>8} {'ratio':>6} {'SB3 final':>9} {'JoyRL final':>11}")
    for seed in args.seeds:
        print(f"{seed:>4} {sb3[seed].train_time:>8.1f} {same[seed].train_time:>8.1f} "
              f"{same[seed].train_time / sb3[seed].train_time:>6.2f} {sb3[seed].final_eval:>9.1f} "
              f"{same[seed].final_eval:>11.1f}")
    same_ratio = median([same[s].train_time / sb3[s].train_time for s in args.seeds])

    print(f"\nb. time to solve (first eval mean >= {SOLVED:.0f}), SB3 zoo vs {SAC_YAML.name}")
    print(f"{'seed':>4} {'SB3 steps':>10} {'SB3 s':>7} {'SB3 final':>9} {'JoyRL steps':>11} {'JoyRL s':>8} {'JoyRL final':>11}")
    sb3_times, our_times = [], []
    for seed in args.seeds:
        s_solved, o_solved = sb3[seed].solved_at(SOLVED), ours[seed].solved_at(SOLVED)
        (s_steps, s_time), (o_steps, o_time) = cell(s_solved), cell(o_solved)
        print(f"{seed:>4} {s_steps:>10} {s_time:>7} {sb3[seed].final_eval:>9.1f} {o_steps:>11} {o_time:>8} "
              f"{ours[seed].final_eval:>11.1f}")
        sb3_times.append(s_solved[1] if s_solved else sb3[seed].train_time)
        our_times.append(o_solved[1] if o_solved else float("inf"))
    solved = sum(ours[s].solved_at(SOLVED) is not None and ours[s].final_eval >= SOLVED for s in args.seeds)
    solve_ratio = median(our_times) / median(sb3_times)

    print("\nc. TD3, same hyper-parameters (RL-Zoo), training time without evaluation")
    print(f"{'seed':>4} {'SB3 s':>8} {'JoyRL s':>8} {'ratio':>6} {'SB3 final':>9} {'JoyRL final':>11} {'JoyRL solved at':>15}")
    for seed in args.seeds:
        at = td3[seed].solved_at(SOLVED)
        print(f"{seed:>4} {sb3_td3[seed].train_time:>8.1f} {td3[seed].train_time:>8.1f} "
              f"{td3[seed].train_time / sb3_td3[seed].train_time:>6.2f} {sb3_td3[seed].final_eval:>9.1f} "
              f"{td3[seed].final_eval:>11.1f} {'-' if at is None else at[0]:>15}")
    td3_solved = sum(td3[s].solved_at(SOLVED) is not None for s in args.seeds)
    td3_ratio = median([td3[s].train_time / sb3_td3[s].train_time for s in args.seeds])
    print(f"TD3 wall-time ratio (median): {td3_ratio:.3f}")

    n = len(args.seeds)
    print(f"\nsummary: same_hparams_ratio={same_ratio:.3f} time_to_solve_ratio={solve_ratio:.3f} "
          f"solved_seeds={solved}/{n} td3_solved_seeds={td3_solved}/{n}")


if __name__ == "__main__":
    main()
