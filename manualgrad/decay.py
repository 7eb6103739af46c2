"""Theorem 16 (lecture 28) and the Jacobian chain: how sensitivities decay.

Theorem 16 (exponential decay of sensitivities). If ||Phi'||_inf <= r and
||W_l||_2 <= sigma for every layer, then for l = 1..L

    ||delta^-(l)||_2 <= (sigma r)^(L - l) ||delta^-(L)||_2,

where delta^-(l) = grad_{z_l} L is the pre-activation sensitivity. The proof
is one step of backpropagation, delta^-(l) = Jac_l^T W_{l+1}^T delta^-(l+1)
(eqs. 1 and 2 of Theorem 15, eq. 3.2 of the notes), bounded by
||Jac_l||_2 ||W_{l+1}||_2 <= r sigma and applied L - l times.

What :func:`diagnostics` implements, precisely:

* sigma = max_{l=1..L} ||W_l||_2, over every layer as the theorem states
  (W_1 never enters the recursion, so this is only ever looser than needed).
* r = max_{l=1..L-1} of ``sigma_l.derivative_bound``, the sup over z of
  ||d(sigma_l)_z||_2. For a pointwise sigma_l that is sup |phi'| (1/4
  sigmoid, 1 tanh, relu, hard_tanh, arctan, ...), the theorem's
  ||Phi'||_inf. Only the hidden layers' Jacobians Jac_1..Jac_{L-1} appear in
  the recursion (the output layer's is inside delta^-(L)), so the theorem's
  single Phi is relaxed to one activation per layer, with r the largest of
  their bounds; for L = 1 there is no hidden layer and r = 0. Using the
  spectral norm of the Jacobian in place of sup |phi'| extends the proof,
  unchanged, to softmax (r = 1/2) and pooling (r = 1), whose Jacobians are
  not diagonal: ||Jac^T u|| <= ||Jac||_2 ||u|| replaces the Hadamard bound.
* Theorem 15 has no biases; they do not enter the recursion for delta^-, so
  the bound holds for networks with biases as well.
* Where r is infinite (radial sigmoid, whose Jacobian norm f(|z|)/|z| is
  unbounded near 0), the bound is +inf for every l < L and ||delta^-(L)||
  at l = L: the theorem says nothing there.

The Jacobian chain of the slides: the layer map z_{l-1} -> z_l has Jacobian
dz_l/dz_{l-1} = W_l Jac_{l-1} (Jac_0 = I, as sigma_0 is the identity), and
delta^-(l-1) = (W_l Jac_{l-1})^T delta^-(l). Its singular values (and those
of Jac_l alone) show where a vector is stretched or shrunk; the product
dz_L/dz_l = (W_L Jac_{L-1}) ... (W_{l+1} Jac_l) gives the tighter bound
||delta^-(l)|| <= ||dz_L/dz_l||_2 ||delta^-(L)|| <= (sigma r)^(L-l) ||delta^-(L)||.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from manualgrad import _validation
from manualgrad.activations import Activation
from manualgrad.algorithms import backprop_combined
from manualgrad.costs import Cost
from manualgrad.params import Params

__all__ = ["Diagnostics", "decay_rate_bound", "diagnostics", "theorem_16_bound"]


class Diagnostics(NamedTuple):
    """Per-layer sensitivities, Theorem 16's bound and the Jacobian chain.

    Every array is indexed by layer, entry l-1 for layer l = 1..L, and has
    theta's dtype.

    Attributes:
      sensitivity_norms: ||delta^-(l)||_2 = ||grad_{z_l} L||_2, shape (L,).
      bound: (sigma r)^(L-l) ||delta^-(L)||_2, shape (L,); +inf for l < L
        where r is infinite.
      sigma: max_l ||W_l||_2, a scalar array.
      r: the largest ``derivative_bound`` of sigma_1..sigma_{L-1} (0 for L = 1).
      weight_norms: ||W_l||_2, shape (L,).
      chain_norms: ||dz_L/dz_l||_2, shape (L,) (1 at l = L); the tighter
        bound is chain_norms * ||delta^-(L)||.
      layer_singular_values: the singular values of dz_l/dz_{l-1} =
        W_l Jac_{l-1} (Jac_0 = I), descending; entry l-1 has
        min(n_l, n_{l-1}) values.
      activation_singular_values: the singular values of Jac_l =
        d(sigma_l)_{z_l}, descending.
    """

    sensitivity_norms: jax.Array
    bound: jax.Array
    sigma: jax.Array
    r: float
    weight_norms: jax.Array
    chain_norms: jax.Array
    layer_singular_values: tuple[jax.Array, ...]
    activation_singular_values: tuple[jax.Array, ...]


def decay_rate_bound(activations: tuple[Activation, ...]) -> float:
    """r = max_{l=1..L-1} sup ||d(sigma_l)||_2, the layers the recursion passes through."""
    return max((float(act.derivative_bound) for act in activations[:-1]), default=0.0)


def theorem_16_bound(
    last_norm: jax.Array, sigma: jax.Array, r: float, num_layers: int
) -> jax.Array:
    """(sigma r)^(L-l) ||delta^-(L)|| for l = 1..L; +inf for l < L when r is infinite."""
    exponent = jnp.arange(num_layers - 1, -1, -1).astype(last_norm.dtype)  # L - l
    if math.isinf(r):
        # 0 * inf is undefined: an unbounded r bounds nothing, whatever sigma is.
        return jnp.where(exponent > 0, jnp.inf, last_norm).astype(last_norm.dtype)
    return (sigma * r) ** exponent * last_norm  # (sigma r)^(L-l) ||delta^-(L)||


def diagnostics(
    theta: Params,
    x: ArrayLike,
    y: ArrayLike,
    activations: tuple[str | Activation, ...],
    cost: str | Cost,
) -> Diagnostics:
    """Theorem 16's quantities for one sample.

    Args:
      theta: Params(W, b), W[l-1] of shape (n_l, m_{l-1}).
      x: the sample, shape (n_0,).
      y: the target, shape (m_L,).
      activations: sigma_1..sigma_L, names or Activation objects.
      cost: the cost C, a name or Cost object.

    Returns:
      Diagnostics: sensitivity norms, the bound, sigma and r, and the
      singular values of the layer Jacobians (see the module docstring for
      exactly what each is).
    """
    checked = _validation.check_inputs(
        theta, x, y, activations, cost, batch=False, where="manualgrad.diagnostics"
    )
    theta, x, y, activations, cost = checked
    _, sens = backprop_combined(theta, x, y, activations, cost, return_sensitivities=True)
    jac = _activation_jacobians(theta, x, activations)
    norms, weight_norms, chain_norms, layer_sv, activation_sv = _chain(theta, sens.grad_z, jac)
    sigma = jnp.max(weight_norms)
    r = decay_rate_bound(activations)
    return Diagnostics(
        sensitivity_norms=norms,
        bound=theorem_16_bound(norms[-1], sigma, r, len(theta.W)),
        sigma=sigma,
        r=r,
        weight_norms=weight_norms,
        chain_norms=chain_norms,
        layer_singular_values=layer_sv,
        activation_singular_values=activation_sv,
    )


@functools.partial(jax.jit, static_argnames=("activations",))
def _activation_jacobians(
    theta: Params, x: jax.Array, activations: tuple[Activation, ...]
) -> tuple[jax.Array, ...]:
    """Jac_l = d(sigma_l)_{z_l}, dense, along the forward pass."""
    a, jac = x, []
    for W, b, act in zip(theta.W, theta.b, activations, strict=True):
        z = W @ a + b
        jac.append(act.jacobian(z).dense())
        a = act(z)
    return tuple(jac)


@jax.jit
def _chain(
    theta: Params, grad_z: tuple[jax.Array, ...], jac: tuple[jax.Array, ...]
) -> tuple[jax.Array, jax.Array, jax.Array, tuple[jax.Array, ...], tuple[jax.Array, ...]]:
    """Norms and singular values; depends on shapes only, so one compilation serves
    every choice of activations."""
    L = len(theta.W)
    norms = jnp.stack([jnp.linalg.norm(g) for g in grad_z])  # ||delta^-(l)||
    weight_norms = jnp.stack([jnp.linalg.norm(W, 2) for W in theta.W])  # ||W_l||_2
    # dz_l/dz_{l-1} = W_l Jac_{l-1}, with Jac_0 = I.
    layer_jac = [theta.W[0]] + [W @ J for W, J in zip(theta.W[1:], jac[:-1], strict=True)]
    chain = [jnp.eye(theta.W[-1].shape[0], dtype=theta.W[-1].dtype)]  # dz_L/dz_L
    for l in range(L, 1, -1):
        chain.insert(0, chain[0] @ layer_jac[l - 1])  # dz_L/dz_{l-1} = dz_L/dz_l W_l Jac_{l-1}
    chain_norms = jnp.stack([jnp.linalg.norm(C, 2) for C in chain])

    def singular_values(M: jax.Array) -> jax.Array:
        return jnp.linalg.svd(M, compute_uv=False)

    return (
        norms,
        weight_norms,
        chain_norms,
        tuple(singular_values(M) for M in layer_jac),
        tuple(singular_values(J) for J in jac),
    )
