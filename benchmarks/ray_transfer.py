"""What a ``ray`` worker's transitions cost to ship to the learners: bytes per transition and transfer time.

A rollout worker (``joyrl_backend_ray.actors.RolloutWorker``, built in this process) collects chunks of
transitions with its env and acting agent, as in a ``mp_backend: ray`` run. Each chunk is sent to a Ray
actor the way a worker's result reaches a learner (through Ray's object store, then rebuilt there):

- before: the arrays as collected (``TransitionLog.arrays()``: ``obs`` and ``next_obs`` of every row);
- after: what workers ship now, :func:`joyrl_core.pack_transitions` (each observation once, a stacked
  ``next_obs`` as its newest frame), unpacked on the receiving side.

Per setting it prints the observation (shape, dtype, bytes of one frame: the new pixels of one step),
bytes per transition shipped (the arrays) and pickled (what Ray serializes), the transfer time per
env step (pack and ``ray.put`` on the worker; fetch, unpack and each step's observations copied into a
ring on the receiver) and its share of an env step's cost from collection to the learner's buffer
(collect + transfer; the two sides run in different processes). It checks that every unpacked chunk equals the collected one.

Settings: Catch (10x5 bool), MinAtar Breakout (10x10x4 bool), ALE/Breakout-v5 with DeepMind's
preprocessing (4x84x84 uint8 stacks) with DQN's worker chunk (32 env steps) and with a PPO rollout
(8 envs x 128 steps). Settings whose env plugin is not installed are skipped.

    python benchmarks/ray_transfer.py [--chunks 20] [--rollouts 3]

The last line is ``summary: atari_bytes_per_transition_before=X after=Y frame=Z transfer_share_before=A after=B``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import pickle
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import joyrl_core
from joyrl_core import pack_transitions

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Setting:
    name: str
    env_name: str
    yaml: str
    overrides: tuple[str, ...]
    n_envs: int
    vector_steps: int
    frame_stack: int = 1  # frames per observation: the new pixels of a step are one frame


SETTINGS = [
    Setting("catch dqn chunk", "catch", "examples/catch_dqn_cnn.yaml", (), 1, 32),
    Setting("minatar dqn chunk", "minatar", "examples/minatar_breakout_dqn.yaml", (), 1, 32),
    Setting("atari dqn chunk", "atari", "examples/breakout_dqn.yaml", ("env_cfg.id=ALE/Breakout-v5",), 1, 32, 4),
    Setting("atari ppo rollout", "atari", "examples/breakout_ppo.yaml", ("env_cfg.id=ALE/Breakout-v5",), 8, 128, 4),
]


def worker_context(registry: joyrl_core.Registry, setting: Setting, task_dir: str) -> joyrl_core.RunContext:
    """A run context without a run, for a worker built in this process (as the Ray backend's tests do)."""
    from joyrl_core.outputs.task import create_task_dir
    from joyrl_core.run.envs import build_env

    overrides = [*setting.overrides, f"env_cfg.n_envs={setting.n_envs}", "general_cfg.seed=1",
                 "general_cfg.torch_threads=1", "general_cfg.device=cpu", f"general_cfg.task_dir={task_dir}",
                 "general_cfg.loggers=[]"]
    cfg = joyrl_core.resolve_config(registry, REPO / setting.yaml, overrides)
    component = registry.get("env", cfg.general.env_name)
    probe = build_env(component.factory, component.name, cfg.env, cfg.general.max_step, [])
    spec = joyrl_core.EnvSpec.from_env(probe, setting.name)
    probe.close()
    task = create_task_dir(task_dir, "train", setting.env_name, cfg.general.algo_name)
    return joyrl_core.RunContext(config=cfg, registry=registry, task=task, env_spec=spec, device="cpu",
                                 log=logging.getLogger("ray_transfer"))


class Receiver:
    """The learner's side: fetch a shipped chunk from the object store and take it in vector step by
    vector step, each step's observations copied into a preallocated ring (what a buffer's push does)."""

    def __init__(self):
        self.ring: dict[str, np.ndarray] = {}

    def take(self, refs: list, n_envs: int) -> tuple[float, str]:
        import ray

        start = time.perf_counter()
        data = ray.get(refs[0])
        packed = isinstance(data, joyrl_core.PackedTransitions)
        n = len(data) if packed else len(data["rewards"])
        for row in range(0, n, n_envs):
            step = data.unpack(row, row + n_envs) if packed else {key: data[key][row : row + n_envs] for key in OBS}
            for key in OBS:
                ring = self.ring.get(key)
                if ring is None or ring.shape[1:] != step[key].shape[1:] or ring.dtype != step[key].dtype:
                    ring = self.ring[key] = np.zeros((1024, *step[key].shape[1:]), step[key].dtype)
                ring[row % 1024 : row % 1024 + len(step[key])] = step[key]
        took = time.perf_counter() - start
        return took, digest(data.unpack() if packed else data)


OBS = ("obs", "next_obs")


def digest(arrays: dict) -> str:
    """A hash of every column's dtype, shape and bytes."""
    h = hashlib.blake2b()
    for key in sorted(k for k in arrays if k != "extras"):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def measure(setting: Setting, run: joyrl_core.RunContext, receiver, calls: int) -> dict[str, float]:
    import ray

    from joyrl_backend_ray.actors import RolloutWorker

    worker = RolloutWorker(run, 0)
    worker.version = 0  # act with the worker's own initial weights
    rows = collect_s = 0.0
    shipped = {"before": [0.0, 0, 0], "after": [0.0, 0, 0]}  # seconds, array bytes, pickled bytes
    for call in range(calls):
        start = time.perf_counter()
        worker.collect(0, [], call * setting.vector_steps * setting.n_envs, setting.vector_steps)
        collect_s += time.perf_counter() - start
        arrays = worker.sink.arrays()
        rows += len(arrays["rewards"])
        obs = arrays["obs"]
        for label in ("before", "after"):
            start = time.perf_counter()
            payload = arrays if label == "before" else pack_transitions(arrays, setting.n_envs)
            ref = ray.put(payload)
            sent = time.perf_counter() - start
            took, got = ray.get(receiver.take.remote([ref], setting.n_envs))
            if got != digest(arrays):
                raise SystemExit(f"{setting.name}: the {label} chunk arrived different from the collected one")
            nbytes = payload.nbytes if label == "after" else sum(
                a.nbytes for key, a in arrays.items() if key != "extras")
            shipped[label][0] += sent + took
            shipped[label][1] += nbytes
            shipped[label][2] += len(pickle.dumps(payload, protocol=5))
            del ref
    worker.close()
    out = {"rows": rows, "obs": f"{obs.shape[1:]} {obs.dtype}", "frame_bytes": obs[0].nbytes // setting.frame_stack,
           "step_ms": 1000 * collect_s / rows}
    for label, (seconds, nbytes, pickled) in shipped.items():
        out[f"{label}_bytes"] = nbytes / rows
        out[f"{label}_pickled"] = pickled / rows
        out[f"{label}_ms"] = 1000 * seconds / rows
        out[f"{label}_share"] = seconds / (seconds + collect_s)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20, help="worker calls per DQN-chunk setting")
    parser.add_argument("--rollouts", type=int, default=3, help="worker calls per PPO-rollout setting")
    args = parser.parse_args()

    import ray

    registry = joyrl_core.load_registry()
    envs = set(registry.names("env"))
    print(f"# python {sys.version.split()[0]}; ray {ray.__version__}", flush=True)
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING,
             log_to_driver=False)
    results: dict[str, dict] = {}
    try:
        receiver = ray.remote(Receiver).remote()
        ray.get(receiver.take.remote([ray.put({"rewards": np.zeros(0)})], 1))
        with tempfile.TemporaryDirectory() as tmp:
            for setting in SETTINGS:
                if setting.env_name not in envs:
                    print(f"# {setting.name}: skipped (env {setting.env_name!r} not installed)", flush=True)
                    continue
                calls = args.rollouts if setting.vector_steps * setting.n_envs > 256 else args.chunks
                run = worker_context(registry, setting, tmp)
                results[setting.name] = r = measure(setting, run, receiver, calls)
                print(f"# {setting.name}: {r['rows']:.0f} transitions, {r['step_ms']:.3f} ms collecting per env step",
                      flush=True)
    finally:
        ray.shutdown()

    print("\nnew bytes/step: what one env step adds (one frame of a stack, else the whole observation); "
          "transfer: pack, ray.put, fetch, and each step's observations rebuilt into a preallocated ring")
    print("| setting | obs | new bytes/step | shipped B/transition before -> after | pickled before -> after "
          "| transfer ms/env step before -> after | transfer share of collect + transfer before -> after |")
    print("|---|---|---:|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['obs']} | {r['frame_bytes']} | {r['before_bytes']:.0f} -> {r['after_bytes']:.0f} "
              f"({r['before_bytes'] / r['frame_bytes']:.2f}x -> {r['after_bytes'] / r['frame_bytes']:.2f}x) "
              f"| {r['before_pickled']:.0f} -> {r['after_pickled']:.0f} "
              f"| {r['before_ms']:.4f} -> {r['after_ms']:.4f} "
              f"| {100 * r['before_share']:.1f}% -> {100 * r['after_share']:.1f}% |")
    atari = results.get("atari dqn chunk")
    if atari:
        print(f"summary: atari_bytes_per_transition_before={atari['before_bytes']:.0f} after={atari['after_bytes']:.0f} "
              f"frame={atari['frame_bytes']} transfer_share_before={atari['before_share']:.3f} "
              f"after={atari['after_share']:.3f}")


if __name__ == "__main__":
    main()
