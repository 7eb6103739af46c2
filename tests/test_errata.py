"""Each correction of docs/ERRATA.md: the literal line fails, the corrected one is right.

The transcriptions below are written from the pseudo-code with jax.jacfwd
Jacobians (``reference.jacobian``), independent of manualgrad's, and take a
switch that puts the typo back. Each test first checks that the corrected
transcription equals jax.grad, so a failure of the literal one is the typo's
doing and not the transcription's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import manualgrad
import reference

DTYPE = "float64"
TOL = reference.tolerance(DTYPE)


def sample(dims, activations, *, seed=0, rows=None):
    """theta, x, y by reference.draw_case (mse targets); one sample when rows is None."""
    with jax.disable_jit():
        theta, X, Y = reference.draw_case(
            seed, activations=activations, cost="mse", dims=dims, batch_size=rows or 1, dtype=DTYPE
        )
    return (theta, X[0], Y[0]) if rows is None else (theta, X, Y)


def sigma_of(activations):
    return [manualgrad.Identity(), *map(manualgrad.get_activation, activations)]


def algorithm4(theta, x, y, activations, *, literal=()):
    """Algorithm 4 with mse. literal: 'E1' (Jacobian of sigma_L), 'E3' (W_{l-1})."""
    W, b, sigma, L = [None, *theta.W], [None, *theta.b], sigma_of(activations), len(theta.W)
    a, z, jac = [x], [None], [None]
    for l in range(1, L + 1):
        z.append(W[l] @ a[l - 1] + b[l])
        a.append(sigma[l](z[l]))
        jac.append(reference.jacobian(sigma[L] if "E1" in literal else sigma[l], z[l]))
    grad_a, grad_W, grad_b = {L: a[L] - y}, {}, {}
    for l in range(L, 0, -1):
        grad_z = jac[l].T @ grad_a[l]
        grad_a[l - 1] = (W[l - 1] if "E3" in literal else W[l]).T @ grad_z
        grad_W[l] = jnp.outer(grad_z, a[l - 1])
        grad_b[l] = grad_z
    return manualgrad.Params(
        tuple(grad_W[l] for l in range(1, L + 1)), tuple(grad_b[l] for l in range(1, L + 1))
    )


def algorithm1(theta, x, y, activations, *, literal=()):
    """Algorithm 1 with mse. literal: 'E2' (sigma_L(x)), 'E8' (no biases)."""
    W, b, sigma, L = [None, *theta.W], [None, *theta.b], sigma_of(activations), len(theta.W)
    z, jac = [x], [reference.jacobian(sigma[0], x)]
    for l in range(1, L + 1):
        bias = 0 if "E8" in literal else b[l]
        z.append(W[l] @ sigma[l - 1](z[l - 1]) + bias)
        jac.append(reference.jacobian(sigma[l], z[l]))
    y_hat = sigma[L](x) if "E2" in literal else sigma[L](z[L])
    grad_z = {L: jac[L].T @ (y_hat - y)}
    grad_W, grad_b = {}, {}
    for l in range(L, 0, -1):
        grad_z[l - 1] = jac[l - 1].T @ W[l].T @ grad_z[l]
        grad_W[l] = jnp.outer(grad_z[l], sigma[l - 1](z[l - 1]))
        grad_b[l] = grad_z[l]
    return manualgrad.Params(
        tuple(grad_W[l] for l in range(1, L + 1)), tuple(grad_b[l] for l in range(1, L + 1))
    )


def algorithm2(theta, X, Y, activations, *, literal=()):
    """Algorithm 2 with mse.

    literal: 'E5' (only Jac_{i,L} exists), 'E6' (one target y for all rows),
    'E7' (sigma_l instead of sigma_{l-1} in grad_W).
    """
    W, b, sigma, L = [None, *theta.W], [None, *theta.b], sigma_of(activations), len(theta.W)
    N = X.shape[0]
    Z = [X]
    for l in range(1, L + 1):
        Z.append(sigma[l - 1](Z[l - 1]) @ W[l].T + b[l][None, :])

    def jac(l, i):
        return reference.jacobian(sigma[l], Z[l][i])

    target = jnp.broadcast_to(Y[0], Y.shape) if "E6" in literal else Y
    G = sigma[L](Z[L]) - target
    grad_Z = {L: jnp.stack([G[i] @ jac(L, i) for i in range(N)])}
    grad_W, grad_b = {}, {}
    for l in range(L, 0, -1):
        jac_prev = (lambda i: jac(L, i)) if "E5" in literal else (lambda i, l=l: jac(l - 1, i))
        grad_Z[l - 1] = jnp.stack([grad_Z[l][i] @ W[l] @ jac_prev(i) for i in range(N)])
        applied = sigma[l] if "E7" in literal else sigma[l - 1]
        grad_W[l] = grad_Z[l].T @ applied(Z[l - 1])
        grad_b[l] = grad_Z[l].T @ jnp.ones(N, DTYPE)
    return manualgrad.Params(
        tuple(grad_W[l] for l in range(1, L + 1)), tuple(grad_b[l] for l in range(1, L + 1))
    )


def differs(got, expected) -> bool:
    return reference.relative_error(got, expected) > 1e-3


# Square layers, so that a literal line that mixes up layers still runs.
SQUARE = ((4, 4, 4, 4), ("tanh", "relu", "softmax"))
NON_SQUARE = ((3, 5, 4, 2), ("tanh", "relu", "softmax"))


def test_E1_jacobian_of_sigma_L_at_every_layer_gives_wrong_gradient():
    theta, x, y = sample(*SQUARE)
    expected = reference.grad(theta, x, y, SQUARE[1], "mse")
    assert reference.relative_error(algorithm4(theta, x, y, SQUARE[1]), expected) < TOL
    assert differs(algorithm4(theta, x, y, SQUARE[1], literal=("E1",)), expected)


def test_E2_sigma_L_of_x_is_wrong_shape_or_wrong_gradient():
    theta, x, y = sample(*NON_SQUARE)
    expected = reference.grad(theta, x, y, NON_SQUARE[1], "mse")
    assert reference.relative_error(algorithm1(theta, x, y, NON_SQUARE[1]), expected) < TOL
    with pytest.raises((TypeError, ValueError)):
        algorithm1(theta, x, y, NON_SQUARE[1], literal=("E2",))
    theta, x, y = sample(*SQUARE)
    expected = reference.grad(theta, x, y, SQUARE[1], "mse")
    assert differs(algorithm1(theta, x, y, SQUARE[1], literal=("E2",)), expected)


def test_E3_w_l_minus_1_in_grad_a_has_no_layer_0_and_wrong_shapes():
    for dims, activations in (NON_SQUARE, SQUARE):
        theta, x, y = sample(dims, activations)
        expected = reference.grad(theta, x, y, activations, "mse")
        assert reference.relative_error(algorithm4(theta, x, y, activations), expected) < TOL
        # W_0 does not exist, and W_{l-1} does not fit grad_z_l unless square.
        with pytest.raises((TypeError, ValueError, AttributeError)):
            algorithm4(theta, x, y, activations, literal=("E3",))


def test_E4_E5_algorithm_2_with_only_jac_i_L_is_wrong():
    theta, X, Y = sample(*SQUARE, rows=3)
    expected = reference.grad(theta, X, Y, SQUARE[1], "mse")
    assert reference.relative_error(algorithm2(theta, X, Y, SQUARE[1]), expected) < TOL
    assert differs(algorithm2(theta, X, Y, SQUARE[1], literal=("E5",)), expected)
    theta, X, Y = sample(*NON_SQUARE, rows=3)
    with pytest.raises((TypeError, ValueError)):
        algorithm2(theta, X, Y, NON_SQUARE[1], literal=("E5",))


def test_E6_single_sample_target_in_batch_gradient_is_wrong():
    theta, X, Y = sample(*NON_SQUARE, rows=3)
    expected = reference.grad(theta, X, Y, NON_SQUARE[1], "mse")
    assert reference.relative_error(algorithm2(theta, X, Y, NON_SQUARE[1]), expected) < TOL
    assert differs(algorithm2(theta, X, Y, NON_SQUARE[1], literal=("E6",)), expected)


def test_E7_weight_gradient_needs_sigma_l_minus_1():
    theta, X, Y = sample(*SQUARE, rows=3)
    expected = reference.grad(theta, X, Y, SQUARE[1], "mse")
    assert differs(algorithm2(theta, X, Y, SQUARE[1], literal=("E7",)), expected)


def test_E8_forward_pass_without_biases_is_wrong():
    theta, x, y = sample(*NON_SQUARE)
    expected = reference.grad(theta, x, y, NON_SQUARE[1], "mse")
    assert differs(algorithm1(theta, x, y, NON_SQUARE[1], literal=("E8",)), expected)


def test_E10_jacobian_of_layer_l_is_n_l_by_n_l_not_n_L_by_n_L():
    theta, x, _ = sample(*NON_SQUARE)
    z1 = theta.W[0] @ x + theta.b[0]
    assert manualgrad.get_activation("tanh").jacobian(z1).shape == (5, 5)
    with pytest.raises((TypeError, ValueError)):
        # An n_L x n_L matrix (n_L = 2) cannot act on grad_a_1 of width 5.
        jnp.eye(2, dtype=DTYPE).T @ (theta.W[1].T @ jnp.ones(4, DTYPE))


def test_E11_kronecker_product_in_section_4_3_is_a_matrix_product():
    grad_Z = jnp.ones((3, 4), DTYPE)  # N = 3, n_l = 4
    W = jnp.ones((4, 5), DTYPE)  # n_l x n_{l-1}
    assert (grad_Z @ W).shape == (3, 5)
    assert jnp.kron(grad_Z, W).shape != (3, 5)


def test_E12_max_pool_jacobian_is_a_row_not_a_column():
    z = jnp.array([0.3, 2.0, -1.0], DTYPE)
    jac = reference.jacobian("max_pool", z)
    assert jac.shape == (1, 3)
    assert manualgrad.MaxPool().jacobian(z).shape == (1, 3)
    grad_a = jnp.array([1.5], DTYPE)
    assert (jac.T @ grad_a).shape == (3,)
    column = jac.T  # The hint's "column vector", (n, 1), taken as Jac ...
    with pytest.raises((TypeError, ValueError)):
        column.T @ grad_a  # ... makes eq. 3.1's Jac^T @ grad_a ill-shaped.
