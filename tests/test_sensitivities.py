"""The sensitivities are the gradients of the partial loss functions (Exercise 6)."""

from __future__ import annotations

import chex
import jax.numpy as jnp
import pytest

import manualgrad
import reference
from tests._cases import CASES_BY_NAME, DTYPES, assert_grads_close, make_inputs

CASE_NAMES = (
    "deep-mixed",
    "pool-hidden-and-last",
    "one-layer",
    "binary_cross_entropy-sigmoid",
    "labels-norms",
    "labels-binary_cross_entropy-sigmoid",
    "custom-mixed",
    "custom-tanh_cumsum",
)


def inputs(number: int, case_name: str, dtype: str):
    case = CASES_BY_NAME[case_name]
    theta, X, Y = make_inputs(case, dtype)
    if not manualgrad.ALGORITHMS[number].batch:
        X, Y = X[0], Y[0]
    return case, theta, X, Y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case_name", CASE_NAMES)
@pytest.mark.parametrize("number", list(manualgrad.ALGORITHMS))
def test_sensitivities_match_gradients_of_partial_losses(number, case_name, dtype):
    case, theta, x, y = inputs(number, case_name, dtype)
    algorithm = manualgrad.ALGORITHMS[number]
    grads, sens = algorithm(theta, x, y, case.activations, case.cost, return_sensitivities=True)
    expected = reference.sensitivities(theta, x, y, case.activations, case.cost)
    assert isinstance(sens, manualgrad.Sensitivities)
    assert_grads_close(sens, expected, dtype)
    # Asking for sensitivities does not change the gradients.
    assert_grads_close(grads, algorithm(theta, x, y, case.activations, case.cost), dtype)


@pytest.mark.parametrize("number", list(manualgrad.ALGORITHMS))
def test_sensitivities_are_shaped_like_z_and_a(number):
    case, theta, x, y = inputs(number, "pool-hidden-and-last", "float64")
    _, sens = manualgrad.ALGORITHMS[number](
        theta, x, y, case.activations, case.cost, return_sensitivities=True
    )
    rows = x.shape[:-1]
    L = len(theta.W)
    assert len(sens.grad_z) == L and len(sens.grad_a) == L + 1
    widths_a = [case.dims[0]] + [w.shape[1] for w in theta.W[1:]] + [case.out_width]
    for l in range(1, L + 1):
        chex.assert_shape(sens.grad_z[l - 1], (*rows, case.dims[l]))
    for l in range(L + 1):
        chex.assert_shape(sens.grad_a[l], (*rows, widths_a[l]))


@pytest.mark.parametrize("number", list(manualgrad.ALGORITHMS))
def test_parameter_gradients_are_read_off_the_sensitivities(number):
    # Eqs. 3.3-3.4 and 4.3-4.4: grad_W_l = grad_z_l a_{l-1}^T, grad_b_l = grad_z_l.
    case, theta, x, y = inputs(number, "deep-mixed", "float64")
    grads, sens = manualgrad.ALGORITHMS[number](
        theta, x, y, case.activations, case.cost, return_sensitivities=True
    )
    # The forward pass, rows first, written out here.
    A = [jnp.atleast_2d(x)]
    for W, b, act in zip(theta.W, theta.b, case.activations, strict=True):
        A.append(manualgrad.get_activation(act)(A[-1] @ W.T + b[None, :]))
    for l in range(1, len(theta.W) + 1):
        grad_Z = jnp.atleast_2d(sens.grad_z[l - 1])
        assert_grads_close(grads.W[l - 1], grad_Z.T @ A[l - 1], "float64")
        assert_grads_close(grads.b[l - 1], jnp.sum(grad_Z, axis=0), "float64")
