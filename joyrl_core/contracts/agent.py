"""The agent contract every algorithm plugin implements.

Acting and learning are separate so that a backend may run them in different processes: workers hold
an agent only to act (``sample_action``/``predict_action`` from weights set with ``set_weights``), a
learner holds one to learn (``update`` from a buffer) and hands out ``get_weights``. The ``single``
backend uses one agent for both, in one process. Checkpoints are ``state_dict``/``load_state_dict``.

Whoever steps the env while training calls :meth:`Agent.act`; an agent that needs, for every stored
step, what its policy computed when it acted (on-policy learners: ``log_prob``, ``value``) returns those
arrays there, and every runner (one env, vectorized, remote workers) carries them into the buffer
row-aligned and unchanged (``extras`` of ``Buffer.push_batch``, ``Batch.extras``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple

import numpy as np

from joyrl_core.contracts.buffer import Buffer


NO_EXTRAS: Mapping[str, np.ndarray] = MappingProxyType({})


class PolicyStep(NamedTuple):
    """What :meth:`Agent.act` returns: the actions of a batch of observations and the per-step arrays
    (each with the same leading axis) the policy computed for them; ``extras`` is empty for agents
    that keep nothing per step."""

    actions: np.ndarray
    extras: Mapping[str, np.ndarray] = NO_EXTRAS


class Agent(abc.ABC):
    """Base class of algorithms. Subclasses implement every abstract method below.

    Observations arrive batched: an array of shape ``(N, *env_spec.obs_shape)``; actions go back as an
    array of length ``N`` (discrete) or shape ``(N, *action_shape)`` (continuous).
    """

    #: Capability: the agent learns from a fixed dataset alone (offline RL, imitation). Its config has a
    #: ``dataset`` field (:func:`joyrl_core.dataset_field`); in train mode the core reads the dataset
    #: once, before the task folder is made, into a buffer sized for it, and then calls :meth:`update`
    #: in a loop with ``env_steps`` 0 until ``general_cfg.max_update_steps``. No training env is built
    #: or stepped; online evaluation and test mode run on the env as for any agent, and every step axis
    #: (checkpoints, evaluations, loggers) counts update steps. Backends read it to keep such a run in
    #: one process.
    offline: ClassVar[bool] = False

    @abc.abstractmethod
    def sample_action(self, obs: np.ndarray, env_steps: int) -> np.ndarray:
        """Exploring actions for a batch of observations, while training.

        ``env_steps`` is the run's global count of env steps so far; exploration schedules (epsilon and
        the like) are a function of it, so workers in other processes explore exactly as the learner's
        schedule says. Called once per (vectorized) env step by whoever steps the env.
        """

    def act(self, obs: np.ndarray, env_steps: int) -> PolicyStep:
        """Exploring actions plus the per-step arrays to store with them, while training.

        This is what runners call on every (vectorized) training step. The default returns
        :meth:`sample_action`'s actions and no extras, which is all an off-policy agent needs. An
        agent that overrides it returns ``PolicyStep(actions, {"log_prob": ..., "value": ...})``, arrays
        with a leading axis of ``len(obs)``; it must then declare ``extra_columns`` in its
        ``buffer_needs`` (``register_algorithms``) so that its buffer stores them. Actions go to the env
        as returned and are stored as returned: an agent that clips its samples to the action bounds and
        learns from the unclipped sample keeps that sample in its extras.
        """
        return PolicyStep(self.sample_action(obs, env_steps))

    @abc.abstractmethod
    def predict_action(self, obs: np.ndarray) -> np.ndarray:
        """Greedy (best-guess) actions for a batch of observations: test mode and evaluation."""

    @abc.abstractmethod
    def update(self, buffer: Buffer, env_steps: int) -> Mapping[str, float] | None:
        """Learn from ``buffer`` if it is time to; return the metrics of the update, or ``None``.

        Called by the learner after every (vectorized) env step whose transitions were pushed to
        ``buffer``. The agent decides whether to learn (enough data, its update cadence), samples what
        it needs (``buffer.sample``), and returns e.g. ``{"loss": ...}`` when it took a gradient step.
        An :attr:`offline` agent is called in a loop over its filled buffer instead, ``env_steps`` 0,
        and should make at least one update step per call.
        The trainer checks every returned value: a NaN or infinite one (a diverged loss) stops the run
        with a :class:`joyrl_core.NonFiniteError` naming the update step and the key, and nothing
        trained after it is saved; so return the losses, not only log them.
        """

    @property
    @abc.abstractmethod
    def update_steps(self) -> int:
        """How many updates (gradient steps) this agent has made; checkpoints count in this unit."""

    _gradient_hook: Callable[[list[Any]], None] | None = None

    def set_gradient_hook(self, hook: Callable[[list[Any]], None] | None) -> None:
        """Install ``hook(parameters)``, run by :meth:`sync_gradients` between backward and the step.

        Backends with several learner replicas install one that averages gradients across them (an
        all-reduce); with one learner there is none.
        """
        self._gradient_hook = hook

    def sync_gradients(self, parameters: Iterable[Any]) -> None:
        """Call after ``loss.backward()`` and before ``optimizer.step()`` in :meth:`update`, with the
        parameters being optimised, so that multi-learner backends can average their gradients."""
        if self._gradient_hook is not None:
            self._gradient_hook([p for p in parameters if p.grad is not None])

    def exploration(self, env_steps: int) -> Mapping[str, float]:
        """Exploration state worth showing in progress and logs at ``env_steps`` (e.g. epsilon)."""
        return {}

    @abc.abstractmethod
    def get_weights(self) -> dict[str, Any]:
        """What acting needs (network weights as CPU tensors or arrays); sent from learner to workers."""

    @abc.abstractmethod
    def set_weights(self, weights: Mapping[str, Any]) -> None:
        """Replace the acting weights with ``weights`` from :meth:`get_weights` of another instance."""

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything a checkpoint needs: weights, optimizer state, schedules, counters.

        Values are tensors, numbers, strings, ``None``, and lists/dicts of them, so the checkpoint loads
        with ``torch.load(weights_only=True)``; saving anything else (numpy arrays included) is an error.
        """

    @abc.abstractmethod
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; raise ``ValueError`` naming what does not match."""
