"""The one error the envs raise for a bad constructor argument."""

from __future__ import annotations

from joyrl_core import EnvError


class EnvConfigError(EnvError, ValueError):
    """A bad env argument (an ``env_cfg`` key in JoyRL): a :class:`joyrl_core.EnvError` and a ``ValueError``.

    The message starts with the argument's name, e.g. ``walls: [0, 0] is the start cell``, so JoyRL can
    prefix it with ``env_cfg.`` and plain gymnasium users can catch the ``ValueError`` they expect.
    """
