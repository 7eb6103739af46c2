"""Ground truth by automatic differentiation: jax.grad and jax.jacfwd."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

import manualgrad
from manualgrad import Activation, Cost, Params, Sensitivities
from reference import _forward

__all__ = ["grad", "jacobian", "sensitivities"]

_check = _forward.check


@functools.partial(jax.jit, static_argnames=("activations", "cost"))
def _grad(theta, x, y, activations, cost):
    return jax.grad(_forward.loss)(theta, x, y, activations, cost)


def grad(
    theta: Params,
    x: ArrayLike,
    y: ArrayLike,
    activations: tuple[str | Activation, ...],
    cost: str | Cost,
) -> Params:
    """jax.grad of a separately written forward pass.

    Args:
      theta: Params(W, b).
      x: one sample (n_0,) or a batch (N, n_0); a batch's loss is the
        extended cost, summed over rows.
      y: the target, (m_L,) or (N, m_L); for cross-entropy also an integer
        class index, () or (N,), and for binary cross-entropy 0/1 integers.
      activations: sigma_1..sigma_L, names or manualgrad activations.
      cost: a name or manualgrad cost.

    Returns:
      grad_theta L as Params, shaped and typed like theta.
    """
    checked = _check(theta, x, y, activations, cost, "reference.grad")
    return _grad(*checked)


@functools.partial(jax.jit, static_argnames=("activations", "cost"))
def _sample_sensitivities(theta, x, y, activations, cost):
    L = len(theta.W)
    zs, as_ = _forward.forward(theta, x, activations)
    grad_z = tuple(
        jax.grad(_forward.loss_from_z, argnums=2)(theta, l, zs[l - 1], y, activations, cost)
        for l in range(1, L + 1)
    )
    grad_a = tuple(
        jax.grad(_forward.loss_from_a, argnums=2)(theta, l, as_[l], y, activations, cost)
        for l in range(L + 1)
    )
    return Sensitivities(grad_z, grad_a)


@functools.partial(jax.jit, static_argnames=("activations", "cost"))
def _batch_sensitivities(theta, X, Y, activations, cost):
    L = len(theta.W)
    # activations and cost are static configuration: closed over, not mapped.
    Zs, As = jax.vmap(lambda x: _forward.forward(theta, x, activations))(X)

    def extended(partial, l):
        # The partial loss R^{N x n_l} -> R: a sum over rows (section 4.2).
        row = jax.vmap(lambda m, y: partial(theta, l, m, y, activations, cost))
        return lambda M: jnp.sum(row(M, Y))

    grad_Z = tuple(jax.grad(extended(_forward.loss_from_z, l))(Zs[l - 1]) for l in range(1, L + 1))
    grad_A = tuple(jax.grad(extended(_forward.loss_from_a, l))(As[l]) for l in range(L + 1))
    return Sensitivities(grad_Z, grad_A)


def sensitivities(
    theta: Params,
    x: ArrayLike,
    y: ArrayLike,
    activations: tuple[str | Activation, ...],
    cost: str | Cost,
) -> Sensitivities:
    """Gradients of the partial loss functions (section 2.4, Exercise 6) by jax.grad.

    Each partial loss is written as its own function of z_l (or a_l), running
    the rest of the network forward from there, and differentiated there.

    Args:
      theta, x, y, activations, cost: as for :func:`grad`.

    Returns:
      Sensitivities with grad_z[l-1] = grad_{z_l} L (l = 1..L) and
      grad_a[l] = grad_{a_l} L (l = 0..L), rows first for a batch.
    """
    checked = _check(theta, x, y, activations, cost, "reference.sensitivities")
    if checked.x.ndim == 2:
        return _batch_sensitivities(*checked)
    return _sample_sensitivities(*checked)


def jacobian(activation: str | Activation, z: ArrayLike) -> jax.Array:
    """d(sigma)_z by jax.jacfwd of a separately written sigma; shape (m, n).

    Args:
      activation: a name or manualgrad activation.
      z: one point, shape (n,).
    """
    z = jnp.asarray(z)
    if z.ndim != 1:
        raise ValueError(f"reference.jacobian: z must have shape (n,), got {z.shape}")
    return jax.jacfwd(_forward.activation_fn(manualgrad.get_activation(activation)))(z)
