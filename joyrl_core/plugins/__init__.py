"""Plugin loading (pluggy, entry points), the component registry, and the core's built-ins."""
