"""Custom activations for the case table: one of each kind a user can bring.

Each is defined once at module level, so it hashes the same in every test
and a compiled program is reused. Their Jacobians are derived by hand here
(the comments give the derivations); the tests compare them with jax.jacfwd
and jax.grad, never with each other.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import manualgrad
from manualgrad import Interval

# --- mish, z tanh(softplus(z)): no Jacobian given, so jax.jacfwd's --------------------------


def mish(z: jax.Array) -> jax.Array:
    return z * jnp.tanh(jax.nn.softplus(z))


MISH = manualgrad.Custom("mish", mish)

# --- scaled tanh, A tanh(B z): pointwise, by hand and from the output ------------------------

_A, _B = 1.7159, 2 / 3


def scaled_tanh(z: jax.Array) -> jax.Array:
    return _A * jnp.tanh(_B * z)


def scaled_tanh_jacobian(z: jax.Array) -> manualgrad.Jacobian:
    t = jnp.tanh(_B * z)
    return manualgrad.DiagonalJacobian(_A * _B * (1 - t * t))  # A B (1 - tanh^2(B z))


def scaled_tanh_jacobian_from_output(a: jax.Array) -> manualgrad.Jacobian:
    t = a / _A  # tanh(B z) = a / A
    return manualgrad.DiagonalJacobian(_A * _B * (1 - t * t))


SCALED_TANH = manualgrad.Custom(
    "scaled_tanh",
    scaled_tanh,
    jacobian=scaled_tanh_jacobian,
    jacobian_from_output=scaled_tanh_jacobian_from_output,
    output_range=Interval(-_A, _A),
    derivative_bound=_A * _B,
)

# --- soft normalize, z / q with q = sqrt(1 + |z|^2): scaled identity plus rank one -----------


def soft_normalize(z: jax.Array) -> jax.Array:
    return z / jnp.sqrt(1 + jnp.sum(z * z, axis=-1, keepdims=True))


def soft_normalize_jacobian(z: jax.Array) -> manualgrad.Jacobian:
    # d(z_i / q)/dz_j = delta_ij / q - z_i z_j / q^3 = (1 / q) (I - z z^T / q^2)_ij,
    # as dq/dz_j = z_j / q.
    q = jnp.sqrt(1 + jnp.sum(z * z))
    u = z[:, None]
    return manualgrad.ScaledIdentityPlusLowRank(1 / q, u, -u / q**2)


SOFT_NORMALIZE = manualgrad.Custom(
    "soft_normalize",
    soft_normalize,
    jacobian=soft_normalize_jacobian,
    output_range=Interval(-1.0, 1.0),
    # The eigenvalues are 1 / q and 1 / q^3, both at most 1 (z = 0).
    derivative_bound=1.0,
)

# --- tanh of the running sum, a_i = tanh(z_1 + ... + z_i): a dense matrix --------------------


def tanh_cumsum(z: jax.Array) -> jax.Array:
    return jnp.tanh(jnp.cumsum(z, axis=-1))


def _tanh_cumsum_from_output(a: jax.Array) -> jax.Array:
    # da_i/dz_j = (1 - a_i^2) for j <= i, 0 above the diagonal.
    (n,) = a.shape
    return (1 - a * a)[:, None] * jnp.tril(jnp.ones((n, n), a.dtype))


def tanh_cumsum_jacobian(z: jax.Array) -> jax.Array:
    return _tanh_cumsum_from_output(tanh_cumsum(z))


TANH_CUMSUM = manualgrad.Custom(
    "tanh_cumsum",
    tanh_cumsum,
    jacobian=tanh_cumsum_jacobian,
    jacobian_from_output=_tanh_cumsum_from_output,
    output_range=Interval(-1.0, 1.0),
)

# --- log-sum-exp pooling R^n -> R^1: a row, softmax(z) ---------------------------------------


def logsumexp_pool(z: jax.Array) -> jax.Array:
    return jax.nn.logsumexp(z, axis=-1, keepdims=True)


def logsumexp_pool_jacobian(z: jax.Array) -> manualgrad.Jacobian:
    return manualgrad.RowJacobian(jax.nn.softmax(z))  # d log sum e^z / dz_j = softmax(z)_j


LOGSUMEXP_POOL = manualgrad.Custom(
    "logsumexp_pool",
    logsumexp_pool,
    jacobian=logsumexp_pool_jacobian,
    output_width=1,
    derivative_bound=1.0,  # ||softmax(z)||_2 <= ||softmax(z)||_1 = 1
)

#: Every custom activation above.
CUSTOM_ACTIVATIONS: tuple[manualgrad.Custom, ...] = (
    MISH,
    SCALED_TANH,
    SOFT_NORMALIZE,
    TANH_CUMSUM,
    LOGSUMEXP_POOL,
)
