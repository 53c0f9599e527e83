"""The ``ray`` backend (joyrl-backend-ray) on a real local Ray.

One Ray session (2 CPUs) serves the whole module and is shut down after it; the backend sees that
``ray.init`` was already called and leaves the session alone. Two tests need a Ray of their own and
run in a subprocess: Ctrl-C (a run that started its own local Ray must stop it) and joining a cluster
started with ``ray start --head``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import joyrl_core
from joyrl_core import ConfigError, Logger, load_checkpoint
from joyrl_core.plugins.registry import DISABLE_ENV_VAR

import ray
from conftest import PER_STEP_DQN_YAML, REPO_ROOT, joyrl_script, quick_overrides, read_episodes, start_local_ray

import joyrl_backend_ray
from joyrl_backend_ray import session as ray_session_module  # noqa: E402
from joyrl_backend_ray.session import RayClusterError  # noqa: E402



@pytest.fixture(scope="module")
def ray_cluster():
    """The module's one local Ray session (the backend reuses a session it finds)."""
    start_local_ray()
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def registry():
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(DISABLE_ENV_VAR, raising=False)
        return joyrl_core.load_registry()


def ray_config(registry, task_root, *extra, yaml=PER_STEP_DQN_YAML, **general):
    general.setdefault("mp_backend", "ray")
    return joyrl_core.resolve_config(registry, yaml, [*quick_overrides(task_root, **general), *extra])


def random_config(registry, task_root, *extra, **general):
    """The built-in RANDOM agent on CartPole: no learning, so runs are as short as Ray allows."""
    return ray_config(registry, task_root, "general_cfg.algo_name=RANDOM", "env_cfg.id=CartPole-v1", *extra,
                      yaml=None, **general)


class Probe(Logger):
    """Keeps every event; ``on_episode(record)`` runs inside the driver loop after each train episode."""

    def __init__(self, on_episode=None):
        self.episodes = []
        self.metrics = []
        self.on_episode = on_episode

    def log_episode(self, record):
        self.episodes.append(record)
        if record.mode == "train" and self.on_episode is not None:
            self.on_episode(record)

    def log_metrics(self, env_steps, metrics):
        self.metrics.append((env_steps, dict(metrics)))

    def close(self):
        pass


def run_actors(task_root: Path, role: str) -> list:
    """The actors of ``role`` (worker or learner) of the run writing into ``task_root``, by the names
    the backend gives them: ``joyrl/<task folder>/<token>/<role>-<index>``."""
    (task,) = task_root.iterdir()
    names = [n for n in ray.util.list_named_actors() if n.startswith(f"joyrl/{task.name}/") and f"/{role}-" in n]
    return [ray.get_actor(name) for name in sorted(names, key=lambda n: int(n.rsplit("-", 1)[1]))]


# -- learning, counters, checkpoints -------------------------------------------------------------

LEARN_EPISODES = 60
PPO_STEPS, PPO_REWARD = 30000, 200


@pytest.fixture(scope="module")
def trained(ray_cluster, registry, tmp_path_factory):
    """DQN on CartPole with two workers; online evaluation at every save point."""
    task_root = tmp_path_factory.mktemp("ray_trained") / "tasks"
    cfg = ray_config(registry, task_root, "algo_cfg.lr=0.001", max_episode=LEARN_EPISODES, max_step=200, seed=1,
                     n_workers=2, online_eval="true", online_eval_episode=2, model_save_fre=1000,
                     keep_checkpoints=0)
    start = time.perf_counter()
    summary, task = joyrl_core.start_run(cfg, registry)
    return cfg, summary, task, time.perf_counter() - start


def test_dqn_with_two_workers_learns_cartpole(trained):
    _, summary, task, seconds = trained
    rewards = summary.last_rewards
    assert len(rewards) == LEARN_EPISODES
    # A random policy scores about 22 on CartPole.
    assert np.mean(rewards[:10]) < 50, "the first episodes are near-random"
    assert np.mean(rewards[-10:]) >= 80, f"DQN with 2 ray workers did not learn: {rewards}"
    assert seconds < 150


