"""Deep Q-Network (Mnih et al., 2015) and its variants: config in ``config.py``, network, acting and
learning here.

Variants, each a switch in ``algo_cfg``: Double DQN (van Hasselt et al., 2016; ``double``), dueling
heads (Wang et al., 2016; ``dueling``), n-step returns (``n_step``, built by the buffer at sample time)
and prioritized replay (``buffer_type: PER_QUE``, in ``per.py``). The learning step, for a batch of
(possibly n-step) transitions with importance weights ``w``::

    a*     = argmax_a Q_online(s', a) if double else argmax_a Q_target(s', a)
    target = R + discount * (1 - terminated) * Q_target(s', a*)      # discount = gamma^m
    loss   = mean(w * l(Q_online(s, a) - target))                   # l: squared error or Huber
"""

from __future__ import annotations

import inspect
import math
import os
from concurrent.futures import Future, ThreadPoolExecutor, wait
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from joyrl_core import Agent, Buffer, EnvSpec

from joyrl_dqn.config import DQNConfig, LayerConfig
from joyrl_dqn.explicit_mlp import ExplicitMLP

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
}

# Acting on CPU goes through numpy for batches up to this many observations: for one observation
# and DQN's small MLPs a numpy forward pass costs ~10 us where torch's per-op dispatch costs ~60-90 us
# (see the plugin README). From a handful of rows on, numpy's matrix products go through OpenBLAS's
# own thread pool (not bound by torch_threads) and were no faster than torch, often slower.
NUMPY_ACT_MAX_BATCH = 1

# The most bytes of float32 observations (obs and next_obs) sampled at once for a run of gradient steps.
SEGMENT_MAX_BYTES = 16 * 2**20
# About how many rows of a segment have their TD targets computed in one forward pass of the target
# network.
TARGET_CHUNK_ROWS = 1024


def _spare_core() -> bool:
    """Whether this process may use more cores than torch's intra-op threads take."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores > torch.get_num_threads()


@dataclass
class _Segment:
    """The batches of ``steps`` consecutive gradient steps as device tensors, batch ``i`` in rows
    ``i * rows_per_step`` to ``(i + 1) * rows_per_step``; ``targets`` where they could be computed ahead."""

    steps: int
    rows_per_step: int
    obs: torch.Tensor
    actions: torch.Tensor
    weights: torch.Tensor | None
    indices: np.ndarray
    rewards: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor
    discounts: torch.Tensor | float
    # TD targets computed ahead: chunk c holds rows c * chunk_rows onwards (futures where a helper
    # thread computes them).
    target_chunks: list[Future] | None = None

    @property
    def chunk_rows(self) -> int:
        """Rows of a chunk of targets: about TARGET_CHUNK_ROWS, a whole number of batches."""
        return max(1, TARGET_CHUNK_ROWS // self.rows_per_step) * self.rows_per_step

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


class DuelingHead(nn.Module):
    """``Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')`` from a shared trunk's features."""

    def __init__(self, width: int, n_actions: int):
        super().__init__()
        self.value = nn.Linear(width, 1)
        self.advantage = nn.Linear(width, n_actions)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        advantage = self.advantage(features)
        return self.value(features) + advantage - advantage.mean(dim=1, keepdim=True)


def build_q_network(layers: list[LayerConfig], in_dim: int, n_actions: int, dueling: bool = False) -> nn.Sequential:
    """``layers`` then a linear head per action (``dueling``: a :class:`DuelingHead`).

    Without ``dueling`` the module (and so its ``state_dict`` keys) is the seed's ``nn.Sequential``.
    """
    modules: list[nn.Module] = []
    width = in_dim
    for layer in layers:
        modules.append(nn.Linear(width, layer.layer_dim[0]))
        if layer.activation != "none":
            modules.append(_ACTIVATIONS[layer.activation]())
        width = layer.layer_dim[0]
    modules.append(DuelingHead(width, n_actions) if dueling else nn.Linear(width, n_actions))
    return nn.Sequential(*modules)


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
    """Greedy actions of a CPU ``net`` built by :func:`build_q_network`, computed in numpy.

    The weights are numpy *views* of the parameters' own storage, which the optimizer, ``set_weights``
    and ``load_state_dict`` all update in place: the numpy pass always sees the current weights and
    nothing is copied after an update. ``None`` where a layer has no numpy version here (gelu).
    A dueling head acts on the advantage stream alone: ``V + A - mean A`` has the argmax of ``A``.
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


