"""The pieces SAC, TD3 and DDPG share: action scaling, observation encoders, actors, critics, Polyak
averaging.

Actors work in the [-1, 1] action scale (a tanh at the end); :class:`ActionScale` is the one place
that maps to and from the env's ``Box`` bounds. Networks are built from the config's layer lists with
the core's :func:`joyrl_core.build_layers`. Each network starts with an :class:`Encoder` (SB3's
features extractor): observations as :func:`joyrl_core.obs_tensor` gives them (image frames still
``uint8``) to a feature vector. As in SB3's ``CnnPolicy`` for SAC and TD3, the actor has its own
encoder, trained by the actor loss, and the critics one encoder that the twin Q-heads share, trained
by the critic loss; each target network has its own copy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from joyrl_core import ConfigError, EnvSpec, LayerConfig, build_layers

LOG_2 = math.log(2.0)


def check_action_space(env_spec: EnvSpec, algo: str) -> None:
    """A ``ConfigError`` unless the env has a bounded ``Box`` action space."""
    if env_spec.action_kind != "continuous":
        raise ConfigError(f"{algo} needs a continuous (Box) action space; env {env_spec.env_id!r} has "
                          f"{env_spec.n_actions} discrete actions (use DQN, or a continuous version of the env)")
    low, high = env_spec.action_low, env_spec.action_high
    if low is None or high is None or not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise ConfigError(f"{algo} needs a bounded Box action space (finite low and high); env "
                          f"{env_spec.env_id!r} has low {low} and high {high} (wrap it with gymnasium's "
                          "RescaleAction or ClipAction)")
    if np.any(high <= low):
        raise ConfigError(f"{algo} needs high > low in every action dimension; env {env_spec.env_id!r} has "
                          f"low {low} and high {high}")


class ActionScale:
    """The affine map between the actor's [-1, 1] actions and the env's ``[low, high]`` box."""

    def __init__(self, low: np.ndarray, high: np.ndarray, device: str = "cpu"):
        self.low = np.asarray(low, dtype=np.float32)
        self.high = np.asarray(high, dtype=np.float32)
        self.half_range = (self.high - self.low) / 2.0
        self.mid = (self.high + self.low) / 2.0
        self._half_range_t = torch.as_tensor(self.half_range, device=device)
        self._mid_t = torch.as_tensor(self.mid, device=device)

    def to_env(self, action: np.ndarray) -> np.ndarray:
        """[-1, 1] to the env's box (clipped there: float rounding must not leave the box)."""
        return np.clip(self.mid + self.half_range * action, self.low, self.high).astype(np.float32, copy=False)

    def from_env(self, action: torch.Tensor) -> torch.Tensor:
        """The env's box (what the buffer stores) to [-1, 1]."""
        return ((action - self._mid_t) / self._half_range_t).clamp_(-1.0, 1.0)


class Encoder(nn.Sequential):
    """Observations to ``features`` numbers: the core's input module where the observations are compact
    or channels-last (``uint8`` scaled to [0, 1], ``HWC -> CHW``; :mod:`joyrl_core.networks.inputs`), then
    ``layers`` (``algo_cfg.encoder_layers``: convolutions, presets, linear layers), flattened.
    ``obs_shape`` is the agent's (a ``Discrete`` observation already made ``(1,)``). With no
    layers it is the flattened observation and has no parameters (so an MLP's checkpoint keys do not
    change). A layer list that does not fit the observation shape is a ``ValueError`` naming the layer
    and the shapes."""

    def __init__(self, layers: Sequence[LayerConfig], obs_shape: Sequence[int], obs_dtype=np.float32):
        # A flatten alone is the "no encoder" case: build_layers still puts the input module in front.
        stack = list(layers) or [LayerConfig(layer_type="flatten", activation="none")]
        try:
            modules, shape = build_layers(stack, tuple(obs_shape), obs_dtype=obs_dtype)
        except ValueError as exc:
            raise ValueError(f"algo_cfg.encoder_layers: {exc}") from None
        if len(shape) != 1:
            modules.append(nn.Flatten())
        super().__init__(*modules)
        self.features = math.prod(shape)


