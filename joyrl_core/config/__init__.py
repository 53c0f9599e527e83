"""Config: the three YAML sections, their typed defaults, and resolving defaults < YAML < ``--set``."""

from joyrl_core.config.resolve import (
    SECTIONS,
    ExtraKeys,
    GeneralConfig,
    OptionInfo,
    RunConfig,
    VectorConfig,
    check_document,
    config_to_dict,
    describe_options,
    describe_type,
    dump_config,
    option,
    parse_override,
    read_yaml_file,
    resolve_config,
    section_to_dict,
)

__all__ = [
    "SECTIONS",
    "ExtraKeys",
    "GeneralConfig",
    "OptionInfo",
    "RunConfig",
    "VectorConfig",
    "check_document",
    "config_to_dict",
    "describe_options",
    "describe_type",
    "dump_config",
    "option",
    "parse_override",
    "read_yaml_file",
    "resolve_config",
    "section_to_dict",
]
