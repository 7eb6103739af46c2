"""The one recipe for seeded problems: seed -> (theta, X, Y).

The checker, ``manualgrad verify`` and the tests draw their networks and
batches here and nowhere else, so a seed names the same problem everywhere:

    key_theta, key_x, key_y = jax.random.split(jax.random.PRNGKey(seed), 3)
    theta = manualgrad.init_params(key_theta, dims, activations, dtype=dtype)
    X = jax.random.normal(key_x, (batch_size, n_0), dtype)
    Y = draw_targets(key_y, cost, (batch_size, m_L), dtype)
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import DTypeLike

import manualgrad
from manualgrad import Activation, Cost, Params

__all__ = ["TARGETS", "as_labels", "draw_case", "draw_targets"]

#: How targets are given: probability (or real) rows, or integer labels.
TARGETS = ("probabilities", "labels")


def draw_targets(
    key: jax.Array, cost: str | Cost, shape: tuple[int, ...], dtype: DTypeLike
) -> jax.Array:
    """Targets Y the cost is defined on.

    Cross-entropy gets probability vectors (rows of a softmax), binary
    cross-entropy entries in [0, 1), Huber residuals on both sides of its
    delta (2 x a standard normal), anything else a standard normal.

    Args:
      key: a PRNG key.
      cost: a name or manualgrad cost.
      shape: (N, m_L), or (m_L,) for one sample.
      dtype: a floating dtype.

    Returns:
      An array of ``shape`` and ``dtype``.
    """
    name = manualgrad.get_cost(cost).name
    if name == "cross_entropy":
        return jax.nn.softmax(jax.random.normal(key, shape, dtype), axis=-1)
    if name == "binary_cross_entropy":
        return jax.random.uniform(key, shape, dtype)
    if name == "huber":
        return 2 * jax.random.normal(key, shape, dtype)
    return jax.random.normal(key, shape, dtype)


def as_labels(Y: jax.Array, cost: str | Cost) -> jax.Array:
    """The integer labels that drawn targets stand for.

    Args:
      Y: targets drawn by :func:`draw_targets`, (N, m_L) or (m_L,).
      cost: "cross_entropy" (labels: the class of each row's largest
        probability, shape (N,) or ()) or "binary_cross_entropy" (labels:
        Y >= 1/2 as 0/1, shaped like Y).

    Returns:
      int32 labels.

    Raises:
      ValueError: a cost for which labels mean nothing.
    """
    name = manualgrad.get_cost(cost).name
    if name == "cross_entropy":
        return jnp.argmax(Y, axis=-1).astype(jnp.int32)
    if name == "binary_cross_entropy":
        return (Y >= 0.5).astype(jnp.int32)
    raise ValueError(
        f"labels are class indices for cross_entropy or 0/1 targets for "
        f"binary_cross_entropy; cost {name} has none"
    )


def draw_case(
    seed: int,
    *,
    activations: Sequence[str | Activation],
    cost: str | Cost,
    dims: Sequence[int],
    batch_size: int = 8,
    dtype: DTypeLike = "float64",
    targets: str = "probabilities",
) -> tuple[Params, jax.Array, jax.Array]:
    """The (theta, X, Y) of ``seed``: the recipe in this module's docstring.

    float64 needs 64-bit JAX enabled (``jax.config.update("jax_enable_x64",
    True)`` or ``with jax.enable_x64(True):``).

    Args:
      seed: an integer; the same seed gives the same problem.
      activations: sigma_1..sigma_L, names or manualgrad activations.
      cost: a name or manualgrad cost; it decides the targets' distribution.
      dims: (n_0, ..., n_L).
      batch_size: N, the rows of X and Y.
      dtype: the floating dtype of theta, X and Y.
      targets: "probabilities" (Y as :func:`draw_targets` draws it) or
        "labels" (the same Y as :func:`as_labels` reads it: class indices of
        shape (batch_size,) for cross-entropy, 0/1 integers for binary
        cross-entropy).

    Returns:
      (theta, X of shape (batch_size, n_0), Y of shape (batch_size, m_L), or
      (batch_size,) for class labels).
    """
    if targets not in TARGETS:
        raise ValueError(f"draw_case: targets must be one of {TARGETS}, got {targets!r}")
    theta, X, Y = _draw(
        seed,
        activations=tuple(manualgrad.get_activation(a) for a in activations),
        cost=manualgrad.get_cost(cost),
        dims=tuple(int(n) for n in dims),
        batch_size=int(batch_size),
        dtype=jnp.dtype(dtype).name,
    )
    return (theta, X, as_labels(Y, cost)) if targets == "labels" else (theta, X, Y)


# Op by op, not one jit per network: each random draw compiles once per
# shape and dtype, and the networks of a test suite or of verify share
# their shapes, so a few small kernels serve them all.
def _draw(
    seed: jax.Array,
    *,
    activations: tuple[Activation, ...],
    cost: Cost,
    dims: tuple[int, ...],
    batch_size: int,
    dtype: str,
) -> tuple[Params, jax.Array, jax.Array]:
    key_theta, key_x, key_y = jax.random.split(jax.random.PRNGKey(seed), 3)
    theta = manualgrad.init_params(key_theta, dims, activations, dtype=dtype)
    out_width = activations[-1].output_width(dims[-1])
    X = jax.random.normal(key_x, (batch_size, dims[0]), dtype)
    Y = draw_targets(key_y, cost, (batch_size, out_width), dtype)
    return theta, X, Y
