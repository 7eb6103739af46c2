"""Reading the candidate's result: its (W_l, b_l) as float64 arrays in the notes' layout.

Accepted: ``manualgrad.Params`` (or any pair of per-layer sequences, W
first) and a list of (W_l, b_l) pairs; W_l in the check's weight layout; b_l
shaped (n_l,), (n_l, 1) or (1, n_l). Read but reported as wrong, so that
the values behind them are still compared: a pair returned as (b_l, W_l),
and a W_l returned in the other layout's (transposed) shape.

Anything else is :class:`MalformedError`, with a message that says what is wrong:
a wrong number of layers, a shape that fits nothing (with a hint where one
fits: a bias with one entry per sample was summed over the wrong axis), NaN
or inf, something that is not an array, a dtype less precise than the check's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import jax
import numpy as np

from reference._options import non_finite
from reference.checker._arguments import Spec
from reference.checker._cases import Leaves

__all__ = ["MalformedError", "Reading", "read"]


class MalformedError(Exception):
    """The candidate's result is no gradient of theta's shapes; the message says why."""


@dataclasses.dataclass(frozen=True)
class Reading:
    """The candidate's gradient, read.

    Attributes:
      leaves: [W_1..W_L, b_1..b_L] in the notes' layout, float64.
      shapes: leaf name -> the shape the candidate returned it in.
      swapped: the layers whose pair came back as (b_l, W_l).
      transposed: the W_l that came back in the other layout's shape.
    """

    leaves: Leaves
    shapes: dict[str, tuple[int, ...]]
    swapped: tuple[int, ...] = ()
    transposed: tuple[str, ...] = ()

    def bias_forms(self) -> list[str]:
        """How the biases came back when not as vectors: "(n_l, 1)" or "(1, n_l)"."""
        forms = []
        for name, shape in self.shapes.items():
            if name.startswith("b") and len(shape) == 2:
                forms.append("(n_l, 1)" if shape[1] == 1 and shape[0] != 1 else "(1, n_l)")
        return list(dict.fromkeys(forms))


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _shape(value: Any) -> tuple[int, ...] | None:
    shape = getattr(value, "shape", None)
    return None if shape is None else tuple(int(n) for n in shape)


class _Layout:
    """The shapes the check expects in the candidate's layout."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        canonical = spec.weight_shapes
        self.W = [s if spec.weight_layout == "out_in" else s[::-1] for s in canonical]
        self.n = [s[0] for s in canonical]

    def fits_W(self, l: int, value: Any) -> bool:
        shape = _shape(value)
        return shape in (self.W[l - 1], self.W[l - 1][::-1])

    def fits_b(self, l: int, value: Any) -> bool:
        n = self.n[l - 1]
        return _shape(value) in ((n,), (n, 1), (1, n))

    def swapped(self, l: int, first: Any, second: Any) -> bool:
        normal = self.fits_W(l, first) and self.fits_b(l, second)
        return not normal and self.fits_b(l, first) and self.fits_W(l, second)


def _pairs(result: Any, layout: _Layout) -> tuple[list[tuple[Any, Any]], tuple[int, ...]]:
    """The (W_l, b_l) pairs and the layers whose pair came back swapped."""
    L = layout.spec.num_layers
    if hasattr(result, "W") and hasattr(result, "b"):
        grouped = (list(result.W), list(result.b))
        if len(grouped[0]) != L or len(grouped[1]) != L:
            raise MalformedError(
                f"candidate returned Params with {len(grouped[0])} weight and "
                f"{len(grouped[1])} bias gradients, network has {L} layers"
            )
        return _grouped(grouped, layout)
    if not _is_sequence(result):
        raise MalformedError(
            f"candidate returned {type(result).__name__}; expected manualgrad.Params(W, b) "
            f"or a list of (W_l, b_l) pairs, one per layer"
        )
    is_pairs = len(result) == L and all(_is_sequence(p) and len(p) == 2 for p in result)
    is_grouped = len(result) == 2 and all(_is_sequence(g) and len(g) == L for g in result)
    if is_grouped and not (is_pairs and _fits(result, layout)):
        grouped = (list(result[0]), list(result[1]))
        if not is_pairs or _fits(zip(*grouped, strict=True), layout):
            return _grouped(grouped, layout)
    if len(result) != L:
        raise MalformedError(f"candidate returned {len(result)} layers, network has {L}")
    for l, pair in enumerate(result, start=1):
        if not _is_sequence(pair) or len(pair) != 2:
            raise MalformedError(
                f"layer {l} of the candidate's result is not a (W_{l}, b_{l}) pair: "
                f"got {type(pair).__name__}"
            )
    swapped = tuple(l for l, (a, b) in enumerate(result, start=1) if layout.swapped(l, a, b))
    pairs = [(b, a) if l in swapped else (a, b) for l, (a, b) in enumerate(result, start=1)]
    return pairs, swapped


