"""Classic mistakes, planted into backprop recomputed from the same forward pass.

:func:`forward_pass` evaluates one batch in float64 with the reference's own
forward pass (Z_l, A_l, each row's Jacobian by ``jax.jacfwd``, the cost
gradient); :func:`backprop` runs eqs. 4.1-4.4 on it in NumPy, with one
ingredient replaced where a mistake is planted. The checker compares the
candidate with each planted variant of :data:`MISTAKES`: a match names the
mistake.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import manualgrad
from manualgrad import Activation, Cost, Params
from reference import _forward
from reference.tolerances import relative_error

__all__ = ["MISTAKES", "ForwardPass", "Mistake", "backprop", "forward_pass", "mistake_errors"]

#: The gradient leaves [grad_W_1..grad_W_L, grad_b_1..grad_b_L].
Leaves = list[np.ndarray]


@dataclasses.dataclass(frozen=True)
class ForwardPass:
    """The forward pass of one batch in float64, 1-based lists as in the notes.

    Attributes:
      W: W[l] (n_l, m_{l-1}); W[0] is None.
      b: b[l] (n_l,); b[0] is None.
      Z: Z[l] (N, n_l); Z[0] is None.
      A: A[l] (N, m_l), with A[0] = X.
      J: J[l] (N, m_l, n_l), the Jacobian of sigma_l at each row's z_l.
      G: (N, m_L), the cost gradient at the output.
      J_at_output: J_at_output[l], the Jacobian of a pointwise sigma_l taken
        at each row's a_l instead of z_l (None for other activations).
    """

    W: list
    b: list
    Z: list
    A: list
    J: list
    G: np.ndarray
    J_at_output: list = dataclasses.field(default_factory=list)

    @property
    def L(self) -> int:
        """The number of layers."""
        return len(self.W) - 1


@functools.partial(jax.jit, static_argnames=("activations", "cost"))
def _forward_arrays(
    theta: Params, X: jax.Array, Y: jax.Array, activations: tuple[Activation, ...], cost: Cost
) -> tuple[list, list, list, jax.Array]:
    """Z_l, A_l, Jac_{i,l} (jax.jacfwd) at z_l and at a_l, and grad_yhat C, all rows at once."""
    zs, as_ = jax.vmap(lambda x: _forward.forward(theta, x, activations))(X)

    def jacobians(points: list[jax.Array], pointwise_only: bool) -> list[jax.Array | None]:
        return [
            jax.vmap(jax.jacfwd(_forward.activation_fn(act)))(v)
            if isinstance(act, manualgrad.Pointwise) or not pointwise_only
            else None
            for act, v in zip(activations, points, strict=True)
        ]

    G = jax.vmap(jax.grad(_forward.cost_fn(cost)))(as_[-1], Y)
    return zs, as_, jacobians(zs, False), jacobians(as_[1:], True), G


def forward_pass(
    theta: Params, X: Any, Y: Any, activations: tuple[Activation, ...], cost: Cost
) -> ForwardPass:
    """The forward pass of the batch (X, Y), rows first, in float64.

    Args:
      theta: Params(W, b).
      X: (N, n_0).
      Y: (N, m_L), the targets the reference uses.
      activations: sigma_1..sigma_L as objects.
      cost: the cost object.

    Returns:
      Everything :func:`backprop` needs, as NumPy float64 arrays.
    """
    with jax.enable_x64(True):
        as64 = lambda v: jnp.asarray(v, dtype=jnp.float64)  # noqa: E731
        theta = jax.tree_util.tree_map(as64, theta)
        zs, as_, jacobians, at_output, G = _forward_arrays(
            theta, as64(X), as64(Y), activations, cost
        )
        host = lambda seq: [None, *(None if v is None else np.asarray(v) for v in seq)]  # noqa: E731
        return ForwardPass(
            W=host(theta.W),
            b=host(theta.b),
            Z=host(zs),
            A=[np.asarray(v) for v in as_],
            J=host(jacobians),
            G=np.asarray(G),
            J_at_output=host(at_output),
        )


def _rows_times(V: np.ndarray, J: np.ndarray) -> np.ndarray:
    """Row i of the result is V[i] @ J[i]."""
    return np.einsum("im,imn->in", V, J)


def _square(J: np.ndarray) -> bool:
    return J.shape[1] == J.shape[2]


def backprop(
    p: ForwardPass,
    *,
    jacobian: Callable[[int], np.ndarray | None] | None = None,
    back_through_weights: Callable[[np.ndarray, int], np.ndarray | None] | None = None,
    weight_input: Callable[[int], np.ndarray | None] | None = None,
) -> Leaves | None:
    """Eqs. 4.1-4.4, with optional replacements of one ingredient each.

    Args:
      p: the forward pass.
      jacobian: l -> the Jac_{i,l} to use (N, m, n) instead of p.J[l].
      back_through_weights: (grad_Z_l, l) -> what replaces grad_Z_l @ W_l.
      weight_input: l -> what replaces A_{l-1} in eq. 4.3.

    Returns:
      [grad_W_1..grad_W_L, grad_b_1..grad_b_L], or None when a replacement
      does not fit this network's shapes (the mistake cannot happen here).
    """
    L = p.L
    jac = lambda l: p.J[l] if jacobian is None else jacobian(l)  # noqa: E731
    J_L = jac(L)
    if J_L is None or J_L.shape[1] != p.G.shape[1]:
        return None
    grad_Z = _rows_times(p.G, J_L)  # eq. 4.1
    grad_W, grad_b = [None] * (L + 1), [None] * (L + 1)
    for l in range(L, 0, -1):
        A_prev = p.A[l - 1] if weight_input is None else weight_input(l)
        if A_prev is None or A_prev.shape != p.A[l - 1].shape:
            return None
        grad_W[l] = grad_Z.T @ A_prev  # eq. 4.3
        grad_b[l] = grad_Z.sum(axis=0)  # eq. 4.4
        if l > 1:
            if back_through_weights is None:
                grad_A = grad_Z @ p.W[l]
            else:
                grad_A = back_through_weights(grad_Z, l)
            J_prev = jac(l - 1)
            if grad_A is None or J_prev is None or grad_A.shape[1] != J_prev.shape[1]:
                return None
            grad_Z = _rows_times(grad_A, J_prev)  # eq. 4.2
            if grad_Z.shape != p.Z[l - 1].shape:
                return None
    return grad_W[1:] + grad_b[1:]


def _identity_jacobian(p: ForwardPass, l: int) -> np.ndarray | None:
    J = p.J[l]
    if not _square(J):
        return None
    return np.broadcast_to(np.eye(J.shape[1]), J.shape)


def _diagonal_jacobian(p: ForwardPass, l: int) -> np.ndarray:
    J = p.J[l]
    if not _square(J):
        return J
    return np.einsum("imm->im", J)[:, :, None] * np.eye(J.shape[1])


def _mistake_no_activation_derivative(p: ForwardPass) -> Leaves | None:
    # Eq. 3.2 without Jac_{l-1}^T: the hidden layers' Jacobians become I.
    return backprop(p, jacobian=lambda l: p.J[l] if l == p.L else _identity_jacobian(p, l))


def _mistake_no_output_jacobian(p: ForwardPass) -> Leaves | None:
    # Eq. 3.1 without Jac_L^T: grad_z_L = grad_yhat C.
    return backprop(p, jacobian=lambda l: _identity_jacobian(p, l) if l == p.L else p.J[l])


def _mistake_diagonal_jacobian(p: ForwardPass) -> Leaves | None:
    # Every Jacobian replaced by its diagonal, as if sigma were pointwise.
    layers = range(1, p.L + 1)
    if all(np.array_equal(_diagonal_jacobian(p, l), p.J[l]) for l in layers):
        return None  # every Jacobian already is diagonal: nothing to tell apart
    return backprop(p, jacobian=lambda l: _diagonal_jacobian(p, l))


def _mistake_preactivation_in_weight_gradient(p: ForwardPass) -> Leaves | None:
    # Eq. 3.3 with z_{l-1} where a_{l-1} = sigma_{l-1}(z_{l-1}) belongs (l >= 2).
    if p.L < 2:
        return None
    return backprop(p, weight_input=lambda l: p.A[0] if l == 1 else p.Z[l - 1])


def _mistake_weight_not_transposed(p: ForwardPass) -> Leaves | None:
    # Eq. 3.2 with W_l where W_l^T belongs; only fits a square W_l.
    def back(grad_Z: np.ndarray, l: int) -> np.ndarray | None:
        W = p.W[l]
        return grad_Z @ W.T if W.shape[0] == W.shape[1] else None

    if p.L < 2:
        return None
    return backprop(p, back_through_weights=back)


def _mistake_weight_omitted(p: ForwardPass) -> Leaves | None:
    # Eq. 3.2 without W_l^T; fits when n_l = m_{l-1}.
    def back(grad_Z: np.ndarray, l: int) -> np.ndarray | None:
        return grad_Z if p.W[l].shape[0] == p.W[l].shape[1] else None

    if p.L < 2:
        return None
    return backprop(p, back_through_weights=back)


def _mistake_jacobian_off_by_one(p: ForwardPass) -> Leaves | None:
    # Eq. 3.2 with Jac_l (the layer above) where Jac_{l-1} belongs.
    if p.L < 2:
        return None

    def jac(l: int) -> np.ndarray | None:
        if l == p.L:
            return p.J[l]
        above = p.J[l + 1]
        return above if above.shape == p.J[l].shape else None

    return backprop(p, jacobian=jac)


def _layer_sets(L: int) -> dict[str, tuple[int, ...]]:
    """Where a mistake made layer by layer can sit: the output, one hidden layer, all."""
    sets = {f"at the output layer L = {L}": (L,)}
    sets.update({f"at layer {l}": (l,) for l in range(L - 1, 0, -1)})
    if L > 2:
        sets["at every hidden layer"] = tuple(range(1, L))
    if L > 1:
        sets["at every layer"] = tuple(range(1, L + 1))
    return sets


def _mistake_sigma_prime_of_output(p: ForwardPass) -> dict[str, Leaves]:
    # phi'(a_l) where phi'(z_l) belongs (eqs. 3.1, 3.2), at pointwise layers.
    correct = backprop(p)
    planted: dict[str, Leaves] = {}
    seen: set[tuple[int, ...]] = set()
    for where, layers in _layer_sets(p.L).items():
        layers = tuple(l for l in layers if p.J_at_output[l] is not None)
        if not layers or layers in seen:
            continue
        seen.add(layers)
        grads = backprop(p, jacobian=lambda l, s=layers: p.J_at_output[l] if l in s else p.J[l])
        if grads is not None and relative_error(grads, correct) > 0:
            planted[where] = grads
    return planted


def _once(
    plant: Callable[[ForwardPass], Leaves | None],
) -> Callable[[ForwardPass], dict[str, Leaves]]:
    """A mistake with a single way of being made: its one variant, unnamed."""

    def variants(p: ForwardPass) -> dict[str, Leaves]:
        grads = plant(p)
        return {} if grads is None else {"": grads}

    return variants


@dataclasses.dataclass(frozen=True)
class Mistake:
    """A classic mistake: backprop recomputed with it, and what it means.

    Attributes:
      plant: the forward pass -> the gradient leaves with the mistake planted,
        by variant (where in the network it is made: "" for a mistake made
        one way only); empty where the mistake cannot happen on this network.
      explanation: the finding, formatted with ``l`` (the entry layer),
        ``L``, ``sigma_l``, ``sigma_L``, ``nonpointwise`` and ``variant``.
    """

    plant: Callable[[ForwardPass], Mapping[str, Leaves]]
    explanation: str


#: The classic mistakes the checker recognizes by recomputing backprop with
#: each planted; the explanation is formatted with l (the entry layer), L,
#: and the activation names.
MISTAKES: dict[str, Mistake] = {
    "diagonal_jacobian": Mistake(
        _once(_mistake_diagonal_jacobian),
        "the gradient equals backprop with each non-pointwise Jacobian taken as "
        "diagonal ({nonpointwise}), as if the activation were pointwise; its "
        "off-diagonal entries matter — softmax's Jacobian is diag(s) - s s^T, not "
        "diag(s (1 - s)) (Exercise 1d)",
    ),
    "no_activation_derivative": Mistake(
        _once(_mistake_no_activation_derivative),
        "the gradient equals backprop without the activation's derivative in the "
        "recursion: eq. 3.2 / 4.2 is grad_z_{{l-1}} = Jac_{{l-1}}^T W_l^T grad_z_l, and "
        "the candidate drops Jac_{{l-1}}^T (sigma_{{l-1}}'s derivative) — first at "
        "layer {l}, sigma_{l} = {sigma_l}",
    ),
    "no_output_jacobian": Mistake(
        _once(_mistake_no_output_jacobian),
        "the gradient equals backprop with grad_z_L = grad_yhat C(-, y): eq. 3.1 / 4.1 "
        "multiplies the cost gradient by Jac_L^T, the Jacobian of sigma_L = {sigma_L}",
    ),
    "preactivation_in_weight_gradient": Mistake(
        _once(_mistake_preactivation_in_weight_gradient),
        "the gradient equals backprop with z_{{l-1}} where a_{{l-1}} belongs in the "
        "weight gradient: eq. 3.3 / 4.3 is grad_W_l = grad_z_l a_{{l-1}}^T with "
        "a_{{l-1}} = sigma_{{l-1}}(z_{{l-1}}), the post-activation",
    ),
    "weight_not_transposed": Mistake(
        _once(_mistake_weight_not_transposed),
        "the gradient equals backprop with W_l where W_l^T belongs in the recursion: "
        "eq. 3.2 is grad_z_{{l-1}} = Jac_{{l-1}}^T W_l^T grad_z_l (in rows, eq. 4.2, "
        "grad_Z_l @ W_l); a square W_l hides the missing transpose",
    ),
    "weight_omitted": Mistake(
        _once(_mistake_weight_omitted),
        "the gradient equals backprop without W_l^T in the recursion: eq. 3.2 is "
        "grad_z_{{l-1}} = Jac_{{l-1}}^T W_l^T grad_z_l",
    ),
    "jacobian_off_by_one": Mistake(
        _once(_mistake_jacobian_off_by_one),
        "the gradient equals backprop with the Jacobian of the layer above, Jac_l, "
        "where Jac_{{l-1}} belongs: an off-by-one layer index in eq. 3.2 / 4.2 "
        "(grad_z_{{l-1}} = Jac_{{l-1}}^T W_l^T grad_z_l, the derivative at z_{{l-1}})",
    ),
    "sigma_prime_of_output": Mistake(
        _mistake_sigma_prime_of_output,
        "the gradient equals backprop with phi'(a_l) where phi'(z_l) belongs, {variant}: "
        "the activation's derivative is evaluated at its output a_l = phi(z_l) instead "
        "of its input z_l (eqs. 3.1, 3.2 use Jac_l = diag(phi'(z_l))) — e.g. "
        "sigmoid_prime(a) on an a that already is sigmoid(z); the output form of the "
        "derivative, a (1 - a) for the sigmoid, takes a, the input form takes z",
    ),
}


def mistake_errors(p: ForwardPass, got: Leaves) -> tuple[dict[str, float], dict[str, str]]:
    """The candidate against each mistake that fits the network.

    Returns:
      (mistake -> relative error against its closest variant, mistake -> that
      variant's description, for mistakes made in several ways).
    """
    errors, variants = {}, {}
    for name, mistake in MISTAKES.items():
        planted = {where: relative_error(got, g) for where, g in mistake.plant(p).items()}
        if planted:
            where = min(planted, key=planted.__getitem__)
            errors[name] = planted[where]
            if where:
                variants[name] = where
    return errors, variants
