"""joyrl-testplugin, the outside plugin the core's tests load: its CONSTANT algorithm and jsonl logger
drive a real run through the public API, and CONSTANT's typed option reaches the agent."""

from __future__ import annotations

import json

import gymnasium as gym

import joyrl_core
from joyrl_core.testing import quick_overrides, read_episodes


def test_outside_plugin_components_drive_a_run(registry, task_root):
    """CONSTANT (always action 0) on CartPole with the testplugin's jsonl logger beside csv."""
    cfg = joyrl_core.resolve_config(
        registry, None,
        [*quick_overrides(task_root, algo_name="CONSTANT", max_episode=3, seed=5, loggers="[csv, jsonl]"),
         "algo_cfg.action=0"],
    )
    summary, task = joyrl_core.start_run(cfg, registry)

    events = [json.loads(line) for line in (task.logs / "events.jsonl").read_text().splitlines()]
    episodes = [e for e in events if e["event"] == "episode"]
    metrics = [e for e in events if e["event"] == "metrics"]
    assert [e["episode"] for e in episodes] == [1, 2, 3]
    assert len(metrics) == 3
    rows = read_episodes(task.root)
    assert [float(r["reward"]) for r in rows] == [e["reward"] for e in episodes]
    for e in episodes:
        # Pushing the cart left every step topples the pole within a few steps.
        assert e["mode"] == "train" and e["terminated"] is True
        assert 5 <= e["length"] <= 15 and e["reward"] == e["length"]
    assert metrics[-1]["env_steps"] == summary.env_steps == sum(e["length"] for e in episodes)
    assert summary.update_steps == 0


def test_constant_action_option_is_honoured(registry, task_root):
    """``algo_cfg.action`` reaches the agent: every action taken is the configured one."""
    from joyrl_core import EnvRunner, ReplayQueue

    spec = joyrl_core.EnvSpec.from_env(gym.make("CartPole-v1"), "CartPole-v1")
    for action in (0, 1):
        cfg = joyrl_core.resolve_config(
            registry, None, [*quick_overrides(task_root, algo_name="CONSTANT"), f"algo_cfg.action={action}"]
        )
        agent = registry.get("algorithm", "CONSTANT").factory(cfg.algo, spec, "cpu", None, joyrl_core.RunShape())
        buffer = ReplayQueue(100, spec, seed=0)
        EnvRunner(gym.make("CartPole-v1"), 0, 50).run_episode(joyrl_core.greedy_policy(agent), buffer)
        assert set(buffer.sample(200).actions.tolist()) == {action}
