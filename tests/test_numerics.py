"""Saturated outputs, dtypes, and points where a naive formula would give NaN."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import pytest

import manualgrad
import reference
from tests._cases import DTYPES, assert_grads_close

MODES = manualgrad.JACOBIAN_MODES
NUMBERS = list(manualgrad.ALGORITHMS)


def run(number, theta, x, y, activations, cost, **options):
    algorithm = manualgrad.ALGORITHMS[number]
    if algorithm.batch:
        return algorithm(theta, x[None], y[None], activations, cost, **options)
    return algorithm(theta, x, y, activations, cost, **options)


def reference_grad(number, theta, x, y, activations, cost):
    if manualgrad.ALGORITHMS[number].batch:
        return reference.grad(theta, x[None], y[None], activations, cost)
    return reference.grad(theta, x, y, activations, cost)


def huge_logits(dtype):
    """A one-layer network whose logits are +1000 and -1000 for x = (1, 1)."""
    W = jnp.array([[1000.0, 0.0], [0.0, -1000.0]], dtype)
    b = jnp.zeros(2, dtype)
    return manualgrad.Params((W,), (b,)), jnp.ones(2, dtype)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("number", NUMBERS)
def test_softmax_cross_entropy_at_logits_1000_is_finite_and_matches_jax_grad(number, dtype, mode):
    theta, x = huge_logits(dtype)
    # All the target mass on the class whose probability underflows to 0.
    y = jnp.array([0.0, 1.0], dtype)
    got = run(number, theta, x, y, ("softmax",), "cross_entropy", jacobian_mode=mode)
    expected = reference_grad(number, theta, x, y, ("softmax",), "cross_entropy")
    chex.assert_tree_all_finite(got)
    chex.assert_tree_all_finite(expected)
    assert_grads_close(got, expected, dtype)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("number", NUMBERS)
def test_sigmoid_binary_cross_entropy_at_logits_1000_is_finite_and_matches_jax_grad(
    number, dtype, mode
):
    theta, x = huge_logits(dtype)
    y = jnp.array([0.0, 1.0], dtype)  # Both predictions maximally wrong.
    got = run(number, theta, x, y, ("sigmoid",), "binary_cross_entropy", jacobian_mode=mode)
    expected = reference_grad(number, theta, x, y, ("sigmoid",), "binary_cross_entropy")
    chex.assert_tree_all_finite(got)
    assert_grads_close(got, expected, dtype)


@pytest.mark.parametrize("hidden", ["sigmoid", "softmax", "tanh"])
@pytest.mark.parametrize("number", NUMBERS)
def test_saturated_hidden_layer_gives_finite_gradient(number, hidden):
    dtype = "float32"
    W1 = jnp.array([[1000.0, 0.0], [0.0, -1000.0], [500.0, 500.0]], dtype)
    theta = manualgrad.Params(
        (W1, jnp.ones((2, 3), dtype)), (jnp.zeros(3, dtype), jnp.zeros(2, dtype))
    )
    x, y = jnp.ones(2, dtype), jnp.array([0.3, -0.2], dtype)
    got = run(number, theta, x, y, (hidden, "identity"), "mse")
    chex.assert_tree_all_finite(got)
    assert_grads_close(got, reference_grad(number, theta, x, y, (hidden, "identity"), "mse"), dtype)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("number", NUMBERS)
def test_radial_sigmoid_at_zero_gives_no_nan(number, mode):
    dtype = "float64"
    theta = manualgrad.init_params(jax.random.PRNGKey(0), (3, 4, 2), dtype=dtype, bias_scale=0.0)
    x, y = jnp.zeros(3, dtype), jnp.array([0.5, -0.5], dtype)  # z_1 = W_1 0 + 0 = 0
    acts = ("radial_sigmoid", "identity")
    got = run(number, theta, x, y, acts, "mse", jacobian_mode=mode)
    chex.assert_tree_all_finite(got)
    assert_grads_close(got, reference_grad(number, theta, x, y, acts, "mse"), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("number", NUMBERS)
def test_dtype_in_is_dtype_out(number, dtype):
    theta = manualgrad.init_params(jax.random.PRNGKey(1), (3, 4, 2), dtype=dtype)
    x, y = jnp.ones(3, dtype), jnp.ones(2, dtype)
    grads, sens = run(
        number, theta, x, y, ("gelu", "softmax"), "cross_entropy", return_sensitivities=True
    )
    for leaf in jax.tree_util.tree_leaves((grads, sens)):
        assert leaf.dtype == jnp.dtype(dtype)
