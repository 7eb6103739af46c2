"""What ``manualgrad verify`` checks: the matrix of cells and the networks behind them.

A cell is one (algorithm, activation, cost, dtype, Jacobian mode). Each cell
is measured on one small network built around its activation:

* (A, A) when the cost accepts A's outputs, so A is exercised both as a
  hidden layer and at the output;
* (A, softmax) otherwise (cross-entropy needs positive outputs, binary
  cross-entropy outputs in (0, 1)), so A is exercised as a hidden layer.

Networks are shared between the costs that accept them, which lets one
compiled program serve several cells.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import manualgrad

#: The output layer for a cost that does not accept the activation under test;
#: softmax outputs lie in (0, 1), which both cross-entropies accept.
FALLBACK_OUTPUT = "softmax"

#: Activations that are not smooth (a kink, a tie), read off the objects: a
#: central difference across a kink is no derivative, so the finite-difference
#: column skips networks that contain one.
KINKED_ACTIVATIONS = frozenset(
    name for name in manualgrad.ACTIVATIONS if not manualgrad.get_activation(name).smooth
)

#: The notes' (n_0, n_1, n_2): non-square, so a transposed product cannot
#: pass unnoticed.
DIMS = (3, 5, 4)
#: Rows per batch.
BATCH_SIZE = 6
#: Random networks per cell (vmapped, so they add no compilation).
SEEDS = 3


def accepts_output(cost: str, activation: str) -> bool:
    """Whether ``cost`` is defined on every output of ``activation`` (the cost's word)."""
    return manualgrad.get_cost(cost).accepts_output(activation)


@dataclasses.dataclass(frozen=True)
class Network:
    """One network of the matrix and the costs it is evaluated with.

    Attributes:
      subject: the activation whose cells this network serves.
      activations: sigma_1..sigma_L.
      costs: the costs evaluated on it.
      dims: (n_0, ..., n_L).
    """

    subject: str
    activations: tuple[str, ...]
    costs: tuple[str, ...]
    dims: tuple[int, ...] = DIMS
    custom: tuple[manualgrad.Activation, ...] = ()

    @property
    def layers(self) -> tuple[manualgrad.Activation, ...]:
        """sigma_1..sigma_L as objects: registered names, or the custom activations named."""
        return tuple(resolve(name, self.custom) for name in self.activations)

    @property
    def kinked(self) -> tuple[str, ...]:
        """The names of its activations that are not smooth (read off the objects)."""
        names = [a.name for a in self.layers if not a.smooth]
        return tuple(dict.fromkeys(names))

    @property
    def positions(self) -> tuple[str, ...]:
        """Where the subject sits: ("hidden", "output") or ("hidden",)."""
        if self.activations[-1] == self.subject:
            return ("hidden", "output")
        return ("hidden",)

    @property
    def finite_differences(self) -> bool:
        """Whether central differences are a derivative everywhere on it."""
        return not self.kinked


def resolve(name: str, custom: Sequence[manualgrad.Activation] = ()) -> manualgrad.Activation:
    """The activation called ``name``: one of ``custom``, else a registered one."""
    for activation in custom:
        if activation.name == name:
            return activation
    return manualgrad.get_activation(name)


def networks_for(
    activation: str, costs: Sequence[str], custom: Sequence[manualgrad.Activation] = ()
) -> list[Network]:
    """The networks that serve every cell of ``activation`` with these costs.

    Args:
      activation: the subject's name.
      costs: cost names.
      custom: activations that are not registered, among which the names are
        looked up first.

    Returns:
      One network (A, A) for the costs defined on A's outputs, one (A,
      softmax) for the others; either may be missing.
    """
    subject = resolve(activation, custom)
    custom = tuple(custom)
    at_output = tuple(c for c in costs if accepts_output(c, subject))
    hidden_only = tuple(c for c in costs if not accepts_output(c, subject))
    networks = []
    if at_output:
        networks.append(Network(activation, (activation, activation), at_output, custom=custom))
    if hidden_only:
        networks.append(
            Network(activation, (activation, FALLBACK_OUTPUT), hidden_only, custom=custom)
        )
    return networks


@dataclasses.dataclass(frozen=True)
class Selection:
    """The part of the matrix to run, after filters and ``--quick``.

    Attributes:
      algorithms: the notes' algorithm numbers.
      activations: activation names.
      costs: cost names.
      dtypes: "float32" and/or "float64".
      modes: Jacobian modes, "structured" and/or "dense".
      seeds: random networks per cell.
      finite_differences: whether float64 cells are also compared with
        central differences.
      custom: activations of the user's own (``manualgrad.Custom``) that
        ``activations`` names.
    """

    algorithms: tuple[int, ...]
    activations: tuple[str, ...]
    costs: tuple[str, ...]
    dtypes: tuple[str, ...]
    modes: tuple[str, ...]
    seeds: int = SEEDS
    finite_differences: bool = True
    custom: tuple[manualgrad.Activation, ...] = ()

    def networks(self) -> list[Network]:
        """Every network the selection needs, grouped by activation in order."""
        return [n for a in self.activations for n in networks_for(a, self.costs, self.custom)]

    @property
    def kinked(self) -> tuple[str, ...]:
        """The selected activations that are not smooth."""
        return tuple(a for a in self.activations if not resolve(a, self.custom).smooth)

    @property
    def num_cells(self) -> int:
        return (
            len(self.algorithms)
            * len(self.activations)
            * len(self.costs)
            * len(self.dtypes)
            * len(self.modes)
        )


@dataclasses.dataclass(frozen=True)
class Cell:
    """One entry of the matrix."""

    algorithm: int
    activation: str
    cost: str
    dtype: str
    mode: str
