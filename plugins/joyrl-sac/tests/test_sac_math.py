"""SAC/TD3/DDPG against hand computations: the squashed Gaussian's log-probability, action scaling,
TD3's target smoothing and delay, the batched critics, exact resume, and the action-space errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from joyrl_core import ConfigError, EnvSpec, ReplayQueue
from joyrl_sac import DDPGConfig, SACConfig, TD3Config
from joyrl_sac.fused import BatchedCritics
from joyrl_sac.networks import ActionScale, Critics, Encoder, SquashedGaussianActor
from joyrl_sac.sac import SACAgent
from joyrl_sac.td3 import DDPGAgent, TD3Agent

from sac_helpers import plain_and_switched, resume_and_compare

LOW = np.array([-2.0, 0.0], dtype=np.float32)
HIGH = np.array([2.0, 1.0], dtype=np.float32)
SPEC = EnvSpec("Box-test", (3,), np.dtype(np.float32), "continuous", action_shape=(2,), action_low=LOW,
               action_high=HIGH)
SMALL = {"actor_layers": [{"layer_dim": [16]}], "critic_layers": [{"layer_dim": [16]}, {"layer_dim": [8]}],
         "batch_size": 8, "learning_starts": 0}


def filled_buffer(n: int = 64, seed: int = 0) -> ReplayQueue:
    rng = np.random.default_rng(seed)
    buffer = ReplayQueue(1000, SPEC, seed=seed)
    buffer.push_batch(rng.normal(size=(n, 3)).astype(np.float32), rng.uniform(LOW, HIGH, size=(n, 2)).astype(np.float32),
                      rng.normal(size=n).astype(np.float32), rng.normal(size=(n, 3)).astype(np.float32),
                      (rng.random(n) < 0.1).astype(np.float32))
    return buffer


def test_squashed_gaussian_log_prob_is_the_change_of_variables():
    torch.manual_seed(0)
    actor = SquashedGaussianActor(Encoder([], (3,)), SACConfig().actor_layers, 2, -20.0, 2.0)
    obs = torch.randn(64, 3)
    generator = torch.Generator().manual_seed(1)
    action, log_prob = actor.sample(obs, generator)
    mu, log_std = actor(obs)
    direct = D.TransformedDistribution(D.Normal(mu, log_std.exp()), [D.TanhTransform()])
    # The same u the actor drew, replayed from the same generator state.
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(1))
    u = mu + log_std.exp() * eps
    torch.testing.assert_close(action, torch.tanh(u))
    expected = (D.Normal(mu, log_std.exp()).log_prob(u) - torch.log(1 - torch.tanh(u) ** 2)).sum(1)
    torch.testing.assert_close(log_prob, expected, rtol=1e-4, atol=1e-4)
    inside = action.abs().max(dim=1).values < 0.999  # where torch's own version stays finite
    torch.testing.assert_close(log_prob[inside], direct.log_prob(action).sum(1)[inside], rtol=1e-3, atol=1e-3)


def test_log_prob_stays_finite_where_tanh_saturates():
    u = torch.tensor([[30.0, -30.0]])
    correction = 2.0 * (math.log(2.0) - u - torch.nn.functional.softplus(-2.0 * u))
    assert torch.isfinite(correction).all()
    torch.testing.assert_close(correction, torch.full_like(u, 2 * math.log(2.0) - 60.0))


def test_action_scaling_round_trips_and_stays_in_the_box():
    scale = ActionScale(LOW, HIGH)
    unit = np.random.default_rng(0).uniform(-1, 1, size=(100, 2)).astype(np.float32)
    env = scale.to_env(unit)
    assert (env >= LOW).all() and (env <= HIGH).all()
    np.testing.assert_allclose(scale.to_env(np.array([[-1.0, 1.0]])), [[-2.0, 1.0]])
    np.testing.assert_allclose(scale.from_env(torch.as_tensor(env)).numpy(), unit, atol=1e-6)
    assert (scale.to_env(np.array([[5.0, -5.0]])) == [[2.0, 0.0]]).all()


@pytest.mark.parametrize("make", [SACAgent, TD3Agent, DDPGAgent])
def test_actions_lie_in_the_env_box(make):
    config = {SACAgent: SACConfig, TD3Agent: TD3Config, DDPGAgent: DDPGConfig}[make](**SMALL)
    agent = make(config, SPEC, "cpu", 1)
    obs = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    for actions in (agent.sample_action(obs, 0), agent.sample_action(obs, 10**6), agent.predict_action(obs)):
        assert actions.shape == (50, 2) and actions.dtype == np.float32
        assert (actions >= LOW).all() and (actions <= HIGH).all()


def test_td3_target_smoothing_against_a_hand_computation():
    agent = TD3Agent(TD3Config(**SMALL, target_policy_noise=0.3, target_noise_clip=0.2, gamma=0.9,
                               batched_critics=False), SPEC, "cpu", 1)
    next_obs = torch.randn(8, 3)
    rewards, not_done = torch.randn(8), torch.tensor([1.0] * 7 + [0.0])
    state = agent.generator.get_state()
    target = agent.td_target(rewards, next_obs, not_done)
    eps = torch.randn((8, 2), generator=torch.Generator().set_state(state)) * 0.3
    next_actions = (agent.actor_target(next_obs) + eps.clamp(-0.2, 0.2)).clamp(-1.0, 1.0)
    x = torch.cat([next_obs, next_actions], dim=1)
    with torch.no_grad():
        q = torch.minimum(agent.critics_target.q[0](x).squeeze(1), agent.critics_target.q[1](x).squeeze(1))
    torch.testing.assert_close(target, rewards + 0.9 * not_done * q)


def test_ddpg_target_has_no_smoothing_and_one_critic():
    agent = DDPGAgent(DDPGConfig(**SMALL), SPEC, "cpu", 1)
    next_obs = torch.randn(8, 3)
    state = agent.generator.get_state()
    target = agent.td_target(torch.zeros(8), next_obs, torch.ones(8))
    assert torch.equal(agent.generator.get_state(), state)  # no noise drawn
    expected = agent.critics_target(next_obs, agent.actor_target(next_obs))
    assert expected.shape == (1, 8)
    torch.testing.assert_close(target, agent.cfg.gamma * expected[0])


def test_td3_updates_actor_and_targets_every_policy_delay_critic_steps():
    agent = TD3Agent(TD3Config(**SMALL, policy_delay=3), SPEC, "cpu", 1)
    buffer = filled_buffer()
    actor_changes, target_changes = [], []
    for step in range(1, 7):
        actor = [p.clone() for p in agent.actor.parameters()]
        target = [p.clone() for p in agent.critics_target.parameters()]
        critics = [p.clone() for p in agent.critics.parameters()]
        agent.update(buffer, step)
        assert not all(torch.equal(a, b) for a, b in zip(critics, agent.critics.parameters()))
        actor_changes.append(not all(torch.equal(a, b) for a, b in zip(actor, agent.actor.parameters())))
        target_changes.append(not all(torch.equal(a, b) for a, b in zip(target, agent.critics_target.parameters())))
    assert actor_changes == [False, False, True, False, False, True]
    assert target_changes == actor_changes
    assert agent.update_steps == 6


# A small conv encoder on 6x7 uint8 frames (channels last, as gymnasium gives images).
CONV = [{"layer_type": "conv2d", "layer_dim": [4], "kernel_size": 3, "stride": 1}, {"layer_type": "flatten", "activation": "none"}]


@pytest.mark.parametrize("n, encoder", [(1, None), (2, None), (3, None), (2, CONV)])
def test_batched_critics_give_the_plain_critics_values_and_gradients(n, encoder):
    torch.manual_seed(0)
    config = SACConfig(critic_layers=[{"layer_dim": [32], "activation": "tanh"}, {"layer_dim": [16]}],
                       encoder_layers=encoder or [])
    if encoder:
        obs = torch.randint(0, 256, (40, 6, 7, 1), dtype=torch.uint8)
        plain = Critics(Encoder(config.encoder_layers, (6, 7, 1), np.uint8), config.critic_layers, 2, n)
    else:
        obs = torch.randn(40, 3)
        plain = Critics(Encoder([], (3,)), config.critic_layers, 2, n)
    batched = BatchedCritics(plain)
    action = torch.randn(40, 2, requires_grad=True)
    weights = torch.randn(n, 40)
    out_plain, out_batched = plain(obs, action), batched(obs, action)
    torch.testing.assert_close(out_batched, out_plain)
    grads_plain = dict(zip(["action", *dict(plain.named_parameters())], torch.autograd.grad(
        (out_plain * weights).sum(), [action, *plain.parameters()])))
    grads_batched = dict(zip(["action", *dict(batched.named_parameters())], torch.autograd.grad(
        (out_batched * weights).sum(), [action, *batched.parameters()])))
    # The encoder, which the heads share, is the same module under the same keys in both layouts.
    shared = [name for name in grads_plain if not name.startswith("q.")]
    assert len(shared) == (3 if encoder else 1)
    for name in shared:
        torch.testing.assert_close(grads_batched.pop(name), grads_plain.pop(name))
    # Restack the plain critics' gradients in the batched layout: w0, b0, the stacked weights, the stacked biases.
    per_critic = [list(grads_plain.values())[i * 6:(i + 1) * 6] for i in range(n)]  # w, b for 3 linear layers
    grads_batched = list(grads_batched.values())
    torch.testing.assert_close(grads_batched[0], torch.cat([g[0].T for g in per_critic], dim=1))
    torch.testing.assert_close(grads_batched[1], torch.cat([g[1] for g in per_critic]))
    hidden = len(batched.weights)
    for depth in range(1, hidden + 1):
        torch.testing.assert_close(grads_batched[1 + depth], torch.stack([g[2 * depth].T for g in per_critic]))
        torch.testing.assert_close(grads_batched[1 + hidden + depth],
                                   torch.stack([g[2 * depth + 1] for g in per_critic]).unsqueeze(1))


@pytest.mark.parametrize("config, make", [(SACConfig, SACAgent), (TD3Config, TD3Agent)])
def test_the_speed_switches_learn_what_the_plain_version_learns(config, make):
    """Batched critics and fused Adam change how the step is computed, not the step."""
    agents = plain_and_switched(config, make, SMALL, SPEC, filled_buffer)
    for a, b in zip(agents[0].actor.parameters(), agents[1].actor.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    obs, action = torch.randn(20, 3), torch.rand(20, 2) * 2 - 1
    torch.testing.assert_close(agents[0].critics(obs, action), agents[1].critics(obs, action), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("config, make", [(SACConfig, SACAgent), (TD3Config, TD3Agent), (DDPGConfig, DDPGAgent)])
def test_resume_gives_the_identical_next_update(config, make, tmp_path):
    kwargs = dict(SMALL, gradient_steps=2)
    if config is not SACConfig:
        kwargs["exploration_noise"] = "ou"
    agent, resumed = resume_and_compare(config, make, kwargs, SPEC, filled_buffer(),
                                        np.zeros((2, 3), dtype=np.float32), tmp_path)
    assert resumed.update_steps == agent.update_steps == 8


def test_a_fixed_alpha_is_not_tuned():
    agent = SACAgent(SACConfig(**SMALL, alpha=0.2), SPEC, "cpu", 1)
    agent.update(filled_buffer(), 1)
    assert "alpha" not in agent.optimizers
    assert agent.exploration(0)["alpha"] == pytest.approx(0.2)


def test_tuned_alpha_moves_towards_the_target_entropy():
    agent = SACAgent(SACConfig(**SMALL, target_entropy=-100.0), SPEC, "cpu", 1)
    buffer = filled_buffer()
    for step in range(1, 11):
        metrics = agent.update(buffer, step)
    assert agent.target_entropy == -100.0 and SACAgent(SACConfig(**SMALL), SPEC, "cpu", 1).target_entropy == -2.0
    # The entropy is far above -100, so alpha shrinks.
    assert metrics["alpha"] < 1.0 and set(metrics) == {"critic_loss", "actor_loss", "alpha", "entropy", "q_mean"}


def test_learning_starts_acts_uniformly_and_does_not_learn():
    agent = SACAgent(SACConfig(**dict(SMALL, learning_starts=50)), SPEC, "cpu", 1)
    actions = agent.sample_action(np.zeros((2000, 3), dtype=np.float32), 49)
    assert abs(actions[:, 0].mean()) < 0.1 and abs(actions[:, 1].mean() - 0.5) < 0.05
    assert actions[:, 0].min() < -1.9 and actions[:, 0].max() > 1.9
    assert agent.update(filled_buffer(), 49) is None and agent.update_steps == 0


def test_ou_noise_is_correlated_and_the_schedule_decays():
    agent = TD3Agent(TD3Config(**SMALL, exploration_noise="ou", noise_std=0.5, noise_std_end=0.1,
                               noise_decay_steps=100, ou_dt=0.01), SPEC, "cpu", 1)
    assert agent.exploration(0)["noise_std"] == pytest.approx(0.5)
    assert agent.exploration(50)["noise_std"] == pytest.approx(0.3)
    assert agent.exploration(10**6)["noise_std"] == pytest.approx(0.1)
    draws = np.array([agent.noise.sample(1, 0)[0, 0] for _ in range(2000)])
    assert np.corrcoef(draws[:-1], draws[1:])[0, 1] > 0.9


@pytest.mark.parametrize("spec, needs", [
    (EnvSpec("CartPole-v1", (4,), np.dtype(np.float32), "discrete", n_actions=2), "continuous"),
    (EnvSpec("Unbounded-v0", (3,), np.dtype(np.float32), "continuous", action_shape=(1,),
             action_low=np.array([-np.inf], dtype=np.float32), action_high=np.array([np.inf], dtype=np.float32)),
     "bounded"),
])
@pytest.mark.parametrize("make", [SACAgent, TD3Agent, DDPGAgent])
def test_an_unsuitable_action_space_is_a_one_line_error(spec, needs, make):
    config = {SACAgent: SACConfig, TD3Agent: TD3Config, DDPGAgent: DDPGConfig}[make]()
    with pytest.raises(ConfigError, match=needs) as info:
        make(config, spec, "cpu", 1)
    assert spec.env_id in str(info.value) and make.algo_name in str(info.value) and "\n" not in str(info.value)
