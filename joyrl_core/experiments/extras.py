"""Optional dependencies of the experiment commands, with a one-line error naming what to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from joyrl_core.errors import JoyRLError

EXTRA = "experiments"


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` (optuna, scipy.stats, ...) or say how to install it for ``feature``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise JoyRLError(
            f"{feature} needs {package}, which is not installed: "
            f"pip install -c constraints.txt 'joyrl-core[{EXTRA}]' (or pip install {package})"
        ) from None
