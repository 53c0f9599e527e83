"""Built-in components registered through the core's own entry point: the gym env, REPLAY_QUE, the random agent."""
