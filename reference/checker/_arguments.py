"""The arguments of one check, validated: the network, the seeds, the dtype."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Sequence

import jax.numpy as jnp
from jax.typing import DTypeLike

import manualgrad
from manualgrad import Activation, Cost
from reference.tolerances import TOLERANCES, tolerance

__all__ = ["OUTPUT_ACTIVATIONS", "Spec", "activation_name", "make_spec"]


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


@dataclasses.dataclass(frozen=True)
class Spec:
    """Validated arguments of one check.

    Attributes:
      activations: sigma_1..sigma_L as objects.
      cost: the cost object.
      dims: (n_0, ..., n_L).
      batch_size: N.
      seeds: one problem per seed.
      dtype: "float32" or "float64".
    """

    activations: tuple[Activation, ...]
    cost: Cost
    dims: tuple[int, ...]
    batch_size: int
    seeds: tuple[int, ...]
    dtype: str

    @property
    def num_layers(self) -> int:
        """L."""
        return len(self.dims) - 1

    @property
    def tolerance(self) -> float:
        """The dtype's relative tolerance."""
        return tolerance(self.dtype)

    def describe_activations(self) -> str:
        """The activations as a Python tuple, e.g. ``('relu', 'softmax')`` or ``('tanh',)``."""
        items = [activation_source(a) for a in self.activations]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


WHERE = "check_backprop"


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


def _dtype(dtype: DTypeLike) -> str:
    try:
        name = jnp.dtype(dtype).name
    except TypeError:
        name = str(dtype)
    if name not in TOLERANCES:
        raise ValueError(f"{WHERE}: dtype must be one of {sorted(TOLERANCES)}, got {dtype!r}")
    return name


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


def make_spec(
    activations: Sequence[str | Activation],
    cost: str | Cost,
    dims: Sequence[int],
    batch_size: int,
    seeds: Sequence[int],
    dtype: DTypeLike,
) -> Spec:
    """The validated arguments; a ValueError names the first bad one."""
    resolved = _activations(activations)
    try:
        cost = manualgrad.get_cost(cost)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{WHERE}: {error}") from None
    dims = _dims(dims, len(resolved))
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"{WHERE}: batch_size must be a positive integer, got {batch_size!r}")
    seeds = tuple(seeds)
    if not seeds or not all(isinstance(s, numbers.Integral) for s in seeds):
        raise ValueError(f"{WHERE}: seeds must be a non-empty sequence of integers: {seeds!r}")
    dtype_name = _dtype(dtype)
    _check_output(cost, resolved[-1])
    return Spec(resolved, cost, dims, batch_size, tuple(int(s) for s in seeds), dtype_name)
