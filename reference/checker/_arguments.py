"""The arguments of one check, validated: the network, the seeds, the conventions.

Every bad argument is a ``ValueError`` (``TypeError`` for a candidate that is
not callable) raised before anything runs, naming the option, what it got
and what it accepts.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from jax.typing import ArrayLike, DTypeLike

import manualgrad
from manualgrad import Activation, Cost
from reference._options import dtype_name, seed_tuple
from reference.directional import CHECK_MODES, check_mode
from reference.tolerances import FINITE_DIFFERENCE_TOLERANCE, tolerance

__all__ = [
    "BATCH_LAYOUTS",
    "CHECK_MODES",
    "LABEL_TARGETS",
    "OUTPUT_ACTIVATIONS",
    "REDUCTIONS",
    "TARGETS",
    "WEIGHT_LAYOUTS",
    "Spec",
    "activation_name",
    "activation_source",
    "make_spec",
]

WHERE = "check_backprop"

#: The values of each convention option; the first is the default.
TARGETS = ("probabilities", "labels")
REDUCTIONS = ("sum", "mean")
WEIGHT_LAYOUTS = ("out_in", "in_out")
BATCH_LAYOUTS = ("rows", "columns")

#: cost -> what targets="labels" hands the candidate for it.
LABEL_TARGETS: dict[str, str] = {
    "cross_entropy": "integer class indices of shape (N,)",
    "binary_cross_entropy": "0/1 targets of shape (N, m_L)",
}


def _accepted_outputs(cost: Cost) -> tuple[str, ...] | None:
    """The registered activations whose outputs ``cost`` is defined on; None for all."""
    accepted = tuple(name for name in manualgrad.ACTIVATIONS if cost.accepts_output(name))
    return None if len(accepted) == len(manualgrad.ACTIVATIONS) else accepted


#: cost -> the registered output activations whose range the cost accepts
#: (None: any), read off each cost's ``accepts_output``: cross-entropy takes
#: log(y_hat) and needs y_hat > 0, binary cross-entropy also log(1 - y_hat).
OUTPUT_ACTIVATIONS: dict[str, tuple[str, ...] | None] = {
    name: _accepted_outputs(cls()) for name, cls in manualgrad.COSTS.items()
}


def activation_name(activation: Activation) -> str:
    """A registered activation's name (with its defaults); anything else by its repr."""
    name = getattr(activation, "name", None)
    if name is not None and type(activation) is manualgrad.ACTIVATIONS.get(name):
        return name if activation == type(activation)() else repr(activation)
    return repr(activation)


def activation_source(activation: Activation) -> str:
    """The activation as Python source: its quoted name, or its repr."""
    name = activation_name(activation)
    if name in manualgrad.ACTIVATIONS:
        return repr(name)
    if type(activation) is manualgrad.ACTIVATIONS.get(getattr(activation, "name", None)):
        return f"manualgrad.{name}"
    return name


def is_registered_cost(cost: Cost, name: str) -> bool:
    """Whether ``cost`` is the registered cost called ``name``."""
    return type(cost) is manualgrad.COSTS.get(name) and cost.name == name


