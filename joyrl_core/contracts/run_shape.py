"""``RunShape``: what an algorithm or buffer factory knows of the run it is built for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunShape:
    """The run's shape, the fifth argument of every algorithm and buffer factory.

    - ``n_envs``: env copies one collecting process steps together (``env_cfg.n_envs``);
    - ``n_workers``: collecting processes (``general_cfg.n_workers``; 1 on the ``single`` backend);
    - ``backend``: ``general_cfg.mp_backend``;
    - ``max_env_steps``: the run's budget of env steps (``None``: no budget), what schedules anneal over;
    - ``mode``: ``"train"`` or ``"test"``.

    A buffer that feeds one learner from every collecting process sees ``env_streams`` streams of steps
    (``n_envs * n_workers``), numbered as ``Batch.env_ids`` are: worker ``w``'s sub-env ``i`` is stream
    ``w * n_envs + i``.
    """

    n_envs: int = 1
    n_workers: int = 1
    backend: str = "single"
    max_env_steps: int | None = None
    mode: str = "train"

    @property
    def env_streams(self) -> int:
        return self.n_envs * self.n_workers

    @classmethod
    def of(cls, config) -> RunShape:
        """The shape of a resolved :class:`joyrl_core.RunConfig`."""
        general = config.general
        workers = 1 if general.mp_backend == "single" else general.n_workers
        return cls(config.vector.n_envs, workers, general.mp_backend, general.max_env_steps, general.mode)
