"""Pieces the five algorithms share: the public wrapper, Jacobian modes, rows.

The algorithms themselves live in :mod:`manualgrad.algorithms` and read
like the notes; everything that is not a line of the notes' pseudo-code is
here, written once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from manualgrad import _validation
from manualgrad.activations import Activation, Identity
from manualgrad.costs import Cost
from manualgrad.jacobians import Jacobian
from manualgrad.params import Params

JacobianMode = Literal["structured", "dense"]
JACOBIAN_MODES: tuple[str, ...] = ("structured", "dense")


class Sensitivities(NamedTuple):
    """Gradients of the partial loss functions of section 2.4 (Exercise 6).

    ``grad_z[l-1]`` is grad_{z_l} L for l = 1..L, shaped like z_l; ``grad_a[l]``
    is grad_{a_l} L for l = 0..L (a_0 = x), shaped like a_l. The batch
    algorithms return them with rows first, (N, width).
    """

    grad_z: tuple[jax.Array, ...]
    grad_a: tuple[jax.Array, ...]


Jac = Jacobian | jax.Array
Core = Callable[..., tuple[Params, Sensitivities]]


def one_based(theta: Params, activations: tuple[Activation, ...]) -> tuple[list, list, list, int]:
    """(W, b, sigma, L) indexed as in the notes: W[l] is W_l, sigma[0] = identity."""
    W = [None, *theta.W]
    b = [None, *theta.b]
    sigma = [Identity(), *activations]
    return W, b, sigma, len(theta.W)


def jacobian(sigma: Activation, z: jax.Array, mode: JacobianMode) -> Jac:
    """Jacobian(sigma, z) of the pseudo-code: structured, or the dense matrix."""
    jac = sigma.jacobian(z)
    return jac.dense() if mode == "dense" else jac


def jacobian_from_output(sigma: Activation, a: jax.Array, mode: JacobianMode) -> Jac:
    """The same Jacobian, recovered from a = sigma(z)."""
    jac = sigma.jacobian_from_output(a)
    return jac.dense() if mode == "dense" else jac


def jacobian_rows(sigma: Activation, Z: jax.Array, mode: JacobianMode) -> Jac:
    """``for i <- 1 to N: Jac_{i,l} <- Jacobian(sigma_l, Z_l[i])``, one per row."""
    return jax.vmap(lambda z: jacobian(sigma, z, mode))(Z)


def rows_times(G: jax.Array, jac: Jac) -> jax.Array:
    """``for i <- 1 to N: out[i] <- G[i] @ Jac_{i,l}`` (eqs. 4.1 and 4.2)."""
    return jax.vmap(lambda g, j: g @ j)(G, jac)


def output_grad_z(
    sigma_L: Activation,
    cost: Cost,
    a_L: jax.Array,
    y: jax.Array,
    grad_a_L: jax.Array,
    jac_L: Jac,
) -> jax.Array:
    """Eq. 3.1 (4.1 row by row): Jac_L^T @ grad_{y_hat} C(-, y).

    Where the output activation and cost have a closed form for this product
    (softmax with cross-entropy, sigmoid with binary cross-entropy) it is
    used instead, so a saturated output gives a finite gradient.
    """
    fused = cost.fused_grad_z(sigma_L, a_L, y)
    if fused is not None:
        return fused
    if a_L.ndim == 1:
        return jac_L.T @ grad_a_L
    return rows_times(grad_a_L, jac_L)


def ones_times(b: jax.Array, num_rows: int) -> jax.Array:
    """1_N @ b^T: the bias as a row, broadcast to every row of the batch."""
    return jnp.broadcast_to(b[None, :], (num_rows, b.shape[0]))


def pack(
    grad_W: list, grad_b: list, grad_z: list, grad_a: list, L: int
) -> tuple[Params, Sensitivities]:
    """One-based lists back to (Params, Sensitivities)."""
    grads = Params(tuple(grad_W[1 : L + 1]), tuple(grad_b[1 : L + 1]))
    return grads, Sensitivities(tuple(grad_z[1 : L + 1]), tuple(grad_a[: L + 1]))


def check_jacobian_mode(
    jacobian_mode: object, theta: Params, num_rows: int, max_dense_bytes: int | None, where: str
) -> None:
    """Refuses an unknown mode, and a dense mode whose Jacobians for ``num_rows`` rows
    would exceed ``max_dense_bytes`` (see ``_validation.check_dense_budget``)."""
    if jacobian_mode not in JACOBIAN_MODES:
        raise ValueError(
            f"{where}: jacobian_mode must be one of {JACOBIAN_MODES}, got {jacobian_mode!r}"
        )
    if jacobian_mode == "dense":
        _validation.check_dense_budget(theta, num_rows, max_dense_bytes, where)


def algorithm(*, number: int, batch: bool) -> Callable[[Core], Callable[..., object]]:
    """Turns an algorithm's body into its public, validated, jit-compiled form.

    The body takes normalized inputs and returns (grads, sensitivities). The
    public function checks its arguments at trace time, so shape errors name
    the layer, then runs the body under ``jax.jit`` with the activations,
    cost and modes static. It composes with ``jax.jit`` and ``jax.vmap``
    applied from outside.
    """

    def decorate(core: Core) -> Callable[..., object]:
        where = f"{core.__name__} (Algorithm {number})"

        @functools.partial(
            jax.jit,
            static_argnames=(
                "activations",
                "cost",
                "jacobian_mode",
                "return_sensitivities",
            ),
        )
        def compiled(
            theta: Params,
            x: jax.Array,
            y: jax.Array,
            activations: tuple[Activation, ...],
            cost: Cost,
            jacobian_mode: JacobianMode,
            return_sensitivities: bool,
        ) -> Params | tuple[Params, Sensitivities]:
            grads, sens = core(theta, x, y, activations, cost, jacobian_mode)
            return (grads, sens) if return_sensitivities else grads

        @functools.wraps(core)
        def public(
            theta: Params,
            x: ArrayLike,
            y: ArrayLike,
            activations: tuple[str | Activation, ...],
            cost: str | Cost,
            *,
            return_sensitivities: bool = False,
            jacobian_mode: JacobianMode = "structured",
            max_dense_bytes: int | None = _validation.DEFAULT_MAX_DENSE_BYTES,
        ) -> Params | tuple[Params, Sensitivities]:
            checked = _validation.check_inputs(
                theta, x, y, activations, cost, batch=batch, where=where
            )
            num_rows = checked.x.shape[0] if batch else 1
            check_jacobian_mode(jacobian_mode, checked.theta, num_rows, max_dense_bytes, where)
            return compiled(
                *checked,
                jacobian_mode=jacobian_mode,
                return_sensitivities=bool(return_sensitivities),
            )

        del public.__wrapped__  # Show the public signature, not the body's.
        public.number = number
        public.batch = batch
        return public

    return decorate
