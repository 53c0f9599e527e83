"""The commands over runs: ``joyrl run --seeds``, ``joyrl report``, ``joyrl tune`` and ``joyrl test``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from joyrl_core.plugins.registry import Registry


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def run_seeds_command(registry: Registry, config: Path | None, overrides: tuple[str, ...], seeds: str,
                      jobs: int | None, cluster: str | None = None) -> int:
    """``joyrl run CONFIG --seeds ...``: returns the exit status (1 when a seed failed, 130 on Ctrl-C)."""
    from joyrl_core.experiments.seeds import parse_seeds, run_seeds
    from joyrl_core.run.signals import restore_signals, stop_on_signals

    seed_list = parse_seeds(seeds)
    previous = stop_on_signals()
    try:
        experiment = run_seeds(config, overrides, seed_list, jobs, registry=registry, cluster=cluster)
    finally:
        restore_signals(previous)
    click.echo(f"experiment folder: {experiment.root}")
    for outcome in experiment.outcomes:
        if outcome.error is not None:
            click.echo(f"seed {outcome.seed}: FAILED: {outcome.error}")
            continue
        summary = outcome.summary
        best = summary.get("best_eval_reward")
        click.echo(f"seed {outcome.seed}: {Path(outcome.task).name}: {summary['env_steps']} env steps in "
                   f"{summary['wall_time']:.1f} s" + (f", best eval {best:.2f}" if best is not None else ""))
    click.echo(f"next: joyrl report {experiment.root}")
    if experiment.interrupted:
        click.echo("interrupted: the seeds' final checkpoints and results were saved", err=True)
        return 130
    return 1 if experiment.failed else 0


@click.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--threshold", type=float, help="Reward whose first reaching is timed (env steps and wall time).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("report.png"),
              show_default=True, help="Where to write the figure of IQM curves.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def report(folders: tuple[Path, ...], threshold: float | None, output: Path, as_json: bool) -> None:
    """Compare the seeds of one or more experiments (FOLDERS: experiment, study or task folders).

    Per config: each seed's final and best evaluation and, with --threshold, the env steps and training
    time to reach it; aggregated as mean, median and interquartile mean with a bootstrap 95% CI.
    """
    from joyrl_core.experiments.report import METRICS, build_report, plot_report, report_to_dict

    reports = build_report(list(folders), threshold)
    png = plot_report(reports, output, threshold)
    if as_json:
        click.echo(json.dumps({**report_to_dict(reports, threshold), "figure": str(png)}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    headers = {"final": "final eval", "best": "best eval", "steps_to_threshold": "env steps to threshold",
               "time_to_threshold": "train s to threshold"}
    metrics = [m for m in METRICS if threshold is not None or "threshold" not in m]
    for r in reports:
        what = "eval mean reward" if r.curve_source == "evals" else "reward (training episodes' moving average)"
        table = Table("seed", *(headers[m] for m in metrics), title=f"{r.label}: {what}")
        for row in r.rows:
            table.add_row(str(row.seed), *(_fmt(getattr(row, m)) for m in metrics))
        table.add_section()
        for name in ("mean", "median", "iqm"):
            cells = []
            for m in metrics:
                agg = r.aggregates[m]
                cell = "-" if agg is None else _fmt(getattr(agg, name))
                if agg is not None and name == "iqm" and agg.ci_low is not None:
                    cell += f" [{agg.ci_low:.1f}, {agg.ci_high:.1f}]"
                if agg is not None and name == "mean" and "threshold" in m:
                    cell += f" ({agg.n}/{len(r.rows)} reached)"
                cells.append(cell)
            table.add_row(name if name != "iqm" else "IQM [95% CI]", *cells)
        console.print(table)
    click.echo(f"wrote {png}")


@click.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
    help="Override one value of the base config (repeatable); not a searched key.",
)
@click.option("--jobs", type=click.IntRange(min=1), help="Trials at once, each in its own process (tune.jobs).")
@click.option("--study-dir", type=click.Path(file_okay=False, path_type=Path),
              help="The study's folder (default: <task_dir>/Tune_<config name>); a rerun continues it.")
@click.option("--cluster", metavar="ADDRESS", help="Run the trials on a cluster through the plugin that offers it "
              "(a Ray address: auto, host:port, or local for a Ray on this machine).")
def tune(config: Path, overrides: tuple[str, ...], jobs: int | None, study_dir: Path | None,
         cluster: str | None) -> None:
    """Tune hyper-parameters with Optuna as CONFIG's tune: section says (needs joyrl-core[experiments]).

    Writes study.db (rerun to continue), trials/ (a task folder per trial), best.yaml (run it with
    `joyrl run`), history.png and importances.png into the study folder.
    """
    import sys

    from joyrl_core.experiments.tune import plan_tune, run_tune
    from joyrl_core.plugins.registry import load_registry
    from joyrl_core.run.signals import restore_signals, stop_on_signals

    registry = load_registry()
    plan = plan_tune(registry, config, overrides, study_dir, jobs, cluster)
    for note in plan.notes:
        click.echo(note)
    previous = stop_on_signals()
    try:
        result = run_tune(plan, registry=registry)
    finally:
        restore_signals(previous)
    counts: dict[str, int] = {}
    for trial in result.trials:
        counts[trial["state"]] = counts.get(trial["state"], 0) + 1
    click.echo(f"study folder: {result.study_dir}")
    click.echo("trials: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    for trial in result.trials:
        if trial["error"]:
            click.echo(f"trial {trial['number']} failed: {trial['error']}")
    if result.best is not None:
        click.echo(f"best trial {result.best['number']}: objective {result.best['value']:.4g} with {result.best['params']}")
        click.echo(f"wrote {result.study_dir / 'best.yaml'}")
    for note in result.notes:
        click.echo(note)
    if result.interrupted:
        click.echo("interrupted: rerun the same command to continue the study", err=True)
        sys.exit(130)


@click.command("test")
@click.argument("task_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--checkpoint", help="best, latest or an update step (default: best where the run kept one, else latest).")
@click.option("--episodes", type=click.IntRange(min=1), default=10, show_default=True, help="Greedy episodes to play.")
@click.option("--gif", is_flag=True, help="Record the episodes (up to 1000 frames) into the new task's videos/video.gif.")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE", help="Override a value of the task's config.")
def test_task(task_dir: Path, checkpoint: str | None, episodes: int, gif: bool, overrides: tuple[str, ...]) -> None:
    """Play greedy episodes with a trained task's checkpoint (RL Zoo's enjoy), as a test-mode run of
    its config.yaml: the rewards go to a new Test_ task folder."""
    import numpy as np

    from joyrl_core.config import resolve_config
    from joyrl_core.plugins.registry import load_registry
    from joyrl_core.run.signals import restore_signals, stop_on_signals
    from joyrl_core.run.start import start_run

    if checkpoint is None:
        checkpoint = "best" if (task_dir / "models" / "best.pt").is_file() else "latest"
    registry = load_registry()
    settings = ["general_cfg.mode=test", f"general_cfg.load_path={task_dir.resolve()}",
                f"general_cfg.load_model={checkpoint}", f"general_cfg.test_episode={episodes}"]
    if gif:
        settings.append("env_cfg.render_mode=rgb_array")
    config = resolve_config(registry, task_dir / "config.yaml", [*settings, *overrides])
    previous = stop_on_signals()
    try:
        summary, task = start_run(config, registry)
    finally:
        restore_signals(previous)
    click.echo(f"task folder: {task.root}")
    if summary.test_rewards:
        click.echo(f"test reward over {len(summary.test_rewards)} episodes ({checkpoint} checkpoint): "
                   f"mean {np.mean(summary.test_rewards):.2f} std {np.std(summary.test_rewards):.2f}")
    if (task.videos / "video.gif").is_file():
        click.echo(f"wrote {task.videos / 'video.gif'}")
