"""DQN's speed paths: :class:`FastDQNAgent` computes what ``dqn.py``'s :class:`DQNAgent` computes, with
fewer torch ops. ``algo_cfg.fast_path: auto`` (the default) runs it, ``off`` runs the plain agent.

At DQN's sizes (a batch of 64, a few layers 256 wide) a gradient step on CPU is as much torch's per-op
overhead as arithmetic, so each path below removes ops without changing the math (the tests in
``tests/test_dqn_fast_paths.py`` hold each to the plain agent's numbers):

- **numpy acting** (CPU): one observation's greedy action through numpy views of the parameters' own
  storage, ~10 us instead of torch's ~40 us; bigger batches, gelu networks and GPUs go through torch.
- **explicit backward** (CPU, plain MLPs): gradients as three matrix products per layer
  (``joyrl_core.ExplicitMLP``) and the loss's derivative with respect to ``Q(s, a)`` by hand, instead of an
  autograd graph; dueling heads and elu/leaky_relu/gelu networks keep autograd.
- **one sample per run of gradient steps**: the batches of a ``train_freq`` burst drawn as one sample of
  ``k * batch_size`` rows (the same draw for a buffer whose sampling does not depend on learning), one
  host-to-device copy instead of k. A prioritized buffer (``capabilities.priorities``) is sampled
  one batch at a time, since its priorities change after each step.
- **TD targets ahead** (without ``double``): the targets of a run come from the target network in
  cache-sized chunks, the run cut at each target update so that every target is the one its step would
  have seen; on CPU, where torch's threads leave a core free, chunks after the first are computed on a
  helper thread while the gradient steps run (matrix products release the GIL). For a convolutional
  network, whose forward pass takes milliseconds, the first chunk goes there too: the target network's
  pass over ``next_obs`` runs beside the online network's over ``obs`` (a Nature-CNN step at batch 32
  and ``train_freq: 4`` is one such pair; the same ops on the same tensors, only on another thread).
- **fused Adam** where torch has it: one kernel for all the parameters instead of a loop over them.
- **channels-last convolutions** (CPU, networks with ``conv2d`` layers or a preset encoder): both
  networks stored NHWC and fed NHWC input (``joyrl_core.use_channels_last``), which oneDNN convolves
  faster (a Nature-CNN gradient step at batch 32: ~16% less time on an AVX-512 CPU). The one fast path
  that is not the plain agent's arithmetic op for op: convolutions sum in another order, so values
  agree to float rounding (~1e-7 relative), as the tests check. (torch 2.13's fused CPU Adam walks a
  parameter and its gradient as flat memory and updates wrongly where their layouts differ; autograd
  gives each gradient its parameter's layout, and checkpoints of either layout load, as tested.)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from joyrl_core import Buffer, EnvSpec, ExplicitMLP, use_channels_last

from joyrl_dqn.config import DQNConfig
from joyrl_dqn.dqn import DQNAgent, DuelingHead, TensorBatch

# Acting goes through numpy for batches up to this many observations. From a handful of rows on,
# numpy's matrix products go through OpenBLAS's own thread pool (not bound by torch_threads) and were
# no faster than torch, often slower.
NUMPY_ACT_MAX_BATCH = 1
# The most bytes of float32 observations (obs and next_obs) sampled at once for a run of gradient steps.
SEGMENT_MAX_BYTES = 16 * 2**20
# About how many rows of a segment have their TD targets computed in one forward pass of the target network.
TARGET_CHUNK_ROWS = 1024


def _spare_core() -> bool:
    """Whether this process may use more cores than torch's intra-op threads take."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores > torch.get_num_threads()


def _numpy_elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


_NUMPY_ACTIVATIONS: dict[type, Callable[[np.ndarray], np.ndarray]] = {
    nn.ReLU: lambda x: np.maximum(x, 0, out=x),
    nn.Tanh: lambda x: np.tanh(x, out=x),
    nn.Sigmoid: lambda x: 1.0 / (1.0 + np.exp(-x)),
    nn.ELU: _numpy_elu,
    nn.LeakyReLU: lambda x: np.where(x > 0, x, 0.01 * x),
}


