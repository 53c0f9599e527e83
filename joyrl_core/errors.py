"""The one exception hierarchy of JoyRL.

Every mistake a user can make (bad YAML, an unknown plugin, a missing checkpoint, a broken env) raises
a child of :class:`JoyRLError` whose message says what went wrong and what to do. The CLI prints that
message on one line and exits non-zero; anything else is a bug in JoyRL or a plugin.
"""

from __future__ import annotations


class JoyRLError(Exception):
    """Base class of every error JoyRL reports to a user."""


class ConfigError(JoyRLError):
    """A config file, a ``--set`` override or a config value is wrong."""


class PluginError(JoyRLError):
    """A plugin failed to load or registered something invalid."""


class ComponentNotFoundError(PluginError):
    """A run asked for a component name that no installed plugin provides."""


class DuplicateComponentError(PluginError):
    """Two plugins registered the same name for the same kind of component."""


class EnvError(JoyRLError):
    """An environment could not be created, or does not follow the gymnasium API."""


class CheckpointError(JoyRLError):
    """A checkpoint is missing, corrupt, or does not match the config."""


class DatasetError(JoyRLError):
    """An offline dataset is missing, unreadable, or does not fit the run's env."""


class NonFiniteError(JoyRLError):
    """An env returned a NaN or infinite observation or reward, or an update a non-finite loss."""


class OutputError(JoyRLError):
    """A file or folder of the run's outputs could not be written: a full disk, a read-only
    filesystem, a file where a folder should be."""

    @classmethod
    def writing(cls, path: object, exc: OSError) -> OutputError:
        """The one-line error for ``exc`` raised while writing ``path``."""
        reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
        return cls(f"cannot write {path}: {reason}")