def _fits(pairs: Iterable[Sequence[Any]], layout: _Layout) -> bool:
    """Whether every (W_l, b_l) pair fits theta's shapes, in order or swapped."""
    return all(
        (layout.fits_W(l, a) and layout.fits_b(l, b)) or layout.swapped(l, a, b)
        for l, (a, b) in enumerate(pairs, start=1)
    )


def _grouped(
    grouped: tuple[list[Any], list[Any]], layout: _Layout
) -> tuple[list[tuple[Any, Any]], tuple[int, ...]]:
    Ws, bs = grouped
    layers = range(1, len(Ws) + 1)
    if all(layout.swapped(l, w, b) for l, w, b in zip(layers, Ws, bs, strict=True)):
        return list(zip(bs, Ws, strict=True)), tuple(layers)
    return list(zip(Ws, bs, strict=True)), ()


def _array(value: Any, name: str, spec: Spec) -> np.ndarray:
    if not isinstance(value, (np.ndarray, np.generic, jax.Array)):
        raise MalformedError(f"{name} is a {type(value).__name__}, not an array (NumPy or JAX)")
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.floating):
        raise MalformedError(f"{name} has dtype {array.dtype}, expected {spec.dtype}")
    if np.finfo(array.dtype).bits < np.finfo(np.dtype(spec.dtype)).bits:
        raise MalformedError(
            f"{name} has dtype {array.dtype}, but the check runs in {spec.dtype}: compute "
            f"the gradient in theta's dtype"
        )
    if (found := non_finite(array)) is not None:
        count, first = found
        raise MalformedError(
            f"{name} has {count} non-finite entries (NaN or inf), the first at {first}"
        )
    return array.astype(np.float64)


def _layout_shape(spec: Spec, l: int) -> str:
    if spec.weight_layout == "out_in":
        return f"(n_{l}, m_{l - 1})"
    return f"(m_{l - 1}, n_{l}) (weight_layout='in_out')"


def _W_hint(l: int, spec: Spec) -> str:
    return (
        f" — grad_W_{l} = grad_Z_{l}^T A_{l - 1} has the shape of W_{l}, "
        f"{_layout_shape(spec, l)} (eq. 4.3)"
    )


def _b_hint(l: int, shape: tuple[int, ...], spec: Spec) -> str:
    N, n = spec.rows, spec.weight_shapes[l - 1][0]
    rows = spec.batch_layout == "rows"
    unsummed = (N, n) if rows else (n, N)
    if shape == unsummed and n != N:
        per = "row" if rows else "column"
        return (
            f" — one {per} per sample: grad_b_{l} sums grad_Z_{l} over the samples of "
            f"the batch, grad_Z_{l}^T 1_N (eq. 4.4)"
        )
    if n != N and int(np.prod(shape)) == N and max(shape) == N:
        axis = "axis 0 of grad_Z_l (N, n_l)" if rows else "axis 1 of grad_Z_l (n_l, N)"
        return (
            f" — one entry per sample: grad_Z_{l} was summed over the wrong axis; "
            f"grad_b_{l} = grad_Z_{l}^T 1_N sums over the N samples, {axis} in "
            f"batch_layout={spec.batch_layout!r} (eq. 4.4)"
        )
    return f" — return grad_b_{l} as a vector of shape ({n},), or as ({n}, 1) or (1, {n})"


def _W(value: Any, l: int, layout: _Layout) -> tuple[np.ndarray, bool]:
    """W_l in the notes' layout, and whether it came back in the other layout's shape."""
    spec = layout.spec
    array = _array(value, f"W_{l}", spec)
    expected = layout.W[l - 1]
    if array.shape == expected:
        transposed = False
    elif array.shape == expected[::-1]:
        array, transposed = array.T, True
    else:
        raise MalformedError(
            f"W_{l} has shape {array.shape}, expected {expected}" + _W_hint(l, spec)
        )
    return (array.T if spec.weight_layout == "in_out" else array), transposed


def _b(value: Any, l: int, layout: _Layout) -> np.ndarray:
    spec = layout.spec
    array = _array(value, f"b_{l}", spec)
    if not layout.fits_b(l, array):
        n = layout.n[l - 1]
        raise MalformedError(
            f"b_{l} has shape {array.shape}, expected ({n},)" + _b_hint(l, array.shape, spec)
        )
    return array.reshape(-1)


def read(result: Any, spec: Spec) -> Reading:
    """The candidate's result as gradient leaves in the notes' layout.

    Raises:
      MalformedError: the result is no gradient of theta's shapes.
    """
    layout = _Layout(spec)
    pairs, swapped = _pairs(result, layout)
    W, b, transposed, shapes = [], [], [], {}
    for l, (w, _) in enumerate(pairs, start=1):
        array, flipped = _W(w, l, layout)
        W.append(array)
        shapes[f"W_{l}"] = _shape(w) or ()
        if flipped:
            transposed.append(f"W_{l}")
    for l, (_, v) in enumerate(pairs, start=1):
        b.append(_b(v, l, layout))
        shapes[f"b_{l}"] = _shape(v) or ()
    return Reading(W + b, shapes, swapped, tuple(transposed))
