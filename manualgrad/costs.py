"""Cost functions C(y_hat, y) and their gradients with respect to y_hat.

A cost sums over every entry of its arguments, so applied to a batch of
rows it is the notes' extended cost C~(U, V) = sum_i C(U[i], V[i]) (section
4.2). Each cost is a frozen dataclass, hashable for ``jax.jit``.

Two pairs of output activation and cost have a closed form for eq. 3.1,
Jac_L^T @ grad_yhat C, that stays finite when the output saturates:
softmax with cross-entropy gives s * sum(y) - y and sigmoid with binary
cross-entropy gives a - y. ``fused_grad_z`` returns it; the algorithms use
it in place of the product, which for logits of +-1000 would multiply 0
by infinity.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from manualgrad._interval import REALS, Interval
from manualgrad.activations import Activation, Sigmoid, Softmax, get_activation

__all__ = [
    "COSTS",
    "BinaryCrossEntropy",
    "Cost",
    "CrossEntropy",
    "Huber",
    "MeanSquaredError",
    "get_cost",
]


@dataclasses.dataclass(frozen=True)
class Cost(abc.ABC):
    """A differentiable cost C: R^{n_L} x R^{n_L} -> R, summed over rows."""

    name: ClassVar[str]
    #: The outputs y_hat (each entry) on which C is defined and finite.
    output_domain: ClassVar[Interval] = REALS

    @abc.abstractmethod
    def __call__(self, y_hat: jax.Array, y: jax.Array) -> jax.Array:
        """C(y_hat, y), summed over every entry; a scalar."""

    def accepts_output(self, activation: str | Activation) -> bool:
        """Whether C is defined on every output of ``activation`` at layer L.

        Args:
          activation: sigma_L, a name or an activation.

        Returns:
          Whether sigma_L's output range lies inside :attr:`output_domain`.
        """
        return self.output_domain.contains(get_activation(activation).output_range)

    @abc.abstractmethod
    def grad(self, y_hat: jax.Array, y: jax.Array) -> jax.Array:
        """grad_{y_hat} C(-, y), shaped like y_hat."""

    def near_kink(self, y_hat: jax.Array, y: jax.Array, radius: ArrayLike) -> jax.Array:
        """Which entries of y_hat lie within ``radius`` of a point where C(-, y) is not smooth.

        Args:
          y_hat: the outputs, shape (..., n_L).
          y: the targets, shaped like ``y_hat`` (or labels, which no
            non-smooth cost takes).
          radius: the distance, a scalar or an array shaped like ``y_hat``.

        Returns:
          A boolean array shaped like ``y_hat``; all False for a smooth cost.
        """
        del y, radius
        return jnp.zeros(jnp.shape(y_hat), dtype=bool)

    def fused_grad_z(self, activation: Activation, a: jax.Array, y: jax.Array) -> jax.Array | None:
        """Jac_L^T @ grad C in closed form for this output activation, if any.

        Args:
          activation: sigma_L.
          a: the output a_L = sigma_L(z_L), shape (..., n_L).
          y: the target, shaped like ``a``.

        Returns:
          grad_{z_L} L, shaped like ``a``, or None when there is no closed
          form and eq. 3.1 is to be applied as written.
        """
        del activation, a, y
        return None

    def __str__(self) -> str:
        return self.name


@dataclasses.dataclass(frozen=True)
class MeanSquaredError(Cost):
    """1/2 ||y_hat - y||^2; gradient y_hat - y."""

    name: ClassVar[str] = "mse"

    def __call__(self, y_hat: jax.Array, y: jax.Array) -> jax.Array:
        return jnp.sum((y_hat - y) ** 2) / 2

    def grad(self, y_hat: jax.Array, y: jax.Array) -> jax.Array:
        return y_hat - y


@dataclasses.dataclass(frozen=True)
class CrossEntropy(Cost):
    """-sum y log y_hat; gradient -y / y_hat. Needs y_hat > 0."""

    name: ClassVar[str] = "cross_entropy"
    output_domain: ClassVar[Interval] = Interval(0.0, math.inf)  # log y_hat

    def __call__(self, y_hat: jax.Array, y: jax.Array) -> jax.Array:
        return -jnp.sum(y * jnp.log(y_hat))

    def grad(self, y_hat: jax.Array, y: jax.Array) -> jax.Array:
        return -y / y_hat

    def fused_grad_z(self, activation: Activation, a: jax.Array, y: jax.Array) -> jax.Array | None:
        if isinstance(activation, Softmax):
            # (diag(s) - s s^T)(-y / s) = s * sum(y) - y: no division by s.
            return a * jnp.sum(y, axis=-1, keepdims=True) - y
        return None


@dataclasses.dataclass(frozen=True)
class BinaryCrossEntropy(Cost):
    """-sum [y log y_hat + (1 - y) log(1 - y_hat)]. Needs 0 < y_hat < 1."""

    name: ClassVar[str] = "binary_cross_entropy"
    output_domain: ClassVar[Interval] = Interval(0.0, 1.0)  # log y_hat, log(1 - y_hat)

    def __call__(self, y_hat: jax.Array, y: jax.Array) -> jax.Array:
        return -jnp.sum(y * jnp.log(y_hat) + (1 - y) * jnp.log1p(-y_hat))

    def grad(self, y_hat: jax.Array, y: jax.Array) -> jax.Array:
        return (y_hat - y) / (y_hat * (1 - y_hat))

    def fused_grad_z(self, activation: Activation, a: jax.Array, y: jax.Array) -> jax.Array | None:
        if isinstance(activation, Sigmoid):
            # diag(a (1 - a)) (a - y) / (a (1 - a)) = a - y.
            return a - y
        return None


@dataclasses.dataclass(frozen=True)
class Huber(Cost):
    """sum_j h(y_hat_j - y_j), h(r) = r^2 / 2 for |r| <= delta, else delta (|r| - delta / 2).

    The gradient is clip(y_hat - y, -delta, delta); h is continuously
    differentiable, so the joins at |r| = delta need no convention.
    """

    delta: float = 1.0
    name: ClassVar[str] = "huber"

    def __call__(self, y_hat: jax.Array, y: jax.Array) -> jax.Array:
        r = jnp.abs(y_hat - y)
        quadratic = r * r / 2
        linear = self.delta * (r - self.delta / 2)
        return jnp.sum(jnp.where(r <= self.delta, quadratic, linear))

    def grad(self, y_hat: jax.Array, y: jax.Array) -> jax.Array:
        return jnp.clip(y_hat - y, -self.delta, self.delta)

    def near_kink(self, y_hat: jax.Array, y: jax.Array, radius: ArrayLike) -> jax.Array:
        # The curvature jumps from 1 to 0 where |y_hat - y| = delta.
        return jnp.abs(jnp.abs(y_hat - y) - self.delta) <= radius


#: Every cost by name; a name builds the cost with its defaults.
COSTS: dict[str, type[Cost]] = {
    cls.name: cls for cls in (MeanSquaredError, CrossEntropy, BinaryCrossEntropy, Huber)
}


def get_cost(cost: str | Cost) -> Cost:
    """Returns the cost named ``cost``, or ``cost`` itself.

    Args:
      cost: a name of :data:`COSTS` (built with its defaults) or a Cost object.

    Returns:
      The Cost object.

    Raises:
      ValueError: for an unknown name (the message lists the valid ones).
      TypeError: for anything that is neither a name nor a Cost.
    """
    if isinstance(cost, Cost):
        return cost
    if isinstance(cost, str):
        try:
            return COSTS[cost]()
        except KeyError:
            raise ValueError(
                f"unknown cost {cost!r}; valid names are {', '.join(sorted(COSTS))}"
            ) from None
    raise TypeError(f"a cost is a name or a manualgrad.Cost, got {type(cost).__name__} {cost!r}")
