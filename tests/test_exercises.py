"""Exercises 1-3 of the notes, each worked by hand and checked against manualgrad and JAX.

The closed forms below are written from the formulas, in NumPy, without manualgrad:
Exercise 1's Jacobians of sigmoid, ReLU, arctan, softmax and radial sigmoid, Exercise 2's
pooling Jacobians and their transposes, Exercise 3's transposed differential. Where a
function is not differentiable the tests show it (one-sided difference quotients or
one-sided limits disagree) and check the convention manualgrad and jax.nn follow there.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import manualgrad
import reference

DTYPES = [jnp.float32, jnp.float64]


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def hand_sigmoid(z):
    """(a) diag(s (1 - s)), s = 1 / (1 + e^{-z})."""
    s = _sigmoid(z)
    return np.diag(s * (1 - s))


def hand_relu(z):
    """(b) diag(1[z > 0]); undefined where some z_i = 0 (the tests cover that point)."""
    return np.diag((z > 0).astype(float))


def hand_arctan(z):
    """(c) diag(1 / (1 + z^2))."""
    return np.diag(1 / (1 + z**2))


def hand_softmax(z):
    """(d) ds_i/dz_j = s_i (delta_ij - s_j): diag(s) - s s^T."""
    e = np.exp(z - np.max(z))
    s = e / np.sum(e)
    return np.diag(s) - np.outer(s, s)


def hand_radial_sigmoid(z):
    """(e) sigma(z) = g(r) z / r, r = |z|, g the sigmoid; by the product rule,

    d sigma_i / d z_j = g'(r) (z_j / r) z_i / r + g(r) (delta_ij / r - z_i z_j / r^3).
    """
    r = np.linalg.norm(z)
    g = _sigmoid(r)
    g_prime = g * (1 - g)
    return g_prime * np.outer(z, z) / r**2 + g * (np.eye(z.size) / r - np.outer(z, z) / r**3)


EXERCISE_1 = {
    "sigmoid": hand_sigmoid,
    "relu": hand_relu,
    "arctan": hand_arctan,
    "softmax": hand_softmax,
    "radial_sigmoid": hand_radial_sigmoid,
}


def _manualgrad_jacobian(name, z):
    """manualgrad's Jac at z, dense, under jax.jit."""
    activation = manualgrad.get_activation(name)
    return jax.jit(lambda z: activation.jacobian(z).dense())(z)


#: reference.jacobian (jax.jacfwd of a separately written sigma) under jax.jit.
_reference_jacobian = jax.jit(reference.jacobian, static_argnums=0)


def _close(got, expected, dtype):
    assert got.shape == expected.shape
    assert reference.relative_error(got, expected) < reference.tolerance(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(EXERCISE_1))
def test_exercise_1_jacobian_equals_the_closed_form(name, dtype):
    z = jnp.asarray([0.7, -1.3, 2.1, -0.4, 0.05], dtype)
    expected = EXERCISE_1[name](np.asarray(z, np.float64))
    got = _manualgrad_jacobian(name, z)
    assert got.dtype == dtype
    _close(got, expected, dtype)
    _close(_reference_jacobian(name, z), expected, dtype)


def _one_sided_quotients(f, z, direction, h=1e-7):
    """((f(z + h d) - f(z)) / h, (f(z) - f(z - h d)) / h) in float64."""
    right = (f(z + h * direction) - f(z)) / h
    left = (f(z) - f(z - h * direction)) / h
    return right, left


def test_relu_is_not_differentiable_at_zero_and_follows_jax_there():
    relu = manualgrad.get_activation("relu")
    z = jnp.asarray([0.0, 1.5, -2.0], jnp.float64)
    e0 = jnp.asarray([1.0, 0.0, 0.0], jnp.float64)
    right, left = _one_sided_quotients(relu, z, e0)
    np.testing.assert_allclose(right, [1.0, 0, 0], atol=1e-9)
    np.testing.assert_allclose(left, [0.0, 0, 0], atol=1e-9)  # 1 != 0: no derivative at 0
    # The convention at the kink: relu'(0) = 0, as jax.nn.relu.
    expected = np.diag([0.0, 1.0, 0.0])
    np.testing.assert_array_equal(_manualgrad_jacobian("relu", z), expected)
    np.testing.assert_array_equal(_reference_jacobian("relu", z), expected)


@pytest.mark.parametrize("name", ["sigmoid", "arctan", "softmax"])
def test_smooth_activations_have_matching_one_sided_quotients_at_zero(name):
    """The contrast with relu: both one-sided quotients tend to the Jacobian column."""
    sigma = manualgrad.get_activation(name)
    z = jnp.zeros(3, jnp.float64)
    e0 = jnp.asarray([1.0, 0.0, 0.0], jnp.float64)
    right, left = _one_sided_quotients(sigma, z, e0, h=1e-6)
    column = EXERCISE_1[name](np.zeros(3))[:, 0]
    np.testing.assert_allclose(right, column, atol=1e-6)
    np.testing.assert_allclose(left, column, atol=1e-6)


