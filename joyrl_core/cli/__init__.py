"""The ``joyrl`` command line and the new-plugin scaffold."""
