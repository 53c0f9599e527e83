"""The DQN family in joyrl-dqn: Double DQN targets, dueling heads, soft target updates, the update
cadence (train_freq, gradient_steps, learning_starts), losses, gradient clipping, prioritized-replay
hooks, numpy acting, checkpoints, and a short CartPole run with every variant switched on. Tests that
take the ``fast_path`` fixture run on both agents: ``fast.py``'s and ``dqn.py``'s plain one."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from torch import nn

import joyrl_core
from joyrl_core import Batch, Buffer, BufferCapabilities, ConfigError, EnvSpec, ReplayQueue, resolve_config, start_run
from joyrl_dqn import DQNConfig
from joyrl_core.testing import quick_overrides
from joyrl_dqn.dqn import DQNAgent, DuelingHead
from joyrl_dqn.fast import FastDQNAgent, numpy_greedy
from joyrl_dqn.plugin import make_dqn

SPEC2 = EnvSpec("test", (2,), np.dtype(np.float32), "discrete", n_actions=2)
SPEC4 = EnvSpec("test", (4,), np.dtype(np.float32), "discrete", n_actions=3)
LINEAR2 = [{"layer_dim": [2], "activation": "none"}]
SMALL = [{"layer_dim": [16]}, {"layer_dim": [16]}]


@pytest.fixture(params=["auto", "off"])
def fast_path(request) -> str:
    return request.param


def agent_with(spec=SPEC2, seed=0, fast_path="auto", **config) -> DQNAgent:
    agent = make_dqn(DQNConfig(fast_path=fast_path, **config), spec, "cpu", seed)
    assert isinstance(agent, FastDQNAgent) == (fast_path == "auto")
    return agent


def set_linear(layer: nn.Linear, weight, bias=None) -> None:
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight, dtype=torch.float32))
        layer.bias.copy_(torch.tensor(bias if bias is not None else [0.0] * len(weight), dtype=torch.float32))


def hand_made(double: bool, fast_path: str = "auto", **config) -> DQNAgent:
    """Q_online(s) = s and Q_target(s) = (s1, s0): a 2-d obs, two actions, no activations."""
    agent = agent_with(value_layers=LINEAR2, double=double, gamma=0.9, fast_path=fast_path, **config)
    for net in (agent.q_net, agent.target_net):
        set_linear(net[0], [[1, 0], [0, 1]])
    set_linear(agent.q_net[1], [[1, 0], [0, 1]])
    set_linear(agent.target_net[1], [[0, 1], [1, 0]])
    return agent


def predict_torch(agent: DQNAgent, obs: np.ndarray) -> np.ndarray:
    """Greedy actions through the torch network, never numpy."""
    return DQNAgent.predict_action(agent, obs)


def t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


# -- targets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("double, expected", [
    # s' = (3, 1): online argmax 0, target Q (1, 3) -> double 1, vanilla max 3.
    # s' = (0, 2): online argmax 1, target Q (2, 0) -> double 0, vanilla max 2.
    # the third row is terminated: the reward alone.
    (True, [0.5 + 0.9 * 1, -1 + 0.9 * 0, 2.0]),
    (False, [0.5 + 0.9 * 3, -1 + 0.9 * 2, 2.0]),
])
def test_double_dqn_target_by_hand(double, expected, fast_path):
    agent = hand_made(double, fast_path)
    next_obs = t([[3, 1], [0, 2], [4, 9]])
    with torch.no_grad():
        target = agent.td_target(t([0.5, -1, 2]), next_obs, t([0, 0, 1]), 0.9)
        np.testing.assert_allclose(target.numpy(), expected, rtol=1e-6)
        # n-step rows bootstrap with their own discount gamma^m.
        target = agent.td_target(t([0.5, -1, 2]), next_obs, t([0, 0, 1]), t([0.81, 0.729, 0.9]))
    best = [1, 0] if double else [3, 2]
    np.testing.assert_allclose(target.numpy(), [0.5 + 0.81 * best[0], -1 + 0.729 * best[1], 2.0], rtol=1e-6)


@pytest.mark.parametrize("double, loss, expected", [
    (True, "mse", 1.4**2),  # Q(s, a) = s[1] = 0, target 0.5 + 0.9 * 1 = 1.4
    (False, "mse", 3.2**2),  # target 0.5 + 0.9 * 3 = 3.2
    (True, "huber", 1.4 - 0.5),  # |delta| > 1: the linear part of smooth L1
    (False, "huber", 3.2 - 0.5),
])
def test_update_loss_by_hand(double, loss, expected, fast_path):
    agent = hand_made(double, fast_path, lr=0.0, batch_size=1, loss=loss)
    buffer = ReplayQueue(10, SPEC2, seed=0)
    buffer.push(np.array([1.0, 0.0]), 1, 0.5, np.array([3.0, 1.0]), False)
    metrics = agent.update(buffer, 1)
    assert metrics is not None and set(metrics) == {"loss", "mean_q"}
    assert metrics["loss"] == pytest.approx(expected, rel=1e-5)
    assert metrics["mean_q"] == pytest.approx(0.0)


# -- dueling --------------------------------------------------------------------------------------


def test_dueling_head_shapes_and_aggregation():
    agent = agent_with(SPEC4, value_layers=SMALL, dueling=True)
    head = agent.q_net[-1]
    assert isinstance(head, DuelingHead)
    assert head.value.out_features == 1 and head.advantage.out_features == 3 and head.value.in_features == 16
    obs = torch.randn(5, 4)
    with torch.no_grad():
        q = agent.q_net(obs)
        features = agent.q_net[:-1](obs)
        v = head.value(features)
        a = head.advantage(features)
    assert q.shape == (5, 3) and v.shape == (5, 1) and a.shape == (5, 3)
    torch.testing.assert_close(q, v + a - a.mean(dim=1, keepdim=True))
    torch.testing.assert_close(q.mean(dim=1, keepdim=True), v)  # mean A is subtracted: mean Q = V


def test_plain_network_keeps_the_seed_state_dict_keys():
    agent = agent_with(SPEC4)
    assert list(agent.q_net.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    # An MLP sees image observations flattened, as before the shared layer list: the same keys.
    image = EnvSpec("image", (2, 3, 3), np.dtype(np.float32), "discrete", n_actions=3)
    assert list(agent_with(image).q_net.state_dict()) == list(agent.q_net.state_dict())


def test_a_convolutional_trunk_acts_and_learns(fast_path):
    image = EnvSpec("image", (2, 6, 6), np.dtype(np.float32), "discrete", n_actions=3)
    agent = agent_with(image, fast_path=fast_path, batch_size=4, value_layers=[
        {"layer_type": "conv2d", "layer_dim": [4], "kernel_size": 3, "stride": 2},
        {"layer_type": "linear", "layer_dim": [8]}])
    assert isinstance(agent.q_net[2], nn.Flatten)
    buffer = ReplayQueue(20, image, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(8):
        buffer.push(rng.standard_normal((2, 6, 6)), rng.integers(3), 1.0, rng.standard_normal((2, 6, 6)), False)
    before = params(agent.q_net)
    assert agent.update(buffer, 1) is not None
    assert any(not torch.equal(b, a) for b, a in zip(before, agent.q_net.parameters()))
    assert agent.sample_action(rng.standard_normal((1, 2, 6, 6)), 0).shape == (1,)
    assert agent.predict_action(rng.standard_normal((5, 2, 6, 6))).shape == (5,)


@pytest.mark.parametrize("dueling", [False, True])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "elu", "leaky_relu", "none"])
def test_numpy_acting_matches_torch(dueling, activation):
    agent = agent_with(SPEC4, value_layers=[{"layer_dim": [32], "activation": activation}] * 2, dueling=dueling)
    assert agent._numpy_greedy is not None
    obs = np.random.default_rng(0).standard_normal((200, 4)).astype(np.float32)
    numpy_actions = np.concatenate([agent.predict_action(obs[i : i + 1]) for i in range(200)])
    np.testing.assert_array_equal(numpy_actions, predict_torch(agent, obs))


def test_numpy_acting_sees_every_update_without_a_refresh():
    agent = agent_with(SPEC4, value_layers=SMALL, lr=0.05, batch_size=8)
    greedy = numpy_greedy(agent.q_net)
    buffer = ReplayQueue(100, SPEC4, seed=0)
    rng = np.random.default_rng(1)
    for _ in range(50):
        buffer.push(rng.standard_normal(4), rng.integers(3), rng.standard_normal(), rng.standard_normal(4), False)
    obs = rng.standard_normal((64, 4)).astype(np.float32)
    for step in range(1, 30):
        agent.update(buffer, step)
    np.testing.assert_array_equal(greedy(obs), predict_torch(agent, obs))
    other = agent_with(SPEC4, seed=9, value_layers=SMALL)
    agent.set_weights(other.get_weights())
    np.testing.assert_array_equal(greedy(obs), predict_torch(other, obs))


@pytest.mark.parametrize("copy_agent", [copy.deepcopy, lambda agent: pickle.loads(pickle.dumps(agent))])
def test_a_copied_agent_acts_from_its_own_weights(copy_agent):
    agent = agent_with(SPEC4, value_layers=SMALL)
    clone = copy_agent(agent)
    with torch.no_grad():
        for p in clone.q_net.parameters():
            p.normal_()
    obs = np.random.default_rng(4).standard_normal((100, 4)).astype(np.float32)
    for a in (agent, clone):
        numpy_actions = np.concatenate([a.predict_action(obs[i : i + 1]) for i in range(100)])
        np.testing.assert_array_equal(numpy_actions, predict_torch(a, obs))


def test_gelu_acts_through_torch():
    agent = agent_with(SPEC4, value_layers=[{"layer_dim": [8], "activation": "gelu"}])
    assert agent._numpy_greedy is None
    assert agent.predict_action(np.zeros((1, 4), dtype=np.float32)).shape == (1,)


# -- target network ---------------------------------------------------------------------------------


def params(net: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def test_soft_update_arithmetic(fast_path):
    agent = agent_with(SPEC4, value_layers=SMALL, tau=0.25, fast_path=fast_path)
    with torch.no_grad():
        for p in agent.q_net.parameters():
            p.add_(1.0)
    online, target = params(agent.q_net), params(agent.target_net)
    agent.update_target()
    for o, old, new in zip(online, target, agent.target_net.parameters()):
        torch.testing.assert_close(new, 0.75 * old + 0.25 * o)
    agent.cfg.tau = 1.0
    agent.update_target()
    for o, new in zip(online, agent.target_net.parameters()):
        torch.testing.assert_close(new, o)


@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_target_updates_every_target_update_gradient_steps(tau, fast_path):
    agent = agent_with(SPEC4, value_layers=SMALL, batch_size=4, lr=0.01, target_update=3, tau=tau,
                       fast_path=fast_path)
    buffer = ReplayQueue(50, SPEC4, seed=0)
    rng = np.random.default_rng(2)
    for _ in range(20):
        buffer.push(rng.standard_normal(4), rng.integers(3), 1.0, rng.standard_normal(4), False)
    start = params(agent.target_net)
    for step in (1, 2):
        agent.update(buffer, step)
        for before, now in zip(start, agent.target_net.parameters()):
            torch.testing.assert_close(before, now)
    agent.update(buffer, 3)
    for before, o, now in zip(start, agent.q_net.parameters(), agent.target_net.parameters()):
        torch.testing.assert_close(now, (1 - tau) * before + tau * o.detach())


# -- update cadence ---------------------------------------------------------------------------------


def cadence_run(env_steps, buffer_rows=40, fast_path="auto", **config):
    """Calls update at each of ``env_steps``; returns (gradient steps, optimizer steps, non-None returns)."""
    agent = agent_with(SPEC4, value_layers=[{"layer_dim": [4]}], batch_size=8, fast_path=fast_path, **config)
    buffer = ReplayQueue(100, SPEC4, seed=0)
    for i in range(buffer_rows):
        buffer.push(np.full(4, i / 40), i % 3, 1.0, np.full(4, i / 40), False)
    calls = []
    original = agent.optimizer.step
    agent.optimizer.step = lambda *a, **k: (calls.append(1), original(*a, **k))[1]
    returned = sum(agent.update(buffer, s) is not None for s in env_steps)
    return agent.update_steps, len(calls), returned


def test_defaults_learn_once_per_env_step(fast_path):
    assert cadence_run(range(1, 51), fast_path=fast_path) == (50, 50, 50)


def test_train_freq_gradient_steps_and_learning_starts(fast_path):
    # Multiples of 4 from 20 to 100: 21 of them, 3 gradient steps each.
    assert cadence_run(range(1, 101), train_freq=4, gradient_steps=3, learning_starts=20,
                       fast_path=fast_path) == (63, 63, 21)


def test_vectorized_calls_count_every_env_step(fast_path):
    # Three envs: env_steps 3, 6, ..., 99 cross the multiples of 4 up to 96: 24 of them.
    steps, optimizer_steps, returned = cadence_run(range(3, 100, 3), train_freq=4, gradient_steps=2,
                                                   fast_path=fast_path)
    assert (steps, optimizer_steps) == (48, 48) and returned == 24
    # With train_freq 1 each call of three env steps takes three gradient steps.
    assert cadence_run(range(3, 100, 3), fast_path=fast_path)[:2] == (99, 99)


def test_no_learning_before_a_batch_is_stored():
    assert cadence_run(range(1, 30), buffer_rows=5) == (0, 0, 0)


def test_metrics_are_those_of_the_last_gradient_step(fast_path):
    agent = agent_with(SPEC4, value_layers=SMALL, batch_size=8, gradient_steps=5, fast_path=fast_path)
    buffer = ReplayQueue(100, SPEC4, seed=0)
    rng = np.random.default_rng(3)
    for _ in range(30):
        buffer.push(rng.standard_normal(4), rng.integers(3), rng.standard_normal(), rng.standard_normal(4), False)
    seen = []
    original = agent.step
    agent.step = lambda buffer, indices, q, target: (seen.append((q, target)), original(buffer, indices, q, target))
    metrics = agent.update(buffer, 1)
    assert len(seen) == 5 and agent.update_steps == 5
    q, target = seen[-1]
    assert metrics == {"loss": pytest.approx(nn.functional.mse_loss(q, target).item()),
                       "mean_q": pytest.approx(q.mean().item())}


def test_resume_continues_the_cadence_without_a_burst(fast_path):
    agent = agent_with(SPEC4, value_layers=SMALL, batch_size=4, train_freq=10, fast_path=fast_path)
    buffer = ReplayQueue(100, SPEC4, seed=0)
    for i in range(20):
        buffer.push(np.zeros(4), 0, 1.0, np.zeros(4), False)
    for step in range(1, 201):
        agent.update(buffer, step)
    assert agent.update_steps == 20
    restored = agent_with(SPEC4, value_layers=SMALL, batch_size=4, train_freq=10, fast_path=fast_path)
    restored.load_state_dict(agent.state_dict())
    restored.update(buffer, 201)
    assert restored.update_steps == 20  # 201 crosses no multiple of 10 after 200
    restored.update(buffer, 210)
    assert restored.update_steps == 21


# -- losses, clipping, prioritized replay -----------------------------------------------------------


class FixedBuffer(Buffer):
    """Hands out the same weighted batch and records priority updates, like a prioritized buffer."""

    capabilities = BufferCapabilities(random_sampling=True, priorities=True)

    def __init__(self, batch: Batch):
        self.batch = batch
        self.updates: list[tuple[np.ndarray, np.ndarray]] = []

    def push(self, *args, **kwargs):
        raise AssertionError("the update under test must only sample, never push")

    push_batch = push

    def sample(self, batch_size: int) -> Batch:
        return self.batch

    def __len__(self) -> int:
        return 1000

    def update_priorities(self, indices, td_errors):
        self.updates.append((np.array(indices), np.array(td_errors)))


def test_importance_weights_scale_the_loss_and_td_errors_update_priorities(fast_path):
    agent = hand_made(True, fast_path, lr=0.0, batch_size=2)
    # Q(s, a) = s[a]: (1, 0) action 1 -> 0; (2, 5) action 0 -> 2. Targets: 1.4 and 0 + 0.9 * Q_t((0, 2), a=1) = 0.
    batch = Batch(obs=np.array([[1, 0], [2, 5]], dtype=np.float32), actions=np.array([1, 0]),
                  rewards=np.array([0.5, 0.0], dtype=np.float32),
                  next_obs=np.array([[3, 1], [0, 2]], dtype=np.float32),
                  terminated=np.zeros(2, dtype=np.float32), truncated=np.zeros(2, dtype=np.float32),
                  indices=np.array([7, 3]), weights=np.array([1.0, 0.25], dtype=np.float32))
    buffer = FixedBuffer(batch)
    metrics = agent.update(buffer, 1)
    assert metrics["loss"] == pytest.approx((1.0 * 1.4**2 + 0.25 * 2.0**2) / 2, rel=1e-5)
    (indices, td), = buffer.updates
    np.testing.assert_array_equal(indices, [7, 3])
    np.testing.assert_allclose(np.abs(td), [1.4, 2.0], rtol=1e-5)


def test_max_grad_norm_clips_the_gradient(fast_path):
    agent = hand_made(False, fast_path, batch_size=1, max_grad_norm=0.01)
    buffer = ReplayQueue(10, SPEC2, seed=0)
    buffer.push(np.array([10.0, -10.0]), 1, 100.0, np.array([3.0, 1.0]), False)
    norms = []
    original = agent.optimizer.step
    agent.optimizer.step = lambda *a, **k: (norms.append(float(torch.norm(torch.stack(
        [p.grad.norm() for p in agent.q_net.parameters()])))), original(*a, **k))[1]
    agent.update(buffer, 1)
    assert norms[0] == pytest.approx(0.01, rel=1e-4)  # unclipped it would be in the thousands


def test_n_step_needs_a_buffer_that_builds_it(tmp_path):
    """DQN with ``n_step > 1`` asks its buffer for ``n_step`` through ``buffer_needs``; a buffer without it
    is refused before the run, and with ``n_step: 1`` the same buffer is only asked for random sampling."""
    class _OneStepReplay:
        @staticmethod
        @joyrl_core.hookimpl
        def register_buffers(register):
            register("ONE_STEP_QUE", lambda *args: None, None, "test fixture",
                     capabilities=BufferCapabilities(random_sampling=True))

    registry = joyrl_core.load_registry(extra_plugins=[("one_step", _OneStepReplay)])
    overrides = ["general_cfg.algo_name=DQN", "algo_cfg.buffer_type=ONE_STEP_QUE",
                 f"general_cfg.task_dir={tmp_path / 'tasks'}"]
    with pytest.raises(ConfigError) as info:
        joyrl_core.resolve_config(registry, None, [*overrides, "algo_cfg.n_step=3"])
    message = str(info.value)
    assert "\n" not in message
    assert "needs a buffer with n_step, but buffer 'ONE_STEP_QUE' (<local>) offers random_sampling" in message
    assert "REPLAY_QUE" in message and "PER_QUE" in message
    joyrl_core.resolve_config(registry, None, overrides)


def test_n_step_update_uses_the_batch_discounts(fast_path):
    agent = hand_made(False, fast_path, lr=0.0, batch_size=1, n_step=3)
    buffer = ReplayQueue(10, SPEC2, seed=0)
    buffer.push(np.array([1.0, 0.0]), 1, 1.0, np.array([0.0, 0.0]), False)
    buffer.push(np.array([0.0, 0.0]), 1, 2.0, np.array([3.0, 1.0]), False)
    # Q(s, 1) = 0 for both rows; max Q_target((3, 1)) = 3. Row 0 spans both steps (the newest ends it):
    # 1 + 0.9 * 2 + 0.9^2 * 3; row 1: 2 + 0.9 * 3.
    losses = {round(agent.update(buffer, s)["loss"], 4) for s in range(1, 60)}
    assert losses == {round((2.8 + 0.81 * 3) ** 2, 4), round((2 + 0.9 * 3) ** 2, 4)}
    buffer.push(np.array([0.0, 0.0]), 1, 0.0, np.array([0.0, 0.0]), True)  # now both windows end in a done
    losses = {round(agent.update(buffer, s)["loss"], 4) for s in range(60, 160)}
    assert losses == {round(2.8**2, 4), round(2.0**2, 4), 0.0}


# -- config -----------------------------------------------------------------------------------------


def test_defaults_keep_the_seed_behaviour():
    cfg = DQNConfig()
    assert (cfg.double, cfg.dueling, cfg.n_step, cfg.train_freq, cfg.gradient_steps, cfg.learning_starts) == \
        (False, False, 1, 1, 1, 0)
    assert (cfg.tau, cfg.target_update, cfg.loss, cfg.max_grad_norm, cfg.buffer_type) == \
        (1.0, 4, "mse", None, "REPLAY_QUE")


@pytest.mark.parametrize("override, expected", [
    ("algo_cfg.tau=0", "algo_cfg.tau"),
    ("algo_cfg.tau=1.5", "algo_cfg.tau"),
    ("algo_cfg.loss=l1", "algo_cfg.loss"),
    ("algo_cfg.max_grad_norm=0", "algo_cfg.max_grad_norm"),
    ("algo_cfg.n_step=0", "algo_cfg.n_step"),
    ("algo_cfg.train_freq=0", "algo_cfg.train_freq"),
    ("algo_cfg.double=maybe", "algo_cfg.double"),
])
def test_bad_options_are_config_errors(registry, override, expected):
    with pytest.raises(ConfigError, match=expected):
        resolve_config(registry, None, [override])


@pytest.mark.parametrize("saved_by, loaded_by", [("auto", "auto"), ("off", "off"), ("auto", "off"), ("off", "auto")])
def test_checkpoint_round_trip_with_every_switch(saved_by, loaded_by):
    config = dict(value_layers=SMALL, dueling=True, double=True, n_step=2, batch_size=4, tau=0.5)
    agent = agent_with(SPEC4, fast_path=saved_by, **config)
    buffer = ReplayQueue(50, SPEC4, seed=0)
    for i in range(10):
        buffer.push(np.full(4, i / 10), i % 3, 1.0, np.full(4, i / 10), i == 9)
    for step in range(1, 6):
        agent.update(buffer, step)
    state = agent.state_dict()
    restored = agent_with(SPEC4, seed=5, fast_path=loaded_by, **config)
    restored.load_state_dict(state)
    obs = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    np.testing.assert_array_equal(restored.predict_action(obs), agent.predict_action(obs))
    assert restored.update_steps == 5 and restored._last_env_steps == 5
    legacy = {k: v for k, v in state.items() if k != "last_env_steps"}  # a checkpoint of the seed's DQN
    restored.load_state_dict(legacy)
    assert restored._last_env_steps is None


# -- learning ---------------------------------------------------------------------------------------


def test_cartpole_smoke_double_dueling_per_n_step(registry, task_root):
    """All switches on, 60 episodes (a few thousand env steps): CartPole clearly learns."""
    overrides = quick_overrides(task_root, max_episode=60, max_step=500, seed=1) + [
        "algo_cfg.value_layers=[{layer_dim: [64]}, {layer_dim: [64]}]",
        "algo_cfg.double=true", "algo_cfg.dueling=true", "algo_cfg.n_step=3",
        "algo_cfg.buffer_type=PER_QUE", "algo_cfg.alpha=0.6", "algo_cfg.beta_steps=10000",
        "algo_cfg.lr=0.001", "algo_cfg.gamma=0.99", "algo_cfg.epsilon_start=1.0", "algo_cfg.epsilon_end=0.02",
        "algo_cfg.epsilon_decay=1000", "algo_cfg.target_update=100", "algo_cfg.learning_starts=500",
        "algo_cfg.buffer_size=20000",
    ]
    cfg = resolve_config(registry, None, overrides)
    assert cfg.buffer.alpha == 0.6
    summary, _ = start_run(cfg, registry)
    mean_last_10 = float(np.mean(summary.last_rewards[-10:]))
    assert mean_last_10 > 80, f"mean of the last 10 episodes {mean_last_10:.1f}; random play scores about 22"


@pytest.mark.parametrize("schedule, expected", [
    ("exp", [0.95, 0.01 + 0.94 * np.exp(-0.5), 0.01 + 0.94 * np.exp(-1.0), 0.01 + 0.94 * np.exp(-2.0)]),
    ("linear", [0.95, 0.48, 0.01, 0.01]),
])
def test_epsilon_schedules(schedule, expected):
    agent = agent_with(epsilon_schedule=schedule, epsilon_start=0.95, epsilon_end=0.01, epsilon_decay=1000)
    got = [agent.epsilon(t) for t in (0, 500, 1000, 2000)]
    assert got == pytest.approx(expected)
    assert agent.exploration(500) == {"epsilon": pytest.approx(expected[1])}