@dataclasses.dataclass(frozen=True)
class Spec:
    """Validated arguments of one check.

    Attributes:
      activations: sigma_1..sigma_L as objects.
      cost: the cost object.
      dims: (n_0, ..., n_L).
      batch_size: N of the drawn batches (the rows of ``data`` when given).
      seeds: one problem per seed.
      dtype: "float32" or "float64".
      targets: "probabilities" or "labels".
      reduction: "sum" or "mean" over the rows.
      weight_decay: lam of (lam / 2) sum_l ||W_l||_F^2.
      weight_layout: "out_in" (W_l as (n_l, m_{l-1})) or "in_out" (transposed).
      batch_layout: "rows" (X as (N, n_0)) or "columns" ((n_0, N)).
      data: the user's (X, Y) as NumPy arrays, in the candidate's layout.
      loss: the candidate's own loss function, or None.
      mode: "full", "directional" or "auto", as asked for (:attr:`used_mode`
        is the one the check runs in).
    """

    activations: tuple[Activation, ...]
    cost: Cost
    dims: tuple[int, ...]
    batch_size: int
    seeds: tuple[int, ...]
    dtype: str
    targets: str = "probabilities"
    reduction: str = "sum"
    weight_decay: float = 0.0
    weight_layout: str = "out_in"
    batch_layout: str = "rows"
    data: tuple[np.ndarray, np.ndarray] | None = dataclasses.field(default=None, compare=False)
    loss: Callable[..., Any] | None = None
    mode: str = "full"

    @property
    def num_layers(self) -> int:
        """L."""
        return len(self.dims) - 1

    @property
    def out_width(self) -> int:
        """m_L, the width of the network's output."""
        return self.activations[-1].output_width(self.dims[-1])

    @property
    def weight_shapes(self) -> tuple[tuple[int, int], ...]:
        """The shape of each W_l in the notes' layout, (n_l, m_{l-1})."""
        widths = manualgrad.layer_input_widths(self.dims, self.activations)
        return tuple((n, m) for n, m in zip(self.dims[1:], widths, strict=True))

    @property
    def rows(self) -> int:
        """N: the rows of every batch of the check."""
        return self.batch_size if self.data is None else len(self.data_rows[0])

    @property
    def data_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """``data`` with samples in rows, whatever its layout (labels untouched)."""
        assert self.data is not None
        X, Y = self.data
        if self.batch_layout == "columns":
            return X.T, (Y if self.class_labels else Y.T)
        return X, Y

    @property
    def parameters(self) -> int:
        """The network's parameter count, W and b together."""
        return sum(n * m + n for n, m in self.weight_shapes)

    @property
    def used_mode(self) -> str:
        """The mode the check runs in: "full" or "directional" ("auto" resolved)."""
        return check_mode(self.mode, self.parameters, where=WHERE)

    @property
    def tolerance(self) -> float:
        """The dtype's relative tolerance."""
        return tolerance(self.dtype)

    @property
    def gradient_tolerance(self) -> float:
        """The relative tolerance the gradient is held to in the mode the check runs in.

        The dtype's in mode "full" (against autodiff); in mode "directional"
        that of :func:`reference.directional_check` (against difference
        quotients), FINITE_DIFFERENCE_TOLERANCE or the dtype's where that is
        larger.
        """
        if self.used_mode == "directional":
            return max(FINITE_DIFFERENCE_TOLERANCE, self.tolerance)
        return self.tolerance

    @property
    def class_labels(self) -> bool:
        """Whether Y reaches the candidate as class indices (N,)."""
        return self.targets == "labels" and is_registered_cost(self.cost, "cross_entropy")

    def describe_activations(self) -> str:
        """The activations as a Python tuple, e.g. ``('relu', 'softmax')`` or ``('tanh',)``."""
        items = [activation_source(a) for a in self.activations]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"

    def options(self) -> dict[str, Any]:
        """Every option in force, defaults included, JSON-ready (names and numbers)."""
        data = None
        if self.data is not None:
            X, Y = self.data
            data = f"(X {X.shape}, Y {Y.shape})"
        loss = None if self.loss is None else getattr(self.loss, "__name__", repr(self.loss))
        return {
            "activations": [activation_name(a) for a in self.activations],
            "cost": self.cost.name,
            "dims": list(self.dims),
            "batch_size": self.batch_size,
            "seeds": list(self.seeds),
            "dtype": self.dtype,
            "targets": self.targets,
            "reduction": self.reduction,
            "weight_decay": self.weight_decay,
            "weight_layout": self.weight_layout,
            "batch_layout": self.batch_layout,
            "data": data,
            "loss": loss,
            "mode": self.mode,
        }

    def describe_options(self) -> str:
        """Every option in force, defaults included, as keyword arguments."""
        options = self.options()
        shown = {
            **{k: repr(v) for k, v in options.items()},
            "activations": self.describe_activations(),
            "dims": str(self.dims),
            "seeds": str(self.seeds),
            "data": str(options["data"]),
            "loss": str(options["loss"]),
        }
        return ", ".join(f"{k}={v}" for k, v in shown.items())