def numpy_greedy(net: nn.Sequential) -> Callable[[np.ndarray], np.ndarray] | None:
    """Greedy actions of a CPU MLP built by ``build_q_network``, computed in numpy.

    The weights are numpy *views* of the parameters' own storage, which the optimizer, ``set_weights``
    and ``load_state_dict`` all update in place: the numpy pass always sees the current weights.
    ``None`` where a layer has no numpy version here (gelu, conv2d). A dueling head acts on the
    advantage stream alone: ``V + A - mean A`` has the argmax of ``A``.
    """
    ops: list[Any] = []
    for module in net:
        if isinstance(module, DuelingHead):
            module = module.advantage
        if isinstance(module, nn.Linear):
            # x @ W.T with W a (out, in) C-contiguous view: BLAS reads the transpose, no copy.
            ops.append((module.weight.detach().numpy().T, module.bias.detach().numpy()))
        elif type(module) in _NUMPY_ACTIVATIONS and getattr(module, "negative_slope", 0.01) == 0.01 \
                and getattr(module, "alpha", 1.0) == 1.0:
            ops.append(_NUMPY_ACTIVATIONS[type(module)])
        else:
            return None

    def greedy(x: np.ndarray) -> np.ndarray:
        for op in ops:
            if isinstance(op, tuple):
                x = x @ op[0]
                x += op[1]
            else:
                x = op(x)
        return x.argmax(axis=1)

    return greedy


def _fused_adam(params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError, TypeError):  # no fused kernel for this device in this torch
        return torch.optim.Adam(params, lr=lr)


def _targets_of(agent: DQNAgent, batch: TensorBatch, rows: slice) -> torch.Tensor:
    discounts = batch.discounts
    return agent.td_target(batch.rewards[rows], batch.next_obs[rows], batch.terminated[rows],
                           discounts if isinstance(discounts, float) else discounts[rows])


