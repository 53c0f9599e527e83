"""Typed configuration: defaults in dataclasses, YAML over them, ``--set`` over YAML.

A run's config has three sections. ``general_cfg`` is :class:`GeneralConfig`; ``algo_cfg`` and
``env_cfg`` are the ``config_type`` dataclasses of the algorithm and env plugins the run selects (and a
buffer's own options sit in ``algo_cfg`` beside the algorithm's). Values are checked against each
field's type hint and its ``min``/``choices`` metadata; a mistake is a :class:`ConfigError` naming the
file, the key, the value given and what is allowed.

YAML ``null`` for a key whose type does not admit ``None`` means "keep the default": the product's own
example YAML writes ``save_best_model:`` with no value.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml

from joyrl_core.errors import ComponentNotFoundError, ConfigError, PluginError

SECTIONS = ("general_cfg", "algo_cfg", "env_cfg")


def option(default: Any, help: str, *, minimum: float | None = None, maximum: float | None = None) -> Any:
    """A config field with a default, a help text (shown by the docs and ``joyrl info``) and bounds."""
    metadata: dict[str, Any] = {"help": help}
    if minimum is not None:
        metadata["min"] = minimum
    if maximum is not None:
        metadata["max"] = maximum
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class GeneralConfig:
    """``general_cfg``: what to run, where, for how long, and what to keep."""

    algo_name: str = option("DQN", "algorithm to run (see `joyrl list-plugins`)")
    env_name: str = option("gym", "env plugin that builds the env; `gym` takes any gymnasium id")
    device: str = option("cpu", "torch device: cpu, cuda, cuda:N, or auto (cuda when available)")
    mode: Literal["train", "test"] = option("train", "train a model, or test a saved one")
    collect_traj: bool = option(False, "write trajectories to results/trajs_<n>.pkl")
    mp_backend: str = option("single", "execution backend: single (in-process) or a plugin such as ray")
    n_workers: int = option(1, "number of parallel workers (backends that support it)", minimum=1)
    load_checkpoint: bool = option(False, "start from a saved checkpoint (train: resume; test: required)")
    load_path: str | None = option(None, "task folder (under task_dir) or path holding the checkpoint")
    load_model: str | int = option("latest", "which checkpoint of load_path: latest, best, or an update step")
    max_episode: int = option(100, "episodes to train; -1 runs until stopped (Ctrl-C)", minimum=-1)
    max_env_steps: int | None = option(None, "stop training after this many env steps in all; null = no limit", minimum=1)
    max_step: int = option(200, "max env steps per episode (the episode is truncated there)", minimum=1)
    seed: int = option(0, "random seed for python, numpy, torch and envs; 0 = unseeded", minimum=0)
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
    save_best_model: bool = option(True, "with online_eval, keep the best-scoring model as models/best")
    save_fig: bool = option(True, "write results/rewards.png at the end of the run")
    show_fig: bool = option(False, "open the reward figure at the end of the run")
    torch_threads: int = option(1, "torch CPU threads; 1 is fastest for small networks; 0 = torch's default", minimum=0)
    loggers: list[str] = option(["console", "csv"], "active loggers (see `joyrl list-plugins`)")
    task_dir: str = option("tasks", "folder that receives one task folder per run")

    def __post_init__(self) -> None:
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
class RunConfig:
    """A resolved config: the three sections as typed objects, plus where they came from.

    ``buffer`` holds the buffer's own options (from ``algo_cfg``), ``vector`` the core's env keys,
    ``backend`` and ``loggers`` (by name) the options of those components (from ``general_cfg``); each
    is ``None`` for a component that declares no options.
    """

    general: GeneralConfig
    algo: Any
    env: Any
    buffer: Any = None
    vector: VectorConfig = field(default_factory=VectorConfig)
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
        if f.name == "extra" and getattr(cls, "ACCEPTS_EXTRA_KEYS", False):
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        rows.append(OptionInfo(f.name, describe_type(hints[f.name]), default, f.metadata.get("help", "")))
    return rows


def describe_type(tp: Any) -> str:
    """A short human description of a type hint, for error messages and ``joyrl info``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return "any value"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else describe_type(a) for a in args)
    if origin is list:
        return f"a list of {describe_type(args[0])}" if args else "a list"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping with keys " + ", ".join(f.name for f in dataclasses.fields(tp))
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


