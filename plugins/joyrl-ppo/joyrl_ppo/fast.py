"""PPO's and A2C's CPU speed path: :class:`FastActorCriticAgent` computes what ``ppo.py``'s
:class:`ActorCriticAgent` computes, with fewer torch ops. ``algo_cfg.fast_path: auto`` (the default) runs
it, ``off`` runs the plain agent.

At PPO's usual sizes (minibatches of 64-256 rows, two 64x64 tanh MLPs) a gradient step on CPU is mostly
autograd's per-op overhead: recording the graph, running its engine, accumulating fresh ``.grad``
tensors. So acting runs the same explicit forward pass as learning, and each gradient step

- runs actor and critic through :class:`joyrl_core.ExplicitMLP` (the forward keeps each layer's input,
  the backward is three matrix products per layer, written into the parameters' ``.grad`` in place);
- takes the loss's derivative with respect to the policy output (logits or Gaussian mean), ``log_std``
  and ``V(s)`` by hand, from the same forward quantities ``ppo.py`` computes (below, ``n`` rows,
  ``A`` the normalised advantages, ``r`` the probability ratio):

      dL/dlog pi(a|s) = -A r [A r <= A clip(r)] / n      (PPO: the min's gradient, clip's zero outside)
                      = -A / n                            (A2C)
      dL/dV(s)        = 2 vf_coef (V' - R) [|V - V_old| <= clip_range_vf] / n,  V' the (clipped) value
      categorical:  dlog pi/dlogits = onehot(a) - p,   dH/dlogits = -p (log p + H)
      Gaussian:     dlog pi/dmean = z / std,  dlog pi/dlog_std = z^2 - 1,  dH/dlog_std = 1,  z = (a - mean) / std

- then syncs, clips the gradient norm and steps the same optimizer as ``ppo.py``.

The tests (``tests/test_ppo_fast_path.py``) hold the parameters after several updates to the plain
agent's within float32 rounding. Networks it does not cover -- a shared trunk, layers other than
linear with relu/tanh/sigmoid, extra parameters, gSDE (``use_sde``) -- and GPUs take the plain autograd step.
"""

from __future__ import annotations

import torch
from torch import nn

from joyrl_core import EnvSpec, ExplicitMLP, RunShape

from joyrl_ppo.config import ActorCriticConfig
from joyrl_ppo.distributions import LOG_SQRT_2PI
from joyrl_ppo.ppo import ActorCriticAgent


