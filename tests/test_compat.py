"""The einsum form of swyft's channelized linear layer computes the same values and gradients."""

import torch
from swyft.networks.channelized import LinearWithChannel

from alpswyft import compat


def test_einsum_layer_equals_swyft_layer():
    torch.manual_seed(0)
    layer = LinearWithChannel(channels=5, in_features=68, out_features=128)
    x = torch.randn(512, 5, 68, requires_grad=True)
    reference = compat._swyft_forward(layer, x)
    (g_ref_x, g_ref_w) = torch.autograd.grad(reference.square().sum(), (x, layer.weights))
    ours = compat._einsum_forward(layer, x)
    (g_x, g_w) = torch.autograd.grad(ours.square().sum(), (x, layer.weights))
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g_x, g_ref_x, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(g_w, g_ref_w, rtol=1e-4, atol=1e-3)


def test_apply_patches_the_class():
    compat.apply()
    assert LinearWithChannel.forward is compat._einsum_forward
