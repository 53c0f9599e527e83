"""``joyrl tune``: an Optuna study over any config keys, each trial a normal run, run by an executor
(local processes, or what a plugin offers through the ``experiment_executor`` hook).

The study lives in ``<study dir>/study.db`` (SQLite), so a rerun of the same command continues it: a
trial cut short by Ctrl-C (or a killed process) is marked failed and its parameters are queued again,
and the study runs until ``n_trials`` trials have finished (completed, pruned, or crashed with an error).
Each trial runs ``resolve_config`` + ``start_run`` on the base config with its parameters set, writing a
task folder under ``<study dir>/trials/``; a logger the tuner installs (``start_run``'s
``extra_loggers``) feeds every online evaluation to the pruner, so any algorithm can be tuned without
its plugin doing anything.
"""

from __future__ import annotations

import copy
import io
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from joyrl_core.config import RunConfig, check_document, read_yaml_file, resolve_config
from joyrl_core.contracts.executor import Executor, Job, JobOutcome
from joyrl_core.contracts.logger import Logger
from joyrl_core.contracts.records import EpisodeRecord
from joyrl_core.errors import ConfigError
from joyrl_core.experiments.executors import choose_executor
from joyrl_core.experiments.extras import require
from joyrl_core.experiments.processes import child_torch_threads
from joyrl_core.experiments.progress import ProgressBoard, ReportingLogger, without_console
from joyrl_core.experiments.results import read_config, read_curve
from joyrl_core.experiments.space import Param, TuneConfig, parse_tune_section
from joyrl_core.outputs.task import atomic_write, atomic_write_text, safe_name
from joyrl_core.plugins.registry import Registry, load_registry

STUDY_NAME = "joyrl"
# Where the base config has no online evaluation, tune turns it on: this many over a trial's env steps.
EVALS_PER_TRIAL = 15


def _optuna():
    optuna = require("optuna", "joyrl tune")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@dataclass
class TunePlan:
    """A checked tune command: the base config document, the study settings and where it lives."""

    document: dict[str, Any]
    label: str
    overrides: list[str]
    tune: TuneConfig
    params: list[Param]
    study_dir: Path
    task_dir: str  # the base config's task_dir and loggers, for best.yaml
    loggers: list[str]
    torch_threads: int
    max_env_steps: int | None
    eval_every_steps: int
    cluster: str | None = None  # --cluster: the address an executor plugin runs the trials on
    notes: list[str] = field(default_factory=list)  # what tune chose for the user, said before it starts

    @property
    def storage(self) -> str:
        return f"sqlite:///{self.study_dir / 'study.db'}"

    def spec(self) -> str:
        """What must not change between reruns of one study (``n_trials`` and ``jobs`` may)."""
        return json.dumps({"document": self.document, "overrides": self.overrides,
                           "space": {p.key: [p.kind, list(p.values)] for p in self.params},
                           "objective": [self.tune.objective, self.tune.last_k, self.tune.direction]},
                          sort_keys=True, default=str)