def test_radial_sigmoid_is_not_continuous_at_zero_and_is_defined_as_zero_there():
    sigma = manualgrad.get_activation("radial_sigmoid")
    zero = jnp.zeros(3, jnp.float64)
    u = jnp.asarray([0.6, 0.0, -0.8], jnp.float64)  # a unit vector
    # The one-sided limits along u disagree: sigma(h u) -> u / 2, sigma(-h u) -> -u / 2,
    # so sigma has a jump at 0 and no differential there.
    np.testing.assert_allclose(sigma(1e-9 * u), u / 2, atol=1e-8)
    np.testing.assert_allclose(sigma(-1e-9 * u), -u / 2, atol=1e-8)
    # The difference quotients grow like 1 / (2h) instead of converging.
    for h in (1e-2, 1e-4, 1e-6):
        right, _ = _one_sided_quotients(sigma, zero, u, h=h)
        assert np.linalg.norm(right) == pytest.approx(_sigmoid(h) / h, rel=1e-9)
    # The convention: sigma(0) = 0 and Jac = 0, in manualgrad and in the reference.
    np.testing.assert_array_equal(sigma(zero), np.zeros(3))
    np.testing.assert_array_equal(_manualgrad_jacobian("radial_sigmoid", zero), np.zeros((3, 3)))
    np.testing.assert_array_equal(_reference_jacobian("radial_sigmoid", zero), np.zeros((3, 3)))


# --- Exercise 2: pooling R^n -> R ----------------------------------------------------------

POOLING = [
    # name, z, the Jacobian row worked by hand
    ("max_pool", [0.3, 2.5, -1.0, 1.2], [0.0, 1.0, 0.0, 0.0]),
    ("avg_pool", [0.3, 2.5, -1.0, 1.2], [0.25, 0.25, 0.25, 0.25]),
    ("max_pool", [2.5, 0.1, 2.5, -3.0], [0.5, 0.0, 0.5, 0.0]),  # a tie: split evenly, as jax
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "z", "row"), POOLING)
def test_exercise_2_pooling_jacobian_is_a_row_and_its_transpose_a_column(name, z, row, dtype):
    z = jnp.asarray(z, dtype)
    expected = np.asarray(row)[None, :]  # shape (1, n)
    jac = jax.jit(manualgrad.get_activation(name).jacobian)(z)
    assert jac.shape == (1, 4)
    _close(jac.dense(), expected, dtype)
    _close(jac.T.dense(), expected.T, dtype)  # the gradient: shape (n, 1)
    _close(_reference_jacobian(name, z), expected, dtype)
    v = jnp.asarray([3.0], dtype)
    _close(jac.T @ v, 3.0 * np.asarray(row), dtype)  # J^T v, as in eq. 3.2


def test_max_pool_is_not_differentiable_at_a_tie():
    pool = manualgrad.get_activation("max_pool")
    z = jnp.asarray([2.5, 0.1, 2.5, -3.0], jnp.float64)
    e0 = jnp.asarray([1.0, 0.0, 0.0, 0.0], jnp.float64)
    right, left = _one_sided_quotients(pool, z, e0)
    np.testing.assert_allclose(right, [1.0], atol=1e-9)
    np.testing.assert_allclose(left, [0.0], atol=1e-9)  # 1 != 0: no derivative at the tie
    # Away from ties max pooling is differentiable: both quotients give the one-hot row.
    z = jnp.asarray([2.5, 0.1, 2.4, -3.0], jnp.float64)
    right, left = _one_sided_quotients(pool, z, e0)
    np.testing.assert_allclose([right, left], [[1.0], [1.0]], atol=1e-9)


# --- Exercise 3: the transposed differential of phi(M) = M @ a + b -----------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_exercise_3_transposed_differential_is_v_a_transpose(dtype):
    rng = np.random.default_rng(0)
    n, m = 3, 4
    a = jnp.asarray(rng.normal(size=m), dtype)
    b = jnp.asarray(rng.normal(size=n), dtype)
    v = jnp.asarray(rng.normal(size=n), dtype)

    @jax.jit
    def transposed_differential(M, v):
        _, vjp = jax.vjp(lambda M: M @ a + b, M)
        return vjp(v)[0]

    expected = np.outer(np.asarray(v, np.float64), np.asarray(a, np.float64))  # v @ a^T
    for _ in range(2):  # two points M: the result does not depend on M
        M = jnp.asarray(rng.normal(size=(n, m)), dtype)
        got = transposed_differential(M, v)
        assert got.shape == (n, m) and got.dtype == dtype
        _close(got, expected, dtype)


def test_eq_3_3_is_exercise_3_applied_to_the_sensitivity():
    """grad_{W_l} L = d(phi)^T(grad_{z_l} L) = grad_{z_l} L @ a_{l-1}^T, in Algorithm 4."""
    activations = ("tanh", "sigmoid")
    rng = np.random.default_rng(0)
    theta = manualgrad.Params(
        (jnp.asarray(rng.normal(size=(4, 3))), jnp.asarray(rng.normal(size=(2, 4)))),
        (jnp.asarray(rng.normal(size=4)), jnp.asarray(rng.normal(size=2))),
    )
    x = jnp.asarray([0.5, -1.0, 2.0], jnp.float64)
    y = jnp.asarray([0.2, 0.7], jnp.float64)
    sens = reference.sensitivities(theta, x, y, activations, "mse")
    grads = manualgrad.backprop_combined(theta, x, y, activations, "mse")
    for l in (1, 2):
        expected = np.outer(sens.grad_z[l - 1], _a(theta, x, l - 1))
        _close(grads.W[l - 1], expected, jnp.float64)


def _a(theta, x, l):
    """a_l of the network (tanh, sigmoid), a_0 = x, in NumPy."""
    a = np.asarray(x)
    for k in range(l):
        z = np.asarray(theta.W[k]) @ a + np.asarray(theta.b[k])
        a = np.tanh(z) if k == 0 else _sigmoid(z)
    return a
