"""A forward pass and loss written apart from manualgrad's, for jax.grad.

Nothing here uses manualgrad's Jacobians, costs or algorithms: activations
and costs known by name are evaluated with ``jax.nn`` and ``jnp`` formulas
written out below (reading only their parameters from the manualgrad
object), and the network is composed one sample at a time, a batch being
the sum over rows of the single-sample loss. An activation or cost that is
not known by name (a user's own) is called as given.

Softmax with cross-entropy and sigmoid with binary cross-entropy are
evaluated in the log domain (``log_softmax``, ``log_sigmoid``), the stable
formulation whose jax.grad is finite for logits of any size.

Integer labels are read as given, not as manualgrad's one-hot rows: a class
index y picks -log y_hat[y] out of the output, and 0/1 binary targets enter
the binary cross-entropy as numbers. :func:`check` validates the inputs
with manualgrad's checks and keeps the labels.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

import manualgrad
from manualgrad import Activation, CheckedInputs, Cost, Params, check_inputs


def _radial_sigmoid(z: jax.Array) -> jax.Array:
    squared = jnp.sum(z**2)
    nonzero = squared > 0
    r = jnp.sqrt(jnp.where(nonzero, squared, 1.0))
    return jnp.where(nonzero, z / r / (1 + jnp.exp(-r)), 0.0)


def _layer_norm(z: jax.Array, eps: float) -> jax.Array:
    return (z - jnp.mean(z)) / jnp.sqrt(jnp.var(z) + eps)  # var: the population variance


def _rms_norm(z: jax.Array, eps: float) -> jax.Array:
    return z / jnp.sqrt(jnp.mean(z**2) + eps)


def activation_fn(activation: str | Activation) -> Callable[[jax.Array], jax.Array]:
    """sigma for one sample, (n,) -> (m,), from the activation's name and fields."""
    act = manualgrad.get_activation(activation)
    table: dict[str, Callable[[jax.Array], jax.Array]] = {
        "identity": lambda z: z,
        "sigmoid": jax.nn.sigmoid,
        "tanh": jnp.tanh,
        "relu": jax.nn.relu,
        "hard_tanh": jax.nn.hard_tanh,
        "arctan": jnp.arctan,
        "softmax": jax.nn.softmax,
        "radial_sigmoid": _radial_sigmoid,
        "max_pool": lambda z: jnp.max(z)[None],
        "avg_pool": lambda z: jnp.mean(z)[None],
        "leaky_relu": lambda z: jax.nn.leaky_relu(z, getattr(act, "negative_slope", 0.01)),
        "elu": lambda z: jax.nn.elu(z, getattr(act, "alpha", 1.0)),
        "softplus": jax.nn.softplus,
        "silu": jax.nn.silu,
        "gelu": lambda z: jax.nn.gelu(z, approximate=getattr(act, "approximate", True)),
        "layer_norm": lambda z: _layer_norm(z, getattr(act, "eps", 1e-5)),
        "rms_norm": lambda z: _rms_norm(z, getattr(act, "eps", 1e-6)),
    }
    if type(act) is manualgrad.ACTIVATIONS.get(act.name):
        return table[act.name]
    return act


def is_label(y: jax.Array) -> bool:
    """Whether y holds integer labels (a class index, or 0/1 binary targets)."""
    return jnp.issubdtype(jnp.result_type(y), jnp.integer)


def check(
    theta: Params,
    x: jax.Array,
    y: jax.Array,
    activations: tuple[str | Activation, ...],
    cost: str | Cost,
    where: str,
) -> CheckedInputs:
    """manualgrad's input checks; integer labels are kept as given for the loss here."""
    x = jnp.asarray(x)
    checked = check_inputs(theta, x, y, activations, cost, batch=x.ndim == 2, where=where)
    y = jnp.asarray(y)
    return checked._replace(y=y) if is_label(y) else checked


