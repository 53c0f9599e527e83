"""``python -m joyrl_core``: the ``joyrl`` command line."""

from joyrl_core.cli.main import main

main()