class FastActorCriticAgent(ActorCriticAgent):
    """:class:`ActorCriticAgent` with explicit gradient steps where its network allows them (CPU, two MLPs)."""

    def __init__(self, config: ActorCriticConfig, env_spec: EnvSpec, device: str, seed: int | None,
                 shape: RunShape):
        super().__init__(config, env_spec, device, seed, shape)
        self._actor, self._critic = self._explicit_nets()

    def _explicit_nets(self) -> tuple[ExplicitMLP | None, ExplicitMLP | None]:
        net = self.net
        if self.device.type != "cpu" or not isinstance(net.shared, nn.Identity) or self.sde is not None:
            return None, None
        actor = ExplicitMLP.of(nn.Sequential(*net.actor, net.policy_head))
        critic = ExplicitMLP.of(nn.Sequential(*net.critic, net.value_head))
        if actor is None or critic is None:
            return None, None
        covered = {id(p) for mlp in (actor, critic) for p in (*mlp.weights, *mlp.biases)}
        if net.log_std is not None:
            covered.add(id(net.log_std))
        # A parameter the explicit pass does not know of would get no gradient: leave such nets to autograd.
        if covered != {id(p) for p in self._params}:
            return None, None
        return actor, critic

    def _forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._actor is None:
            return super()._forward(obs)
        out, inputs = self._actor.forward(obs)
        return inputs[-1], out, self._critic.forward(obs)[0].squeeze(-1)  # the policy head's input: the features

    def _gradient_step(self, obs: torch.Tensor, actions: torch.Tensor, old_log_prob: torch.Tensor,
                       old_values: torch.Tensor, advantages: torch.Tensor, returns: torch.Tensor,
                       clip: float | None) -> torch.Tensor | None:
        if self._actor is None:
            return super()._gradient_step(obs, actions, old_log_prob, old_values, advantages, returns, clip)
        cfg = self.cfg
        n = len(obs)
        with torch.no_grad():
            out, actor_inputs = self._actor.forward(obs)
            values, critic_inputs = self._critic.forward(obs)
            values = values.squeeze(-1)
            if self.discrete:
                log_probs = torch.log_softmax(out, dim=-1)
                taken = actions.long().unsqueeze(-1)
                log_prob = log_probs.gather(-1, taken).squeeze(-1)
                probs = log_probs.exp()
                entropy_rows = -(probs * log_probs).sum(dim=-1)
                entropy = entropy_rows.mean()
            else:
                log_std = self.net.log_std
                inv_std = torch.exp(-log_std)
                z = (actions - out) * inv_std
                log_prob = (-0.5 * z.pow(2) - log_std - LOG_SQRT_2PI).sum(dim=-1)
                entropy = (0.5 + LOG_SQRT_2PI + log_std).sum()
            log_ratio = log_prob - old_log_prob
            ratio = torch.exp(log_ratio)
            if self.ppo:
                unclipped, clipped = advantages * ratio, advantages * torch.clamp(ratio, 1 - clip, 1 + clip)
                policy_loss = -torch.min(unclipped, clipped).mean()
                # d min(A r, A clip(r)) / dr: A where the unclipped term is the min (ties: clip(r) = r, so
                # both halves of torch.min's split gradient are A), 0 where the clipped one is.
                grad_log_prob = (advantages * (unclipped <= clipped)).mul_(ratio).mul_(-1.0 / n)
            else:
                policy_loss = -(advantages * log_prob).mean()
                grad_log_prob = advantages * (-1.0 / n)
            grad_value_scale = 2.0 * cfg.vf_coef / n
            if self.ppo and cfg.clip_range_vf is not None:
                change = values - old_values
                used = old_values + torch.clamp(change, -cfg.clip_range_vf, cfg.clip_range_vf)
                error = used - returns
                grad_values = error * (change.abs() <= cfg.clip_range_vf) * grad_value_scale
            else:
                error = values - returns
                grad_values = error * grad_value_scale
            value_loss = error.pow(2).mean()
            approx_kl = ((ratio - 1) - log_ratio).mean()
            clip_fraction = ((ratio - 1).abs() > clip).float().mean() if self.ppo else torch.zeros(())
            if self.ppo and cfg.target_kl is not None and float(approx_kl) > 1.5 * cfg.target_kl:
                return None

            if self.discrete:
                grad_out = probs * -grad_log_prob.unsqueeze(-1)
                grad_out.scatter_add_(-1, taken, grad_log_prob.unsqueeze(-1))
                if cfg.ent_coef:
                    grad_out += (probs * (log_probs + entropy_rows.unsqueeze(-1))) * (cfg.ent_coef / n)
            else:
                weighted = grad_log_prob.unsqueeze(-1)
                grad_out = weighted * z * inv_std
                grad_log_std = (weighted * (z * z - 1.0)).sum(dim=0) - cfg.ent_coef
                if log_std.grad is None:
                    log_std.grad = grad_log_std
                else:
                    log_std.grad.copy_(grad_log_std)
            self._actor.backward(grad_out, actor_inputs)
            self._critic.backward(grad_values.unsqueeze(-1), critic_inputs)
        self.sync_gradients(self._params)
        if cfg.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(self._params, cfg.max_grad_norm)
        self.optimizer.step()
        return torch.stack([policy_loss, value_loss, entropy, approx_kl, clip_fraction])
