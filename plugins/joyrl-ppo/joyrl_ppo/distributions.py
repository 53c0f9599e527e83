"""The two policy distributions, as log-probabilities and entropies of torch tensors.

Categorical over logits for ``Discrete`` actions; a diagonal Gaussian with a state-independent,
learned log standard deviation for ``Box`` actions. Sampling happens in numpy while acting
(``ppo.py``); these are what the update differentiates.
"""

from __future__ import annotations

import math

import torch

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def categorical_log_prob_entropy(logits: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``log pi(a|s)`` of integer ``actions`` and the entropy, per row of ``logits``."""
    log_probs = torch.log_softmax(logits, dim=-1)
    log_prob = log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
    entropy = -(log_probs.exp() * log_probs).sum(dim=-1)
    return log_prob, entropy


def gaussian_log_prob_entropy(mean: torch.Tensor, log_std: torch.Tensor,
                              actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``log N(a; mean, exp(log_std)^2)`` summed over action dimensions, and the entropy, per row."""
    z = (actions - mean) * torch.exp(-log_std)
    log_prob = (-0.5 * z.pow(2) - log_std - LOG_SQRT_2PI).sum(dim=-1)
    entropy = (0.5 + LOG_SQRT_2PI + log_std).sum(dim=-1).expand(mean.shape[0])
    return log_prob, entropy
