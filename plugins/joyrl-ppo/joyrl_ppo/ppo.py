"""PPO (Schulman et al., 2017, "Proximal Policy Optimization Algorithms") and A2C on the same code.

Acting (:meth:`ActorCriticAgent.act`) samples ``a ~ pi_old(.|s)`` and hands the core, per step, what the
update needs of the policy that acted: ``log_prob`` = log pi_old(a|s) and ``value`` = V_old(s) (and for
``Box`` actions the unclipped ``sample``: the env gets the sample clipped to its bounds, the log-prob is
of the sample). The ``ROLLOUT`` buffer stores them row-aligned with the transitions.

Once the rollout is full (``n_steps`` steps of every env), :meth:`ActorCriticAgent.update`:

1. computes advantages A_t with GAE(lambda) (Schulman et al., 2016) and returns R_t = A_t + V_old(s_t)
   (the buffer: a terminated step does not bootstrap, a truncated one bootstraps from V of its final
   observation);
2. for ``n_epochs`` passes over the rollout in shuffled minibatches, minimises (paper, eq. 9)

       L = -L^CLIP + vf_coef * L^VF - ent_coef * S[pi],
       L^CLIP = mean( min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t) ),  r_t = pi(a_t|s_t) / pi_old(a_t|s_t)
       L^VF   = mean( (V(s_t) - R_t)^2 ), or with ``clip_range_vf`` the value change clipped around V_old

   with the advantages normalised per minibatch, the gradient norm clipped, and (``target_kl``) the
   epochs stopped once the approximate KL, mean((r - 1) - log r), exceeds 1.5 x target_kl;
3. clears the rollout.

A2C is the same update with one pass over the whole rollout and the plain policy gradient
``-mean(log pi(a_t|s_t) A_t)`` in place of L^CLIP (optimizer RMSprop by default, as in SB3).

``lr_schedule``/``clip_schedule: linear`` scale lr and eps by the fraction of the run's env-step budget
left (``shape.max_env_steps``), as SB3's linear schedules do.

``fast.py`` computes the same numbers with fewer torch ops on CPU (explicit gradients in place of
:meth:`ActorCriticAgent._gradient_step`'s autograd); ``algo_cfg.fast_path`` (``auto`` / ``off``) picks it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from joyrl_core import (
    Agent,
    Buffer,
    EnvSpec,
    PolicyStep,
    RunShape,
    load_module_weights,
    module_weights,
    obs_tensor,
)

from joyrl_ppo.config import ActorCriticConfig, PPOConfig
from joyrl_ppo.distributions import LOG_SQRT_2PI, categorical_log_prob_entropy, gaussian_log_prob_entropy
from joyrl_ppo.gsde import StateDependentNoise, gsde_log_prob_entropy, gsde_log_std
from joyrl_ppo.network import ActorCritic


class ActorCriticAgent(Agent):
    """PPO when ``config`` is a :class:`PPOConfig`, A2C otherwise (:class:`A2CConfig`)."""

    def __init__(self, config: ActorCriticConfig, env_spec: EnvSpec, device: str, seed: int | None,
                 shape: RunShape):
        self.cfg = config
        self.ppo = isinstance(config, PPOConfig)
        self.env_spec = env_spec
        self.shape = shape
        self.device = torch.device(device)
        self.discrete = env_spec.action_kind == "discrete"
        self.net = ActorCritic(config, env_spec).to(self.device)
        self._params = list(self.net.parameters())  # walking the module tree each step costs as much as an op
        if config.optimizer == "adam":
            # fused: one kernel for all the parameters (a quarter of the per-step optimizer time at
            # these sizes on CPU); the same Adam update.
            self.optimizer = torch.optim.Adam(self._params, lr=config.lr, eps=config.optimizer_eps,
                                              fused=self.device.type in ("cpu", "cuda"))
        else:
            self.optimizer = torch.optim.RMSprop(self._params, lr=config.lr, alpha=0.99,
                                                 eps=config.optimizer_eps)
        self._rng = np.random.default_rng(seed)
        self.sde = StateDependentNoise(config.sde_sample_freq, self._rng) if config.use_sde else None
        self._updates = 0
        self._rollouts = 0

    # -- acting ---------------------------------------------------------------------------------

    def _obs(self, obs: np.ndarray) -> torch.Tensor:
        obs = obs_tensor(obs, self.device)  # images stay compact; the network scales them
        return obs.reshape(len(obs), 1) if not self.env_spec.obs_shape else obs

    def _forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The network's policy features, policy output and value of a batch, as acting reads them."""
        return self.net.forward_latent(obs)

    def act(self, obs: np.ndarray, env_steps: int) -> PolicyStep:
        with torch.inference_mode():
            latent, out, value = self._forward(self._obs(obs))
            out, value = out.cpu().numpy().astype(np.float64), value.cpu().numpy()
        n = len(out)
        if self.discrete:
            # Inverse-CDF sampling in numpy: far cheaper per step than a torch Categorical.
            log_probs = out - out.max(axis=1, keepdims=True)
            log_probs -= np.log(np.exp(log_probs).sum(axis=1, keepdims=True))
            cdf = np.cumsum(np.exp(log_probs), axis=1)
            u = self._rng.random((n, 1)) * cdf[:, -1:]
            actions = np.minimum((u > cdf).sum(axis=1), out.shape[1] - 1)
            log_prob = log_probs[np.arange(n), actions]
            return PolicyStep(actions, {"log_prob": log_prob.astype(np.float32), "value": value})
        log_std = self.net.log_std.detach().cpu().numpy().astype(np.float64)
        if self.sde is None:
            noise = self._rng.standard_normal(out.shape)
        else:  # gSDE (gsde.py): the noise z(s) @ E, standardised by the state's std that the log-prob uses
            with torch.inference_mode():
                state_log_std = gsde_log_std(latent, self.net.log_std).cpu().numpy().astype(np.float64)
            noise = self.sde.noise(latent.cpu().numpy().astype(np.float64), log_std) * np.exp(-state_log_std)
            log_std = state_log_std
        sample = out + np.exp(log_std) * noise
        log_prob = (-0.5 * noise**2 - log_std - LOG_SQRT_2PI).sum(axis=1)
        spec = self.env_spec
        actions = np.clip(sample, spec.action_low.reshape(-1), spec.action_high.reshape(-1))
        return PolicyStep(
            actions.astype(np.float32).reshape(n, *spec.action_shape),
            {"log_prob": log_prob.astype(np.float32), "value": value, "sample": sample.astype(np.float32)},
        )

    def sample_action(self, obs: np.ndarray, env_steps: int) -> np.ndarray:
        return self.act(obs, env_steps).actions

    @torch.inference_mode()
    def predict_action(self, obs: np.ndarray) -> np.ndarray:
        out, _ = self.net(self._obs(obs))
        out = out.cpu().numpy()
        if self.discrete:
            return out.argmax(axis=1)
        spec = self.env_spec
        actions = np.clip(out, spec.action_low.reshape(-1), spec.action_high.reshape(-1))
        return actions.astype(np.float32).reshape(len(out), *spec.action_shape)

    # -- learning -------------------------------------------------------------------------------

    @property
    def update_steps(self) -> int:
        return self._updates

    def progress_left(self, env_steps: int) -> float:
        """The fraction of the run's env-step budget still to go (1 without a budget)."""
        budget = self.shape.max_env_steps
        return 1.0 if budget is None else max(0.0, 1.0 - env_steps / budget)

    @torch.inference_mode()
    def _values_of(self, obs: np.ndarray) -> np.ndarray:
        return self.net.value(self._obs(obs)).cpu().numpy()

    def _log_prob_entropy(self, latent: torch.Tensor, out: torch.Tensor,
                          actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.discrete:
            return categorical_log_prob_entropy(out, actions)
        if self.sde is not None:
            return gsde_log_prob_entropy(out, self.net.log_std, latent, actions)
        return gaussian_log_prob_entropy(out, self.net.log_std, actions)

    def _rollout_tensors(self, buffer: Buffer) -> tuple[dict[str, torch.Tensor], np.ndarray, np.ndarray]:
        """The whole rollout as tensors, once per update: minibatches are index_selects of these (one
        gather per column) rather than a fresh Batch of numpy copies per gradient step."""
        everything = buffer.batch(np.arange(len(buffer)))
        extras = everything.extras
        taken = everything.actions if self.discrete else extras["sample"].reshape(len(everything), -1)
        columns = {"obs": self._obs(everything.obs), "actions": torch.as_tensor(taken, device=self.device)}
        for key in ("log_prob", "value", "advantages", "returns"):
            columns[key] = torch.as_tensor(extras[key], device=self.device)
        return columns, extras["value"], extras["returns"]

    def _gradient_step(self, obs: torch.Tensor, actions: torch.Tensor, old_log_prob: torch.Tensor,
                       old_values: torch.Tensor, advantages: torch.Tensor, returns: torch.Tensor,
                       clip: float | None) -> torch.Tensor | None:
        """One step on a minibatch (advantages already normalised): its policy loss, value loss, entropy,
        approximate KL and clip fraction, or ``None`` (no step) where ``target_kl`` stops the epochs."""
        cfg = self.cfg
        latent, out, values = self.net.forward_latent(obs)
        log_prob, entropy = self._log_prob_entropy(latent, out, actions)
        log_ratio = log_prob - old_log_prob
        ratio = torch.exp(log_ratio)
        if self.ppo:
            surrogate = torch.min(advantages * ratio, advantages * torch.clamp(ratio, 1 - clip, 1 + clip))
            policy_loss = -surrogate.mean()
        else:
            policy_loss = -(advantages * log_prob).mean()
        if self.ppo and cfg.clip_range_vf is not None:
            values = old_values + torch.clamp(values - old_values, -cfg.clip_range_vf, cfg.clip_range_vf)
        value_loss = (returns - values).pow(2).mean()
        entropy = entropy.mean()
        loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy

        with torch.no_grad():
            approx_kl = ((ratio - 1) - log_ratio).mean()
            clip_fraction = ((ratio - 1).abs() > clip).float().mean() if self.ppo else torch.zeros(())
        if self.ppo and cfg.target_kl is not None and float(approx_kl) > 1.5 * cfg.target_kl:
            return None
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.sync_gradients(self._params)
        if cfg.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(self._params, cfg.max_grad_norm)
        self.optimizer.step()
        return torch.stack([policy_loss.detach(), value_loss.detach(), entropy.detach(), approx_kl, clip_fraction])

    def update(self, buffer: Buffer, env_steps: int) -> Mapping[str, float] | None:
        if not buffer.full:
            return None
        cfg = self.cfg
        left = self.progress_left(env_steps)
        lr = cfg.lr * left if cfg.lr_schedule == "linear" else cfg.lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        clip = None
        if self.ppo:
            clip = cfg.clip_range * left if cfg.clip_schedule == "linear" else cfg.clip_range
        buffer.compute_gae(self._values_of, cfg.gamma, cfg.gae_lambda)
        rollout, old_values_np, returns_np = self._rollout_tensors(buffer)
        rollout_size = len(old_values_np)
        # PPO: n_epochs passes, each in a fresh random order cut into batch_size rows; A2C: the whole
        # rollout once. The orders come from the agent's generator, which checkpoints keep.
        batch_size, n_epochs = (cfg.batch_size, cfg.n_epochs) if self.ppo else (rollout_size, 1)

        stats: list[torch.Tensor] = []  # per step: policy loss, value loss, entropy, approx KL, clip fraction
        stop = False
        for _ in range(n_epochs):
            order = torch.as_tensor(self._rng.permutation(rollout_size), device=self.device)
            for start in range(0, rollout_size, batch_size):
                idx = order[start : start + batch_size]
                obs, actions, old_log_prob, old_values, advantages, returns = (
                    rollout[key].index_select(0, idx)
                    for key in ("obs", "actions", "log_prob", "value", "advantages", "returns"))
                if cfg.normalize_advantage and len(advantages) > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

                step_stats = self._gradient_step(obs, actions, old_log_prob, old_values, advantages, returns, clip)
                if step_stats is None:
                    stop = True  # this minibatch already moved too far from pi_old: no step on it, no more epochs
                    break
                self._updates += 1
                stats.append(step_stats)
            if stop:
                break

        buffer.clear()
        self._rollouts += 1
        if self.sde is not None:
            self.sde.new_rollout()
        means = torch.stack(stats).mean(dim=0).tolist() if stats else [0.0] * 5
        metrics = dict(zip(("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction"), means))
        metrics["explained_variance"] = explained_variance(old_values_np, returns_np)
        metrics["lr"] = lr
        if self.ppo:
            metrics["clip_range"] = clip
        if not self.discrete:
            metrics["std"] = float(self.net.log_std.detach().exp().mean())
        return metrics

    # -- weights and checkpoints ----------------------------------------------------------------

    def get_weights(self) -> dict[str, Any]:
        return module_weights(self.net)

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        load_module_weights(self.net, weights)
        if self.sde is not None:  # a worker's next rollout (Ray backend) explores with the new log_std
            self.sde.new_rollout()

    def state_dict(self) -> dict[str, Any]:
        return {
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "update_steps": self._updates,
            "rollouts": self._rollouts,
            "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        missing = {"net", "optimizer", "update_steps", "rollouts", "rng"} - set(state)
        if missing:
            raise ValueError(f"not a PPO/A2C checkpoint: missing {sorted(missing)}")
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._updates = int(state["update_steps"])
        self._rollouts = int(state["rollouts"])
        self._rng.bit_generator.state = state["rng"]


def explained_variance(predicted: np.ndarray, target: np.ndarray) -> float:
    """1 - Var(target - predicted) / Var(target): 1 is a perfect value function, 0 no better than a constant."""
    var = float(np.var(target))
    return math.nan if var == 0 else float(1.0 - np.var(target - predicted) / var)
