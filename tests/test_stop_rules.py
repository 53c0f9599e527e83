"""Run budgets and stop rules (``joyrl_core.StopRules``) mean the same on every backend: the single loop,
the vectorized loop (``n_envs > 1``) and the ``ray`` backend (two workers of two envs each).

Each key is run on each backend with the built-in RANDOM agent on CartPole and checked with exact
counts: what the summary says, what ``episodes.csv`` holds, what the final checkpoint's counters say.
"""

from __future__ import annotations

import csv
from types import SimpleNamespace

import pytest

import joyrl_core
from joyrl_core import ConfigError, Logger, StopRules, load_checkpoint

from conftest import quick_overrides, read_episodes, start_local_ray

BACKENDS = {
    "single": {},
    "vector": {"env_cfg.n_envs": 4},
    "ray": {"general_cfg.mp_backend": "ray", "general_cfg.n_workers": 2, "env_cfg.n_envs": 2},
}


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for the module's ray runs (the backend reuses a session it finds), stopped after."""
    ray = None

    def start():
        nonlocal ray
        if ray is None:
            ray = start_local_ray()

    yield start
    if ray is not None:
        ray.shutdown()


@pytest.fixture(params=list(BACKENDS))
def backend(request, ray_session):
    if request.param == "ray":
        pytest.importorskip("joyrl_backend_ray")
        ray_session()
    return request.param


class Interrupt(Logger):
    """Raises ``KeyboardInterrupt`` (what Ctrl-C raises) when train episode ``at`` is logged."""

    def __init__(self, at: int):
        self.at = at
        self.csv: Logger | None = None

    def log_episode(self, record):
        if record.mode == "train" and record.episode == self.at:
            raise KeyboardInterrupt

    def log_metrics(self, env_steps, metrics):
        pass

    def close(self):
        pass


def run(registry, task_root, backend, extra_loggers=(), **general):
    overrides = quick_overrides(task_root, algo_name="RANDOM", seed=3, max_step=100, **general)
    overrides += [f"{key}={value}" for key, value in BACKENDS[backend].items()]
    cfg = joyrl_core.resolve_config(registry, None, [*overrides, "env_cfg.id=CartPole-v1"])
    summary, task = joyrl_core.start_run(cfg, registry, extra_loggers=extra_loggers)
    rows = read_episodes(task.root)
    final = load_checkpoint(task.models / f"{summary.update_steps}.pt")["counters"]
    assert final["episodes"] == summary.episodes == len(rows)
    assert final["env_steps"] == summary.env_steps
    return summary, task, rows


def test_max_episode_counts_exactly_that_many_finished_episodes(registry, task_root, backend):
    summary, _, rows = run(registry, task_root, backend, max_episode=7)
    assert summary.episodes == 7 and summary.stop_reason == "max_episode"
    assert [int(r["episode"]) for r in rows] == list(range(1, 8))
    # The run stops in the (vectorized) step that finished the 7th episode.
    assert int(rows[-1]["env_steps"]) == summary.env_steps
    if backend == "single":
        assert summary.env_steps == sum(int(r["length"]) for r in rows)


def test_max_env_steps_is_exact_and_the_cut_episode_is_not_counted(registry, task_root, backend):
    summary, _, rows = run(registry, task_root, backend, max_episode=-1, max_env_steps=400)
    assert summary.env_steps == 400 and summary.stop_reason == "max_env_steps"
    assert all(int(r["env_steps"]) <= 400 for r in rows)
    lengths = sum(int(r["length"]) for r in rows)
    if backend == "single":
        # Every counted episode is whole; the steps after the last one belong to the cut episode.
        assert 0 < 400 - lengths < 100 and int(rows[-1]["env_steps"]) == lengths
    else:
        # Each env copy's running episode at the stop is cut: fewer than max_step steps of each.
        copies = 4
        assert 0 < 400 - lengths < copies * 100


@pytest.mark.parametrize("backend", ["single", "vector"], indirect=True)  # one ray run per key is enough
def test_max_episode_and_max_env_steps_together_stop_at_the_first(registry, task_root, backend):
    summary, _, _ = run(registry, task_root, backend, max_episode=1000, max_env_steps=200)
    assert summary.env_steps == 200 and summary.episodes < 1000 and summary.stop_reason == "max_env_steps"


def test_stop_reward_ends_at_the_first_evaluation_that_reaches_it(registry, task_root, backend):
    # A random CartPole policy scores ~20, so the first evaluation (at 100 env steps) reaches 5.
    summary, task, rows = run(registry, task_root, backend, max_episode=-1, max_env_steps=5000,
                              online_eval="true", eval_every_steps=100, online_eval_episode=2, stop_reward=5)
    assert summary.env_steps == 100 and summary.stop_reason == "stop_reward"
    with open(task.results / "evals.csv", newline="") as fh:
        evals = list(csv.DictReader(fh))
    assert [int(r["env_steps"]) for r in evals] == [100]
    assert all(int(r["env_steps"]) <= 100 for r in rows)


def test_ctrl_c_stops_with_the_episodes_counted_so_far(registry, task_root, backend):
    summary, _, rows = run(registry, task_root, backend, [lambda run: Interrupt(at=3)], max_episode=-1)
    assert summary.interrupted and summary.stop_reason == "interrupted"
    assert summary.episodes == 3 and len(rows) == 3


def test_ray_refuses_max_update_steps_in_one_line(registry, task_root, ray_session):
    pytest.importorskip("joyrl_backend_ray")
    overrides = quick_overrides(task_root, algo_name="RANDOM", mp_backend="ray", max_update_steps=50)
    cfg = joyrl_core.resolve_config(registry, None, overrides)
    with pytest.raises(ConfigError, match=r"^general_cfg.max_update_steps: 50 is not honoured by the ray backend "
                                          r"\(.*\); remove it or use another general_cfg.mp_backend$"):
        joyrl_core.start_run(cfg, registry)
    assert not task_root.exists() or not any(task_root.iterdir()), "a refused run leaves no task folder"


def general(**keys):
    base = {"max_episode": -1, "max_env_steps": None, "max_update_steps": None, "stop_reward": None}
    return SimpleNamespace(**{**base, **keys})


def test_stop_rules_count_this_runs_episodes_and_the_runs_total_steps():
    rules = StopRules(general(max_episode=2, max_env_steps=1000), first_episode=10)
    assert rules.episodes_left(10) == 2 and rules.env_steps_left(900) == 100
    assert rules.count_episode(10) and not rules.stopped
    assert rules.count_episode(11) and rules.reason == "max_episode"
    assert not rules.count_episode(12), "a third episode finishing in the same vector step is past the budget"
    assert rules.out_of_steps(0, 0)


def test_stop_rules_stop_reward_and_interrupt():
    rules = StopRules(general(stop_reward=100.0, max_env_steps=50))
    assert not rules.evaluated(99.0) and rules.evaluated(100.0) and rules.reason == "stop_reward"
    # An episode finishing in the step where another rule stopped the run still counts.
    assert rules.count_episode(0)
    rules.interrupted()
    assert rules.reason == "interrupted" and rules.out_of_steps(0, 0)
    assert StopRules(general(max_env_steps=50)).out_of_steps(50, 0)


def test_refuse_names_only_keys_that_are_set():
    StopRules.refuse(general(), "mine", {"max_update_steps": "why"})  # not set: nothing to refuse
    with pytest.raises(ConfigError, match=r"^general_cfg.max_env_steps: 9 is not honoured by the mine backend \(why\)"):
        StopRules.refuse(general(max_env_steps=9), "mine", {"max_env_steps": "why"})