class _Invalid(Exception):
    def __init__(self, path: str, expected: str, value: Any):
        super().__init__(path)
        self.path, self.expected, self.value = path, expected, value


def _coerce(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, path)
            except _Invalid:
                continue
        raise _Invalid(path, describe_type(tp), value)
    if origin is Literal:
        if value in args:
            return value
        raise _Invalid(path, describe_type(tp), value)
    if origin is list:
        if not isinstance(value, list):
            raise _Invalid(path, describe_type(tp), value)
        return [_coerce(item, args[0], f"{path}[{i}]") for i, item in enumerate(value)] if args else list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise _Invalid(path, describe_type(tp), value)
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _Invalid(path, describe_type(tp), value)
        return _build(tp, value, path + ".")
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # PyYAML reads exponents without a dot (1e-4) as strings.
            with contextlib.suppress(ValueError):
                return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        if isinstance(value, tp):
            return value
    raise _Invalid(path, describe_type(tp), value)


class _UnknownKey(Exception):
    def __init__(self, path: str, allowed: list[str]):
        super().__init__(path)
        self.path, self.allowed = path, allowed


def _build(cls: type, raw: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    accepts_extra = getattr(cls, "ACCEPTS_EXTRA_KEYS", False)
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        key = str(key)
        f = fields.get(key)
        if f is None or (accepts_extra and key == "extra"):
            if accepts_extra:
                extra[key] = value
                continue
            raise _UnknownKey(prefix + key, sorted(fields))
        if value is None and not _admits_none(hints[key]):
            continue
        coerced = _coerce(value, hints[key], prefix + key)
        minimum, maximum = f.metadata.get("min"), f.metadata.get("max")
        if isinstance(coerced, (int, float)) and not isinstance(coerced, bool):
            if minimum is not None and coerced < minimum:
                raise _Invalid(prefix + key, f"a value >= {minimum}", value)
            if maximum is not None and coerced > maximum:
                raise _Invalid(prefix + key, f"a value <= {maximum}", value)
        kwargs[key] = coerced
    if accepts_extra:
        kwargs["extra"] = extra
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise _BadValue(prefix, str(exc)) from exc


class _BadValue(Exception):
    def __init__(self, prefix: str, message: str):
        super().__init__(message)
        self.prefix, self.message = prefix, message


def _admits_none(tp: Any) -> bool:
    return tp is Any or (typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp))


