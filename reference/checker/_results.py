"""Reading the candidate's result: its (W_l, b_l) pairs as checked float64 arrays.

A result that is not a gradient of theta's shapes (a wrong count of layers, a
wrong shape, NaN, something that is not an array, a dtype less precise than
the check's) is an ``AssertionError`` that says what is wrong, before any
comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from manualgrad import Params
from reference.checker._arguments import Spec

__all__ = ["as_leaves", "fail"]


def fail(message: str) -> None:
    __tracebackhide__ = True
    raise AssertionError(f"check_backprop: {message}")


def _layers_of(result: Any, num_layers: int) -> list[tuple[Any, Any]]:
    """The candidate's (W_l, b_l) pairs, from Params or a list of pairs."""
    __tracebackhide__ = True
    if hasattr(result, "W") and hasattr(result, "b"):
        W, b = list(result.W), list(result.b)
        if len(W) != num_layers or len(b) != num_layers:
            fail(
                f"candidate returned Params with {len(W)} weight and {len(b)} bias "
                f"gradients, network has {num_layers} layers"
            )
        return list(zip(W, b, strict=True))
    if isinstance(result, (str, bytes)) or not isinstance(result, Sequence):
        fail(
            f"candidate returned {type(result).__name__}; expected manualgrad.Params(W, b) "
            f"or a list of (W_l, b_l) pairs, one per layer"
        )
    if len(result) != num_layers:
        fail(f"candidate returned {len(result)} layers, network has {num_layers}")
    pairs = []
    for l, pair in enumerate(result, start=1):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            fail(
                f"layer {l} of the candidate's result is not a (W_{l}, b_{l}) pair: "
                f"got {type(pair).__name__}"
            )
        pairs.append((pair[0], pair[1]))
    return pairs


def _checked_array(value: Any, name: str, shape: tuple[int, ...], spec: Spec) -> np.ndarray:
    """One gradient leaf as float64 NumPy, or an AssertionError saying what is wrong."""
    __tracebackhide__ = True
    if not isinstance(value, (np.ndarray, np.generic, jax.Array)):
        fail(f"{name} is a {type(value).__name__}, not an array (NumPy or JAX)")
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.floating):
        fail(f"{name} has dtype {array.dtype}, expected {spec.dtype}")
    if np.finfo(array.dtype).bits < np.finfo(np.dtype(spec.dtype)).bits:
        fail(
            f"{name} has dtype {array.dtype}, but the check runs in {spec.dtype}: compute "
            f"the gradient in theta's dtype"
        )
    if array.shape != shape:
        hint = _shape_hint(name, array, shape, spec)
        fail(f"{name} has shape {array.shape}, expected {shape}{hint}")
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        fail(f"{name} has {int(bad.sum())} non-finite entries (NaN or inf), the first at {first}")
    return array.astype(np.float64)


def _shape_hint(name: str, array: np.ndarray, shape: tuple[int, ...], spec: Spec) -> str:
    l = name.split("_")[1]
    if name.startswith("W") and array.shape == shape[::-1]:
        return (
            f" — transposed? grad_W_{l} = grad_Z_{l}^T A_{int(l) - 1} has the shape of "
            f"W_{l}, (n_{l}, m_{int(l) - 1}) (eq. 4.3)"
        )
    if name.startswith("b") and array.shape == (spec.batch_size, *shape):
        return (
            f" — one row per sample: grad_b_{l} sums grad_Z_{l} over the rows of the "
            f"batch, grad_Z_{l}^T 1_N (eq. 4.4)"
        )
    if name.startswith("b") and array.size == shape[0]:
        return f" — return grad_b_{l} as a vector of shape {shape}"
    return ""


def as_leaves(result: Any, theta: Params, spec: Spec) -> list[np.ndarray]:
    """[W_1..W_L, b_1..b_L] from the candidate, checked against theta's shapes."""
    __tracebackhide__ = True
    pairs = _layers_of(result, spec.num_layers)
    W = [
        _checked_array(w, f"W_{l}", tuple(theta.W[l - 1].shape), spec)
        for l, (w, _) in enumerate(pairs, start=1)
    ]
    b = [
        _checked_array(v, f"b_{l}", tuple(theta.b[l - 1].shape), spec)
        for l, (_, v) in enumerate(pairs, start=1)
    ]
    return W + b
