"""Checks of user input, run at trace time, with messages that say where.

Every public entry point calls :func:`check_inputs` before tracing, so a
W_l that does not fit its neighbours, an x of the wrong width or an unknown
activation name fails with a ValueError or TypeError that names the layer
and the shapes, never deep inside XLA. Nothing is mutated: array-likes are
converted with ``jnp.asarray``, which copies NumPy input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from manualgrad import _labels
from manualgrad.activations import Activation, get_activation
from manualgrad.costs import Cost, get_cost
from manualgrad.params import Params

#: The default budget for the Jacobians the dense mode materializes.
DEFAULT_MAX_DENSE_BYTES = 1 << 30


class CheckedInputs(NamedTuple):
    """Validated, normalized inputs of one gradient computation.

    Attributes:
      theta: Params of JAX arrays.
      x: the sample (n_0,) or batch (N, n_0), a JAX array.
      y: the target (m_L,) or targets (N, m_L), a JAX array.
      activations: sigma_1..sigma_L as Activation objects.
      cost: the Cost object.
    """

    theta: Params
    x: jax.Array
    y: jax.Array
    activations: tuple[Activation, ...]
    cost: Cost


def _as_array(value: Any, what: str, where: str) -> jax.Array:
    try:
        return jnp.asarray(value)
    except TypeError as error:
        raise TypeError(f"{where}: {what} is not an array ({error})") from None


def check_activations(
    activations: Sequence[str | Activation], num_layers: int, where: str
) -> tuple[Activation, ...]:
    """Resolves names and checks there is one activation per layer."""
    if isinstance(activations, (str, Activation)) or not isinstance(activations, Sequence):
        raise TypeError(
            f"{where}: activations must be a sequence with one entry per layer "
            f"(sigma_1, ..., sigma_L), got {activations!r}"
        )
    if len(activations) != num_layers:
        raise ValueError(
            f"{where}: {len(activations)} activations given for a network of "
            f"{num_layers} layers; need one per layer (sigma_1, ..., sigma_{num_layers})"
        )
    resolved = []
    for l, activation in enumerate(activations, start=1):
        try:
            resolved.append(get_activation(activation))
        except (ValueError, TypeError) as error:
            raise type(error)(f"{where}: layer {l}: {error}") from None
    return tuple(resolved)


def check_params(theta: Any, where: str) -> Params:
    """Checks theta = (W, b) is two equally long sequences of 2-D and 1-D arrays."""
    try:
        W, b = theta
    except (TypeError, ValueError):
        raise TypeError(
            f"{where}: theta must be a Params(W, b) of two tuples, got {type(theta).__name__}"
        ) from None
    if isinstance(W, (str, bytes)) or not isinstance(W, Sequence):
        raise TypeError(f"{where}: theta.W must be a sequence of matrices")
    if isinstance(b, (str, bytes)) or not isinstance(b, Sequence):
        raise TypeError(f"{where}: theta.b must be a sequence of vectors")
    if len(W) == 0:
        raise ValueError(f"{where}: theta has no layers; need L >= 1")
    if len(W) != len(b):
        raise ValueError(f"{where}: theta has {len(W)} weight matrices but {len(b)} bias vectors")
    W = tuple(_as_array(w, f"W_{l}", where) for l, w in enumerate(W, start=1))
    b = tuple(_as_array(v, f"b_{l}", where) for l, v in enumerate(b, start=1))
    for l, (w, v) in enumerate(zip(W, b, strict=True), start=1):
        if w.ndim != 2:
            raise ValueError(
                f"{where}: W_{l} must be a matrix (n_{l}, m_{l - 1}), got shape {w.shape}"
            )
        if v.shape != (w.shape[0],):
            raise ValueError(
                f"{where}: b_{l} has shape {v.shape} but W_{l} has shape {w.shape}, "
                f"so b_{l} must have shape ({w.shape[0]},)"
            )
    return Params(W, b)


def check_dtypes(named: Sequence[tuple[str, jax.Array]], where: str) -> None:
    """Every array floating, and all of one dtype (dtype in = dtype out)."""
    first_name, first = named[0]
    for name, array in named:
        if not jnp.issubdtype(array.dtype, jnp.floating):
            raise TypeError(
                f"{where}: {name} has dtype {array.dtype}; gradients need a "
                f"floating dtype (float32 or float64)"
            )
        if array.dtype != first.dtype:
            raise TypeError(
                f"{where}: {name} has dtype {array.dtype} but {first_name} has "
                f"{first.dtype}; use one floating dtype throughout"
            )


def check_widths(theta: Params, activations: tuple[Activation, ...], where: str) -> int:
    """Checks each W_l has as many columns as sigma_{l-1} outputs; returns m_L."""
    for l, (W, activation) in enumerate(zip(theta.W, activations, strict=True), start=1):
        try:
            activation.check_width(W.shape[0], W.dtype)  # a Custom's shapes
        except (ValueError, TypeError) as error:
            raise type(error)(f"{where}: layer {l}: {error}") from None
    for l in range(2, len(theta.W) + 1):
        n_prev = theta.W[l - 2].shape[0]
        m_prev = activations[l - 2].output_width(n_prev)
        if theta.W[l - 1].shape[1] != m_prev:
            raise ValueError(
                f"{where}: W_{l} has shape {theta.W[l - 1].shape} but layer {l - 1} "
                f"outputs {m_prev} features (sigma_{l - 1} = {activations[l - 2]} on "
                f"the {n_prev} rows of W_{l - 1}), so W_{l} needs {m_prev} columns"
            )
    return activations[-1].output_width(theta.W[-1].shape[0])


def check_inputs(
    theta: Any,
    x: Any,
    y: Any,
    activations: Sequence[str | Activation],
    cost: str | Cost,
    *,
    batch: bool,
    where: str = "manualgrad",
) -> CheckedInputs:
    """Validates and normalizes the arguments of a gradient computation.

    Args:
      theta: Params(W, b).
      x: one sample (n_0,), or a batch (N, n_0) when ``batch``.
      y: the target, (m_L,) or (N, m_L); for cross-entropy also an integer
        class index, () or (N,), and for binary cross-entropy 0/1 integers
        (see manualgrad._labels).
      activations: sigma_1..sigma_L as names or Activation objects.
      cost: a name or Cost object.
      batch: whether x and y are batches of rows.
      where: the caller's name, which starts every message.

    Returns:
      The inputs as JAX arrays, tuples and resolved objects; class labels as
      the rows the cost reads (one-hot for cross-entropy).

    Raises:
      ValueError: a shape that does not fit, a wrong count, an unknown name,
        a class label out of range.
      TypeError: a non-floating or mixed dtype, a wrongly typed argument.
    """
    theta = check_params(theta, where)
    num_layers = len(theta.W)
    activations = check_activations(activations, num_layers, where)
    try:
        cost = get_cost(cost)
    except (ValueError, TypeError) as error:
        raise type(error)(f"{where}: {error}") from None
    x = _as_array(x, "x", where)
    y = _as_array(y, "y", where)
    check_dtypes(
        [("W_1", theta.W[0])]
        + [(f"W_{l}", w) for l, w in enumerate(theta.W[1:], start=2)]
        + [(f"b_{l}", v) for l, v in enumerate(theta.b, start=1)]
        + [("X" if batch else "x", x)]
        + ([] if _labels.are_labels(y) else [("Y" if batch else "y", y)]),
        where,
    )
    out_width = check_widths(theta, activations, where)
    # Class labels become the rows the cost reads (see manualgrad._labels).
    y = _labels.targets(
        y,
        cost,
        out_width=out_width,
        dtype=theta.W[0].dtype,
        batch=batch,
        num_rows=x.shape[0] if batch and x.ndim == 2 else None,
        output=activations[-1],
        num_layers=num_layers,
        where=where,
    )
    n_0 = theta.W[0].shape[1]
    if batch:
        if x.ndim != 2:
            raise ValueError(
                f"{where}: X must be a batch of rows (N, n_0) = (N, {n_0}), got shape {x.shape}"
            )
        if x.shape[1] != n_0:
            raise ValueError(
                f"{where}: X has shape {x.shape}, rows of width {x.shape[1]}, but "
                f"W_1 has shape {theta.W[0].shape}, so rows need width {n_0}"
            )
        if y.shape != (x.shape[0], out_width):
            raise ValueError(
                f"{where}: Y has shape {y.shape} but must be (N, m_L) = "
                f"({x.shape[0]}, {out_width}): one row per row of X, as wide as "
                f"the output of layer {num_layers}"
            )
    else:
        if x.ndim != 1:
            raise ValueError(
                f"{where}: x must be one sample of shape (n_0,) = ({n_0},), got shape "
                f"{x.shape}; use a batch algorithm (2 or 5) or jax.vmap for batches"
            )
        if x.shape[0] != n_0:
            raise ValueError(
                f"{where}: x has width {x.shape[0]} but W_1 has shape "
                f"{theta.W[0].shape}, so x needs width {n_0}"
            )
        if y.shape != (out_width,):
            raise ValueError(
                f"{where}: y has shape {y.shape} but the output of layer "
                f"{num_layers} has width {out_width}, so y must have shape ({out_width},)"
            )
    return CheckedInputs(theta, x, y, activations, cost)


def check_dense_budget(
    theta: Params, num_rows: int, max_bytes: int | None, where: str = "manualgrad"
) -> None:
    """Estimates the bytes of the dense Jacobians and refuses over ``max_bytes``.

    The dense mode holds Jac_{i,l}, an (m_l, n_l) matrix, for every row i and
    layer l at once: sum_l N m_l n_l numbers.

    Args:
      theta: Params(W, b); only the shapes and dtype are read.
      num_rows: N, the rows of the batch (1 for one sample).
      max_bytes: the budget; None for no budget.
      where: the caller's name, which starts the message.

    Raises:
      ValueError: the estimate exceeds ``max_bytes``; the message gives it.
    """
    if max_bytes is None:
        return
    itemsize = jnp.dtype(theta.W[0].dtype).itemsize
    per_layer = [
        num_rows * W_next.shape[1] * W.shape[0] * itemsize
        for W, W_next in zip(theta.W, (*theta.W[1:], None), strict=True)
        if W_next is not None
    ]
    # The output Jacobian's width is at most n_L.
    per_layer.append(num_rows * theta.W[-1].shape[0] ** 2 * itemsize)
    total = sum(per_layer)
    if total > max_bytes:
        worst = max(range(len(per_layer)), key=per_layer.__getitem__) + 1
        raise ValueError(
            f"{where}: dense mode would materialize {_fmt_bytes(total)} of Jacobians "
            f"({num_rows} rows; layer {worst} alone {_fmt_bytes(per_layer[worst - 1])}), "
            f"over the budget of {_fmt_bytes(max_bytes)}. Use "
            f"jacobian_mode='structured', or raise max_dense_bytes"
        )


def _fmt_bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f} {unit} ({n} bytes)"
    return f"{n} bytes"
