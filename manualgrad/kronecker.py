"""Section 4.3 of the notes: Algorithm 2 with explicit Kronecker operators.

A batch matrix M in R^{N x n} is identified with the tensor
sum_i e_i (x) M[i]^T in R^N (x) R^n. In coordinates this is the row-major
flattening: the entry of e_i (x) v at position i * n + k is v[k], so
:func:`vec` is ``M.reshape(-1)`` and :func:`unvec` its inverse. Under this
identification the notes set

    Phi_l = sum_i E_ii (x) Jac_{i,l}^T,

E_ii the N x N elementary matrix, and eqs. 4.1 and 4.2 become

    grad_{Z_L} L     = Phi_L(grad_{Y_hat} C(-, Y)),
    grad_{Z_{l-1}} L = Phi_{l-1}(grad_{Z_l} L @ W_l).

The product with W_l is an operator too: row i of grad_{Z_l} L @ W_l is
(W_l^T grad_{Z_l} L[i]^T)^T, so vec(grad_{Z_l} L @ W_l) =
(I_N (x) W_l^T) vec(grad_{Z_l} L). :func:`backprop_kronecker` builds every
Phi_l and I_N (x) W_l^T as an explicit matrix with ``jnp.kron`` and runs the
backward pass as matrix-vector products; its gradients equal Algorithm 2's.

The operators are block diagonal, with N blocks of size n_l x m_l: building
them costs (N n_l)(N m_l) numbers where Algorithm 2 needs N n_l m_l. This
module is for small sizes, to see the algebra work; it refuses an operator
with more than ``max_operator_entries`` entries.

Non-square Jacobians need nothing special. A pooling layer sigma_l:
R^{n_l} -> R^1 has Jac_{i,l} of shape (1, n_l), so Phi_l maps
R^N (x) R^1 -> R^N (x) R^{n_l} (a homomorphism rather than an endomorphism).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from manualgrad._backprop import (
    Sensitivities,
    forward_preactivations,
    one_based,
    pack,
    public_docstring,
    public_function,
)
from manualgrad._validation import CheckedInputs
from manualgrad.activations import Activation
from manualgrad.costs import Cost
from manualgrad.params import Params

__all__ = [
    "DEFAULT_MAX_OPERATOR_ENTRIES",
    "backprop_kronecker",
    "block_diagonal_operator",
    "linear_operator",
    "unvec",
    "vec",
]

#: The largest operator :func:`backprop_kronecker` builds by default: 2^22
#: entries, 32 MiB in float64.
DEFAULT_MAX_OPERATOR_ENTRIES = 1 << 22


def vec(M: jax.Array) -> jax.Array:
    """M in R^{N x n} as sum_i e_i (x) M[i]^T in R^N (x) R^n: shape (N n,)."""
    return M.reshape(-1)


def unvec(v: jax.Array, num_rows: int) -> jax.Array:
    """The inverse of :func:`vec`: shape (N n,) back to (N, n)."""
    return v.reshape(num_rows, -1)


def block_diagonal_operator(jacobians: jax.Array) -> jax.Array:
    """Phi = sum_i E_ii (x) Jac_i^T, as an explicit matrix.

    Args:
      jacobians: the dense Jac_i stacked, shape (N, m, n); Jac_i is the
        Jacobian of sigma: R^n -> R^m at row i.

    Returns:
      Phi, shape (N n, N m): the matrix of R^N (x) R^m -> R^N (x) R^n, block
      diagonal with blocks Jac_i^T.
    """
    N, m, n = jacobians.shape
    phi = jnp.zeros((N * n, N * m), jacobians.dtype)
    for i in range(N):
        E_ii = jnp.zeros((N, N), jacobians.dtype).at[i, i].set(1)
        phi = phi + jnp.kron(E_ii, jacobians[i].T)  # Phi = sum_i E_ii (x) Jac_i^T
    return phi


def linear_operator(W: jax.Array, num_rows: int) -> jax.Array:
    """I_N (x) W^T, the matrix of M -> M @ W on R^N (x) R^n: shape (N m, N n) for W (n, m)."""
    return jnp.kron(jnp.eye(num_rows, dtype=W.dtype), W.T)


def _dense_jacobians(sigma: Activation, Z: jax.Array) -> jax.Array:
    """Jac_{i,l} = Jacobian(sigma_l, Z_l[i]) for every row, dense: (N, m, n)."""
    return jax.vmap(lambda z: sigma.jacobian(z).dense())(Z)


def _backprop_kronecker(
    theta: Params,
    X: jax.Array,
    Y: jax.Array,
    activations: tuple[Activation, ...],
    cost: Cost,
) -> tuple[Params, Sensitivities]:
    """Algorithm 2 written with the explicit operators of section 4.3.

    The output gradient is applied literally, Phi_L(grad C): unlike the
    algorithms, no closed form is substituted for softmax with cross-entropy
    or sigmoid with binary cross-entropy, so saturated outputs (where
    grad C is infinite) give what the literal product gives.

    Args:
      theta: Params(W, b), W[l-1] of shape (n_l, m_{l-1}).
      X: the batch, shape (N, n_0).
      Y: the targets, shape (N, m_L).
      activations: sigma_1..sigma_L, names or Activation objects.
      cost: the cost C; the loss is the extended cost, a sum over rows.

    Returns:
      The gradient as Params (and Sensitivities, rows first, when asked),
      equal to ``manualgrad.backprop_batch``'s.
    """
    W, b, sigma, L = one_based(theta, activations)
    N = X.shape[0]
    Z = forward_preactivations(W, b, sigma, X)  # forward propagation, as in Algorithm 2
    # Phi_l = sum_i E_ii (x) Jac_{i,l}^T for l = 0..L (Phi_0 = identity: sigma_0 is).
    Phi = [block_diagonal_operator(_dense_jacobians(sigma[l], Z[l])) for l in range(L + 1)]
    grad_Z, grad_A = [None] * (L + 1), [None] * (L + 1)
    grad_W, grad_b = [None] * (L + 1), [None] * (L + 1)
    grad_A[L] = cost.grad(sigma[L](Z[L]), Y)  # grad_{Y_hat} C(-, Y)
    grad_Z[L] = unvec(Phi[L] @ vec(grad_A[L]), N)  # eq. 4.1 as Phi_L(grad C)
    for l in range(L, 0, -1):
        # grad_Z_l @ W_l as (I_N (x) W_l^T) vec(grad_Z_l)
        grad_A[l - 1] = unvec(linear_operator(W[l], N) @ vec(grad_Z[l]), N)
        grad_Z[l - 1] = unvec(Phi[l - 1] @ vec(grad_A[l - 1]), N)  # eq. 4.2 as Phi_{l-1}
        grad_W[l] = grad_Z[l].T @ sigma[l - 1](Z[l - 1])  # eq. 4.3
        grad_b[l] = grad_Z[l].T @ jnp.ones(N, X.dtype)  # eq. 4.4
    return pack(grad_W, grad_b, grad_Z, grad_A, L)


@functools.partial(jax.jit, static_argnames=("activations", "cost", "return_sensitivities"))
def _compiled(
    theta: Params,
    X: jax.Array,
    Y: jax.Array,
    activations: tuple[Activation, ...],
    cost: Cost,
    *,
    return_sensitivities: bool,
) -> Params | tuple[Params, Sensitivities]:
    grads, sens = _backprop_kronecker(theta, X, Y, activations, cost)
    return (grads, sens) if return_sensitivities else grads


def _check_sizes(checked: CheckedInputs, N: int, limit: int | None, where: str) -> None:
    """Refuses before any operator is built if one would exceed ``limit`` entries."""
    if limit is None:
        return
    theta = checked.theta
    n = [theta.W[0].shape[1]] + [W.shape[0] for W in theta.W]  # n_0..n_L
    # m_l is the width of sigma_l's output: W_{l+1}'s columns, and Y's for l = L.
    m = [W.shape[1] for W in theta.W] + [checked.y.shape[1]]
    shapes = [(f"Phi_{l}", N * n[l], N * m[l]) for l in range(len(n))]
    shapes += [
        (f"I_N (x) W_{l}^T", N * W.shape[1], N * W.shape[0]) for l, W in enumerate(theta.W, 1)
    ]
    for name, rows, cols in shapes:
        if rows * cols > limit:
            raise ValueError(
                f"{where}: {name} would be a {rows} x {cols} matrix ({rows * cols:,} entries) "
                f"for a batch of N = {N} rows, over the limit of {limit:,} entries "
                "(max_operator_entries). The explicit Kronecker form is for small sizes; "
                "manualgrad.backprop_batch (Algorithm 2) applies the same operators row by row"
            )


def _check_options(
    checked: CheckedInputs, num_rows: int, options: dict[str, object]
) -> dict[str, object]:
    _check_sizes(checked, num_rows, options["max_operator_entries"], _WHERE)
    return {"return_sensitivities": bool(options["return_sensitivities"])}


_WHERE = "backprop_kronecker (section 4.3)"

_KEYWORD_ARGS = """\
      return_sensitivities: also return grad_{Z_l} L and grad_{A_l} L.
      max_operator_entries: refuse when an operator would have more entries
        than this (None: no limit).
"""

_RAISES = """\
    Raises:
      ValueError: bad inputs (as for the algorithms), or an operator over
        ``max_operator_entries``.
      TypeError: a non-floating or mixed dtype, a wrongly typed argument.
"""

backprop_kronecker = public_function(
    _backprop_kronecker,
    compiled=_compiled,
    batch=True,
    where=_WHERE,
    check_options=_check_options,
    static_options={
        "return_sensitivities": False,
        "max_operator_entries": DEFAULT_MAX_OPERATOR_ENTRIES,
    },
    positional=("theta", "X", "Y", "activations", "cost"),
    name="backprop_kronecker",
)
backprop_kronecker.__doc__ = public_docstring(_backprop_kronecker.__doc__, _KEYWORD_ARGS, _RAISES)
