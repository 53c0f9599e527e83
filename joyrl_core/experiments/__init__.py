"""Experiments over runs: several seeds, the report across them, and hyper-parameter tuning."""
