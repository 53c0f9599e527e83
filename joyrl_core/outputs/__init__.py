"""What a run writes: the task folder, checkpoints, loggers, plots, videos, trajectories."""