def cost_fn(cost: str | Cost) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """C(y_hat, y) for one sample, from the cost's name and fields."""
    c = manualgrad.get_cost(cost)

    def huber(y_hat: jax.Array, y: jax.Array) -> jax.Array:
        delta = c.delta
        r = y_hat - y
        return jnp.sum(
            jnp.where(jnp.abs(r) <= delta, 0.5 * r**2, delta * jnp.abs(r) - 0.5 * delta**2)
        )

    def cross_entropy(y_hat: jax.Array, y: jax.Array) -> jax.Array:
        if is_label(y):
            return -jnp.log(y_hat[y])  # the class index picks its probability
        return -jnp.sum(y * jnp.log(y_hat))

    def binary_cross_entropy(y_hat: jax.Array, y: jax.Array) -> jax.Array:
        y = jnp.asarray(y, y_hat.dtype)  # 0/1 labels as numbers
        return -jnp.sum(y * jnp.log(y_hat) + (1 - y) * jnp.log(1 - y_hat))

    table: dict[str, Callable[[jax.Array, jax.Array], jax.Array]] = {
        "mse": lambda y_hat, y: 0.5 * jnp.sum((y - y_hat) ** 2),
        "cross_entropy": cross_entropy,
        "binary_cross_entropy": binary_cross_entropy,
        "huber": huber,
    }
    if type(c) is manualgrad.COSTS.get(c.name):
        return table[c.name]
    return c


def output_loss(activation: Activation, cost: Cost, z_L: jax.Array, y: jax.Array) -> jax.Array:
    """C(sigma_L(z_L), y), in the log domain for the two stable pairs."""
    act_name = (
        activation.name if type(activation) is manualgrad.ACTIVATIONS.get(activation.name) else None
    )
    cost_name = cost.name if type(cost) is manualgrad.COSTS.get(cost.name) else None
    if (act_name, cost_name) == ("softmax", "cross_entropy"):
        if is_label(y):
            return -jax.nn.log_softmax(z_L)[y]
        return -jnp.sum(y * jax.nn.log_softmax(z_L))
    if (act_name, cost_name) == ("sigmoid", "binary_cross_entropy"):
        y = jnp.asarray(y, z_L.dtype)  # 0/1 labels as numbers
        return -jnp.sum(y * jax.nn.log_sigmoid(z_L) + (1 - y) * jax.nn.log_sigmoid(-z_L))
    return cost_fn(cost)(activation_fn(activation)(z_L), y)


def loss_from_z(
    theta: Params,
    l: int,
    z_l: jax.Array,
    y: jax.Array,
    activations: tuple[Activation, ...],
    cost: Cost,
) -> jax.Array:
    """The partial loss L_l(z_l) of section 2.4, for one sample (1 <= l <= L)."""
    L = len(theta.W)
    z = z_l
    for k in range(l, L):
        z = theta.W[k] @ activation_fn(activations[k - 1])(z) + theta.b[k]
    return output_loss(activations[L - 1], cost, z, y)


def loss_from_a(
    theta: Params,
    l: int,
    a_l: jax.Array,
    y: jax.Array,
    activations: tuple[Activation, ...],
    cost: Cost,
) -> jax.Array:
    """The loss as a function of the post-activation a_l, for one sample (0 <= l <= L)."""
    L = len(theta.W)
    if l == L:
        return cost_fn(cost)(a_l, y)
    z = theta.W[l] @ a_l + theta.b[l]
    return loss_from_z(theta, l + 1, z, y, activations, cost)


def sample_loss(
    theta: Params, x: jax.Array, y: jax.Array, activations: tuple[Activation, ...], cost: Cost
) -> jax.Array:
    """L(theta, (x, y)) = C(F_theta(x), y), eq. 2.1."""
    return loss_from_a(theta, 0, x, y, activations, cost)


def loss(
    theta: Params, x: jax.Array, y: jax.Array, activations: tuple[Activation, ...], cost: Cost
) -> jax.Array:
    """The loss of one sample (x of rank 1) or the extended loss of a batch (rank 2)."""
    if x.ndim == 1:
        return sample_loss(theta, x, y, activations, cost)
    # activations and cost are static configuration: closed over, not mapped.
    per_row = jax.vmap(lambda x_i, y_i: sample_loss(theta, x_i, y_i, activations, cost))
    return jnp.sum(per_row(x, y))


def forward(
    theta: Params, x: jax.Array, activations: tuple[Activation, ...]
) -> tuple[list[jax.Array], list[jax.Array]]:
    """([z_1..z_L], [a_0..a_L]) for one sample."""
    a, zs, as_ = x, [], [x]
    for W, b, act in zip(theta.W, theta.b, activations, strict=True):
        z = W @ a + b
        a = activation_fn(act)(z)
        zs.append(z)
        as_.append(a)
    return zs, as_
