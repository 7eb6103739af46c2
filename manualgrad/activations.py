"""Activation functions sigma_l: R^{n_l} -> R^{m_l} with hand-derived Jacobians.

Each activation is a frozen dataclass: hashable, so a tuple of them is a
static argument of ``jax.jit``, and its parameters (a leaky slope, an ELU
alpha) are part of its identity. An activation

* applies to the last axis, so ``sigma(z)`` serves a sample (n,) and
  a batch (N, n) alike (the notes apply sigma_l "to the rows");
* gives its Jacobian at one sample, ``jacobian(z)``, in structured form
  (see :mod:`manualgrad.jacobians`);
* where the mathematics allows, gives the same Jacobian from the output
  a = sigma(z) alone (``jacobian_from_output``), which is what lets
  Algorithm 3 cache post-activations only.

Derivatives at kinks follow ``jax.nn``: relu'(0) = 0, hard_tanh'(+-1) = 1,
leaky_relu'(0) = 1, elu'(0) = alpha. Radial sigmoid is discontinuous at
z = 0 (its norm tends to 1/2); there we define sigma(0) = 0 and Jac = 0.
Max pooling at a tie splits the derivative evenly among the tied maxima,
as ``jax.grad`` of ``jnp.max`` does; without a tie the row is the one-hot
vector of Exercise 2.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax.scipy.special import erf

from manualgrad._interval import REALS, Interval
from manualgrad.jacobians import (
    DenseJacobian,
    DiagonalJacobian,
    Jacobian,
    RowJacobian,
    SoftmaxJacobian,
)

__all__ = [
    "ACTIVATIONS",
    "ELU",
    "GELU",
    "Activation",
    "Arctan",
    "AvgPool",
    "HardTanh",
    "Identity",
    "LeakyReLU",
    "MaxPool",
    "Pointwise",
    "RadialSigmoid",
    "ReLU",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "get_activation",
]


@dataclasses.dataclass(frozen=True)
class Activation(abc.ABC):
    """An activation sigma: R^n -> R^m applied to the last axis."""

    name: ClassVar[str]
    #: sup over z of the spectral norm of d(sigma)_z: Theorem 16's r, which is
    #: sup |phi'| for a pointwise phi. Infinite where no finite bound exists.
    derivative_bound: ClassVar[float] = math.inf
    #: Where every coordinate of sigma(z) lies; a cost reads it to know
    #: whether it is defined on this activation's outputs.
    output_range: ClassVar[Interval] = REALS
    #: Whether sigma is twice differentiable everywhere a random draw can
    #: land: a central difference of a smooth sigma converges at second order.
    #: Not smooth: a kink (relu at 0) or a tie (max pooling).
    smooth: ClassVar[bool] = True

    @abc.abstractmethod
    def __call__(self, z: jax.Array) -> jax.Array:
        """sigma(z) for z of shape (..., n); returns shape (..., m)."""

    def near_kink(self, z: jax.Array, radius: float) -> jax.Array:
        """Which entries of z lie within ``radius`` of a point where sigma is not smooth.

        A difference quotient of step ``radius`` at such an entry straddles
        the kink and is no derivative there.

        Args:
          z: pre-activations, shape (..., n).
          radius: the distance, e.g. a finite-difference step.

        Returns:
          A boolean array shaped like ``z``; all False for a smooth sigma.
        """
        del radius
        return jnp.zeros(jnp.shape(z), dtype=bool)

    @abc.abstractmethod
    def jacobian(self, z: jax.Array) -> Jacobian:
        """d(sigma)_z for one sample z of shape (n,), shape (m, n)."""

    @property
    def has_output_jacobian(self) -> bool:
        """Whether ``jacobian_from_output`` is available."""
        return False

    def jacobian_from_output(self, a: jax.Array) -> Jacobian:
        """d(sigma)_z from a = sigma(z) alone, for one sample a of shape (m,)."""
        raise NotImplementedError(
            f"activation {self.name!r} cannot recover its Jacobian from its output"
        )

    def output_width(self, n: int) -> int:
        """m, the width of sigma(z) for z of width n."""
        return n

    def __str__(self) -> str:
        return self.name


@dataclasses.dataclass(frozen=True)
class Pointwise(Activation):
    """A scalar function phi applied to every coordinate; Jac = diag(phi'(z))."""

    @abc.abstractmethod
    def derivative(self, z: jax.Array) -> jax.Array:
        """phi'(z), elementwise."""

    def derivative_from_output(self, a: jax.Array) -> jax.Array:
        """phi'(z) written in terms of a = phi(z), where possible."""
        raise NotImplementedError

    #: The points where phi is not twice differentiable (its derivative, or
    #: for ELU with alpha = 1 its curvature, jumps); () for a smooth phi.
    kinks: ClassVar[tuple[float, ...]] = ()

    @property
    def smooth(self) -> bool:  # type: ignore[override]
        return not self.kinks

    def near_kink(self, z: jax.Array, radius: float) -> jax.Array:
        z = jnp.asarray(z)
        near = jnp.zeros(z.shape, dtype=bool)
        for kink in self.kinks:
            near = near | (jnp.abs(z - kink) <= radius)
        return near

    def jacobian(self, z: jax.Array) -> Jacobian:
        return DiagonalJacobian(self.derivative(z))

    def jacobian_from_output(self, a: jax.Array) -> Jacobian:
        if not self.has_output_jacobian:
            return super().jacobian_from_output(a)
        return DiagonalJacobian(self.derivative_from_output(a))


def _ones_like(z: jax.Array) -> jax.Array:
    return jnp.ones_like(z)


@dataclasses.dataclass(frozen=True)
class Identity(Pointwise):
    name: ClassVar[str] = "identity"
    derivative_bound: ClassVar[float] = 1.0
    has_output_jacobian: ClassVar[bool] = True

    def __call__(self, z: jax.Array) -> jax.Array:
        return z

    def derivative(self, z: jax.Array) -> jax.Array:
        return _ones_like(z)

    def derivative_from_output(self, a: jax.Array) -> jax.Array:
        return _ones_like(a)


@dataclasses.dataclass(frozen=True)
class Sigmoid(Pointwise):
    """1 / (1 + e^{-z}); sigma' = sigma (1 - sigma) (Exercise 1a)."""

    name: ClassVar[str] = "sigmoid"
    output_range: ClassVar[Interval] = Interval(0.0, 1.0)
    derivative_bound: ClassVar[float] = 0.25
    has_output_jacobian: ClassVar[bool] = True

    def __call__(self, z: jax.Array) -> jax.Array:
        return jax.nn.sigmoid(z)

    def derivative(self, z: jax.Array) -> jax.Array:
        return self.derivative_from_output(jax.nn.sigmoid(z))

    def derivative_from_output(self, a: jax.Array) -> jax.Array:
        return a * (1 - a)


@dataclasses.dataclass(frozen=True)
class Tanh(Pointwise):
    """tanh z; tanh' = 1 - tanh^2."""

    name: ClassVar[str] = "tanh"
    output_range: ClassVar[Interval] = Interval(-1.0, 1.0)
    derivative_bound: ClassVar[float] = 1.0
    has_output_jacobian: ClassVar[bool] = True

    def __call__(self, z: jax.Array) -> jax.Array:
        return jnp.tanh(z)

    def derivative(self, z: jax.Array) -> jax.Array:
        return self.derivative_from_output(jnp.tanh(z))

    def derivative_from_output(self, a: jax.Array) -> jax.Array:
        return 1 - a * a


@dataclasses.dataclass(frozen=True)
class ReLU(Pointwise):
    """max(0, z); relu' = 1 for z > 0 and 0 otherwise, relu'(0) = 0 (Exercise 1b)."""

    name: ClassVar[str] = "relu"
    output_range: ClassVar[Interval] = Interval(0.0, math.inf, closed_low=True)
    kinks: ClassVar[tuple[float, ...]] = (0.0,)
    derivative_bound: ClassVar[float] = 1.0
    has_output_jacobian: ClassVar[bool] = True

    def __call__(self, z: jax.Array) -> jax.Array:
        return jax.nn.relu(z)

    def derivative(self, z: jax.Array) -> jax.Array:
        return (z > 0).astype(z.dtype)

    def derivative_from_output(self, a: jax.Array) -> jax.Array:
        # a > 0 exactly when z > 0.
        return (a > 0).astype(a.dtype)


@dataclasses.dataclass(frozen=True)
class HardTanh(Pointwise):
    """max(-1, min(1, z)); derivative 1 on [-1, 1], 0 outside.

    No output form: a = 1 comes from every z >= 1, where the derivative is 1
    at z = 1 only.
    """

    name: ClassVar[str] = "hard_tanh"
    output_range: ClassVar[Interval] = Interval(-1.0, 1.0, closed_low=True, closed_high=True)
    kinks: ClassVar[tuple[float, ...]] = (-1.0, 1.0)
    derivative_bound: ClassVar[float] = 1.0

    def __call__(self, z: jax.Array) -> jax.Array:
        return jax.nn.hard_tanh(z)

    def derivative(self, z: jax.Array) -> jax.Array:
        return ((z >= -1) & (z <= 1)).astype(z.dtype)


@dataclasses.dataclass(frozen=True)
class Arctan(Pointwise):
    """arctan z; arctan' = 1 / (1 + z^2) = cos^2(arctan z) (Exercise 1c)."""

    name: ClassVar[str] = "arctan"
    output_range: ClassVar[Interval] = Interval(-math.pi / 2, math.pi / 2)
    derivative_bound: ClassVar[float] = 1.0
    has_output_jacobian: ClassVar[bool] = True

    def __call__(self, z: jax.Array) -> jax.Array:
        return jnp.arctan(z)

    def derivative(self, z: jax.Array) -> jax.Array:
        return 1 / (1 + z * z)

    def derivative_from_output(self, a: jax.Array) -> jax.Array:
        return jnp.cos(a) ** 2


@dataclasses.dataclass(frozen=True)
class LeakyReLU(Pointwise):
    """z for z >= 0, slope * z otherwise; derivative 1 at 0, as jax.nn."""

    negative_slope: float = 0.01
    name: ClassVar[str] = "leaky_relu"
    kinks: ClassVar[tuple[float, ...]] = (0.0,)

    @property
    def derivative_bound(self) -> float:  # type: ignore[override]
        return max(1.0, abs(self.negative_slope))

    @property
    def has_output_jacobian(self) -> bool:  # type: ignore[override]
        # With a positive slope the sign of a is the sign of z.
        return self.negative_slope > 0

    def __call__(self, z: jax.Array) -> jax.Array:
        return jax.nn.leaky_relu(z, self.negative_slope)

    def derivative(self, z: jax.Array) -> jax.Array:
        return jnp.where(z >= 0, 1, self.negative_slope).astype(z.dtype)

    def derivative_from_output(self, a: jax.Array) -> jax.Array:
        return jnp.where(a >= 0, 1, self.negative_slope).astype(a.dtype)


@dataclasses.dataclass(frozen=True)
class ELU(Pointwise):
    """z for z > 0, alpha (e^z - 1) otherwise; derivative alpha e^z there."""

    alpha: float = 1.0
    name: ClassVar[str] = "elu"
    kinks: ClassVar[tuple[float, ...]] = (0.0,)

    @property
    def derivative_bound(self) -> float:  # type: ignore[override]
        return max(1.0, abs(self.alpha))

    @property
    def output_range(self) -> Interval:  # type: ignore[override]
        # alpha (e^z - 1) > -alpha for alpha > 0; other alphas bound nothing.
        return Interval(-self.alpha, math.inf) if self.alpha > 0 else REALS

    @property
    def has_output_jacobian(self) -> bool:  # type: ignore[override]
        # alpha e^z = a + alpha, and a > 0 exactly when z > 0, for alpha > 0.
        return self.alpha > 0

    def __call__(self, z: jax.Array) -> jax.Array:
        return jax.nn.elu(z, self.alpha)

    def derivative(self, z: jax.Array) -> jax.Array:
        # The minimum keeps exp finite in the branch that where() discards.
        return jnp.where(z > 0, 1, self.alpha * jnp.exp(jnp.minimum(z, 0))).astype(z.dtype)

    def derivative_from_output(self, a: jax.Array) -> jax.Array:
        return jnp.where(a > 0, 1, a + self.alpha).astype(a.dtype)


@dataclasses.dataclass(frozen=True)
class Softplus(Pointwise):
    """log(1 + e^z); softplus' = sigmoid(z) = 1 - e^{-a}."""

    name: ClassVar[str] = "softplus"
    output_range: ClassVar[Interval] = Interval(0.0, math.inf)
    derivative_bound: ClassVar[float] = 1.0
    has_output_jacobian: ClassVar[bool] = True

    def __call__(self, z: jax.Array) -> jax.Array:
        return jax.nn.softplus(z)

    def derivative(self, z: jax.Array) -> jax.Array:
        return jax.nn.sigmoid(z)

    def derivative_from_output(self, a: jax.Array) -> jax.Array:
        return -jnp.expm1(-a)


@dataclasses.dataclass(frozen=True)
class SiLU(Pointwise):
    """z sigmoid(z); silu' = s (1 + z (1 - s)) with s = sigmoid(z)."""

    name: ClassVar[str] = "silu"
    # The maximum of s (1 + z (1 - s)), at z ~ 2.3994, rounded up.
    derivative_bound: ClassVar[float] = 1.0998393202

    def __call__(self, z: jax.Array) -> jax.Array:
        return jax.nn.silu(z)

    def derivative(self, z: jax.Array) -> jax.Array:
        s = jax.nn.sigmoid(z)
        return s * (1 + z * (1 - s))


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_CUBIC = 0.044715


@dataclasses.dataclass(frozen=True)
class GELU(Pointwise):
    """z Phi(z), or its tanh approximation (the default, as jax.nn.gelu).

    Exact: gelu' = Phi(z) + z phi(z). Approximate, with
    u = sqrt(2/pi) (z + 0.044715 z^3): gelu' = (1 + tanh u) / 2
    + z (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 z^2) / 2.
    """

    approximate: bool = True
    name: ClassVar[str] = "gelu"

    @property
    def derivative_bound(self) -> float:  # type: ignore[override]
        # The maximum of gelu', near z = 1.41 (exact) and z = 1.42 (tanh
        # approximation), rounded up.
        return 1.1289930687 if self.approximate else 1.1289041452

    def __call__(self, z: jax.Array) -> jax.Array:
        return jax.nn.gelu(z, approximate=self.approximate)

    def derivative(self, z: jax.Array) -> jax.Array:
        if self.approximate:
            t = jnp.tanh(_SQRT_2_OVER_PI * (z + _GELU_CUBIC * z**3))
            du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * z * z)
            return (1 + t) / 2 + z * (1 - t * t) * du / 2
        cdf = (1 + erf(z / math.sqrt(2))) / 2
        pdf = jnp.exp(-z * z / 2) / math.sqrt(2 * math.pi)
        return cdf + z * pdf


