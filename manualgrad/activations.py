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

Layer and RMS normalization act on the whole layer, so their Jacobians are
not diagonal: each is a scaled identity minus a rank-two (layer norm) or
rank-one (RMS norm) correction, derived in docs/equations.md. ``Custom``
wraps a function of your own, with a hand-written Jacobian or jax.jacfwd's.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import math
import numbers
from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax.scipy.special import erf
from jax.typing import DTypeLike

from manualgrad._interval import REALS, Interval
from manualgrad.jacobians import (
    DenseJacobian,
    DiagonalJacobian,
    Jacobian,
    RowJacobian,
    ScaledIdentityPlusLowRank,
    SoftmaxJacobian,
)

__all__ = [
    "ACTIVATIONS",
    "ELU",
    "GELU",
    "Activation",
    "Arctan",
    "AvgPool",
    "Custom",
    "HardTanh",
    "Identity",
    "LayerNorm",
    "LeakyReLU",
    "MaxPool",
    "Pointwise",
    "RMSNorm",
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

    def check_width(self, n: int, dtype: DTypeLike) -> None:
        """Checks that sigma applies to z of width n and this dtype.

        A built-in activation always does; a :class:`Custom` one traces its
        functions abstractly and compares their shapes and dtypes.

        Raises:
          ValueError: an output or Jacobian of the wrong shape.
          TypeError: one of the wrong type or dtype.
        """
        del n, dtype

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

    With r = |z|, u = z / r and f = sigmoid(r), f' = f (1 - f), the Jacobian
    is (f / r) I + (f' - f / r) u u^T = (f / r) (I + (r (1 - f) - 1) u u^T):
    a scaled identity plus rank one (docs/equations.md). The function is not
    continuous at z = 0 (its norm tends to 1/2 there); we define sigma(0) = 0
    and Jac = 0 at that point.
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
        u = (z / r)[:, None]  # the direction z / |z| as a column; 0 at z = 0
        f = jax.nn.sigmoid(r)
        scale = jnp.where(nonzero, f / r, 0)  # f / r, and Jac = 0 at z = 0
        # (f / r) I + (f' - f / r) u u^T = (f / r) (I + (r f' / f - 1) u u^T), f' / f = 1 - f
        return ScaledIdentityPlusLowRank(scale, u, (r * (1 - f) - 1) * u)

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


def _check_eps(activation: Activation, eps: float) -> None:
    real = isinstance(eps, numbers.Real) and not isinstance(eps, bool)
    if not (real and math.isfinite(eps) and eps > 0):
        raise ValueError(
            f"{type(activation).__name__}: eps must be a positive number, got {eps!r}; "
            f"without it a constant z would divide 0 by 0"
        )


@dataclasses.dataclass(frozen=True)
class _Normalization(Activation):
    """z scaled by 1 / s over the layer's width, s = sqrt(m2 + eps) for a second moment m2.

    The scale bounds the Jacobian: ||Jac||_2 = 1 / s <= 1 / sqrt(eps), with
    equality where m2 = 0 (docs/equations.md). No output form: a determines
    s only through 1 - mean(a^2) = eps / s^2, which loses the digits the
    Jacobian needs (docs/ERRATA.md), so Algorithm 3 recomputes it from z.
    """

    eps: float

    def __post_init__(self) -> None:
        _check_eps(self, self.eps)

    @property
    def derivative_bound(self) -> float:  # type: ignore[override]
        # sup ||Jac||_2 = 1 / sqrt(eps), rounded up.
        return math.nextafter(1 / math.sqrt(self.eps), math.inf)

    @abc.abstractmethod
    def _normalize(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(sigma(z), 1 / s) for z of shape (..., n); 1 / s keeps a last axis of 1."""

    def __call__(self, z: jax.Array) -> jax.Array:
        return self._normalize(z)[0]


@dataclasses.dataclass(frozen=True)
class LayerNorm(_Normalization):
    """(z - mean z) / sqrt(var z + eps) over the layer's width, with no learned scale.

    var is the population variance mean((z - mean z)^2). With s = sqrt(var + eps)
    and a = sigma(z), Jac = (1 / s) (I - (1 1^T + a a^T) / n): a scaled
    identity minus a rank-two correction, kept in that form.
    """

    eps: float = 1e-5
    name: ClassVar[str] = "layer_norm"

    def _normalize(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        centered = z - jnp.mean(z, axis=-1, keepdims=True)  # z - mean z
        inv_s = jax.lax.rsqrt(jnp.mean(centered * centered, axis=-1, keepdims=True) + self.eps)
        return centered * inv_s, inv_s

    def jacobian(self, z: jax.Array) -> Jacobian:
        (n,) = z.shape
        a, inv_s = self._normalize(z)
        U = jnp.stack([jnp.ones_like(a), a], axis=1)  # [1, a], shape (n, 2)
        # (1 / s) (I - (1 1^T + a a^T) / n)
        return ScaledIdentityPlusLowRank(inv_s[0], U, -U / n)


@dataclasses.dataclass(frozen=True)
class RMSNorm(_Normalization):
    """z / sqrt(mean(z^2) + eps) over the layer's width, with no learned scale.

    With s = sqrt(mean(z^2) + eps) and a = sigma(z), Jac = (1 / s) (I - a a^T / n):
    a scaled identity minus a rank-one correction, kept in that form.
    """

    eps: float = 1e-6
    name: ClassVar[str] = "rms_norm"

    def _normalize(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        inv_s = jax.lax.rsqrt(jnp.mean(z * z, axis=-1, keepdims=True) + self.eps)
        return z * inv_s, inv_s

    def jacobian(self, z: jax.Array) -> Jacobian:
        (n,) = z.shape
        a, inv_s = self._normalize(z)
        u = a[:, None]
        return ScaledIdentityPlusLowRank(inv_s[0], u, -u / n)  # (1 / s) (I - a a^T / n)


JacobianFn = Callable[[jax.Array], Jacobian | jax.Array]


def _callable_name(fn: object) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


@dataclasses.dataclass(frozen=True, init=False, repr=False)
class Custom(Activation):
    """Your own activation sigma: R^n -> R^m, with a hand-written Jacobian or jax.jacfwd's.

    ``Custom(name, fn)`` takes its Jacobian from ``jax.jacfwd(fn)``: that is
    autodiff, not a derivation, and a dense (m, n) matrix in every mode.
    ``Custom(name, fn, jacobian=J)`` uses your ``J(z)`` in every algorithm
    instead; check it with ``reference.check_activation(activation, z)``
    at the points you care about (your kinks, say). ``jacobian_from_output``
    gives the same Jacobian from a = fn(z), for Algorithm 3.

    Equal, and equally hashed, exactly when every argument is the same
    object, so a Custom is a static argument of ``jax.jit`` like any
    activation; define its functions once (at module level) so that a second
    call reuses the compiled program.

    Args:
      name: how tables and messages call it; not a built-in activation's name.
      fn: sigma, acting on the last axis: it is given one sample z of shape
        (n,) and returns shape (m,); batches are mapped over rows.
      jacobian: z (n,) -> d(sigma)_z, a :class:`~manualgrad.jacobians.Jacobian`
        (any of the structured types, or your own pytree subclass) or an
        (m, n) matrix; None for jax.jacfwd of fn.
      jacobian_from_output: a (m,) -> the same Jacobian, where a determines it.
      output_width: m, as an int or a function of n, when fn changes the
        width; None when m = n.
      output_range: where every coordinate of sigma(z) lies (the costs read
        it); the whole real line unless given.
      derivative_bound: sup over z of ||d(sigma)_z||_2, Theorem 16's r;
        infinite unless given.
      smooth: whether fn is twice differentiable everywhere (a central
        difference converges at second order). When False every entry
        counts as near a kink.

    Raises:
      TypeError: fn or a Jacobian function that is not callable, an
        output_range that is no Interval, or an argument that cannot be hashed.
      ValueError: an empty name, a built-in activation's name, or an
        output_width below 1.
    """

    name: str
    _fn: Callable[[jax.Array], jax.Array]
    _jacobian: JacobianFn | None
    _jacobian_from_output: JacobianFn | None
    _output_width: int | Callable[[int], int] | None
    _output_range: Interval
    _derivative_bound: float
    _smooth: bool

    def __init__(
        self,
        name: str,
        fn: Callable[[jax.Array], jax.Array],
        jacobian: JacobianFn | None = None,
        jacobian_from_output: JacobianFn | None = None,
        *,
        output_width: int | Callable[[int], int] | None = None,
        output_range: Interval = REALS,
        derivative_bound: float = math.inf,
        smooth: bool = True,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"Custom: name must be a non-empty string, got {name!r}")
        if name in ACTIVATIONS:
            raise ValueError(
                f"Custom: {name!r} is the name of a built-in activation; choose another name"
            )
        if not callable(fn):
            raise TypeError(f"Custom {name!r}: fn must be callable, got {fn!r}")
        for option, value in (
            ("jacobian", jacobian),
            ("jacobian_from_output", jacobian_from_output),
        ):
            if value is not None and not callable(value):
                raise TypeError(
                    f"Custom {name!r}: {option} must be callable or None, got {value!r}"
                )
        if not isinstance(output_range, Interval):
            raise TypeError(
                f"Custom {name!r}: output_range must be a manualgrad.Interval, got {output_range!r}"
            )
        if isinstance(output_width, int) and output_width < 1:
            raise ValueError(f"Custom {name!r}: output_width must be >= 1, got {output_width}")
        if not (output_width is None or isinstance(output_width, int) or callable(output_width)):
            raise TypeError(
                f"Custom {name!r}: output_width must be an int, a function of n or None, "
                f"got {output_width!r}"
            )
        values = {
            "name": name,
            "_fn": fn,
            "_jacobian": jacobian,
            "_jacobian_from_output": jacobian_from_output,
            "_output_width": output_width,
            "_output_range": output_range,
            "_derivative_bound": float(derivative_bound),
            "_smooth": bool(smooth),
        }
        for field, value in values.items():
            object.__setattr__(self, field, value)
        try:
            hash(self)
        except TypeError as error:
            raise TypeError(
                f"Custom {name!r}: every argument must be hashable, as a jax.jit static "
                f"argument is ({error})"
            ) from None

    def __repr__(self) -> str:
        parts = [repr(self.name), f"fn={_callable_name(self._fn)}"]
        for option, value in (
            ("jacobian", self._jacobian),
            ("jacobian_from_output", self._jacobian_from_output),
        ):
            if value is not None:
                parts.append(f"{option}={_callable_name(value)}")
        return f"Custom({', '.join(parts)})"

    @property
    def output_range(self) -> Interval:  # type: ignore[override]
        return self._output_range

    @property
    def derivative_bound(self) -> float:  # type: ignore[override]
        return self._derivative_bound

    @property
    def smooth(self) -> bool:  # type: ignore[override]
        return self._smooth

    @property
    def has_output_jacobian(self) -> bool:
        return self._jacobian_from_output is not None

    def near_kink(self, z: jax.Array, radius: float) -> jax.Array:
        # Nothing says where a non-smooth fn's kinks are: every entry may be near one.
        del radius
        return jnp.full(jnp.shape(z), not self._smooth, dtype=bool)

    def output_width(self, n: int) -> int:
        if self._output_width is None:
            return n
        if isinstance(self._output_width, int):
            return self._output_width
        return int(self._output_width(n))

    def __call__(self, z: jax.Array) -> jax.Array:
        return jnp.vectorize(self._fn, signature="(n)->(m)")(z)

    def _as_jacobian(self, value: object, option: str) -> Jacobian:
        if isinstance(value, Jacobian):
            return value
        if isinstance(value, jax.Array) or hasattr(value, "__array__"):
            return DenseJacobian(jnp.asarray(value))
        raise TypeError(
            f"Custom {self.name!r}: {option} returned {type(value).__name__}; it must return "
            f"a manualgrad.Jacobian or an (m, n) matrix"
        )

    def jacobian(self, z: jax.Array) -> Jacobian:
        if self._jacobian is None:
            return DenseJacobian(jax.jacfwd(self._fn)(z))  # autodiff, not hand-derived
        return self._as_jacobian(self._jacobian(z), "jacobian")

    def jacobian_from_output(self, a: jax.Array) -> Jacobian:
        if self._jacobian_from_output is None:
            return super().jacobian_from_output(a)
        return self._as_jacobian(self._jacobian_from_output(a), "jacobian_from_output")

    def check_width(self, n: int, dtype: DTypeLike) -> None:
        _check_custom(self, n, jnp.dtype(dtype).name)


def _abstract(what: str, fn: Callable, *shapes: tuple[int, ...], dtype: str) -> object:
    """jax.eval_shape of fn at arguments of these shapes; an error says what failed."""
    try:
        return jax.eval_shape(fn, *(jax.ShapeDtypeStruct(shape, dtype) for shape in shapes))
    except Exception as error:
        kind = TypeError if isinstance(error, TypeError) else ValueError
        raise kind(f"{what} fails at a point of shape {shapes[0]} {dtype}: {error}") from None


@functools.lru_cache(maxsize=1024)
def _check_custom(activation: Custom, n: int, dtype: str) -> None:
    """Custom.check_width, traced abstractly once per (activation, width, dtype)."""
    m = activation.output_width(n)
    what = f"custom activation {activation.name!r}"
    out = _abstract(f"{what}: fn", activation._fn, (n,), dtype=dtype)
    if getattr(out, "shape", None) != (m,):
        hint = (
            "; pass output_width to Custom for an fn that changes the width"
            if activation._output_width is None
            else ""
        )
        raise ValueError(
            f"{what}: fn maps z of shape ({n},) to shape {getattr(out, 'shape', out)}, "
            f"but its output width is {m}, so it must return shape ({m},){hint}"
        )
    if out.dtype != dtype:
        raise TypeError(f"{what}: fn maps {dtype} z to {out.dtype}; keep the dtype of z")
    for option, width in (("jacobian", n), ("jacobian_from_output", m)):
        if getattr(activation, f"_{option}") is None:
            continue
        method = getattr(activation, option)
        where = f"{what}: {option}"
        dense = _abstract(where, lambda p, method=method: method(p).dense(), (width,), dtype=dtype)
        if dense.shape != (m, n):
            raise ValueError(
                f"{where} at a point of shape ({width},) gives a Jacobian of shape "
                f"{dense.shape}; sigma maps R^{n} to R^{m}, so its Jacobian has shape ({m}, {n})"
            )
        if dense.dtype != dtype:
            raise TypeError(
                f"{where} gives a {dense.dtype} Jacobian at a {dtype} point; keep the dtype of z"
            )

        def products(p: jax.Array, v: jax.Array, x: jax.Array, method=method) -> tuple:
            jac = method(p)
            return v @ jac, jac @ x  # what eqs. 3.2 and 4.2 use, and its transpose

        vjac, jx = _abstract(where, products, (width,), (m,), (n,), dtype=dtype)
        if (vjac.shape, jx.shape) != ((n,), (m,)):
            raise ValueError(
                f"{where}: its products v @ Jac and Jac @ x have shapes {vjac.shape} and "
                f"{jx.shape}, but a Jacobian of shape ({m}, {n}) gives ({n},) and ({m},)"
            )


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
        LayerNorm,
        RMSNorm,
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
