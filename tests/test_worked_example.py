"""The (2,3,2) network of the differentials notes, with numbers worked by hand.

Sigmoid hidden layer, linear output, C = 1/2 ||y - a||^2. The weights are
chosen so that every hidden pre-activation is 0: then a^[2] = 1/2 and
sigma'(z^[2]) = a(1 - a) = 1/4 exactly, and every number below is a short
binary fraction, exact in float32 and float64.

  x = (1, -1), W^[2] = [[1, 1], [2, 2], [0.5, 0.5]], b^[2] = 0
  z^[2] = 0, a^[2] = (1/2, 1/2, 1/2), D^[2] = I / 4
  W^[3] = [[1, 2, 3], [4, 5, 6]], b^[3] = (1/2, -1/2)
  a^[3] = z^[3] = (3 + 1/2, 15/2 - 1/2) = (7/2, 7);  y = (1, 2)
  delta^[3] = a^[3] - y = (5/2, 5)                           (Proposition 3.1)
  (W^[3])^T delta^[3] = (45/2, 30, 75/2)
  delta^[2] = D^[2] (W^[3])^T delta^[3] = (45/8, 15/2, 75/8)  (Proposition 3.2)
  dC/dW^[3] = delta^[3] (a^[2])^T = [[5/4] * 3, [5/2] * 3]    (Proposition 3.3)
  dC/dW^[2] = delta^[2] x^T = [[45/8, -45/8], [15/2, -15/2], [75/8, -75/8]]
  C = (25/4 + 25) / 2 = 125/8
"""

from __future__ import annotations

import jax.numpy as jnp
import pytest

import manualgrad
import reference
from tests._cases import DTYPES, assert_grads_close

ACTIVATIONS = ("sigmoid", "identity")


def example(dtype):
    theta = manualgrad.Params(
        (
            jnp.array([[1.0, 1.0], [2.0, 2.0], [0.5, 0.5]], dtype),
            jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype),
        ),
        (jnp.zeros(3, dtype), jnp.array([0.5, -0.5], dtype)),
    )
    return theta, jnp.array([1.0, -1.0], dtype), jnp.array([1.0, 2.0], dtype)


def by_hand(dtype):
    delta2 = [45 / 8, 15 / 2, 75 / 8]
    delta3 = [5 / 2, 5.0]
    grads = manualgrad.Params(
        (
            jnp.array([[d, -d] for d in delta2], dtype),
            jnp.array([[d / 2] * 3 for d in delta3], dtype),
        ),
        (jnp.array(delta2, dtype), jnp.array(delta3, dtype)),
    )
    return grads, delta2, delta3


@pytest.mark.parametrize("mode", manualgrad.JACOBIAN_MODES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("number", list(manualgrad.ALGORITHMS))
def test_worked_example_gradients_equal_the_hand_computation(number, dtype, mode):
    theta, x, y = example(dtype)
    algorithm = manualgrad.ALGORITHMS[number]
    if algorithm.batch:
        x, y = x[None], y[None]
    grads, sens = algorithm(
        theta, x, y, ACTIVATIONS, "mse", jacobian_mode=mode, return_sensitivities=True
    )
    expected, delta2, delta3 = by_hand(dtype)
    assert_grads_close(grads, expected, dtype)
    assert_grads_close(sens.grad_z[0].reshape(3), jnp.array(delta2, dtype), dtype)
    assert_grads_close(sens.grad_z[1].reshape(2), jnp.array(delta3, dtype), dtype)


def test_worked_example_hand_computation_agrees_with_jax_grad():
    theta, x, y = example("float64")
    assert_grads_close(
        reference.grad(theta, x, y, ACTIVATIONS, "mse"), by_hand("float64")[0], "float64"
    )


def test_worked_example_cost_is_125_over_8():
    theta, x, y = example("float64")
    z2 = theta.W[0] @ x + theta.b[0]
    a3 = theta.W[1] @ manualgrad.Sigmoid()(z2) + theta.b[1]
    assert float(manualgrad.MeanSquaredError()(a3, y)) == 125 / 8
