"""JoyRL's ``ray`` backend: rollout workers and learners as Ray actors (``mp_backend: ray``)."""

from joyrl_backend_ray.options import RayOptions, actor_name, actor_prefix
from joyrl_backend_ray.summary import RaySummary

__all__ = ["RayOptions", "RaySummary", "actor_name", "actor_prefix"]
