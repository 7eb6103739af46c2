"""Section 4.3: Algorithm 2 with Phi_l = sum_i E_ii (x) Jac_{i,l}^T built explicitly."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import manualgrad
import reference
from manualgrad import kronecker
from tests._cases import random_params

CASES = [
    pytest.param(dims, acts, cost, dtype, id=f"{'-'.join(acts)}-{cost}-{jnp.dtype(dtype).name}")
    for dims, acts, cost, dtype in [
        ((3, 4, 3), ("relu", "softmax"), "cross_entropy", jnp.float64),
        ((2, 3, 3, 2), ("radial_sigmoid", "arctan", "identity"), "huber", jnp.float32),
        ((3, 4, 1), ("elu", "max_pool"), "mse", jnp.float64),
        ((3, 5, 1, 2), ("softplus", "avg_pool", "sigmoid"), "binary_cross_entropy", jnp.float64),
        ((3, 4, 4, 3), ("layer_norm", "rms_norm", "softmax"), "cross_entropy", jnp.float64),
    ]
]


def _case(dims, activations, dtype, rows=4, seed=0):
    rng = np.random.default_rng(seed)
    theta = random_params(rng, dims, activations, dtype=dtype)
    out = manualgrad.get_activation(activations[-1]).output_width(dims[-1])
    X = jnp.asarray(rng.normal(size=(rows, dims[0])), dtype)
    Y = jnp.asarray(rng.uniform(0.1, 0.9, size=(rows, out)), dtype)
    if activations[-1] == "softmax":
        Y = Y / jnp.sum(Y, axis=1, keepdims=True)
    return theta, X, Y


def test_vec_is_the_tensor_sum_of_rows():
    """M <-> sum_i e_i (x) M[i]^T, written literally with jnp.kron."""
    M = jnp.arange(12.0).reshape(3, 4)
    e = jnp.eye(3)
    tensor = sum(jnp.kron(e[i], M[i]) for i in range(3))
    np.testing.assert_array_equal(kronecker.vec(M), tensor)
    np.testing.assert_array_equal(kronecker.unvec(tensor, 3), M)


@pytest.mark.parametrize(("m", "n"), [(3, 3), (1, 4)], ids=["square", "pooling"])
def test_block_diagonal_operator_applies_each_jacobian_to_its_row(m, n):
    N = 3
    rng = np.random.default_rng(0)
    jacobians = jnp.asarray(rng.normal(size=(N, m, n)))
    G = jnp.asarray(rng.normal(size=(N, m)))
    phi = kronecker.block_diagonal_operator(jacobians)
    assert phi.shape == (N * n, N * m)
    for i in range(N):
        for k in range(N):
            block = phi[i * n : (i + 1) * n, k * m : (k + 1) * m]
            np.testing.assert_array_equal(block, jacobians[i].T if i == k else 0)
    rows = np.einsum("im,imn->in", G, jacobians)  # G[i] @ Jac_i, eqs. 4.1 and 4.2
    np.testing.assert_allclose(kronecker.unvec(phi @ kronecker.vec(G), N), rows, rtol=1e-14)


def test_linear_operator_is_right_multiplication_by_w():
    rng = np.random.default_rng(1)
    W = jnp.asarray(rng.normal(size=(4, 3)))
    M = jnp.asarray(rng.normal(size=(5, 4)))
    got = kronecker.unvec(kronecker.linear_operator(W, 5) @ kronecker.vec(M), 5)
    np.testing.assert_allclose(got, M @ W, rtol=1e-14)


@pytest.mark.parametrize(("dims", "activations", "cost", "dtype"), CASES)
def test_kronecker_form_equals_algorithm_2_and_jax_grad(dims, activations, cost, dtype):
    theta, X, Y = _case(dims, activations, dtype)
    grads, sens = kronecker.backprop_kronecker(
        theta, X, Y, activations, cost, return_sensitivities=True
    )
    tol = reference.tolerance(dtype)
    assert all(g.dtype == dtype for g in jax.tree_util.tree_leaves((grads, sens)))
    alg2_grads, alg2_sens = manualgrad.backprop_batch(
        theta, X, Y, activations, cost, return_sensitivities=True
    )
    assert reference.relative_error(grads, alg2_grads) < tol
    assert reference.relative_error(grads, reference.grad(theta, X, Y, activations, cost)) < tol
    assert reference.relative_error(sens.grad_z, alg2_sens.grad_z) < tol
    assert reference.relative_error(sens.grad_a, alg2_sens.grad_a) < tol


def test_kronecker_form_composes_with_an_outer_jit():
    activations = ("tanh", "identity")
    theta, X, Y = _case((2, 3, 2), activations, jnp.float64)
    jitted = jax.jit(kronecker.backprop_kronecker, static_argnums=(3, 4))
    got = jitted(theta, X, Y, activations, "mse")
    expected = reference.grad(theta, X, Y, activations, "mse")
    assert reference.relative_error(got, expected) < reference.tolerance(jnp.float64)


def test_operator_over_the_size_limit_is_refused_with_its_size():
    activations = ("relu", "softmax")
    theta, X, Y = _case((3, 4, 3), activations, jnp.float64, rows=4)
    # Phi_1 is (4 * 4) x (4 * 4) = 256 entries, the largest operator here.
    with pytest.raises(ValueError, match=r"Phi_1 would be a 16 x 16 matrix \(256 entries\)"):
        kronecker.backprop_kronecker(theta, X, Y, activations, "mse", max_operator_entries=255)
    got = kronecker.backprop_kronecker(theta, X, Y, activations, "mse", max_operator_entries=256)
    expected = manualgrad.backprop_batch(theta, X, Y, activations, "mse")
    assert reference.relative_error(got, expected) < reference.tolerance(jnp.float64)


def test_single_sample_input_is_refused():
    activations = ("tanh", "identity")
    theta, X, Y = _case((3, 4, 2), activations, jnp.float64)
    with pytest.raises(ValueError, match="X must be a batch of rows"):
        kronecker.backprop_kronecker(theta, X[0], Y[0], activations, "mse")
