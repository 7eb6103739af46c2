"""The autodiff side: the same loss written in plain JAX, for jax.grad and jax.vjp.

Nothing here calls manualgrad: the forward pass is ``A @ W.T + b`` layer by
layer, and softmax with cross-entropy is the usual stable ``log_softmax``
form. The batch loss is the sum over rows, the notes' extended cost.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from manualgrad import Params

#: The hidden activations of the benchmark, as plain JAX functions.
HIDDEN_FUNCTIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "softmax": lambda z: jax.nn.softmax(z, axis=-1),
}


def batch_loss(theta: Params, X: jax.Array, Y: jax.Array, hidden: str) -> jax.Array:
    """sum_i C(F_theta(X[i]), Y[i]) with softmax and cross-entropy at the output.

    Args:
      theta: Params(W, b).
      X: (N, n_0) inputs.
      Y: (N, n_L) targets.
      hidden: the activation of every layer but the last.

    Returns:
      The scalar loss.
    """
    phi = HIDDEN_FUNCTIONS[hidden]
    A = X
    for l, (W, b) in enumerate(zip(theta.W, theta.b, strict=True), start=1):
        Z = A @ W.T + b[None, :]
        A = phi(Z) if l < len(theta.W) else Z
    return -jnp.sum(Y * jax.nn.log_softmax(A, axis=-1))


def sample_loss(theta: Params, x: jax.Array, y: jax.Array, hidden: str) -> jax.Array:
    """C(F_theta(x), y) for one sample x (n_0,) and target y (n_L,)."""
    phi = HIDDEN_FUNCTIONS[hidden]
    a = x
    for l, (W, b) in enumerate(zip(theta.W, theta.b, strict=True), start=1):
        z = W @ a + b
        a = phi(z) if l < len(theta.W) else z
    return -jnp.sum(y * jax.nn.log_softmax(a))


def grad_fn(loss: Callable[..., jax.Array], hidden: str) -> Callable[..., Params]:
    """jax.grad of ``loss`` with respect to theta."""
    return jax.grad(lambda theta, x, y: loss(theta, x, y, hidden))


def vjp_fn(loss: Callable[..., jax.Array], hidden: str) -> Callable[..., Params]:
    """The same gradient as the pullback of the cotangent 1 through ``jax.vjp``."""

    def gradient(theta: Params, x: jax.Array, y: jax.Array) -> Params:
        value, pullback = jax.vjp(lambda t: loss(t, x, y, hidden), theta)
        (grads,) = pullback(jnp.ones_like(value))
        return grads

    return gradient


def per_example_grad_fn(hidden: str) -> Callable[..., Params]:
    """jax.vmap of the single-sample jax.grad, summed over the batch.

    The autodiff counterpart of a single-sample algorithm under jax.vmap:
    one gradient per row, then their sum.
    """
    per_row = jax.vmap(grad_fn(sample_loss, hidden), in_axes=(None, 0, 0))
    return lambda theta, X, Y: sum_rows(per_row(theta, X, Y))


def sum_rows(tree: Params) -> Params:
    """Sums every leaf over its leading (batch) axis."""
    return jax.tree.map(lambda leaf: jnp.sum(leaf, axis=0), tree)
