"""Checks the SAC/TD3/DDPG tests run on vector and on pixel observations alike."""

from __future__ import annotations

import copy

import numpy as np
import torch


def plain_and_switched(config, make, kwargs, spec, make_buffer, updates: int = 5) -> list:
    """The plain agent and the one with the speed switches on (batched critics, fused Adam), built from the
    same torch seed and updated ``updates`` times on buffers ``make_buffer()`` fills alike."""
    agents = []
    for fast in (False, True):
        torch.manual_seed(3)
        agents.append(make(config(**kwargs, batched_critics=fast, fused_adam=fast), spec, "cpu", 5))
    for agent in agents:
        buffer = make_buffer()
        for step in range(1, updates + 1):
            agent.update(buffer, step)
    return agents


def resume_and_compare(config, make, kwargs, spec, buffer, obs, tmp_path):
    """Act and update an agent three steps, save it, load it into an agent of another seed, and check that
    the next update, the next action and every network's weights are identical. Returns both agents."""
    agent = make(config(**kwargs), spec, "cpu", 7)
    for step in range(1, 4):
        agent.sample_action(obs, step)
        agent.update(buffer, step)
    path = tmp_path / "agent.pt"
    torch.save(agent.state_dict(), path)
    resumed = make(config(**kwargs), spec, "cpu", 99)
    resumed.load_state_dict(torch.load(path, weights_only=True))
    twin_buffer = copy.deepcopy(buffer)
    metrics = agent.update(buffer, 4), resumed.update(twin_buffer, 4)
    assert metrics[0] == metrics[1]
    np.testing.assert_array_equal(agent.sample_action(obs, 5), resumed.sample_action(obs, 5))
    for name, net in agent.networks.items():
        for a, b in zip(net.state_dict().values(), resumed.networks[name].state_dict().values()):
            assert torch.equal(a, b), name
    return agent, resumed