def with_params(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the config document with each ``section.key`` of ``params`` set."""
    doc = copy.deepcopy(dict(document))
    for key, value in params.items():
        section, name = key.split(".", 1)
        doc.setdefault(section, {})
        doc[section] = {**(doc[section] or {}), name: value}
    return doc


def plan_tune(registry: Registry, source: str | Path | Mapping[str, Any], overrides: Sequence[str] = (),
              study_dir: str | Path | None = None, jobs: int | None = None, cluster: str | None = None) -> TunePlan:
    """Read and check everything before any trial starts: the tune section, every search key and
    bound against the config's own validation, and what the pruner needs from the runs (online
    evaluations at fixed env steps: turned on, with a note, where the base config has none)."""
    if isinstance(source, Mapping):
        label = "<dict>"
        raw = check_document(source, label, extra_sections=("tune",))
    else:
        label = str(source)
        raw = read_yaml_file(source, extra_sections=("tune",))
    if "tune" not in raw:
        raise ConfigError(f"{label}: no tune section; joyrl tune needs one naming the search space "
                          "(see examples/tune_cartpole_dqn.yaml)")
    tune, params = parse_tune_section(raw.pop("tune"), label)
    if jobs is not None:
        tune.jobs = jobs
    searched = {p.key for p in params}
    for text in overrides:
        target = text.partition("=")[0].strip()
        if target in searched:
            raise ConfigError(f"--set {text}: {target} is searched by tune.space; drop one of the two")
    overrides = list(overrides)
    base = resolve_config(registry, raw, overrides, source=label)
    notes: list[str] = []
    if base.general.mode != "train":
        raise ConfigError(f"{label}: joyrl tune trains its trials: set general_cfg.mode: train")
    if not base.general.online_eval or base.general.eval_every_steps is None:
        if not base.general.max_env_steps:
            raise ConfigError(
                f"{label}: joyrl tune compares trials by online evaluations at the same env steps: set "
                "general_cfg.max_env_steps (tune then evaluates every 1/15 of it), or online_eval: true and "
                "eval_every_steps")
        every = max(1, base.general.max_env_steps // EVALS_PER_TRIAL)
        overrides += ["general_cfg.online_eval=true", f"general_cfg.eval_every_steps={every}"]
        base = resolve_config(registry, raw, overrides, source=label)
        notes.append(f"trials are evaluated online every {every} env steps ({base.general.online_eval_episode} "
                     "episodes; set general_cfg.online_eval and eval_every_steps to choose)")
    general = base.general
    for param in params:
        for value in param.values:
            try:
                resolve_config(registry, with_params(raw, {param.key: value}), overrides, source=label)
            except ConfigError as exc:
                raise ConfigError(f"tune.space.{param.key} = {value!r}: {exc}") from None
    root = Path(study_dir) if study_dir is not None else Path(general.task_dir) / f"Tune_{safe_name(Path(label).stem)}"
    # Absolute: an executor's worker may start in another folder.
    return TunePlan(raw, label, overrides, tune, params, root.resolve(), general.task_dir, list(general.loggers),
                    general.torch_threads, general.max_env_steps, general.eval_every_steps, cluster, notes)


def base_config(plan: TunePlan, registry: Registry) -> RunConfig:
    return resolve_config(registry, plan.document, plan.overrides, source=plan.label)


def pruner_startup_trials(tune: TuneConfig) -> int:
    """``tune.pruner_startup_trials``, or where it is null an eighth of the study (at least 2; RL Zoo's
    5 of its 500 trials is 1%): the median pruner compares each trial with the finished ones, and every
    start-up trial runs its whole budget, so a small study must start comparing early for pruning to
    save much. TPE's own start-up (``startup_trials``) stays apart: fewer random trials there makes
    TPE settle early on a poor region (measured on the CartPole study: 2 found no solver in 16 trials)."""
    if tune.pruner_startup_trials is not None:
        return tune.pruner_startup_trials
    return max(2, tune.n_trials // 8)


def warmup_steps(plan: TunePlan) -> int:
    """``tune.warmup_steps``, or where it is null a tenth of a trial's env steps. RL Zoo waits a third;
    with ``stop_reward`` ending the trials that solve, what pruning can still save is mostly the
    hopeless trials' budget, and those show it from their first evaluations."""
    if plan.tune.warmup_steps is not None:
        return plan.tune.warmup_steps
    return (plan.max_env_steps or 0) // 10


def min_resource(plan: TunePlan) -> int:
    """``tune.min_resource``, or where it is null two evaluations' env steps: the halving pruner's first
    rung. At the first evaluation most DQN trials have barely left their random start; from the second
    the hopeless ones (a greedy policy stuck at ~9 steps) stand apart."""
    if plan.tune.min_resource is not None:
        return plan.tune.min_resource
    return 2 * plan.eval_every_steps


def _sampler(optuna: Any, tune: TuneConfig, slot: int) -> Any:
    # Each trial runs in a fresh process with a fresh sampler: its seed must differ per trial, or every
    # trial would draw the same start-up point.
    seed = tune.seed + slot if tune.seed else None
    if tune.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=tune.startup_trials)


def _pruner(optuna: Any, plan: TunePlan) -> Any:
    tune = plan.tune
    if tune.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=pruner_startup_trials(tune),
                                           n_warmup_steps=warmup_steps(plan))
    if tune.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=min_resource(plan), reduction_factor=3)
    if tune.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=plan.eval_every_steps,
                                              max_resource=plan.max_env_steps or "auto")
    return optuna.pruners.NopPruner()


def _open_study(optuna: Any, plan: TunePlan, slot: int) -> Any:
    return optuna.create_study(
        study_name=STUDY_NAME, storage=plan.storage, load_if_exists=True, direction=plan.tune.direction,
        sampler=_sampler(optuna, plan.tune, slot), pruner=_pruner(optuna, plan),
    )


def objective_value(steps: np.ndarray, rewards: np.ndarray, tune: TuneConfig) -> float | None:
    """The trial's objective from its evaluations so far (``None`` before the first)."""
    if not len(rewards):
        return None
    if tune.objective == "last_evals" or len(rewards) == 1:
        return float(np.mean(rewards[-tune.last_k:]))
    return float(np.trapezoid(rewards, steps) / (steps[-1] - steps[0]))


