"""``fast.py``'s agent gives the plain autograd agent's answers (``fast_path: auto`` against ``off``):
gradients by ``ExplicitMLP`` instead of autograd, the batches (and TD targets) of a run of gradient steps
sampled in one call, targets on a helper thread, numpy acting."""

from __future__ import annotations

import copy
import numpy as np
import pytest
import torch
from torch import nn

from joyrl_core import EnvSpec, ExplicitMLP, ReplayQueue
from joyrl_dqn import DQNConfig
from joyrl_core import LayerConfig
from joyrl_dqn.dqn import DQNAgent, build_q_network
from joyrl_dqn.fast import FastDQNAgent
from joyrl_dqn.per import PrioritizedReplayQueue

SPEC = EnvSpec("test", (5,), np.dtype(np.float32), "discrete", n_actions=3)


def layers(*specs: tuple[int, str]) -> list[LayerConfig]:
    return [LayerConfig(layer_dim=[width], activation=activation) for width, activation in specs]


@pytest.mark.parametrize("activations", [("relu", "relu"), ("tanh", "sigmoid"), ("none",), ("relu", "none", "tanh")])
def test_explicit_gradients_equal_autograd(activations):
    torch.manual_seed(0)
    net = build_q_network(layers(*[(24, a) for a in activations]), (5,), 3)
    explicit = ExplicitMLP.of(net)
    assert explicit is not None
    x = torch.randn(32, 5)
    grad_output = torch.randn(32, 3)
    # ReLU's derivative at exactly 0 is where the two could disagree; sign(0) = 0 is autograd's choice too.
    x[0] = 0.0

    out, inputs = explicit.forward(x)
    torch.testing.assert_close(out, net(x).detach())
    grads = explicit.backward(grad_output, inputs)
    expected = torch.autograd.grad((net(x) * grad_output).sum(), list(net.parameters()))
    assert len(grads) == len(expected)
    for got, want, param in zip(grads, expected, net.parameters()):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        assert param.grad is got  # written where the optimizer reads it

    # Called again, the same .grad tensors are overwritten, not accumulated into.
    storage = [p.grad.data_ptr() for p in net.parameters()]
    explicit.backward(grad_output, inputs)
    assert [p.grad.data_ptr() for p in net.parameters()] == storage
    for got, want in zip(net.parameters(), expected):
        torch.testing.assert_close(got.grad, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("net", [
    build_q_network(layers((8, "relu")), (5,), 3, dueling=True),
    build_q_network(layers((8, "elu")), (5,), 3),
    build_q_network(layers((8, "gelu")), (5,), 3),
    build_q_network(layers((8, "leaky_relu")), (5,), 3),
    nn.Sequential(nn.ReLU(), nn.Linear(5, 3)),
    nn.Linear(5, 3),
])
def test_networks_it_does_not_cover_keep_autograd(net):
    assert ExplicitMLP.of(net) is None


def test_agents_pick_the_explicit_path_on_cpu_for_plain_networks():
    assert FastDQNAgent(DQNConfig(), SPEC, "cpu", 0).explicit is not None
    assert FastDQNAgent(DQNConfig(dueling=True), SPEC, "cpu", 0).explicit is None


def test_the_switch_picks_the_agent_and_shows_in_joyrl_info(registry, cli):
    from joyrl_dqn.plugin import make_dqn

    assert type(make_dqn(DQNConfig(), SPEC, "cpu", 0)) is FastDQNAgent
    assert type(make_dqn(DQNConfig(fast_path="off"), SPEC, "cpu", 0)) is DQNAgent
    result = cli("info", "DQN")
    assert result.exit_code == 0 and "fast_path" in result.output


def filled(buffer_type=ReplayQueue, rows: int = 300, seed: int = 0):
    buffer = buffer_type(1000, SPEC, seed=seed)
    rng = np.random.default_rng(seed)
    for i in range(rows):
        buffer.push(rng.standard_normal(5), rng.integers(3), rng.standard_normal(), rng.standard_normal(5),
                    i % 37 == 36, truncated=i % 50 == 49)
    return buffer


def train(agent: DQNAgent, buffer, calls: int = 6):
    """The parameters after ``calls`` updates and the last update's metrics."""
    for step in range(1, calls + 1):
        metrics = agent.update(buffer, step * agent.cfg.train_freq)
    return [p.detach().clone() for p in agent.q_net.parameters()], metrics


VARIANTS = {
    "vanilla mse": {},
    "huber clipped": {"loss": "huber", "max_grad_norm": 0.5},
    "double": {"double": True},
    "n-step soft target": {"n_step": 3, "tau": 0.3, "target_update": 1},
    "dueling (autograd, batched sampling)": {"dueling": True},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("prioritized", [False, True])
def test_fast_and_plain_agents_learn_the_same(variant, prioritized):
    config = dict(value_layers=layers((32, "relu"), (32, "tanh")), batch_size=16, lr=3e-3,
                  train_freq=4, gradient_steps=5, target_update=3)
    config.update(VARIANTS[variant])
    results = []
    for agent_class in (FastDQNAgent, DQNAgent):
        torch.manual_seed(0)  # the networks' initial weights
        agent = agent_class(DQNConfig(**config), SPEC, "cpu", 0)
        buffer = filled(PrioritizedReplayQueue if prioritized else ReplayQueue)
        results.append(train(agent, buffer))
    (params, metrics), (reference, reference_metrics) = results
    for got, want in zip(params, reference):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert metrics == pytest.approx(reference_metrics, rel=1e-4)


class RecordingBuffer(ReplayQueue):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sampled: list[int] = []

    def sample(self, batch_size, n_step=1, gamma=1.0):
        self.sampled.append(batch_size)
        return super().sample(batch_size, n_step, gamma)


@pytest.mark.parametrize("double, expected", [
    # Targets computed ahead must come from the target network of their step: a run of gradient
    # steps is cut at every target update (every 3rd step here).
    (False, [3 * 16, 3 * 16, 2 * 16]),
    # With double the online network chooses a*, so targets are computed step by step and only the
    # sampling is batched.
    (True, [8 * 16]),
])
def test_a_run_of_gradient_steps_samples_once_and_matches_step_by_step(double, expected):
    config = DQNConfig(value_layers=layers((32, "relu")), batch_size=16, lr=1e-2, train_freq=1,
                       gradient_steps=8, target_update=3, double=double)
    torch.manual_seed(0)
    batched = FastDQNAgent(config, SPEC, "cpu", 0)
    buffer = filled(RecordingBuffer)
    batched.update(buffer, 1)
    assert buffer.sampled == expected

    torch.manual_seed(0)
    step_by_step = DQNAgent(config, SPEC, "cpu", 0)
    one_at_a_time = filled(RecordingBuffer)
    step_by_step.update(one_at_a_time, 1)
    assert one_at_a_time.sampled == [16] * 8
    # One draw of k * 16 rows is the same stream of rows as k draws of 16.
    for got, want in zip(batched.q_net.parameters(), step_by_step.q_net.parameters()):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert batched.update_steps == step_by_step.update_steps == 8


def test_prioritized_buffers_are_sampled_one_batch_at_a_time():
    class RecordingPER(PrioritizedReplayQueue):
        sampled: list[int] = []

        def sample(self, batch_size, n_step=1, gamma=1.0):
            self.sampled.append(batch_size)
            return super().sample(batch_size, n_step, gamma)

    agent = FastDQNAgent(DQNConfig(value_layers=layers((8, "relu")), batch_size=16, gradient_steps=4), SPEC, "cpu", 0)
    buffer = filled(RecordingPER)
    agent.update(buffer, 1)
    assert buffer.sampled == [16] * 4


def test_large_observations_cap_the_rows_sampled_at_once():
    big = EnvSpec("big", (84 * 84 * 4,), np.dtype(np.float32), "discrete", n_actions=3)
    agent = FastDQNAgent(DQNConfig(value_layers=layers((8, "relu")), batch_size=32, gradient_steps=64,
                                   target_update=1000), big, "cpu", 0)
    buffer = RecordingBuffer(200, big, seed=0)
    zeros = np.zeros(84 * 84 * 4, dtype=np.float32)
    for i in range(100):
        buffer.push(zeros, i % 3, 1.0, zeros, False)
    agent.update(buffer, 1)
    # 16 MiB of float32 obs and next_obs: 2 * 28224 * 4 bytes a row -> 74 rows, two batches of 32.
    assert buffer.sampled == [64] * 32
    assert agent.update_steps == 64


def test_targets_from_the_helper_thread_equal_those_computed_in_line(monkeypatch):
    from joyrl_dqn import fast as fast_module

    # Runs of 40 steps of 64 rows: three chunks of targets (1024 + 1024 + 512 rows), two on the helper.
    config = DQNConfig(value_layers=layers((32, "relu"), (32, "relu")), batch_size=64, lr=1e-2, train_freq=4,
                       gradient_steps=40, target_update=50, loss="huber", max_grad_norm=1.0)
    results = []
    for spare in (True, False):
        monkeypatch.setattr(fast_module, "_spare_core", lambda spare=spare: spare)
        torch.manual_seed(0)
        agent = FastDQNAgent(config, SPEC, "cpu", 0)
        params, metrics = train(agent, filled(), calls=4)
        assert (agent._pool is not None) == spare
        results.append((params, metrics))
    (threaded, threaded_metrics), (in_line, in_line_metrics) = results
    for got, want in zip(threaded, in_line):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert threaded_metrics == pytest.approx(in_line_metrics, rel=1e-5)


def test_the_helper_thread_only_where_torch_leaves_a_core_free():
    from joyrl_dqn.fast import _spare_core

    threads = torch.get_num_threads()
    try:
        cores = len(__import__("os").sched_getaffinity(0))
        torch.set_num_threads(cores)
        assert not _spare_core()
        if cores > 1:
            torch.set_num_threads(1)
            assert _spare_core()
    finally:
        torch.set_num_threads(threads)


def test_targets_in_several_chunks_are_those_of_their_own_rows():
    # 24 steps of 100 rows: chunks of 1000 rows (10 batches), the last one shorter.
    config = DQNConfig(value_layers=layers((32, "relu")), batch_size=100, lr=1e-2, gradient_steps=24,
                       target_update=1000)
    agents = []
    for agent_class in (FastDQNAgent, DQNAgent):
        torch.manual_seed(0)
        agent = agent_class(config, SPEC, "cpu", 0)
        agent.update(filled(), 1)
        agents.append(agent)
    for got, want in zip(agents[0].q_net.parameters(), agents[1].q_net.parameters()):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


PIXELS = EnvSpec("pixels", (4, 12, 12), np.dtype(np.uint8), "discrete", n_actions=3)
CONV_LAYERS = [LayerConfig(layer_type="conv2d", layer_dim=[8], kernel_size=3, stride=2),
               LayerConfig(layer_type="conv2d", layer_dim=[8], kernel_size=3), LayerConfig(layer_dim=[16])]


def filled_pixels(rows: int = 200, seed: int = 0) -> ReplayQueue:
    buffer = ReplayQueue(500, PIXELS, seed=seed)
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(rows + 1, 4, 12, 12), dtype=np.uint8)
    for i in range(rows):
        buffer.push(frames[i], rng.integers(3), rng.standard_normal(), frames[i + 1], i % 29 == 28)
    return buffer


def test_convolutional_networks_are_channels_last_on_cpu_and_learn_as_the_plain_agent():
    config = DQNConfig(value_layers=CONV_LAYERS, batch_size=16, lr=3e-3, train_freq=4, gradient_steps=3,
                       target_update=4, loss="huber", max_grad_norm=1.0)
    results = []
    for agent_class in (FastDQNAgent, DQNAgent):
        torch.manual_seed(0)
        agent = agent_class(config, PIXELS, "cpu", 0)
        results.append((agent, *train(agent, filled_pixels())))
    (fast, params, metrics), (plain, reference, reference_metrics) = results
    fast_conv = [m for m in fast.q_net if isinstance(m, nn.Conv2d)][-1]
    plain_conv = [m for m in plain.q_net if isinstance(m, nn.Conv2d)][-1]
    assert fast_conv.weight.is_contiguous(memory_format=torch.channels_last) and not fast_conv.weight.is_contiguous()
    assert plain_conv.weight.is_contiguous()
    # Convolutions summed in another order: equal to float rounding, over 18 Adam steps.
    for got, want in zip(params, reference):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert metrics == pytest.approx(reference_metrics, rel=1e-4)
    assert fast.predict_action(filled_pixels().sample(8).obs).tolist() == \
        plain.predict_action(filled_pixels().sample(8).obs).tolist()


def test_checkpoints_move_between_channels_last_and_plain_agents():
    config = DQNConfig(value_layers=CONV_LAYERS, batch_size=16, lr=3e-3, train_freq=1, gradient_steps=2,
                       target_update=3)
    torch.manual_seed(0)
    source = DQNAgent(config, PIXELS, "cpu", 0)
    train(source, filled_pixels(), calls=3)  # Adam's moments exist
    agents = [FastDQNAgent(config, PIXELS, "cpu", 1), DQNAgent(config, PIXELS, "cpu", 1)]
    for agent in agents:
        # A copy each, as from a checkpoint file (Adam's load_state_dict keeps the tensors it is given).
        agent.load_state_dict(copy.deepcopy(source.state_dict()))
    (fast_params, _), (plain_params, _) = (train(agent, filled_pixels(seed=1), calls=5) for agent in agents)
    for got, want in zip(fast_params, plain_params):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    # And back: the channels-last agent's checkpoint is an ordinary one.
    back = DQNAgent(config, PIXELS, "cpu", 2)
    back.load_state_dict(agents[0].state_dict())
    for got, want in zip(back.q_net.parameters(), agents[0].q_net.parameters()):
        assert torch.equal(got, want)


def test_a_convolutional_networks_targets_are_computed_beside_its_online_pass(monkeypatch):
    from joyrl_dqn import fast as fast_module

    # train_freq 4, one gradient step a call (the RL-Zoo Atari cadence): one chunk of targets each time.
    config = DQNConfig(value_layers=CONV_LAYERS, batch_size=16, lr=3e-3, train_freq=4, gradient_steps=1,
                       target_update=2, loss="huber", max_grad_norm=1.0)
    results = []
    for spare in (True, False):
        monkeypatch.setattr(fast_module, "_spare_core", lambda spare=spare: spare)
        torch.manual_seed(0)
        agent = FastDQNAgent(config, PIXELS, "cpu", 0)
        submitted = []
        if spare:
            pool = agent._target_pool()
            submit = pool.submit
            monkeypatch.setattr(pool, "submit", lambda *args: submitted.append(args) or submit(*args))
        results.append(train(agent, filled_pixels(), calls=5))
        assert len(submitted) == (5 if spare else 0)
    (threaded, threaded_metrics), (in_line, in_line_metrics) = results
    for got, want in zip(threaded, in_line):
        assert torch.equal(got, want)  # the same ops on the same tensors, on another thread
    assert threaded_metrics == in_line_metrics