def _adam(params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """Adam with the fused kernel where this torch has one for the device: one kernel for all the
    parameters instead of a Python loop over them (on CPU about 110 us instead of 290 us a step for
    the default network)."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.Adam(params, lr=lr)


class DQNAgent(Agent):
    def __init__(self, config: DQNConfig, env_spec: EnvSpec, device: str, seed: int | None):
        if env_spec.action_kind != "discrete":
            raise ValueError(f"DQN needs a discrete action space; env {env_spec.env_id!r} has continuous actions")
        self.cfg = config
        self.env_spec = env_spec
        self.device = torch.device(device)
        self.n_actions = int(env_spec.n_actions)
        in_dim = int(np.prod(env_spec.obs_shape)) if env_spec.obs_shape else 1
        self.q_net = build_q_network(config.value_layers, in_dim, self.n_actions, config.dueling).to(self.device)
        self.target_net = build_q_network(config.value_layers, in_dim, self.n_actions, config.dueling).to(self.device)
        self.target_net.load_state_dict(self.q_net.state_dict())
        self.target_net.requires_grad_(False)
        self._params = list(self.q_net.parameters())
        self._target_params = list(self.target_net.parameters())
        self.optimizer = _adam(self._params, config.lr)
        self._rng = np.random.default_rng(seed)
        self._updates = 0
        # env_steps at the last update() call: a fresh agent starts at 0; None after loading a checkpoint
        # that did not record it (the seed's DQN), where the first call counts one env step.
        self._last_env_steps: int | None = 0
        self._cpu = self.device.type == "cpu"
        self._numpy_greedy = numpy_greedy(self.q_net) if self._cpu else None
        self._checked_buffer: Buffer | None = None
        row_bytes = 2 * in_dim * 4  # obs and next_obs as float32
        self._segment_max_steps = max(1, SEGMENT_MAX_BYTES // (row_bytes * config.batch_size))
        self._pool: ThreadPoolExecutor | None = None
        self._build_explicit()

    def _build_explicit(self) -> None:
        # On CPU, plain MLPs learn through ExplicitMLP; ``explicit = None`` makes the agent use autograd.
        self.explicit = ExplicitMLP.of(self.q_net) if self._cpu else None
        self._explicit_target = ExplicitMLP.of(self.target_net) if self.explicit is not None else None

    def __getstate__(self) -> dict[str, Any]:
        # The numpy actor reads this agent's own parameter storage: a copy (deepcopy, pickle) must build
        # its own from its own parameters, not share or freeze this one's. Nor does it carry the buffer.
        state = self.__dict__.copy()
        state["_numpy_greedy"] = None
        state["_checked_buffer"] = None
        state["explicit"] = state["_explicit_target"] = None
        state["_pool"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._numpy_greedy = numpy_greedy(self.q_net) if self._cpu else None
        self._build_explicit()

    # -- acting ---------------------------------------------------------------------------------

    def epsilon(self, env_steps: int) -> float:
        cfg = self.cfg
        if cfg.epsilon_schedule == "linear":
            progress = min(env_steps / cfg.epsilon_decay, 1.0)
            return cfg.epsilon_start + (cfg.epsilon_end - cfg.epsilon_start) * progress
        return cfg.epsilon_end + (cfg.epsilon_start - cfg.epsilon_end) * math.exp(-env_steps / cfg.epsilon_decay)

    def exploration(self, env_steps: int) -> Mapping[str, float]:
        return {"epsilon": self.epsilon(env_steps)}

    def _tensor(self, array: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """A batch array as a tensor on the device; on CPU, with matching dtype, without a copy."""
        if self._cpu:
            tensor = torch.from_numpy(np.ascontiguousarray(array))
            return tensor if tensor.dtype == dtype else tensor.to(dtype)
        return torch.as_tensor(array, dtype=dtype, device=self.device)

    def _obs_tensor(self, obs: np.ndarray) -> torch.Tensor:
        return self._tensor(obs).reshape(len(obs), -1)

    def predict_action(self, obs: np.ndarray) -> np.ndarray:
        if self._numpy_greedy is not None and len(obs) <= NUMPY_ACT_MAX_BATCH:
            return self._numpy_greedy(np.asarray(obs, dtype=np.float32).reshape(len(obs), -1))
        return self._torch_greedy(obs)

    @torch.inference_mode()
    def _torch_greedy(self, obs: np.ndarray) -> np.ndarray:
        return self.q_net(self._obs_tensor(obs)).argmax(dim=1).cpu().numpy()

    def sample_action(self, obs: np.ndarray, env_steps: int) -> np.ndarray:
        n = len(obs)
        epsilon = self.epsilon(env_steps)
        if n == 1:  # one env: scalar draws, no small arrays
            if self._rng.random() < epsilon:
                return np.array([self._rng.integers(self.n_actions)])
            return self.predict_action(obs)
        explore = self._rng.random(n) < epsilon
        if explore.all():
            return self._rng.integers(0, self.n_actions, size=n)
        actions = self.predict_action(obs)
        if explore.any():
            actions[explore] = self._rng.integers(0, self.n_actions, size=int(explore.sum()))
        return actions

    # -- learning -------------------------------------------------------------------------------

    @property
    def update_steps(self) -> int:
        return self._updates

    def gradient_steps_due(self, env_steps: int) -> int:
        """How many gradient steps to take now that the run has reached ``env_steps``.

        ``gradient_steps`` for each multiple of ``train_freq`` that ``env_steps`` crossed since the
        last call: a call after a vectorized step of N envs counts N env steps, so the ratio of
        gradient steps to env steps does not depend on N. Before ``learning_starts``, none.
        """
        cfg = self.cfg
        previous = self._last_env_steps
        self._last_env_steps = env_steps
        if previous is None:
            previous = env_steps - 1
        if env_steps < cfg.learning_starts:
            return 0
        crossed = env_steps // cfg.train_freq - previous // cfg.train_freq
        return max(crossed, 0) * cfg.gradient_steps

    def update(self, buffer: Buffer, env_steps: int) -> Mapping[str, float] | None:
        n_steps = self.gradient_steps_due(env_steps)
        if n_steps == 0 or len(buffer) < self.cfg.batch_size:
            return None
        if buffer is not self._checked_buffer:
            self._check_buffer(buffer)
        while n_steps > 0:
            segment = self._sample_segment(buffer, n_steps)
            try:
                for i in range(segment.steps):
                    q, target, weights = self._gradient_step(segment, i, buffer)
            finally:
                segment.settle()
            n_steps -= segment.steps
        # Metrics of the last gradient step only, with one device sync.
        with torch.no_grad():
            loss = self._loss(q, target, weights)
        return {"loss": float(loss.item()), "mean_q": float(q.mean().item())}

    def _check_buffer(self, buffer: Buffer) -> None:
        if self.cfg.n_step > 1 and "n_step" not in inspect.signature(buffer.sample).parameters:
            raise ValueError(
                f"n_step: {self.cfg.n_step} needs a buffer that builds n-step returns (REPLAY_QUE, PER_QUE); "
                f"{type(buffer).__name__}.sample takes no n_step"
            )
        self._checked_buffer = buffer

    def _q_values(self, obs: torch.Tensor, online: bool) -> torch.Tensor:
        explicit = self.explicit if online else self._explicit_target
        if explicit is not None:
            return explicit.forward(obs)[0]
        return (self.q_net if online else self.target_net)(obs)

    def td_target(self, rewards: torch.Tensor, next_obs: torch.Tensor, terminated: torch.Tensor,
                  discounts: torch.Tensor | float) -> torch.Tensor:
        """``rewards + discounts * (1 - terminated) * Q_target(next_obs, a*)``; ``a*`` picked by the online
        network with ``double``, by the target network without."""
        next_q_target = self._q_values(next_obs, online=False)
        if self.cfg.double:
            next_actions = self._q_values(next_obs, online=True).argmax(dim=1, keepdim=True)
            next_q = next_q_target.gather(1, next_actions).squeeze(1)
        else:
            next_q = next_q_target.amax(dim=1)
        return rewards + discounts * (1.0 - terminated) * next_q

    def _sample_segment(self, buffer: Buffer, n_steps: int) -> _Segment:
        """The batches of the next gradient steps (at most ``n_steps``), sampled in one call.

        Taking k batches of B rows as one sample of k * B rows is the same draw for a buffer whose
        sampling does not depend on learning, and it turns k samplings and k host-to-device copies
        into one. A prioritized buffer (one with ``update_priorities``) changes its distribution after
        every step, so it is sampled one batch at a time. Without ``double`` the TD targets of the
        whole segment are computed ahead by the target network (:meth:`_targets_ahead`), so the
        segment also ends at the next target update; with ``double`` the online network picks ``a*``
        and that changes with every step, so those targets are computed step by step.
        """
        cfg = self.cfg
        steps = 1 if hasattr(buffer, "update_priorities") else min(n_steps, self._segment_max_steps)
        if not cfg.double:
            steps = min(steps, cfg.target_update - self._updates % cfg.target_update)
        if cfg.n_step > 1:
            batch = buffer.sample(steps * cfg.batch_size, n_step=cfg.n_step, gamma=cfg.gamma)
            discounts: torch.Tensor | float = self._tensor(batch.discounts)
        else:
            batch = buffer.sample(steps * cfg.batch_size)
            discounts = cfg.gamma
        # A buffer may hand out a share of what was asked (a learner replica's part of each batch, the
        # replicas averaging their gradients): every step then takes an equal share of the rows.
        rows = len(batch)
        steps = min(steps, rows)
        segment = _Segment(
            steps=steps,
            rows_per_step=rows // steps,
            obs=self._obs_tensor(batch.obs),
            actions=self._tensor(batch.actions, torch.long).unsqueeze(1),
            weights=None if batch.weights.min() == 1.0 else self._tensor(batch.weights),
            indices=batch.indices,
            rewards=self._tensor(batch.rewards),
            next_obs=self._obs_tensor(batch.next_obs),
            terminated=self._tensor(batch.terminated),
            discounts=discounts,
        )
        if not cfg.double:
            segment.target_chunks = self._targets_ahead(segment)
        return segment

    def _targets_ahead(self, segment: _Segment) -> list[Future]:
        """The segment's TD targets in chunks of whole batches whose activations stay in a core's cache
        (on 2 cores a third faster than one pass over all the rows). The first chunk is computed here:
        its first step needs it at once. The others go to the helper thread where there is one
        (:meth:`_target_pool`) and are computed while the first chunk's steps run."""
        starts = range(0, segment.steps * segment.rows_per_step, segment.chunk_rows)
        pool = self._target_pool() if len(starts) > 1 else None
        chunks: list[Future] = []
        for start in starts:
            rows = slice(start, start + segment.chunk_rows)
            if pool is not None and start > 0:
                chunks.append(pool.submit(self._td_targets, segment, rows))
            else:
                chunks.append(Future())
                chunks[-1].set_result(self._td_targets(segment, rows))
        return chunks

    def _target_pool(self) -> ThreadPoolExecutor | None:
        """A helper thread for TD targets on CPU where torch's threads leave a core free (the default
        ``torch_threads: 1`` on 2 or more cores): the target network's forward passes then run beside
        the gradient steps instead of before them. Its matrix products release the GIL."""
        if self._pool is None and self._cpu and _spare_core():
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dqn-targets")
        return self._pool

    @torch.no_grad()
    def _td_targets(self, segment: _Segment, rows: slice) -> torch.Tensor:
        discounts = segment.discounts
        return self.td_target(segment.rewards[rows], segment.next_obs[rows], segment.terminated[rows],
                              discounts if isinstance(discounts, float) else discounts[rows])

    def _gradient_step(self, segment: _Segment, i: int, buffer: Buffer) \
            -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One gradient step on batch ``i`` of ``segment``; returns ``Q(s, a)``, the TD target and the
        importance weights (``None`` for uniform sampling) of that batch, for the caller's metrics."""
        cfg = self.cfg
        rows = slice(i * segment.rows_per_step, (i + 1) * segment.rows_per_step)
        target = segment.target(i)
        if target is None:
            target = self._td_targets(segment, rows)
        obs, actions = segment.obs[rows], segment.actions[rows]
        weights = None if segment.weights is None else segment.weights[rows]
        if self.explicit is not None:
            q = self._explicit_gradients(obs, actions, target, weights)
        else:
            q = self._autograd_gradients(obs, actions, target, weights)
        self.sync_gradients(self._params)
        if cfg.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(self._params, cfg.max_grad_norm)
        self.optimizer.step()

        update_priorities = getattr(buffer, "update_priorities", None)
        if update_priorities is not None:
            update_priorities(segment.indices[rows], (target - q).cpu().numpy())
        self._updates += 1
        if self._updates % cfg.target_update == 0:
            self.update_target()
        return q, target, weights

    def _loss(self, q: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        loss_fn = F.smooth_l1_loss if self.cfg.loss == "huber" else F.mse_loss
        if weights is None:  # uniform sampling: the fused mean loss, two ops fewer each way
            return loss_fn(q, target)
        # importance-sampling weights (prioritized replay) scale each sample's loss
        return (loss_fn(q, target, reduction="none") * weights).mean()

    def _autograd_gradients(self, obs: torch.Tensor, actions: torch.Tensor, target: torch.Tensor,
                            weights: torch.Tensor | None) -> torch.Tensor:
        q = self.q_net(obs).gather(1, actions).squeeze(1)
        self.optimizer.zero_grad(set_to_none=True)
        self._loss(q, target, weights).backward()
        return q.detach()

    @torch.no_grad()
    def _explicit_gradients(self, obs: torch.Tensor, actions: torch.Tensor, target: torch.Tensor,
                            weights: torch.Tensor | None) -> torch.Tensor:
        """:meth:`_loss`'s gradients by :class:`ExplicitMLP`: d loss / d Q(s, a) per sample, scattered
        onto the taken actions, then back through the network."""
        assert self.explicit is not None
        out, inputs = self.explicit.forward(obs)
        q = out.gather(1, actions).squeeze(1)
        td = q - target
        # smooth_l1 (beta 1) has derivative clamp(td, -1, 1); the squared error 2 td
        grad_q = td.clamp(-1.0, 1.0) if self.cfg.loss == "huber" else td.mul(2.0)
        if weights is not None:
            grad_q.mul_(weights)
        grad_q.div_(len(td))
        grad_out = torch.zeros_like(out).scatter_(1, actions, grad_q.unsqueeze(1))
        self.explicit.backward(grad_out, inputs)
        return q

    @torch.no_grad()
    def update_target(self) -> None:
        """``target += tau * (online - target)``; with ``tau == 1`` a plain copy."""
        if self.cfg.tau >= 1.0:
            torch._foreach_copy_(self._target_params, self._params)
        else:
            torch._foreach_lerp_(self._target_params, self._params, self.cfg.tau)

    # -- weights and checkpoints ----------------------------------------------------------------

    def get_weights(self) -> dict[str, Any]:
        return {k: v.detach().cpu().clone() for k, v in self.q_net.state_dict().items()}

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        # load_state_dict copies into the parameters in place, so the numpy views stay current.
        self.q_net.load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()})

    def state_dict(self) -> dict[str, Any]:
        return {
            "q_net": self.q_net.state_dict(),
            "target_net": self.target_net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "update_steps": self._updates,
            "last_env_steps": -1 if self._last_env_steps is None else self._last_env_steps,
            "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        missing = {"q_net", "target_net", "optimizer", "update_steps"} - set(state)
        if missing:
            raise ValueError(f"not a DQN checkpoint: missing {sorted(missing)}")
        self.q_net.load_state_dict(state["q_net"])
        self.target_net.load_state_dict(state["target_net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._updates = int(state["update_steps"])
        last = int(state.get("last_env_steps", -1))
        self._last_env_steps = None if last < 0 else last
        if "rng" in state:
            self._rng.bit_generator.state = state["rng"]
