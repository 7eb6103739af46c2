"""Integer class labels as targets, turned into the rows the costs read.

* Cross-entropy takes a class index: y of shape () for one sample, Y of
  shape (N,) for a batch, each in 0..m_L - 1. It becomes the one-hot row
  e_y, so C = -sum(e_y log y_hat) = -log y_hat[y], and softmax's closed
  form of eq. 3.1, s sum(y) - y, is s - e_y.
* Binary cross-entropy takes 0/1 integer targets shaped like the output;
  they become the same numbers in the floating dtype.

Labels are checked where they are concrete. Under ``jax.jit`` or
``jax.vmap`` they are tracers whose values are unknown when the checks run:
there an out-of-range class index becomes a row of zeros (as
``jax.nn.one_hot`` makes it), which contributes nothing to the loss, and a
binary target is used as the number it is.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from manualgrad.activations import Activation
from manualgrad.costs import BinaryCrossEntropy, Cost, CrossEntropy

__all__ = ["are_labels", "targets"]


def are_labels(y: jax.Array) -> bool:
    """Whether y has an integer dtype, which makes it class labels."""
    return jnp.issubdtype(y.dtype, jnp.integer)


def _concrete(y: jax.Array) -> np.ndarray | None:
    """y's values, or None for a tracer (under jax.jit or jax.vmap)."""
    try:
        return np.asarray(y)
    except jax.errors.TracerArrayConversionError:
        return None


def _check_range(y: jax.Array, high: int, name: str, what: str, where: str) -> None:
    """Every concrete entry of y in 0..high; the message names the first one that is not."""
    values = _concrete(y)
    if values is None:
        return
    bad = (values < 0) | (values > high)
    if not bad.any():
        return
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    at = f"{name}[{', '.join(map(str, index))}]" if index else name
    raise ValueError(f"{where}: {at} = {values[index]} is not {what}")


def targets(
    y: jax.Array,
    cost: Cost,
    *,
    out_width: int,
    dtype: jnp.dtype,
    batch: bool,
    num_rows: int | None,
    output: Activation,
    num_layers: int,
    where: str,
) -> jax.Array:
    """y as the cost reads it: class labels turned into rows, other targets as given.

    Args:
      y: the target(s) as the caller gave them, a JAX array.
      cost: the cost.
      out_width: m_L, the width of the network's output.
      dtype: the floating dtype of theta, which the rows get.
      batch: whether y belongs to a batch.
      num_rows: N, the rows of X, when known (None when X is malformed).
      output: sigma_L, for the messages.
      num_layers: L, for the messages.
      where: the caller's name, which starts every message.

    Returns:
      y unchanged for floating targets; the one-hot rows of class labels for
      cross-entropy, shape (m_L,) or (N, m_L); 0/1 targets in ``dtype`` for
      binary cross-entropy.

    Raises:
      ValueError: a label out of range (when concrete), or a batch of labels
        that does not have one per row of X.
      TypeError: integer targets for a cost that takes none, integer targets
        of the wrong shape, or floating labels where a class index belongs.
    """
    name = "Y" if batch else "y"
    label_shape = "(N,)" if batch else "()"
    layer = f"the output of layer {num_layers} (sigma_{num_layers} = {output}, width {out_width})"
    integer = are_labels(y)
    if isinstance(cost, CrossEntropy):
        if y.ndim != (1 if batch else 0):
            if integer:
                raise TypeError(
                    f"{where}: {name} has shape {y.shape} and integer dtype {y.dtype}; integer "
                    f"targets for cross_entropy are class indices of shape {label_shape}, and "
                    f"rows of probabilities over {layer} need a floating dtype"
                )
            return y
        if not integer:
            shape_of = "one class label per row" if batch else "a class label"
            raise TypeError(
                f"{where}: {name} has shape {y.shape}, the shape of {shape_of}, but dtype "
                f"{y.dtype}; class labels of {layer} need an integer dtype"
            )
        if batch and num_rows is not None and y.shape[0] != num_rows:
            raise ValueError(
                f"{where}: Y holds {y.shape[0]} class labels but X has {num_rows} rows; "
                f"give one label per row"
            )
        classes = f"a class of {layer}: labels run from 0 to {out_width - 1}"
        _check_range(y, out_width - 1, name, classes, where)
        return jax.nn.one_hot(y, out_width, dtype=dtype)  # e_y, row by row
    if not integer:
        return y
    if isinstance(cost, BinaryCrossEntropy):
        _check_range(y, 1, name, f"a binary target for {layer}: integer ones are 0 or 1", where)
        return y.astype(dtype)
    raise TypeError(
        f"{where}: {name} has integer dtype {y.dtype}, but cost {cost} needs floating targets "
        f"for {layer}; integer labels are for cross_entropy (a class index) and "
        f"binary_cross_entropy (0 or 1)"
    )
