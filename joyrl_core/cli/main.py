"""The ``joyrl`` command line."""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path

import click
import yaml

from joyrl_core.contracts.hookspecs import COMPONENT_KINDS
from joyrl_core.errors import JoyRLError
from joyrl_core.run.signals import restore_signals, stop_on_signals

KIND_CHOICES = tuple(kind.name for kind in COMPONENT_KINDS)
_SECTION_OF = {kind.name: kind.section for kind in COMPONENT_KINDS}


class _JoyRLGroup(click.Group):
    """Turns JoyRL errors into one ``Error: ...`` line and a non-zero exit (tracebacks with --debug)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except JoyRLError as exc:
            if ctx.params.get("debug"):
                raise
            raise click.ClickException(str(exc)) from None
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            raise click.ClickException(
                f"internal error: {type(exc).__name__}: {exc} (run `joyrl --debug ...` for the traceback)"
            ) from None


@click.group(cls=_JoyRLGroup)
@click.version_option(package_name="joyrl-core", prog_name="joyrl")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def main(debug: bool) -> None:
    """JoyRL: deep reinforcement learning from one YAML file, with plugins."""


class _NoAliasDumper(yaml.SafeDumper):
    """Shows a default that repeats one object (``[layer] * 2``) in full rather than as YAML anchors."""

    def ignore_aliases(self, data):
        return True


def _load_registry():
    """The installed plugins' registry; with ``--debug``, pluggy traces each hook call to stderr."""
    from joyrl_core.plugins.registry import load_registry


    debug = click.get_current_context().find_root().params.get("debug")
    return load_registry(trace=(lambda line: click.echo(line, err=True, nl=False)) if debug else None)


@main.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
    help="Override one config value (repeatable), e.g. --set algo_cfg.lr=0.001. Values are YAML.",
)
@click.option("--seeds", metavar="SEEDS", help="Run one task per seed (1-5, 1,4,9) under one experiment folder.")
@click.option("--jobs", type=click.IntRange(min=1), help="With --seeds: runs at once (default: the free cores).")
@click.option("--cluster", metavar="ADDRESS", help="With --seeds: run them on a cluster through the plugin that "
              "offers it (a Ray address: auto, host:port, or local for a Ray on this machine).")
def run(config: Path | None, overrides: tuple[str, ...], seeds: str | None, jobs: int | None,
        cluster: str | None) -> None:
    """Train or test as CONFIG (a YAML file) says; without CONFIG, the defaults (DQN on CartPole-v1).

    Each run writes a task folder under general_cfg.task_dir holding the resolved config.yaml,
    models/, results/ and logs/.
    """
    from joyrl_core.config import resolve_config
    from joyrl_core.run.start import counters_line, start_run

    registry = _load_registry()
    if seeds is not None:
        from joyrl_core.cli.experiments import run_seeds_command

        sys.exit(run_seeds_command(registry, config, overrides, seeds, jobs, cluster))
    if jobs is not None or cluster is not None:
        raise click.UsageError(f"{'--jobs' if jobs is not None else '--cluster'} goes with --seeds")
    cfg = resolve_config(registry, config, overrides)
    previous = stop_on_signals()
    try:
        summary, task = start_run(cfg, registry)
    finally:
        restore_signals(previous)
    lines = [f"task folder: {task.root}", counters_line(summary, cfg.general.mode)]
    if summary.test_rewards:
        import numpy as np

        lines.append(f"test reward: mean {np.mean(summary.test_rewards):.2f} std {np.std(summary.test_rewards):.2f}")
    elif summary.last_rewards:
        tail = summary.last_rewards[-10:]
        lines.append(f"mean reward of the last {len(tail)} episodes: {sum(tail) / len(tail):.2f}")
    lines.append(summary.verdict)
    for line in lines:
        click.echo(line)
    if summary.interrupted:
        click.echo("interrupted: the final checkpoint and results were saved", err=True)
        sys.exit(130)


