"""The hook specifications: the contract between the JoyRL core and its plugins.

A plugin is a module exposed through the ``joyrl`` entry-point group. It implements any of the hooks
below with ``@joyrl_core.hookimpl``. Each hook is called once per run (and once by ``joyrl
list-plugins``), right after the plugins are loaded and before any config is read, with a single
argument ``register``: a callable the plugin calls once per component it provides::

    register(name, factory, config_type, summary, *, capabilities=None, buffer_needs=None)

- ``name`` (str): what YAML selects the component by (``algo_name: DQN``, ``buffer_type: REPLAY_QUE``,
  ``env_name: gym``, ``mp_backend: single``, ``loggers: [console]``, ``wrappers: [{name: ...}]``).
  Unique within its kind across all installed plugins; a clash is an error naming both distributions.
- ``factory`` (callable): builds the component when a run needs it; its signature depends on the kind
  and is documented on each hook.
- ``config_type`` (a dataclass type, or ``None``): the typed defaults of the component's YAML section.
  YAML and ``--set`` values are validated against its fields and type hints.
- ``summary`` (str): one line shown by ``joyrl list-plugins``.
- ``capabilities`` (buffers only): a :class:`joyrl_core.BufferCapabilities`, what the buffer serves;
  omitted, ``random_sampling`` alone (a replay buffer).
- ``buffer_needs`` (algorithms only): ``buffer_needs(config, shape) -> BufferCapabilities``, what the
  algorithm requires of its buffer for this ``algo_cfg`` and :class:`joyrl_core.RunShape`; omitted, nothing
  is required. It may raise ``ValueError("key: ...")`` for a combination of config and run shape that
  cannot work. Both are checked when the config is resolved, before a task folder exists: a buffer that
  lacks what the algorithm needs is a one-line ``ConfigError`` naming both.

The hooks return nothing; what they register is what counts. They are called through pluggy's hook
caller, so ``@hookimpl(tryfirst=True)``/``trylast`` order a plugin's registrations against the others',
``hookwrapper``/``wrapper`` implementations see every call, and pluggy's tracing
(``PluginManager.enable_tracing``) shows them. The core's own built-ins (the ``single`` backend, the
``REPLAY_QUE`` buffer, the ``gym`` env, the ``console`` and ``csv`` loggers) come in through these same
hooks, from the core's own entry point.

Two more hooks answer questions instead of registering: :func:`install_hint` is asked when a run names
a component no installed plugin registers, :func:`experiment_executor` what runs an experiment's runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pluggy

PROJECT_NAME = "joyrl"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@dataclass(frozen=True)
class ComponentKind:
    """One kind of component: the hook that registers it and where YAML selects and configures it."""

    name: str  # as the registry, ``joyrl list-plugins --kind`` and error messages say it
    hook: str  # the hook spec below that registers components of this kind
    selected_by: str  # the YAML key that names the component a run uses
    section: str  # the YAML section that holds the component's own options
    short: str  # what ``joyrl new-plugin --kind`` takes


# The kinds, in the order tables list them; everything else derives from this one list.
COMPONENT_KINDS: tuple[ComponentKind, ...] = (
    ComponentKind("algorithm", "register_algorithms", "general_cfg.algo_name", "algo_cfg", "algo"),
    ComponentKind("buffer", "register_buffers", "algo_cfg.buffer_type", "algo_cfg", "buffer"),
    ComponentKind("env", "register_envs", "general_cfg.env_name", "env_cfg", "env"),
    ComponentKind("backend", "register_backends", "general_cfg.mp_backend", "general_cfg", "backend"),
    ComponentKind("logger", "register_loggers", "general_cfg.loggers", "general_cfg", "logger"),
    ComponentKind("wrapper", "register_wrappers", "env_cfg.wrappers", "env_cfg.wrappers entry", "wrapper"),
)


@hookspec
def register_algorithms(register):
    """Register algorithms (selected by ``general_cfg.algo_name``).

    factory: ``factory(config, env_spec, device, seed, shape) -> joyrl_core.Agent`` where ``config`` is
    an instance of ``config_type`` (the run's ``algo_cfg``), ``env_spec`` a :class:`joyrl_core.EnvSpec`,
    ``device`` a resolved ``torch.device`` string such as ``"cpu"`` or ``"cuda"``, ``seed`` an int
    or ``None`` (unseeded), and ``shape`` the :class:`joyrl_core.RunShape` (envs per process, workers,
    backend, the env-step budget schedules anneal over). Called once per process that acts or learns (a
    backend may build several agents: one per worker, one per learner).
    """


@hookspec
def register_buffers(register):
    """Register experience buffers (selected by ``algo_cfg.buffer_type``).

    factory: ``factory(capacity, env_spec, config, seed, shape) -> joyrl_core.Buffer`` where ``capacity``
    is ``algo_cfg.buffer_size`` (``None`` when the algorithm's config has no such key: the buffer sizes
    itself, as ``ROLLOUT`` does from its ``n_steps`` and ``shape.env_streams``), ``config`` an instance of
    ``config_type`` whose fields are read from ``algo_cfg`` (so a buffer's own options sit beside the
    algorithm's), ``seed`` an int or ``None``, and ``shape`` the :class:`joyrl_core.RunShape`. Called once
    per learner, before training starts.
    """


@hookspec
def register_envs(register):
    """Register environment sources (selected by ``general_cfg.env_name``).

    factory: ``factory(config, render_mode) -> gymnasium.Env`` where ``config`` is an instance of
    ``config_type`` (the run's ``env_cfg``) and ``render_mode`` is ``None``, ``"human"`` or
    ``"rgb_array"``. The env must follow the gymnasium API (``reset(seed=...)`` and the five-tuple
    ``step``). Called once per env instance a run needs (training, evaluation, each worker); raise
    :class:`joyrl_core.EnvError` with a clear message when the config names no such env.
    """


@hookspec
def register_backends(register):
    """Register execution backends (selected by ``general_cfg.mp_backend``).

    factory: ``factory(run) -> joyrl_core.Backend`` where ``run`` is the :class:`joyrl_core.RunContext`
    of the run (resolved config, task folder, component factories, loggers). Called once per run; the
    backend's ``run()`` then drives training or testing to the end and returns a
    :class:`joyrl_core.RunSummary`. A backend's ``config_type`` fields are ``general_cfg`` keys (beside
    ``n_workers``); the built instance is ``run.config.backend``.
    """


@hookspec
def register_loggers(register):
    """Register loggers (listed in ``general_cfg.loggers``; several may be active at once).

    factory: ``factory(run) -> joyrl_core.Logger`` where ``run`` is the :class:`joyrl_core.RunContext`.
    Called once per run before the first episode; the logger's ``close()`` is called once at the end,
    also when the run fails or is interrupted. A logger's ``config_type`` fields are ``general_cfg``
    keys; the built instance is ``run.config.loggers[name]``.
    """


@hookspec
def register_wrappers(register):
    """Register env wrappers (named in the ``env_cfg.wrappers`` list, beside gymnasium's own wrappers).

    factory: ``factory(env, config) -> gymnasium.Env`` where ``env`` is the ``gymnasium.Env`` to wrap (the
    env plugin's env, with the core's time limit and episode statistics and the list's earlier wrappers
    around it) and ``config`` an instance of ``config_type`` built from the entry's other keys (``None``
    without a ``config_type``). Called once per env instance a run builds (training, each vectorized
    copy, evaluation, test, each worker), in the list's order; it returns the wrapped env, usually a
    ``gymnasium.Wrapper``. The name must not be one ``gymnasium.wrappers`` exports (a YAML entry of that
    name means gymnasium's wrapper); registering it is refused. A wrapper that changes rewards keeps
    what results record unchanged: the core reports the returns gymnasium's ``RecordEpisodeStatistics``
    measured beneath it.
    """


@hookspec(firstresult=True)
def install_hint(kind, name):
    """Say how to get a component that no installed plugin registers.

    Called with ``kind`` (``"algorithm"``, ``"buffer"``, ``"env"``, ``"backend"``, ``"logger"`` or ``"wrapper"``) and
    the ``name`` a config asked for, when the registry has no such component; return a one-line hint
    such as ``"pip install joyrl-atari[rom]"`` for names your distribution knows how to provide (an
    optional extra, a companion distribution), or ``None``. The first non-``None`` answer is shown
    after "install it with: ".
    """


@hookspec(firstresult=True)
def experiment_executor(config, address):
    """Offer an executor for the runs of an experiment: the seeds of ``joyrl run --seeds``, the trials of
    ``joyrl tune`` (and ``run_seeds``/``run_tune``).

    Called once per experiment in the driver process, after every run's config is checked and before
    the experiment's folder is made, with ``config`` (the :class:`joyrl_core.RunConfig` of its first
    run; the others differ in seed or searched keys only) and ``address`` (the ``--cluster`` address the
    user gave, or ``None``). Return a :class:`joyrl_core.Executor`, not yet opened, to run them, or
    ``None`` to leave them to others; the first answer wins. Answer for what is yours: a config whose
    backend (``general_cfg.mp_backend``) your plugin provides, an address your plugin understands.
    When no plugin answers, the runs are local processes (the core's ``ProcessExecutor``), or, where an
    address was given, the command stops with a one-line error. Raise :class:`joyrl_core.ConfigError`
    for an address you own but cannot use.
    """