@dataclasses.dataclass(frozen=True)
class Softmax(Activation):
    """exp(z_i) / sum_j exp(z_j); Jac = diag(s) - s s^T (Exercise 1d).

    Computed with the maximum subtracted, so logits of any size are finite.
    """

    name: ClassVar[str] = "softmax"
    output_range: ClassVar[Interval] = Interval(0.0, 1.0)
    has_output_jacobian: ClassVar[bool] = True
    #: The spectral norm of diag(s) - s s^T never exceeds 1/2.
    derivative_bound: ClassVar[float] = 0.5

    def __call__(self, z: jax.Array) -> jax.Array:
        return jax.nn.softmax(z, axis=-1)

    def jacobian(self, z: jax.Array) -> Jacobian:
        return SoftmaxJacobian(self(z))

    def jacobian_from_output(self, a: jax.Array) -> Jacobian:
        return SoftmaxJacobian(a)


@dataclasses.dataclass(frozen=True)
class RadialSigmoid(Activation):
    """sigmoid(|z|) z / |z| (Exercise 1e): rescales z, keeping its direction.

    With r = |z|, u = z / r and f = sigmoid(r), the Jacobian is
    (f / r) (I - u u^T) + f (1 - f) u u^T: a dense matrix. The function
    is not continuous at z = 0 (its norm tends to 1/2 there); we define
    sigma(0) = 0 and Jac = 0 at that point.
    """

    name: ClassVar[str] = "radial_sigmoid"
    #: Each coordinate of sigmoid(|z|) z / |z| is below sigmoid(|z|) < 1 in size.
    output_range: ClassVar[Interval] = Interval(-1.0, 1.0)
    # ||Jac|| = max(f / r, f (1 - f)) <= sup f(r) / r, unbounded near 0.
    derivative_bound: ClassVar[float] = math.inf

    @staticmethod
    def _norm(z: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(|z|, z != 0), with |z| replaced by 1 at 0 so no NaN appears."""
        squared = jnp.sum(z * z, axis=-1, keepdims=True)
        nonzero = squared > 0
        return jnp.sqrt(jnp.where(nonzero, squared, 1)), nonzero

    def __call__(self, z: jax.Array) -> jax.Array:
        r, nonzero = self._norm(z)
        return jnp.where(nonzero, jax.nn.sigmoid(r) * z / r, 0)

    def jacobian(self, z: jax.Array) -> Jacobian:
        r, nonzero = self._norm(z)
        r, nonzero = r[0], nonzero[0]  # one sample: scalars
        u = z / r
        f = jax.nn.sigmoid(r)
        uu = jnp.outer(u, u)
        eye = jnp.eye(z.shape[-1], dtype=z.dtype)
        jac = (f / r) * (eye - uu) + (f * (1 - f)) * uu
        return DenseJacobian(jnp.where(nonzero, jac, 0))

    def near_kink(self, z: jax.Array, radius: float) -> jax.Array:
        # The one singular point is z = 0: a point, not a surface, so only
        # a z within the step of it is affected (and then every entry).
        z = jnp.asarray(z)
        near = jnp.linalg.norm(z, axis=-1, keepdims=True) <= radius
        return jnp.broadcast_to(near, z.shape)


@dataclasses.dataclass(frozen=True)
class MaxPool(Activation):
    """Global max pooling R^n -> R^1 (Exercise 2a).

    Jac is the row with a one at the argmax; at a tie, JAX's convention of
    splitting the derivative evenly among the tied entries.
    """

    name: ClassVar[str] = "max_pool"
    #: Not differentiable where two entries tie for the maximum.
    smooth: ClassVar[bool] = False
    derivative_bound: ClassVar[float] = 1.0

    def __call__(self, z: jax.Array) -> jax.Array:
        return jnp.max(z, axis=-1, keepdims=True)

    def jacobian(self, z: jax.Array) -> Jacobian:
        at_max = (z == jnp.max(z)).astype(z.dtype)
        return RowJacobian(at_max / jnp.sum(at_max))

    def near_kink(self, z: jax.Array, radius: float) -> jax.Array:
        # Entries within 2 radius of the maximum can swap places with it
        # when each moves by radius: a near tie, if there are two of them.
        z = jnp.asarray(z)
        contenders = jnp.max(z, axis=-1, keepdims=True) - z <= 2 * radius
        tied = jnp.sum(contenders, axis=-1, keepdims=True) >= 2
        return contenders & tied

    def output_width(self, n: int) -> int:
        return 1


@dataclasses.dataclass(frozen=True)
class AvgPool(Activation):
    """Global average pooling R^n -> R^1 (Exercise 2b); Jac is the row 1/n."""

    name: ClassVar[str] = "avg_pool"
    derivative_bound: ClassVar[float] = 1.0

    def __call__(self, z: jax.Array) -> jax.Array:
        return jnp.mean(z, axis=-1, keepdims=True)

    def jacobian(self, z: jax.Array) -> Jacobian:
        (n,) = z.shape
        return RowJacobian(jnp.full((n,), 1 / n, dtype=z.dtype))

    def output_width(self, n: int) -> int:
        return 1


#: Every activation by name; a name builds the activation with its defaults.
ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls
    for cls in (
        Identity,
        Sigmoid,
        Tanh,
        ReLU,
        HardTanh,
        Arctan,
        Softmax,
        RadialSigmoid,
        MaxPool,
        AvgPool,
        LeakyReLU,
        ELU,
        Softplus,
        SiLU,
        GELU,
    )
}


def get_activation(activation: str | Activation) -> Activation:
    """Returns the activation named ``activation``, or ``activation`` itself.

    Args:
      activation: a name of :data:`ACTIVATIONS` (built with its defaults) or
        an Activation object.

    Returns:
      The Activation object.

    Raises:
      ValueError: for an unknown name (the message lists the valid ones).
      TypeError: for anything that is neither a name nor an Activation.
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        try:
            return ACTIVATIONS[activation]()
        except KeyError:
            raise ValueError(
                f"unknown activation {activation!r}; valid names are "
                f"{', '.join(sorted(ACTIVATIONS))}"
            ) from None
    raise TypeError(
        f"an activation is a name or a manualgrad.Activation, got "
        f"{type(activation).__name__} {activation!r}"
    )
