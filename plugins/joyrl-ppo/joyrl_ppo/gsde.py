"""Generalized State-Dependent Exploration (gSDE; Raffin et al., 2021, "Smooth Exploration for
Robotic Reinforcement Learning"), as Stable-Baselines3's ``StateDependentNoiseDistribution``.

The exploration noise is a linear function of the policy's last latent features z(s) (detached: the
features are learned by the mean, not by the noise): ``a = mu(s) + z(s) @ E`` with a noise matrix
``E ~ N(0, sigma^2)`` of shape ``(latent_dim, action_dim)``, ``sigma = exp(log_std)`` learned, one
entry per latent feature and action dimension. ``E`` is drawn afresh only every ``sde_sample_freq``
steps (and at every rollout's start), so consecutive actions explore coherently instead of jittering.
Given s, ``a`` is Gaussian with mean ``mu(s)`` and per-dimension variance
``sum_j z_j(s)^2 sigma_ja^2``; that is the distribution PPO's ratio and entropy use.
"""

from __future__ import annotations

import numpy as np
import torch

from joyrl_ppo.distributions import gaussian_log_prob_entropy

# SB3's epsilon under the variance: a state with all-zero features still has a defined log-prob.
VARIANCE_EPS = 1e-6


def gsde_log_std(latent: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """The per-state log standard deviation, ``(batch, action_dim)``, of latent features
    ``(batch, latent_dim)`` under the noise matrix's ``log_std`` ``(latent_dim, action_dim)``."""
    variance = latent.detach().pow(2) @ torch.exp(2 * log_std)
    return 0.5 * torch.log(variance + VARIANCE_EPS)


def gsde_log_prob_entropy(mean: torch.Tensor, log_std: torch.Tensor, latent: torch.Tensor,
                          actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``log pi(a|s)`` summed over action dimensions, and the entropy, per row."""
    return gaussian_log_prob_entropy(mean, gsde_log_std(latent, log_std), actions)


class StateDependentNoise:
    """The acting side: one noise matrix per env stream, redrawn every ``sample_freq`` steps.

    ``sample_freq <= 0`` keeps a matrix for a whole rollout (:meth:`new_rollout` redraws). Draws come
    from the agent's numpy generator, so checkpoints that keep it keep the noise sequence.
    """

    def __init__(self, sample_freq: int, rng: np.random.Generator):
        self.sample_freq = sample_freq
        self._rng = rng
        self._matrices: np.ndarray | None = None
        self._step = 0

    def new_rollout(self) -> None:
        self._step = 0

    def noise(self, latent: np.ndarray, log_std: np.ndarray) -> np.ndarray:
        """``z(s) @ E`` for a batch of latent features, ``(n, latent_dim) -> (n, action_dim)``."""
        n = len(latent)
        redraw = self._step == 0 or (self.sample_freq > 0 and self._step % self.sample_freq == 0)
        if redraw or self._matrices is None or len(self._matrices) != n:
            self._matrices = np.exp(log_std) * self._rng.standard_normal((n, *log_std.shape))
        self._step += 1
        return np.einsum("nl,nla->na", latent, self._matrices)
