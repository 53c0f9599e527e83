"""``python -m joyrl_core``: the ``joyrl`` command line."""

from joyrl_core.cli import main

main()
