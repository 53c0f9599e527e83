"""The shared layer-list vocabulary: shapes, flattening, conv arithmetic, init, and refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from joyrl_core import (
    LayerConfig,
    build_layers,
    init_weights,
    layer_list,
    obs_tensor,
    parse_layers,
    use_channels_last,
)

from conftest import REPO_ROOT


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


# -- image observations: presets, the input module, channel order --------------------------------

def _net(layers, shape, dtype):
    modules, out = build_layers(parse_layers(layers, "layers"), shape, obs_dtype=np.dtype(dtype))
    return nn.Sequential(*modules), out


def _copy_parameters(source: nn.Module, target: nn.Module) -> None:
    """The same layers' weights (the input module has none, but shifts the Sequential's indices)."""
    with torch.no_grad():
        for a, b in zip(source.parameters(), target.parameters(), strict=True):
            b.copy_(a)


def test_presets_are_the_nature_and_impala_encoders():
    net, out = _net([{"layer_type": "nature_cnn"}, {"layer_type": "linear", "layer_dim": [512]}], (4, 84, 84), np.uint8)
    convs = [m for m in net if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [(32, (8, 8), (4, 4)), (64, (4, 4), (2, 2)),
                                                                         (64, (3, 3), (1, 1))]
    linear = [m for m in net if isinstance(m, nn.Linear)]
    assert linear[0].in_features == 64 * 7 * 7 and out == (512,)
    # SB3's NatureCNN with its 512 features has these many parameters.
    assert sum(p.numel() for p in net.parameters()) == 1_684_128

    net, out = _net([{"layer_type": "impala_cnn"}], (4, 84, 84), np.uint8)
    assert out == (32 * 11 * 11,)  # three max-pools with stride 2: 84 -> 42 -> 21 -> 11
    assert sum(isinstance(m, nn.MaxPool2d) for m in net) == 3
    assert sum(type(m).__name__ == "ResidualBlock" for m in net) == 6
    assert net(obs_tensor(np.zeros((2, 4, 84, 84), np.uint8))).shape == (2, 32 * 11 * 11)


def test_uint8_frames_are_scaled_once_in_the_network_and_stay_uint8_until_then():
    torch.manual_seed(0)
    layers = [{"layer_type": "conv2d", "layer_dim": [4]}, {"layer_type": "linear", "layer_dim": [3]}]
    pixels, _ = _net(layers, (2, 6, 6), np.uint8)
    floats, _ = _net(layers, (2, 6, 6), np.float32)
    _copy_parameters(pixels, floats)
    frames = np.random.default_rng(0).integers(0, 256, size=(5, 2, 6, 6), dtype=np.uint8)
    as_tensor = obs_tensor(frames)
    assert as_tensor.dtype == torch.uint8  # no float copy on the way to the device
    assert torch.allclose(pixels(as_tensor), floats(obs_tensor(frames / 255.0)), atol=1e-6)
    assert obs_tensor(np.zeros((1, 3), np.float64)).dtype == torch.float32
    assert obs_tensor(np.zeros((1, 3), bool)).dtype == torch.bool


def test_channels_last_frames_are_put_channels_first_and_2d_frames_get_a_channel():
    torch.manual_seed(0)
    layers = [{"layer_type": "conv2d", "layer_dim": [4]}, {"layer_type": "flatten", "activation": "none"}]
    hwc, out_hwc = _net(layers, (10, 10, 3), bool)  # MinAtar's layout
    chw, out_chw = _net(layers, (3, 10, 10), np.float32)
    assert out_hwc == out_chw == (4 * 8 * 8,)
    _copy_parameters(hwc, chw)
    frames = np.random.default_rng(1).random((2, 10, 10, 3)) > 0.5
    assert torch.allclose(hwc(obs_tensor(frames)), chw(obs_tensor(frames.transpose(0, 3, 1, 2).astype(np.float32))))
    # A 2-D frame (Catch's 10x5 board) is one channel.
    plane, out = _net(layers, (10, 5), bool)
    assert out == (4 * 8 * 3,)
    assert plane(obs_tensor(np.ones((2, 10, 5), bool))).shape == (2, 4 * 8 * 3)
    # A float MLP gets no input module: its state-dict keys are those of every MLP checkpoint.
    mlp, _ = _net(layer_list(8), (4,), np.float32)
    assert list(mlp.state_dict()) == ["0.weight", "0.bias"]


@pytest.mark.parametrize("obs_shape, dtype", [((4, 84, 84), np.uint8), ((10, 10, 3), bool), ((10, 5), bool)])
def test_channels_last_networks_give_the_channels_first_values_and_keep_their_keys(obs_shape, dtype):
    torch.manual_seed(0)
    layers = [{"layer_type": "nature_cnn"}] if obs_shape[-1] == 84 else \
        [{"layer_type": "conv2d", "layer_dim": [8]}, {"layer_type": "conv2d", "layer_dim": [8], "stride": 2}]
    layers = layers + [{"layer_type": "linear", "layer_dim": [16]}]
    first, _ = _net(layers, obs_shape, dtype)
    nhwc, _ = _net(layers, obs_shape, dtype)
    nhwc.load_state_dict(first.state_dict())
    assert use_channels_last(nhwc)
    assert list(nhwc.state_dict()) == list(first.state_dict())
    conv = [m for m in nhwc if isinstance(m, nn.Conv2d)][-1]  # (a 1-channel input's is both layouts at once)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    frames = np.random.default_rng(0).integers(0, 256 if dtype == np.uint8 else 2, size=(6, *obs_shape)).astype(dtype)
    x = obs_tensor(frames)
    assert nhwc[0](x).is_contiguous(memory_format=torch.channels_last)  # the input module hands NHWC on
    torch.testing.assert_close(nhwc(x), first(x), rtol=1e-5, atol=1e-6)
    # Gradients agree too, and state dicts load either way.
    grads = [torch.autograd.grad(net(x).square().sum(), list(net.parameters())) for net in (first, nhwc)]
    for want, got in zip(*grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    first.load_state_dict(nhwc.state_dict())
    torch.testing.assert_close(first(x), nhwc(x), rtol=1e-5, atol=1e-6)


def test_channels_last_leaves_networks_without_convolutions_alone():
    mlp, _ = _net(layer_list(8), (4,), np.float32)
    weight = mlp[0].weight
    assert not use_channels_last(mlp)
    assert mlp[0].weight is weight and weight.is_contiguous()


def test_layer_lists_that_do_not_fit_an_image_name_the_layer_and_both_shapes():
    with pytest.raises(ValueError, match=r"layer 0 \(nature_cnn\), its 64-channel conv with kernel 4, stride 2.*"
                                         r"\(32, 1, 1\).*observation shape \(10, 10, 4\), channels first: \(4, 10, 10\)"):
        _net([{"layer_type": "nature_cnn"}], (10, 10, 4), bool)
    with pytest.raises(ValueError, match=r"layer 1 \(impala_cnn\) needs a \(channels, height, width\) input"):
        _net([{"layer_type": "linear", "layer_dim": [8]}, {"layer_type": "impala_cnn"}], (4, 84, 84), np.uint8)
    with pytest.raises(ValueError, match="nature_cnn is a fixed encoder and takes no layer_dim: \\[64\\]"):
        parse_layers([{"layer_type": "nature_cnn", "layer_dim": [64]}], "layers")


def test_a_layer_list_that_does_not_fit_the_env_stops_the_run_in_one_line(cli, tmp_path):
    result = cli("run", str(REPO_ROOT / "examples" / "catch_dqn_cnn.yaml"), "--set", f"general_cfg.task_dir={tmp_path}",
                 "--set", "algo_cfg.value_layers=[{layer_type: nature_cnn}]")
    assert result.exit_code != 0
    message = result.output.strip()
    assert "\n" not in message and "layer 0 (nature_cnn)" in message and "(1, 10, 5)" in message, message
    assert not list(tmp_path.iterdir())  # no task folder
