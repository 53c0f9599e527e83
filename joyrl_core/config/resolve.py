"""Typed configuration: defaults in dataclasses, YAML over them, ``--set`` over YAML.

A run's config has three sections. ``general_cfg`` is :class:`GeneralConfig`; ``algo_cfg`` and
``env_cfg`` are the ``config_type`` dataclasses of the algorithm and env plugins the run selects (and a
buffer's own options sit in ``algo_cfg`` beside the algorithm's). Each section's values are checked
by pydantic against the dataclass's type hints and bounds (:mod:`joyrl_core.config.validate`); a mistake
is a :class:`ConfigError` naming the file or the ``--set``, the key, the value given and what is allowed.

YAML ``null`` for a key whose type does not admit ``None`` means "keep the default": the product's own
example YAML writes ``save_best_model:`` with no value.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml

from joyrl_core.config.validate import accepts_extra_keys, describe_type, validate_section
from joyrl_core.config.yaml_source import SECTIONS, check_document, parse_override, read_yaml_file
from joyrl_core.errors import ComponentNotFoundError, ConfigError, PluginError
from joyrl_core.plugins.registry import default_algorithm, default_algorithm_declarations


def option(default: Any, help: str, *, minimum: float | None = None, maximum: float | None = None) -> Any:
    """A config field with a default, a help text (shown by the docs and ``joyrl info``) and bounds."""
    # ``ge``/``le`` are the names pydantic reads from a dataclass field's metadata.
    metadata: dict[str, Any] = {"help": help}
    if minimum is not None:
        metadata["ge"] = minimum
    if maximum is not None:
        metadata["le"] = maximum
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class GeneralConfig:
    """``general_cfg``: what to run, where, for how long, and what to keep."""

    algo_name: str = field(
        default_factory=default_algorithm,
        metadata={"help": "algorithm to run (see `joyrl list-plugins`); default: the one an installed plugin declares"},
    )
    env_name: str = option("gym", "env plugin that builds the env; `gym` takes any gymnasium id")
    device: str = option("cpu", "torch device: cpu, cuda, cuda:N, or auto (cuda when available)")
    mode: Literal["train", "test"] = option("train", "train a model, or test a saved one")
    collect_traj: bool = option(False, "write trajectories to results/trajs_<n>.npz")
    mp_backend: str = option("single", "execution backend: single (in-process) or a plugin such as ray")
    n_workers: int = option(1, "number of parallel workers (backends that support it)", minimum=1)
    load_checkpoint: bool = option(False, "start from a saved checkpoint (train: resume; test: required)")
    load_path: str | None = option(
        None, "task folder (under task_dir) or path holding the checkpoint; null in a task's own config.yaml: "
              "that task; dropped where unused (train without load_checkpoint)"
    )
    load_model: str | int = option("latest", "which checkpoint of load_path: latest, best, or an update step")
    max_episode: int = option(100, "episodes to train; -1 runs until stopped (Ctrl-C)", minimum=-1)
    max_env_steps: int | None = option(None, "stop training after this many env steps in all; null = no limit", minimum=1)
    max_update_steps: int | None = option(
        None, "stop training after this many update (gradient) steps in all; offline algorithms need it; "
              "null = no limit", minimum=1
    )
    max_step: int | None = option(
        None, "max env steps per episode (truncated there); null = the env's own time limit only", minimum=1
    )
    seed: int = option(
        0, "random seed for python, numpy, torch and envs; 0 = unseeded", minimum=0, maximum=2**32 - 1
    )
    online_eval: bool = option(False, "evaluate greedily at every save point and keep the best model")
    online_eval_episode: int = option(10, "episodes per online evaluation", minimum=1)
    stop_reward: float | None = option(
        None, "with online_eval, stop training once an evaluation's mean reward reaches this; null = never"
    )
    eval_every_steps: int | None = option(
        None, "with online_eval, evaluate every this many env steps instead of at each save point", minimum=1
    )
    test_episode: int | None = option(None, "episodes in test mode; null = online_eval_episode", minimum=1)
    model_save_fre: int = option(500, "save a checkpoint every this many update steps", minimum=1)
    keep_checkpoints: int = option(
        5, "numbered checkpoints kept in models/, the newest (best.pt is kept apart); 0 = keep all", minimum=0
    )
    save_best_model: bool = option(True, "with online_eval, keep the best-scoring model as models/best")
    save_fig: bool = option(True, "write results/rewards.png at the end of the run")
    show_fig: bool = option(False, "open the reward figure at the end of the run")
    check_env_values: bool = option(
        True, "stop the run when the env returns a NaN or infinite observation or reward (false: a little faster)"
    )
    torch_threads: int = option(1, "torch CPU threads; 1 is fastest for small networks; 0 = torch's default", minimum=0)
    keep_freed_memory: bool = option(
        True, "speed: glibc's malloc keeps freed memory for reuse instead of handing it back to the system, so "
        "tensors of megabytes made every gradient step do not page-fault in again (a Nature-CNN DQN step: ~10% "
        "less time; the process keeps up to 256 MiB it freed); no effect off glibc/Linux")
    loggers: list[str] = option(["console", "csv"], "active loggers (see `joyrl list-plugins`)")
    task_dir: str = option("tasks", "folder that receives one task folder per run")

    def __post_init__(self) -> None:
        if not self.task_dir.strip():
            raise ValueError("task_dir: must name a folder; use . for the current folder")
        if self.max_episode == 0:
            raise ValueError("max_episode: must be a positive number of episodes, or -1 to run until stopped")
        valid_device = self.device in ("cpu", "cuda", "auto") or (
            self.device.startswith("cuda:") and self.device[5:].isdigit()
        )
        if not valid_device:
            raise ValueError(f"device: expected cpu, cuda, cuda:N or auto, got {self.device!r}")
        duplicates = sorted({name for name in self.loggers if self.loggers.count(name) > 1})
        if duplicates:
            raise ValueError(f"loggers: lists {', '.join(duplicates)} more than once")
        if (self.load_checkpoint or self.mode == "test") and not self.load_path:
            raise ValueError(
                "load_path: test mode and load_checkpoint need the task folder (or checkpoint file) to load, "
                "e.g. --set general_cfg.load_path=Train_CartPole-v1_DQN_20260101-120000"
            )
        self.load_model = str(self.load_model)  # an update step may come as a YAML number
        if self.load_model not in ("latest", "best") and not self.load_model.isdigit():
            raise ValueError(f"load_model: expected latest, best or an update step, got {self.load_model!r}")


@dataclass
class VectorConfig:
    """``env_cfg`` keys the core owns for every env plugin: vectorized collection while training."""

    n_envs: int = option(1, "env copies stepped together while training (gymnasium vector API)", minimum=1)
    vector_mode: Literal["sync", "async"] = option("sync", "sync: copies step in this process; async: one subprocess each")


@dataclass
class EnvWrapConfig:
    """``env_cfg`` keys the core owns for every env plugin: wrappers and normalization (SB3's VecNormalize)."""

    wrappers: list[dict[str, Any]] = option(
        [], "wrappers applied in order, each {name: ..., <option>: ...}: a class gymnasium.wrappers exports "
            "(e.g. {name: ClipReward, min_reward: -1, max_reward: 1}) or a wrapper a plugin registers"
    )
    normalize_obs: bool = option(False, "normalize observations by their running mean and std (saved in checkpoints, "
                                        "frozen for evaluation and test)")
    normalize_reward: bool = option(False, "scale rewards by the running std of the discounted return (learning only: "
                                           "results keep the env's own rewards)")
    clip_obs: float | None = option(10.0, "with normalize_obs, clip normalized observations to [-clip_obs, clip_obs]; "
                                          "null = no clip", minimum=0)
    clip_reward: float | None = option(10.0, "with normalize_reward, clip scaled rewards to [-clip_reward, "
                                             "clip_reward]; null = no clip", minimum=0)
    normalize_gamma: float | None = option(None, "discount of the return whose std scales rewards; null = "
                                                 "algo_cfg.gamma where the algorithm has one, else 0.99",
                                           minimum=0, maximum=1)


@dataclass
class RunConfig:
    """A resolved config: the three sections as typed objects, plus where they came from.

    ``buffer`` holds the buffer's own options (from ``algo_cfg``), ``vector`` and ``env_wrap`` the core's env keys,
    ``backend`` and ``loggers`` (by name) the options of those components (from ``general_cfg``); each
    is ``None`` for a component that declares no options.
    """

    general: GeneralConfig
    algo: Any
    env: Any
    buffer: Any = None
    vector: VectorConfig = field(default_factory=VectorConfig)
    env_wrap: EnvWrapConfig = field(default_factory=EnvWrapConfig)
    backend: Any = None
    loggers: dict[str, Any] = field(default_factory=dict)
    source: str = "defaults"


class _Sources:
    """Tells, for an error message, where a key's value came from."""

    def __init__(self, yaml_path: str | None, overridden: set[tuple[str, str]]):
        self.yaml_path = yaml_path
        self.overridden = overridden

    def of(self, section: str, key: str) -> str:
        if (section, key) in self.overridden:
            return f"--set {section}.{key}"
        return self.yaml_path or "defaults"


@dataclass(frozen=True)
class OptionInfo:
    """One documented config key, as ``joyrl info`` and the docs show it."""

    key: str
    type: str
    default: Any
    help: str


def describe_options(cls: type) -> list[OptionInfo]:
    """The keys of config dataclass ``cls`` with their types, defaults and help texts."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if f.name == "extra" and accepts_extra_keys(cls):
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        rows.append(OptionInfo(f.name, describe_type(hints[f.name]), default, f.metadata.get("help", "")))
    return rows


def build_section(cls: type, raw: Mapping[str, Any], section: str, sources: _Sources | str | None = None) -> Any:
    """Build the config dataclass ``cls`` from the mapping ``raw`` of YAML section ``section``.

    ``sources`` tells errors where the values came from: a file name, or the layered sources.
    """
    if not isinstance(sources, _Sources):
        sources = _Sources(sources, set())
    return validate_section(cls, raw, section, lambda key: sources.of(section, key))


def resolve_config(
    registry: Any, yaml_path: str | Path | Mapping[str, Any] | None = None, overrides: Sequence[str] = (),
    *, source: str | None = None,
) -> RunConfig:
    """Layer Python defaults < YAML file < ``--set`` overrides and validate the result.

    ``yaml_path`` is a YAML file, or a config document already in memory (a mapping of the sections,
    as a notebook or ``joyrl tune`` builds it; errors then name ``source``, else ``<dict>``).

    Each section is validated against the ``config_type`` of the components the layered config
    selects: the algorithm's in ``algo_cfg`` (with the buffer's options beside it), the env's in
    ``env_cfg`` (with the core's vector options), and in ``general_cfg`` the core's own keys plus the
    options of the selected backend and loggers.
    """
    if isinstance(yaml_path, Mapping):
        label = source or "<dict>"
        raw = check_document(yaml_path, label)
    else:
        raw = read_yaml_file(yaml_path) if yaml_path is not None else {}
        label = str(yaml_path) if yaml_path is not None else None
    raw = {section: dict(raw.get(section) or {}) for section in SECTIONS}
    overridden: set[tuple[str, str]] = set()
    for text in overrides:
        section, key, value = parse_override(text)
        raw[section][key] = value
        overridden.add((section, key))
    sources = _Sources(label, overridden)

    general_raw = raw["general_cfg"]
    backend_name = _selected(general_raw, "mp_backend", GeneralConfig)
    logger_names = _selected(general_raw, "loggers", GeneralConfig)
    def lookup(kind: str, name: str, section: str, key: str) -> Any:
        try:
            return registry.get(kind, name)
        except ComponentNotFoundError as exc:
            raise ComponentNotFoundError(f"{sources.of(section, key)}: {section}.{key}: {exc}") from None

    extensions: dict[str, Any] = {}
    if isinstance(backend_name, str):
        extensions[f"backend {backend_name}"] = lookup("backend", backend_name, "general_cfg", "mp_backend")
    if isinstance(logger_names, list):
        for name in logger_names:
            if isinstance(name, str):
                extensions[f"logger {name}"] = lookup("logger", name, "general_cfg", "loggers")
    extension_cfgs = {
        label: _split_section(component, general_raw, GeneralConfig, "general_cfg", sources)
        for label, component in extensions.items()
    }
    if label is not None and not isinstance(yaml_path, Mapping):
        _load_from_own_task(general_raw, Path(yaml_path))
    general = build_section(GeneralConfig, general_raw, "general_cfg", sources)
    if general.mode == "train" and not general.load_checkpoint:
        # Unused, so not kept: a task's config.yaml points at folders that exist or at none.
        general.load_path = None
    if not general.algo_name:
        raise ComponentNotFoundError(_no_algorithm_message(registry, sources))
    algo_component = lookup("algorithm", general.algo_name, "general_cfg", "algo_name")
    env_component = lookup("env", general.env_name, "general_cfg", "env_name")

    algo_raw = raw["algo_cfg"]
    buffer_cfg = None
    buffer_component = None
    buffer_type = _selected(algo_raw, "buffer_type", algo_component.config_type)
    if isinstance(buffer_type, str):
        buffer_component = lookup("buffer", buffer_type, "algo_cfg", "buffer_type")
        buffer_cfg = _split_section(buffer_component, algo_raw, algo_component.config_type, "algo_cfg", sources)
    algo = _build_plugin_section(algo_component, algo_raw, "algo_cfg", sources)
    env_raw = raw["env_cfg"]
    vector = _take_section(VectorConfig, env_raw, "env_cfg", sources)
    env_wrap = _take_section(EnvWrapConfig, env_raw, "env_cfg", sources)
    _check_env_wrap(registry, env_wrap, general, vector, sources)
    env = _build_plugin_section(env_component, env_raw, "env_cfg", sources)
    config = RunConfig(
        general=general, algo=algo, env=env, buffer=buffer_cfg, vector=vector, env_wrap=env_wrap,
        backend=extension_cfgs.get(f"backend {general.mp_backend}"),
        loggers={name: extension_cfgs.get(f"logger {name}") for name in general.loggers},
        source=sources.yaml_path or "defaults",
    )
    _check_buffer_needs(registry, algo_component, buffer_component, config, sources)
    return config


def _load_from_own_task(general_raw: dict[str, Any], yaml_path: Path) -> None:
    """A task folder's config.yaml run in test mode (or with ``load_checkpoint``) and no ``load_path``
    loads that task's checkpoint: ``joyrl run <task>/config.yaml --set general_cfg.mode=test``."""
    wants_checkpoint = general_raw.get("mode") == "test" or general_raw.get("load_checkpoint") is True
    if wants_checkpoint and general_raw.get("load_path") is None and (yaml_path.parent / "models").is_dir():
        general_raw["load_path"] = str(yaml_path.parent)


def _check_env_wrap(registry: Any, env_wrap: EnvWrapConfig, general: GeneralConfig, vector: VectorConfig,
                    sources: _Sources) -> None:
    """Resolve the wrapper names and options now, and refuse normalization where the running statistics
    would not be one set: in other processes (a backend's workers, async sub-envs) each keeps its own."""
    from joyrl_core.components.wrappers import resolve_wrappers

    resolve_wrappers(env_wrap.wrappers, registry, sources.of("env_cfg", "wrappers"))
    switch = next((key for key in ("normalize_obs", "normalize_reward") if getattr(env_wrap, key)), None)
    if switch is None:
        return
    if general.mp_backend != "single":
        raise ConfigError(f"{sources.of('env_cfg', switch)}: env_cfg.{switch} needs mp_backend single (got "
                          f"{general.mp_backend!r}: its workers would keep separate running statistics)")
    if vector.n_envs > 1 and vector.vector_mode == "async":
        raise ConfigError(f"{sources.of('env_cfg', switch)}: env_cfg.{switch} needs vector_mode sync with n_envs > 1 "
                          "(async sub-envs run in subprocesses and would keep separate running statistics)")


def _check_buffer_needs(registry: Any, algo_component: Any, buffer_component: Any, config: RunConfig,
                        sources: _Sources) -> None:
    """Refuse a buffer that lacks what the algorithm needs for this config and run shape (one line)."""
    if algo_component.buffer_needs is None:
        return
    from joyrl_core.contracts.run_shape import RunShape

    try:
        needs = algo_component.buffer_needs(config.algo, RunShape.of(config))
    except ValueError as exc:
        key = str(exc).split(":")[0].split(".")[0]
        raise ConfigError(f"{sources.of('algo_cfg', key)}: algo_cfg.{exc}") from None
    needed = needs.names()
    if not needed:
        return
    algo = f"{algo_component.kind} {algo_component.name!r} ({algo_component.distribution})"
    fitting = [name for name in registry.names("buffer") if not registry.get("buffer", name).capabilities.missing(needs)]
    hint = f"; installed buffers that do: {', '.join(fitting)}" if fitting else ""
    where = sources.of("algo_cfg", "buffer_type")
    if buffer_component is None:
        raise ConfigError(f"{where}: algo_cfg.buffer_type: {algo} needs a buffer with {', '.join(needed)}, "
                          f"but buffer_type is null{hint}")
    missing = buffer_component.capabilities.missing(needs)
    if missing:
        offers = ", ".join(buffer_component.capabilities.names()) or "nothing declared"
        raise ConfigError(
            f"{where}: algo_cfg.buffer_type: {algo} needs a buffer with {', '.join(missing)}, but buffer "
            f"{buffer_component.name!r} ({buffer_component.distribution}) offers {offers}{hint}"
        )


def _no_algorithm_message(registry: Any, sources: _Sources) -> str:
    declared = default_algorithm_declarations()
    where = f"{sources.of('general_cfg', 'algo_name')}: general_cfg.algo_name"
    installed = ", ".join(registry.names("algorithm")) or "none"
    if len(set(declared.values())) > 1:
        offers = ", ".join(f"{name} ({dist})" for dist, name in sorted(declared.items()))
        return f"{where} is not set and the installed plugins declare different defaults: {offers}; set it"
    return (
        f"{where} is not set and no installed plugin declares a default algorithm (installed: {installed}); "
        "install an algorithm plugin (the README's 'Plugins in this repository' lists them), "
        "or set it, e.g. --set general_cfg.algo_name=RANDOM"
    )


def _selected(raw: Mapping[str, Any], key: str, cls: type | None) -> Any:
    """The value ``key`` will have: the raw one, else the default (type checks come later)."""
    return raw[key] if key in raw else _default_of(cls, key)


def _split_section(component: Any, raw: dict[str, Any], host: type | None, section: str, sources: _Sources) -> Any:
    """Take ``component``'s own options out of the ``raw`` section it shares with ``host``'s keys."""
    if component.config_type is None:
        return None
    keys = {f.name for f in dataclasses.fields(component.config_type)}
    clash = keys & {f.name for f in dataclasses.fields(host)} if host is not None else set()
    if clash:
        raise PluginError(
            f"{component.kind} {component.name!r} ({component.distribution}) declares {section} options that "
            f"already exist there: {', '.join(sorted(clash))}; its author must rename them"
        )
    return _take_section(component.config_type, raw, section, sources)


def _take_section(cls: type, raw: dict[str, Any], section: str, sources: _Sources) -> Any:
    """Build ``cls`` from the keys of ``raw`` that are its fields, removing them from ``raw``."""
    keys = {f.name for f in dataclasses.fields(cls)}
    return build_section(cls, {k: raw.pop(k) for k in list(raw) if k in keys}, section, sources)


def _default_of(cls: type | None, name: str) -> Any:
    if cls is None:
        return None
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            return f.default_factory() if f.default_factory is not dataclasses.MISSING else None
    return None


def _build_plugin_section(component: Any, raw: dict[str, Any], section: str, sources: _Sources) -> Any:
    if component.config_type is None:
        if raw:
            raise ConfigError(
                f"{sources.of(section, next(iter(raw)))}: {component.kind} {component.name!r} takes no "
                f"{section} options, got: {', '.join(raw)}"
            )
        return None
    return build_section(component.config_type, raw, section, sources)


def section_to_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass as plain YAML-ready data; extra keys are flattened back beside the fields."""
    if cfg is None:
        return {}
    data = dataclasses.asdict(cfg)
    if accepts_extra_keys(type(cfg)):
        data.update(data.pop("extra", {}))
    return data


def config_to_dict(cfg: RunConfig) -> dict[str, dict[str, Any]]:
    """The resolved config as the YAML document ``joyrl run`` accepts back."""
    algo = section_to_dict(cfg.algo)
    algo.update(section_to_dict(cfg.buffer))
    env = section_to_dict(cfg.env)
    env.update(section_to_dict(cfg.vector))
    env.update(section_to_dict(cfg.env_wrap))
    general = section_to_dict(cfg.general)
    general.update(section_to_dict(cfg.backend))
    for logger_cfg in cfg.loggers.values():
        general.update(section_to_dict(logger_cfg))
    return {"general_cfg": general, "algo_cfg": algo, "env_cfg": env}


def dump_config(cfg: RunConfig) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False, default_flow_style=None)


class ExtraKeys:
    """Mixin for a config dataclass that accepts keys beyond its fields, kept in ``extra``.

    The ``gym`` env uses it to pass any further ``env_cfg`` key to ``gymnasium.make``.
    """

    ACCEPTS_EXTRA_KEYS: ClassVar[bool] = True