def _activations(activations: Sequence[str | Activation]) -> tuple[Activation, ...]:
    if isinstance(activations, (str, Activation)) or not isinstance(activations, Sequence):
        raise ValueError(
            f"{WHERE}: activations must be a sequence with one entry per layer, got {activations!r}"
        )
    resolved = []
    for l, activation in enumerate(activations, start=1):
        try:
            resolved.append(manualgrad.get_activation(activation))
        except (ValueError, TypeError) as error:
            raise ValueError(f"{WHERE}: activation of layer {l}: {error}") from None
    return tuple(resolved)


def _dims(dims: Sequence[int], num_activations: int) -> tuple[int, ...]:
    try:
        dims = tuple(int(n) for n in dims)
    except (TypeError, ValueError):
        raise ValueError(f"{WHERE}: dims must be a sequence of integers, got {dims!r}") from None
    if len(dims) < 2 or min(dims) < 1:
        raise ValueError(f"{WHERE}: dims must be (n_0, ..., n_L) with L >= 1 and n >= 1: {dims}")
    if num_activations != len(dims) - 1:
        raise ValueError(
            f"{WHERE}: dims {dims} describe {len(dims) - 1} layers but "
            f"{num_activations} activations were given (one per layer, sigma_1..sigma_L)"
        )
    return dims


def _check_output(cost: Cost, output: Activation) -> None:
    if cost.accepts_output(output):
        return
    accepted = OUTPUT_ACTIVATIONS.get(cost.name) or ()
    raise ValueError(
        f"{WHERE}: cost {cost.name} is not defined on every output of sigma_L = "
        f"{activation_name(output)}: its outputs lie in {output.output_range}, the cost "
        f"needs outputs in {cost.output_domain}; use one of {', '.join(accepted)} at the "
        f"output (an activation of your own declares its output_range)"
    )