def test_counters_add_up_across_workers(trained):
    _, summary, task, _ = trained
    rows = read_episodes(task.root)
    assert [int(r["episode"]) for r in rows] == list(range(1, LEARN_EPISODES + 1))
    lengths = [int(r["length"]) for r in rows]
    steps = [int(r["env_steps"]) for r in rows]
    # The workers' episodes interleave; the run stops in the step that finished the last one counted,
    # with the other worker's running episode cut (its steps counted, not the episode).
    assert steps == sorted(steps) and steps[-1] == summary.env_steps
    assert summary.episodes == LEARN_EPISODES and sum(lengths) <= summary.env_steps < sum(lengths) + 200
    workers = summary.workers
    assert [w["index"] for w in workers] == [0, 1]
    assert all(w["episodes"] > 0 for w in workers), "both workers played"
    assert sum(w["episodes"] for w in workers) == summary.episodes
    assert sum(w["env_steps"] for w in workers) == summary.env_steps
    # What each worker process counted itself is what the driver received from it, less the steps past
    # the stop (the rest of the last chunk, at most CHUNK_STEPS).
    for w in workers:
        assert w["env_steps"] <= w["reported_env_steps"] <= w["env_steps"] + 32
    assert summary.worker_restarts == 0
    # DQN learns once per env step from batch_size transitions on.
    assert summary.update_steps == summary.env_steps - 63
    assert summary.learner_update_steps == [summary.update_steps]
    on_disk = json.loads((task.results / "summary.json").read_text(encoding="utf-8"))
    assert on_disk["workers"] == workers and on_disk["n_workers"] == 2


def test_checkpoints_and_online_eval(trained):
    cfg, summary, task, _ = trained
    models = {p.stem for p in task.models.glob("*.pt")}
    saves = sorted(int(m) for m in models if m.isdigit())
    assert saves[-1] == summary.update_steps, "the final checkpoint"
    assert saves[:-1] == list(range(1000, summary.update_steps, 1000))
    assert "best" in models and summary.best_eval_reward is not None
    assert len(summary.eval_mean_rewards) == len(saves) - 1
    for step in saves[:-1]:
        counters = load_checkpoint(task.models / f"{step}.pt")["counters"]
        # The state of a save point is the learner's at that update, with the env steps it had seen.
        assert counters["update_steps"] == step
        assert counters["env_steps"] == step + 63
        assert 0 < counters["episodes"] <= summary.episodes
    final = load_checkpoint(task.models / f"{summary.update_steps}.pt")
    assert final["counters"] == {"episodes": summary.episodes, "env_steps": summary.env_steps,
                                 "update_steps": summary.update_steps}
    assert final["agent"]["update_steps"] == summary.update_steps


def test_resume_continues_the_counters_of_the_checkpoint(ray_cluster, registry, trained):
    _, before, task, _ = trained
    probe = Probe()
    cfg = ray_config(registry, task.root.parent, "algo_cfg.lr=0.001", load_checkpoint="true",
                     load_path=task.root.name, max_episode=4, max_step=200, seed=2, n_workers=2)
    summary, _ = joyrl_core.start_run(cfg, registry, [probe])
    assert [r.episode for r in probe.episodes] == list(range(before.episodes + 1, before.episodes + 5))
    assert probe.episodes[0].env_steps >= before.env_steps + probe.episodes[0].length
    assert probe.episodes[-1].env_steps == summary.env_steps
    assert summary.env_steps >= before.env_steps + sum(r.length for r in probe.episodes)
    # The learners start from the checkpoint (an empty buffer: no update until it holds a batch of 64),
    # then one more update per env step.
    assert summary.update_steps == before.update_steps + (summary.env_steps - before.env_steps - 63)