class PruningLogger(Logger):
    """Reports the objective so far to the trial at every online evaluation; raises
    ``optuna.TrialPruned`` when the pruner says stop (the run ends as on an error, results saved)."""

    def __init__(self, trial: Any, tune: TuneConfig, optuna: Any, task: Path, max_env_steps: int | None = None):
        self.trial, self.tune, self.optuna, self.task = trial, tune, optuna, task
        self.max_env_steps = max_env_steps
        self.env_steps = 0
        self._steps: list[int] = []
        self._rewards: list[float] = []
        self._best: float | None = None

    def log_episode(self, record: EpisodeRecord) -> None:
        if record.mode == "train":
            self.env_steps = record.env_steps

    def log_metrics(self, env_steps: int, metrics: Mapping[str, float]) -> None:
        self.env_steps = max(self.env_steps, env_steps)
        if "eval/mean_reward" not in metrics:
            return
        self._steps.append(env_steps)
        self._rewards.append(metrics["eval/mean_reward"])
        value = objective_value(np.asarray(self._steps, float), np.asarray(self._rewards), self.tune)
        # The pruner is told the best objective so far, not the latest: one greedy evaluation of a
        # learning DQN swings by hundreds, and a trial that once did well is still worth its budget.
        better = max if self.tune.direction == "maximize" else min
        self._best = value if self._best is None else better(self._best, value)
        self.trial.report(self._best, env_steps)
        # At the last evaluation there is nothing left to save: the trial completes with its value.
        last = self.max_env_steps is not None and env_steps >= self.max_env_steps
        if not last and self.trial.should_prune():
            raise self.optuna.TrialPruned(f"pruned at {env_steps} env steps (best objective so far {self._best:.2f})")

    def close(self) -> None:
        self.trial.set_user_attr("env_steps", int(self.env_steps))
        self.trial.set_user_attr("task", str(self.task))


def run_trial(plan: TunePlan, slot: int, threads: int, *, report) -> dict[str, Any]:
    """An executor's job: ask the study for a trial, run it, tell the study how it went."""
    from joyrl_core.run.context import set_torch_threads
    from joyrl_core.run.start import start_run

    optuna = _optuna()
    set_torch_threads(threads)
    study = _open_study(optuna, plan, slot)
    trial = study.ask({p.key: p.distribution(optuna) for p in plan.params})
    report("trial", trial.number, trial.params)
    registry = load_registry()
    config = resolve_config(registry, with_params(plan.document, trial.params),
                            [*plan.overrides, f"general_cfg.task_dir={plan.study_dir / 'trials'}"], source=plan.label)
    loggers: list[PruningLogger] = []

    def pruning_logger(run) -> PruningLogger:
        loggers.append(PruningLogger(trial, plan.tune, optuna, run.task.root, plan.max_env_steps))
        return loggers[0]

    try:
        summary, task = start_run(without_console(config), registry,
                                  extra_loggers=[lambda run: ReportingLogger(report), pruning_logger])
    except optuna.TrialPruned:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return {"number": trial.number, "state": "pruned"}
    except BaseException as exc:
        trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    if summary.interrupted:
        # Ctrl-C: not a result. The same parameters are queued, so a rerun tries them again first.
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(trial.params)
        return {"number": trial.number, "state": "interrupted"}
    curve = read_curve(task.root)
    value = objective_value(curve.env_steps, curve.reward, plan.tune) if curve.source == "evals" else None
    if value is None:
        trial.set_user_attr("error", "the run made no online evaluation (is max_env_steps below eval_every_steps?)")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return {"number": trial.number, "state": "failed"}
    study.tell(trial, value)
    return {"number": trial.number, "state": "complete", "value": value}


def finished_count(optuna: Any, study: Any) -> int:
    """Trials that count towards ``n_trials``: completed, pruned, or failed with an error of their own
    (a trial cut short by Ctrl-C or a killed process is not a result and is tried again)."""
    State = optuna.trial.TrialState
    crashed = set(study.user_attrs.get("crashed", []))
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state in (State.COMPLETE, State.PRUNED)
               or (t.state == State.FAIL and ("error" in t.user_attrs or t.number in crashed)))


@dataclass
class TuneResult:
    study_dir: Path
    trials: list[dict[str, Any]]
    best: dict[str, Any] | None
    interrupted: bool
    notes: list[str]


def run_tune(plan: TunePlan, show_progress: bool = True, registry: Registry | None = None) -> TuneResult:
    """Run the study until ``n_trials`` trials have finished, then write best.yaml and the plots."""
    optuna = _optuna()
    registry = registry or load_registry()
    with choose_executor(registry, base_config(plan, registry), plan.cluster) as executor:
        interrupted = _run_trials(optuna, plan, executor, show_progress)
    return write_outputs(optuna, plan, interrupted)


