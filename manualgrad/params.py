"""The parameter space Param(n) of section 2.1: theta = (W, b)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import DTypeLike

from manualgrad.activations import Activation, get_activation

__all__ = ["Params", "init_params", "layer_input_widths"]


class Params(NamedTuple):
    """theta = (W, b), two tuples of L arrays each.

    ``W[l-1]`` is W_l, of shape (n_l, m_{l-1}) where m_{l-1} is the width of
    sigma_{l-1}'s output (m_0 = n_0, and m = n for every activation but
    pooling); ``b[l-1]`` is b_l, of shape (n_l,). Gradients come back as a
    ``Params`` of the same shapes and dtype.
    """

    W: tuple[jax.Array, ...]
    b: tuple[jax.Array, ...]


def layer_input_widths(
    dims: Sequence[int], activations: Sequence[str | Activation] | None = None
) -> list[int]:
    """(m_0, ..., m_{L-1}): the number of columns of each W_l.

    Args:
      dims: (n_0, n_1, ..., n_L).
      activations: sigma_1, ..., sigma_L; only needed when one changes width.

    Returns:
      m_0 = n_0 and m_l = width of sigma_l(z_l) for z_l of width n_l.
    """
    num_layers = len(dims) - 1
    if activations is None:
        return list(dims[:-1])
    if len(activations) != num_layers:
        raise ValueError(
            f"dims {tuple(dims)} describe {num_layers} layers but "
            f"{len(activations)} activations were given"
        )
    widths = [dims[0]]
    for n, activation in zip(dims[1:-1], activations[:-1], strict=True):
        widths.append(get_activation(activation).output_width(n))
    return widths


def init_params(
    key: jax.Array,
    dims: Sequence[int],
    activations: Sequence[str | Activation] | None = None,
    *,
    dtype: DTypeLike | None = None,
    bias_scale: float = 0.1,
) -> Params:
    """Draws theta with W_l ~ N(0, 1/m_{l-1}) entries and b_l ~ N(0, bias_scale^2).

    Biases are nonzero by default so that every term of the forward pass is
    exercised when the result is used to test gradients.

    Args:
      key: a PRNG key.
      dims: (n_0, n_1, ..., n_L), L >= 1, every entry >= 1.
      activations: sigma_1..sigma_L, needed only when one changes the width
        of its layer (pooling).
      dtype: a floating dtype; JAX's default float when None.
      bias_scale: the standard deviation of the biases.

    Returns:
      Params with W[l-1] of shape (n_l, m_{l-1}) and b[l-1] of shape (n_l,).
    """
    dims = tuple(int(n) for n in dims)
    if len(dims) < 2 or min(dims) < 1:
        raise ValueError(f"dims must be (n_0, ..., n_L) with L >= 1 and every n >= 1, got {dims}")
    dtype = jnp.dtype(dtype if dtype is not None else jnp.result_type(float))
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"init_params needs a floating dtype, got {dtype}")
    widths = layer_input_widths(dims, activations)
    keys = jax.random.split(key, 2 * (len(dims) - 1))
    W, b = [], []
    for l, (n, m) in enumerate(zip(dims[1:], widths, strict=True)):
        W.append(jax.random.normal(keys[2 * l], (n, m), dtype) / jnp.sqrt(m).astype(dtype))
        b.append(bias_scale * jax.random.normal(keys[2 * l + 1], (n,), dtype))
    return Params(tuple(W), tuple(b))
