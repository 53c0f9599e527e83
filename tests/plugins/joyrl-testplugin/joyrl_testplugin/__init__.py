"""A tiny JoyRL plugin for the test suite: the ``jsonl`` logger and the ``CONSTANT`` algorithm."""

from joyrl_testplugin.plugin import ConstantAgent, ConstantConfig, JsonlLogger

__all__ = ["ConstantAgent", "ConstantConfig", "JsonlLogger"]
