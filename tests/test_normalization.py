"""Layer and RMS normalization: the hand derivations of docs/equations.md, checked.

The closed forms below are written from the derivation, entry by entry in
NumPy, without manualgrad: for layer norm with s = sqrt(var z + eps),

    d a_i / d z_j = (delta_ij - 1/n) / s - (z_i - mean z)(z_j - mean z) / (n s^3),

and for RMS norm with s = sqrt(mean(z^2) + eps),

    d a_i / d z_j = delta_ij / s - z_i z_j / (n s^3).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import manualgrad
import reference
from tests._cases import DTYPES, assert_grads_close

NORMS = [
    manualgrad.LayerNorm(),
    manualgrad.LayerNorm(eps=0.3),
    manualgrad.RMSNorm(),
    manualgrad.RMSNorm(eps=0.3),
]
IDS = [repr(a) for a in NORMS]


def hand_jacobian(activation, z):
    """The entries of the derivation above, in float64 NumPy."""
    z = np.asarray(z, np.float64)
    n = z.size
    if activation.name == "layer_norm":
        c = z - z.mean()
        s = np.sqrt(np.mean(c**2) + activation.eps)
        return np.array(
            [
                [((i == j) - 1 / n) / s - c[i] * c[j] / (n * s**3) for j in range(n)]
                for i in range(n)
            ]
        )
    s = np.sqrt(np.mean(z**2) + activation.eps)
    return np.array([[(i == j) / s - z[i] * z[j] / (n * s**3) for j in range(n)] for i in range(n)])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", NORMS, ids=IDS)
def test_jacobian_is_the_hand_derivation(activation, dtype):
    z = jnp.asarray([0.7, -1.3, 2.1, -0.4, 0.05], dtype)
    expected = hand_jacobian(activation, z)
    jac = jax.jit(lambda z: activation.jacobian(z))(z)
    assert type(jac) is manualgrad.ScaledIdentityPlusLowRank
    assert jac.dense().dtype == jnp.dtype(dtype)
    for got in (jac.dense(), reference.jacobian(activation, z)):
        assert reference.relative_error(got, expected) < reference.tolerance(dtype)


@pytest.mark.parametrize("activation", NORMS, ids=IDS)
def test_forward_is_the_definition(activation):
    z = np.array([0.7, -1.3, 2.1, -0.4, 0.05])
    if activation.name == "layer_norm":
        expected = (z - z.mean()) / np.sqrt(np.mean((z - z.mean()) ** 2) + activation.eps)
    else:
        expected = z / np.sqrt(np.mean(z**2) + activation.eps)
    np.testing.assert_allclose(activation(jnp.asarray(z)), expected, rtol=1e-14)
    batch = activation(jnp.asarray(np.stack([z, 2 * z])))  # the last axis of a batch
    np.testing.assert_allclose(batch[0], expected, rtol=1e-14)


def _spectral_norm(activation, z):
    return float(np.linalg.norm(np.asarray(reference.jacobian(activation, z)), 2))


@pytest.mark.parametrize("activation", NORMS, ids=IDS)
def test_derivative_bound_is_the_sup_of_the_jacobian_norm(activation):
    """||Jac||_2 = 1/s <= 1/sqrt(eps) everywhere, with equality where the moment is 0."""
    bound = activation.derivative_bound
    assert bound == pytest.approx(1 / math.sqrt(activation.eps), rel=1e-15)
    assert bound >= 1 / math.sqrt(activation.eps)
    # The sup: a constant z for layer norm (var = 0), z = 0 for RMS norm.
    flat = jnp.full(6, 0.7) if activation.name == "layer_norm" else jnp.zeros(6)
    assert _spectral_norm(activation, flat) == pytest.approx(bound, rel=1e-12)
    rng = np.random.default_rng(0)
    for scale in (1e-4, 1e-2, 1.0, 10.0):
        for n in (1, 2, 3, 8):
            z = jnp.asarray(scale * rng.normal(size=n))
            norm = _spectral_norm(activation, z)
            assert norm <= bound * (1 + 1e-12)
            if n >= 3:  # one direction at least is orthogonal to 1 and a: there ||Jac|| = 1/s
                m2 = np.var(z) if activation.name == "layer_norm" else np.mean(np.square(z))
                assert norm == pytest.approx(1 / np.sqrt(m2 + activation.eps), rel=1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["layer_norm", "rms_norm"])
def test_the_output_gives_the_scale_only_with_too_few_digits(name, dtype):
    # From a alone: mean(a^2) = m2 / (m2 + eps), so 1/s = sqrt((1 - mean(a^2)) / eps).
    # 1 - mean(a^2) = eps / s^2 is tiny next to 1, and the subtraction cancels the
    # digits: the recovered 1/s misses the tolerance, the Jacobian from z does not.
    activation = manualgrad.get_activation(name)
    spread = 100.0 if dtype == "float64" else 1.0  # m2 ~ 1e4 or ~ 1
    z = jnp.asarray(spread * np.random.default_rng(1).normal(size=8) + 0.5, dtype)
    a = activation(z)
    from_output = np.sqrt((1 - np.mean(np.square(np.asarray(a, np.float64)))) / activation.eps)
    z64 = np.asarray(z, np.float64)
    m2 = np.var(z64) if name == "layer_norm" else np.mean(np.square(z64))
    exact = 1 / np.sqrt(m2 + activation.eps)
    assert abs(from_output - exact) / exact > 10 * reference.tolerance(dtype)
    expected = hand_jacobian(activation, z)
    assert reference.relative_error(activation.jacobian(z).dense(), expected) < reference.tolerance(
        dtype
    )


@pytest.mark.parametrize("name", ["layer_norm", "rms_norm"])
def test_the_degenerate_widths_are_as_accurate_as_their_conditioning_allows(name):
    # Layer norm of width 2 is +-(1, -1) / sqrt(1 + eps / var), RMS norm of width 1
    # is +-1 / sqrt(1 + eps / z^2): nearly constant. Their Jacobian is the closed form
    # eps / s^3 w w^T / |w|^2, w = (1, -1) or (1), with no cancellation in it; the
    # structured formula and jax.grad both reach it as a difference of terms of size
    # 1 / s, so both lose a factor (m2 + eps) / eps of float64 precision, no more.
    activation = manualgrad.get_activation(name)
    w = np.array([1.0, -1.0]) if name == "layer_norm" else np.array([1.0])
    jitted = jax.jit(lambda z: activation.jacobian(z).dense())
    rng = np.random.default_rng(0)
    for scale in (0.01, 1.0, 100.0):
        for _ in range(10):
            z = scale * rng.normal(size=w.size)
            m2 = np.var(z) if name == "layer_norm" else np.mean(z**2)
            s = np.sqrt(m2 + activation.eps)
            exact = activation.eps / s**3 * np.outer(w, w) / (w @ w)
            bound = 100 * np.finfo(np.float64).eps * (m2 + activation.eps) / activation.eps
            for got in (jitted(jnp.asarray(z)), reference.jacobian(activation, z)):
                assert reference.relative_error(got, exact) < bound


@pytest.mark.parametrize("number", list(manualgrad.ALGORITHMS))
@pytest.mark.parametrize("name", ["layer_norm", "rms_norm"])
def test_a_layer_at_the_singular_point_gives_no_nan(name, number):
    # x = 0 and equal biases make z_1 constant: var = 0 (and z_1 = 0 for RMS norm),
    # where only eps keeps 1/s finite.
    dtype = "float64"
    theta = manualgrad.init_params(jax.random.PRNGKey(0), (3, 4, 2), dtype=dtype)
    bias = jnp.zeros(4, dtype) if name == "rms_norm" else jnp.full(4, 0.3, dtype)
    theta = manualgrad.Params(theta.W, (bias, theta.b[1]))
    x, y = jnp.zeros(3, dtype), jnp.array([0.5, -0.5], dtype)
    acts = (name, "identity")
    algorithm = manualgrad.ALGORITHMS[number]
    X, Y = (x[None], y[None]) if algorithm.batch else (x, y)
    got = algorithm(theta, X, Y, acts, "mse")
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree_util.tree_leaves(got))
    assert_grads_close(got, reference.grad(theta, X, Y, acts, "mse"), dtype)


@pytest.mark.parametrize("eps", [0.0, -1e-5, math.inf, math.nan, "1e-5"])
@pytest.mark.parametrize("cls", [manualgrad.LayerNorm, manualgrad.RMSNorm])
def test_eps_must_be_positive(cls, eps):
    with pytest.raises(ValueError, match=f"{cls.__name__}: eps must be a positive number"):
        cls(eps=eps)


def test_defaults_names_and_hashing():
    assert manualgrad.get_activation("layer_norm") == manualgrad.LayerNorm(eps=1e-5)
    assert manualgrad.get_activation("rms_norm") == manualgrad.RMSNorm(eps=1e-6)
    assert hash(manualgrad.LayerNorm(eps=0.1)) == hash(manualgrad.LayerNorm(eps=0.1))
    assert manualgrad.LayerNorm(eps=0.1) != manualgrad.LayerNorm(eps=0.2)
    for activation in NORMS:
        assert activation.smooth and not activation.has_output_jacobian
        assert activation.output_width(5) == 5
