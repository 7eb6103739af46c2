"""Structured Jacobian matrices of activation functions.

The notes write Jac_l = d(sigma_l)_{z_l} as a full matrix. Every activation
used in practice has a Jacobian with far more structure than that: diagonal
for pointwise activations, diagonal minus rank one for softmax, a single row
for global pooling, a scaled identity plus a rank-one or rank-two term for
radial sigmoid and the normalizations. The types here store only that structure and implement
the three operations backpropagation needs:

* ``jac @ v``   (J v, a column vector in, the notes' single-sample form),
* ``jac.T @ v`` (J^T v, eqs. 3.1 and 3.2),
* ``v @ jac``   (v J, a row vector in, the batch-first eqs. 4.1 and 4.2),

plus ``dense()``, which materializes the matrix exactly as the notes write it.

A Jacobian describes one sample. The batch algorithms build one per row with
``jax.vmap``, which is why every type is a pytree whose leaves are its data.
Shapes follow the notes: a Jacobian of sigma: R^n -> R^m has shape (m, n).
"""

from __future__ import annotations

import abc
import dataclasses

import jax
import jax.numpy as jnp

__all__ = [
    "DenseJacobian",
    "DiagonalJacobian",
    "Jacobian",
    "RowJacobian",
    "ScaledIdentityPlusLowRank",
    "SoftmaxJacobian",
]


class Jacobian(abc.ABC):
    """The Jacobian matrix of an activation at one point, in structured form."""

    # Lets ``numpy_array @ jac`` defer to ``Jacobian.__rmatmul__``.
    __array_priority__ = 1000

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, int]:
        """(m, n) for an activation R^n -> R^m."""

    @abc.abstractmethod
    def matvec(self, v: jax.Array) -> jax.Array:
        """J @ v for v of shape (n,); returns shape (m,)."""

    @abc.abstractmethod
    def rmatvec(self, v: jax.Array) -> jax.Array:
        """v @ J (equivalently J^T @ v) for v of shape (m,); returns shape (n,)."""

    @abc.abstractmethod
    def dense(self) -> jax.Array:
        """The full (m, n) matrix, exactly as the notes write Jac_l."""

    @property
    def dtype(self) -> jnp.dtype:
        return jax.tree_util.tree_leaves(self)[0].dtype

    @property
    def T(self) -> _Transposed:
        """The transpose, so that ``jac.T @ v`` reads like eq. 3.2."""
        return _Transposed(self)

    def __matmul__(self, v: jax.Array) -> jax.Array:
        return self.matvec(v)

    def __rmatmul__(self, v: jax.Array) -> jax.Array:
        return self.rmatvec(v)


@dataclasses.dataclass(frozen=True)
class _Transposed:
    """J^T as an operator: ``J^T @ v`` is ``v @ J`` and ``v @ J^T`` is ``J @ v``."""

    jac: Jacobian

    __array_priority__ = 1000

    @property
    def shape(self) -> tuple[int, int]:
        m, n = self.jac.shape
        return (n, m)

    def __matmul__(self, v: jax.Array) -> jax.Array:
        return self.jac.rmatvec(v)

    def __rmatmul__(self, v: jax.Array) -> jax.Array:
        return self.jac.matvec(v)

    def dense(self) -> jax.Array:
        return self.jac.dense().T


def _pytree(cls: type) -> type:
    """Registers a frozen dataclass whose fields are all array leaves."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    return jax.tree_util.register_dataclass(cls, data_fields=names, meta_fields=[])


@_pytree
class DiagonalJacobian(Jacobian):
    """diag(d): the Jacobian of a pointwise activation (Remark 3.2).

    Attributes:
      diag: sigma'(z), shape (n,).
    """

    diag: jax.Array

    @property
    def shape(self) -> tuple[int, int]:
        (n,) = self.diag.shape
        return (n, n)

    def matvec(self, v: jax.Array) -> jax.Array:
        return self.diag * v

    def rmatvec(self, v: jax.Array) -> jax.Array:
        return v * self.diag

    def dense(self) -> jax.Array:
        return jnp.diag(self.diag)


@_pytree
class SoftmaxJacobian(Jacobian):
    """diag(s) - s s^T, the (symmetric) Jacobian of softmax with output s.

    Attributes:
      s: softmax(z), shape (n,).
    """

    s: jax.Array

    @property
    def shape(self) -> tuple[int, int]:
        (n,) = self.s.shape
        return (n, n)

    def matvec(self, v: jax.Array) -> jax.Array:
        return self.s * (v - jnp.dot(self.s, v))

    def rmatvec(self, v: jax.Array) -> jax.Array:
        # The matrix is symmetric.
        return self.matvec(v)

    def dense(self) -> jax.Array:
        return jnp.diag(self.s) - jnp.outer(self.s, self.s)


@_pytree
class RowJacobian(Jacobian):
    """A single row r^T: the (1, n) Jacobian of a pooling R^n -> R^1.

    Attributes:
      row: r, shape (n,). One-hot at the maximum for max pooling, 1/n for
        average pooling.
    """

    row: jax.Array

    @property
    def shape(self) -> tuple[int, int]:
        (n,) = self.row.shape
        return (1, n)

    def matvec(self, v: jax.Array) -> jax.Array:
        return jnp.dot(self.row, v)[None]

    def rmatvec(self, v: jax.Array) -> jax.Array:
        return v[0] * self.row

    def dense(self) -> jax.Array:
        return self.row[None, :]


@_pytree
class ScaledIdentityPlusLowRank(Jacobian):
    """c (I + U V^T): the identity plus a correction of rank k << n, scaled by c.

    The Jacobian of radial sigmoid (rank one), RMS normalization (rank one)
    and layer normalization (rank two); see docs/equations.md. Each product
    costs O(n k), and no n x n matrix is built but by ``dense()``. The scale
    multiplies last, so a product that is exactly zero (layer norm of width
    1, where v - v = 0) comes out exactly zero, whatever c is.

    Attributes:
      scale: c, a scalar (shape ()).
      U: shape (n, k).
      V: shape (n, k).
    """

    scale: jax.Array
    U: jax.Array
    V: jax.Array

    @property
    def shape(self) -> tuple[int, int]:
        n, _ = self.U.shape
        return (n, n)

    def matvec(self, v: jax.Array) -> jax.Array:
        return self.scale * (v + self.U @ (v @ self.V))  # c (v + U (V^T v))

    def rmatvec(self, v: jax.Array) -> jax.Array:
        return self.scale * (v + self.V @ (v @ self.U))  # c (v + V (U^T v)) = (v^T J)^T

    def dense(self) -> jax.Array:
        (n, _) = self.U.shape
        return self.scale * (jnp.eye(n, dtype=self.U.dtype) + self.U @ self.V.T)


@_pytree
class DenseJacobian(Jacobian):
    """A Jacobian with no structure worth keeping (a Custom activation's by jax.jacfwd).

    Attributes:
      matrix: the (m, n) matrix.
    """

    matrix: jax.Array

    @property
    def shape(self) -> tuple[int, int]:
        m, n = self.matrix.shape
        return (m, n)

    def matvec(self, v: jax.Array) -> jax.Array:
        return self.matrix @ v

    def rmatvec(self, v: jax.Array) -> jax.Array:
        return v @ self.matrix

    def dense(self) -> jax.Array:
        return self.matrix
