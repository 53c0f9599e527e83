"""The contracts plugins implement: agent, buffer, backend, logger, hook specs, and the data crossing them."""
