"""The processes of a ``ray`` run: rollout workers and learner replicas (plain classes; Ray wraps them).

A :class:`RolloutWorker` owns ``env_cfg.n_envs`` copies of the env and an acting copy of the agent. Each
``collect`` call takes a number of vectorized steps with the weights version the driver names (fetched
only when it changed) and returns two objects: small episode stats for the driver, and the transitions
packed (:class:`joyrl_core.PackedTransitions`: observations as the env gives them, ``uint8`` frames stay
``uint8``; each observation sent once, a stacked ``next_obs`` as its newest frame), which go to the
learners through Ray's object store without passing through the driver. A learner unpacks them vector
step by vector step, byte for byte what the worker collected, so its buffer stores what it would store
in the ``single`` backend.

A :class:`Learner` owns the agent that learns, its buffer and its optimizer. ``train`` takes a worker's
transitions and, for each vector step, pushes its rows (as that worker's env streams) and calls
``agent.update``, exactly as the single backend does after each vectorized env step. With several learners every replica receives every batch (so their buffers, and with
them every "is it time to update?" decision, are identical), samples its own share of each gradient
batch from its own RNG, and averages gradients with the others through a gloo all-reduce installed
with ``agent.set_gradient_hook``.
"""

from __future__ import annotations

import datetime
import functools
import math
import os
import socket
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from joyrl_core import (
    Agent,
    Batch,
    Buffer,
    EpisodeResult,
    PackedTransitions,
    PolicyStep,
    RunContext,
    TransitionLog,
    VectorEnvRunner,
)


def _set_up_process(run: RunContext, seed: int | None) -> None:
    """Torch threads and global seeds of an actor process, as ``start_run`` does for the driver."""
    import random

    import torch

    threads = run.config.general.torch_threads
    if threads > 0:
        torch.set_num_threads(threads)
    if seed is not None:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)


def _restarted_by_ray() -> bool:
    """Whether this actor is a process Ray started again after the first one died."""
    import ray

    if not ray.is_initialized():  # asking the runtime context would start a Ray
        return False
    with warnings.catch_warnings():  # Ray deprecated an attribute this property reads internally
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return bool(ray.get_runtime_context().was_current_actor_reconstructed)
        except (AssertionError, RuntimeError):  # not in an actor (a test builds the class in-process)
            return False


