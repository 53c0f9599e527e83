"""The ``ray`` backend: the driver loop that runs rollout workers and learners as Ray actors.

Data flow (one driver, ``n_workers`` workers, ``n_learners`` learner replicas)::

    worker i --collect()--> (stats, transitions)      stats: to the driver; transitions: object store
    driver: counts episodes and env steps, logs each episode, sends the transitions' ObjectRef on
    learner k <--train(ref)-- (every replica gets every batch; they average gradients with gloo)
    learner 0 --> (update steps, metrics, save points, new weights)  ->  driver: weights version += 1
    worker i <--collect(version, [weights ref])-- fetches the weights only when its version differs

The driver is the one place that counts episodes, env steps and update steps, step by step under the
run's :class:`joyrl_core.StopRules` (what it counts and where it stops are the single backend's). Off-policy,
workers collect while the learners learn; with an on-policy buffer (``ordered_rollouts``) the run goes
in rounds: every worker collects one rollout with the newest weights, and the next round starts once
the learners took them all in (policy lag 0). The driver checkpoints and
evaluates with a CPU copy of the agent (the :class:`joyrl_core.Trainer` pieces: ``save``,
``evaluate``, the save point with online evaluation and best model, trajectories, the final summary).
Test mode needs no parallelism and runs the core's ``Trainer.test`` in this process.
"""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from joyrl_core import (
    Agent,
    Backend,
    Counters,
    EpisodeRecord,
    EpisodeResult,
    JoyRLError,
    RunContext,
    RunSummary,
    StopRules,
    Trainer,
    restore_agent,
)

from joyrl_backend_ray.options import (
    CHUNK_STEPS,
    COLLECTIVE_TIMEOUT_S,
    DRAIN_TIMEOUT_S,
    WORKER_MAX_RESTARTS,
    WORKER_SETTLE_S,
    RayOptions,
    actor_name,
    actor_prefix,
)
from joyrl_backend_ray.session import RaySession, plan_placement, wait_until_started
from joyrl_backend_ray.summary import RaySummary


class WorkerLostError(JoyRLError):
    """A worker actor died more often than Ray may restart it."""


class LearnerError(JoyRLError):
    """A learner replica died, or the replicas fell out of step."""


def remote_context(run: RunContext, device: str) -> RunContext:
    """What an actor gets: the run's config and components, no loggers (the driver alone logs)."""
    return RunContext(config=run.config, registry=run.registry, task=run.task, env_spec=run.env_spec,
                      device=device, log=run.log)


class RayBackend(Backend):
    """``mp_backend: ray``: ``n_workers`` rollout workers and ``n_learners`` learners as Ray actors."""

    def __init__(self, run: RunContext):
        self.ctx = run
        self.options = RayOptions.from_config(run.config)
        if run.config.general.mode == "train" and run.dataset is None:
            StopRules.refuse(run.config.general, "ray", {
                "max_update_steps": "its learners update while the workers step on, so the env steps at a "
                                    "given update step are not known; use max_env_steps",
            })

    def run(self) -> RunSummary:
        run = self.ctx
        if run.config.general.mode == "test":
            run.log.info("test mode: greedy episodes in this process (Ray is not started)")
            return Trainer(run, run.make_agent(run.seed_for("train")), None).test()
        if run.dataset is not None:
            # An offline agent (joyrl_core.Agent.offline) steps no env: there is nothing to spread.
            run.log.info("offline algorithm: learns from its dataset in this process (Ray is not started)")
            seed = run.seed_for("train")
            return Trainer(run, run.make_agent(seed), run.make_buffer(seed)).train()
        agent = remote_context(run, "cpu").make_agent(run.seed_for("train"))
        return RayTrainer(run, agent, self.options).train()


@dataclass
class _WorkerCall:
    index: int
    data: Any  # ObjectRef of the transitions
    env_steps: int  # env steps this call takes (reserved against max_env_steps while it runs)


@dataclass
class _LearnerCall:
    results: list[Any]  # one ObjectRef per replica
    weights: Any  # ObjectRef of rank 0's new weights (None inside when unchanged)


