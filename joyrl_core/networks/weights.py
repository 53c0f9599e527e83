"""Acting weights as plain CPU tensors: what ``Agent.get_weights``/``set_weights`` hand between processes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def module_weights(module: Any) -> dict[str, Any]:
    """``module``'s state dict as detached CPU copies: safe to send to another process or device while
    the module trains on."""
    return {name: tensor.detach().cpu().clone() for name, tensor in module.state_dict().items()}


def load_module_weights(module: Any, weights: Mapping[str, Any]) -> None:
    """Copy ``weights`` (from :func:`module_weights`, tensors or arrays) into ``module`` in place, so
    whatever holds views of its parameters stays current; ``ValueError`` naming the keys or shapes that
    do not fit."""
    import torch

    try:
        module.load_state_dict({name: torch.as_tensor(value) for name, value in weights.items()})
    except RuntimeError as exc:
        raise ValueError(str(exc)) from None