class RolloutWorker:
    """``env_cfg.n_envs`` copies of the env stepped together, an acting agent, its own seed stream
    (``run.seed_for("worker", index)``). Its sub-env ``i`` is the run's env stream ``index * n_envs + i``
    (``Batch.env_ids``), so streams stay distinct across workers."""

    def __init__(self, run: RunContext, index: int):
        self.index = index
        seed = run.seed_for("worker", index)
        self.restarted = _restarted_by_ray()
        self.calls = 0
        if self.restarted:
            # A restarted worker must not replay the episodes of its first life: fresh env seeds.
            seed = None if seed is None else int(np.random.SeedSequence([seed, os.getpid()]).generate_state(1)[0])
        _set_up_process(run, seed)
        self.run = run
        self.agent = run.make_agent(seed)
        general = run.config.general
        self.runner = VectorEnvRunner(run.make_vector_env(), seed, record_trajectories=general.collect_traj,
                                      check_values=general.check_env_values, env_id=run.env_spec.env_id)
        self.sink = TransitionLog()
        self.version = -1
        self.env_steps = 0  # delivered by this process, for the driver's consistency check

    def ready(self) -> int:
        return os.getpid()

    def collect(self, version: int, weights: list, env_steps: int,
                vector_steps: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """``vector_steps`` steps of the worker's envs acting with weights version ``version``.

        ``weights`` is ``[ObjectRef]`` of that version, fetched only when this worker holds another.
        Episodes run on across calls, as in the ``single`` backend's vectorized loop. ``env_steps`` is
        the run's global count when the call was sent; exploration schedules see it advance by this
        worker's own steps. Returns small stats for the driver (each finished episode with the vector
        step it ended in, the version acted with) and the transitions packed, vector step by vector
        step (row ``t * n_envs + i`` is sub-env ``i`` at step ``t``), with the agent's extras.
        """
        if version != self.version:
            import ray

            self.agent.set_weights(ray.get(weights[0]))
            self.version = version
        sink, runner, agent = self.sink, self.runner, self.agent
        sink.clear()

        def act(obs: np.ndarray) -> PolicyStep:
            return agent.act(obs, env_steps + len(sink))

        episodes: list[tuple[int, EpisodeResult]] = []
        for t in range(vector_steps):
            episodes += [(t, finished.result) for finished in runner.step(act, sink)]
        self.env_steps += len(sink)
        self.calls += 1
        stats = {
            "restarted": self.restarted and self.calls == 1,  # the first call of a process Ray restarted
            "episodes": episodes,
            "vector_steps": vector_steps,
            "n_envs": runner.n,
            "version": version,
            "pid": os.getpid(),
            "process_env_steps": self.env_steps,
        }
        return stats, sink.packed(runner.n)

    def close(self) -> None:
        self.runner.venv.close()


class ShardedBuffer(Buffer):
    """A learner replica's view of its buffer: ``sample(n, ...)`` draws ``ceil(n / replicas)`` rows.

    The replicas' averaged gradient is then the gradient of one batch of ``n`` (the algorithm's
    ``batch_size``) split across them, so each replica does ``1/replicas`` of the work per update.
    Everything else (``push``, ``len``, and any other method of the buffer, such as ``take_episodes``
    or ``update_priorities``) goes to the wrapped buffer, and ``sample`` keeps the wrapped buffer's
    signature (``n_step``, ``gamma``, ...) for algorithms that inspect it.
    """

    def __init__(self, inner: Buffer, replicas: int):
        self.inner = inner
        self.replicas = replicas
        inner_sample = inner.sample

        @functools.wraps(inner_sample)
        def sample(batch_size: int, *args: Any, **kwargs: Any) -> Batch:
            return inner_sample(max(1, math.ceil(batch_size / replicas)), *args, **kwargs)

        self.sample = sample  # type: ignore[method-assign]

    def push(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool = False, **keys) -> None:
        self.inner.push(obs, action, reward, next_obs, terminated, truncated, **keys)

    def push_batch(self, obs, actions, rewards, next_obs, terminated, truncated=None, **keys) -> None:
        self.inner.push_batch(obs, actions, rewards, next_obs, terminated, truncated, **keys)

    def sample(self, batch_size: int, *args: Any, **kwargs: Any) -> Batch:  # replaced per instance above
        return self.inner.sample(max(1, math.ceil(batch_size / self.replicas)), *args, **kwargs)

    def __len__(self) -> int:
        return len(self.inner)

    @property
    def capabilities(self):  # the wrapped buffer's, not the base class default
        return self.inner.capabilities

    def __getattr__(self, name: str) -> Any:
        if name in ("inner", "replicas"):
            raise AttributeError(name)
        return getattr(self.inner, name)


def gradient_all_reduce(world_size: int) -> Callable[[list[Any]], None]:
    """A gradient hook that replaces each gradient by its mean over the process group's replicas.

    The gradients travel as one flat tensor per call: one all-reduce per update, not one per tensor.
    """
    import torch
    import torch.distributed as dist

    def hook(parameters: list[Any]) -> None:
        grads = [p.grad for p in parameters]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat.div_(world_size)
        offset = 0
        for g in grads:
            n = g.numel()
            g.copy_(flat[offset : offset + n].view_as(g))
            offset += n

    return hook


class Learner:
    """A learner replica: the agent that learns, its buffer, and (with several) its process group."""

    def __init__(self, run: RunContext, rank: int, world_size: int):
        seed = run.seed_for("train", rank)
        _set_up_process(run, seed)
        self.run = run
        self.rank = rank
        self.world_size = world_size
        self.agent: Agent = run.make_agent(seed)
        buffer = run.make_buffer(seed)
        self.buffer: Buffer | None = ShardedBuffer(buffer, world_size) if buffer is not None and world_size > 1 else buffer
        self._group = False
        self._next_save: int | None = None
        self.version = 0  # weight updates made: the version of the weights this learner holds

    def ready(self) -> int:
        return os.getpid()

    # -- the process group of the replicas -------------------------------------------------------

    def rendezvous(self) -> tuple[str, int]:
        """Rank 0: the address and a free port of this node for the others to meet at."""
        import ray

        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        return ray.util.get_node_ip_address(), port

    def join_group(self, host: str, port: int, timeout_s: float) -> None:
        import torch.distributed as dist

        dist.init_process_group(
            "gloo", init_method=f"tcp://{host}:{port}", rank=self.rank, world_size=self.world_size,
            timeout=datetime.timedelta(seconds=timeout_s),
        )
        self._group = True
        self.agent.set_gradient_hook(gradient_all_reduce(self.world_size))

    # -- weights and state -----------------------------------------------------------------------

    def get_weights(self) -> dict[str, Any]:
        return self.agent.get_weights()

    def state_dict(self) -> dict[str, Any]:
        return self.agent.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> int:
        self.agent.load_state_dict(state)
        return self.agent.update_steps

    def update_steps(self) -> int:
        return self.agent.update_steps

    # -- learning --------------------------------------------------------------------------------

    def rollout_steps(self) -> int | None:
        """Steps per env stream of one rollout when the buffer hands out ordered rollouts (on-policy
        learning: ``BufferCapabilities.ordered_rollouts``, whose buffers keep ``n_steps``), else ``None``."""
        buffer = self.buffer
        if buffer is None or not buffer.capabilities.ordered_rollouts:
            return None
        return int(buffer.n_steps)

    def train(self, data: PackedTransitions | None, first_stream: int, start: int, stop: int, n_envs: int,
              version: int, env_steps: int, episodes: list[int], save_every: int) -> tuple[dict[str, Any], Any]:
        """For each vector step ``start <= t < stop`` of a worker's ``data``: push its ``n_envs`` rows as
        env streams ``first_stream + i`` (with their extras), then call ``agent.update``.

        The same sequence as the single backend's vectorized loop (and so the same buffer order, update
        cadence and ``env_steps`` the agent sees). ``version`` is the weights version the worker acted
        with; the result's ``lag`` is how many weight updates this learner had made since (0: the data
        is on-policy). ``env_steps`` is the run's global count before step ``start``, ``episodes[t -
        start]`` the run's episode count after step ``t``. Returns a result (update steps, metric sums,
        lag, and on rank 0 the state at each save point passed: every ``save_every`` update steps) and,
        on rank 0 when the weights changed, the new acting weights (else ``None``).
        """
        import ray

        agent, buffer = self.agent, self.buffer
        if self._next_save is None:
            self._next_save = (agent.update_steps // save_every + 1) * save_every
        lag = self.version - version
        push = None
        if data and buffer is not None:
            env_ids = first_stream + np.arange(n_envs)
            push = buffer.push_batch
        before = agent.update_steps
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        save_points = []
        for t in range(start, stop):
            if push is not None:
                step = data.unpack(t * n_envs, (t + 1) * n_envs)
                columns = [step[name] for name in ("obs", "actions", "rewards", "next_obs", "terminated", "truncated")]
                if step["extras"]:
                    push(*columns, env_ids=env_ids, extras=step["extras"])
                else:
                    push(*columns, env_ids=env_ids)
            now = env_steps + (t - start + 1) * n_envs
            metrics = agent.update(buffer, now)
            if metrics is None:
                continue
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + float(value)
                counts[key] = counts.get(key, 0) + 1
            steps = agent.update_steps
            # An update may take several gradient steps, so compare rather than test divisibility.
            if steps >= self._next_save:
                self._next_save = (steps // save_every + 1) * save_every
                if self.rank == 0:
                    # ray.put copies the state now, so later updates do not change the saved point.
                    save_points.append({"update_steps": steps, "env_steps": now, "episodes": episodes[t - start],
                                        "state": ray.put(agent.state_dict())})
        changed = agent.update_steps != before
        if changed:
            self.version += 1
        result = {"update_steps": agent.update_steps, "sums": sums, "counts": counts, "save_points": save_points,
                  "lag": lag}
        return result, (agent.get_weights() if self.rank == 0 and changed else None)

    def close(self) -> None:
        if self._group:
            import torch.distributed as dist

            dist.destroy_process_group()
            self._group = False

