"""Algorithms 1-5 of the notes, line by line.

Lists are indexed as in the notes: ``W[l]`` is W_l, ``z[l]`` is z_l, and
``sigma[0]`` is the identity sigma_0 of section 2.2. A comment ``# [E3]``
marks a line where the notes' pseudo-code has a typo that the code
corrects; docs/ERRATA.md gives each correction with its reasoning.

For a vector v, ``v @ W`` is W^T v (the notes' v is a column), and the
single-sample algorithms write W_l^T @ grad_z_l that way: XLA on CPU
compiles ``W.T @ v`` to a loop an order of magnitude slower than the
matrix-vector product it makes of ``v @ W``.

Every public function here has the signature

    f(theta, x, y, activations, cost, *, return_sensitivities=False,
      jacobian_mode="structured", max_dense_bytes=2**30)

with x (n_0,) and y (m_L,) for the single-sample Algorithms 1, 3 and 4, and
X (N, n_0) and Y (N, m_L) for the batch-first Algorithms 2 and 5, whose loss
is the extended cost summed over rows. It returns grads, a ``Params`` shaped
like theta, or (grads, sensitivities) when ``return_sensitivities``.
``jacobian_mode="dense"`` materializes every Jac_l (every Jac_{i,l}) as the
notes write it; the structured default never builds an n x n matrix for a
pointwise or softmax layer. ``max_dense_bytes`` bounds what the dense mode
may allocate (None: no bound).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from manualgrad._backprop import (
    Algorithm,
    JacobianMode,
    Sensitivities,
    algorithm,
    forward_preactivations,
    jacobian,
    jacobian_from_output,
    jacobian_rows,
    one_based,
    ones_times,
    output_grad_z,
    pack,
    rows_times,
)
from manualgrad.activations import Activation
from manualgrad.costs import Cost
from manualgrad.params import Params

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "backprop_batch",
    "backprop_batch_combined",
    "backprop_combined",
    "backprop_postactivation",
    "backprop_preactivation",
]

Grads = tuple[Params, Sensitivities]


@algorithm(number=1, batch=False)
def backprop_preactivation(
    theta: Params,
    x: jax.Array,
    y: jax.Array,
    activations: tuple[Activation, ...],
    cost: Cost,
    jacobian_mode: JacobianMode,
) -> Grads:
    """Algorithm 1: single-sample backpropagation caching pre-activations z_l.

    Args:
      theta: Params(W, b), W[l-1] of shape (n_l, m_{l-1}).
      x: the sample, shape (n_0,).
      y: the target, shape (m_L,).
      activations: sigma_1..sigma_L, names or Activation objects.
      cost: the cost C, a name or Cost object.

    Returns:
      grad_theta L(-, (x, y)) as Params, with Sensitivities when asked.
    """
    W, b, sigma, L = one_based(theta, activations)
    # Forward propagation.
    z = [x]  # line 1: z_0 <- x
    jac = [jacobian(sigma[0], x, jacobian_mode)]  # Jac_0 = I: sigma_0 is the identity
    for l in range(1, L + 1):
        z.append(W[l] @ sigma[l - 1](z[l - 1]) + b[l])  # line 3
        jac.append(jacobian(sigma[l], z[l], jacobian_mode))  # line 4  [E1]
    # Back propagation.
    grad_z, grad_a = [None] * (L + 1), [None] * (L + 1)
    grad_W, grad_b = [None] * (L + 1), [None] * (L + 1)
    a_L = sigma[L](z[L])
    grad_a[L] = cost.grad(a_L, y)  # Gradient(C(-, y), sigma_L(z_L))  [E2]
    grad_z[L] = output_grad_z(sigma[L], cost, a_L, y, grad_a[L], jac[L])  # line 6, eq. 3.1
    for l in range(L, 0, -1):
        grad_a[l - 1] = grad_z[l] @ W[l]  # W_l^T @ grad_z_l, the right half of line 8
        grad_z[l - 1] = jac[l - 1].T @ grad_a[l - 1]  # line 8, eq. 3.2
        grad_W[l] = jnp.outer(grad_z[l], sigma[l - 1](z[l - 1]))  # line 9, eq. 3.3
        grad_b[l] = grad_z[l]  # line 10, eq. 3.4
    return pack(grad_W, grad_b, grad_z, grad_a, L)


@algorithm(number=2, batch=True)
def backprop_batch(
    theta: Params,
    X: jax.Array,
    Y: jax.Array,
    activations: tuple[Activation, ...],
    cost: Cost,
    jacobian_mode: JacobianMode,
) -> Grads:
    """Algorithm 2: batch-first backpropagation caching pre-activations Z_l.

    Args:
      theta: Params(W, b), W[l-1] of shape (n_l, m_{l-1}).
      x: the batch X, shape (N, n_0), one sample per row.
      y: the targets Y, shape (N, m_L).
      activations: sigma_1..sigma_L, applied to rows.
      cost: the cost C; the loss is the extended cost, a sum over rows.

    Returns:
      grad_theta of the extended loss as Params, with Sensitivities (rows
      first) when asked.
    """
    W, b, sigma, L = one_based(theta, activations)
    # Forward propagation: Z_0 <- X; Z_l <- sigma_{l-1}(Z_{l-1}) W_l^T + 1_N b_l^T.
    Z = forward_preactivations(W, b, sigma, X)
    # Set-up for back propagation.
    grad_Z, grad_A = [None] * (L + 1), [None] * (L + 1)
    grad_W, grad_b = [None] * (L + 1), [None] * (L + 1)
    A_L = sigma[L](Z[L])
    G = cost.grad(A_L, Y)  # G <- Gradient(C(-, Y), sigma_L(Z_L))  [E6]
    grad_A[L] = G
    jac_L = jacobian_rows(sigma[L], Z[L], jacobian_mode)  # Jac_{i,L}  [E4]
    grad_Z[L] = output_grad_z(sigma[L], cost, A_L, Y, G, jac_L)  # grad_Z_L[i], eq. 4.1
    # Back propagation.
    for l in range(L, 0, -1):
        jac_prev = jacobian_rows(sigma[l - 1], Z[l - 1], jacobian_mode)  # [E5]
        grad_A[l - 1] = grad_Z[l] @ W[l]
        grad_Z[l - 1] = rows_times(grad_A[l - 1], jac_prev)  # grad_Z_{l-1}[i], eq. 4.2
        grad_W[l] = grad_Z[l].T @ sigma[l - 1](Z[l - 1])  # eq. 4.3  [E7]
        grad_b[l] = jnp.sum(grad_Z[l], axis=0)  # grad_Z_l^T @ 1_N, eq. 4.4
    return pack(grad_W, grad_b, grad_Z, grad_A, L)


@algorithm(number=3, batch=False)
def backprop_postactivation(
    theta: Params,
    x: jax.Array,
    y: jax.Array,
    activations: tuple[Activation, ...],
    cost: Cost,
    jacobian_mode: JacobianMode,
) -> Grads:
    """Algorithm 3: single-sample backpropagation caching post-activations a_l only.

    Jac_l comes from a_l where the activation allows (sigmoid a(1-a), tanh
    1-a^2, relu, softmax diag(a) - a a^T, ...); otherwise from
    W_l @ a_{l-1} + b_l, recomputed as the pseudo-code writes it.

    Args:
      theta: Params(W, b), W[l-1] of shape (n_l, m_{l-1}).
      x: the sample, shape (n_0,).
      y: the target, shape (m_L,).
      activations: sigma_1..sigma_L, names or Activation objects.
      cost: the cost C, a name or Cost object.

    Returns:
      grad_theta L(-, (x, y)) as Params, with Sensitivities when asked.
    """
    W, b, sigma, L = one_based(theta, activations)
    # Forward propagation.
    a = [x]  # a_0 <- x
    jac = [None]
    for l in range(1, L + 1):
        a.append(sigma[l](W[l] @ a[l - 1] + b[l]))  # a_l <- sigma_l(W_l a_{l-1} + b_l)
        if sigma[l].has_output_jacobian:
            jac.append(jacobian_from_output(sigma[l], a[l], jacobian_mode))  # Jac_l from a_l
        else:
            jac.append(jacobian(sigma[l], W[l] @ a[l - 1] + b[l], jacobian_mode))  # [E1]
    # Back propagation.
    grad_z, grad_a = [None] * (L + 1), [None] * (L + 1)
    grad_W, grad_b = [None] * (L + 1), [None] * (L + 1)
    grad_a[L] = cost.grad(a[L], y)  # grad_a_L <- Gradient(C(-, y), a_L)
    for l in range(L, 0, -1):
        # Jac_l^T @ grad_a_l is the common factor of the three lines below.
        if l == L:
            grad_z[l] = output_grad_z(sigma[L], cost, a[L], y, grad_a[L], jac[L])
        else:
            grad_z[l] = jac[l].T @ grad_a[l]
        grad_W[l] = jnp.outer(grad_z[l], a[l - 1])  # Jac_l^T grad_a_l a_{l-1}^T
        grad_b[l] = grad_z[l]  # Jac_l^T grad_a_l
        grad_a[l - 1] = grad_z[l] @ W[l]  # W_l^T Jac_l^T grad_a_l  [E3]
    return pack(grad_W, grad_b, grad_z, grad_a, L)


@algorithm(number=4, batch=False)
def backprop_combined(
    theta: Params,
    x: jax.Array,
    y: jax.Array,
    activations: tuple[Activation, ...],
    cost: Cost,
    jacobian_mode: JacobianMode,
) -> Grads:
    """Algorithm 4: single-sample backpropagation caching z_l and a_l.

    Args:
      theta: Params(W, b), W[l-1] of shape (n_l, m_{l-1}).
      x: the sample, shape (n_0,).
      y: the target, shape (m_L,).
      activations: sigma_1..sigma_L, names or Activation objects.
      cost: the cost C, a name or Cost object.

    Returns:
      grad_theta L(-, (x, y)) as Params, with Sensitivities when asked.
    """
    W, b, sigma, L = one_based(theta, activations)
    # Forward propagation.
    a, z, jac = [x], [None], [None]  # a_0 <- x
    for l in range(1, L + 1):
        z.append(W[l] @ a[l - 1] + b[l])  # z_l <- W_l a_{l-1} + b_l
        a.append(sigma[l](z[l]))  # a_l <- sigma_l(z_l)
        jac.append(jacobian(sigma[l], z[l], jacobian_mode))  # Jac_l  [E1]
    # Back propagation.
    grad_z, grad_a = [None] * (L + 1), [None] * (L + 1)
    grad_W, grad_b = [None] * (L + 1), [None] * (L + 1)
    grad_a[L] = cost.grad(a[L], y)  # grad_a_L <- Gradient(C(-, y), a_L)
    for l in range(L, 0, -1):
        if l == L:
            grad_z[l] = output_grad_z(sigma[L], cost, a[L], y, grad_a[L], jac[L])  # eq. 3.1
        else:
            grad_z[l] = jac[l].T @ grad_a[l]  # grad_z_l <- Jac_l^T grad_a_l
        grad_a[l - 1] = grad_z[l] @ W[l]  # grad_a_{l-1} <- W_l^T grad_z_l  [E3]
        grad_W[l] = jnp.outer(grad_z[l], a[l - 1])  # eq. 3.3
        grad_b[l] = grad_z[l]  # eq. 3.4
    return pack(grad_W, grad_b, grad_z, grad_a, L)


@algorithm(number=5, batch=True)
def backprop_batch_combined(
    theta: Params,
    X: jax.Array,
    Y: jax.Array,
    activations: tuple[Activation, ...],
    cost: Cost,
    jacobian_mode: JacobianMode,
) -> Grads:
    """Algorithm 5: batch-first backpropagation caching Z_l and A_l.

    Args:
      theta: Params(W, b), W[l-1] of shape (n_l, m_{l-1}).
      x: the batch X, shape (N, n_0), one sample per row.
      y: the targets Y, shape (N, m_L).
      activations: sigma_1..sigma_L, applied to rows.
      cost: the cost C; the loss is the extended cost, a sum over rows.

    Returns:
      grad_theta of the extended loss as Params, with Sensitivities (rows
      first) when asked.
    """
    W, b, sigma, L = one_based(theta, activations)
    N = X.shape[0]
    # Forward propagation.
    A, Z, jac = [X], [None], [None]  # A_0 <- X
    for l in range(1, L + 1):
        Z.append(A[l - 1] @ W[l].T + ones_times(b[l], N))  # Z_l <- A_{l-1} W_l^T + 1_N b_l^T
        A.append(sigma[l](Z[l]))  # A_l <- sigma_l(Z_l), row by row
        jac.append(jacobian_rows(sigma[l], Z[l], jacobian_mode))  # [E1]
    # Back propagation.
    grad_Z, grad_A = [None] * (L + 1), [None] * (L + 1)
    grad_W, grad_b = [None] * (L + 1), [None] * (L + 1)
    grad_A[L] = cost.grad(A[L], Y)  # grad_A_L <- Gradient(C(-, Y), A_L)  [E6]
    for l in range(L, 0, -1):
        if l == L:
            grad_Z[l] = output_grad_z(sigma[L], cost, A[L], Y, grad_A[L], jac[L])  # eq. 4.1
        else:
            grad_Z[l] = rows_times(grad_A[l], jac[l])  # grad_Z_l[i] <- grad_A_l[i] Jac_{i,l}
        grad_A[l - 1] = grad_Z[l] @ W[l]  # grad_A_{l-1} <- grad_Z_l W_l  [E3]
        grad_W[l] = grad_Z[l].T @ A[l - 1]  # eq. 4.3
        grad_b[l] = jnp.sum(grad_Z[l], axis=0)  # grad_Z_l^T @ 1_N, eq. 4.4
    return pack(grad_W, grad_b, grad_Z, grad_A, L)


#: The notes' numbering.
ALGORITHMS: dict[int, Algorithm] = {
    1: backprop_preactivation,
    2: backprop_batch,
    3: backprop_postactivation,
    4: backprop_combined,
    5: backprop_batch_combined,
}
