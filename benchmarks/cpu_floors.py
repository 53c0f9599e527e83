#!/usr/bin/env python
"""Where a gradient step's CPU time goes, JoyRL against Stable-Baselines3, on one torch thread.

Every figure is the thread CPU time (``time.thread_time``) of one call, the best of several rounds in
which the contenders take turns: on a shared machine that counts the time this thread computed, not the
time it waited for a core (cache and memory contention from other processes still show). Needs
``stable-baselines3`` (the ``bench`` extra); ``dqn`` also ale-py (``plugins/joyrl-envs-atari``).

sac: one SAC gradient step on Pendulum-v1 (batch 256, RL-Zoo's network 256x256) split into

- GEMMs: the 256x256x256 matrix products of the step, counted (ours 16: actor on s' 1, target critics 2,
  critics forward 2 and backward 4, actor on s 1, critics at (s, a~) forward 2 and their input
  gradients 2, actor backward 2; SB3 18: it also computes the critics' weight gradients of the actor
  loss) times one product's time measured alone;
- width-independent: the same step with 8-unit layers, where the products cost nothing (op dispatch,
  autograd bookkeeping, Python, optimizer calls, sampling);
- the rest: what is left, the step's elementwise passes and the products on the step's real working set
  (weights, moments and activations of five networks do not stay in cache the way one product does).

  The GEMMs alone bound ours/SB3 from below: even with no other cost ours would take
  16 x GEMM / SB3's whole step.

dqn: one DQN gradient step with RL-Zoo's Atari settings (Nature CNN, batch 32, Huber, grad norm 10,
Adam), and what an env step of ALE/Breakout-v5 with DeepMind's preprocessing costs around it (one
greedy action at batch 1, the env with its wrappers): ours (channels-last, DQN's ``fast_path``) and
SB3's (channels-first, its AtariWrapper and VecFrameStack). A step of 4 env steps is one gradient step,
so an env step costs ``train / 4 + act + env``; the floor of the speed ratio SB3/ours at equal
arithmetic is that cost with every non-convolution part of ours at zero. A gradient step is
1.09 G multiply-adds (target and online forward passes 0.30 G each, backward 0.49 G without the input
gradient of the first convolution).

    python benchmarks/cpu_floors.py [--algos sac dqn] [--rounds 8] [--default-malloc]

Measured 2026-12-05 on this project's 2-core AMD EPYC (Zen 5, AVX-512), ms. At load average 1.6 (the
machine nearly to itself), both sides with keep_freed_memory:

    sac   GEMM 256^3 0.301
          ours  total  9.01 = GEMMs 16 x 0.301 = 4.82 + width-independent 1.38 + the rest 2.81
          SB3   total 10.38 = GEMMs 18 x 0.301 = 5.43 + width-independent 2.13 + the rest 2.82
          ours/SB3 0.87; GEMMs alone 4.82 / 10.38 = 0.46; GEMMs and the rest 7.63 / 10.38 = 0.73

    dqn   train ours (fast path) 20.04 (109 GFLOP/s)   train ours (fast_path: off) 25.92   train SB3 26.12
          act ours 0.33   act SB3 0.42   env ours 0.33   env SB3 0.40   env ale-py AtariVectorEnv 0.29
          per env step: ours 5.67, SB3 7.36 -> 1.30; with ours' env and acting free: 1.47

At load average 14-16 from other jobs (every figure inflated alike; thread CPU time still pays for a
shared cache):

    sac   GEMM 256^3 0.317
          ours  total 11.74 = GEMMs 16 x 0.317 = 5.06 + width-independent 2.60 + the rest 4.08
          SB3   total 14.16 = GEMMs 18 x 0.317 = 5.70 + width-independent 3.82 + the rest 4.64
          ours/SB3 0.83; GEMMs alone 5.06 / 14.16 = 0.36; GEMMs and the rest 9.15 / 14.16 = 0.65
          (an earlier run at load 12: 9.89 vs 12.03, ratio 0.82, floors 0.40 and 0.66)

    dqn   train ours (fast path)  22.69 (96 GFLOP/s)   train ours (fast_path: off) 30.56   train SB3 30.63
          act ours 0.44   act SB3 0.63   env ours 0.35   env SB3 0.45   env ale-py AtariVectorEnv 0.30
          per env step: ours 6.47, SB3 8.74 -> 1.35; with ours' env and acting free: 1.54
          (--default-malloc; load 16. With keep_freed_memory on both sides, at load 4-8: train ours 20.77
          (105 GFLOP/s), fast_path: off 26.19, SB3 27.34; act 0.39 / 0.50; env 0.34 / 0.42 / 0.31;
          per env step ours 5.92, SB3 7.75 -> 1.31; with ours' env and acting free: 1.49)

SAC's <= 0.5 (issue 14 a) needs ours below its own GEMMs plus their working set's cache cost (0.65-0.73
of SB3's step; the GEMMs alone are 0.36-0.46 of it): not reachable with the same arithmetic; what is left to take is the width-independent part
(1.4-2.6 ms: ~200 torch ops and their autograd nodes a step; the three Adam calls' Python is ~0.1 ms of it). DQN's >= 1.5 env steps/s (issue 15 b) needs an env step under
8.74 / 1.5 = 5.83 ms while the gradient step alone is 22.69 / 4 = 5.67 (7.75 / 1.5 = 5.17 against
20.77 / 4 = 5.19 with the allocator kept on both sides): reachable on one core only with env and acting
at ~0.16 ms together or less (they take 0.73-0.79 here, and ale-py's own C++ preprocessing is 0.30 for
the env alone). With a second core free, DQN's fast path computes the target network's pass (~4.8 ms, a
fifth of the step) on a helper thread beside the online pass: by estimate (22.69 - 4.8) / 4 + 0.79 =
5.26 ms of wall clock per env step on an idle machine, under that line (not measured idle here); CPU
seconds per env step stay as above. ``general_cfg.keep_freed_memory`` takes ~10% off a gradient step
(page faults of freed megabyte tensors) for whichever side runs in a process that has it: a JoyRL run
sets it, and SB3 runs after it in ``atari_vs_sb3.py``'s process have it too.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np

SAC_GEMMS = {"ours": 16, "SB3": 18}
NATURE_MACS_PER_SAMPLE = 9_345_024  # conv 3.28M + 2.65M + 1.81M, linear 1.61M, head 2k
DQN_BATCH = 32


def best_times(calls: dict[str, Callable[[], object]], rounds: int, repeat: dict[str, int]) -> dict[str, float]:
    """Milliseconds of thread CPU time per call: the best of ``rounds`` rounds, the calls taking turns."""
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(rounds):
        for name, call in calls.items():
            n = repeat.get(name, 10)
            start = time.thread_time()
            for _ in range(n):
                call()
            best[name] = min(best[name], (time.thread_time() - start) / n * 1e3)
    return best


def sac_calls() -> dict[str, Callable[[], object]]:
    import gymnasium as gym
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.logger import configure

    from joyrl_core import EnvSpec, ReplayQueue
    from joyrl_sac.config import SACConfig
    from joyrl_sac.sac import SACAgent

    env = gym.make("Pendulum-v1")
    spec = EnvSpec.from_env(env, "Pendulum-v1")
    rng = np.random.default_rng(0)
    rows = 5000
    obs, next_obs = rng.standard_normal((rows, 3)).astype(np.float32), rng.standard_normal((rows, 3)).astype(np.float32)
    actions, rewards = rng.uniform(-2, 2, (rows, 1)).astype(np.float32), rng.standard_normal(rows).astype(np.float32)
    buffer = ReplayQueue(100_000, spec, seed=0)
    for i in range(rows):
        buffer.push(obs[i], actions[i], rewards[i], next_obs[i], False)

    def ours(width: int) -> Callable[[], object]:
        layers = [{"layer_dim": [width]}, {"layer_dim": [width]}]
        agent = SACAgent(SACConfig(lr=1e-3, learning_starts=0, actor_layers=layers, critic_layers=layers), spec, "cpu", 0)
        env_steps = iter(range(1, 10**9))
        return lambda: agent.update(buffer, next(env_steps))

    def sb3(width: int) -> Callable[[], object]:
        model = SAC("MlpPolicy", env, learning_rate=1e-3, learning_starts=0, device="cpu", seed=0,
                    policy_kwargs=dict(net_arch=[width, width]))
        replay = model.replay_buffer
        replay.observations[:rows, 0], replay.next_observations[:rows, 0] = obs, next_obs
        replay.actions[:rows, 0], replay.rewards[:rows, 0] = actions, rewards
        replay.pos = rows
        model.set_logger(configure(None, [""]))
        model._current_progress_remaining = 1.0
        return lambda: model.train(gradient_steps=1, batch_size=256)

    x, w = torch.randn(256, 256), torch.randn(256, 256)
    return {"GEMM 256^3": lambda: torch.mm(x, w), "ours 256": ours(256), "SB3 256": sb3(256),
            "ours 8": ours(8), "SB3 8": sb3(8)}


def part_sac(rounds: int) -> None:
    ms = best_times(sac_calls(), rounds, {"GEMM 256^3": 100, "ours 8": 30, "SB3 8": 30})
    gemm = ms["GEMM 256^3"]
    print(f"\nsac: one gradient step, Pendulum-v1, batch 256, 256x256 (ms of thread CPU time)\n  GEMM 256^3 {gemm:.3f}")
    for side, n in SAC_GEMMS.items():
        total, small = ms[f"{side} 256"], ms[f"{side} 8"]
        print(f"  {side:<5} total {total:6.2f} = GEMMs {n} x {gemm:.3f} = {n * gemm:.2f} + width-independent "
              f"{small:.2f} + the rest {total - n * gemm - small:.2f}")
    ours, sb3 = ms["ours 256"], ms["SB3 256"]
    floor = SAC_GEMMS["ours"] * gemm
    rest = ours - SAC_GEMMS["ours"] * gemm - ms["ours 8"]
    print(f"  ours/SB3 {ours / sb3:.2f}; GEMMs alone {floor:.2f} / {sb3:.2f} = {floor / sb3:.2f}; "
          f"GEMMs and the rest {floor + rest:.2f} / {sb3:.2f} = {(floor + rest) / sb3:.2f}")


def dqn_calls() -> tuple[dict[str, Callable[[], object]], dict[str, Callable[[], object]]]:
    """Gradient-step and acting calls (thread CPU time), and env steps (process CPU time: ALE may use threads)."""
    import ale_py
    import gymnasium as gym
    import torch
    from stable_baselines3 import DQN
    from stable_baselines3.common.atari_wrappers import AtariWrapper
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack

    from joyrl_core import EnvSpec, LayerConfig, ReplayQueue
    from joyrl_dqn import DQNConfig
    from joyrl_dqn import fast
    from joyrl_dqn.dqn import DQNAgent
    from joyrl_envs_atari import AtariConfig, make_atari_env

    gym.register_envs(ale_py)
    fast._spare_core = lambda: False  # CPU time of the arithmetic: no helper thread
    rng = np.random.default_rng(0)
    rows = 2000
    frames = rng.integers(0, 256, (rows + 1, 4, 84, 84), dtype=np.uint8)
    actions = rng.integers(4, size=rows)
    spec = EnvSpec("breakout", (4, 84, 84), np.dtype(np.uint8), "discrete", n_actions=4)
    buffer = ReplayQueue(rows, spec, seed=0)
    for i in range(rows):
        buffer.push(frames[i], actions[i], 0.0, frames[i + 1], False)
    config = DQNConfig(value_layers=[LayerConfig(layer_type="nature_cnn"), LayerConfig(layer_dim=[512])],
                       batch_size=DQN_BATCH, lr=1e-4, train_freq=4, target_update=250, loss="huber",
                       max_grad_norm=10)

    def ours(agent_class) -> tuple[Callable[[], object], Callable[[], object]]:
        agent = agent_class(config, spec, "cpu", 0)
        env_steps = iter(range(4, 10**9, 4))
        one = frames[:1]
        return lambda: agent.update(buffer, next(env_steps)), lambda: agent.predict_action(one)

    venv = VecFrameStack(DummyVecEnv([lambda: AtariWrapper(gym.make("ALE/Breakout-v5", frameskip=1))]), 4)
    model = DQN("CnnPolicy", venv, buffer_size=rows, learning_rate=1e-4, batch_size=DQN_BATCH, learning_starts=0,
                target_update_interval=1000, train_freq=4, device="cpu", seed=0)
    replay = model.replay_buffer
    replay.observations[:rows, 0] = frames[:rows]  # SB3 transposes the frames channels-first (VecTransposeImage)
    replay.next_observations[:rows, 0] = frames[1:]
    replay.actions[:rows, 0, 0] = actions
    replay.pos = rows
    model.set_logger(configure(None, [""]))
    model._current_progress_remaining = 1.0

    ours_train, ours_act = ours(fast.FastDQNAgent)
    plain_train, plain_act = ours(DQNAgent)
    compute = {
        "train ours (fast path)": ours_train, "train ours (fast_path: off)": plain_train,
        "train SB3": lambda: model.train(gradient_steps=1, batch_size=DQN_BATCH),
        "act ours": ours_act, "act ours (fast_path: off)": plain_act,
        "act SB3": lambda: model.predict(frames[:1], deterministic=True),
    }
    ours_env = make_atari_env(AtariConfig(id="ALE/Breakout-v5"), None)
    ours_env.reset(seed=0)
    venv.seed(0)
    venv.reset()
    vector = ale_py.AtariVectorEnv("breakout", 1, num_threads=1, repeat_action_probability=0.25)
    vector.reset(seed=0)
    one_action = np.zeros(1, dtype=np.int64)

    def ours_step() -> None:
        *_, terminated, truncated, _ = ours_env.step(int(rng.integers(4)))
        if terminated or truncated:
            ours_env.reset()

    def sb3_step() -> None:
        venv.step(rng.integers(4, size=1))

    def vector_step() -> None:
        one_action[0] = rng.integers(4)
        vector.step(one_action)

    envs = {"env ours (gymnasium wrappers)": ours_step, "env SB3 (AtariWrapper, VecFrameStack)": sb3_step,
            "env ale-py AtariVectorEnv (C++)": vector_step}
    return compute, envs


def part_dqn(rounds: int) -> None:
    compute, envs = dqn_calls()
    ms = best_times(compute, rounds, {name: 50 for name in compute if name.startswith("act")})
    best = dict.fromkeys(envs, float("inf"))
    for _ in range(rounds):
        for name, step in envs.items():
            start = time.process_time()
            for _ in range(200):
                step()
            best[name] = min(best[name], (time.process_time() - start) / 200 * 1e3)
    ms.update(best)
    macs = 3 * NATURE_MACS_PER_SAMPLE + (NATURE_MACS_PER_SAMPLE - 3_276_800)  # 2 forward, backward 2x less conv1's input grad
    flops = 2 * macs * DQN_BATCH
    print(f"\ndqn: Nature CNN, batch {DQN_BATCH}, RL-Zoo Atari settings (ms of CPU time per call; "
          f"a gradient step is {flops / 1e9:.2f} GFLOP)")
    for name, value in ms.items():
        rate = f"  {flops / value / 1e6:6.1f} GFLOP/s" if name.startswith("train") else ""
        print(f"  {name:<40} {value:7.3f}{rate}")
    ours = ms["train ours (fast path)"] / 4 + ms["act ours"] + ms["env ours (gymnasium wrappers)"]
    sb3 = ms["train SB3"] / 4 + ms["act SB3"] + ms["env SB3 (AtariWrapper, VecFrameStack)"]
    train_only = ms["train ours (fast path)"] / 4
    print(f"  per env step: ours {ours:.2f} ms, SB3 {sb3:.2f} ms -> SB3/ours {sb3 / ours:.2f} (env steps/s ours/SB3); "
          f"with ours' env and acting free: {sb3 / train_only:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["sac", "dqn"], choices=["sac", "dqn"])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc as it is (a JoyRL run sets general_cfg.keep_freed_memory)")
    args = parser.parse_args()
    import torch

    from joyrl_core.run.context import keep_freed_memory

    torch.set_num_threads(1)
    # Process-wide, so both sides get the same allocator.
    kept = False if args.default_malloc else keep_freed_memory()
    print(f"torch {torch.__version__}, 1 thread; CPU time of this process, best of {args.rounds} rounds; "
          f"malloc keeps freed memory: {kept}")
    if "sac" in args.algos:
        part_sac(args.rounds)
    if "dqn" in args.algos:
        part_dqn(args.rounds)


if __name__ == "__main__":
    sys.exit(main())