@main.command("list-plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--kind", type=click.Choice(KIND_CHOICES), help="Only components of this kind.")
def list_plugins(as_json: bool, kind: str | None) -> None:
    """Every algorithm, buffer, env, backend, logger and env wrapper the installed plugins provide."""

    registry = _load_registry()
    components = sorted(
        (c for c in registry.all() if kind is None or c.kind == kind), key=lambda c: (KIND_CHOICES.index(c.kind), c.name)
    )
    if as_json:
        click.echo(json.dumps({
            "components": [
                {"kind": c.kind, "name": c.name, "distribution": c.distribution, "version": c.version,
                 "summary": c.summary} for c in components
            ],
            "broken": [{"plugin": b.name, "distribution": b.distribution, "error": b.error} for b in registry.broken],
        }, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("kind", "name", "provided by", "summary")
    for c in components:
        table.add_row(c.kind, c.name, f"{c.distribution} {c.version}".strip(), c.summary)
    console = Console()
    console.print(table)
    for b in registry.broken:
        console.print(f"[red]plugin {b.name!r} ({b.distribution}) failed to load:[/] {b.error}", markup=True)


@main.command()
@click.argument("task_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("rewards_compare.png"),
              show_default=True, help="Where to write the figure.")
@click.option("--show", is_flag=True, help="Also open the figure in a window.")
def plot(task_dirs: tuple[Path, ...], output: Path, show: bool) -> None:
    """Draw the reward curves of several finished runs (TASK_DIRS) on one figure.

    Seeds of one config (the same config.yaml but for seed and task folder, so never test runs with
    training runs) are one curve, their mean, with its min-max band; other runs a line each.
    """
    from joyrl_core.outputs.plots import group_runs, plot_runs, show_figure

    png = plot_runs(list(task_dirs), output)
    for group in group_runs(list(task_dirs)):
        if len(group.task_dirs) > 1:
            names = ", ".join(task_dir.name for task_dir in group.task_dirs)
            click.echo(f"one curve (mean and min-max) for {group.describe()}: {names}")
    click.echo(f"wrote {png}")
    if show:
        show_figure(png)


@main.command()
@click.argument("name")
@click.option("--kind", type=click.Choice(KIND_CHOICES), help="The kind, where NAME exists in several kinds.")
def info(name: str, kind: str | None) -> None:
    """Show a component's config keys with their types, defaults and help (e.g. `joyrl info DQN`);
    `joyrl info general_cfg` the core's keys, `joyrl info layers` the layer-list vocabulary."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from joyrl_core.config import EnvWrapConfig, GeneralConfig, VectorConfig, describe_options
    from joyrl_core.errors import ComponentNotFoundError

    registry = _load_registry()
    if name in ("general_cfg", "general"):
        found = []
        sections = [("general_cfg", GeneralConfig)]
        title = "general_cfg: the core's own keys"
    elif name == "layers":
        from joyrl_core.networks.layers import LayerConfig

        found = []
        sections = [("one entry of a layer list", LayerConfig)]
        title = ("layer lists: every network key typed 'a layer list' (DQN's value_layers, PPO's actor_layers, "
                 "...) is a list of these entries, applied in order, e.g. "
                 "[{layer_type: linear, layer_dim: [64], activation: tanh}, ...]")
    else:
        kinds = [kind] if kind else list(KIND_CHOICES)
        found = [registry.components[k][name] for k in kinds if name in registry.components[k]]
        if not found:
            from joyrl_core.components.wrappers import describe_gymnasium_wrapper, gymnasium_wrapper_names

            if kind in (None, "wrapper") and name in gymnasium_wrapper_names():
                click.echo(describe_gymnasium_wrapper(name))
                return
            if kind:
                registry.get(kind, name)  # raises with the installed names and an install hint
            names = sorted({c.name for c in registry.all()})
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ComponentNotFoundError(f"no component named {name!r} is installed{hint} (installed: {', '.join(names)})")
        component = found[0]
        section = _SECTION_OF[component.kind]
        sections = [(section, component.config_type)] if component.config_type else []
        if component.kind == "env":
            sections.append(("env_cfg (core keys, every env)", VectorConfig))
            sections.append(("env_cfg (core keys, every env): wrappers and normalization", EnvWrapConfig))
        title = (f"{component.kind} {component.name} from {component.distribution} {component.version}: "
                 f"{component.summary}")
    console = Console()
    console.print(title)
    if len(found) > 1:
        console.print(f"(also a {', '.join(c.kind for c in found[1:])} of this name: use --kind)")
    if not sections:
        console.print("no options")
    for section, cls in sections:
        table = _options_table(section)
        for row in describe_options(cls):
            default = yaml.dump(row.default, Dumper=_NoAliasDumper, default_flow_style=True, width=1 << 30).strip()
            default = default.removesuffix("...").strip()
            table.add_row(*(escape(text) for text in (row.key, row.type, default, row.help)))
        console.print(table)


def _options_table(title: str):
    """The table of ``joyrl info``: readable in 80 columns, the meaning given most of the width; a long
    word (a formula, a nested default) is folded, never cut with an ellipsis."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True)
    table.add_column("key", no_wrap=True, style="bold")
    table.add_column("type", ratio=2, overflow="fold")
    table.add_column("default", ratio=2, overflow="fold")
    table.add_column("meaning", ratio=5, overflow="fold")
    return table


@main.command("new-plugin")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice([kind.short for kind in COMPONENT_KINDS]),
              help="What the plugin provides.")
@click.option("--dir", "dest", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder to create the package in.")
def new_plugin(name: str, kind: str, dest: Path) -> None:
    """Write a ready plugin package joyrl-NAME: pyproject with the entry point, a working component,
    a test that loads it through its entry point, and a README."""
    from joyrl_core.cli.scaffold import create_plugin

    target = create_plugin(name, kind, dest)
    click.echo(f"wrote {target}")
    click.echo(f"next: pip install -e {target} && joyrl list-plugins && pytest {target / 'tests'}")


@main.command("export-minari")
@click.argument("task_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("dataset_id")
@click.option("--author", help="The dataset's author, stored in its metadata.")
@click.option("--description", help="One line stored in the dataset's metadata.")
def export_minari_command(task_dir: Path, dataset_id: str, author: str | None, description: str | None) -> None:
    """Write TASK_DIR's trajectories (a run with collect_traj: true) as the Minari dataset DATASET_ID,
    e.g. joyrl/cartpole/dqn-expert-v0, for offline-RL libraries (needs the minari extra)."""
    from joyrl_core.outputs.minari_export import export_minari

    dataset = export_minari(task_dir, dataset_id, _load_registry(), author=author, description=description)
    click.echo(f"wrote Minari dataset {dataset_id}: {dataset.total_episodes} episodes, {dataset.total_steps} steps")


from joyrl_core.cli.experiments import report, test_task, tune  # noqa: E402 (they need only ``main``)

main.add_command(report)
main.add_command(tune)
main.add_command(test_task)