def mlp(layers: Sequence[LayerConfig], in_dim: int, out_dim: int) -> nn.Sequential:
    """``layers`` on a vector of ``in_dim`` features, then a linear layer to ``out_dim``."""
    modules, shape = build_layers(layers, (in_dim,))
    return nn.Sequential(*modules, nn.Linear(shape[0], out_dim))


class SquashedGaussianActor(nn.Module):
    """SAC's policy: ``a = tanh(u)``, ``u ~ N(mu(s), std(s))``, with the log-probability of ``a``.

    The change of variables through tanh gives (Haarnoja et al., 2018, appendix C)::

        log pi(a|s) = log N(u; mu, std) - sum_i log(1 - tanh(u_i)^2)

    with ``log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))``, which is exact and stays finite where
    ``tanh(u)`` rounds to +-1.
    """

    def __init__(self, encoder: Encoder, layers: Sequence[LayerConfig], act_dim: int, log_std_min: float,
                 log_std_max: float):
        super().__init__()
        self.encoder = encoder
        modules, shape = build_layers(layers, (encoder.features,))
        self.trunk = nn.Sequential(*modules)
        self.mu = nn.Linear(shape[0], act_dim)
        self.log_std = nn.Linear(shape[0], act_dim)
        self.log_std_min, self.log_std_max = log_std_min, log_std_max

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log std of ``u`` (before the tanh)."""
        features = self.trunk(self.encoder(obs))
        return self.mu(features), self.log_std(features).clamp(self.log_std_min, self.log_std_max)

    def sample(self, obs: torch.Tensor, generator: torch.Generator | None = None) \
            -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised action in [-1, 1] and its log-probability (shape ``(B,)``)."""
        mu, log_std = self(obs)
        std = log_std.exp()
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        u = mu + std * eps
        # log N(u; mu, std) with (u - mu) / std = eps
        gaussian = -0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)
        correction = 2.0 * (LOG_2 - u - F.softplus(-2.0 * u))
        return torch.tanh(u), (gaussian - correction).sum(dim=1)

    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        """The mode's image: ``tanh(mu(s))``."""
        return torch.tanh(self(obs)[0])


class DeterministicActor(nn.Module):
    """TD3's and DDPG's policy ``a = tanh(mu(s))``."""

    def __init__(self, encoder: Encoder, layers: Sequence[LayerConfig], act_dim: int):
        super().__init__()
        self.encoder = encoder
        self.net = mlp(layers, encoder.features, act_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(self.encoder(obs)))


class Critics(nn.Module):
    """``n`` Q-networks ``Q_i(s, a) = q_i([encoder(s), a])``: one encoder, shared by the heads (as SB3's
    ``ContinuousCritic``), and ``n`` independent MLP heads; ``forward`` gives their values as ``(n, B)``."""

    def __init__(self, encoder: Encoder, layers: Sequence[LayerConfig], act_dim: int, n: int):
        super().__init__()
        self.encoder = encoder
        self.q = nn.ModuleList(mlp(layers, encoder.features + act_dim, 1) for _ in range(n))

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.heads(self.encoder(obs), action)

    def heads(self, features: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The Q-values from the encoder's ``features``: a caller valuing many actions per observation
        encodes each observation once."""
        x = torch.cat([features, action], dim=1)
        return torch.stack([q(x).squeeze(1) for q in self.q])


@torch.no_grad()
def polyak(target: list[torch.Tensor], online: list[torch.Tensor], tau: float) -> None:
    """``target += tau * (online - target)`` for every pair, in one fused op."""
    torch._foreach_lerp_(target, online, tau)


def adam(params: list[nn.Parameter], lr: float, fused: bool) -> torch.optim.Adam:
    """Adam; with ``fused`` torch's one-kernel version where this torch and device have it (the same
    update as the loop over parameters, in one call)."""
    if fused:
        try:
            return torch.optim.Adam(params, lr=lr, fused=True)
        except (RuntimeError, ValueError, TypeError):
            # No fused kernel for this torch or device: the loop over parameters is the same update.
            return torch.optim.Adam(params, lr=lr)
    return torch.optim.Adam(params, lr=lr)
