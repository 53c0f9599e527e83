"""Registers the ``ray`` backend with JoyRL. Free of ray and torch so that `joyrl list-plugins` stays fast."""

from __future__ import annotations

from joyrl_core import Backend, RunContext, hookimpl

from joyrl_backend_ray.options import RayBackendConfig


def make_ray_backend(run: RunContext) -> Backend:
    from joyrl_backend_ray.backend import RayBackend

    return RayBackend(run)


@hookimpl
def register_backends(register):
    register("ray", make_ray_backend, RayBackendConfig,
             "Ray actors: n_workers parallel rollout workers, n_learners learners averaging gradients (gloo)")
from joyrl_backend_ray.experiments import experiment_executor  # noqa: F401  (the hook: seeds and trials as Ray tasks)