def _run_trials(optuna: Any, plan: TunePlan, executor: Executor, show_progress: bool) -> bool:
    plan.study_dir.mkdir(parents=True, exist_ok=True)
    study = _open_study(optuna, plan, 0)
    spec = study.user_attrs.get("spec")
    if spec is None:
        study.set_user_attr("spec", plan.spec())
    elif spec != plan.spec():
        raise ConfigError(f"{plan.study_dir}: this study was made from a different config or tune section; "
                          "give another --study-dir, or delete the folder to start over")
    State = optuna.trial.TrialState
    for stale in study.get_trials(deepcopy=False, states=(State.RUNNING,)):
        # Left running by a process that was killed: not a result; queue its parameters again.
        study.tell(stale.number, state=State.FAIL)
        study.enqueue_trial(stale.params)
    remaining = max(0, plan.tune.n_trials - finished_count(optuna, study))
    parallel = max(1, min(executor.parallel(plan.tune.jobs), remaining or 1))
    threads = child_torch_threads(plan.torch_threads, parallel, executor.cores())
    first_slot = len(study.trials)
    jobs = [Job(first_slot + i, run_trial, (plan, first_slot + i, threads)) for i in range(remaining)]
    numbers: dict[int, int] = {}
    board = ProgressBoard(plan.max_env_steps, "env steps") if show_progress else None

    def on_event(slot: int, event: tuple[Any, ...]) -> None:
        if event[0] == "trial":
            numbers[slot] = event[1]
            if board is not None:
                board.add(slot, f"trial {event[1]}")
        elif board is not None and slot in numbers:
            board.update(slot, event)

    def on_outcome(outcome: JobOutcome) -> None:
        number = numbers.get(outcome.key)
        if outcome.error is not None and number is not None:
            trial = study.get_trials(deepcopy=False)[number]
            if trial.state == State.RUNNING:
                # The child could not tell the study: Ctrl-C before or after its run (try the same
                # parameters again), or its process died (a crash: counted, not retried).
                study.tell(number, state=State.FAIL)
                if outcome.interrupted:
                    study.enqueue_trial(trial.params)
                else:
                    study.set_user_attr("crashed", [*study.user_attrs.get("crashed", []), number])
        if board is not None and number is not None:
            status = outcome.error or outcome.result["state"]
            board.finish(outcome.key, status if outcome.error is None else f"failed: {status}")

    if board is None:
        _, interrupted = executor.run(jobs, parallel, on_event, on_outcome)
    else:
        with board:
            _, interrupted = executor.run(jobs, parallel, on_event, on_outcome)
    return interrupted


def _trial_row(trial: Any) -> dict[str, Any]:
    return {"number": trial.number, "state": trial.state.name.lower(), "value": trial.value,
            "params": trial.params, "env_steps": trial.user_attrs.get("env_steps"),
            "task": trial.user_attrs.get("task"), "error": trial.user_attrs.get("error")}


def _save_axes(ax: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
    fig.set_size_inches(8, 5)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    atomic_write(path, lambda fh: fh.write(buf.getvalue()))


def write_outputs(optuna: Any, plan: TunePlan, interrupted: bool) -> TuneResult:
    """best.yaml (the best trial's complete config, with the base config's task_dir and loggers),
    history.png and importances.png (Optuna's matplotlib visualizations), and study.json."""
    study = optuna.load_study(study_name=STUDY_NAME, storage=plan.storage)
    trials = [_trial_row(t) for t in study.get_trials(deepcopy=False)]
    notes: list[str] = []
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    best = None
    if complete:
        best_trial = study.best_trial
        best = _trial_row(best_trial)
        config = read_config(Path(best_trial.user_attrs["task"]))
        # The trials wrote into the study folder without the console logger; a run of best.yaml is a
        # normal run of the base config.
        config["general_cfg"].update(task_dir=plan.task_dir, loggers=plan.loggers)
        header = (f"# best trial {best_trial.number} of {plan.study_dir}: objective {best_trial.value:.4g} "
                  f"({plan.tune.objective}); run it with `joyrl run best.yaml`\n")
        atomic_write_text(plan.study_dir / "best.yaml", header + yaml.safe_dump(config, sort_keys=False))
    else:
        notes.append("no trial completed yet: no best.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        import matplotlib

        matplotlib.use("Agg", force=False)
        from optuna.visualization import matplotlib as optuna_plots

        if complete:
            _save_axes(optuna_plots.plot_optimization_history(study), plan.study_dir / "history.png")
            try:
                _save_axes(optuna_plots.plot_param_importances(study), plan.study_dir / "importances.png")
            except (ValueError, RuntimeError) as exc:
                notes.append(f"no importances.png: {exc}")
    document = {"study_dir": str(plan.study_dir), "n_trials": plan.tune.n_trials, "objective": plan.tune.objective,
                "direction": plan.tune.direction, "best": best, "trials": trials,
                "tune": asdict(plan.tune)}
    atomic_write_text(plan.study_dir / "study.json", json.dumps(document, indent=2, default=str) + "\n")
    return TuneResult(plan.study_dir, trials, best, interrupted, notes)

