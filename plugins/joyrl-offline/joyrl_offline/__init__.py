"""Offline RL for JoyRL: BC and CQL, learning from a dataset without stepping an env."""