@dataclass
class _WorkerTally:
    episodes: int = 0
    env_steps: int = 0
    restarts: int = 0
    pid: int | None = None
    process_env_steps: int = 0  # what the current process says it delivered
    earlier_processes_env_steps: int = 0  # what its predecessors said, before Ray restarted it

    def as_dict(self, index: int) -> dict[str, Any]:
        return {"index": index, "episodes": self.episodes, "env_steps": self.env_steps, "restarts": self.restarts,
                "reported_env_steps": self.earlier_processes_env_steps + self.process_env_steps}


@dataclass
class _Rate:
    """Events per second, over windows of about a second (episodes arrive in bursts from the workers)."""

    count: int = 0
    since: float = field(default_factory=time.perf_counter)
    value: float = 0.0

    def update(self, count: int) -> float:
        now = time.perf_counter()
        elapsed = now - self.since
        if elapsed >= 0.25:
            self.value = (count - self.count) / elapsed
        if elapsed >= 1.0:
            self.count, self.since = count, now
        return self.value


class RayTrainer(Trainer):
    """The core trainer's checkpoints, evaluation and outputs around a loop over Ray actors.

    ``self.agent`` is the driver's CPU copy: it holds the learner's state at each save point (and at
    the end), so ``save``/``evaluate`` of the base class work unchanged.
    """

    def __init__(self, run: RunContext, agent: Agent, options: RayOptions):
        super().__init__(run, agent, None)
        self.options = options
        self.summary = RaySummary(n_workers=options.n_workers, n_learners=options.n_learners)
        self.session = RaySession(options.ray_address, run.log)
        self.workers: list[Any] = []
        self.learners: list[Any] = []
        self._tallies = [_WorkerTally() for _ in range(options.n_workers)]
        self._in_flight: dict[Any, _WorkerCall] = {}
        self._learner_queue: collections.deque[_LearnerCall] = collections.deque()
        self._weights_version = 0
        self._weights_ref: Any = None
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._step_rate = _Rate()
        self._update_rate = _Rate()
        self._agent_counters = Counters()  # the counters that go with the state self.agent holds
        self._send_data = getattr(run.config.algo, "buffer_type", None) is not None
        every = self.general.eval_every_steps
        self._eval_every = every if self.general.online_eval else None
        self._eval_due = math.inf
        self._rollout_steps: int | None = None  # on-policy: vector steps per worker per rollout
        self._lag_sum = 0

    # -- start and stop ------------------------------------------------------------------------

    def _start_actors(self) -> None:
        import ray

        from joyrl_backend_ray.actors import Learner, RolloutWorker

        run, opts = self.run, self.options
        on_gpu = run.device.startswith("cuda")
        placement = plan_placement(opts.n_workers, opts.n_learners, on_gpu)
        prefix = self.summary.actor_prefix = actor_prefix(run.task.root.name)
        learner_cls = ray.remote(Learner)
        worker_cls = ray.remote(RolloutWorker)
        learner_ctx = remote_context(run, "cuda" if on_gpu else run.device)  # Ray sets CUDA_VISIBLE_DEVICES
        worker_ctx = remote_context(run, "cpu")
        names = [actor_name(prefix, "learner", k) for k in range(opts.n_learners)]
        self.learners = [
            learner_cls.options(name=names[k], num_cpus=placement.learner_cpus, num_gpus=placement.learner_gpus,
                                max_restarts=0).remote(learner_ctx, k, opts.n_learners)
            for k in range(opts.n_learners)
        ]
        names += [actor_name(prefix, "worker", i) for i in range(opts.n_workers)]
        self.workers = [
            worker_cls.options(name=actor_name(prefix, "worker", i), num_cpus=placement.worker_cpus,
                               max_restarts=WORKER_MAX_RESTARTS, max_task_retries=-1).remote(worker_ctx, i)
            for i in range(opts.n_workers)
        ]
        wait_until_started(self.learners + self.workers, names, opts.actor_start_timeout_s)
        if opts.n_learners > 1:
            host, port = ray.get(self.learners[0].rendezvous.remote())
            ray.get([learner.join_group.remote(host, port, COLLECTIVE_TIMEOUT_S) for learner in self.learners])
        # Every replica starts from the driver's agent: the seeded initial weights, or the checkpoint.
        state = ray.put(self.agent.state_dict())
        ray.get([learner.load_state_dict.remote(state) for learner in self.learners])
        self._weights_ref = ray.put(self.agent.get_weights())
        self._agent_counters = Counters(**vars(self.counters))
        self._rollout_steps = ray.get(self.learners[0].rollout_steps.remote())
        if self._rollout_steps is not None:
            self.run.log.info("on-policy buffer: each round, every worker collects %d steps of its %d env(s) with "
                              "the newest weights, and the learners update once all of them are in",
                              self._rollout_steps, self.run.config.vector.n_envs)
        if placement.worker_cpus < 1:
            self.run.log.warning("%d actors share %.2f CPUs each: the cluster has fewer free CPUs than actors",
                                 opts.n_workers + opts.n_learners, placement.worker_cpus)
        self.run.log.info("started %d worker(s) and %d learner(s) (%s CPUs each, %s GPUs per learner), named %s/...",
                          opts.n_workers, opts.n_learners, placement.worker_cpus, placement.learner_gpus, prefix)

    def _kill_actors(self) -> None:
        import ray

        for actor in self.workers + self.learners:
            ray.kill(actor, no_restart=True)
        self.workers, self.learners = [], []

    # -- the loop ------------------------------------------------------------------------------

    def train(self) -> RunSummary:
        general = self.general
        if general.load_checkpoint:
            self.counters = restore_agent(self.run, self.agent)
        self.stop.first_episode = self.counters.episodes
        if self._eval_every is not None:
            self._eval_due = (self.counters.env_steps // self._eval_every + 1) * self._eval_every
        if getattr(self.run.config.env, "render_mode", None) == "human":
            self.run.log.warning("render_mode human: Ray workers do not render; use the single backend to watch")
        failed = False
        try:
            self.session.open()
            self._start_actors()
            self._loop()
        except KeyboardInterrupt:
            self.stop.interrupted()
            self.summary.interrupted = True
            self.run.log.warning("interrupted at episode %d, env step %d", self.counters.episodes,
                                 self.counters.env_steps)
        except BaseException:
            failed = True
            raise
        finally:
            try:
                self._wind_down(failed)
            finally:
                try:
                    if self.workers or self.learners:
                        self._kill_actors()
                finally:
                    self.session.close()
                    self.close_outputs()
        return self.finish()

    def _vector_steps(self, reserved: int) -> int:
        """Vector steps the next worker call takes: a rollout on-policy, else a chunk of about
        ``CHUNK_STEPS`` env steps; never more than ``max_env_steps`` leaves after the ``reserved`` env
        steps of the calls in flight (0: send none)."""
        n_envs = self.run.config.vector.n_envs
        steps = self._rollout_steps or max(1, math.ceil(CHUNK_STEPS / n_envs))
        left = self.stop.env_steps_left(self.counters.env_steps)
        if left is None or self._rollout_steps is not None:
            # A rollout is taken whole; the steps past the budget are dropped when it comes in.
            return steps if left is None or left > reserved else 0
        return max(0, min(steps, math.ceil((left - reserved) / n_envs)))

    def _loop(self) -> None:
        import ray

        counters = self.counters
        self._step_rate = _Rate(count=counters.env_steps)
        self._update_rate = _Rate(count=counters.update_steps)
        idle = collections.deque(range(self.options.n_workers))
        # Batches not learned from yet (collecting, or queued at the learners), at most: one the learners
        # work on and one per worker. A worker acts with the weights of when its call was sent, so its
        # batch lags behind the learners by the batches ahead of it: at most n_workers weight versions.
        # A deeper queue would not learn faster (the learners take one batch at a time), only act staler.
        unlearned_cap = self.options.n_workers + 1
        on_policy = self._rollout_steps is not None
        reserved = 0

        while not self._out_of_steps():
            # On-policy, a round starts only once the learners took in the last one: every worker then
            # acts with the weights that learned from all data so far (policy lag 0).
            can_send = not (self._in_flight or self._learner_queue) if on_policy else True
            while can_send and idle and len(self._in_flight) + len(self._learner_queue) < unlearned_cap:
                vector_steps = self._vector_steps(reserved)
                if vector_steps <= 0:
                    break
                i = idle.popleft()
                stats, data = self.workers[i].collect.options(num_returns=2).remote(
                    self._weights_version, [self._weights_ref], counters.env_steps, vector_steps)
                call_steps = vector_steps * self.run.config.vector.n_envs
                self._in_flight[stats] = _WorkerCall(i, data, call_steps)
                reserved += call_steps
            waiting = list(self._in_flight)
            if self._learner_queue:
                waiting += self._learner_queue[0].results
            if not waiting:
                break
            ready, _ = ray.wait(waiting, num_returns=1)
            call = self._in_flight.pop(ready[0], None)
            if call is None:
                self._on_learned(self._learner_queue[0])
                self._learner_queue.popleft()
                continue
            reserved -= call.env_steps
            self._on_chunk(call, self._worker_result(ready[0], call.index))
            idle.append(call.index)

    def _eval_now(self) -> None:
        """``eval_every_steps``: evaluate the learners' state once they learned from every batch counted."""
        import ray

        # Queued behind every train call sent so far, so the state matches the driver's counters.
        state = self.learners[0].state_dict.remote()
        self._drain_learners()
        self.agent.load_state_dict(ray.get(state))
        self._agent_counters = Counters(**vars(self.counters))
        self.online_eval()
        self._eval_due = (self.counters.env_steps // self._eval_every + 1) * self._eval_every

    def _drain_learners(self, timeout: float | None = None) -> None:
        """Take in the results of every batch sent to the learners."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        while self._learner_queue:
            left = None if deadline is None else max(1.0, deadline - time.perf_counter())
            self._on_learned(self._learner_queue[0], left)
            self._learner_queue.popleft()

    def _worker_result(self, ref: Any, index: int) -> dict[str, Any]:
        import ray

        try:
            return ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            raise WorkerLostError(
                f"worker {index} died and Ray gave up restarting it (it restarts a worker {WORKER_MAX_RESTARTS} "
                f"times): {str(exc).strip().splitlines()[0]}"
            ) from None
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, JoyRLError):
                raise exc.cause from None  # an env or plugin error: its own message says what to do
            raise

    def _on_chunk(self, call: _WorkerCall, stats: dict[str, Any]) -> None:
        """Count a worker's steps and episodes as the single backend's vectorized loop does, step by
        step under the run's :class:`joyrl_core.StopRules`, and hand its transitions to the learners.

        The steps past the run's stop are dropped; an evaluation due (``eval_every_steps``) inside the
        chunk splits it, so the learners have learned from exactly the steps counted when it runs.
        """
        counters = self.counters
        tally = self._note_process(call.index, stats)
        n_envs, vector_steps = stats["n_envs"], stats["vector_steps"]
        ended: dict[int, list[EpisodeResult]] = collections.defaultdict(list)
        for t, result in stats["episodes"]:
            ended[t].append(result)
        t = 0
        while t < vector_steps and not self._out_of_steps():
            start, start_steps, episodes_after = t, counters.env_steps, []
            while t < vector_steps and not self._out_of_steps():
                counters.env_steps += n_envs
                tally.env_steps += n_envs
                for result in ended.get(t, ()):
                    if self.stop.count_episode(counters.episodes):
                        self._episode_done_in(call.index, result)
                        tally.episodes += 1
                t += 1
                episodes_after.append(counters.episodes)
                if counters.env_steps >= self._eval_due:
                    break
            self._learn_from(call, stats, start, t, start_steps, episodes_after)
            if counters.env_steps >= self._eval_due:
                self._eval_now()

    def _note_process(self, index: int, stats: dict[str, Any]) -> _WorkerTally:
        """Count a restart when a reply of worker ``index`` comes from a process Ray started again.

        The episodes the dead process was playing are gone with it (the new process's envs start new
        ones): their steps already counted stay counted, the episodes are never logged as finished.
        """
        tally = self._tallies[index]
        if stats["restarted"] or (tally.pid is not None and stats["pid"] != tally.pid):
            tally.restarts += 1
            self.summary.worker_restarts += 1
            tally.earlier_processes_env_steps += tally.process_env_steps
            self.run.log.warning("worker %d was restarted by Ray after its process died (restart %d of at most %d)",
                                 index, tally.restarts, WORKER_MAX_RESTARTS)
        tally.pid = stats["pid"]
        tally.process_env_steps = stats["process_env_steps"]
        return tally

    def _settle_workers(self) -> None:
        """At the stop, wait a little for the worker calls still in flight (their steps are past the stop
        and not counted) to learn of the restarts they hold: a call Ray retried on a restarted process
        comes back only once that process has started, which can be after the other workers ended the run.
        """
        import ray

        refs = list(self._in_flight)
        if not refs:
            return
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=WORKER_SETTLE_S)
        for ref in ready:
            try:
                stats = ray.get(ref)
            except ray.exceptions.RayError:
                continue  # a worker that died for good: nothing of it is counted after the stop
            self._note_process(self._in_flight[ref].index, stats)

    def _learn_from(self, call: _WorkerCall, stats: dict[str, Any], start: int, stop: int, env_steps: int,
                    episodes_after: list[int]) -> None:
        """Send vector steps ``start:stop`` of a worker's chunk to every learner replica."""
        data = call.data if self._send_data else None
        results = []
        weights = None
        for k, learner in enumerate(self.learners):
            result, new_weights = learner.train.options(num_returns=2).remote(
                data, call.index * stats["n_envs"], start, stop, stats["n_envs"], stats["version"], env_steps,
                episodes_after, self.general.model_save_fre)
            results.append(result)
            weights = new_weights if k == 0 else weights
        self._learner_queue.append(_LearnerCall(results, weights))

    def _episode_done_in(self, worker: int, result: EpisodeResult) -> None:
        """Count, keep and log one finished training episode of ``worker``."""
        counters, run = self.counters, self.run
        counters.episodes += 1
        self.keep(result)
        exploration = dict(self.agent.exploration(counters.env_steps))
        record = EpisodeRecord("train", counters.episodes, counters.env_steps, result.reward, result.length,
                               result.wall_time, result.terminated, exploration)
        metrics = {f"train/{k}": self._sums[k] / self._counts[k] for k in self._sums}
        self._sums.clear()
        self._counts.clear()
        metrics.update({f"train/{k}": v for k, v in exploration.items()})
        speed = self._step_rate.update(counters.env_steps)
        metrics["time/steps_per_sec"] = speed
        metrics["time/updates_per_sec"] = self._update_rate.update(counters.update_steps)
        run.loggers.log_episode(record)
        run.loggers.log_metrics(counters.env_steps, metrics)
        run.log.info("episode %d (worker %d): reward %.2f, length %d, env steps %d, %.0f steps/s",
                     counters.episodes, worker, result.reward, result.length, counters.env_steps, speed)
        self.summary.last_rewards.append(result.reward)

    def _learner_results(self, call: _LearnerCall, timeout: float | None = None) -> list[dict[str, Any]]:
        import ray

        try:
            return ray.get(call.results, timeout=timeout)
        except ray.exceptions.RayActorError as exc:
            raise LearnerError(
                f"a learner died: {str(exc).strip().splitlines()[0]}; resume from the last checkpoint with "
                "load_checkpoint: true"
            ) from None
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, JoyRLError):
                raise exc.cause from None
            if self.options.n_learners > 1 and "gloo" in str(exc).lower():
                raise LearnerError(
                    "the learner replicas fell out of step (a gradient all-reduce timed out or failed). Every "
                    "replica must decide to update exactly when the others do: agent.update may decide from "
                    "len(buffer), its own counters and env_steps, not from the sampled data. "
                    f"Cause: {str(exc.cause).strip().splitlines()[0] if exc.cause else exc}"
                ) from None
            raise

    def _on_learned(self, call: _LearnerCall, timeout: float | None = None) -> None:
        """Metrics, new weights and save points of one batch the learners finished."""
        import ray

        results = self._learner_results(call, timeout)
        steps = [r["update_steps"] for r in results]
        if len(set(steps)) > 1:
            raise LearnerError(f"learner replicas disagree on their update steps {steps}; agent.update must decide "
                               "to update from len(buffer), its counters and env_steps only")
        lag = results[0]["lag"]
        self.summary.learner_batches += 1
        self.summary.policy_lag_max = max(self.summary.policy_lag_max, lag)
        self._lag_sum += lag
        self.summary.policy_lag_mean = self._lag_sum / self.summary.learner_batches
        for r in results:
            for key, value in r["sums"].items():
                self._sums[key] = self._sums.get(key, 0.0) + value
                self._counts[key] = self._counts.get(key, 0) + r["counts"][key]
        if steps[0] != self.counters.update_steps:
            self.counters.update_steps = steps[0]
            self._weights_version += 1
            self._weights_ref = call.weights
        for point in results[0]["save_points"]:
            self.agent.load_state_dict(ray.get(point["state"]))
            self._agent_counters = Counters(point["episodes"], point["env_steps"], point["update_steps"])
            live, self.counters = self.counters, Counters(**vars(self._agent_counters))
            try:
                self.save_point()
            finally:
                self.counters = live

    # -- the end -------------------------------------------------------------------------------

    def _wind_down(self, failed: bool) -> None:
        """Stop the workers, let the learners finish their batches, write the final checkpoint.

        After an error (``failed``) nothing is waited for and nothing raises: the error is what the user
        needs to see, and the final checkpoint holds what the driver's agent has (the last save point).
        """
        import ray

        if not failed and not self.summary.interrupted:
            self._settle_workers()
        for worker in self.workers:
            ray.kill(worker, no_restart=True)  # their unfinished episodes were never counted
        self.workers = []
        self._in_flight.clear()
        self.summary.workers = [t.as_dict(i) for i, t in enumerate(self._tallies)]
        if failed:
            try:
                self._final_save()
            except Exception as exc:  # keep the run's own error in front
                self.run.log.error("final checkpoint failed: %s: %s", type(exc).__name__, exc)
            return
        try:
            self._drain_learners(DRAIN_TIMEOUT_S)
            if self.learners:
                states = ray.get([learner.state_dict.remote() for learner in self.learners], timeout=DRAIN_TIMEOUT_S)
                self.agent.load_state_dict(states[0])
                self._agent_counters = Counters(**vars(self.counters))
                self.summary.learner_update_steps = ray.get([learner.update_steps.remote() for learner in self.learners])
                if len(states) > 1:
                    self._check_replicas(states)
        except (KeyboardInterrupt, ray.exceptions.RayError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            self.run.log.warning("the learners' final state is unavailable (%s: %s); the final checkpoint holds "
                                 "the last save point", type(exc).__name__, first)
            self.summary.interrupted = self.summary.interrupted or isinstance(exc, KeyboardInterrupt)
        finally:
            self._final_save()

    def _final_save(self) -> None:
        """Always written (as the single backend does), with the counters that go with the state."""
        live, self.counters = self.counters, Counters(**vars(self._agent_counters))
        try:
            self.counters.update_steps = self.agent.update_steps
            self.save(str(self.agent.update_steps))
        finally:
            self.counters = live

    def _check_replicas(self, states: list[dict[str, Any]]) -> None:
        """Whether every replica's state equals replica 0's (weights, optimizer, counters)."""
        same = all(_equal(states[0], other) for other in states[1:])
        self.summary.replicas_in_sync = same
        if not same:
            self.run.log.error("learner replicas ended with different states: gradients were not averaged alike")


def _equal(a: Any, b: Any) -> bool:
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    return a == b