@dataclass
class _Segment:
    """The batches of ``steps`` consecutive gradient steps, batch ``i`` in rows ``i * rows_per_step``
    to ``(i + 1) * rows_per_step`` of ``batch``; ``target_chunks`` where targets are computed ahead."""

    steps: int
    rows_per_step: int
    batch: TensorBatch
    # chunk c holds the TD targets of rows c * chunk_rows onwards (futures where a helper thread computes them)
    target_chunks: list[Future] | None = None

    @property
    def chunk_rows(self) -> int:
        """Rows of a chunk of targets: about TARGET_CHUNK_ROWS, a whole number of batches."""
        return max(1, TARGET_CHUNK_ROWS // self.rows_per_step) * self.rows_per_step

    def rows(self, i: int) -> slice:
        return slice(i * self.rows_per_step, (i + 1) * self.rows_per_step)

    def target(self, i: int) -> torch.Tensor | None:
        """Batch ``i``'s TD targets where they were computed ahead, else ``None``."""
        if self.target_chunks is None:
            return None
        chunk, offset = divmod(i * self.rows_per_step, self.chunk_rows)
        return self.target_chunks[chunk].result()[offset : offset + self.rows_per_step]

    def settle(self) -> None:
        """Wait for targets still being computed: nothing may change the target network under them."""
        if self.target_chunks is not None:
            wait(self.target_chunks)


class FastDQNAgent(DQNAgent):
    def __init__(self, config: DQNConfig, env_spec: EnvSpec, device: str, seed: int | None):
        super().__init__(config, env_spec, device, seed)
        self._cpu = self.device.type == "cpu"
        self._spatial = len(self.input_shape) == 3  # a convolutional network: forward passes of milliseconds
        if self._cpu:
            use_channels_last(self.q_net)
            use_channels_last(self.target_net)
        self.optimizer = _fused_adam(list(self.q_net.parameters()), config.lr)
        row_bytes = 2 * int(np.prod(self.input_shape)) * 4  # obs and next_obs as float32
        self._segment_max_steps = max(1, SEGMENT_MAX_BYTES // (row_bytes * config.batch_size))
        self._pool: ThreadPoolExecutor | None = None
        self._attach_views()

    def _attach_views(self) -> None:
        """The numpy actor and the explicit networks, reading this agent's own parameter storage."""
        self._numpy_greedy = numpy_greedy(self.q_net) if self._cpu else None
        self.explicit = ExplicitMLP.of(self.q_net) if self._cpu else None
        self._explicit_target = ExplicitMLP.of(self.target_net) if self.explicit is not None else None

    def __getstate__(self) -> dict[str, Any]:
        # A copy (deepcopy, pickle) builds its views from its own parameters, not shares this one's.
        state = super().__getstate__()
        state["_numpy_greedy"] = state["explicit"] = state["_explicit_target"] = state["_pool"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._attach_views()

    # -- acting ---------------------------------------------------------------------------------

    def predict_action(self, obs: np.ndarray) -> np.ndarray:
        if self._numpy_greedy is not None and len(obs) <= NUMPY_ACT_MAX_BATCH:
            return self._numpy_greedy(np.asarray(obs, dtype=np.float32).reshape(len(obs), -1))
        return super().predict_action(obs)

    def sample_action(self, obs: np.ndarray, env_steps: int) -> np.ndarray:
        if len(obs) == 1:  # one env: scalar draws, and no forward pass when exploring
            if self._rng.random() < self.epsilon(env_steps):
                return np.array([self._rng.integers(self.n_actions)])
            return self.predict_action(obs)
        return super().sample_action(obs, env_steps)

    # -- learning -------------------------------------------------------------------------------

    def q_values(self, obs: torch.Tensor, online: bool = True) -> torch.Tensor:
        explicit = self.explicit if online else self._explicit_target
        if explicit is not None:
            return explicit.forward(obs)[0]
        return super().q_values(obs, online)

    def update(self, buffer: Buffer, env_steps: int) -> Mapping[str, float] | None:
        n_steps = self.gradient_steps_due(env_steps)
        if n_steps == 0 or len(buffer) < self.cfg.batch_size:
            return None
        while n_steps > 0:
            segment = self._sample_segment(buffer, n_steps)
            try:
                batch = segment.batch
                for i in range(segment.steps):
                    rows = segment.rows(i)
                    weights = None if batch.weights is None else batch.weights[rows]
                    q, target = self._gradients(batch.obs[rows], batch.actions[rows],
                                                partial(self._target, segment, i), weights)
                    self.step(buffer, batch.indices[rows], q, target)
            finally:
                segment.settle()
            n_steps -= segment.steps
        # Metrics of the last gradient step only, with one device sync.
        with torch.no_grad():
            loss = self.loss(q, target, weights)
        return {"loss": float(loss.item()), "mean_q": float(q.mean().item())}

    def _target(self, segment: _Segment, i: int) -> torch.Tensor:
        """Batch ``i``'s TD targets: those computed ahead, else computed now."""
        target = segment.target(i)
        return _targets_of(self, segment.batch, segment.rows(i)) if target is None else target

    def _sample_segment(self, buffer: Buffer, n_steps: int) -> _Segment:
        """The batches of the next gradient steps (at most ``n_steps``), sampled in one call. Without
        ``double`` the segment ends at the next target update and its targets are computed ahead; with
        ``double`` the online network picks ``a*``, which changes every step, so targets are computed
        step by step."""
        cfg = self.cfg
        steps = 1 if buffer.capabilities.priorities else min(n_steps, self._segment_max_steps)
        if not cfg.double:
            steps = min(steps, cfg.target_update - self._updates % cfg.target_update)
        batch = self.sample(buffer, steps * cfg.batch_size)
        # A learner replica's buffer hands out its share of the rows: each step takes an equal share.
        rows = len(batch.indices)
        steps = min(steps, rows)
        segment = _Segment(steps=steps, rows_per_step=rows // steps, batch=batch)
        if not cfg.double:
            segment.target_chunks = self._targets_ahead(segment)
        return segment

    def _targets_ahead(self, segment: _Segment) -> list[Future]:
        """The segment's TD targets in chunks of whole batches whose activations stay in a core's cache
        (on 2 cores a third faster than one pass over all the rows). The first chunk is computed here:
        its first step needs it at once; the others go to the helper thread where there is one. For a
        convolutional network the first goes there too, computed while the online pass runs."""
        starts = range(0, segment.steps * segment.rows_per_step, segment.chunk_rows)
        pool = self._target_pool() if len(starts) > 1 or self._spatial else None
        chunks: list[Future] = []
        for start in starts:
            rows = slice(start, start + segment.chunk_rows)
            if pool is not None and (start > 0 or self._spatial):
                chunks.append(pool.submit(_targets_of, self, segment.batch, rows))
            else:
                chunks.append(Future())
                chunks[-1].set_result(_targets_of(self, segment.batch, rows))
        return chunks

    def _target_pool(self) -> ThreadPoolExecutor | None:
        """A helper thread for TD targets on CPU where torch's threads leave a core free (the default
        ``torch_threads: 1`` on 2 or more cores)."""
        if self._pool is None and self._cpu and _spare_core():
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dqn-targets")
        return self._pool

    def _gradients(self, obs: torch.Tensor, actions: torch.Tensor, target_of: Callable[[], torch.Tensor],
                   weights: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss's gradients into ``.grad``, explicitly where the network allows; returns ``Q(s, a)``
        and the TD targets, which ``target_of`` gives once the online forward pass is done (a helper
        thread may be computing them meanwhile)."""
        if self.explicit is None:
            q = self.q_values(obs).gather(1, actions).squeeze(1)
            target = target_of()
            return self.backward_q(q, target, weights)[0], target
        with torch.no_grad():
            out, inputs = self.explicit.forward(obs)
            q = out.gather(1, actions).squeeze(1)
            target = target_of()
            td = q - target
            # d loss / d q: smooth_l1 (beta 1) has derivative clamp(td, -1, 1), the squared error 2 td;
            # weights scale each sample's share of the mean.
            grad_q = td.clamp(-1.0, 1.0) if self.cfg.loss == "huber" else td.mul(2.0)
            if weights is not None:
                grad_q.mul_(weights)
            grad_q.div_(len(td))
            grad_out = torch.zeros_like(out).scatter_(1, actions, grad_q.unsqueeze(1))
            self.explicit.backward(grad_out, inputs)
        return q, target