def _choice(option: str, value: Any, valid: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in valid:
        choices = ", ".join(repr(v) for v in valid)
        raise ValueError(f"{WHERE}: {option} must be one of {choices}, got {value!r}")
    return value


def _weight_decay(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(
            f"{WHERE}: weight_decay must be a finite number >= 0, the lam of "
            f"(lam / 2) sum_l ||W_l||_F^2 added to the loss; got {value!r}"
        )
    return float(value)


def _targets(targets: Any, cost: Cost) -> str:
    targets = _choice("targets", targets, TARGETS)
    if targets == "labels" and not any(is_registered_cost(cost, name) for name in LABEL_TARGETS):
        kinds = "; ".join(f"{name}: {kind}" for name, kind in LABEL_TARGETS.items())
        raise ValueError(
            f"{WHERE}: targets='labels' means nothing for cost {cost.name}, whose targets "
            f"are real vectors; labels exist for {kinds}. Use targets='probabilities' "
            f"(the default: Y of shape (N, m_L))"
        )
    return targets


def _as_numeric(value: ArrayLike, what: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except Exception as error:  # any failure to convert is a bad argument
        raise ValueError(f"{WHERE}: data: {what} is not an array ({error})") from None
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{WHERE}: data: {what} has dtype {array.dtype}, not a number type")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{WHERE}: data: {what} has non-finite entries (NaN or inf)")
    return array


def _batch_shape(layout: str, width: int, symbol: str) -> str:
    return f"(N, {symbol}) = (N, {width})" if layout == "rows" else f"({symbol}, N) = ({width}, N)"


def _data_X(X: np.ndarray, n_0: int, layout: str) -> int:
    """Checks X's shape; returns N."""
    fits = X.ndim == 2 and X.shape[1 if layout == "rows" else 0] == n_0
    if not fits:
        raise ValueError(
            f"{WHERE}: data: X has shape {X.shape}, but batch_layout={layout!r} needs "
            f"{_batch_shape(layout, n_0, 'n_0')}"
        )
    N = X.shape[0 if layout == "rows" else 1]
    if N < 1:
        raise ValueError(f"{WHERE}: data: X has no samples (shape {X.shape})")
    return N


def _data_labels(Y: np.ndarray, N: int, m_L: int) -> np.ndarray:
    if Y.shape != (N,):
        raise ValueError(
            f"{WHERE}: data: Y has shape {Y.shape}, but targets='labels' with "
            f"cross_entropy needs class indices of shape (N,) = ({N},)"
        )
    if not np.all(np.round(Y) == Y):
        raise ValueError(f"{WHERE}: data: Y holds class indices, but has non-integer entries")
    outside = (Y < 0) | (m_L <= Y)
    if outside.any():
        first = int(np.argwhere(outside)[0][0])
        raise ValueError(
            f"{WHERE}: data: label Y[{first}] = {Y[first]:g} is out of range: the "
            f"{m_L} classes are 0..{m_L - 1}"
        )
    return Y.astype(np.int64)


def _data_targets(Y: np.ndarray, N: int, m_L: int, layout: str, zero_one: bool) -> np.ndarray:
    shape = (N, m_L) if layout == "rows" else (m_L, N)
    if Y.shape != shape:
        raise ValueError(
            f"{WHERE}: data: Y has shape {Y.shape}, but batch_layout={layout!r} needs "
            f"{_batch_shape(layout, m_L, 'm_L')} = {shape}, like X's {N} samples"
        )
    if zero_one and not np.all((Y == 0) | (Y == 1)):
        raise ValueError(
            f"{WHERE}: data: targets='labels' with binary_cross_entropy needs 0/1 "
            f"entries in Y, got values such as {Y[(Y != 0) & (Y != 1)][0]:g}"
        )
    return Y.astype(np.float64)


def _data(
    data: Any, dims: tuple[int, ...], m_L: int, targets: str, cost: Cost, layout: str
) -> tuple[np.ndarray, np.ndarray] | None:
    if data is None:
        return None
    if isinstance(data, (str, bytes)) or not isinstance(data, Sequence) or len(data) != 2:
        raise ValueError(f"{WHERE}: data must be a pair (X, Y), got {type(data).__name__}")
    X = _as_numeric(data[0], "X").astype(np.float64)
    Y = _as_numeric(data[1], "Y")
    N = _data_X(X, dims[0], layout)
    if targets == "labels" and is_registered_cost(cost, "cross_entropy"):
        return X, _data_labels(Y, N, m_L)
    return X, _data_targets(Y, N, m_L, layout, zero_one=targets == "labels")


def make_spec(
    activations: Sequence[str | Activation],
    cost: str | Cost,
    dims: Sequence[int],
    batch_size: int,
    seeds: Sequence[int],
    dtype: DTypeLike,
    *,
    targets: str = "probabilities",
    reduction: str = "sum",
    weight_decay: float = 0.0,
    weight_layout: str = "out_in",
    batch_layout: str = "rows",
    data: Any = None,
    loss: Callable[..., Any] | None = None,
    mode: str = "full",
) -> Spec:
    """The validated arguments of :func:`reference.check_backprop`.

    Raises:
      ValueError: the first bad argument, named with what it accepts.
    """
    resolved = _activations(activations)
    try:
        cost = manualgrad.get_cost(cost)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{WHERE}: {error}") from None
    dims = _dims(dims, len(resolved))
    if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool):
        raise ValueError(f"{WHERE}: batch_size must be a positive integer, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"{WHERE}: batch_size must be a positive integer, got {batch_size!r}")
    seeds = seed_tuple(seeds, WHERE)
    dtype = dtype_name(dtype, WHERE)
    _check_output(cost, resolved[-1])
    targets = _targets(targets, cost)
    reduction = _choice("reduction", reduction, REDUCTIONS)
    weight_decay = _weight_decay(weight_decay)
    weight_layout = _choice("weight_layout", weight_layout, WEIGHT_LAYOUTS)
    batch_layout = _choice("batch_layout", batch_layout, BATCH_LAYOUTS)
    if loss is not None and not callable(loss):
        raise ValueError(f"{WHERE}: loss must be a function loss(theta, X, Y), got {loss!r}")
    m_L = resolved[-1].output_width(dims[-1])
    spec = Spec(
        activations=resolved,
        cost=cost,
        dims=dims,
        batch_size=int(batch_size),
        seeds=tuple(int(s) for s in seeds),
        dtype=dtype,
        targets=targets,
        reduction=reduction,
        weight_decay=weight_decay,
        weight_layout=weight_layout,
        batch_layout=batch_layout,
        data=_data(data, dims, m_L, targets, cost, batch_layout),
        loss=loss,
        mode=mode,
    )
    check_mode(mode, spec.parameters, where=WHERE)  # a ValueError naming the valid modes
    return spec
