"""The JoyRL test suite's own constants; its fixtures come from ``joyrl_core.testing`` (a pytest plugin
that joyrl-core installs), which plugin distributions' tests use too."""

from __future__ import annotations

from pathlib import Path

from joyrl_core.testing import EPISODES_HEADER, joyrl_script, quick_overrides, read_episodes

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_YAML = REPO_ROOT / "examples" / "cartpole_dqn.yaml"

__all__ = ["EPISODES_HEADER", "EXAMPLE_YAML", "REPO_ROOT", "joyrl_script", "quick_overrides", "read_episodes"]
