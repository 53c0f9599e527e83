"""The run loop: the run context, starting a run, the trainer, rollouts."""
