"""Registers BC and CQL with JoyRL. Kept free of torch so that ``joyrl list-plugins`` stays fast."""

from __future__ import annotations

from joyrl_core import hookimpl

from joyrl_offline.config import BCConfig, CQLConfig


def make_bc(config: BCConfig, env_spec, device: str, seed: int | None, shape=None):
    from joyrl_offline.bc import BCAgent

    return BCAgent(config, env_spec, device, seed)


def make_cql(config: CQLConfig, env_spec, device: str, seed: int | None, shape=None):
    from joyrl_offline.cql import make_cql_agent

    return make_cql_agent(config, env_spec, device, seed)


@hookimpl
def register_algorithms(register):
    register("BC", make_bc, BCConfig,
             "behaviour cloning from a dataset (offline): cross-entropy, or Gaussian/MSE for continuous actions")
    register("CQL", make_cql, CQLConfig,
             "conservative Q-learning from a dataset (offline): DQN-style Q-network plus the CQL(H) penalty")