def build_section(cls: type, raw: Mapping[str, Any], section: str, sources: _Sources | None = None) -> Any:
    """Build the config dataclass ``cls`` from the mapping ``raw`` of YAML section ``section``."""
    sources = sources or _Sources(None, set())
    try:
        return _build(cls, raw, "")
    except _UnknownKey as exc:
        key = exc.path.split(".")[0].split("[")[0]
        leaf = exc.path.rsplit(".", 1)[-1]
        message = f"{sources.of(section, key)}: unknown key {section}.{exc.path}"
        close = difflib.get_close_matches(leaf, exc.allowed, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        raise ConfigError(message + "; allowed keys: " + ", ".join(exc.allowed)) from None
    except _Invalid as exc:
        key = exc.path.split(".")[0].split("[")[0]
        raise ConfigError(
            f"{sources.of(section, key)}: {section}.{exc.path}: expected {exc.expected}, got {exc.value!r}"
        ) from None
    except _BadValue as exc:
        key = (exc.prefix or exc.message).split(":")[0].split(".")[0].split("[")[0]
        raise ConfigError(f"{sources.of(section, key)}: {section}.{exc.prefix}{exc.message}") from None


def read_yaml_file(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of a YAML config file, or a ConfigError saying why there is none."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with sections {', '.join(SECTIONS)}, got {type(data).__name__}")
    for section, body in data.items():
        if section not in SECTIONS:
            close = difflib.get_close_matches(str(section), SECTIONS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{path}: unknown section {section!r}{hint}; allowed sections: {', '.join(SECTIONS)}")
        if body is not None and not isinstance(body, dict):
            raise ConfigError(f"{path}: section {section} must be a mapping of keys to values")
    return {section: dict(body or {}) for section, body in data.items()}


def parse_override(text: str) -> tuple[str, str, Any]:
    """Split ``section.key=value`` into its parts; the value is read as a YAML scalar or list."""
    target, sep, raw_value = text.partition("=")
    section, dot, key = target.strip().partition(".")
    if not sep or not dot or not key:
        raise ConfigError(f"--set {text}: expected section.key=value, e.g. --set algo_cfg.lr=0.001")
    if section not in SECTIONS:
        raise ConfigError(f"--set {text}: unknown section {section!r}; allowed sections: {', '.join(SECTIONS)}")
    try:
        value = yaml.safe_load(raw_value) if raw_value.strip() else None
    except yaml.YAMLError:
        raise ConfigError(f"--set {text}: the value is not valid YAML") from None
    return section, key, value


def resolve_config(registry: Any, yaml_path: str | Path | None = None, overrides: Sequence[str] = ()) -> RunConfig:
    """Layer Python defaults < YAML file < ``--set`` overrides and validate the result.

    Each section is validated against the ``config_type`` of the components the layered config
    selects: the algorithm's in ``algo_cfg`` (with the buffer's options beside it), the env's in
    ``env_cfg`` (with the core's vector options), and in ``general_cfg`` the core's own keys plus the
    options of the selected backend and loggers.
    """
    raw = read_yaml_file(yaml_path) if yaml_path is not None else {}
    raw = {section: dict(raw.get(section) or {}) for section in SECTIONS}
    overridden: set[tuple[str, str]] = set()
    for text in overrides:
        section, key, value = parse_override(text)
        raw[section][key] = value
        overridden.add((section, key))
    sources = _Sources(str(yaml_path) if yaml_path is not None else None, overridden)

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
    general = build_section(GeneralConfig, general_raw, "general_cfg", sources)
    algo_component = lookup("algorithm", general.algo_name, "general_cfg", "algo_name")
    env_component = lookup("env", general.env_name, "general_cfg", "env_name")

    algo_raw = raw["algo_cfg"]
    buffer_cfg = None
    buffer_type = _selected(algo_raw, "buffer_type", algo_component.config_type)
    if isinstance(buffer_type, str):
        buffer_component = lookup("buffer", buffer_type, "algo_cfg", "buffer_type")
        buffer_cfg = _split_section(buffer_component, algo_raw, algo_component.config_type, "algo_cfg", sources)
    algo = _build_plugin_section(algo_component, algo_raw, "algo_cfg", sources)
    env_raw = raw["env_cfg"]
    vector = _take_section(VectorConfig, env_raw, "env_cfg", sources)
    env = _build_plugin_section(env_component, env_raw, "env_cfg", sources)
    return RunConfig(
        general=general, algo=algo, env=env, buffer=buffer_cfg, vector=vector,
        backend=extension_cfgs.get(f"backend {general.mp_backend}"),
        loggers={name: extension_cfgs.get(f"logger {name}") for name in general.loggers},
        source=sources.yaml_path or "defaults",
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
    if getattr(type(cfg), "ACCEPTS_EXTRA_KEYS", False):
        data.update(data.pop("extra", {}))
    return data


def config_to_dict(cfg: RunConfig) -> dict[str, dict[str, Any]]:
    """The resolved config as the YAML document ``joyrl run`` accepts back."""
    algo = section_to_dict(cfg.algo)
    algo.update(section_to_dict(cfg.buffer))
    env = section_to_dict(cfg.env)
    env.update(section_to_dict(cfg.vector))
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