def test_eval_every_steps_evaluates_what_the_learners_hold(ray_cluster, registry, tmp_path):
    probe = Probe()
    cfg = random_config(registry, tmp_path / "tasks", max_episode=12, seed=1, n_workers=2, online_eval="true",
                        online_eval_episode=2, eval_every_steps=100)
    summary, _ = joyrl_core.start_run(cfg, registry, [probe])
    evals = [steps for steps, metrics in probe.metrics if "eval/mean_reward" in metrics]
    # Once per 100 env steps, at the first episode that reaches the next multiple.
    assert [steps // 100 for steps in evals] == list(range(1, summary.env_steps // 100 + 1))
    assert len(summary.eval_mean_rewards) == len(evals)


def test_test_mode_plays_the_checkpoint_in_this_process(ray_cluster, registry, trained, tmp_path):
    _, _, task, _ = trained
    cfg = ray_config(registry, task.root.parent, mode="test", load_path=task.root.name, load_checkpoint="true",
                     test_episode=2, max_step=200, seed=1, n_workers=2)
    summary, test_task = joyrl_core.start_run(cfg, registry)
    assert len(summary.test_rewards) == 2
    assert "Ray is not started" in (test_task.logs / "run.log").read_text(encoding="utf-8")


# -- faults --------------------------------------------------------------------------------------

def test_a_killed_worker_is_restarted_and_the_run_goes_on(ray_cluster, registry, tmp_path):
    EPISODES = 300
    killed = []

    def kill_worker_1(record):
        if record.episode == 5 and not killed:
            worker = run_actors(tmp_path / "tasks", "worker")[1]
            old_pid = ray.get(worker.ready.remote())
            ray.kill(worker, no_restart=False)  # as if its process crashed
            killed.append(record.episode)
            # Hold the driver until Ray has restarted it (a new process imports torch: seconds), so
            # that its retried call is back before worker 0 alone has played the other episodes. The
            # kill is asynchronous: a ready() sent at once may still be answered by the old process.
            deadline = time.perf_counter() + 60
            while ray.get(worker.ready.remote()) == old_pid:
                assert time.perf_counter() < deadline, "Ray did not restart worker 1 within 60 s"
                time.sleep(0.05)

    probe = Probe(kill_worker_1)
    cfg = random_config(registry, tmp_path / "tasks", max_episode=EPISODES, seed=3, n_workers=2,
                        collect_traj="true")
    summary, task = joyrl_core.start_run(cfg, registry, [probe])
    assert killed == [5]
    assert summary.episodes == EPISODES and not summary.interrupted
    assert summary.worker_restarts == 1
    assert [w["restarts"] for w in summary.workers] == [0, 1]
    assert sum(w["env_steps"] for w in summary.workers) == summary.env_steps
    # The episode the dead process was playing never finished: its steps count, it does not.
    assert sum(r.length for r in probe.episodes) <= summary.env_steps
    assert [r.episode for r in probe.episodes] == list(range(1, EPISODES + 1))
    log = (task.logs / "run.log").read_text(encoding="utf-8")
    assert log.count("worker 1 was restarted") == 1
    # ... and the new process goes on collecting: episodes of worker 1 are logged after its restart.
    assert "(worker 1)" in log.split("worker 1 was restarted")[1]
    assert summary.actor_prefix.startswith(f"joyrl/{task.root.name}/") and summary.actor_prefix in log
    trajectories = list(joyrl_core.load_trajectories(task.results))
    assert len(trajectories) == EPISODES
    assert [len(t.rewards) for t in trajectories] == [r.length for r in probe.episodes]


def test_more_actors_than_cpus_share_them(ray_cluster, registry, tmp_path):
    cfg = random_config(registry, tmp_path / "tasks", max_episode=30, seed=1, n_workers=3)
    summary, task = joyrl_core.start_run(cfg, registry)
    assert summary.episodes == 30
    assert all(w["episodes"] > 0 for w in summary.workers)
    assert "share" in (task.logs / "run.log").read_text(encoding="utf-8")


def test_no_free_cpus_fails_at_once_saying_what_to_change(ray_cluster, registry, tmp_path, monkeypatch):
    monkeypatch.setattr(ray_session_module, "RESOURCE_SETTLE_S", 0.5)

    @ray.remote(num_cpus=2)
    class Hog:
        def ready(self):
            return True

    hog = Hog.remote()
    ray.get(hog.ready.remote())
    try:
        cfg = random_config(registry, tmp_path / "tasks", max_episode=2, n_workers=2)
        start = time.perf_counter()
        with pytest.raises(RayClusterError, match="0 free CPUs.*n_workers"):
            joyrl_core.start_run(cfg, registry)
        assert time.perf_counter() - start < 30
    finally:
        ray.kill(hog)


def test_an_address_where_nothing_listens_fails_at_once(monkeypatch):
    from joyrl_backend_ray.session import RaySession

    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a process that has no Ray yet
    start = time.perf_counter()
    with pytest.raises(RayClusterError, match="nothing answers there.*ray start --head"):
        RaySession(f"127.0.0.1:{_free_port()}", logging.getLogger("test")).open()
    assert time.perf_counter() - start < 10  # Ray's own connect retries last minutes


def test_n_learners_must_be_positive(registry, tmp_path):
    with pytest.raises(ConfigError, match=r"general_cfg.n_learners: expected a value >= 1, got 0"):
        random_config(registry, tmp_path / "tasks", max_episode=2, n_learners=0)


def test_actor_start_timeout_is_a_checked_option(registry, tmp_path):
    cfg = random_config(registry, tmp_path / "tasks", max_episode=2, actor_start_timeout_s=300)
    assert joyrl_backend_ray.RayOptions.from_config(cfg).actor_start_timeout_s == 300
    with pytest.raises(ConfigError, match=r"general_cfg.actor_start_timeout_s: expected a value >= 1"):
        random_config(registry, tmp_path / "tasks", max_episode=2, actor_start_timeout_s=0)


def test_actors_not_started_in_time_fail_naming_them_and_the_key(ray_cluster):
    from joyrl_backend_ray.session import wait_until_started

    @ray.remote(num_cpus=0)
    class Slow:
        def __init__(self):
            time.sleep(30)  # as an actor importing torch on a machine under heavy load

        def ready(self):
            return os.getpid()

    slow = Slow.remote()
    try:
        with pytest.raises(RayClusterError, match=r"within 1 s \(run/worker-0\).*raise general_cfg.actor_start_timeout_s"):
            wait_until_started([slow], ["run/worker-0"], 1.0)
    finally:
        ray.kill(slow)


def test_ray_keys_belong_to_the_ray_backend(registry, tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key general_cfg.n_learners"):
        joyrl_core.resolve_config(registry, None, ["general_cfg.n_learners=2"])


# -- several learners ----------------------------------------------------------------------------

def test_two_learners_hold_identical_weights_after_updates(ray_cluster, registry, tmp_path):
    seen = []

    def compare_replicas(record):
        if record.episode in (8, 14):
            learners = run_actors(tmp_path / "tasks", "learner")
            weights = ray.get([learner.get_weights.remote() for learner in learners])
            steps = ray.get([learner.update_steps.remote() for learner in learners])
            seen.append((steps, weights))

    # Prioritized replay with 3-step returns where joyrl-dqn has them: the replicas update priorities
    # in their own buffers and sample through the view that splits each batch between them.
    extra = ["algo_cfg.buffer_type=PER_QUE", "algo_cfg.n_step=3"] if "PER_QUE" in registry.names("buffer") else []
    cfg = ray_config(registry, tmp_path / "tasks", "algo_cfg.lr=0.001", *extra, max_episode=16, max_step=200,
                     seed=2, n_workers=1, n_learners=2)
    summary, task = joyrl_core.start_run(cfg, registry, [Probe(compare_replicas)])
    assert len(seen) == 2
    for steps, (w0, w1) in seen:
        assert len(set(steps)) == 1 and steps[0] > 0
        assert w0.keys() == w1.keys()
        assert all(np.array_equal(np.asarray(w0[k]), np.asarray(w1[k])) for k in w0)
    (_, (early, _)), (_, (late, _)) = seen
    assert any(not np.array_equal(np.asarray(early[k]), np.asarray(late[k])) for k in early), "they learned"
    assert summary.replicas_in_sync is True
    assert summary.learner_update_steps == [summary.update_steps] * 2
    assert summary.update_steps == summary.env_steps - 63


def test_a_replica_samples_its_share_of_each_batch_through_the_buffer_api():
    import inspect

    from joyrl_backend_ray.actors import ShardedBuffer

    spec = joyrl_core.EnvSpec("test", (3,), np.dtype(np.float32), "discrete", n_actions=2)
    inner = joyrl_core.ReplayQueue(100, spec, seed=1)
    view = ShardedBuffer(inner, 2)
    for i in range(10):
        view.push(np.full(3, i, dtype=np.float32), i % 2, 1.0, np.full(3, i + 1, dtype=np.float32), False)
    assert len(view) == len(inner) == 10
    assert len(view.sample(64)) == 32 and len(ShardedBuffer(inner, 3).sample(64)) == 22
    assert inspect.signature(view.sample).parameters.keys() == inspect.signature(inner.sample).parameters.keys()
    assert view.capacity == 100  # anything else goes to the buffer itself


@pytest.mark.parametrize("batch_size, replicas, rows_per_step", [(64, 2, 32), (64, 3, 21), (2, 4, 1)])
def test_dqn_bursts_on_a_replica_take_its_share_of_every_batch(batch_size, replicas, rows_per_step):
    """DQN samples a run of gradient steps at once; on a replica's view each step still gets its share,
    and the replica takes every gradient step that is due (the all-reduce pairs them step by step)."""
    import torch

    from joyrl_backend_ray.actors import ShardedBuffer
    from joyrl_dqn import DQNConfig
    from joyrl_dqn.fast import FastDQNAgent

    spec = joyrl_core.EnvSpec("test", (3,), np.dtype(np.float32), "discrete", n_actions=2)
    view = ShardedBuffer(joyrl_core.ReplayQueue(500, spec, seed=1), replicas)
    rng = np.random.default_rng(0)
    for _ in range(200):
        view.push(rng.standard_normal(3), rng.integers(2), 1.0, rng.standard_normal(3), False)
    agent = FastDQNAgent(DQNConfig(batch_size=batch_size, train_freq=8, gradient_steps=6, target_update=100,
                                   value_layers=[{"layer_dim": [8]}]), spec, "cpu", 0)
    batch_rows = []
    hook_calls = []
    original = agent._gradients
    agent._gradients = lambda obs, *rest: batch_rows.append(len(obs)) or original(obs, *rest)
    agent.set_gradient_hook(lambda grads: hook_calls.append(len(grads)))
    assert agent.update(view, 8) is not None
    assert agent.update_steps == 6 and len(hook_calls) == 6
    assert batch_rows == [rows_per_step] * 6
    assert all(torch.isfinite(p).all() for p in agent.q_net.parameters())


def test_another_algorithm_through_the_agent_contract(ray_cluster, registry, tmp_path):
    """REINFORCE (whole episodes from its EPISODES buffer) with 2 workers and 2 learners."""
    yaml = Path(__file__).resolve().parents[1] / "examples" / "plugins" / "joyrl-reinforce" / "cartpole_reinforce.yaml"
    cfg = ray_config(registry, tmp_path / "tasks", yaml=yaml, max_episode=24, max_step=200, seed=1, n_workers=2,
                     n_learners=2)
    summary, _ = joyrl_core.start_run(cfg, registry)
    assert summary.episodes == 24
    assert summary.update_steps >= 4  # one policy-gradient step per 4 episodes
    assert summary.replicas_in_sync is True


# -- Ctrl-C and clusters (each in a subprocess with a Ray of its own) ----------------------------

def _own_ray_processes(marker: str) -> list[int]:
    """Pids of processes whose command line mentions ``marker`` (a Ray temp dir or session of a test)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.mark.skipif(sys.platform != "linux", reason="signals to a process group, /proc")
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_ctrl_c_writes_the_final_checkpoint_and_stops_ray(tmp_path, how):
    """Ctrl-C in a terminal signals the whole process group (Ray's processes too); SIGTERM (a job
    scheduler) only the driver, whose handler Ray replaces unless the backend puts the CLI's back."""
    task_root = tmp_path / "tasks"
    args = [str(joyrl_script()), "run", str(PER_STEP_DQN_YAML), "--set", "general_cfg.mp_backend=ray",
            "--set", "general_cfg.n_workers=2", "--set", "general_cfg.max_episode=-1"]
    for override in quick_overrides(task_root, seed=1, max_step=100, model_save_fre=100000):
        args += ["--set", override]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop(DISABLE_ENV_VAR, None)
    # A session of its own, like a terminal's job: Ctrl-C reaches the driver and Ray's own processes.
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            parts = list(task_root.glob("*/results/episodes.csv"))
            if parts and len(parts[0].read_text(encoding="utf-8").splitlines()) > 10:
                break
            time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()[0]
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, output  # the CLI's exit status for an interrupted run
    assert "interrupted: the final checkpoint and results were saved" in output
    (task,) = task_root.iterdir()
    summary = json.loads((task / "results" / "summary.json").read_text(encoding="utf-8"))
    assert summary["interrupted"] is True and summary["episodes"] > 10
    final = load_checkpoint(task / "models" / f"{summary['update_steps']}.pt")
    assert final["counters"]["env_steps"] == summary["env_steps"]
    assert len(read_episodes(task)) == summary["episodes"]
    # Ray's processes lived in the run's process group; none are left (on a loaded machine an actor
    # process takes a few seconds to notice that its raylet is gone). A zombie ("<defunct>", state Z)
    # has exited and holds nothing: it waits for its parent, or for an init that reaps orphans, to
    # collect its status, which is not the run's to do (this machine's PID 1 is slow at it).
    deadline = time.monotonic() + 20
    while True:
        listing = subprocess.run(["ps", "-o", "stat=,pid=,args=", "-g", str(proc.pid)], capture_output=True,
                                 text=True).stdout
        leftovers = "\n".join(line for line in listing.splitlines() if not line.lstrip().startswith("Z"))
        if not leftovers.strip() or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert leftovers.strip() == "", leftovers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


JOIN_SCRIPT = textwrap.dedent("""
    import json, sys
    import joyrl_core
    registry = joyrl_core.load_registry()
    task_root, address = sys.argv[1], sys.argv[2]
    cfg = joyrl_core.resolve_config(registry, None, [
        "general_cfg.mp_backend=ray", "general_cfg.algo_name=RANDOM", "env_cfg.id=CartPole-v1",
        "general_cfg.n_workers=2", "general_cfg.max_episode=6", "general_cfg.loggers=[csv]",
        "general_cfg.save_fig=false", f"general_cfg.task_dir={task_root}", f"general_cfg.ray_address={address}"])
    summary, task = joyrl_core.start_run(cfg, registry)
    import ray
    print(json.dumps({"episodes": summary.episodes, "connected_after": ray.is_initialized(),
                      "log": (task.logs / "run.log").read_text()}))
""")


@pytest.mark.skipif(sys.platform != "linux", reason="/proc")
def test_joins_a_cluster_started_with_ray_start(tmp_path):
    port = _free_port()
    # A short temp dir of its own (Ray's socket paths have a length limit), so that this cluster's
    # files and processes are told apart from any other Ray on the machine.
    temp_dir = tempfile.mkdtemp(prefix="jrt", dir="/tmp")
    # The documented recipe for a cluster with token authentication: the head and `joyrl run` share
    # RAY_AUTH_MODE=token and the token (Ray 2.5x turns token auth on once ~/.ray/auth_token exists).
    env = {**os.environ, "MPLBACKEND": "Agg", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": os.urandom(16).hex()}
    env.pop(DISABLE_ENV_VAR, None)
    ray_cli = Path(sys.executable).parent / "ray"
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--num-cpus", "2", "--port", str(port), "--node-ip-address", "127.0.0.1",
         "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", temp_dir, "--block"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert head.poll() is None, head.communicate()[0]
            time.sleep(0.5)
        result = subprocess.run([sys.executable, "-c", JOIN_SCRIPT, str(tmp_path / "tasks"), f"127.0.0.1:{port}"],
                                env=env, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report["episodes"] == 6
        assert report["connected_after"] is False, "the run disconnects from a cluster it joined"
        assert f"joined the Ray cluster at 127.0.0.1:{port}" in report["log"]
        assert head.poll() is None, "the cluster itself keeps running"
    finally:
        # `ray stop` would also stop this module's Ray and any other Ray on the machine: stop only this
        # cluster, whose processes share the head's process group (or name its temp dir).
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(head.pid, sig)
            except ProcessLookupError:
                break
            try:
                head.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        for pid in _own_ray_processes(temp_dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert _own_ray_processes(temp_dir) == []


# -- vectorized workers, on-policy rounds, policy lag ---------------------------------------------

def in_process_context(registry, cfg):
    """A run context without a run: the actors' classes used in this process (no Ray)."""
    import gymnasium as gym

    from joyrl_core.outputs.task import create_task_dir

    spec = joyrl_core.EnvSpec.from_env(gym.make(cfg.env.id), cfg.env.id)
    task = create_task_dir(cfg.general.task_dir, "train", cfg.env.id, cfg.general.algo_name)
    return joyrl_core.RunContext(config=cfg, registry=registry, task=task, env_spec=spec, device="cpu",
                                 log=logging.getLogger("test_backend_ray"))


def test_ppo_extras_and_env_streams_reach_the_learners_buffer_row_for_row(registry, tmp_path):
    """Two workers of three envs each: every row of the learner's rollout is the worker's row of that
    stream and step, with the log-prob and value the acting policy computed for it."""
    import torch

    from joyrl_backend_ray.actors import Learner, RolloutWorker

    cfg = ray_config(registry, tmp_path / "tasks", "env_cfg.n_envs=3", "algo_cfg.n_steps=16",
                     yaml=REPO_ROOT / "examples" / "cartpole_ppo.yaml", n_workers=2, seed=5)
    run = in_process_context(registry, cfg)
    learner = Learner(run, 0, 1)
    workers = [RolloutWorker(run, i) for i in range(2)]
    for worker in workers:
        worker.agent.set_weights(learner.get_weights())
        worker.version = 0
    assert learner.rollout_steps() == 16
    halves = []
    for worker in workers:  # half a rollout of each: nothing is learned yet
        stats, packed = worker.collect(0, [], 0, 8)
        data = packed.unpack()
        assert stats["version"] == 0 and stats["n_envs"] == 3 and len(data["rewards"]) == 24
        result, weights = learner.train(packed, worker.index * 3, 0, 8, 3, 0, 0, [0] * 8, 10**9)
        assert result["lag"] == 0 and weights is None
        halves.append(data)
    batch = learner.buffer.batch(np.arange(8 * 6))
    for w, data in enumerate(halves):
        for i in range(3):
            stream = w * 3 + i
            rows, theirs = np.arange(8) * 6 + stream, np.arange(8) * 3 + i
            np.testing.assert_array_equal(batch.env_ids[rows], stream)
            np.testing.assert_array_equal(batch.obs[rows], data["obs"][theirs])
            np.testing.assert_array_equal(batch.actions[rows], data["actions"][theirs])
            np.testing.assert_array_equal(batch.extras["log_prob"][rows], data["extras"]["log_prob"][theirs])
    # The stored extras are what the learner's policy (the one that acted) gives for those rows.
    agent = learner.agent
    with torch.no_grad():
        logits, values = agent.net(torch.as_tensor(batch.obs))
        log_probs = torch.log_softmax(logits, dim=1)[np.arange(len(batch)), batch.actions]
    np.testing.assert_allclose(batch.extras["log_prob"], log_probs.numpy(), atol=1e-5)
    np.testing.assert_allclose(batch.extras["value"], values.numpy(), atol=1e-5)

    # The second half of each: the last push fills the rollout, the learner updates once.
    for worker in workers:
        _, data = worker.collect(0, [], 48, 8)
        result, weights = learner.train(data, worker.index * 3, 0, 8, 3, 0, 48, [0] * 8, 10**9)
    assert result["lag"] == 0 and weights is not None and learner.version == 1 and agent.update_steps > 0
    # A batch collected with the old weights now arrives one update late.
    _, data = workers[0].collect(0, [], 96, 2)
    result, _ = learner.train(data, 0, 0, 2, 3, 0, 96, [0] * 2, 10**9)
    assert result["lag"] == 1


def test_ppo_learns_cartpole_on_two_workers_with_no_policy_lag(ray_cluster, registry, tmp_path):
    cfg = ray_config(registry, tmp_path / "tasks", "algo_cfg.n_steps=16", "env_cfg.n_envs=4",
                     yaml=REPO_ROOT / "examples" / "cartpole_ppo.yaml", n_workers=2, seed=2,
                     max_env_steps=PPO_STEPS, online_eval="true", online_eval_episode=5, eval_every_steps=2048,
                     stop_reward=PPO_REWARD)
    summary, _ = joyrl_core.start_run(cfg, registry)
    assert summary.policy_lag_max == 0 and summary.learner_batches > 0
    assert summary.stop_reason == "stop_reward", f"PPO on 2 ray workers did not reach {PPO_REWARD}: {summary.eval_mean_rewards}"
    assert summary.update_steps > 0 and summary.env_steps <= PPO_STEPS


def test_dqn_on_vectorized_workers_reports_its_policy_lag(ray_cluster, registry, tmp_path):
    cfg = ray_config(registry, tmp_path / "tasks", "env_cfg.n_envs=2", max_episode=-1, max_env_steps=600,
                     max_step=200, seed=3, n_workers=2)
    summary, task = joyrl_core.start_run(cfg, registry)
    # Two gradient steps per vector step of 2 envs (one per env step) once the buffer holds 64 rows.
    assert summary.env_steps == 600 and summary.update_steps == 600 - 62
    assert summary.learner_batches >= 600 // 32 and summary.policy_lag_max >= 1
    assert 0 < summary.policy_lag_mean <= summary.policy_lag_max


def test_ppo_with_two_learners_keeps_the_replicas_identical(ray_cluster, registry, tmp_path):
    """Every replica takes every rollout and shuffles it with the same generator state (the driver's
    agent's), so the averaged gradient is the one-learner gradient and the replicas never drift apart."""
    cfg = ray_config(registry, tmp_path / "tasks", "algo_cfg.n_steps=16", "env_cfg.n_envs=2",
                     yaml=REPO_ROOT / "examples" / "cartpole_ppo.yaml", n_workers=1, n_learners=2, seed=4,
                     max_env_steps=320)
    summary, _ = joyrl_core.start_run(cfg, registry)
    assert summary.env_steps == 320 and summary.policy_lag_max == 0
    # 10 rollouts of 16 steps x 2 envs; each is one minibatch (batch_size 256 > 32 rows) for 20 epochs.
    assert summary.update_steps == 10 * 20
    assert summary.replicas_in_sync is True
