"""A second oracle that does not trust autodiff: float64 central differences."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike

from manualgrad import Activation, Cost, Params
from reference import _forward

__all__ = ["numerical_grad"]


@functools.partial(jax.jit, static_argnames=("activations", "cost", "batch_size"))
def _central_differences(theta, x, y, activations, cost, step, batch_size):
    flat, unravel = ravel_pytree(theta)

    def loss_at(v):
        return _forward.loss(unravel(v), x, y, activations, cost)

    def difference(i):
        # (L(theta + h e_i) - L(theta - h e_i)) / 2h
        return (loss_at(flat.at[i].add(step)) - loss_at(flat.at[i].add(-step))) / (2 * step)

    derivative = jax.lax.map(difference, jnp.arange(flat.size), batch_size=batch_size)
    return unravel(derivative)


def numerical_grad(
    theta: Params,
    x: ArrayLike,
    y: ArrayLike,
    activations: tuple[str | Activation, ...],
    cost: str | Cost,
    *,
    step: float = 1e-6,
    batch_size: int = 64,
) -> Params:
    """grad_theta L by central differences in float64, whatever the input dtype.

    Each parameter entry is perturbed by +-``step`` and the loss (the same
    separately written forward pass as :func:`reference.grad`, evaluated
    with float64 enabled) is differenced. Its cost is two forward passes per
    parameter, so it suits small networks. Near a kink of relu, hard_tanh
    or max_pool (within ``step``) the difference quotient is not a
    derivative; compare there with care.

    Args:
      theta, x, y, activations, cost: as for :func:`reference.grad`.
      step: the perturbation h.
      batch_size: perturbations evaluated at once (memory ~ batch_size x params).

    Returns:
      Params of float64 arrays shaped like theta.
    """
    checked = _forward.check(theta, x, y, activations, cost, "reference.numerical_grad")
    with jax.enable_x64(True):
        as64 = lambda tree: jax.tree_util.tree_map(  # noqa: E731
            lambda v: jnp.asarray(v, dtype=jnp.float64), tree
        )
        return _central_differences(
            as64(checked.theta),
            as64(checked.x),
            checked.y if _forward.is_label(checked.y) else as64(checked.y),
            checked.activations,
            checked.cost,
            step,
            batch_size,
        )
