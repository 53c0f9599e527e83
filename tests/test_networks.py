"""The shared layer-list vocabulary: shapes, flattening, conv arithmetic, init, and refusals."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from joyrl_core import LayerConfig, build_layers, init_weights, layer_list, parse_layers


def test_mlp_layers_give_plain_sequential_keys_and_output_width():
    modules, shape = build_layers(parse_layers(layer_list(64, 32, activation="tanh"), "value_layers"), (4,))
    net = nn.Sequential(*modules)
    assert shape == (32,)
    assert list(net.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert isinstance(net[1], nn.Tanh)
    assert net(torch.zeros(5, 4)).shape == (5, 32)


def test_linear_after_an_image_flattens_and_conv_shapes_match_torch():
    layers = parse_layers([
        {"layer_type": "conv2d", "layer_dim": [8], "kernel_size": 3, "stride": 2, "padding": 1},
        {"layer_type": "flatten", "activation": "none"},
        {"layer_type": "linear", "layer_dim": [16]},
    ], "layers")
    modules, shape = build_layers(layers, (3, 11, 7))
    out = nn.Sequential(*modules[:2])(torch.zeros(2, 3, 11, 7))
    assert out.shape == (2, 8, 6, 4)
    assert shape == (16,)
    # A linear layer straight on an image flattens it first.
    modules, shape = build_layers(parse_layers(layer_list(5), "layers"), (2, 3))
    assert nn.Sequential(*modules)(torch.zeros(4, 2, 3)).shape == (4, 5)


def test_layers_that_do_not_fit_are_refused_naming_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"layer 0 \(conv2d\).*\(3,\)"):
        build_layers(parse_layers([{"layer_type": "conv2d", "layer_dim": [4]}], "layers"), (3,))
    with pytest.raises(ValueError, match=r"layer 1 \(conv2d\) with kernel 9.*\(4, 8, 8\)"):
        build_layers(parse_layers([{"layer_type": "conv2d", "layer_dim": [4]},
                                   {"layer_type": "conv2d", "layer_dim": [4], "kernel_size": 9}], "layers"), (1, 10, 10))
    with pytest.raises(ValueError, match="layer_dim"):
        parse_layers([{"layer_dim": [0]}], "layers")
    with pytest.raises(ValueError, match="value_layers: at least one layer"):
        parse_layers([], "value_layers")


def test_orthogonal_init_gives_orthogonal_weights_and_zero_biases():
    torch.manual_seed(0)
    modules, _ = build_layers(parse_layers(layer_list(8, 8), "layers"), (8,))
    net = nn.Sequential(*modules)
    init_weights(net, "orthogonal", gain=1.0)
    weight = net[0].weight.detach()
    assert torch.allclose(weight @ weight.T, torch.eye(8), atol=1e-5)
    assert torch.count_nonzero(net[0].bias) == 0
    before = net[2].weight.detach().clone()
    init_weights(net, "default")
    assert torch.equal(before, net[2].weight.detach())


def test_joyrl_info_documents_the_layer_vocabulary_once(cli):
    result = cli("info", "layers")
    assert result.exit_code == 0, result.output
    for key in ("layer_type", "layer_dim", "activation", "kernel_size", "stride", "padding"):
        assert key in result.output
    # Components whose keys are layer lists point there instead of repeating the entry's keys.
    from joyrl_core.config.validate import describe_type

    assert describe_type(list[LayerConfig]) == "a layer list (see `joyrl info layers`)"
